<?php
/**
 * The JSON the app receives: a Leyka donation read through its magic getters, in the wire format.
 *
 * @package Blago24_Leyka_Bridge
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * Builds the donation object and the delivery envelope of the wire format.
 *
 * Leyka has two storage modes (WP posts and its own tables) whose donation classes answer the same
 * property names slightly differently (currency "RUB" or "rub", pm_id "" or false, amount a float
 * or a decimal string), and property names moved between versions; every field is read through
 * the donation object's getters with fallbacks, and normalised to the wire format's types.
 */
final class Blago24_Leyka_Bridge_Payload {

	const EVENT_ADDED          = 'donation.added';
	const EVENT_STATUS_CHANGED = 'donation.status_changed';
	const EVENT_RECURRING      = 'recurring.changed';
	const EVENT_PING           = 'bridge.ping';

	/**
	 * Longest value the app accepts for a text field (longer ones are cut, so a delivery is never
	 * refused for its length and retried for ever).
	 *
	 * @var array<string,int>
	 */
	const TEXT_LIMITS = array(
		'status'          => 20,
		'payment_type'    => 20,
		'currency'        => 3,
		'gateway_id'      => 60,
		'pm_id'           => 60,
		'campaign_title'  => 500,
		'donor_name'      => 300,
		'donor_email'     => 200,
		'donor_phone'     => 40,
		'cp_recurring_id' => 100,
		'error_id'        => 100,
	);

	/**
	 * The wire format's donation object.
	 *
	 * @param object        $donation    A Leyka donation (Leyka_Donation_Base) or any object with
	 *                                   the same property names.
	 * @param array         $overrides   Values that win over what the object says (the status of a
	 *                                   status change, the activity of a recurring change).
	 * @param callable|null $load        Loads another donation by ID (for a rebill's subscription).
	 * @return array<string,mixed>
	 */
	public static function donation( $donation, array $overrides = array(), $load = null ) {
		$id           = self::int_value( self::first( $donation, array( 'id', 'ID' ) ) );
		$payment_type = strtolower( self::text( self::first( $donation, array( 'payment_type', 'type', 'donation_type' ) ) ) );
		if ( '' === $payment_type ) {
			$payment_type = 'single';
		}
		$rebill = 'rebill' === $payment_type;

		// Leyka answers the init donation's own ID for an init recurring donation, false when single.
		$init_id = $rebill ? self::int_value( self::read( $donation, 'init_recurring_donation_id' ) ) : 0;
		if ( $rebill && 0 === $init_id ) {
			$init_id = self::int_value( self::meta( $donation, 'init_recurring_donation_id' ) );
		}

		$recurring_active = false;
		if ( $rebill ) {
			$recurring_active = self::bool_value(
				self::first( $donation, array( 'recurring_active', 'recurring_is_active', 'rebilling_is_active', 'recurring_on' ) )
			);
		}

		$currency = strtoupper( self::text( self::first( $donation, array( 'currency', 'currency_id', 'currency_code' ) ) ) );
		if ( 'RUR' === $currency || '' === $currency ) {
			$currency = 'RUB'; // Leyka's old id of the rouble, and its default currency.
		}

		$cp_recurring_id = self::text( self::first( $donation, array( 'cp_recurring_id' ) ) );
		if ( '' === $cp_recurring_id ) {
			$cp_recurring_id = self::text( self::meta( $donation, 'cp_recurring_id' ) );
		}
		if ( '' === $cp_recurring_id && $rebill && $init_id > 0 && $init_id !== $id && is_callable( $load ) ) {
			// CloudPayments' subscription id is kept on the init donation only.
			$init = self::call( $load, $init_id );
			if ( is_object( $init ) ) {
				$cp_recurring_id = self::text( self::first( $init, array( 'cp_recurring_id' ) ) );
				if ( '' === $cp_recurring_id ) {
					$cp_recurring_id = self::text( self::meta( $init, 'cp_recurring_id' ) );
				}
			}
		}

		$cp_transaction_id = self::text( self::first( $donation, array( 'cp_transaction_id' ) ) );
		if ( '' === $cp_transaction_id ) {
			$cp_transaction_id = self::text( self::meta( $donation, 'cp_transaction_id' ) );
		}

		$data = array(
			'id'                         => $id,
			'status'                     => strtolower( self::text( self::first( $donation, array( 'status', 'donation_status' ) ) ) ),
			'amount'                     => self::amount( self::first( $donation, array( 'amount', 'sum' ) ) ),
			'currency'                   => $currency,
			'payment_type'               => $payment_type,
			'init_recurring_donation_id' => $init_id,
			'recurring_active'           => $recurring_active,
			'gateway_id'                 => self::text( self::first( $donation, array( 'gateway_id', 'gateway' ) ) ),
			'pm_id'                      => self::text( self::first( $donation, array( 'pm_id', 'payment_method_id' ) ) ),
			'campaign_id'                => self::int_value( self::first( $donation, array( 'campaign_id' ) ) ),
			'campaign_title'             => self::decode( self::text( self::first( $donation, array( 'campaign_title', 'payment_title', 'title' ) ) ) ),
			'donor_name'                 => self::decode( self::text( self::read( $donation, 'donor_name' ) ) ),
			'donor_email'                => self::text( self::read( $donation, 'donor_email' ) ),
			'donor_phone'                => self::phone( $donation ),
			'date_created'               => self::date_created( $donation ),
			'cp_transaction_id'          => $cp_transaction_id,
			'cp_recurring_id'            => $cp_recurring_id,
			'error_id'                   => self::text( self::first( $donation, array( 'error_id', 'payment_error_id' ) ) ),
		);

		foreach ( $overrides as $key => $value ) {
			if ( array_key_exists( $key, $data ) ) {
				$data[ $key ] = $value;
			}
		}
		return self::normalise( $data );
	}

