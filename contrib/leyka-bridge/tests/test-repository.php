<?php
/**
 * The table-backed repository: its schema and the SQL it runs (checked through a recording wpdb;
 * php-cli here has no MySQL or SQLite), and the in-memory twin the other tests use.
 *
 * @package Blago24_Leyka_Bridge
 */

require __DIR__ . '/bootstrap.php';

blago24_test(
	'the schema: {prefix}blago24_lb_deliveries with every column, delivery_id unique, in dbDelta\'s format',
	function () {
		$repo = new Blago24_Leyka_Bridge_Wpdb_Repository( $GLOBALS['wpdb'] );
		assert_same( 'wp_blago24_lb_deliveries', $repo->table(), 'table name' );
		$repo->install();
		$sql = $GLOBALS['blago24_wp']['dbdelta'][0];
		foreach ( array( 'delivery_id varchar(100) NOT NULL', 'body longtext NOT NULL', 'next_try_at bigint(20) unsigned NOT NULL', 'attempts int(10) unsigned NOT NULL', 'last_status smallint(5) unsigned', 'last_error text', 'sent_at bigint(20) unsigned DEFAULT NULL', 'created_at bigint(20) unsigned NOT NULL', 'PRIMARY KEY  (id)', 'UNIQUE KEY delivery_id (delivery_id)', 'utf8mb4' ) as $part ) {
			assert_contains( $part, $sql, 'schema has ' . $part );
		}
		assert_same( '1', get_option( 'blago24_lb_db_version' ), 'schema version stored' );
		$repo->maybe_install();
		assert_same( 1, count( $GLOBALS['blago24_wp']['dbdelta'] ), 'not again when current' );
		update_option( 'blago24_lb_db_version', '0' );
		$repo->maybe_install();
		assert_same( 2, count( $GLOBALS['blago24_wp']['dbdelta'] ), 'again after an update of the plugin' );
	}
);

blago24_test(
	'insert: INSERT IGNORE (a kept delivery_id is not queued twice); a database error is raised, not swallowed',
	function () {
		$wpdb = $GLOBALS['wpdb'];
		$repo = new Blago24_Leyka_Bridge_Wpdb_Repository( $wpdb );
		$row  = array(
			'delivery_id' => "it's-1",
			'event'       => 'donation.added',
			'donation_id' => 5,
			'body'        => '{"a":"b"}',
			'next_try_at' => 100,
			'created_at'  => 90,
		);
		$wpdb->answers['query'] = array( 1, 0, false );
		assert_true( $repo->insert( $row ), 'inserted' );
		assert_same(
			"INSERT IGNORE INTO wp_blago24_lb_deliveries (delivery_id, event, donation_id, body, attempts, next_try_at, last_status, last_error, created_at) VALUES ('it\\'s-1', 'donation.added', 5, '{\\\"a\\\":\\\"b\\\"}', 0, 100, 0, '', 90)",
			$wpdb->queries[0],
			'SQL'
		);
		assert_false( $repo->insert( $row ), 'a duplicate affects no row' );
		$wpdb->last_error = 'Table is full';
		assert_throws(
			function () use ( $repo, $row ) {
				$repo->insert( $row );
			},
			'RuntimeException',
			'a failed insert'
		);
	}
);

