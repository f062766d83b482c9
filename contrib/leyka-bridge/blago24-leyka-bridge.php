<?php
/**
 * Plugin Name:       Blago24 Leyka bridge
 * Description:       Sends every Leyka donation change to the fund's Blago24 app as signed JSON and retries until the app has it.
 * Version:           0.1.0
 * Requires at least: 5.3
 * Requires PHP:      7.2
 * Author:            Blago24
 * License:           GPL-2.0-or-later
 * License URI:       https://www.gnu.org/licenses/gpl-2.0.html
 * Text Domain:       blago24-leyka-bridge
 * Domain Path:       /languages
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
	define( 'BLAGO24_LB_FILE', __FILE__ );
}

require_once __DIR__ . '/includes/load.php';

register_activation_hook( __FILE__, array( 'Blago24_Leyka_Bridge_Plugin', 'activate' ) );
register_deactivation_hook( __FILE__, array( 'Blago24_Leyka_Bridge_Plugin', 'deactivate' ) );

Blago24_Leyka_Bridge_Plugin::boot();
