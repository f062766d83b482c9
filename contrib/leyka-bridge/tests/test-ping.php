<?php
/**
 * «Test connection»: the signed bridge.ping, the app's answer in words, the clocks' difference.
 *
 * @package Blago24_Leyka_Bridge
 */

require __DIR__ . '/bootstrap.php';

blago24_test(
	'the ping: event bridge.ping, site, delivery_id "ping-<uuid>", changed_at; no donation; signed like a delivery',
	function () {
		$plugin = blago24_plugin( false );
		$plugin->ping();
		$requests = blago24_requests();
		assert_same( 1, count( $requests ), 'one request' );
		$body = json_decode( $requests[0]['args']['body'], true );
		assert_same( array( 'event', 'site', 'delivery_id', 'changed_at' ), array_keys( $body ), 'fields' );
		assert_same( 'bridge.ping', $body['event'], 'event' );
		assert_same( 'https://fund.example', $body['site'], 'site' );
		assert_matches( '/^ping-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/', $body['delivery_id'], 'ping-<uuid4>' );
		assert_same( '2026-03-14T12:41:05+03:00', $body['changed_at'], 'now' );
		assert_same( blago24_expected_signature( $requests[0] ), $requests[0]['args']['headers']['X-Leyka-Bridge-Signature'], 'signed' );
		assert_same( 0, count( $plugin->repository->rows ), 'a ping is not queued' );
	}
);

blago24_test(
	'a genuine answer with the app\'s time: connected; the difference from the JSON "time"',
	function () {
		$plugin = blago24_plugin( false );
		blago24_respond( blago24_http( 200, json_encode( array( 'ok' => true, 'time' => blago24_now() - 42 ) ), array( 'date' => 'Sat, 14 Mar 2026 09:00:00 GMT' ) ) );
		$report = $plugin->ping();
		assert_true( $report['ok'], 'ok' );
		assert_same( 200, $report['status'], 'status' );
		assert_same( 'Connected: the app accepted the signed test call.', $report['words'], 'words' );
		assert_same( 'json', $report['clock']['source'], 'the JSON time wins over the Date header' );
		assert_same( 42, $report['clock']['difference'], 'site minus app' );
		assert_true( $report['clock']['within'], 'within five minutes' );
		assert_same( 'The site\'s clock is 42 s ahead of the app\'s. That is within the five-minute window.', $report['clock']['words'], 'clock in words' );
	}
);

blago24_test(
	'a refused ping (401) without a JSON time: the difference from the Date header, outside the window',
	function () {
		$plugin = blago24_plugin( false );
		$date   = gmdate( 'D, d M Y H:i:s', blago24_now() + 420 ) . ' GMT'; // The app's clock is 7 minutes ahead.
		blago24_respond( blago24_http( 401, '{"error":"Unauthorized","message":"leyka: the timestamp is 420 s behind our clock (at most 300 s)"}', array( 'date' => $date ) ) );
		$report = $plugin->ping();
		assert_false( $report['ok'], 'not ok' );
		assert_same( 401, $report['status'], 'status' );
		assert_same( 'unauthorized', $report['verdict'], 'verdict' );
		assert_contains( 'secret', $report['words'], 'says to check the secret' );
		assert_contains( 'clock', $report['words'], 'and the clock' );
		assert_same( 'leyka: the timestamp is 420 s behind our clock (at most 300 s)', $report['app_message'], 'the app\'s own words' );
		assert_same( 'date', $report['clock']['source'], 'Date header' );
		assert_same( -420, $report['clock']['difference'], 'site behind' );
		assert_false( $report['clock']['within'], 'outside five minutes' );
		assert_contains( '420 s behind', $report['clock']['words'], 'in words' );
		assert_contains( 'outside the five-minute window', $report['clock']['words'], 'window' );
		assert_contains( 'HTTP Date header', $report['clock']['words'], 'says how it was measured' );
	}
);

blago24_test(
	'the clocks exactly agree, and the edge of the window (300 s) is within',
	function () {
		$result = array(
			'body'     => '{"ok":true,"time":1000}',
			'date'     => '',
			'started'  => 1000,
			'finished' => 1000,
		);
		assert_same( 0, Blago24_Leyka_Bridge_Ping::clock( $result )['difference'], 'zero' );
		assert_contains( 'agrees', Blago24_Leyka_Bridge_Ping::clock( $result )['words'], 'words' );
		$result['body'] = '{"ok":true,"time":700}';
		assert_true( Blago24_Leyka_Bridge_Ping::clock( $result )['within'], '300 s is within' );
		$result['body'] = '{"ok":true,"time":699}';
		assert_false( Blago24_Leyka_Bridge_Ping::clock( $result )['within'], '301 s is not' );
		$result['started']  = 1000;
		$result['finished'] = 1004;
		$result['body']     = '{"ok":true,"time":1002}';
		assert_same( 0, Blago24_Leyka_Bridge_Ping::clock( $result )['difference'], 'the middle of the request' );
	}
);

blago24_test(
	'no time at all: said so',
	function () {
		$plugin = blago24_plugin( false );
		blago24_respond( blago24_http( 502, '<html>Bad gateway</html>' ) );
		$report = $plugin->ping();
		assert_same( 'server_error', $report['verdict'], 'verdict' );
		assert_same( null, $report['clock']['difference'], 'unknown' );
		assert_contains( 'could not be read', $report['clock']['words'], 'words' );
		assert_same( 'Bad gateway', $report['app_message'], 'the text of an HTML answer' );
	}
);

blago24_test(
	'every other answer in words: 404, redirect, 400, network error, 2xx that is not the app, not configured',
	function () {
		$plugin = blago24_plugin( false );
		$cases  = array(
			array( blago24_http( 404, '{"error":"NotFound","message":"no such webhook URL (portal key or source unknown)"}' ), 'not_found', 'copy the URL' ),
			array( blago24_http( 301, '' ), 'redirect', 'redirects' ),
			array( blago24_http( 400, '{"error":"BadRequest","message":"leyka: invalid fields: donation"}' ), 'bad_request', 'could not accept' ),
			array( new WP_Error( 'http_request_failed', 'cURL error 6: Could not resolve host: app.example' ), 'network', 'No connection' ),
			array( blago24_http( 200, '<html>a parking page</html>' ), 'ok_unconfirmed', 'not as the Blago24 app does' ),
		);
		foreach ( $cases as $case ) {
			blago24_respond( $case[0] );
			$report = $plugin->ping();
			assert_same( $case[1], $report['verdict'], 'verdict ' . $case[1] );
			assert_contains( $case[2], $report['words'], 'words ' . $case[1] );
			assert_false( $report['ok'], 'not ok: ' . $case[1] );
			if ( 'network' === $case[1] ) {
				assert_contains( 'Could not resolve host', $report['error'], 'network error kept' );
			}
		}
		update_option( 'blago24_lb_url', '' );
		$before = count( blago24_requests() );
		$report = $plugin->ping();
		assert_same( 'not_configured', $report['verdict'], 'not configured' );
		assert_same( $before, count( blago24_requests() ), 'nothing sent' );
	}
);

blago24_run_tests( __FILE__ );
