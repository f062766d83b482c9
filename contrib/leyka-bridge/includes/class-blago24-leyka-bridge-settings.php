<?php
/**
 * The admin's settings: the app's URL and the shared secret.
 *
 * @package Blago24_Leyka_Bridge
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * Reads and validates the URL and the secret (kept in non-autoloaded options).
 */
class Blago24_Leyka_Bridge_Settings {

	const OPTION_URL    = 'blago24_lb_url';
	const OPTION_SECRET = 'blago24_lb_secret';

	/**
	 * The app's URL the deliveries go to.
	 *
	 * @return string
	 */
	public function url() {
		return trim( (string) get_option( self::OPTION_URL, '' ) );
	}

	/**
	 * The shared secret.
	 *
	 * @return string
	 */
	public function secret() {
		return (string) get_option( self::OPTION_SECRET, '' );
	}

	/**
	 * Both the URL and the secret are set.
	 *
	 * @return bool
	 */
	public function is_configured() {
		return '' !== $this->url() && '' !== $this->secret();
	}

	/**
	 * Stores the URL (already sanitized).
	 *
	 * @param string $url URL.
	 */
	public function save_url( $url ) {
		update_option( self::OPTION_URL, (string) $url, false );
	}

	/**
	 * Stores the secret (already sanitized).
	 *
	 * @param string $secret Secret.
	 */
	public function save_secret( $secret ) {
		update_option( self::OPTION_SECRET, (string) $secret, false );
	}

	/**
	 * An http(s) URL, or "" when the input is not one.
	 *
	 * @param string $raw What the admin typed.
	 * @return string
	 */
	public static function sanitize_url( $raw ) {
		$raw = trim( (string) $raw );
		if ( '' === $raw || strlen( $raw ) > 2000 || preg_match( '/\s/', $raw ) ) {
			return '';
		}
		$url   = esc_url_raw( $raw, array( 'https', 'http' ) );
		$parts = function_exists( 'wp_parse_url' ) ? wp_parse_url( $url ) : parse_url( $url ); // phpcs:ignore WordPress.WP.AlternativeFunctions.parse_url_parse_url
		if ( ! is_array( $parts ) || empty( $parts['host'] ) || empty( $parts['scheme'] ) ) {
			return '';
		}
		if ( ! in_array( strtolower( $parts['scheme'] ), array( 'https', 'http' ), true ) ) {
			return '';
		}
		return $url;
	}

	/**
	 * The secret as typed, without whitespace or control characters (which the app would not have).
	 *
	 * Deliberately not sanitize_text_field(): that drops "%xx" octets and "<…>" runs, which a random
	 * secret may contain, and the app compares the secret byte for byte.
	 *
	 * @param string $raw What the admin typed.
	 * @return string
	 */
	public static function sanitize_secret( $raw ) {
		$secret = preg_replace( '/[\x00-\x20\x7f]+/', '', (string) $raw );
		return substr( (string) $secret, 0, 500 );
	}

	/**
	 * The secret for display: never the whole of it, only its last characters.
	 *
	 * @param string $secret Secret.
	 * @return string
	 */
	public static function mask_secret( $secret ) {
		$secret = (string) $secret;
		if ( '' === $secret ) {
			return '';
		}
		$shown = strlen( $secret ) >= 16 ? substr( $secret, -4 ) : '';
		return '••••••••' . $shown;
	}
}
