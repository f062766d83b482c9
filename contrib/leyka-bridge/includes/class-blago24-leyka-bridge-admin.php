<?php
/**
 * Settings → «Blago24: Leyka bridge».
 *
 * @package Blago24_Leyka_Bridge
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * The settings page and its actions (each behind manage_options and a nonce).
 */
class Blago24_Leyka_Bridge_Admin {

	const SLUG       = 'blago24-leyka-bridge';
	const CAPABILITY = 'manage_options';
	const ACTIONS    = array( 'save', 'ping', 'backfill_start', 'backfill_pause', 'backfill_resume', 'retry' );

	/**
	 * The plugin.
	 *
	 * @var Blago24_Leyka_Bridge_Plugin
	 */
	private $plugin;

	/**
	 * Sets the page up.
	 *
	 * @param Blago24_Leyka_Bridge_Plugin $plugin The plugin.
	 */
	public function __construct( Blago24_Leyka_Bridge_Plugin $plugin ) {
		$this->plugin = $plugin;
	}

	/**
	 * Hooks the menu entry and the admin-post actions.
	 */
	public function register() {
		add_action( 'admin_menu', array( $this, 'menu' ) );
		foreach ( self::ACTIONS as $action ) {
			add_action( 'admin_post_blago24_lb_' . $action, array( $this, 'handle_' . $action ) );
		}
		if ( defined( 'BLAGO24_LB_FILE' ) ) {
			add_filter( 'plugin_action_links_' . plugin_basename( BLAGO24_LB_FILE ), array( $this, 'action_links' ) );
		}
	}

	/**
	 * Adds the page under Settings.
	 */
	public function menu() {
		add_options_page(
			__( 'Blago24: Leyka bridge', 'blago24-leyka-bridge' ),
			__( 'Blago24: Leyka bridge', 'blago24-leyka-bridge' ),
			self::CAPABILITY,
			self::SLUG,
			array( $this, 'render' )
		);
	}

	/**
	 * A «Settings» link in the plugin list.
	 *
	 * @param array $links Links.
	 * @return array
	 */
	public function action_links( $links ) {
		$links   = is_array( $links ) ? $links : array();
		$links[] = '<a href="' . esc_url( $this->page_url() ) . '">' . esc_html__( 'Settings', 'blago24-leyka-bridge' ) . '</a>';
		return $links;
	}

	/**
	 * The page's URL, with a notice code.
	 *
	 * @param string $notice Notice code.
	 * @return string
	 */
	public function page_url( $notice = '' ) {
		$url = admin_url( 'options-general.php?page=' . self::SLUG );
		return '' === $notice ? $url : $url . '&blago24_lb_notice=' . rawurlencode( $notice );
	}

	/**
	 * Refuses anyone but an administrator with a valid nonce for this action.
	 *
	 * @param string $action Action name.
	 */
	private function guard( $action ) {
		if ( ! current_user_can( self::CAPABILITY ) ) {
			wp_die( esc_html__( 'You are not allowed to change the Blago24 bridge.', 'blago24-leyka-bridge' ), '', array( 'response' => 403 ) );
		}
		check_admin_referer( 'blago24_lb_' . $action );
	}

	/**
	 * Back to the page with a notice.
	 *
	 * @param string $notice Notice code.
	 */
	private function back( $notice ) {
		wp_safe_redirect( $this->page_url( $notice ) );
		exit;
	}

	/**
	 * A posted field, unslashed (sanitized by the caller).
	 *
	 * @param string $name Field name.
	 * @return string
	 */
	private static function posted( $name ) {
		// phpcs:ignore WordPress.Security.NonceVerification.Missing -- guard() checked the nonce.
		return isset( $_POST[ $name ] ) && is_string( $_POST[ $name ] ) ? (string) wp_unslash( $_POST[ $name ] ) : ''; // phpcs:ignore WordPress.Security.ValidatedSanitizedInput.InputNotSanitized
	}

