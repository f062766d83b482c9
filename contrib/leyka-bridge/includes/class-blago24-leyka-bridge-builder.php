<?php
/**
 * The raw body of a delivery about a donation.
 *
 * @package Blago24_Leyka_Bridge
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * Turns (event, donation, delivery id, time of change) into the JSON the app receives.
 */
class Blago24_Leyka_Bridge_Builder {

	/**
	 * Loads donations (a rebill's init donation).
	 *
	 * @var Blago24_Leyka_Bridge_Donation_Source
	 */
	private $source;

	/**
	 * Returns unix seconds.
	 *
	 * @var callable
	 */
	private $clock;

	/**
	 * Sets the builder up.
	 *
	 * @param Blago24_Leyka_Bridge_Donation_Source $source Donations.
	 * @param callable                             $clock  Returns unix seconds.
	 */
	public function __construct( Blago24_Leyka_Bridge_Donation_Source $source, $clock = 'time' ) {
		$this->source = $source;
		$this->clock  = $clock;
	}

	/**
	 * Now, as ISO 8601 in the site's zone.
	 *
	 * @return string
	 */
	public function now_iso() {
		return Blago24_Leyka_Bridge_Time::iso_from_unix( (int) call_user_func( $this->clock ) );
	}

	/**
	 * The wire format's donation object.
	 *
	 * @param object $donation  Leyka donation.
	 * @param array  $overrides Values that win over the object's.
	 * @return array
	 */
	public function donation( $donation, array $overrides = array() ) {
		return Blago24_Leyka_Bridge_Payload::donation( $donation, $overrides, array( $this->source, 'get' ) );
	}

	/**
	 * The delivery's raw JSON.
	 *
	 * @param string $event       Event name.
	 * @param object $donation    Leyka donation.
	 * @param string $delivery_id Delivery id.
	 * @param string $changed_at  ISO 8601: when the change happened.
	 * @param array  $overrides   Values that win over the object's.
	 * @return string
	 */
	public function body( $event, $donation, $delivery_id, $changed_at, array $overrides = array() ) {
		$data = $this->donation( $donation, $overrides );
		if ( '' === $data['date_created'] ) {
			$data['date_created'] = $changed_at; // The app needs a date; the change's is the best known.
		}
		return Blago24_Leyka_Bridge_Payload::encode(
			Blago24_Leyka_Bridge_Payload::delivery( $event, home_url(), $data, $delivery_id, $changed_at )
		);
	}

	/**
	 * The ping's raw JSON.
	 *
	 * @param string $delivery_id "ping-<uuid>".
	 * @return string
	 */
	public function ping_body( $delivery_id ) {
		return Blago24_Leyka_Bridge_Payload::encode(
			Blago24_Leyka_Bridge_Payload::delivery( Blago24_Leyka_Bridge_Payload::EVENT_PING, home_url(), null, $delivery_id, $this->now_iso() )
		);
	}
}
