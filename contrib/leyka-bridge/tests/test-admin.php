<?php
/**
 * The settings page: capability and nonce on every action, sanitized input, escaped output, the
 * secret never shown whole, the deliveries' status.
 *
 * @package Blago24_Leyka_Bridge
 */

require __DIR__ . '/bootstrap.php';

/**
 * The page's HTML.
 *
 * @param Blago24_Leyka_Bridge_Admin $admin Admin.
 * @return string
 */
function blago24_render( $admin ) {
	ob_start();
	try {
		$admin->render();
	} finally {
		$html = ob_get_clean();
	}
	return $html;
}

/**
 * Posts an action with its nonce (or a given one); returns where it redirected.
 *
 * @param Blago24_Leyka_Bridge_Admin $admin  Admin.
 * @param string                     $action Action.
 * @param array                      $fields Posted fields.
 * @param string|null                $nonce  Nonce (null: the right one).
 * @return string
 */
function blago24_post( $admin, $action, array $fields = array(), $nonce = null ) {
	$_POST                = $fields;
	$_REQUEST             = $fields;
	$_REQUEST['_wpnonce'] = null === $nonce ? 'nonce:blago24_lb_' . $action : $nonce;
	$redirect             = assert_throws(
		function () use ( $admin, $action ) {
			call_user_func( array( $admin, 'handle_' . $action ) );
		},
		'Blago24_Test_Redirect',
		$action . ' redirects'
	);
	return $redirect->location;
}

blago24_test(
	'Settings → «Blago24: Leyka bridge», for manage_options only',
	function () {
		$admin = new Blago24_Leyka_Bridge_Admin( blago24_plugin( false ) );
		$admin->register();
		do_action( 'admin_menu' );
		$page = $GLOBALS['blago24_wp']['options_page'];
		assert_same( 'Blago24: Leyka bridge', $page['menu_title'], 'menu title' );
		assert_same( 'manage_options', $page['capability'], 'capability' );
		assert_same( 'blago24-leyka-bridge', $page['slug'], 'slug' );
		foreach ( Blago24_Leyka_Bridge_Admin::ACTIONS as $action ) {
			assert_true( has_action( 'admin_post_blago24_lb_' . $action ), 'admin-post action ' . $action );
			assert_false( has_action( 'admin_post_nopriv_blago24_lb_' . $action ), 'none for visitors: ' . $action );
		}
	}
);

blago24_test(
	'every action refuses a user without manage_options, and a missing or wrong nonce; nothing changes',
	function () {
		$plugin = blago24_plugin( false );
		$admin  = new Blago24_Leyka_Bridge_Admin( $plugin );
		$fields = array(
			'blago24_lb_url'    => 'https://evil.example/x',
			'blago24_lb_secret' => 'stolen-secret-stolen',
			'blago24_lb_since'  => '2026-01-01',
		);
		foreach ( Blago24_Leyka_Bridge_Admin::ACTIONS as $action ) {
			$GLOBALS['blago24_wp']['can'] = false;
			$_POST                        = $fields;
			$_REQUEST                     = $fields + array( '_wpnonce' => 'nonce:blago24_lb_' . $action );
			$die                          = assert_throws( array( $admin, 'handle_' . $action ), 'Blago24_Test_Die', $action . ' without the capability' );
			assert_same( 403, $die->getCode(), $action . ': 403' );

			$GLOBALS['blago24_wp']['can'] = true;
			foreach ( array( null, 'nonce:blago24_lb_other', '' ) as $nonce ) {
				$_REQUEST = $fields;
				if ( null !== $nonce ) {
					$_REQUEST['_wpnonce'] = $nonce;
				}
				assert_throws( array( $admin, 'handle_' . $action ), 'Blago24_Test_Die', $action . ' with nonce ' . var_export( $nonce, true ) );
			}
		}
		assert_same( 'https://app.example/hooks/portal-key-1/leyka', get_option( 'blago24_lb_url' ), 'URL unchanged' );
		assert_same( 'test-secret-0123456789', get_option( 'blago24_lb_secret' ), 'secret unchanged' );
		assert_same( 0, count( blago24_requests() ), 'no ping sent' );
		assert_same( 'idle', $plugin->backfill->state()['status'], 'no backfill' );
		$GLOBALS['blago24_wp']['can'] = false;
		assert_throws(
			function () use ( $admin ) {
				blago24_render( $admin );
			},
			'Blago24_Test_Die',
			'the page itself'
		);
	}
);

