<?php
/**
 * Leyka's actions → events, sent at the end of the request; a hook never breaks Leyka's request.
 *
 * @package Blago24_Leyka_Bridge
 */

require __DIR__ . '/bootstrap.php';

const BLAGO24_STATUSES = array( 'submitted', 'funded', 'failed', 'refunded', 'trash' );

/**
 * The queued rows' decoded bodies, oldest first.
 *
 * @param Blago24_Leyka_Bridge_Plugin $plugin Plugin.
 * @return array[]
 */
function blago24_queued( $plugin ) {
	$bodies = array();
	foreach ( $plugin->repository->rows as $row ) {
		$bodies[] = json_decode( $row['body'], true );
	}
	return $bodies;
}

blago24_test(
	'the plugin file boots: Leyka\'s actions, every status pair, WordPress\'s transition, the cron, activation',
	function () {
		require_once dirname( __DIR__ ) . '/blago24-leyka-bridge.php';
		$plugin = Blago24_Leyka_Bridge_Plugin::instance();
		assert_true( $plugin instanceof Blago24_Leyka_Bridge_Plugin, 'booted' );
		$plugin->register(); // The stubs were reset after the file registered; register again to inspect.
		foreach ( array( 'leyka_new_donation_added', 'leyka_new_rebill_donation_added', 'leyka_donation_recurring_activity_changed', 'transition_post_status', 'blago24_lb_cron', 'init', 'plugins_loaded' ) as $hook ) {
			assert_true( has_action( $hook ), $hook );
		}
		$pairs = 0;
		foreach ( array_merge( array( 'new' ), BLAGO24_STATUSES ) as $old ) {
			foreach ( BLAGO24_STATUSES as $new ) {
				if ( $old !== $new ) {
					assert_true( has_action( "leyka_donation_status_{$old}_to_{$new}" ), "leyka_donation_status_{$old}_to_{$new}" );
					assert_true( isset( $GLOBALS['blago24_wp']['hooks'][ "leyka_donation_status_{$old}_to_{$new}" ][20] ), 'after Leyka\'s own (priority 20)' );
					++$pairs;
				}
			}
		}
		assert_same( 25, $pairs, 'pairs' );
		assert_false( has_action( 'leyka_donation_status_funded_to_funded' ), 'no same-status pair' );
		$schedules = apply_filters( 'cron_schedules', array() );
		assert_same( 60, $schedules['blago24_lb_every_minute']['interval'], 'a once-a-minute schedule' );

		do_action( 'init' );
		assert_same( 'blago24_lb_every_minute', $GLOBALS['blago24_wp']['cron']['blago24_lb_cron']['recurrence'], 'cron scheduled on init' );
		assert_same( array( 'blago24-leyka-bridge', 'leyka-bridge/languages' ), $GLOBALS['blago24_wp']['textdomain'][0], 'text domain from languages/' );

		Blago24_Leyka_Bridge_Plugin::activate();
		assert_contains( 'CREATE TABLE wp_blago24_lb_deliveries', $GLOBALS['blago24_wp']['dbdelta'][0], 'table created with dbDelta' );
		assert_contains( 'UNIQUE KEY delivery_id (delivery_id)', $GLOBALS['blago24_wp']['dbdelta'][0], 'delivery_id unique' );
		Blago24_Leyka_Bridge_Plugin::deactivate();
		assert_false( wp_next_scheduled( 'blago24_lb_cron' ), 'deactivation stops the cron' );
	}
);

blago24_test(
	'leyka_new_donation_added → donation.added, queued at once, sent signed at the end of the request',
	function () {
		$plugin = blago24_plugin();
		Leyka_Donations::put( array( 'id' => 101 ) );
		do_action( 'leyka_new_donation_added', 101 );
		assert_same( 1, count( $plugin->repository->rows ), 'queued in the hook' );
		assert_same( 0, count( blago24_requests() ), 'not sent inside Leyka\'s hook' );
		$row = reset( $plugin->repository->rows );
		assert_same( blago24_now() + Blago24_Leyka_Bridge_Queue::FRESH_GRACE, $row['next_try_at'], 'the cron leaves it to the request for a while' );

		do_action( 'shutdown' );
		$requests = blago24_requests();
		assert_same( 1, count( $requests ), 'sent at shutdown' );
		$body = blago24_last_body();
		assert_same( 'donation.added', $body['event'], 'event' );
		assert_same( 101, $body['donation']['id'], 'donation' );
		assert_same( 'submitted', $body['donation']['status'], 'status' );
		assert_same( '00000000-0000-4000-8000-000000000001', $body['delivery_id'], 'a uuid4 delivery id' );
		assert_same( '2026-03-14T12:41:05+03:00', $body['changed_at'], 'when it changed' );
		assert_same( blago24_expected_signature( $requests[0] ), $requests[0]['args']['headers']['X-Leyka-Bridge-Signature'], 'signed' );
		assert_true( null !== $plugin->repository->find( $body['delivery_id'] )['sent_at'], 'marked sent' );
	}
);

