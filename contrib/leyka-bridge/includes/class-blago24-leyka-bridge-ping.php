<?php
/**
 * «Test connection»: what the app answered to a signed ping, in words, and how far apart the clocks are.
 *
 * @package Blago24_Leyka_Bridge
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * Reads the sender's result of a ping.
 */
final class Blago24_Leyka_Bridge_Ping {

	const WINDOW = 300; // The app refuses a timestamp more than five minutes from its clock.

	/**
	 * The report shown on the settings page.
	 *
	 * @param array $result The sender's result.
	 * @param int   $now    Unix seconds (when the check ran).
	 * @return array{time:int,status:int,ok:bool,verdict:string,words:string,app_message:string,error:string,clock:array}
	 */
	public static function report( array $result, $now ) {
		$status  = (int) $result['status'];
		$body    = isset( $result['body'] ) ? (string) $result['body'] : '';
		$verdict = self::verdict( $result );
		return array(
			'time'        => (int) $now,
			'status'      => $status,
			'ok'          => 'ok' === $verdict,
			'verdict'     => $verdict,
			'words'       => self::words( $verdict ),
			'app_message' => '' !== $body ? Blago24_Leyka_Bridge_Sender::app_message( $body ) : '',
			'error'       => (string) $result['error'],
			'clock'       => self::clock( $result ),
		);
	}

	/**
	 * What kind of answer it was.
	 *
	 * @param array $result The sender's result.
	 * @return string
	 */
	private static function verdict( array $result ) {
		$status = (int) $result['status'];
		if ( empty( $result['configured'] ) ) {
			return 'not_configured';
		}
		if ( 0 === $status ) {
			return 'network';
		}
		if ( $status >= 200 && $status < 300 ) {
			$data = json_decode( (string) $result['body'], true );
			return is_array( $data ) && ! empty( $data['ok'] ) ? 'ok' : 'ok_unconfirmed';
		}
		if ( 401 === $status || 403 === $status ) {
			return 'unauthorized';
		}
		if ( 404 === $status ) {
			return 'not_found';
		}
		if ( $status >= 300 && $status < 400 ) {
			return 'redirect';
		}
		if ( $status >= 400 && $status < 500 ) {
			return 'bad_request';
		}
		return 'server_error';
	}

	/**
	 * The verdict in words.
	 *
	 * @param string $verdict Verdict.
	 * @return string
	 */
	public static function words( $verdict ) {
		switch ( $verdict ) {
			case 'ok':
				return __( 'Connected: the app accepted the signed test call.', 'blago24-leyka-bridge' );
			case 'ok_unconfirmed':
				return __( 'The address answered 2xx, but not as the Blago24 app does: check that the URL is the one from the app page.', 'blago24-leyka-bridge' );
			case 'not_configured':
				return __( 'Not configured: paste the URL and the secret from the Blago24 app page and save them first.', 'blago24-leyka-bridge' );
			case 'network':
				return __( 'No connection: the app could not be reached from this site. Deliveries wait in the queue and are retried.', 'blago24-leyka-bridge' );
			case 'unauthorized':
				return __( 'The app refused the call: the secret differs from the one on the app page, or the site\'s clock is off by more than five minutes.', 'blago24-leyka-bridge' );
			case 'not_found':
				return __( 'The app does not know this address: copy the URL from the app page again.', 'blago24-leyka-bridge' );
			case 'redirect':
				return __( 'The address redirects elsewhere: paste the exact URL from the app page (with https://).', 'blago24-leyka-bridge' );
			case 'bad_request':
				return __( 'The app could not accept the call as sent.', 'blago24-leyka-bridge' );
			default:
				return __( 'The app is unavailable right now. Deliveries wait in the queue and are retried.', 'blago24-leyka-bridge' );
		}
	}

	/**
	 * The clocks' difference: from the app's JSON "time" when present, else the HTTP Date header.
	 *
	 * @param array $result The sender's result.
	 * @return array{source:string,difference:int|null,within:bool|null,words:string}
	 */
	public static function clock( array $result ) {
		$server = null;
		$source = '';
		$data   = json_decode( isset( $result['body'] ) ? (string) $result['body'] : '', true );
		if ( is_array( $data ) && isset( $data['time'] ) && is_numeric( $data['time'] ) ) {
			$server = (int) round( (float) $data['time'] );
			$source = 'json';
		} elseif ( ! empty( $result['date'] ) ) {
			$parsed = strtotime( (string) $result['date'] );
			if ( false !== $parsed ) {
				$server = $parsed;
				$source = 'date';
			}
		}
		if ( null === $server || empty( $result['started'] ) ) {
			return array(
				'source'     => '',
				'difference' => null,
				'within'     => null,
				'words'      => __( 'The app\'s clock could not be read (no time in its answer and no Date header).', 'blago24-leyka-bridge' ),
			);
		}
		$local      = (int) round( ( (int) $result['started'] + (int) $result['finished'] ) / 2 );
		$difference = $local - $server;
		$within     = abs( $difference ) <= self::WINDOW;
		if ( 0 === $difference ) {
			$words = __( 'The site\'s clock agrees with the app\'s.', 'blago24-leyka-bridge' );
		} elseif ( $difference > 0 ) {
			/* translators: %d: seconds. */
			$words = sprintf( __( 'The site\'s clock is %d s ahead of the app\'s.', 'blago24-leyka-bridge' ), $difference );
		} else {
			/* translators: %d: seconds. */
			$words = sprintf( __( 'The site\'s clock is %d s behind the app\'s.', 'blago24-leyka-bridge' ), -$difference );
		}
		$words .= ' ' . ( $within
			? __( 'That is within the five-minute window.', 'blago24-leyka-bridge' )
			: __( 'That is outside the five-minute window: the app refuses deliveries until the server\'s clock is set right (NTP).', 'blago24-leyka-bridge' ) );
		if ( 'date' === $source ) {
			$words .= ' ' . __( '(Measured by the HTTP Date header, to the second.)', 'blago24-leyka-bridge' );
		}
		return array(
			'source'     => $source,
			'difference' => $difference,
			'within'     => $within,
			'words'      => $words,
		);
	}
}