blago24_test(
	'saving: the URL sanitized (http(s) only), the secret kept when left empty, stored without autoload',
	function () {
		$admin = new Blago24_Leyka_Bridge_Admin( blago24_plugin( false ) );
		$to    = blago24_post(
			$admin,
			'save',
			array(
				'blago24_lb_url'    => '  https://app.example/hooks/k2/leyka  ',
				'blago24_lb_secret' => '',
			)
		);
		assert_contains( 'blago24_lb_notice=saved', $to, 'saved' );
		assert_same( 'https://app.example/hooks/k2/leyka', get_option( 'blago24_lb_url' ), 'trimmed URL' );
		assert_same( 'test-secret-0123456789', get_option( 'blago24_lb_secret' ), 'secret kept' );
		assert_false( $GLOBALS['blago24_wp']['autoload']['blago24_lb_url'], 'not autoloaded' );

		$to = blago24_post(
			$admin,
			'save',
			array(
				'blago24_lb_url'    => 'https://app.example/hooks/k2/leyka',
				'blago24_lb_secret' => " new\tsecret%3Fwith<odd>chars\\'s \n",
			)
		);
		assert_same( "newsecret%3Fwith<odd>chars's", get_option( 'blago24_lb_secret' ), 'whitespace and slashes gone, the rest byte for byte' );
		assert_contains( 'saved', $to, 'saved' );

		foreach ( array( 'javascript:alert(1)', 'ftp://app.example/x', 'not a url', 'https://' ) as $bad ) {
			$to = blago24_post( $admin, 'save', array( 'blago24_lb_url' => $bad ) );
			assert_contains( 'blago24_lb_notice=bad_url', $to, 'refused: ' . $bad );
		}
		assert_same( 'https://app.example/hooks/k2/leyka', get_option( 'blago24_lb_url' ), 'the good URL stays' );

		$to = blago24_post(
			$admin,
			'save',
			array(
				'blago24_lb_url'    => 'https://app.example/hooks/k2/leyka',
				'blago24_lb_secret' => 'short',
			)
		);
		assert_contains( 'short_secret', $to, 'a short secret is saved with a warning' );
	}
);

blago24_test(
	'the page escapes everything and never shows the secret whole',
	function () {
		$plugin = blago24_plugin( false );
		update_option( 'blago24_lb_url', 'https://app.example/"><script>alert(1)</script>' );
		update_option( 'blago24_lb_secret', 'super-secret-value-1234' );
		$plugin->queue->add( 'd-<b>1</b>', 'donation.added', 7, '{}' );
		$plugin->repository->update(
			'd-<b>1</b>',
			array(
				'attempts'    => 2,
				'last_error'  => 'HTTP 400: <img src=x onerror=alert(2)>',
				'next_try_at' => blago24_now() + 120,
			)
		);
		$plugin->note_problem( 'cron', new RuntimeException( '<script>alert(3)</script>' ) );
		$plugin->backfill->start( '2026-01-01' );
		update_option( 'blago24_lb_backfill', array_merge( $plugin->backfill->state(), array( 'last_error' => '<i>db</i>' ) ) );
		$_GET['blago24_lb_notice'] = 'saved';
		$html                      = blago24_render( new Blago24_Leyka_Bridge_Admin( $plugin ) );
		assert_not_contains( '<script>', $html, 'no script tag' );
		assert_not_contains( '<img', $html, 'no img tag' );
		assert_not_contains( '<b>1</b>', $html, 'delivery id escaped' );
		assert_not_contains( '<i>db</i>', $html, 'backfill error escaped' );
		assert_contains( '&lt;img src=x onerror=alert(2)&gt;', $html, 'the last error shown, escaped' );
		assert_contains( 'value="https://app.example/&quot;&gt;&lt;script&gt;', $html, 'the URL in its field, escaped' );
		assert_not_contains( 'super-secret-value-1234', $html, 'the secret is not shown' );
		assert_contains( '••••••••1234', $html, 'only its last characters' );
		assert_contains( 'Settings saved.', $html, 'the notice' );
		assert_contains( 'name="_wpnonce" value="nonce:blago24_lb_save"', $html, 'save form has its nonce' );
		assert_contains( 'name="_wpnonce" value="nonce:blago24_lb_ping"', $html, 'ping form has its nonce' );
		assert_contains( 'name="_wpnonce" value="nonce:blago24_lb_backfill_start"', $html, 'backfill form has its nonce' );
		assert_contains( 'name="_wpnonce" value="nonce:blago24_lb_retry"', $html, 'retry form has its nonce' );

		$_GET['blago24_lb_notice'] = '<script>';
		assert_not_contains( '<script>', blago24_render( new Blago24_Leyka_Bridge_Admin( $plugin ) ), 'an unknown notice code shows nothing' );
	}
);

