<?php
/**
 * The payload: every field of the wire format, its type, and how Leyka's values are normalised.
 *
 * @package Blago24_Leyka_Bridge
 */

require __DIR__ . '/bootstrap.php';

const BLAGO24_DONATION_KEYS = array( 'id', 'status', 'amount', 'currency', 'payment_type', 'init_recurring_donation_id', 'recurring_active', 'gateway_id', 'pm_id', 'campaign_id', 'campaign_title', 'donor_name', 'donor_email', 'donor_phone', 'date_created', 'cp_transaction_id', 'cp_recurring_id', 'error_id' );

/**
 * The wire-format donation of a stub donation.
 *
 * @param Blago24_Test_Leyka_Donation $donation Donation.
 * @param array                       $overrides Overrides.
 * @return array
 */
function blago24_payload( $donation, array $overrides = array() ) {
	return Blago24_Leyka_Bridge_Payload::donation( $donation, $overrides, array( new Blago24_Leyka_Bridge_Leyka_Source(), 'get' ) );
}

blago24_test(
	'a single CloudPayments donation: every field, in order, with its type',
	function () {
		$donation = Leyka_Donations::put(
			array(
				'id'          => 101,
				'status'      => 'funded',
				'amount'      => 500.0,
				'donor_phone' => '+7 900 000-00-00',
				'meta'        => array( 'cp_transaction_id' => '2938475610' ),
			)
		);
		$data     = blago24_payload( $donation );
		assert_same( BLAGO24_DONATION_KEYS, array_keys( $data ), 'fields and their order' );
		assert_same(
			array(
				'id'                         => 101,
				'status'                     => 'funded',
				'amount'                     => '500.00',
				'currency'                   => 'RUB',
				'payment_type'               => 'single',
				'init_recurring_donation_id' => 0,
				'recurring_active'           => false,
				'gateway_id'                 => 'cp',
				'pm_id'                      => 'card',
				'campaign_id'                => 7,
				'campaign_title'             => 'Помощь детям',
				'donor_name'                 => 'Иван Петров',
				'donor_email'                => 'ivan@example.org',
				'donor_phone'                => '+7 900 000-00-00',
				'date_created'               => '2026-03-14T12:41:05+03:00',
				'cp_transaction_id'          => '2938475610',
				'cp_recurring_id'            => '',
				'error_id'                   => '',
			),
			$data,
			'payload'
		);
	}
);

blago24_test(
	'amount: a decimal string with two decimals, from a float or Leyka\'s decimal column',
	function () {
		$cases = array(
			array( 500.0, '500.00' ),
			array( 500, '500.00' ),
			array( 500.5, '500.50' ),
			array( 1234.567, '1234.57' ),
			array( 0.1 + 0.2, '0.30' ),
			array( '500.000000', '500.00' ),
			array( '1500', '1500.00' ),
			array( '99,90', '99.90' ),
			array( 0.0, '0.00' ),
			array( null, '0.00' ),
			array( 'abc', '0.00' ),
		);
		foreach ( $cases as $case ) {
			$donation = new Blago24_Test_Leyka_Donation( array( 'amount' => $case[0] ) );
			$data     = blago24_payload( $donation );
			assert_same( $case[1], $data['amount'], 'amount of ' . var_export( $case[0], true ) );
		}
		$body = Blago24_Leyka_Bridge_Payload::encode( array( 'donation' => blago24_payload( new Blago24_Test_Leyka_Donation( array( 'amount' => 500.0 ) ) ) ) );
		assert_contains( '"amount":"500.00"', $body, 'a JSON string, not a number' );
	}
);

