<?php
/**
 * The retry queue: kept until a 2xx, retried with back-off, re-signed at each try, never sent twice,
 * sent ones pruned after 30 days and unsent ones never.
 *
 * @package Blago24_Leyka_Bridge
 */

require __DIR__ . '/bootstrap.php';

const BLAGO24_T0 = 1773481265;

/**
 * Moves the fake clock to T0 + $seconds.
 *
 * @param int $seconds Seconds after T0.
 */
function blago24_at( $seconds ) {
	$GLOBALS['blago24_wp']['now'] = BLAGO24_T0 + $seconds;
}

blago24_test(
	'back-off: 1, 2, 4, 8 … minutes, at most 6 hours',
	function () {
		$expected = array( 1 => 60, 2 => 120, 3 => 240, 4 => 480, 5 => 960, 6 => 1920, 7 => 3840, 8 => 7680, 9 => 15360, 10 => 21600, 11 => 21600, 30 => 21600, 1000 => 21600 );
		foreach ( $expected as $attempts => $delay ) {
			assert_same( $delay, Blago24_Leyka_Bridge_Queue::backoff( $attempts ), 'after ' . $attempts . ' failed tries' );
		}
	}
);

blago24_test(
	'503, then a network error: kept with back-off; the cron re-sends re-signed with a new timestamp; 2xx marks it sent, never sent again',
	function () {
		$plugin = blago24_plugin( false );
		$repo   = $plugin->repository;
		$body   = '{"event":"donation.status_changed","delivery_id":"d-1"}';
		blago24_at( 0 );
		assert_true( $plugin->queue->add( 'd-1', 'donation.status_changed', 101, $body ), 'queued' );

		// First try: the app answers 503.
		blago24_respond( blago24_http( 503, '{"error":"Unavailable","message":"busy with the same portal; try again in a moment"}' ) );
		$result = $plugin->queue->send( 'd-1' );
		assert_false( $result['ok'], '503 is a failure' );
		$row = $repo->find( 'd-1' );
		assert_same( null, $row['sent_at'], 'still unsent' );
		assert_same( 1, $row['attempts'], 'one attempt' );
		assert_same( 503, $row['last_status'], 'last status' );
		assert_same( 'HTTP 503: busy with the same portal; try again in a moment', $row['last_error'], 'the app\'s words kept' );
		assert_same( BLAGO24_T0 + 60, $row['next_try_at'], 'next try in a minute' );

		// The cron before it is due sends nothing.
		blago24_at( 59 );
		$plugin->queue->process_due();
		assert_same( 1, count( blago24_requests() ), 'not due yet' );

		// Second try, from the cron: a network error (WP_Error).
		blago24_at( 61 );
		blago24_respond( new WP_Error( 'http_request_failed', 'cURL error 28: Operation timed out' ) );
		$stats = $plugin->queue->process_due();
		assert_same( 1, $stats['failed'], 'one failed' );
		$row = $repo->find( 'd-1' );
		assert_same( 2, $row['attempts'], 'two attempts' );
		assert_same( 0, $row['last_status'], 'no HTTP status' );
		assert_contains( 'Operation timed out', $row['last_error'], 'network error kept' );
		assert_same( BLAGO24_T0 + 61 + 120, $row['next_try_at'], 'next try in two minutes' );

		// Third try: 200.
		blago24_at( 61 + 120 + 5 );
		$stats = $plugin->queue->process_due();
		assert_same( 1, $stats['sent'], 'sent' );
		$row = $repo->find( 'd-1' );
		assert_same( BLAGO24_T0 + 186, $row['sent_at'], 'marked sent' );
		assert_same( 3, $row['attempts'], 'three attempts' );
		assert_same( '', $row['last_error'], 'error cleared' );

		$requests = blago24_requests();
		assert_same( 3, count( $requests ), 'three requests' );
		$stamps = array();
		foreach ( $requests as $i => $request ) {
			assert_same( $body, $request['args']['body'], 'the same body at try ' . ( $i + 1 ) );
			assert_same( (string) $request['at'], $request['args']['headers']['X-Leyka-Bridge-Timestamp'], 'signed at the time of try ' . ( $i + 1 ) );
			assert_same( blago24_expected_signature( $request ), $request['args']['headers']['X-Leyka-Bridge-Signature'], 'valid signature for that timestamp at try ' . ( $i + 1 ) );
			$stamps[] = $request['args']['headers']['X-Leyka-Bridge-Timestamp'];
		}
		assert_same( 3, count( array_unique( $stamps ) ), 'a new timestamp at every try' );
		assert_true( $requests[0]['args']['headers']['X-Leyka-Bridge-Signature'] !== $requests[2]['args']['headers']['X-Leyka-Bridge-Signature'], 'a new signature' );

		// Never again.
		blago24_at( 100000 );
		$plugin->queue->process_due();
		assert_same( null, $plugin->queue->send( 'd-1' ), 'send() refuses a sent delivery' );
		assert_same( 3, count( blago24_requests() ), 'no fourth request' );
		assert_false( $plugin->queue->add( 'd-1', 'donation.status_changed', 101, $body ), 'the same delivery_id is not queued again' );
		$plugin->queue->process_due();
		assert_same( 3, count( blago24_requests() ), 'still three' );
	}
);

