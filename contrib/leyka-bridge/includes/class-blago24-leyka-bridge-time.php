<?php
/**
 * Times in the site's time zone, as ISO 8601 with the offset.
 *
 * @package Blago24_Leyka_Bridge
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * Converts between unix seconds, Leyka's local wall-clock times and ISO 8601.
 *
 * Leyka keeps a donation's date as the site's local wall-clock time (post_date, or date_created in
 * the separated tables), and its date_timestamp is that wall-clock string read as if it were UTC.
 */
final class Blago24_Leyka_Bridge_Time {

	/**
	 * The site's time zone (Settings → General), falling back to its UTC offset, then UTC.
	 *
	 * @return DateTimeZone
	 */
	public static function site_timezone() {
		if ( function_exists( 'wp_timezone' ) ) {
			$zone = wp_timezone();
			if ( $zone instanceof DateTimeZone ) {
				return $zone;
			}
		}
		$name = function_exists( 'get_option' ) ? (string) get_option( 'timezone_string', '' ) : '';
		if ( '' !== $name ) {
			try {
				return new DateTimeZone( $name );
			} catch ( Exception $e ) {
				unset( $e ); // Fall through to the offset.
			}
		}
		$offset  = function_exists( 'get_option' ) ? (float) get_option( 'gmt_offset', 0 ) : 0.0;
		$seconds = (int) round( $offset * 3600 );
		$sign    = $seconds < 0 ? '-' : '+';
		$seconds = abs( $seconds );
		return new DateTimeZone( sprintf( '%s%02d:%02d', $sign, intdiv( $seconds, 3600 ), intdiv( $seconds % 3600, 60 ) ) );
	}

	/**
	 * Unix seconds as ISO 8601 in the site's zone, e.g. "2026-03-14T12:41:05+03:00".
	 *
	 * @param int $timestamp Unix seconds.
	 * @return string
	 */
	public static function iso_from_unix( $timestamp ) {
		$date = new DateTimeImmutable( '@' . (int) $timestamp );
		return $date->setTimezone( self::site_timezone() )->format( 'Y-m-d\TH:i:sP' );
	}

	/**
	 * A local wall-clock time ("Y-m-d H:i:s" in the site's zone) as ISO 8601 with the offset.
	 *
	 * @param string $wallclock Local time as Leyka stores it.
	 * @return string ISO 8601, or "" when it cannot be read.
	 */
	public static function iso_from_local( $wallclock ) {
		$wallclock = trim( (string) $wallclock );
		if ( '' === $wallclock || 0 === strpos( $wallclock, '0000-00-00' ) ) {
			return '';
		}
		try {
			if ( preg_match( '/T\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)$/i', $wallclock ) ) {
				$date = new DateTimeImmutable( $wallclock ); // Carries its own offset.
				return $date->setTimezone( self::site_timezone() )->format( 'Y-m-d\TH:i:sP' );
			}
			$date = new DateTimeImmutable( $wallclock, self::site_timezone() );
			return $date->format( 'Y-m-d\TH:i:sP' );
		} catch ( Exception $e ) {
			return '';
		}
	}

	/**
	 * Leyka's date_timestamp (the local wall clock read as UTC) as ISO 8601 with the site's offset.
	 *
	 * @param int $pseudo_timestamp Leyka's date_timestamp or a current_time( 'timestamp' ) value.
	 * @return string
	 */
	public static function iso_from_local_timestamp( $pseudo_timestamp ) {
		if ( ! is_numeric( $pseudo_timestamp ) || (int) $pseudo_timestamp <= 0 ) {
			return '';
		}
		return self::iso_from_local( gmdate( 'Y-m-d H:i:s', (int) $pseudo_timestamp ) );
	}
}
