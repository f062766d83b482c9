<?php
/**
 * Stubs of the WordPress functions the plugin uses, with their state in $GLOBALS['blago24_wp'].
 *
 * They behave like WordPress where the plugin depends on it (options, hooks, cron, the HTTP API's
 * response helpers, escaping, nonces) and record what was asked (requests, redirects, cron events).
 *
 * @package Blago24_Leyka_Bridge
 */

if ( ! defined( 'ARRAY_A' ) ) {
	define( 'ARRAY_A', 'ARRAY_A' );
}

/**
 * Thrown by wp_die().
 */
class Blago24_Test_Die extends Exception {
}

/**
 * Thrown by wp_safe_redirect() (so the "exit" after it is never reached in a test).
 */
class Blago24_Test_Redirect extends Exception {
	/**
	 * Where to.
	 *
	 * @var string
	 */
	public $location;

	/**
	 * Records the location.
	 *
	 * @param string $location URL.
	 */
	public function __construct( $location ) {
		parent::__construct( 'redirect to ' . $location );
		$this->location = $location;
	}
}

/**
 * WordPress's error object.
 */
class WP_Error {
	/**
	 * Code.
	 *
	 * @var string
	 */
	private $code;

	/**
	 * Message.
	 *
	 * @var string
	 */
	private $message;

	/**
	 * Makes the error.
	 *
	 * @param string $code    Code.
	 * @param string $message Message.
	 */
	public function __construct( $code = '', $message = '' ) {
		$this->code    = $code;
		$this->message = $message;
	}

	/**
	 * Message.
	 *
	 * @return string
	 */
	public function get_error_message() {
		return $this->message;
	}

	/**
	 * Code.
	 *
	 * @return string
	 */
	public function get_error_code() {
		return $this->code;
	}
}

/**
 * The fake clock's "now" (unix seconds).
 *
 * @return int
 */
function blago24_now() {
	return $GLOBALS['blago24_wp']['now'];
}

/**
 * Resets every stub's state (the runner calls it before each test).
 */
function blago24_stub_reset() {
	$GLOBALS['blago24_wp'] = array(
		'now'       => 1773481265, // 2026-03-14T09:41:05Z = 12:41:05 in Moscow.
		'home'      => 'https://fund.example',
		'options'   => array(
			'timezone_string'   => 'Europe/Moscow',
			'gmt_offset'        => 3,
			'blago24_lb_url'    => 'https://app.example/hooks/portal-key-1/leyka',
			'blago24_lb_secret' => 'test-secret-0123456789',
		),
		'autoload'  => array(),
		'transient' => array(),
		'hooks'     => array(),
		'requests'  => array(),
		'responses' => array(),
		'cron'      => array(),
		'uuid'      => 0,
		'can'       => true,
		'is_admin'  => false,
		'dbdelta'   => array(),
		'textdomain' => array(),
	);
	$_POST    = array();
	$_GET     = array();
	$_REQUEST = array();
	if ( class_exists( 'Leyka_Donations' ) ) {
		Leyka_Donations::reset();
	}
	$GLOBALS['wpdb'] = new Blago24_Fake_Wpdb();
}

/**
 * Queues the answer of the next wp_remote_post(): an array response, a WP_Error, or a callable
 * ($url, $args) returning one.
 *
 * @param mixed $response Response.
 */
function blago24_respond( $response ) {
	$GLOBALS['blago24_wp']['responses'][] = $response;
}

/**
 * An HTTP response array as the WordPress HTTP API returns it.
 *
 * @param int    $code    Status.
 * @param string $body    Body.
 * @param array  $headers Headers (lower-case names).
 * @return array
 */
function blago24_http( $code, $body = '', array $headers = array() ) {
	return array(
		'response' => array(
			'code'    => $code,
			'message' => '',
		),
		'body'     => $body,
		'headers'  => $headers,
	);
}

// Options and transients.

function get_option( $name, $default = false ) {
	return array_key_exists( $name, $GLOBALS['blago24_wp']['options'] ) ? $GLOBALS['blago24_wp']['options'][ $name ] : $default;
}

function update_option( $name, $value, $autoload = null ) {
	$GLOBALS['blago24_wp']['options'][ $name ]  = $value;
	$GLOBALS['blago24_wp']['autoload'][ $name ] = $autoload;
	return true;
}

function add_option( $name, $value = '', $deprecated = '', $autoload = 'yes' ) {
	if ( array_key_exists( $name, $GLOBALS['blago24_wp']['options'] ) ) {
		return false;
	}
	return update_option( $name, $value, $autoload );
}

function delete_option( $name ) {
	unset( $GLOBALS['blago24_wp']['options'][ $name ] );
	return true;
}