blago24_test(
	'the deliveries table: sent at T / failed, next try at T / waiting; attempts; the last error of unsent ones',
	function () {
		$plugin = blago24_plugin( false );
		$plugin->queue->add( 'sent-1', 'donation.added', 1, '{}' );
		$plugin->queue->send( 'sent-1' );
		$plugin->queue->add( 'failing-2', 'donation.status_changed', 2, '{}' );
		blago24_respond( blago24_http( 503, '{"message":"try again"}' ) );
		$plugin->queue->send( 'failing-2' );
		$plugin->queue->add( 'fresh-3', 'recurring.changed', 3, '{}', 120 );
		$html = blago24_render( new Blago24_Leyka_Bridge_Admin( $plugin ) );
		assert_contains( 'Sent at 2026-03-14 12:41:05', $html, 'sent, in the site\'s time' );
		assert_contains( 'Failed; next try at 2026-03-14 12:42:05', $html, 'failed, with the next try' );
		assert_contains( 'HTTP 503: try again', $html, 'the last error' );
		assert_contains( 'Waiting to be sent', $html, 'fresh' );
		assert_contains( 'Waiting: 2 (failed at least once: 1). Sent, kept for 30 days: 1.', $html, 'counts' );
		assert_contains( '<td>1</td>', $html, 'attempts' );
	}
);

blago24_test(
	'«Test connection» stores the report for this user and the page shows it',
	function () {
		$plugin = blago24_plugin( false );
		$admin  = new Blago24_Leyka_Bridge_Admin( $plugin );
		blago24_respond( blago24_http( 200, json_encode( array( 'ok' => true, 'time' => blago24_now() + 10 ) ) ) );
		$to = blago24_post( $admin, 'ping' );
		assert_contains( 'blago24_lb_notice=pinged', $to, 'redirect' );
		$report = get_transient( 'blago24_lb_ping_1' );
		assert_true( $report['ok'], 'report stored' );
		$html = blago24_render( $admin );
		assert_contains( 'Connected: the app accepted the signed test call.', $html, 'words' );
		assert_contains( '<td>200</td>', $html, 'HTTP status' );
		assert_contains( '10 s behind the app', $html, 'clock' );
	}
);

blago24_test(
	'«Send past donations»: the date checked, the first page queued at once; pause and resume; retry now',
	function () {
		Leyka_Donations::put( array( 'id' => 1 ) );
		$plugin = blago24_plugin( false );
		$admin  = new Blago24_Leyka_Bridge_Admin( $plugin );
		assert_contains( 'bad_date', blago24_post( $admin, 'backfill_start', array( 'blago24_lb_since' => '2026-13-01' ) ), 'bad date' );
		assert_same( 'idle', $plugin->backfill->state()['status'], 'not started' );
		assert_contains( 'backfill_started', blago24_post( $admin, 'backfill_start', array( 'blago24_lb_since' => '2026-01-01' ) ), 'started' );
		assert_same( 'done', $plugin->backfill->state()['status'], 'one page was enough' );
		assert_true( null !== $plugin->repository->find( 'backfill-1-submitted' ), 'queued' );
		assert_contains( 'Status: done. Since 2026-01-01, up to donation #1: 1 queued', blago24_render( $admin ), 'progress shown' );

		$plugin->backfill->start( '2026-01-01' );
		blago24_post( $admin, 'backfill_pause' );
		assert_same( 'paused', $plugin->backfill->state()['status'], 'paused' );
		assert_contains( 'nonce:blago24_lb_backfill_resume', blago24_render( $admin ), 'resume button' );
		blago24_post( $admin, 'backfill_resume' );
		assert_same( 'running', $plugin->backfill->state()['status'], 'resumed' );

		blago24_respond( blago24_http( 500 ) );
		$plugin->queue->send( 'backfill-1-submitted' );
		assert_contains( 'retried', blago24_post( $admin, 'retry' ), 'retry' );
		assert_true( null !== $plugin->repository->find( 'backfill-1-submitted' )['sent_at'], 'sent now, before its back-off' );
	}
);

blago24_run_tests( __FILE__ );
