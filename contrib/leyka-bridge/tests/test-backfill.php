<?php
/**
 * «Send past donations»: pages from WP-cron, deterministic delivery ids, a resumable cursor.
 *
 * @package Blago24_Leyka_Bridge
 */

require __DIR__ . '/bootstrap.php';

/**
 * Donations 1..$count: every tenth made before 2026-01-01, every seventh in the trash.
 *
 * @param int $count How many.
 * @return int[] The IDs a backfill since 2026-01-01 must send.
 */
function blago24_donations( $count ) {
	$expected = array();
	for ( $id = 1; $id <= $count; $id++ ) {
		$old    = 0 === $id % 10;
		$status = 0 === $id % 7 ? 'trash' : ( 0 === $id % 3 ? 'failed' : 'funded' );
		Leyka_Donations::put(
			array(
				'id'           => $id,
				'status'       => $status,
				'date_created' => $old ? '2025-12-31 23:59:59' : '2026-01-01 00:00:00',
			)
		);
		if ( ! $old && 'trash' !== $status ) {
			$expected[] = $id;
		}
	}
	return $expected;
}

/**
 * The donation IDs of the queued deliveries, sorted.
 *
 * @param Blago24_Leyka_Bridge_Plugin $plugin Plugin.
 * @return int[]
 */
function blago24_queued_ids( $plugin ) {
	$ids = array();
	foreach ( $plugin->repository->rows as $row ) {
		$ids[] = $row['donation_id'];
	}
	sort( $ids );
	return $ids;
}

blago24_test(
	'pages of 50 from the cursor; done after the last page; every donation since the date once, trash left out',
	function () {
		$expected = blago24_donations( 130 );
		$plugin   = blago24_plugin( false );
		assert_true( $plugin->backfill->start( '2026-01-01' ), 'started' );
		$state = $plugin->backfill->tick();
		assert_same( 'running', $state['status'], 'running after the first page' );
		assert_same( 50, $state['queued'], '50 queued' );
		assert_same( $expected[49], $state['after_id'], 'the cursor is the last ID queued' );
		assert_same( array( '2026-01-01', 0, 50 ), $plugin->source->listings[0], 'first page from ID 0' );
		$plugin->backfill->tick();
		assert_same( array( '2026-01-01', $expected[49], 50 ), $plugin->source->listings[1], 'second page from the cursor' );
		$state = $plugin->backfill->tick();
		assert_same( 'done', $state['status'], 'done' );
		assert_same( count( $expected ), $state['queued'], 'all queued' );
		assert_same( $expected, blago24_queued_ids( $plugin ), 'each wanted donation once' );
		$calls = count( $plugin->source->listings );
		$plugin->backfill->tick();
		assert_same( $calls, count( $plugin->source->listings ), 'a finished backfill does nothing' );
	}
);

blago24_test(
	'each donation is a donation.added with the deterministic id backfill-<id>-<status> and the time of its last change',
	function () {
		Leyka_Donations::put(
			array(
				'id'           => 7,
				'status'       => 'refunded',
				'date_created' => '2026-02-01 10:00:00',
				// Leyka's status log: current_time( 'timestamp' ), the local wall clock read as UTC.
				'status_log'   => array(
					array(
						'date'   => strtotime( '2026-02-01 10:00:00' ),
						'status' => 'submitted',
					),
					array(
						'date'   => strtotime( '2026-02-03 18:30:00' ),
						'status' => 'refunded',
					),
				),
			)
		);
		Leyka_Donations::put(
			array(
				'id'           => 8,
				'status'       => 'funded',
				'date_created' => '2026-02-02 09:15:00',
			)
		);
		$plugin = blago24_plugin( false );
		$plugin->backfill->start( '2026-01-01' );
		$plugin->backfill->tick();
		$row  = $plugin->repository->find( 'backfill-7-refunded' );
		$body = json_decode( $row['body'], true );
		assert_same( 'donation.added', $row['event'], 'event' );
		assert_same( 'backfill-7-refunded', $body['delivery_id'], 'delivery id in the body' );
		assert_same( '2026-02-03T18:30:00+03:00', $body['changed_at'], 'the status log\'s last entry' );
		assert_same( 'refunded', $body['donation']['status'], 'status' );
		$body = json_decode( $plugin->repository->find( 'backfill-8-funded' )['body'], true );
		assert_same( '2026-02-02T09:15:00+03:00', $body['changed_at'], 'no log: the donation\'s date' );
		assert_same( blago24_now(), $row['next_try_at'], 'due at once' );
	}
);

