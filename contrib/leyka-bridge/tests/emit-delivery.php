<?php
/**
 * Prints the exact request the plugin would send for one donation, for interop tests against the app:
 *
 *     php contrib/leyka-bridge/tests/emit-delivery.php '<json>'     (or '-' / nothing: the JSON on stdin)
 *
 * The JSON holds the wire format's donation fields (id, status, amount, currency, payment_type,
 * init_recurring_donation_id, recurring_active, gateway_id, pm_id, campaign_id, campaign_title,
 * donor_name, donor_email, donor_phone, date_created, cp_transaction_id, cp_recurring_id, error_id)
 * as Leyka would answer them (donor_name may carry Leyka's HTML entities, currency may be "rub",
 * amount a number, date_created a local "Y-m-d H:i:s" or ISO 8601), plus "event" (donation.added,
 * donation.status_changed, recurring.changed or bridge.ping), "secret", and optionally "timestamp"
 * (unix seconds to sign at; default now), "delivery_id", "changed_at", "site" (default
 * https://fund.example) and "timezone" (the site's, default Europe/Moscow).
 *
 * It goes through the plugin's real code: Payload (normalisation), Builder (envelope), Queue and
 * Sender (signing at send time), with wp_remote_post() stubbed to capture the request. Output:
 *
 *     {"headers": {"Content-Type": …, "X-Leyka-Bridge-Timestamp": …, "X-Leyka-Bridge-Signature": …},
 *      "body": "<the raw body, exactly as signed>"}
 *
 * Exit code 2 on bad input.
 *
 * @package Blago24_Leyka_Bridge
 */

require __DIR__ . '/bootstrap.php';

/**
 * Stops with a message on stderr.
 *
 * @param string $message Message.
 */
function blago24_emit_fail( $message ) {
	fwrite( STDERR, 'emit-delivery: ' . $message . "\n" );
	exit( 2 );
}

/**
 * A random version-4 UUID (the stubs' wp_generate_uuid4() counts, for reproducible tests).
 *
 * @return string
 */
function blago24_emit_uuid4() {
	$bytes    = random_bytes( 16 );
	$bytes[6] = chr( ( ord( $bytes[6] ) & 0x0f ) | 0x40 );
	$bytes[8] = chr( ( ord( $bytes[8] ) & 0x3f ) | 0x80 );
	return vsprintf( '%s%s-%s-%s-%s-%s%s%s', str_split( bin2hex( $bytes ), 4 ) );
}

$blago24_raw = isset( $argv[1] ) && '-' !== $argv[1] ? $argv[1] : stream_get_contents( STDIN );
$blago24_in  = json_decode( (string) $blago24_raw, true );
if ( ! is_array( $blago24_in ) ) {
	blago24_emit_fail( 'the argument must be a JSON object' );
}
$blago24_events = array( 'donation.added', 'donation.status_changed', 'recurring.changed', 'bridge.ping' );
$blago24_event  = isset( $blago24_in['event'] ) ? (string) $blago24_in['event'] : '';
if ( ! in_array( $blago24_event, $blago24_events, true ) ) {
	blago24_emit_fail( 'event must be one of ' . implode( ', ', $blago24_events ) );
}
if ( empty( $blago24_in['secret'] ) || ! is_string( $blago24_in['secret'] ) ) {
	blago24_emit_fail( 'secret is required' );
}

$GLOBALS['blago24_wp']['now']  = isset( $blago24_in['timestamp'] ) ? (int) $blago24_in['timestamp'] : time();
$GLOBALS['blago24_wp']['home'] = isset( $blago24_in['site'] ) ? (string) $blago24_in['site'] : 'https://fund.example';
update_option( 'timezone_string', isset( $blago24_in['timezone'] ) ? (string) $blago24_in['timezone'] : 'Europe/Moscow' );
update_option( 'blago24_lb_secret', $blago24_in['secret'] );
update_option( 'blago24_lb_url', 'https://app.example/hooks/emit/leyka' );
blago24_respond( blago24_http( 200, '{"ok":true}' ) );

$blago24_plugin      = blago24_plugin( false );
$blago24_delivery_id = isset( $blago24_in['delivery_id'] ) ? (string) $blago24_in['delivery_id'] : ( 'bridge.ping' === $blago24_event ? 'ping-' : '' ) . blago24_emit_uuid4();

if ( 'bridge.ping' === $blago24_event ) {
	$blago24_body = $blago24_plugin->builder->ping_body( $blago24_delivery_id );
} else {
	// The donation as Leyka's getters would answer (a plain object: Payload reads it like Leyka's).
	$blago24_donation = new stdClass();
	foreach ( array( 'id', 'status', 'amount', 'currency', 'payment_type', 'init_recurring_donation_id', 'recurring_active', 'gateway_id', 'pm_id', 'campaign_id', 'campaign_title', 'donor_name', 'donor_email', 'donor_phone', 'date_created', 'cp_transaction_id', 'cp_recurring_id', 'error_id' ) as $blago24_field ) {
		if ( array_key_exists( $blago24_field, $blago24_in ) ) {
			$blago24_donation->{$blago24_field} = $blago24_in[ $blago24_field ];
		}
	}
	$blago24_changed_at = isset( $blago24_in['changed_at'] ) ? (string) $blago24_in['changed_at'] : $blago24_plugin->builder->now_iso();
	$blago24_body       = $blago24_plugin->builder->body( $blago24_event, $blago24_donation, $blago24_delivery_id, $blago24_changed_at );
}

$blago24_plugin->queue->add( $blago24_delivery_id, $blago24_event, isset( $blago24_in['id'] ) ? (int) $blago24_in['id'] : 0, $blago24_body );
$blago24_result = $blago24_plugin->queue->send( $blago24_delivery_id );
$blago24_sent   = blago24_requests();
if ( ! $blago24_result || 1 !== count( $blago24_sent ) ) {
	blago24_emit_fail( 'the plugin did not send the delivery' );
}
$blago24_request = $blago24_sent[0];

echo json_encode(
	array(
		'headers' => $blago24_request['args']['headers'],
		'body'    => $blago24_request['args']['body'],
	),
	JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES
) . "\n";
