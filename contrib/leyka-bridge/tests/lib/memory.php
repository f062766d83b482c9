<?php
/**
 * In-memory implementations for tests: the queue's repository and the backfill's donation listing.
 *
 * @package Blago24_Leyka_Bridge
 */

/**
 * The delivery queue in an array.
 */
class Blago24_Test_Memory_Repository implements Blago24_Leyka_Bridge_Repository {

	/**
	 * Rows by delivery_id, in insertion order.
	 *
	 * @var array
	 */
	public $rows = array();

	/**
	 * Next row id.
	 *
	 * @var int
	 */
	private $next_id = 1;

	/**
	 * Throw on this insert (1-based count), to simulate the database going away.
	 *
	 * @var int
	 */
	public $fail_on_insert = 0;

	/**
	 * Inserts so far.
	 *
	 * @var int
	 */
	public $inserts = 0;

	public function insert( array $row ) {
		++$this->inserts;
		if ( $this->fail_on_insert && $this->inserts === $this->fail_on_insert ) {
			throw new RuntimeException( 'database went away' );
		}
		if ( isset( $this->rows[ $row['delivery_id'] ] ) ) {
			return false;
		}
		$this->rows[ $row['delivery_id'] ] = array_merge(
			array(
				'id'          => $this->next_id++,
				'attempts'    => 0,
				'last_try_at' => null,
				'last_status' => 0,
				'last_error'  => '',
				'sent_at'     => null,
			),
			$row
		);
		return true;
	}

	public function find( $delivery_id ) {
		return isset( $this->rows[ $delivery_id ] ) ? $this->rows[ $delivery_id ] : null;
	}

	public function update( $delivery_id, array $fields ) {
		if ( ! isset( $this->rows[ $delivery_id ] ) ) {
			return false;
		}
		$this->rows[ $delivery_id ] = array_merge( $this->rows[ $delivery_id ], $fields );
		return true;
	}

	public function due( $now, $limit ) {
		$due = array_values(
			array_filter(
				$this->rows,
				function ( $row ) use ( $now ) {
					return null === $row['sent_at'] && $row['next_try_at'] <= $now;
				}
			)
		);
		usort(
			$due,
			function ( $a, $b ) {
				return array( $a['next_try_at'], $a['id'] ) <=> array( $b['next_try_at'], $b['id'] );
			}
		);
		return array_slice( $due, 0, $limit );
	}

	public function recent( $limit ) {
		return array_slice( array_reverse( array_values( $this->rows ) ), 0, $limit );
	}

	public function counts() {
		$counts = array(
			'unsent'  => 0,
			'failing' => 0,
			'sent'    => 0,
		);
		foreach ( $this->rows as $row ) {
			if ( null === $row['sent_at'] ) {
				++$counts['unsent'];
				if ( $row['attempts'] > 0 ) {
					++$counts['failing'];
				}
			} else {
				++$counts['sent'];
			}
		}
		return $counts;
	}

	public function reschedule_unsent( $when ) {
		$n = 0;
		foreach ( $this->rows as $id => $row ) {
			if ( null === $row['sent_at'] ) {
				$this->rows[ $id ]['next_try_at'] = $when;
				++$n;
			}
		}
		return $n;
	}

	public function prune_sent_before( $before ) {
		$n = 0;
		foreach ( $this->rows as $id => $row ) {
			if ( null !== $row['sent_at'] && $row['sent_at'] < $before ) {
				unset( $this->rows[ $id ] );
				++$n;
			}
		}
		return $n;
	}
}

/**
 * Leyka's donations (through the real Leyka source's get()), listed from the stub's store.
 */
class Blago24_Test_Memory_Source extends Blago24_Leyka_Bridge_Leyka_Source {

	/**
	 * Listings made: [since, after_id, limit].
	 *
	 * @var array
	 */
	public $listings = array();

	public function ids_since( $since, $after_id, $limit ) {
		$this->listings[] = array( $since, $after_id, $limit );
		$ids              = array();
		foreach ( Leyka_Donations::$store as $id => $donation ) {
			if ( $id > $after_id && $donation->data['date_created'] >= $since . ' 00:00:00' && in_array( $donation->data['status'], self::BACKFILL_STATUSES, true ) ) {
				$ids[] = $id;
			}
		}
		sort( $ids );
		return array_slice( $ids, 0, $limit );
	}
}