blago24_test(
	'resumable: a new request goes on from the stored cursor',
	function () {
		$expected = blago24_donations( 130 );
		$first    = blago24_plugin( false );
		$first->backfill->start( '2026-01-01' );
		$first->backfill->tick();
		$stored = get_option( 'blago24_lb_backfill' );
		assert_same( $expected[49], $stored['after_id'], 'cursor stored in the option' );

		// Another request: a new plugin object over the same storage.
		$second = new Blago24_Leyka_Bridge_Plugin(
			array(
				'clock'      => 'blago24_now',
				'repository' => $first->repository,
				'source'     => new Blago24_Test_Memory_Source(),
			)
		);
		$second->backfill->tick();
		$second->backfill->tick();
		assert_same( 'done', $second->backfill->state()['status'], 'done' );
		assert_same( $expected, blago24_queued_ids( $first ), 'nothing lost, nothing twice' );
	}
);

blago24_test(
	'a tick cut short in the middle of a page (the database goes away) resumes at the donation it stopped on',
	function () {
		$expected = blago24_donations( 130 );
		$plugin   = blago24_plugin( false );
		$plugin->repository->fail_on_insert = 30;
		$plugin->backfill->start( '2026-01-01' );
		$state = $plugin->backfill->tick();
		assert_same( 'running', $state['status'], 'still running' );
		assert_same( $expected[28], $state['after_id'], 'the cursor stopped after the 29th' );
		assert_same( 29, $state['queued'], '29 queued' );
		assert_contains( 'database went away', $state['last_error'], 'the error is shown' );
		$state = $plugin->backfill->tick();
		assert_same( '', $state['last_error'], 'cleared' );
		assert_same( array( '2026-01-01', $expected[28], 50 ), end( $plugin->source->listings ), 'resumed from the cursor' );
		while ( 'running' === $plugin->backfill->state()['status'] ) {
			$plugin->backfill->tick();
		}
		assert_same( $expected, blago24_queued_ids( $plugin ), 'nothing lost, nothing twice' );
	}
);

blago24_test(
	'the cursor is stored before the next donation is read (a process killed mid-page loses nothing)',
	function () {
		$expected = blago24_donations( 60 );
		$source   = new class() extends Blago24_Test_Memory_Source {
			/**
			 * The stored cursor each time a donation is loaded: [id being loaded, stored after_id].
			 *
			 * @var array
			 */
			public $seen = array();

			public function get( $donation_id ) {
				$state        = get_option( 'blago24_lb_backfill' );
				$this->seen[] = array( (int) $donation_id, (int) $state['after_id'] );
				return parent::get( $donation_id );
			}
		};
		$plugin   = new Blago24_Leyka_Bridge_Plugin(
			array(
				'clock'      => 'blago24_now',
				'repository' => new Blago24_Test_Memory_Repository(),
				'source'     => $source,
			)
		);
		$plugin->backfill->start( '2026-01-01' );
		$plugin->backfill->tick();
		$previous = 0;
		foreach ( $source->seen as $seen ) {
			assert_same( $previous, $seen[1], 'stored cursor when loading #' . $seen[0] );
			$previous = $seen[0];
		}
		assert_same( array_slice( $expected, 0, 50 ), array_column( $source->seen, 0 ), 'the first page' );
	}
);