blago24_test(
	'every leyka_donation_status_{old}_to_{new}: donation.status_changed with the new status; new_to_* is a donation.added',
	function () {
		$plugin = blago24_plugin();
		$id     = 1000;
		foreach ( array_merge( array( 'new' ), BLAGO24_STATUSES ) as $old ) {
			foreach ( BLAGO24_STATUSES as $new ) {
				if ( $old === $new ) {
					continue;
				}
				++$id;
				$donation = Leyka_Donations::put(
					array(
						'id'     => $id,
						'status' => $new, // Leyka fires the hook after it changed the status.
					)
				);
				do_action( "leyka_donation_status_{$old}_to_{$new}", $donation );
				$row  = end( $plugin->repository->rows );
				$body = json_decode( $row['body'], true );
				assert_same( $id, $row['donation_id'], "{$old}→{$new}: donation" );
				assert_same( 'new' === $old ? 'donation.added' : 'donation.status_changed', $body['event'], "{$old}→{$new}: event" );
				assert_same( $new, $body['donation']['status'], "{$old}→{$new}: status" );
			}
		}
		assert_same( 25, count( $plugin->repository->rows ), 'one delivery per change' );
	}
);

blago24_test(
	'one change reported twice in a request is one delivery (Leyka\'s new_to_* or WordPress\'s transition)',
	function () {
		$plugin   = blago24_plugin();
		$donation = Leyka_Donations::put(
			array(
				'id'     => 101,
				'status' => 'funded',
			)
		);
		do_action( 'leyka_new_donation_added', 101 );
		do_action( 'leyka_donation_status_new_to_funded', $donation );
		assert_same( 1, count( $plugin->repository->rows ), 'creation once' );

		$donation->data['status'] = 'refunded';
		do_action( 'leyka_donation_status_funded_to_refunded', $donation );
		$post = (object) array(
			'ID'        => 101,
			'post_type' => 'leyka_donation',
		);
		do_action( 'transition_post_status', 'refunded', 'funded', $post );
		assert_same( 2, count( $plugin->repository->rows ), 'the refund once' );

		$donation->data['status'] = 'funded';
		do_action( 'transition_post_status', 'funded', 'refunded', $post );
		assert_same( 3, count( $plugin->repository->rows ), 'a different change is a new delivery' );
	}
);

blago24_test(
	'transition_post_status (posts storage): the trash from WordPress is reported; creation and other posts are not',
	function () {
		$plugin = blago24_plugin();
		Leyka_Donations::put(
			array(
				'id'     => 101,
				'status' => 'trash',
			)
		);
		$post = (object) array(
			'ID'        => 101,
			'post_type' => 'leyka_donation',
		);
		do_action( 'transition_post_status', 'submitted', 'new', $post );
		do_action( 'transition_post_status', 'funded', 'funded', $post );
		do_action( 'transition_post_status', 'publish', 'draft', (object) array( 'ID' => 5, 'post_type' => 'post' ) );
		do_action( 'transition_post_status', 'auto-draft', 'new', $post );
		assert_same( 0, count( $plugin->repository->rows ), 'ignored' );
		do_action( 'transition_post_status', 'trash', 'funded', $post );
		$bodies = blago24_queued( $plugin );
		assert_same( 1, count( $bodies ), 'trash reported' );
		assert_same( 'donation.status_changed', $bodies[0]['event'], 'event' );
		assert_same( 'trash', $bodies[0]['donation']['status'], 'status' );
	}
);

