<?php
/**
 * Deleting the plugin (not deactivating it) removes its table, options and cron.
 *
 * @package Blago24_Leyka_Bridge
 */

if ( ! defined( 'WP_UNINSTALL_PLUGIN' ) ) {
	exit;
}

require_once __DIR__ . '/includes/load.php';

wp_clear_scheduled_hook( Blago24_Leyka_Bridge_Plugin::CRON_HOOK );

$blago24_lb_repository = new Blago24_Leyka_Bridge_Wpdb_Repository();
$blago24_lb_repository->drop();

foreach ( array(
	Blago24_Leyka_Bridge_Settings::OPTION_URL,
	Blago24_Leyka_Bridge_Settings::OPTION_SECRET,
	Blago24_Leyka_Bridge_Backfill::OPTION,
	Blago24_Leyka_Bridge_Plugin::OPTION_LOCK,
	Blago24_Leyka_Bridge_Plugin::OPTION_PRUNED,
	Blago24_Leyka_Bridge_Plugin::OPTION_PROBLEM,
) as $blago24_lb_option ) {
	delete_option( $blago24_lb_option );
}
