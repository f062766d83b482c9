<?php
/**
 * One signed POST to the app.
 *
 * @package Blago24_Leyka_Bridge
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * Signs a body with a fresh timestamp and posts it to the configured URL.
 */
class Blago24_Leyka_Bridge_Sender {

	/**
	 * Settings.
	 *
	 * @var Blago24_Leyka_Bridge_Settings
	 */
	private $settings;

	/**
	 * Returns the current unix time.
	 *
	 * @var callable
	 */
	private $clock;

	/**
	 * Sets the sender up.
	 *
	 * @param Blago24_Leyka_Bridge_Settings $settings Settings.
	 * @param callable                      $clock    Returns unix seconds.
	 */
	public function __construct( Blago24_Leyka_Bridge_Settings $settings, $clock = 'time' ) {
		$this->settings = $settings;
		$this->clock    = $clock;
	}

	/**
	 * The URL and the secret are set.
	 *
	 * @return bool
	 */
	public function is_configured() {
		return $this->settings->is_configured();
	}

	/**
	 * Posts the body, signed now.
	 *
	 * @param string $body    The raw JSON.
	 * @param int    $timeout Seconds.
	 * @return array{configured:bool,ok:bool,status:int,error:string,body:string,date:string,timestamp:int,started:int,finished:int}
	 */
	public function post( $body, $timeout = 10 ) {
		$result = array(
			'configured' => $this->settings->is_configured(),
			'ok'         => false,
			'status'     => 0,
			'error'      => '',
			'body'       => '',
			'date'       => '',
			'timestamp'  => 0,
			'started'    => 0,
			'finished'   => 0,
		);
		if ( ! $result['configured'] ) {
			$result['error'] = 'not configured: the URL or the secret is empty';
			return $result;
		}
		$timestamp           = (int) call_user_func( $this->clock );
		$result['timestamp'] = $timestamp;
		$result['started']   = $timestamp;
		$args                = array(
			'method'      => 'POST',
			'timeout'     => max( 1, (int) $timeout ),
			'redirection' => 0,
			'httpversion' => '1.1',
			'user-agent'  => 'Blago24-Leyka-Bridge/' . BLAGO24_LB_VERSION . '; ' . home_url(),
			'headers'     => Blago24_Leyka_Bridge_Signer::headers( $body, $this->settings->secret(), $timestamp ),
			'body'        => $body,
			'data_format' => 'body',
		);
		try {
			$response = wp_remote_post( $this->settings->url(), $args );
		} catch ( Throwable $e ) {
			$response = new WP_Error( 'blago24_lb_http', $e->getMessage() );
		}
		$result['finished'] = (int) call_user_func( $this->clock );
		if ( is_wp_error( $response ) ) {
			$result['error'] = 'network: ' . $response->get_error_message();
			return $result;
		}
		$result['status'] = (int) wp_remote_retrieve_response_code( $response );
		$result['body']   = substr( (string) wp_remote_retrieve_body( $response ), 0, 4000 );
		$result['date']   = (string) wp_remote_retrieve_header( $response, 'date' );
		$result['ok']     = $result['status'] >= 200 && $result['status'] < 300;
		if ( ! $result['ok'] ) {
			$result['error'] = self::describe_failure( $result['status'], $result['body'] );
		}
		return $result;
	}

	/**
	 * "HTTP 401: <the app's message>" for a refused delivery.
	 *
	 * @param int    $status HTTP status.
	 * @param string $body   The answer's body.
	 * @return string
	 */
	public static function describe_failure( $status, $body ) {
		$message = self::app_message( $body );
		return 'HTTP ' . (int) $status . ( '' !== $message ? ': ' . $message : '' );
	}

	/**
	 * The app's own words from a JSON answer ({"error": …, "message": …}), or the start of a text one.
	 *
	 * @param string $body The answer's body.
	 * @return string
	 */
	public static function app_message( $body ) {
		$data = json_decode( (string) $body, true );
		if ( is_array( $data ) ) {
			foreach ( array( 'message', 'error', 'detail' ) as $key ) {
				if ( isset( $data[ $key ] ) && is_scalar( $data[ $key ] ) && '' !== trim( (string) $data[ $key ] ) ) {
					return Blago24_Leyka_Bridge_Payload::clip( trim( (string) $data[ $key ] ), 300 );
				}
			}
			return '';
		}
		$text = trim( (string) preg_replace( '/\s+/', ' ', wp_strip_all_tags( (string) $body ) ) );
		return Blago24_Leyka_Bridge_Payload::clip( $text, 200 );
	}
}
