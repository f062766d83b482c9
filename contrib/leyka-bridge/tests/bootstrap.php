<?php
/**
 * Loads the stubs, the plugin's classes and the test helpers. Plain php-cli, nothing else.
 *
 * @package Blago24_Leyka_Bridge
 */

error_reporting( E_ALL );
ini_set( 'display_errors', 'stderr' ); // phpcs:ignore WordPress.PHP.IniSet
date_default_timezone_set( 'UTC' ); // phpcs:ignore WordPress.DateTime.RestrictedFunctions -- as WordPress sets it.

if ( ! defined( 'ABSPATH' ) ) {
	define( 'ABSPATH', __DIR__ . '/lib/' );
}

require_once __DIR__ . '/lib/runner.php';
require_once __DIR__ . '/lib/fake-wpdb.php';
require_once __DIR__ . '/lib/wp-stubs.php';
require_once __DIR__ . '/lib/leyka-stubs.php';
require_once dirname( __DIR__ ) . '/includes/load.php';
require_once __DIR__ . '/lib/memory.php';

blago24_stub_reset();

/**
 * A plugin on the in-memory repository, the stub Leyka and the fake clock.
 *
 * @param bool $register Hook it too.
 * @return Blago24_Leyka_Bridge_Plugin
 */
function blago24_plugin( $register = true ) {
	$plugin = new Blago24_Leyka_Bridge_Plugin(
		array(
			'clock'      => 'blago24_now',
			'repository' => new Blago24_Test_Memory_Repository(),
			'source'     => new Blago24_Test_Memory_Source(),
		)
	);
	if ( $register ) {
		$plugin->register();
	}
	return $plugin;
}

/**
 * The requests wp_remote_post() got.
 *
 * @return array[]
 */
function blago24_requests() {
	return $GLOBALS['blago24_wp']['requests'];
}

/**
 * The last request's decoded body.
 *
 * @return array
 */
function blago24_last_body() {
	$requests = blago24_requests();
	$last     = end( $requests );
	return json_decode( $last['args']['body'], true );
}

/**
 * The signature the app would expect for a request (computed here independently of the plugin).
 *
 * @param array  $request A recorded request.
 * @param string $secret  The secret.
 * @return string
 */
function blago24_expected_signature( array $request, $secret = 'test-secret-0123456789' ) {
	$timestamp = $request['args']['headers']['X-Leyka-Bridge-Timestamp'];
	return 'sha256=' . hash_hmac( 'sha256', $timestamp . '.' . $request['args']['body'], $secret );
}