blago24_test(
	'a CloudPayments rebill in one request: created, funded, then leyka_new_rebill_donation_added → no second donation.added',
	function () {
		$plugin = blago24_plugin();
		Leyka_Donations::put(
			array(
				'id'           => 200,
				'payment_type' => 'rebill',
				'status'       => 'funded',
				'meta'         => array(
					'recurring_active' => '1',
					'cp_recurring_id'  => 'sc_1',
				),
			)
		);
		$rebill = Leyka_Donations::put(
			array(
				'id'           => 250,
				'payment_type' => 'rebill',
				'meta'         => array( 'cp_transaction_id' => '555' ),
			)
		);
		do_action( 'leyka_new_donation_added', 250 );
		$rebill->meta['init_recurring_donation_id'] = 200;
		$rebill->data['status']                     = 'funded';
		do_action( 'leyka_donation_status_submitted_to_funded', $rebill );
		do_action( 'leyka_new_rebill_donation_added', $rebill );
		do_action( 'shutdown' );
		$events = array();
		foreach ( blago24_queued( $plugin ) as $body ) {
			$events[] = $body['event'] . ':' . $body['donation']['status'];
		}
		assert_same( array( 'donation.added:submitted', 'donation.status_changed:funded' ), $events, 'events' );
		$bodies = blago24_queued( $plugin );
		assert_same( 200, $bodies[0]['donation']['init_recurring_donation_id'], 'refreshed at the end of the request: the init donation' );
		assert_same( 'sc_1', $bodies[1]['donation']['cp_recurring_id'], 'its subscription' );
		assert_same( '555', $bodies[1]['donation']['cp_transaction_id'], 'its transaction' );
	}
);

blago24_test(
	'leyka_new_rebill_donation_added alone (the donation was created in another request) → donation.added',
	function () {
		$plugin = blago24_plugin();
		$rebill = Leyka_Donations::put(
			array(
				'id'           => 251,
				'payment_type' => 'rebill',
				'status'       => 'failed',
				'meta'         => array( 'error_id' => 'CP-7052' ),
			)
		);
		do_action( 'leyka_new_rebill_donation_added', $rebill );
		$bodies = blago24_queued( $plugin );
		assert_same( 1, count( $bodies ), 'one' );
		assert_same( 'donation.added', $bodies[0]['event'], 'event' );
		assert_same( 'CP-7052', $bodies[0]['donation']['error_id'], 'error id' );
	}
);

blago24_test(
	'leyka_donation_recurring_activity_changed → recurring.changed with the activity the hook gives',
	function () {
		$plugin = blago24_plugin();
		Leyka_Donations::put(
			array(
				'id'           => 200,
				'payment_type' => 'rebill',
				'status'       => 'funded',
				'meta'         => array(
					'recurring_active' => '',
					'cp_recurring_id'  => 'sc_1',
				),
			)
		);
		do_action( 'leyka_donation_recurring_activity_changed', 200, false );
		do_action( 'leyka_donation_recurring_activity_changed', 200, false );
		do_action( 'leyka_donation_recurring_activity_changed', 200, true );
		$bodies = blago24_queued( $plugin );
		assert_same( 2, count( $bodies ), 'off once, then on' );
		assert_same( 'recurring.changed', $bodies[0]['event'], 'event' );
		assert_false( $bodies[0]['donation']['recurring_active'], 'off' );
		assert_true( $bodies[1]['donation']['recurring_active'], 'on' );
		assert_same( 'sc_1', $bodies[0]['donation']['cp_recurring_id'], 'subscription' );
	}
);

blago24_test(
	'a new init recurring donation (posts storage: created, then "off" as its initial state) is a donation.added only; a later switch is reported',
	function () {
		$plugin = blago24_plugin();
		Leyka_Donations::put(
			array(
				'id'           => 300,
				'payment_type' => 'rebill',
				'meta'         => array( 'recurring_active' => '' ),
			)
		);
		do_action( 'leyka_new_donation_added', 300 );
		do_action( 'leyka_donation_recurring_activity_changed', 300, false );
		$bodies = blago24_queued( $plugin );
		assert_same( array( 'donation.added' ), array_column( $bodies, 'event' ), 'no recurring.changed for the initial state' );
		assert_false( $bodies[0]['donation']['recurring_active'], 'the state is in donation.added' );
		do_action( 'leyka_donation_recurring_activity_changed', 300, true );
		assert_same( array( 'donation.added', 'recurring.changed' ), array_column( blago24_queued( $plugin ), 'event' ), 'switching it on is reported' );
		// A CloudPayments rebill re-activating its subscription in the request that created the rebill.
		Leyka_Donations::put(
			array(
				'id'           => 301,
				'payment_type' => 'rebill',
				'meta'         => array( 'init_recurring_donation_id' => 300 ),
			)
		);
		do_action( 'leyka_new_donation_added', 301 );
		do_action( 'leyka_donation_recurring_activity_changed', 301, true );
		assert_same( 'recurring.changed', end( $plugin->repository->rows )['event'], 'reported' );
	}
);

