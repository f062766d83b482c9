<?php
/**
 * Donations read from Leyka.
 *
 * @package Blago24_Leyka_Bridge
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * Loads donations through Leyka_Donations and lists them straight from Leyka's storage.
 *
 * The listing queries the table itself instead of Leyka_Donations::get( array ): that gives a stable
 * ascending-ID cursor in both storage modes, and Leyka 3.31+ builds the separated-storage query by
 * quoting its SQL fragments as strings, which breaks get( array ) there.
 */
class Blago24_Leyka_Bridge_Leyka_Source implements Blago24_Leyka_Bridge_Donation_Source {

	/**
	 * Statuses a backfill sends (trash is left out: nothing to create in the app for it).
	 *
	 * @var string[]
	 */
	const BACKFILL_STATUSES = array( 'submitted', 'funded', 'failed', 'refunded' );

	/**
	 * {@inheritDoc}
	 *
	 * @param int $donation_id Donation ID.
	 * @return object|null
	 */
	public function get( $donation_id ) {
		$donation_id = (int) $donation_id;
		if ( $donation_id <= 0 || ! class_exists( 'Leyka_Donations' ) ) {
			return null;
		}
		try {
			$donations = Leyka_Donations::get_instance();
			$donation  = method_exists( $donations, 'get_donation' ) ? $donations->get_donation( $donation_id ) : $donations->get( $donation_id );
		} catch ( Throwable $e ) {
			return null;
		}
		return is_object( $donation ) ? $donation : null;
	}

	/**
	 * Leyka keeps donations in its own tables ("sep", "sep-incompleted") or as posts.
	 *
	 * @return bool
	 */
	public static function uses_separate_tables() {
		return in_array( get_option( 'leyka_donations_storage_type' ), array( 'sep', 'sep-incompleted' ), true );
	}

	/**
	 * {@inheritDoc}
	 *
	 * @param string $since    Local date, "Y-m-d".
	 * @param int    $after_id Only IDs above this one.
	 * @param int    $limit    At most this many.
	 * @return int[]
	 */
	public function ids_since( $since, $after_id, $limit ) {
		global $wpdb;
		$from     = $since . ' 00:00:00'; // Leyka's dates are the site's local time.
		$statuses = "'" . implode( "','", self::BACKFILL_STATUSES ) . "'";
		if ( self::uses_separate_tables() ) {
			$table = $wpdb->prefix . 'leyka_donations';
			$sql   = $wpdb->prepare( "SELECT ID FROM {$table} WHERE ID > %d AND date_created >= %s AND status IN ({$statuses}) ORDER BY ID ASC LIMIT %d", (int) $after_id, $from, (int) $limit ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
		} else {
			$post_type = class_exists( 'Leyka_Donation_Management' ) && ! empty( Leyka_Donation_Management::$post_type ) ? Leyka_Donation_Management::$post_type : 'leyka_donation';
			$sql       = $wpdb->prepare( "SELECT ID FROM {$wpdb->posts} WHERE post_type = %s AND ID > %d AND post_date >= %s AND post_status IN ({$statuses}) ORDER BY ID ASC LIMIT %d", $post_type, (int) $after_id, $from, (int) $limit ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
		}
		$ids = $wpdb->get_col( $sql ); // phpcs:ignore WordPress.DB.PreparedSQL.NotPrepared,WordPress.DB.DirectDatabaseQuery
		return array_map( 'intval', is_array( $ids ) ? $ids : array() );
	}
}