	/**
	 * Saves the URL and (when typed) the secret.
	 */
	public function handle_save() {
		$this->guard( 'save' );
		$raw_url = self::posted( 'blago24_lb_url' );
		$url     = Blago24_Leyka_Bridge_Settings::sanitize_url( $raw_url );
		if ( '' !== trim( $raw_url ) && '' === $url ) {
			$this->back( 'bad_url' );
			return;
		}
		$this->plugin->settings->save_url( $url );
		$secret = Blago24_Leyka_Bridge_Settings::sanitize_secret( self::posted( 'blago24_lb_secret' ) );
		if ( '' !== $secret ) {
			$this->plugin->settings->save_secret( $secret );
		}
		$this->back( '' !== $secret && strlen( $secret ) < 16 ? 'short_secret' : 'saved' );
	}

	/**
	 * «Test connection».
	 */
	public function handle_ping() {
		$this->guard( 'ping' );
		set_transient( self::ping_key(), $this->plugin->ping(), 3600 );
		$this->back( 'pinged' );
	}

	/**
	 * «Send past donations».
	 */
	public function handle_backfill_start() {
		$this->guard( 'backfill_start' );
		$since = Blago24_Leyka_Bridge_Backfill::sanitize_date( sanitize_text_field( self::posted( 'blago24_lb_since' ) ) );
		if ( '' === $since || ! $this->plugin->backfill->start( $since ) ) {
			$this->back( 'bad_date' );
			return;
		}
		$this->plugin->backfill->tick();
		$this->back( 'backfill_started' );
	}

	/**
	 * Pauses the backfill.
	 */
	public function handle_backfill_pause() {
		$this->guard( 'backfill_pause' );
		$this->plugin->backfill->pause();
		$this->back( 'backfill_paused' );
	}

	/**
	 * Resumes the backfill.
	 */
	public function handle_backfill_resume() {
		$this->guard( 'backfill_resume' );
		$this->plugin->backfill->resume();
		$this->back( 'backfill_resumed' );
	}

	/**
	 * «Retry now»: every unsent delivery is due now, and a batch is sent.
	 */
	public function handle_retry() {
		$this->guard( 'retry' );
		$this->plugin->repository->reschedule_unsent( $this->plugin->queue->now() );
		$this->plugin->queue->process_due( 20, 20, Blago24_Leyka_Bridge_Plugin::SEND_TIMEOUT );
		$this->back( 'retried' );
	}

	/**
	 * The current user's ping report key.
	 *
	 * @return string
	 */
	private static function ping_key() {
		return 'blago24_lb_ping_' . get_current_user_id();
	}

	/**
	 * A date and time in the site's zone.
	 *
	 * @param int|null $timestamp Unix seconds.
	 * @return string
	 */
	private static function when( $timestamp ) {
		if ( empty( $timestamp ) ) {
			return '—';
		}
		return (string) wp_date( 'Y-m-d H:i:s', (int) $timestamp );
	}

	/**
	 * The notice a handler asked for.
	 *
	 * @return array{0:string,1:string}|null Class and text.
	 */
	private static function notice() {
		// phpcs:ignore WordPress.Security.NonceVerification.Recommended -- a display-only code from our own redirect.
		$code     = isset( $_GET['blago24_lb_notice'] ) ? sanitize_key( wp_unslash( $_GET['blago24_lb_notice'] ) ) : '';
		$messages = array(
			'saved'            => array( 'success', __( 'Settings saved.', 'blago24-leyka-bridge' ) ),
			'short_secret'     => array( 'warning', __( 'Settings saved, but the secret is short: use at least 16 random characters.', 'blago24-leyka-bridge' ) ),
			'bad_url'          => array( 'error', __( 'That is not an http(s) address: nothing was saved.', 'blago24-leyka-bridge' ) ),
			'pinged'           => array( 'info', __( 'Test call made: its result is below.', 'blago24-leyka-bridge' ) ),
			'bad_date'         => array( 'error', __( 'Choose the date to send donations from.', 'blago24-leyka-bridge' ) ),
			'backfill_started' => array( 'success', __( 'Past donations are being queued and sent from WP-cron.', 'blago24-leyka-bridge' ) ),
			'backfill_paused'  => array( 'info', __( 'Sending past donations is paused.', 'blago24-leyka-bridge' ) ),
			'backfill_resumed' => array( 'success', __( 'Sending past donations goes on from where it stopped.', 'blago24-leyka-bridge' ) ),
			'retried'          => array( 'info', __( 'Waiting deliveries were tried again: see their status below.', 'blago24-leyka-bridge' ) ),
		);
		return isset( $messages[ $code ] ) ? $messages[ $code ] : null;
	}