	/**
	 * The delivery envelope: event, site, donation, delivery_id, changed_at.
	 *
	 * @param string     $event       One of the EVENT_* names.
	 * @param string     $site        home_url().
	 * @param array|null $donation    The donation object, or null (the ping has none).
	 * @param string     $delivery_id The delivery's id, kept across retries.
	 * @param string     $changed_at  ISO 8601 with offset: when the change happened.
	 * @return array<string,mixed>
	 */
	public static function delivery( $event, $site, $donation, $delivery_id, $changed_at ) {
		$data = array(
			'event' => (string) $event,
			'site'  => (string) $site,
		);
		if ( null !== $donation ) {
			$data['donation'] = $donation;
		}
		$data['delivery_id'] = (string) $delivery_id;
		$data['changed_at']  = (string) $changed_at;
		return $data;
	}

	/**
	 * The JSON text of a delivery: UTF-8, no escaped slashes or Unicode, invalid bytes replaced.
	 *
	 * @param array $data Delivery.
	 * @return string
	 * @throws RuntimeException When the data cannot be encoded.
	 */
	public static function encode( array $data ) {
		$flags = JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES;
		if ( defined( 'JSON_INVALID_UTF8_SUBSTITUTE' ) ) {
			$flags |= JSON_INVALID_UTF8_SUBSTITUTE;
		}
		$json = function_exists( 'wp_json_encode' ) ? wp_json_encode( $data, $flags ) : json_encode( $data, $flags ); // phpcs:ignore WordPress.WP.AlternativeFunctions.json_encode_json_encode
		if ( ! is_string( $json ) ) {
			throw new RuntimeException( 'blago24-leyka-bridge: the delivery could not be encoded as JSON' );
		}
		return $json;
	}

