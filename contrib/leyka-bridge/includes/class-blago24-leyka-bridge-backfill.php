<?php
/**
 * «Send past donations»: every donation since a date, queued page by page from WP-cron.
 *
 * @package Blago24_Leyka_Bridge
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * Walks the donations in ascending ID order; the cursor (the last ID queued) is kept in an option
 * after every donation, so a tick cut short resumes where it stopped.
 */
class Blago24_Leyka_Bridge_Backfill {

	const OPTION = 'blago24_lb_backfill';
	const PAGE   = 50;

	/**
	 * Donations.
	 *
	 * @var Blago24_Leyka_Bridge_Donation_Source
	 */
	private $source;

	/**
	 * Builder.
	 *
	 * @var Blago24_Leyka_Bridge_Builder
	 */
	private $builder;

	/**
	 * Queue.
	 *
	 * @var Blago24_Leyka_Bridge_Queue
	 */
	private $queue;

	/**
	 * Sets the backfill up.
	 *
	 * @param Blago24_Leyka_Bridge_Donation_Source $source  Donations.
	 * @param Blago24_Leyka_Bridge_Builder         $builder Builder.
	 * @param Blago24_Leyka_Bridge_Queue           $queue   Queue.
	 */
	public function __construct( Blago24_Leyka_Bridge_Donation_Source $source, Blago24_Leyka_Bridge_Builder $builder, Blago24_Leyka_Bridge_Queue $queue ) {
		$this->source  = $source;
		$this->builder = $builder;
		$this->queue   = $queue;
	}

	/**
	 * The deterministic delivery id of a donation's backfill: the same donation in the same status
	 * is one delivery however many times the backfill runs.
	 *
	 * @param int    $donation_id Donation ID.
	 * @param string $status      Its status.
	 * @return string
	 */
	public static function delivery_id( $donation_id, $status ) {
		return 'backfill-' . (int) $donation_id . '-' . preg_replace( '/[^a-z0-9_-]/', '', strtolower( (string) $status ) );
	}

	/**
	 * A "Y-m-d" date that exists, or "".
	 *
	 * @param string $raw Input.
	 * @return string
	 */
	public static function sanitize_date( $raw ) {
		$raw = trim( (string) $raw );
		if ( ! preg_match( '/^(\d{4})-(\d{2})-(\d{2})$/', $raw, $m ) || ! checkdate( (int) $m[2], (int) $m[3], (int) $m[1] ) ) {
			return '';
		}
		return $raw;
	}

	/**
	 * The backfill's state: status idle|running|paused|done, since, after_id (the cursor), queued,
	 * skipped, started_at, updated_at, finished_at, last_error.
	 *
	 * @return array
	 */
	public function state() {
		$defaults = array(
			'status'      => 'idle',
			'since'       => '',
			'after_id'    => 0,
			'queued'      => 0,
			'already'     => 0,
			'skipped'     => 0,
			'started_at'  => 0,
			'updated_at'  => 0,
			'finished_at' => 0,
			'last_error'  => '',
		);
		$state    = get_option( self::OPTION, array() );
		return array_merge( $defaults, is_array( $state ) ? $state : array() );
	}

	/**
	 * Starts over from the first donation made on or after $since.
	 *
	 * @param string $since "Y-m-d", local.
	 * @return bool False when the date is not one.
	 */
	public function start( $since ) {
		$since = self::sanitize_date( $since );
		if ( '' === $since ) {
			return false;
		}
		$now = $this->queue->now();
		$this->save(
			array(
				'status'      => 'running',
				'since'       => $since,
				'after_id'    => 0,
				'queued'      => 0,
				'already'     => 0,
				'skipped'     => 0,
				'started_at'  => $now,
				'updated_at'  => $now,
				'finished_at' => 0,
				'last_error'  => '',
			)
		);
		return true;
	}

	/**
	 * Pauses a running backfill (the cursor is kept).
	 */
	public function pause() {
		$state = $this->state();
		if ( 'running' === $state['status'] ) {
			$state['status'] = 'paused';
			$this->save( $state );
		}
	}

	/**
	 * Resumes a paused backfill from its cursor.
	 */
	public function resume() {
		$state = $this->state();
		if ( 'paused' === $state['status'] ) {
			$state['status'] = 'running';
			$this->save( $state );
		}
	}

	/**
	 * Queues the next page of donations; marks the backfill done after the last one.
	 *
	 * @param int $page Donations per tick.
	 * @return array The state after the tick.
	 */
	public function tick( $page = self::PAGE ) {
		$state = $this->state();
		if ( 'running' !== $state['status'] ) {
			return $state;
		}
		try {
			$ids = $this->source->ids_since( $state['since'], (int) $state['after_id'], (int) $page );
			foreach ( $ids as $id ) {
				$this->queue_one( (int) $id, $state );
				$state['after_id']   = (int) $id;
				$state['updated_at'] = $this->queue->now();
				$this->save( $state ); // The cursor moves after every donation.
			}
			if ( count( $ids ) < (int) $page ) {
				$state['status']      = 'done';
				$state['finished_at'] = $this->queue->now();
			}
			$state['last_error'] = '';
		} catch ( Throwable $e ) {
			$state['last_error'] = Blago24_Leyka_Bridge_Payload::clip( $e->getMessage(), 500 );
		}
		$state['updated_at'] = $this->queue->now();
		$this->save( $state );
		return $state;
	}

	/**
	 * Queues one donation as it is now.
	 *
	 * @param int   $donation_id Donation ID.
	 * @param array $state       The state (its counters are updated).
	 */
	private function queue_one( $donation_id, array &$state ) {
		$donation = $this->source->get( $donation_id );
		if ( ! $donation ) {
			++$state['skipped'];
			return;
		}
		$data        = $this->builder->donation( $donation );
		$delivery_id = self::delivery_id( $donation_id, $data['status'] );
		$changed_at  = $this->changed_at( $donation, $data );
		$body        = $this->builder->body( Blago24_Leyka_Bridge_Payload::EVENT_ADDED, $donation, $delivery_id, $changed_at );
		if ( $this->queue->add( $delivery_id, Blago24_Leyka_Bridge_Payload::EVENT_ADDED, $donation_id, $body, 0 ) ) {
			++$state['queued'];
		} else {
			++$state['already'];
		}
	}

	/**
	 * When the donation last changed: the last entry of Leyka's status log, else its date.
	 *
	 * @param object $donation Leyka donation.
	 * @param array  $data     Its wire-format object.
	 * @return string ISO 8601.
	 */
	private function changed_at( $donation, array $data ) {
		$log = Blago24_Leyka_Bridge_Payload::read( $donation, 'status_log' );
		if ( is_string( $log ) && function_exists( 'maybe_unserialize' ) ) {
			$log = maybe_unserialize( $log );
		}
		if ( is_array( $log ) && $log ) {
			$last = end( $log );
			if ( is_array( $last ) && isset( $last['date'] ) ) {
				$iso = Blago24_Leyka_Bridge_Time::iso_from_local_timestamp( $last['date'] ); // current_time( 'timestamp' ).
				if ( '' !== $iso ) {
					return $iso;
				}
			}
		}
		return '' !== $data['date_created'] ? $data['date_created'] : Blago24_Leyka_Bridge_Time::iso_from_unix( $this->queue->now() );
	}

	/**
	 * Stores the state.
	 *
	 * @param array $state State.
	 */
	private function save( array $state ) {
		update_option( self::OPTION, $state, false );
	}
}