blago24_test(
	'the body is refreshed at the end of the request (data saved after the hook) but keeps the change\'s status and time',
	function () {
		$plugin   = blago24_plugin();
		$donation = Leyka_Donations::put( array( 'id' => 101 ) );
		do_action( 'leyka_new_donation_added', 101 );
		$first = blago24_queued( $plugin )[0];
		assert_same( '', $first['donation']['cp_transaction_id'], 'not known in the hook' );
		// Later in the same request the gateway stores its transaction and the status moves on.
		$donation->meta['cp_transaction_id'] = '777';
		$donation->data['status']            = 'funded';
		$GLOBALS['blago24_wp']['now']       += 3;
		do_action( 'shutdown' );
		$sent = blago24_last_body();
		assert_same( '777', $sent['donation']['cp_transaction_id'], 'refreshed' );
		assert_same( 'submitted', $sent['donation']['status'], 'the status of the change kept' );
		assert_same( $first['changed_at'], $sent['changed_at'], 'changed_at kept' );
		assert_same( $first['delivery_id'], $sent['delivery_id'], 'delivery id kept' );
	}
);

blago24_test(
	'a failing send at the end of the request stays queued; the cron sends it after the back-off',
	function () {
		$plugin = blago24_plugin();
		Leyka_Donations::put( array( 'id' => 101 ) );
		do_action( 'leyka_new_donation_added', 101 );
		$plugin->run_cron();
		assert_same( 0, count( blago24_requests() ), 'the cron leaves a fresh delivery to its request' );
		blago24_respond( new WP_Error( 'http_request_failed', 'Connection refused' ) );
		do_action( 'shutdown' );
		$row = reset( $plugin->repository->rows );
		assert_same( null, $row['sent_at'], 'kept' );
		assert_same( 1, $row['attempts'], 'one attempt' );
		$GLOBALS['blago24_wp']['now'] += 61;
		$plugin->run_cron();
		$row = reset( $plugin->repository->rows );
		assert_true( null !== $row['sent_at'], 'sent by the cron' );
		$requests = blago24_requests();
		assert_same( $requests[0]['args']['body'], $requests[1]['args']['body'], 'the same body' );
		assert_true( $requests[0]['args']['headers']['X-Leyka-Bridge-Timestamp'] !== $requests[1]['args']['headers']['X-Leyka-Bridge-Timestamp'], 'a new timestamp' );
	}
);

blago24_test(
	'an unreachable app at the end of the request: one try, the rest left to the cron',
	function () {
		$plugin = blago24_plugin();
		foreach ( array( 101, 102, 103 ) as $id ) {
			Leyka_Donations::put( array( 'id' => $id ) );
			do_action( 'leyka_new_donation_added', $id );
		}
		blago24_respond( new WP_Error( 'http_request_failed', 'Could not resolve host' ) );
		do_action( 'shutdown' );
		assert_same( 1, count( blago24_requests() ), 'one request' );
		assert_same( 5, $GLOBALS['blago24_wp']['requests'][0]['args']['timeout'], 'a short timeout inside a request' );
		assert_same( 3, $plugin->repository->counts()['unsent'], 'all kept' );
	}
);

blago24_test(
	'a hook never breaks Leyka\'s request: unknown or unloadable donations, a failing database, no output',
	function () {
		$plugin = blago24_plugin();
		ob_start();
		do_action( 'leyka_new_donation_added', 999 );
		Leyka_Donations::$broken = array( 102 );
		do_action( 'leyka_new_donation_added', 102 );
		do_action( 'leyka_donation_recurring_activity_changed', 'garbage', 'x' );
		do_action( 'leyka_donation_status_funded_to_refunded', null );
		do_action( 'leyka_new_rebill_donation_added', new stdClass() );
		$plugin->repository->fail_on_insert = 1;
		Leyka_Donations::put( array( 'id' => 103 ) );
		do_action( 'leyka_new_donation_added', 103 );
		do_action( 'shutdown' );
		$output = ob_get_clean();
		assert_same( '', $output, 'nothing printed into Leyka\'s answer' );
		assert_same( 0, count( $plugin->repository->rows ), 'nothing queued' );
		assert_contains( 'database went away', $plugin->last_problem()['message'], 'the last problem is noted' );
	}
);

blago24_test(
	'not configured: changes are kept for later, nothing is sent',
	function () {
		$plugin = blago24_plugin();
		update_option( 'blago24_lb_url', '' );
		Leyka_Donations::put( array( 'id' => 101 ) );
		do_action( 'leyka_new_donation_added', 101 );
		do_action( 'shutdown' );
		assert_same( 0, count( blago24_requests() ), 'no request' );
		assert_same( 1, $plugin->repository->counts()['unsent'], 'kept' );
	}
);

blago24_run_tests( __FILE__ );