	/**
	 * An amount as a decimal string with two decimals ("500.00"), never a float.
	 *
	 * @param mixed $value Leyka's amount: a float (posts) or a decimal string (separated tables).
	 * @return string
	 */
	public static function amount( $value ) {
		if ( is_string( $value ) ) {
			$value = str_replace( array( ' ', ',' ), array( '', '.' ), trim( $value ) );
		}
		if ( ! is_numeric( $value ) ) {
			return '0.00';
		}
		$amount = number_format( round( (float) $value, 2 ), 2, '.', '' );
		return '-0.00' === $amount ? '0.00' : $amount;
	}

	/**
	 * Reads one property through the object's getter; null when it is missing or the getter fails.
	 *
	 * Notices from Leyka's getters (an option missing, a meta not yet saved) are silenced here so a
	 * delivery never prints into Leyka's own answer to a payment gateway.
	 *
	 * @param mixed  $donation The donation object.
	 * @param string $field    Property name.
	 * @return mixed
	 */
	public static function read( $donation, $field ) {
		if ( ! is_object( $donation ) ) {
			return null;
		}
		set_error_handler( array( __CLASS__, 'silence' ) ); // phpcs:ignore WordPress.PHP.DevelopmentFunctions.error_log_set_error_handler
		try {
			return $donation->{$field};
		} catch ( Throwable $e ) {
			return null;
		} finally {
			restore_error_handler();
		}
	}

	/**
	 * Error handler that swallows warnings and notices while a getter runs.
	 *
	 * @return bool
	 */
	public static function silence() {
		return true;
	}

	/**
	 * The first of the names whose value is set (not null, false or "").
	 *
	 * @param mixed    $donation The donation object.
	 * @param string[] $names    Property names in order of preference.
	 * @return mixed
	 */
	public static function first( $donation, array $names ) {
		foreach ( $names as $name ) {
			$value = self::read( $donation, $name );
			if ( null !== $value && false !== $value && '' !== $value ) {
				return $value;
			}
		}
		return null;
	}

	/**
	 * A donation meta value through Leyka's get_meta(), or null.
	 *
	 * @param mixed  $donation The donation object.
	 * @param string $key      Meta key.
	 * @return mixed
	 */
	public static function meta( $donation, $key ) {
		if ( ! is_object( $donation ) || ! method_exists( $donation, 'get_meta' ) ) {
			return null;
		}
		set_error_handler( array( __CLASS__, 'silence' ) ); // phpcs:ignore WordPress.PHP.DevelopmentFunctions.error_log_set_error_handler
		try {
			return $donation->get_meta( $key );
		} catch ( Throwable $e ) {
			return null;
		} finally {
			restore_error_handler();
		}
	}

	/**
	 * Decodes Leyka's HTML entities (it keeps donor names htmlentities()-encoded).
	 *
	 * @param string $text Text.
	 * @return string
	 */
	public static function decode( $text ) {
		return html_entity_decode( (string) $text, ENT_QUOTES | ENT_HTML5, 'UTF-8' );
	}

	/**
	 * The donor's phone: Leyka's donor_phone getter (additional fields of the phone type, or the
	 * Mixplat phone), else an additional field whose name says phone.
	 *
	 * @param object $donation The donation object.
	 * @return string
	 */
	private static function phone( $donation ) {
		$phone = self::text( self::read( $donation, 'donor_phone' ) );
		if ( '' === $phone ) {
			$fields = self::first( $donation, array( 'additional_fields', 'donor_additional_fields' ) );
			if ( is_array( $fields ) ) {
				foreach ( $fields as $name => $value ) {
					if ( is_scalar( $value ) && '' !== trim( (string) $value ) && preg_match( '/phone|tel|телефон/iu', (string) $name ) ) {
						$phone = trim( (string) $value );
						break;
					}
				}
			}
		}
		if ( function_exists( 'apply_filters' ) ) {
			$phone = self::text( apply_filters( 'blago24_lb_donor_phone', $phone, $donation ) );
		}
		return $phone;
	}

