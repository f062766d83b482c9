<?php
/**
 * Where donations are read from.
 *
 * @package Blago24_Leyka_Bridge
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * Loads donations by ID and lists them for the backfill.
 */
interface Blago24_Leyka_Bridge_Donation_Source {

	/**
	 * The donation object, or null when there is none (or Leyka is not active).
	 *
	 * @param int $donation_id Donation ID.
	 * @return object|null
	 */
	public function get( $donation_id );

	/**
	 * IDs of donations made on or after $since, with an ID above $after_id, in ascending ID order;
	 * donations in the trash are left out.
	 *
	 * @param string $since    Local date, "Y-m-d".
	 * @param int    $after_id Only IDs above this one (the backfill's cursor).
	 * @param int    $limit    At most this many.
	 * @return int[]
	 */
	public function ids_since( $since, $after_id, $limit );
}