function set_transient( $name, $value, $expiration = 0 ) {
	$GLOBALS['blago24_wp']['transient'][ $name ] = $value;
	return true;
}

function get_transient( $name ) {
	return isset( $GLOBALS['blago24_wp']['transient'][ $name ] ) ? $GLOBALS['blago24_wp']['transient'][ $name ] : false;
}

// Hooks.

function add_filter( $hook, $callback, $priority = 10, $accepted_args = 1 ) {
	$GLOBALS['blago24_wp']['hooks'][ $hook ][ $priority ][] = array( $callback, $accepted_args );
	return true;
}

function add_action( $hook, $callback, $priority = 10, $accepted_args = 1 ) {
	return add_filter( $hook, $callback, $priority, $accepted_args );
}

function has_action( $hook ) {
	return ! empty( $GLOBALS['blago24_wp']['hooks'][ $hook ] );
}

/**
 * The callbacks of a hook in priority order.
 *
 * @param string $hook Hook.
 * @return array
 */
function blago24_callbacks( $hook ) {
	if ( empty( $GLOBALS['blago24_wp']['hooks'][ $hook ] ) ) {
		return array();
	}
	$by_priority = $GLOBALS['blago24_wp']['hooks'][ $hook ];
	ksort( $by_priority );
	$all = array();
	foreach ( $by_priority as $callbacks ) {
		foreach ( $callbacks as $callback ) {
			$all[] = $callback;
		}
	}
	return $all;
}

function apply_filters( $hook, $value, ...$args ) {
	foreach ( blago24_callbacks( $hook ) as $callback ) {
		$value = call_user_func_array( $callback[0], array_slice( array_merge( array( $value ), $args ), 0, $callback[1] ) );
	}
	return $value;
}

function do_action( $hook, ...$args ) {
	foreach ( blago24_callbacks( $hook ) as $callback ) {
		call_user_func_array( $callback[0], array_slice( $args, 0, $callback[1] ) );
	}
}

// HTTP.

function wp_remote_post( $url, $args = array() ) {
	$GLOBALS['blago24_wp']['requests'][] = array(
		'url'  => $url,
		'args' => $args,
		'at'   => blago24_now(),
	);
	$response = $GLOBALS['blago24_wp']['responses'] ? array_shift( $GLOBALS['blago24_wp']['responses'] ) : blago24_http( 200, json_encode( array( 'ok' => true, 'time' => blago24_now() ) ) );
	if ( is_callable( $response ) ) {
		$response = $response( $url, $args );
	}
	return $response;
}

function wp_remote_retrieve_response_code( $response ) {
	return is_array( $response ) && isset( $response['response']['code'] ) ? $response['response']['code'] : '';
}

function wp_remote_retrieve_body( $response ) {
	return is_array( $response ) && isset( $response['body'] ) ? $response['body'] : '';
}

function wp_remote_retrieve_header( $response, $header ) {
	$header = strtolower( $header );
	return is_array( $response ) && isset( $response['headers'][ $header ] ) ? $response['headers'][ $header ] : '';
}

function is_wp_error( $thing ) {
	return $thing instanceof WP_Error;
}

// Cron.

function wp_schedule_event( $timestamp, $recurrence, $hook, $args = array() ) {
	$GLOBALS['blago24_wp']['cron'][ $hook ] = array(
		'timestamp'  => $timestamp,
		'recurrence' => $recurrence,
	);
	return true;
}

function wp_next_scheduled( $hook ) {
	return isset( $GLOBALS['blago24_wp']['cron'][ $hook ] ) ? $GLOBALS['blago24_wp']['cron'][ $hook ]['timestamp'] : false;
}

function wp_clear_scheduled_hook( $hook ) {
	unset( $GLOBALS['blago24_wp']['cron'][ $hook ] );
	return 1;
}

// Site, time, ids.

function home_url( $path = '' ) {
	return $GLOBALS['blago24_wp']['home'] . $path;
}

function admin_url( $path = '' ) {
	return 'https://fund.example/wp-admin/' . $path;
}

function wp_generate_uuid4() {
	++$GLOBALS['blago24_wp']['uuid'];
	return sprintf( '00000000-0000-4000-8000-%012d', $GLOBALS['blago24_wp']['uuid'] );
}

function wp_timezone() {
	$name = get_option( 'timezone_string' );
	if ( $name ) {
		return new DateTimeZone( $name );
	}
	$offset  = (float) get_option( 'gmt_offset' );
	$hours   = (int) $offset;
	$minutes = abs( ( $offset - $hours ) * 60 );
	return new DateTimeZone( sprintf( '%s%02d:%02d', $offset < 0 ? '-' : '+', abs( $hours ), $minutes ) );
}

