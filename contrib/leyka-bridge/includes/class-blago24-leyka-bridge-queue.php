<?php
/**
 * The delivery queue: kept until the app answers 2xx, retried with back-off.
 *
 * @package Blago24_Leyka_Bridge
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * Adds deliveries, sends them (re-signed at each try), backs off after a failure, prunes sent ones.
 */
class Blago24_Leyka_Bridge_Queue {

	const BASE_DELAY  = 60;       // The first retry after a minute …
	const MAX_DELAY   = 21600;    // … doubling up to six hours.
	const FRESH_GRACE = 120;      // A delivery queued by a hook is the request's own to send first.
	const KEEP_SENT   = 2592000;  // Sent deliveries are kept for 30 days; unsent ones for ever.

	/**
	 * Storage.
	 *
	 * @var Blago24_Leyka_Bridge_Repository
	 */
	private $repo;

	/**
	 * HTTP sender.
	 *
	 * @var Blago24_Leyka_Bridge_Sender
	 */
	private $sender;

	/**
	 * Returns unix seconds.
	 *
	 * @var callable
	 */
	private $clock;

	/**
	 * Sets the queue up.
	 *
	 * @param Blago24_Leyka_Bridge_Repository $repo   Storage.
	 * @param Blago24_Leyka_Bridge_Sender     $sender Sender.
	 * @param callable                        $clock  Returns unix seconds.
	 */
	public function __construct( Blago24_Leyka_Bridge_Repository $repo, Blago24_Leyka_Bridge_Sender $sender, $clock = 'time' ) {
		$this->repo   = $repo;
		$this->sender = $sender;
		$this->clock  = $clock;
	}

	/**
	 * The storage.
	 *
	 * @return Blago24_Leyka_Bridge_Repository
	 */
	public function repository() {
		return $this->repo;
	}

	/**
	 * Unix seconds now.
	 *
	 * @return int
	 */
	public function now() {
		return (int) call_user_func( $this->clock );
	}

	/**
	 * The wait before the next try after $attempts failed tries: 1, 2, 4, 8 … minutes, at most 6 hours.
	 *
	 * @param int $attempts Failed tries so far (1 or more).
	 * @return int Seconds.
	 */
	public static function backoff( $attempts ) {
		$attempts = max( 1, (int) $attempts );
		if ( $attempts > 20 ) {
			return self::MAX_DELAY;
		}
		return (int) min( self::MAX_DELAY, self::BASE_DELAY * ( 2 ** ( $attempts - 1 ) ) );
	}

	/**
	 * Keeps a new delivery (nothing happens when its delivery_id is already kept).
	 *
	 * @param string $delivery_id Delivery id.
	 * @param string $event       Event name.
	 * @param int    $donation_id Donation ID (0 for none).
	 * @param string $body        The raw JSON.
	 * @param int    $grace       Seconds before the cron may send it (the hook's request sends it first).
	 * @return bool True when it was added.
	 */
	public function add( $delivery_id, $event, $donation_id, $body, $grace = 0 ) {
		$now = $this->now();
		return $this->repo->insert(
			array(
				'delivery_id' => (string) $delivery_id,
				'event'       => (string) $event,
				'donation_id' => (int) $donation_id,
				'body'        => (string) $body,
				'attempts'    => 0,
				'next_try_at' => $now + max( 0, (int) $grace ),
				'last_status' => 0,
				'last_error'  => '',
				'created_at'  => $now,
			)
		);
	}

	/**
	 * Replaces the body of a delivery never tried yet (the donation as it is at the end of the request).
	 *
	 * @param string $delivery_id Delivery id.
	 * @param string $body        The raw JSON.
	 * @return bool
	 */
	public function refresh_body( $delivery_id, $body ) {
		$row = $this->repo->find( $delivery_id );
		if ( ! $row || null !== $row['sent_at'] || (int) $row['attempts'] > 0 ) {
			return false;
		}
		return $this->repo->update( $delivery_id, array( 'body' => (string) $body ) );
	}

	/**
	 * Sends one delivery now, unless it was sent already.
	 *
	 * @param string $delivery_id Delivery id.
	 * @param int    $timeout     Seconds.
	 * @return array|null The try's result, or null when there was nothing to send.
	 */
	public function send( $delivery_id, $timeout = 10 ) {
		$row = $this->repo->find( $delivery_id );
		if ( ! $row || null !== $row['sent_at'] ) {
			return null;
		}
		return $this->attempt( $row, $timeout );
	}

	/**
	 * Tries a delivery: signed afresh, marked sent on 2xx, else scheduled again with back-off.
	 *
	 * @param array $row     The delivery's row.
	 * @param int   $timeout Seconds.
	 * @return array The sender's result.
	 */
	public function attempt( array $row, $timeout = 10 ) {
		$result = $this->sender->post( $row['body'], $timeout );
		$now    = $this->now();
		if ( ! $result['configured'] ) {
			$this->repo->update( $row['delivery_id'], array( 'last_error' => $result['error'] ) );
			return $result;
		}
		$attempts = (int) $row['attempts'] + 1;
		$fields   = array(
			'attempts'    => $attempts,
			'last_try_at' => $now,
			'last_status' => (int) $result['status'],
			'last_error'  => Blago24_Leyka_Bridge_Payload::clip( $result['error'], 1000 ),
		);
		if ( $result['ok'] ) {
			$fields['sent_at'] = $now;
		} else {
			$fields['next_try_at'] = $now + self::backoff( $attempts );
		}
		$this->repo->update( $row['delivery_id'], $fields );
		return $result;
	}

	/**
	 * Sends the deliveries that are due, within a time budget; stops after three network failures in
	 * a row (the app is unreachable: the rest wait for their turn).
	 *
	 * @param int $limit   At most this many.
	 * @param int $budget  Seconds to stop starting new sends after.
	 * @param int $timeout Seconds per send.
	 * @return array{sent:int,failed:int,left:int}
	 */
	public function process_due( $limit = 50, $budget = 25, $timeout = 10 ) {
		$stats = array(
			'sent'   => 0,
			'failed' => 0,
			'left'   => 0,
		);
		if ( ! $this->sender->is_configured() ) {
			return $stats;
		}
		$start       = $this->now();
		$rows        = $this->repo->due( $start, $limit );
		$unreachable = 0;
		foreach ( $rows as $i => $row ) {
			if ( $this->now() - $start >= $budget || $unreachable >= 3 ) {
				$stats['left'] = count( $rows ) - $i;
				break;
			}
			$result = $this->attempt( $row, $timeout );
			if ( $result['ok'] ) {
				++$stats['sent'];
				$unreachable = 0;
			} else {
				++$stats['failed'];
				$unreachable = 0 === (int) $result['status'] ? $unreachable + 1 : 0;
			}
		}
		return $stats;
	}

	/**
	 * Deletes deliveries sent more than 30 days ago; unsent ones are never deleted.
	 *
	 * @return int Rows deleted.
	 */
	public function prune() {
		return $this->repo->prune_sent_before( $this->now() - self::KEEP_SENT );
	}
}