blago24_test(
	'4xx (a refused signature, a bad payload) and 3xx are failures too: kept and retried',
	function () {
		$plugin = blago24_plugin( false );
		foreach ( array( 400, 401, 404, 302, 500 ) as $i => $status ) {
			$plugin->queue->add( 'd-' . $status, 'donation.added', 100 + $i, '{}' );
			blago24_respond( blago24_http( $status, '' ) );
			$result = $plugin->queue->send( 'd-' . $status );
			assert_false( $result['ok'], $status . ' is a failure' );
			$row = $plugin->repository->find( 'd-' . $status );
			assert_same( null, $row['sent_at'], $status . ' kept' );
			assert_same( 'HTTP ' . $status, $row['last_error'], $status . ' error' );
		}
		foreach ( array( 200, 201, 202, 204 ) as $i => $status ) {
			$plugin->queue->add( 'ok-' . $status, 'donation.added', 200 + $i, '{}' );
			blago24_respond( blago24_http( $status, '' ) );
			assert_true( $plugin->queue->send( 'ok-' . $status )['ok'], $status . ' is a success' );
		}
	}
);

blago24_test(
	'the cron sends the most overdue first, and stops after three network failures in a row',
	function () {
		$plugin = blago24_plugin( false );
		blago24_at( 0 );
		for ( $i = 1; $i <= 6; $i++ ) {
			$plugin->queue->add( 'd-' . $i, 'donation.added', $i, '{"n":' . $i . '}', 10 - $i );
		}
		blago24_at( 100 );
		for ( $i = 0; $i < 6; $i++ ) {
			blago24_respond( new WP_Error( 'http_request_failed', 'Could not resolve host' ) );
		}
		$stats = $plugin->queue->process_due();
		assert_same( 3, $stats['failed'], 'three tried' );
		assert_same( 3, $stats['left'], 'the rest left for later' );
		$requests = blago24_requests();
		assert_same( '{"n":6}', $requests[0]['args']['body'], 'most overdue first' );
		assert_same( 0, $plugin->repository->find( 'd-1' )['attempts'], 'untried rows keep their attempts' );
	}
);

blago24_test(
	'not configured: deliveries are kept and not counted as tried; once configured they go',
	function () {
		$plugin = blago24_plugin( false );
		update_option( 'blago24_lb_secret', '' );
		$plugin->queue->add( 'd-1', 'donation.added', 1, '{}' );
		$plugin->queue->process_due();
		$result = $plugin->queue->send( 'd-1' );
		assert_false( $result['configured'], 'not configured' );
		assert_same( 0, count( blago24_requests() ), 'no request' );
		$row = $plugin->repository->find( 'd-1' );
		assert_same( 0, $row['attempts'], 'not an attempt' );
		assert_contains( 'not configured', $row['last_error'], 'said why' );
		update_option( 'blago24_lb_secret', 'test-secret-0123456789' );
		$plugin->queue->process_due();
		assert_true( null !== $plugin->repository->find( 'd-1' )['sent_at'], 'sent once configured' );
	}
);