blago24_test(
	'donor_name is decoded from Leyka\'s HTML entities (htmlentities, ENT_QUOTES, UTF-8)',
	function () {
		$names = array(
			'Иван "Ваня" О\'Брайен & Co'  => 'Иван "Ваня" О\'Брайен & Co',
			'«Фонд» — Мария'              => '«Фонд» — Мария',
			'Zoë <b>Bold</b>'             => 'Zoë <b>Bold</b>',
			'Already &amp; encoded twice' => 'Already &amp; encoded twice',
		);
		foreach ( $names as $name => $expected ) {
			// Leyka stores htmlentities( $name, ENT_QUOTES, 'UTF-8' ).
			$donation = new Blago24_Test_Leyka_Donation( array( 'donor_name' => htmlentities( $name, ENT_QUOTES, 'UTF-8' ) ) );
			assert_same( $expected, blago24_payload( $donation )['donor_name'], 'name ' . $name );
		}
		$donation = new Blago24_Test_Leyka_Donation( array( 'donor_name' => 'O&#039;Neil &apos;Jr&apos; &laquo;x&raquo; &quot;y&quot;' ) );
		assert_same( 'O\'Neil \'Jr\' «x» "y"', blago24_payload( $donation )['donor_name'], 'numeric and HTML5 entities' );
		$donation = new Blago24_Test_Leyka_Donation( array( 'campaign_title' => 'Дети &amp; родители' ) );
		assert_same( 'Дети & родители', blago24_payload( $donation )['campaign_title'], 'the campaign title too' );
	}
);

blago24_test(
	'currency is upper-cased; Leyka\'s old "rur" is RUB',
	function () {
		foreach ( array(
			'rub' => 'RUB',
			'RUB' => 'RUB',
			'usd' => 'USD',
			'eur' => 'EUR',
			'rur' => 'RUB',
			''    => 'RUB',
		) as $stored => $expected ) {
			$donation = new Blago24_Test_Leyka_Donation( array( 'currency_id' => $stored ) );
			assert_same( $expected, blago24_payload( $donation )['currency'], 'currency ' . $stored );
		}
	}
);

blago24_test(
	'date_created: the local date with the site\'s offset (time zone name, or only a UTC offset)',
	function () {
		$donation = new Blago24_Test_Leyka_Donation( array( 'date_created' => '2026-03-14 12:41:05' ) );
		assert_same( '2026-03-14T12:41:05+03:00', blago24_payload( $donation )['date_created'], 'Moscow' );

		update_option( 'timezone_string', 'Asia/Yekaterinburg' );
		assert_same( '2026-03-14T12:41:05+05:00', blago24_payload( $donation )['date_created'], 'Yekaterinburg' );

		update_option( 'timezone_string', '' );
		update_option( 'gmt_offset', 5.5 );
		assert_same( '2026-03-14T12:41:05+05:30', blago24_payload( $donation )['date_created'], 'a bare UTC offset' );

		update_option( 'timezone_string', 'Europe/Berlin' );
		$summer = new Blago24_Test_Leyka_Donation( array( 'date_created' => '2026-07-01 08:00:00' ) );
		assert_same( '2026-07-01T08:00:00+02:00', blago24_payload( $summer )['date_created'], 'summer time' );
	}
);

blago24_test(
	'date_created: a getter answering a date string (other versions) is read as local, or by its own offset',
	function () {
		$local = new stdClass();
		$local->id = 5;
		$local->status = 'funded';
		$local->date_created = '2026-01-02 03:04:05';
		assert_same( '2026-01-02T03:04:05+03:00', blago24_payload( $local )['date_created'], 'local string' );
		$local->date_created = '2026-01-02T00:04:05Z';
		assert_same( '2026-01-02T03:04:05+03:00', blago24_payload( $local )['date_created'], 'ISO string with Z' );
	}
);

blago24_test(
	'an init recurring donation: Leyka\'s own ID as init_recurring_donation_id, active, CloudPayments\' subscription',
	function () {
		$init = Leyka_Donations::put(
			array(
				'id'           => 200,
				'status'       => 'funded',
				'payment_type' => 'rebill',
				'meta'         => array(
					'recurring_active'  => '1',
					'cp_recurring_id'   => 'sc_8f7e6d5c4b3a',
					'cp_transaction_id' => '111',
				),
			)
		);
		$data = blago24_payload( $init );
		assert_same( 'rebill', $data['payment_type'], 'type' );
		assert_same( 200, $data['init_recurring_donation_id'], 'Leyka answers the init donation\'s own ID' );
		assert_true( $data['recurring_active'], 'active' );
		assert_same( 'sc_8f7e6d5c4b3a', $data['cp_recurring_id'], 'subscription' );
	}
);

