<?php
/**
 * A minimal Leyka: Leyka_Donations and a donation whose magic getters answer as Leyka 3.x's do.
 *
 * Modelled on Leyka_Donation_Separated (Leyka 3.32): currency is the stored lower-case id ("rub"),
 * gateway_id / pm_id are false when empty, amount is the column's value, donor_name is kept
 * htmlentities()-encoded, date_timestamp is strtotime() of the local date_created (the local wall
 * clock read as UTC), init_recurring_donation_id is the donation's own ID for an init recurring
 * donation and false for a single one, recurring_active is read from the init donation and is null
 * for a single one, error_id is false unless the donation failed, and gateway fields
 * (cp_transaction_id, cp_recurring_id) come from the gateway's unknown-field filter (get_meta).
 *
 * @package Blago24_Leyka_Bridge
 */

/**
 * A Leyka donation.
 */
class Blago24_Test_Leyka_Donation {

	/**
	 * Main data (like a row of {prefix}leyka_donations).
	 *
	 * @var array
	 */
	public $data;

	/**
	 * Meta (like {prefix}leyka_donations_meta).
	 *
	 * @var array
	 */
	public $meta;

	/**
	 * Fields whose getter throws (to test tolerance).
	 *
	 * @var string[]
	 */
	public $broken = array();

	/**
	 * Makes a donation; unspecified fields get typical values.
	 *
	 * @param array $data Main data; "meta" => array for the meta.
	 */
	public function __construct( array $data = array() ) {
		$meta       = isset( $data['meta'] ) ? $data['meta'] : array();
		$this->data = array_merge(
			array(
				'id'                => 101,
				'status'            => 'submitted',
				'payment_type'      => 'single',
				'amount'            => 500.0,
				'currency_id'       => 'rub',
				'gateway_id'        => 'cp',
				'pm_id'             => 'card',
				'campaign_id'       => 7,
				'campaign_title'    => 'Помощь детям',
				'donor_name'        => htmlentities( 'Иван Петров', ENT_QUOTES, 'UTF-8' ),
				'donor_email'       => 'ivan@example.org',
				'additional_fields' => array(),
				'date_created'      => '2026-03-14 12:41:05',
				'status_log'        => '',
			),
			$data
		);
		unset( $this->data['meta'] );
		$this->meta = $meta;
	}

	/**
	 * Leyka's magic getter.
	 *
	 * @param string $field Field.
	 * @return mixed
	 * @throws RuntimeException For a field listed in $broken.
	 */
	public function __get( $field ) {
		if ( in_array( $field, $this->broken, true ) ) {
			throw new RuntimeException( 'getter of ' . $field . ' is broken' );
		}
		$d      = $this->data;
		$rebill = 'rebill' === $d['payment_type'];
		switch ( $field ) {
			case 'id':
			case 'ID':
				return $d['id'];
			case 'status':
				return $d['status'];
			case 'amount':
			case 'sum':
				return $d['amount'] ? $d['amount'] : 0.0;
			case 'currency':
			case 'currency_id':
			case 'currency_code':
				return $d['currency_id'];
			case 'type':
			case 'payment_type':
				return $d['payment_type'];
			case 'gateway_id':
				return $d['gateway_id'] ? $d['gateway_id'] : false;
			case 'pm_id':
			case 'payment_method_id':
				return $d['pm_id'] ? $d['pm_id'] : false;
			case 'campaign_id':
				return $d['campaign_id'];
			case 'campaign_title':
				return $d['campaign_title'];
			case 'donor_name':
				return stripslashes( $d['donor_name'] );
			case 'donor_email':
				return $d['donor_email'];
			case 'donor_phone':
				return isset( $d['donor_phone'] ) ? $d['donor_phone'] : '';
			case 'additional_fields':
				return $d['additional_fields'];
			case 'date_timestamp':
				return strtotime( $d['date_created'] );
			case 'status_log':
				return $d['status_log'];
			case 'init_recurring_donation_id':
				if ( ! $rebill ) {
					return null;
				}
				$init = $this->get_meta( 'init_recurring_donation_id' );
				return $init && $init != $d['id'] ? $init : $d['id']; // phpcs:ignore Universal.Operators.StrictComparisons
			case 'init_recurring_donation':
				return $rebill ? Leyka_Donations::get_instance()->get_donation( $this->init_recurring_donation_id ) : null;
			case 'recurring_active':
			case 'recurring_is_active':
			case 'rebilling_is_active':
				if ( ! $rebill ) {
					return null;
				}
				$init = $this->init_recurring_donation;
				return $init ? $init->get_meta( 'recurring_active' ) : null;
			case 'error_id':
				return 'failed' === $d['status'] && $this->get_meta( 'error_id' ) ? $this->get_meta( 'error_id' ) : false;
			case 'cp_transaction_id':
			case 'cp_recurring_id':
				return 'cp' === $d['gateway_id'] ? $this->get_meta( $field ) : null;
			default:
				return null; // Leyka: apply_filters( 'leyka_get_unknown_donation_field', null, … ).
		}
	}

	/**
	 * Leyka's get_meta().
	 *
	 * @param string $key Key.
	 * @return mixed
	 */
	public function get_meta( $key ) {
		return array_key_exists( $key, $this->meta ) ? $this->meta[ $key ] : null;
	}
}

/**
 * Leyka's donations registry (Leyka_Donations::get_instance()->get_donation()).
 */
class Leyka_Donations {

	/**
	 * Instance.
	 *
	 * @var Leyka_Donations|null
	 */
	private static $instance = null;

	/**
	 * Donations by ID.
	 *
	 * @var Blago24_Test_Leyka_Donation[]
	 */
	public static $store = array();

	/**
	 * Donations whose loading throws.
	 *
	 * @var int[]
	 */
	public static $broken = array();

	/**
	 * The instance.
	 *
	 * @return Leyka_Donations
	 */
	public static function get_instance() {
		if ( null === self::$instance ) {
			self::$instance = new self();
		}
		return self::$instance;
	}

	/**
	 * Forgets every donation.
	 */
	public static function reset() {
		self::$store  = array();
		self::$broken = array();
	}

	/**
	 * Adds a donation and returns it.
	 *
	 * @param array $data Donation data.
	 * @return Blago24_Test_Leyka_Donation
	 */
	public static function put( array $data ) {
		$donation                                = new Blago24_Test_Leyka_Donation( $data );
		self::$store[ (int) $donation->data['id'] ] = $donation;
		return $donation;
	}

	/**
	 * A donation or false, like Leyka's.
	 *
	 * @param int|object $donation ID or object.
	 * @return Blago24_Test_Leyka_Donation|false
	 * @throws Exception For an ID listed in $broken.
	 */
	public function get_donation( $donation ) {
		$id = is_object( $donation ) ? (int) $donation->id : (int) $donation;
		if ( in_array( $id, self::$broken, true ) ) {
			throw new Exception( 'No donation #' . $id . ' in the DB' );
		}
		return isset( self::$store[ $id ] ) ? self::$store[ $id ] : false;
	}

	/**
	 * Leyka's get( int ).
	 *
	 * @param int $id ID.
	 * @return Blago24_Test_Leyka_Donation|false
	 */
	public function get( $id ) {
		return $this->get_donation( $id );
	}
}
