<?php
/**
 * Where the delivery queue is kept.
 *
 * @package Blago24_Leyka_Bridge
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * The delivery queue's storage.
 *
 * A row is an array with the keys: delivery_id (string, unique), event (string), donation_id (int),
 * body (string, the raw JSON), attempts (int), next_try_at (int, unix seconds), last_try_at
 * (int|null), last_status (int, the last HTTP status, 0 for a network error), last_error (string),
 * sent_at (int|null: null while unsent) and created_at (int).
 */
interface Blago24_Leyka_Bridge_Repository {

	/**
	 * Adds a row unless its delivery_id is already kept.
	 *
	 * @param array $row Row.
	 * @return bool True when added, false when the delivery_id exists.
	 */
	public function insert( array $row );

	/**
	 * The row of a delivery, or null.
	 *
	 * @param string $delivery_id Delivery id.
	 * @return array|null
	 */
	public function find( $delivery_id );

	/**
	 * Changes some fields of a row.
	 *
	 * @param string $delivery_id Delivery id.
	 * @param array  $fields      Field => value.
	 * @return bool
	 */
	public function update( $delivery_id, array $fields );

	/**
	 * Unsent rows whose next try is due, the most overdue first.
	 *
	 * @param int $now   Unix seconds.
	 * @param int $limit At most this many.
	 * @return array[]
	 */
	public function due( $now, $limit );

	/**
	 * The newest rows, newest first.
	 *
	 * @param int $limit At most this many.
	 * @return array[]
	 */
	public function recent( $limit );

	/**
	 * How many rows are unsent, unsent after a failed try, and sent.
	 *
	 * @return array{unsent:int,failing:int,sent:int}
	 */
	public function counts();

	/**
	 * Makes every unsent row due at $when.
	 *
	 * @param int $when Unix seconds.
	 * @return int Rows changed.
	 */
	public function reschedule_unsent( $when );

	/**
	 * Deletes sent rows sent before $before; unsent rows are never deleted.
	 *
	 * @param int $before Unix seconds.
	 * @return int Rows deleted.
	 */
	public function prune_sent_before( $before );
}