blago24_test(
	'a rebill: the init donation\'s ID, its activity and (CloudPayments keeps it there only) its subscription id',
	function () {
		Leyka_Donations::put(
			array(
				'id'           => 200,
				'payment_type' => 'rebill',
				'meta'         => array(
					'recurring_active' => '',
					'cp_recurring_id'  => 'sc_8f7e6d5c4b3a',
				),
			)
		);
		$rebill = Leyka_Donations::put(
			array(
				'id'           => 250,
				'status'       => 'funded',
				'payment_type' => 'rebill',
				'meta'         => array(
					'init_recurring_donation_id' => '200',
					'cp_transaction_id'          => '987654321',
				),
			)
		);
		$data = blago24_payload( $rebill );
		assert_same( 200, $data['init_recurring_donation_id'], 'an integer, from Leyka\'s string meta' );
		assert_false( $data['recurring_active'], 'the subscription was switched off' );
		assert_same( 'sc_8f7e6d5c4b3a', $data['cp_recurring_id'], 'from the init donation' );
		assert_same( '987654321', $data['cp_transaction_id'], 'the rebill\'s own transaction' );
	}
);

blago24_test(
	'a failed donation: error_id as a string; none ("") otherwise; missing values as "" and 0',
	function () {
		$failed = new Blago24_Test_Leyka_Donation(
			array(
				'status' => 'failed',
				'meta'   => array( 'error_id' => 'CP-7051' ),
			)
		);
		assert_same( 'CP-7051', blago24_payload( $failed )['error_id'], 'failed' );

		$bare = new Blago24_Test_Leyka_Donation(
			array(
				'gateway_id'  => '',
				'pm_id'       => '',
				'campaign_id' => null,
				'donor_email' => null,
			)
		);
		$data = blago24_payload( $bare );
		assert_same( '', $data['gateway_id'], 'gateway false → ""' );
		assert_same( '', $data['pm_id'], 'pm false → ""' );
		assert_same( 0, $data['campaign_id'], 'campaign null → 0' );
		assert_same( '', $data['donor_email'], 'email null → ""' );
		assert_same( '', $data['cp_transaction_id'], 'not CloudPayments' );
		assert_same( '', $data['error_id'], 'not failed' );
	}
);

blago24_test(
	'donor phone: Leyka\'s getter, else an additional field named like a phone',
	function () {
		$donation = new Blago24_Test_Leyka_Donation( array( 'additional_fields' => array( 'comment_x' => 'hi', 'donor_phone_1' => ' +7 (495) 123-45-67 ' ) ) );
		assert_same( '+7 (495) 123-45-67', blago24_payload( $donation )['donor_phone'], 'additional field' );
		$donation = new Blago24_Test_Leyka_Donation( array( 'additional_fields' => array( 'Телефон' => '89001234567' ) ) );
		assert_same( '89001234567', blago24_payload( $donation )['donor_phone'], 'Russian field name' );
		add_filter(
			'blago24_lb_donor_phone',
			function ( $phone ) {
				return '' === $phone ? '+70000000000' : $phone;
			}
		);
		assert_same( '+70000000000', blago24_payload( new Blago24_Test_Leyka_Donation() )['donor_phone'], 'filter' );
	}
);

blago24_test(
	'overrides win (the status of a change), and the types hold after them',
	function () {
		$donation = new Blago24_Test_Leyka_Donation( array( 'status' => 'funded' ) );
		$data     = blago24_payload(
			$donation,
			array(
				'status'           => 'refunded',
				'recurring_active' => '1',
				'nonsense'         => 'ignored',
			)
		);
		assert_same( 'refunded', $data['status'], 'status' );
		assert_true( $data['recurring_active'], 'a boolean' );
		assert_false( array_key_exists( 'nonsense', $data ), 'unknown keys are not added' );
	}
);