blago24_test(
	'due, prune, reschedule: unsent rows only; sent ones pruned by sent_at; unsent never deleted',
	function () {
		$wpdb = $GLOBALS['wpdb'];
		$repo = new Blago24_Leyka_Bridge_Wpdb_Repository( $wpdb );
		$wpdb->answers['get_results'] = array(
			array(
				array(
					'id'          => '3',
					'delivery_id' => 'd',
					'event'       => 'donation.added',
					'donation_id' => '5',
					'body'        => '{}',
					'attempts'    => '2',
					'next_try_at' => '100',
					'last_try_at' => '90',
					'last_status' => '503',
					'last_error'  => null,
					'sent_at'     => null,
					'created_at'  => '80',
				),
			),
		);
		$rows = $repo->due( 150, 50 );
		assert_same( 'SELECT * FROM wp_blago24_lb_deliveries WHERE sent_at IS NULL AND next_try_at <= 150 ORDER BY next_try_at ASC, id ASC LIMIT 50', end( $wpdb->queries ), 'due' );
		assert_same( 2, $rows[0]['attempts'], 'integers' );
		assert_same( null, $rows[0]['sent_at'], 'unsent is null' );
		assert_same( '', $rows[0]['last_error'], 'no error is ""' );
		$repo->prune_sent_before( 1000 );
		assert_same( 'DELETE FROM wp_blago24_lb_deliveries WHERE sent_at IS NOT NULL AND sent_at < 1000 LIMIT 5000', end( $wpdb->queries ), 'prune only sent rows' );
		$repo->reschedule_unsent( 200 );
		assert_same( 'UPDATE wp_blago24_lb_deliveries SET next_try_at = 200 WHERE sent_at IS NULL', end( $wpdb->queries ), 'reschedule only unsent rows' );
		$repo->update(
			'd',
			array(
				'sent_at'  => 300,
				'attempts' => 3,
				'bogus'    => 1,
			)
		);
		assert_same( array( 'wp_blago24_lb_deliveries', array( 'sent_at' => 300, 'attempts' => 3 ), array( 'delivery_id' => 'd' ), array( '%d', '%d' ) ), $wpdb->updates[0], 'update: known columns only' );
	}
);

blago24_test(
	'the in-memory twin behaves like the table (the other tests rely on it)',
	function () {
		$repo = new Blago24_Test_Memory_Repository();
		$row  = array(
			'delivery_id' => 'a',
			'event'       => 'e',
			'donation_id' => 1,
			'body'        => '{}',
			'next_try_at' => 10,
			'created_at'  => 5,
		);
		assert_true( $repo->insert( $row ), 'insert' );
		assert_false( $repo->insert( $row ), 'unique delivery_id' );
		assert_same( 1, count( $repo->due( 10, 5 ) ), 'due at next_try_at' );
		assert_same( 0, count( $repo->due( 9, 5 ) ), 'not before' );
		$repo->update( 'a', array( 'sent_at' => 20 ) );
		assert_same( 0, count( $repo->due( 100, 5 ) ), 'sent is never due' );
		assert_same( 0, $repo->prune_sent_before( 20 ), 'kept until after' );
		assert_same( 1, $repo->prune_sent_before( 21 ), 'pruned' );
	}
);

blago24_test(
	'uninstall (deleting the plugin) drops the table, its options and the cron; deactivation keeps the queue',
	function () {
		wp_schedule_event( 1, 'blago24_lb_every_minute', 'blago24_lb_cron' );
		Blago24_Leyka_Bridge_Plugin::deactivate();
		assert_same( 0, count( $GLOBALS['wpdb']->queries ), 'deactivation touches no table' );
		wp_schedule_event( 1, 'blago24_lb_every_minute', 'blago24_lb_cron' );
		update_option( 'blago24_lb_backfill', array( 'status' => 'done' ) );
		define( 'WP_UNINSTALL_PLUGIN', 'blago24-leyka-bridge/blago24-leyka-bridge.php' );
		require dirname( __DIR__ ) . '/uninstall.php';
		assert_same( 'DROP TABLE IF EXISTS wp_blago24_lb_deliveries', end( $GLOBALS['wpdb']->queries ), 'table dropped' );
		foreach ( array( 'blago24_lb_url', 'blago24_lb_secret', 'blago24_lb_backfill', 'blago24_lb_db_version' ) as $option ) {
			assert_false( get_option( $option ), $option . ' deleted' );
		}
		assert_false( wp_next_scheduled( 'blago24_lb_cron' ), 'cron cleared' );
	}
);

blago24_run_tests( __FILE__ );
