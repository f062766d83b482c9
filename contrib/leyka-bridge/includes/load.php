<?php
/**
 * Loads the plugin's classes (no side effects: nothing is hooked here).
 *
 * @package Blago24_Leyka_Bridge
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

if ( ! defined( 'BLAGO24_LB_VERSION' ) ) {
	define( 'BLAGO24_LB_VERSION', '0.1.0' );
}
if ( ! defined( 'BLAGO24_LB_FILE' ) ) {
	define( 'BLAGO24_LB_FILE', dirname( __DIR__ ) . '/blago24-leyka-bridge.php' );
}

require_once __DIR__ . '/class-blago24-leyka-bridge-time.php';
require_once __DIR__ . '/class-blago24-leyka-bridge-settings.php';
require_once __DIR__ . '/class-blago24-leyka-bridge-signer.php';
require_once __DIR__ . '/class-blago24-leyka-bridge-payload.php';
require_once __DIR__ . '/interface-blago24-leyka-bridge-repository.php';
require_once __DIR__ . '/class-blago24-leyka-bridge-wpdb-repository.php';
require_once __DIR__ . '/interface-blago24-leyka-bridge-donation-source.php';
require_once __DIR__ . '/class-blago24-leyka-bridge-leyka-source.php';
require_once __DIR__ . '/class-blago24-leyka-bridge-sender.php';
require_once __DIR__ . '/class-blago24-leyka-bridge-queue.php';
require_once __DIR__ . '/class-blago24-leyka-bridge-builder.php';
require_once __DIR__ . '/class-blago24-leyka-bridge-backfill.php';
require_once __DIR__ . '/class-blago24-leyka-bridge-ping.php';
require_once __DIR__ . '/class-blago24-leyka-bridge-plugin.php';
require_once __DIR__ . '/class-blago24-leyka-bridge-admin.php';