function current_time( $type, $gmt = 0 ) {
	$now    = blago24_now();
	$offset = wp_timezone()->getOffset( new DateTime( '@' . $now ) );
	if ( 'timestamp' === $type || 'U' === $type ) {
		return $gmt ? $now : $now + $offset;
	}
	return gmdate( 'Y-m-d H:i:s', $gmt ? $now : $now + $offset );
}

function wp_date( $format, $timestamp = null ) {
	$date = new DateTime( '@' . ( null === $timestamp ? blago24_now() : $timestamp ) );
	return $date->setTimezone( wp_timezone() )->format( $format );
}

function wp_json_encode( $data, $options = 0, $depth = 512 ) {
	return json_encode( $data, $options, $depth );
}

// Translation and escaping.

function __( $text, $domain = 'default' ) {
	return $text;
}

function esc_html( $text ) {
	return htmlspecialchars( (string) $text, ENT_QUOTES, 'UTF-8' );
}

function esc_attr( $text ) {
	return htmlspecialchars( (string) $text, ENT_QUOTES, 'UTF-8' );
}

function esc_html__( $text, $domain = 'default' ) {
	return esc_html( __( $text, $domain ) );
}

function esc_url( $url ) {
	return preg_match( '#^https?://#i', (string) $url ) ? htmlspecialchars( (string) $url, ENT_QUOTES, 'UTF-8' ) : '';
}

function esc_url_raw( $url, $protocols = null ) {
	$scheme = strtolower( (string) parse_url( (string) $url, PHP_URL_SCHEME ) );
	return in_array( $scheme, null === $protocols ? array( 'http', 'https' ) : $protocols, true ) ? (string) $url : '';
}

function wp_parse_url( $url, $component = -1 ) {
	return parse_url( $url, $component );
}

function sanitize_text_field( $text ) {
	return trim( preg_replace( '/[\r\n\t ]+/', ' ', strip_tags( (string) $text ) ) );
}

function sanitize_key( $key ) {
	return preg_replace( '/[^a-z0-9_\-]/', '', strtolower( (string) $key ) );
}

function wp_unslash( $value ) {
	return is_string( $value ) ? stripslashes( $value ) : $value;
}

function wp_strip_all_tags( $text ) {
	return trim( strip_tags( (string) $text ) );
}

function maybe_unserialize( $value ) {
	if ( is_string( $value ) && preg_match( '/^(a|O|s|i|b|d):/', $value ) ) {
		$data = @unserialize( $value ); // phpcs:ignore
		return false === $data && 'b:0;' !== $value ? $value : $data;
	}
	return $value;
}

// Users, nonces, admin.

function current_user_can( $capability ) {
	return $GLOBALS['blago24_wp']['can'];
}

function get_current_user_id() {
	return 1;
}

function wp_nonce_field( $action ) {
	echo '<input type="hidden" name="_wpnonce" value="' . esc_attr( 'nonce:' . $action ) . '">';
}

function check_admin_referer( $action, $query_arg = '_wpnonce' ) {
	if ( ! isset( $_REQUEST[ $query_arg ] ) || 'nonce:' . $action !== $_REQUEST[ $query_arg ] ) {
		throw new Blago24_Test_Die( 'The link you followed has expired.', 403 );
	}
	return 1;
}

function wp_die( $message = '', $title = '', $args = array() ) {
	throw new Blago24_Test_Die( (string) $message, isset( $args['response'] ) ? $args['response'] : 500 );
}

function wp_safe_redirect( $location ) {
	throw new Blago24_Test_Redirect( $location );
}

function add_options_page( $page_title, $menu_title, $capability, $slug, $callback ) {
	$GLOBALS['blago24_wp']['options_page'] = compact( 'page_title', 'menu_title', 'capability', 'slug' );
	return 'settings_page_' . $slug;
}

function is_admin() {
	return $GLOBALS['blago24_wp']['is_admin'];
}

// Plugin API.

function plugin_basename( $file ) {
	return basename( dirname( $file ) ) . '/' . basename( $file );
}

function load_plugin_textdomain( $domain, $deprecated = false, $path = false ) {
	$GLOBALS['blago24_wp']['textdomain'][] = array( $domain, $path );
	return true;
}

function register_activation_hook( $file, $callback ) {
	$GLOBALS['blago24_wp']['activation'] = $callback;
}

function register_deactivation_hook( $file, $callback ) {
	$GLOBALS['blago24_wp']['deactivation'] = $callback;
}

function dbDelta( $sql ) {
	$GLOBALS['blago24_wp']['dbdelta'][] = $sql;
	return array();
}