blago24_test(
	'tolerance: a getter that throws or warns, a plain object, long values, invalid UTF-8',
	function () {
		$donation         = new Blago24_Test_Leyka_Donation( array( 'status' => 'funded' ) );
		$donation->broken = array( 'donor_phone', 'cp_transaction_id', 'campaign_title' );
		$data             = blago24_payload( $donation );
		assert_same( '', $data['donor_phone'], 'throwing getter → ""' );
		assert_same( '', $data['campaign_title'], 'throwing getter → ""' );
		assert_same( 'funded', $data['status'], 'the rest is read' );

		$plain         = new stdClass();
		$plain->ID     = '42';
		$plain->status = 'submitted';
		$plain->sum    = '100';
		$data          = blago24_payload( $plain );
		assert_same( 42, $data['id'], 'ID alias, as an integer' );
		assert_same( '100.00', $data['amount'], 'sum alias' );
		assert_same( 'single', $data['payment_type'], 'default type' );

		$long = new Blago24_Test_Leyka_Donation(
			array(
				'pm_id'          => str_repeat( 'п', 255 ), // Leyka allows 255 characters of custom payment info.
				'campaign_title' => str_repeat( 'к', 600 ),
				'donor_name'     => "Bad \xC3\x28 byte",
			)
		);
		$data = blago24_payload( $long );
		assert_same( str_repeat( 'п', 60 ), $data['pm_id'], 'pm_id cut to 60 characters' );
		assert_same( 500, blago24_char_count( $data['campaign_title'] ), 'title cut to 500 characters' );
		$body = Blago24_Leyka_Bridge_Payload::encode( array( 'donation' => $data ) );
		assert_true( is_array( json_decode( $body, true ) ), 'invalid UTF-8 still gives JSON' );
	}
);

/**
 * UTF-8 characters in a string (without mbstring, which php-cli here may lack).
 *
 * @param string $text Text.
 * @return int
 */
function blago24_char_count( $text ) {
	return (int) preg_match_all( '/./us', $text );
}

blago24_test(
	'the delivery envelope: event, site, donation, delivery_id, changed_at; no floats in the JSON',
	function () {
		$plugin   = blago24_plugin( false );
		$donation = Leyka_Donations::put( array( 'amount' => 1500.5 ) );
		$body     = $plugin->builder->body( 'donation.added', $donation, 'uuid-1', '2026-03-14T12:41:05+03:00' );
		$data     = json_decode( $body, true );
		assert_same( array( 'event', 'site', 'donation', 'delivery_id', 'changed_at' ), array_keys( $data ), 'envelope' );
		assert_same( 'donation.added', $data['event'], 'event' );
		assert_same( 'https://fund.example', $data['site'], 'home_url()' );
		assert_same( 'uuid-1', $data['delivery_id'], 'delivery id' );
		assert_same( '2026-03-14T12:41:05+03:00', $data['changed_at'], 'changed_at' );
		assert_same( '1500.50', $data['donation']['amount'], 'amount' );
		assert_contains( '"donor_name":"Иван Петров"', $body, 'UTF-8, not \\u escapes' );
		assert_false( (bool) preg_match( '/:\s*-?\d+\.\d/', $body ), 'no float anywhere' );
		assert_true( is_bool( $data['donation']['recurring_active'] ), 'boolean' );
		foreach ( array( 'id', 'campaign_id', 'init_recurring_donation_id' ) as $key ) {
			assert_true( is_int( $data['donation'][ $key ] ), $key . ' is an integer' );
		}
		foreach ( array( 'cp_transaction_id', 'cp_recurring_id', 'error_id', 'donor_phone', 'gateway_id', 'pm_id' ) as $key ) {
			assert_true( is_string( $data['donation'][ $key ] ), $key . ' is a string' );
		}
	}
);

blago24_test(
	'a donation without a readable date gets the time of the change (the app needs one)',
	function () {
		$plugin   = blago24_plugin( false );
		$donation = new Blago24_Test_Leyka_Donation( array( 'date_created' => '0000-00-00 00:00:00' ) );
		$data     = json_decode( $plugin->builder->body( 'donation.added', $donation, 'u', '2026-03-14T12:41:05+03:00' ), true );
		assert_same( '2026-03-14T12:41:05+03:00', $data['donation']['date_created'], 'fallback' );
	}
);

blago24_run_tests( __FILE__ );