	/**
	 * The hidden fields and the button of one action's form.
	 *
	 * @param string $action Action name.
	 * @param string $label  Button label.
	 * @param string $class  Button class.
	 */
	private static function action_fields( $action, $label, $class = 'button' ) {
		echo '<input type="hidden" name="action" value="' . esc_attr( 'blago24_lb_' . $action ) . '">';
		wp_nonce_field( 'blago24_lb_' . $action );
		echo '<button type="submit" class="' . esc_attr( $class ) . '">' . esc_html( $label ) . '</button>';
	}

	/**
	 * The page.
	 */
	public function render() {
		if ( ! current_user_can( self::CAPABILITY ) ) {
			wp_die( esc_html__( 'You are not allowed to change the Blago24 bridge.', 'blago24-leyka-bridge' ), '', array( 'response' => 403 ) );
		}
		$settings = $this->plugin->settings;
		$post_url = admin_url( 'admin-post.php' );
		echo '<div class="wrap">';
		echo '<h1>' . esc_html__( 'Blago24: Leyka bridge', 'blago24-leyka-bridge' ) . '</h1>';
		echo '<p>' . esc_html__( 'Sends every Leyka donation change to the fund\'s Blago24 app as signed JSON, and retries until the app has it.', 'blago24-leyka-bridge' ) . '</p>';

		$notice = self::notice();
		if ( $notice ) {
			echo '<div class="notice notice-' . esc_attr( $notice[0] ) . ' is-dismissible"><p>' . esc_html( $notice[1] ) . '</p></div>';
		}
		if ( ! class_exists( 'Leyka_Donations' ) ) {
			echo '<div class="notice notice-warning"><p>' . esc_html__( 'Leyka is not active on this site: there are no donations to send.', 'blago24-leyka-bridge' ) . '</p></div>';
		}
		$problem = $this->plugin->last_problem();
		if ( $problem ) {
			echo '<div class="notice notice-warning"><p>';
			/* translators: 1: date and time, 2: where it happened, 3: the error message. */
			echo esc_html( sprintf( __( 'Last problem (%1$s, %2$s): %3$s', 'blago24-leyka-bridge' ), self::when( $problem['time'] ), $problem['where'], $problem['message'] ) );
			echo '</p></div>';
		}

		// Connection.
		echo '<h2>' . esc_html__( 'Connection', 'blago24-leyka-bridge' ) . '</h2>';
		echo '<form method="post" action="' . esc_url( $post_url ) . '">';
		echo '<table class="form-table" role="presentation"><tbody>';
		echo '<tr><th scope="row"><label for="blago24_lb_url">' . esc_html__( 'App URL', 'blago24-leyka-bridge' ) . '</label></th><td>';
		echo '<input type="url" class="large-text code" id="blago24_lb_url" name="blago24_lb_url" value="' . esc_attr( $settings->url() ) . '" placeholder="https://app.example/hooks/…/leyka">';
		echo '<p class="description">' . esc_html__( 'The address from the Blago24 app page, of the form https://app.example/hooks/<portal key>/leyka.', 'blago24-leyka-bridge' ) . '</p>';
		echo '</td></tr>';
		echo '<tr><th scope="row"><label for="blago24_lb_secret">' . esc_html__( 'Secret', 'blago24-leyka-bridge' ) . '</label></th><td>';
		echo '<input type="password" class="regular-text code" id="blago24_lb_secret" name="blago24_lb_secret" value="" autocomplete="new-password">';
		if ( '' !== $settings->secret() ) {
			/* translators: %s: the secret's last characters behind dots. */
			echo '<p class="description">' . esc_html( sprintf( __( 'A secret is saved (%s). Leave the field empty to keep it.', 'blago24-leyka-bridge' ), Blago24_Leyka_Bridge_Settings::mask_secret( $settings->secret() ) ) ) . '</p>';
		} else {
			echo '<p class="description">' . esc_html__( 'The same secret as in «Leyka bridge secret» on the Blago24 app page.', 'blago24-leyka-bridge' ) . '</p>';
		}
		echo '</td></tr></tbody></table>';
		self::action_fields( 'save', __( 'Save', 'blago24-leyka-bridge' ), 'button button-primary' );
		echo '</form>';

		// Test connection.
		echo '<h2>' . esc_html__( 'Test connection', 'blago24-leyka-bridge' ) . '</h2>';
		echo '<form method="post" action="' . esc_url( $post_url ) . '">';
		self::action_fields( 'ping', __( 'Test connection', 'blago24-leyka-bridge' ) );
		echo '</form>';
		$report = get_transient( self::ping_key() );
		if ( is_array( $report ) ) {
			$this->render_ping( $report );
		}

		$this->render_deliveries( $post_url );
		$this->render_backfill( $post_url );
		echo '</div>';
	}

