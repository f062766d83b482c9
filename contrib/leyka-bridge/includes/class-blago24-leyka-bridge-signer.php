<?php
/**
 * The signature of a delivery.
 *
 * @package Blago24_Leyka_Bridge
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * X-Leyka-Bridge-Signature: sha256=<lowercase hex HMAC-SHA256(secret, "<timestamp>." + raw body)>.
 */
final class Blago24_Leyka_Bridge_Signer {

	const HEADER_TIMESTAMP = 'X-Leyka-Bridge-Timestamp';
	const HEADER_SIGNATURE = 'X-Leyka-Bridge-Signature';
	const CONTENT_TYPE     = 'application/json';

	/**
	 * The signature header's value.
	 *
	 * @param string $body      The raw body, exactly as sent.
	 * @param string $secret    The shared secret.
	 * @param int    $timestamp Unix seconds, the value of the timestamp header.
	 * @return string
	 */
	public static function signature( $body, $secret, $timestamp ) {
		return 'sha256=' . hash_hmac( 'sha256', (string) (int) $timestamp . '.' . (string) $body, (string) $secret );
	}

	/**
	 * All headers of a delivery signed at $timestamp.
	 *
	 * @param string $body      The raw body.
	 * @param string $secret    The shared secret.
	 * @param int    $timestamp Unix seconds.
	 * @return array<string,string>
	 */
	public static function headers( $body, $secret, $timestamp ) {
		return array(
			'Content-Type'         => self::CONTENT_TYPE,
			self::HEADER_TIMESTAMP => (string) (int) $timestamp,
			self::HEADER_SIGNATURE => self::signature( $body, $secret, $timestamp ),
		);
	}
}