blago24_test(
	'pruning: sent deliveries older than 30 days go; unsent ones stay however old',
	function () {
		$plugin = blago24_plugin( false );
		blago24_at( 0 );
		$plugin->queue->add( 'old-sent', 'donation.added', 1, '{}' );
		$plugin->queue->add( 'old-unsent', 'donation.added', 2, '{}' );
		$plugin->queue->send( 'old-sent' );
		blago24_respond( blago24_http( 500 ) );
		$plugin->queue->send( 'old-unsent' );
		blago24_at( 29 * 86400 );
		$plugin->queue->add( 'new-sent', 'donation.added', 3, '{}' );
		$plugin->queue->send( 'new-sent' );
		blago24_at( 31 * 86400 );
		assert_same( 1, $plugin->queue->prune(), 'one pruned' );
		assert_same( null, $plugin->repository->find( 'old-sent' ), 'old sent pruned' );
		assert_true( null !== $plugin->repository->find( 'old-unsent' ), 'old unsent kept' );
		assert_true( null !== $plugin->repository->find( 'new-sent' ), 'recent sent kept' );
		blago24_at( 3650 * 86400 );
		$plugin->queue->prune();
		assert_true( null !== $plugin->repository->find( 'old-unsent' ), 'unsent kept after ten years' );
	}
);

blago24_test(
	'the cron entry point: lock, due deliveries, daily prune; a second run while locked does nothing',
	function () {
		$plugin = blago24_plugin( false );
		$plugin->queue->add( 'd-1', 'donation.added', 1, '{}' );
		add_option( 'blago24_lb_cron_lock', blago24_now() + 600 );
		$plugin->run_cron();
		assert_same( 0, count( blago24_requests() ), 'locked: nothing sent' );
		delete_option( 'blago24_lb_cron_lock' );
		$plugin->run_cron();
		assert_same( 1, count( blago24_requests() ), 'sent' );
		assert_false( get_option( 'blago24_lb_cron_lock' ), 'lock released' );
		assert_same( blago24_now(), get_option( 'blago24_lb_last_prune' ), 'pruned today' );
		update_option( 'blago24_lb_cron_lock', blago24_now() - 1 );
		$plugin->queue->add( 'd-2', 'donation.added', 2, '{}' );
		$plugin->run_cron();
		assert_same( 2, count( blago24_requests() ), 'a stale lock is taken over' );
	}
);

blago24_test(
	'a throwing HTTP layer or repository does not escape the cron, and the problem is noted',
	function () {
		$broken = new Blago24_Leyka_Bridge_Plugin(
			array(
				'clock'      => 'blago24_now',
				'repository' => new class() extends Blago24_Test_Memory_Repository {
					public function due( $now, $limit ) {
						throw new RuntimeException( 'MySQL server has gone away' );
					}
				},
				'source'     => new Blago24_Test_Memory_Source(),
			)
		);
		$broken->run_cron();
		assert_contains( 'gone away', $broken->last_problem()['message'], 'noted' );
		assert_same( 'cron', $broken->last_problem()['where'], 'where' );
		assert_false( get_option( 'blago24_lb_cron_lock' ), 'lock released after the failure' );

		$plugin = blago24_plugin( false );
		$plugin->queue->add( 'd-1', 'donation.added', 1, '{}' );
		blago24_respond(
			function () {
				throw new RuntimeException( 'transport exploded' );
			}
		);
		$plugin->run_cron();
		$row = $plugin->repository->find( 'd-1' );
		assert_same( null, $row['sent_at'], 'kept' );
		assert_contains( 'transport exploded', $row['last_error'], 'noted as a network error' );
	}
);

blago24_run_tests( __FILE__ );