	/**
	 * The last ping's report.
	 *
	 * @param array $report Blago24_Leyka_Bridge_Ping::report().
	 */
	private function render_ping( array $report ) {
		echo '<table class="widefat striped" style="max-width:60em"><tbody>';
		echo '<tr><th>' . esc_html__( 'Checked at', 'blago24-leyka-bridge' ) . '</th><td>' . esc_html( self::when( $report['time'] ) ) . '</td></tr>';
		echo '<tr><th>' . esc_html__( 'HTTP status', 'blago24-leyka-bridge' ) . '</th><td>' . esc_html( $report['status'] ? (string) $report['status'] : '—' ) . '</td></tr>';
		echo '<tr><th>' . esc_html__( 'Answer', 'blago24-leyka-bridge' ) . '</th><td>' . esc_html( $report['words'] ) . '</td></tr>';
		if ( '' !== $report['app_message'] ) {
			echo '<tr><th>' . esc_html__( 'The app said', 'blago24-leyka-bridge' ) . '</th><td><code>' . esc_html( $report['app_message'] ) . '</code></td></tr>';
		}
		if ( '' !== $report['error'] && 0 === (int) $report['status'] ) {
			echo '<tr><th>' . esc_html__( 'Error', 'blago24-leyka-bridge' ) . '</th><td><code>' . esc_html( $report['error'] ) . '</code></td></tr>';
		}
		echo '<tr><th>' . esc_html__( 'Clock', 'blago24-leyka-bridge' ) . '</th><td>' . esc_html( $report['clock']['words'] ) . '</td></tr>';
		echo '</tbody></table>';
	}

	/**
	 * The queue: counts, «Retry now», the last 20 deliveries.
	 *
	 * @param string $post_url admin-post.php.
	 */
	private function render_deliveries( $post_url ) {
		$counts = $this->plugin->repository->counts();
		echo '<h2>' . esc_html__( 'Deliveries', 'blago24-leyka-bridge' ) . '</h2>';
		echo '<p>' . esc_html(
			sprintf(
				/* translators: 1: unsent deliveries, 2: of them failed at least once, 3: sent deliveries. */
				__( 'Waiting: %1$d (failed at least once: %2$d). Sent, kept for 30 days: %3$d.', 'blago24-leyka-bridge' ),
				$counts['unsent'],
				$counts['failing'],
				$counts['sent']
			)
		) . '</p>';
		if ( $counts['unsent'] > 0 ) {
			echo '<form method="post" action="' . esc_url( $post_url ) . '">';
			self::action_fields( 'retry', __( 'Retry waiting deliveries now', 'blago24-leyka-bridge' ) );
			echo '</form>';
		}
		$rows = $this->plugin->repository->recent( 20 );
		if ( ! $rows ) {
			echo '<p>' . esc_html__( 'No deliveries yet.', 'blago24-leyka-bridge' ) . '</p>';
			return;
		}
		echo '<table class="widefat striped"><thead><tr>';
		foreach ( array( __( 'Queued at', 'blago24-leyka-bridge' ), __( 'Event', 'blago24-leyka-bridge' ), __( 'Donation', 'blago24-leyka-bridge' ), __( 'Status', 'blago24-leyka-bridge' ), __( 'Attempts', 'blago24-leyka-bridge' ), __( 'Last error', 'blago24-leyka-bridge' ), __( 'Delivery id', 'blago24-leyka-bridge' ) ) as $title ) {
			echo '<th scope="col">' . esc_html( $title ) . '</th>';
		}
		echo '</tr></thead><tbody>';
		foreach ( $rows as $row ) {
			if ( null !== $row['sent_at'] ) {
				/* translators: %s: date and time. */
				$status = sprintf( __( 'Sent at %s', 'blago24-leyka-bridge' ), self::when( $row['sent_at'] ) );
			} elseif ( (int) $row['attempts'] > 0 ) {
				/* translators: %s: date and time. */
				$status = sprintf( __( 'Failed; next try at %s', 'blago24-leyka-bridge' ), self::when( $row['next_try_at'] ) );
			} else {
				$status = __( 'Waiting to be sent', 'blago24-leyka-bridge' );
			}
			$error = '';
			if ( null === $row['sent_at'] && '' !== $row['last_error'] ) {
				$error = $row['last_error'];
			}
			echo '<tr>';
			echo '<td>' . esc_html( self::when( $row['created_at'] ) ) . '</td>';
			echo '<td><code>' . esc_html( $row['event'] ) . '</code></td>';
			echo '<td>' . esc_html( $row['donation_id'] ? '#' . $row['donation_id'] : '—' ) . '</td>';
			echo '<td>' . esc_html( $status ) . '</td>';
			echo '<td>' . esc_html( (string) (int) $row['attempts'] ) . '</td>';
			echo '<td>' . esc_html( $error ) . '</td>';
			echo '<td><code>' . esc_html( $row['delivery_id'] ) . '</code></td>';
			echo '</tr>';
		}
		echo '</tbody></table>';
	}