	/**
	 * The donation's date as ISO 8601 with the site's offset.
	 *
	 * @param object $donation The donation object.
	 * @return string ISO 8601 or "".
	 */
	private static function date_created( $donation ) {
		$raw = self::first( $donation, array( 'date_created', 'date_created_raw' ) );
		if ( is_string( $raw ) && '' !== trim( $raw ) && ! is_numeric( $raw ) ) {
			$iso = Blago24_Leyka_Bridge_Time::iso_from_local( $raw );
			if ( '' !== $iso ) {
				return $iso;
			}
		}
		return Blago24_Leyka_Bridge_Time::iso_from_local_timestamp( self::read( $donation, 'date_timestamp' ) );
	}

	/**
	 * A scalar as trimmed text ("" for null, false, arrays and objects).
	 *
	 * @param mixed $value Value.
	 * @return string
	 */
	public static function text( $value ) {
		if ( null === $value || false === $value || ! is_scalar( $value ) ) {
			return '';
		}
		if ( true === $value ) {
			return '1';
		}
		return trim( (string) $value );
	}

	/**
	 * A non-negative integer (0 for anything else).
	 *
	 * @param mixed $value Value.
	 * @return int
	 */
	public static function int_value( $value ) {
		if ( is_int( $value ) ) {
			return max( 0, $value );
		}
		if ( is_string( $value ) && preg_match( '/^\s*\d+\s*$/', $value ) ) {
			return (int) $value;
		}
		if ( is_float( $value ) && $value >= 0 && floor( $value ) === $value ) {
			return (int) $value;
		}
		return 0;
	}

	/**
	 * A boolean from Leyka's meta values ("1", "", 1, true, "0" …).
	 *
	 * @param mixed $value Value.
	 * @return bool
	 */
	public static function bool_value( $value ) {
		if ( is_string( $value ) ) {
			return ! in_array( strtolower( trim( $value ) ), array( '', '0', 'false', 'no', 'off' ), true );
		}
		return (bool) $value;
	}

	/**
	 * Cuts text to at most $limit characters (UTF-8 aware, with or without mbstring).
	 *
	 * @param string $text  Text.
	 * @param int    $limit Characters.
	 * @return string
	 */
	public static function clip( $text, $limit ) {
		$text = (string) $text;
		if ( strlen( $text ) <= $limit ) {
			return $text;
		}
		if ( function_exists( 'mb_substr' ) ) {
			return mb_substr( $text, 0, $limit, 'UTF-8' );
		}
		if ( preg_match( '/^.{0,' . (int) $limit . '}/us', $text, $match ) ) {
			return $match[0];
		}
		return substr( $text, 0, $limit );
	}

	/**
	 * Enforces the wire format's types on every field (after the overrides).
	 *
	 * @param array $data Donation fields.
	 * @return array
	 */
	private static function normalise( array $data ) {
		foreach ( array( 'id', 'init_recurring_donation_id', 'campaign_id' ) as $key ) {
			$data[ $key ] = self::int_value( $data[ $key ] );
		}
		$data['recurring_active'] = self::bool_value( $data['recurring_active'] );
		$data['amount']           = self::amount( $data['amount'] );
		foreach ( array( 'status', 'currency', 'payment_type', 'gateway_id', 'pm_id', 'campaign_title', 'donor_name', 'donor_email', 'donor_phone', 'date_created', 'cp_transaction_id', 'cp_recurring_id', 'error_id' ) as $key ) {
			$data[ $key ] = self::text( $data[ $key ] );
			if ( isset( self::TEXT_LIMITS[ $key ] ) ) {
				$data[ $key ] = self::clip( $data[ $key ], self::TEXT_LIMITS[ $key ] );
			}
		}
		return $data;
	}

	/**
	 * Calls a loader, swallowing whatever it throws.
	 *
	 * @param callable $load Loader.
	 * @param int      $id   Donation ID.
	 * @return mixed
	 */
	private static function call( $load, $id ) {
		try {
			return call_user_func( $load, $id );
		} catch ( Throwable $e ) {
			return null;
		}
	}
}