blago24_test(
	'running it again queues only what changed; a donation that cannot be loaded is skipped',
	function () {
		$expected = blago24_donations( 20 );
		$plugin   = blago24_plugin( false );
		$plugin->backfill->start( '2026-01-01' );
		$plugin->backfill->tick();
		$queued = count( $plugin->repository->rows );
		assert_same( count( $expected ), $queued, 'first run' );

		Leyka_Donations::$store[1]->data['status'] = 'refunded';
		Leyka_Donations::$broken                   = array( 2 );
		$plugin->backfill->start( '2026-01-01' );
		$state = $plugin->backfill->tick();
		assert_same( 1, $state['queued'], 'only the changed donation' );
		assert_same( count( $expected ) - 2, $state['already'], 'the rest were queued before' );
		assert_same( 1, $state['skipped'], 'the unloadable one skipped' );
		assert_true( null !== $plugin->repository->find( 'backfill-1-refunded' ), 'new status, new delivery' );
		assert_true( null !== $plugin->repository->find( 'backfill-1-funded' ), 'the old one stays' );
	}
);

blago24_test(
	'pause, resume, and a date that is not one',
	function () {
		blago24_donations( 130 );
		$plugin = blago24_plugin( false );
		foreach ( array( '', '2026-02-30', 'yesterday', '2026-1-1', '2026-01-01; DROP TABLE' ) as $bad ) {
			assert_false( $plugin->backfill->start( $bad ), 'refused: ' . $bad );
		}
		assert_same( 'idle', $plugin->backfill->state()['status'], 'idle' );
		$plugin->backfill->start( '2026-01-01' );
		$plugin->backfill->tick();
		$plugin->backfill->pause();
		$calls = count( $plugin->source->listings );
		$plugin->backfill->tick();
		assert_same( $calls, count( $plugin->source->listings ), 'a paused backfill does nothing' );
		$plugin->backfill->resume();
		$plugin->backfill->tick();
		assert_same( $calls + 1, count( $plugin->source->listings ), 'resumed' );
	}
);

blago24_test(
	'from the cron: a page is queued and sent in the same run',
	function () {
		blago24_donations( 5 );
		$plugin = blago24_plugin( false );
		$plugin->backfill->start( '2026-01-01' );
		$plugin->run_cron();
		$requests = blago24_requests();
		assert_same( 5, count( $requests ), 'sent' );
		$ids = array();
		foreach ( $requests as $request ) {
			$ids[] = json_decode( $request['args']['body'], true )['delivery_id'];
			assert_same( blago24_expected_signature( $request ), $request['args']['headers']['X-Leyka-Bridge-Signature'], 'signed' );
		}
		assert_same( array( 'backfill-1-funded', 'backfill-2-funded', 'backfill-3-failed', 'backfill-4-funded', 'backfill-5-funded' ), $ids, 'deterministic ids' );
	}
);

blago24_test(
	'the Leyka listing: its own SQL in both storage modes, ascending IDs after the cursor, no trash',
	function () {
		$source = new Blago24_Leyka_Bridge_Leyka_Source();
		$wpdb   = $GLOBALS['wpdb'];

		$wpdb->answers['get_col'] = array( array( '11', '12' ) );
		assert_same( array( 11, 12 ), $source->ids_since( '2026-01-01', 10, 50 ), 'IDs as integers' );
		assert_same(
			"SELECT ID FROM wp_posts WHERE post_type = 'leyka_donation' AND ID > 10 AND post_date >= '2026-01-01 00:00:00' AND post_status IN ('submitted','funded','failed','refunded') ORDER BY ID ASC LIMIT 50",
			end( $wpdb->queries ),
			'posts storage'
		);

		update_option( 'leyka_donations_storage_type', 'sep' );
		$source->ids_since( '2026-01-01', 10, 50 );
		assert_same(
			"SELECT ID FROM wp_leyka_donations WHERE ID > 10 AND date_created >= '2026-01-01 00:00:00' AND status IN ('submitted','funded','failed','refunded') ORDER BY ID ASC LIMIT 50",
			end( $wpdb->queries ),
			'separated storage'
		);
	}
);

blago24_run_tests( __FILE__ );