	/**
	 * «Send past donations» and its progress.
	 *
	 * @param string $post_url admin-post.php.
	 */
	private function render_backfill( $post_url ) {
		$state = $this->plugin->backfill->state();
		echo '<h2>' . esc_html__( 'Send past donations', 'blago24-leyka-bridge' ) . '</h2>';
		echo '<p>' . esc_html__( 'Queues every donation made since the chosen date (except those in the trash), a page a minute from WP-cron. A donation in the same status is the same delivery however often this runs, so running it again sends only what changed.', 'blago24-leyka-bridge' ) . '</p>';
		echo '<form method="post" action="' . esc_url( $post_url ) . '">';
		echo '<label for="blago24_lb_since">' . esc_html__( 'Donations made since', 'blago24-leyka-bridge' ) . '</label> ';
		echo '<input type="date" id="blago24_lb_since" name="blago24_lb_since" value="' . esc_attr( $state['since'] ) . '" required> ';
		self::action_fields( 'backfill_start', __( 'Send past donations', 'blago24-leyka-bridge' ) );
		echo '</form>';
		if ( 'idle' === $state['status'] ) {
			return;
		}
		$labels = array(
			'running' => __( 'running', 'blago24-leyka-bridge' ),
			'paused'  => __( 'paused', 'blago24-leyka-bridge' ),
			'done'    => __( 'done', 'blago24-leyka-bridge' ),
		);
		$label  = isset( $labels[ $state['status'] ] ) ? $labels[ $state['status'] ] : $state['status'];
		echo '<p>' . esc_html(
			sprintf(
				/* translators: 1: running/paused/done, 2: date, 3: donation ID, 4: newly queued, 5: queued before, 6: not found. */
				__( 'Status: %1$s. Since %2$s, up to donation #%3$d: %4$d queued, %5$d already queued before, %6$d not found.', 'blago24-leyka-bridge' ),
				$label,
				$state['since'],
				(int) $state['after_id'],
				(int) $state['queued'],
				(int) $state['already'],
				(int) $state['skipped']
			)
		) . '</p>';
		if ( '' !== $state['last_error'] ) {
			/* translators: %s: error message. */
			echo '<p>' . esc_html( sprintf( __( 'Stopped on: %s (it is tried again on the next run).', 'blago24-leyka-bridge' ), $state['last_error'] ) ) . '</p>';
		}
		if ( 'running' === $state['status'] || 'paused' === $state['status'] ) {
			echo '<form method="post" action="' . esc_url( $post_url ) . '">';
			if ( 'running' === $state['status'] ) {
				self::action_fields( 'backfill_pause', __( 'Pause', 'blago24-leyka-bridge' ) );
			} else {
				self::action_fields( 'backfill_resume', __( 'Resume', 'blago24-leyka-bridge' ) );
			}
			echo '</form>';
		}
	}
}
