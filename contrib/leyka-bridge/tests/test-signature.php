<?php
/**
 * The signature: a known vector, the exact header names, and what goes on the wire.
 *
 * @package Blago24_Leyka_Bridge
 */

require __DIR__ . '/bootstrap.php';

blago24_test(
	'a known vector: HMAC-SHA256(secret, "<timestamp>." + body) in lowercase hex behind "sha256="',
	function () {
		$body      = '{"event":"donation.added","name":"Иван"}';
		$secret    = 'test-secret-0123456789';
		$timestamp = 1773481265;
		// Computed independently with Python: hmac.new(secret, b"1773481265." + body, sha256).hexdigest().
		$pinned = 'sha256=d772203af0837316d6663a0c0b724766a0cd48d11658a4ed4db628d57f5d8d64';
		assert_same( $pinned, Blago24_Leyka_Bridge_Signer::signature( $body, $secret, $timestamp ), 'pinned vector' );
		assert_same( 'sha256=' . hash_hmac( 'sha256', '1773481265.' . $body, $secret ), Blago24_Leyka_Bridge_Signer::signature( $body, $secret, $timestamp ), 'hash_hmac in the test' );
		assert_matches( '/^sha256=[0-9a-f]{64}$/', Blago24_Leyka_Bridge_Signer::signature( $body, $secret, $timestamp ), 'lowercase hex' );
	}
);

blago24_test(
	'the signature covers every byte of the body, the timestamp and the secret',
	function () {
		$base = Blago24_Leyka_Bridge_Signer::signature( '{"a":1}', 's3cret-s3cret-s3cret', 1000 );
		assert_true( Blago24_Leyka_Bridge_Signer::signature( '{"a":2}', 's3cret-s3cret-s3cret', 1000 ) !== $base, 'body' );
		assert_true( Blago24_Leyka_Bridge_Signer::signature( '{"a":1} ', 's3cret-s3cret-s3cret', 1000 ) !== $base, 'a trailing space' );
		assert_true( Blago24_Leyka_Bridge_Signer::signature( '{"a":1}', 's3cret-s3cret-s3cret', 1001 ) !== $base, 'timestamp' );
		assert_true( Blago24_Leyka_Bridge_Signer::signature( '{"a":1}', 's3cret-s3cret-s3creT', 1000 ) !== $base, 'secret' );
	}
);

blago24_test(
	'headers: exactly Content-Type, X-Leyka-Bridge-Timestamp and X-Leyka-Bridge-Signature',
	function () {
		$headers = Blago24_Leyka_Bridge_Signer::headers( '{}', 'k', 1773481265 );
		assert_same( array( 'Content-Type', 'X-Leyka-Bridge-Timestamp', 'X-Leyka-Bridge-Signature' ), array_keys( $headers ), 'names' );
		assert_same( 'application/json', $headers['Content-Type'], 'content type' );
		assert_same( '1773481265', $headers['X-Leyka-Bridge-Timestamp'], 'unix seconds as a string' );
		assert_same( 'sha256=' . hash_hmac( 'sha256', '1773481265.{}', 'k' ), $headers['X-Leyka-Bridge-Signature'], 'signature' );
	}
);

blago24_test(
	'a sent delivery: POST to the configured URL, the body byte for byte as signed, signed at the send time',
	function () {
		$plugin = blago24_plugin( false );
		$body   = '{"event":"donation.added","site":"https://fund.example","donor":"Иван «Мост» & Co"}';
		$plugin->queue->add( 'd-1', 'donation.added', 101, $body );
		$GLOBALS['blago24_wp']['now'] += 7;
		$result = $plugin->queue->send( 'd-1' );
		assert_true( $result['ok'], 'sent' );
		$requests = blago24_requests();
		assert_same( 1, count( $requests ), 'one request' );
		$request = $requests[0];
		assert_same( 'https://app.example/hooks/portal-key-1/leyka', $request['url'], 'URL' );
		assert_same( 'POST', $request['args']['method'], 'method' );
		assert_same( $body, $request['args']['body'], 'the body is sent as stored' );
		assert_same( 0, $request['args']['redirection'], 'redirects are not followed' );
		assert_same( (string) ( 1773481265 + 7 ), $request['args']['headers']['X-Leyka-Bridge-Timestamp'], 'the timestamp is the send time' );
		assert_same( blago24_expected_signature( $request ), $request['args']['headers']['X-Leyka-Bridge-Signature'], 'valid signature' );
		assert_same( 'application/json', $request['args']['headers']['Content-Type'], 'content type' );
	}
);

blago24_test(
	'the secret is read when sending: a changed secret signs the next try',
	function () {
		$plugin = blago24_plugin( false );
		$plugin->queue->add( 'd-2', 'donation.added', 101, '{}' );
		blago24_respond( blago24_http( 401, '{"error":"Unauthorized","message":"leyka: signature does not match"}' ) );
		$plugin->queue->send( 'd-2' );
		update_option( 'blago24_lb_secret', 'a-new-secret-9876543210' );
		$GLOBALS['blago24_wp']['now'] += 60;
		$plugin->queue->process_due();
		$requests = blago24_requests();
		assert_same( 2, count( $requests ), 'retried' );
		assert_same( blago24_expected_signature( $requests[1], 'a-new-secret-9876543210' ), $requests[1]['args']['headers']['X-Leyka-Bridge-Signature'], 'new secret' );
	}
);

blago24_run_tests( __FILE__ );
