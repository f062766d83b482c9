<?php
/**
 * The plugin: Leyka's hooks → deliveries → the app.
 *
 * @package Blago24_Leyka_Bridge
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * Wires Leyka's actions to the queue, sends at the end of the request, retries from WP-cron.
 *
 * A hook never breaks Leyka's own request: every handler catches everything and only notes it.
 */
class Blago24_Leyka_Bridge_Plugin {

	const CRON_HOOK       = 'blago24_lb_cron';
	const CRON_SCHEDULE   = 'blago24_lb_every_minute';
	const OPTION_LOCK     = 'blago24_lb_cron_lock';
	const OPTION_PRUNED   = 'blago24_lb_last_prune';
	const OPTION_PROBLEM  = 'blago24_lb_last_problem';
	const LEYKA_STATUSES  = array( 'submitted', 'funded', 'failed', 'refunded', 'trash' );
	const HOOK_PRIORITY   = 20; // After Leyka's own handlers of the same actions.
	const SEND_TIMEOUT    = 10;
	const INSTANT_TIMEOUT = 5;

	/**
	 * The instance the plugin file booted.
	 *
	 * @var Blago24_Leyka_Bridge_Plugin|null
	 */
	private static $instance = null;

	/**
	 * Settings.
	 *
	 * @var Blago24_Leyka_Bridge_Settings
	 */
	public $settings;

	/**
	 * Queue storage.
	 *
	 * @var Blago24_Leyka_Bridge_Repository
	 */
	public $repository;

	/**
	 * Donations.
	 *
	 * @var Blago24_Leyka_Bridge_Donation_Source
	 */
	public $source;

	/**
	 * Sender.
	 *
	 * @var Blago24_Leyka_Bridge_Sender
	 */
	public $sender;

	/**
	 * Queue.
	 *
	 * @var Blago24_Leyka_Bridge_Queue
	 */
	public $queue;

	/**
	 * Builder.
	 *
	 * @var Blago24_Leyka_Bridge_Builder
	 */
	public $builder;

	/**
	 * Backfill.
	 *
	 * @var Blago24_Leyka_Bridge_Backfill
	 */
	public $backfill;

	/**
	 * Returns unix seconds.
	 *
	 * @var callable
	 */
	private $clock;

	/**
	 * Deliveries queued during this request, to refresh and send at its end: delivery_id => change.
	 *
	 * @var array
	 */
	private $pending = array();

	/**
	 * Changes already queued during this request ("<donation id>|<change>"), so one change reported by
	 * two hooks is one delivery.
	 *
	 * @var array<string,bool>
	 */
	private $seen = array();

	/**
	 * The shutdown sender is hooked.
	 *
	 * @var bool
	 */
	private $flush_hooked = false;

	/**
	 * Builds the plugin; tests pass their own parts.
	 *
	 * @param array $parts Optional: settings, repository, source, clock.
	 */
	public function __construct( array $parts = array() ) {
		$this->clock      = isset( $parts['clock'] ) ? $parts['clock'] : 'time';
		$this->settings   = isset( $parts['settings'] ) ? $parts['settings'] : new Blago24_Leyka_Bridge_Settings();
		$this->repository = isset( $parts['repository'] ) ? $parts['repository'] : new Blago24_Leyka_Bridge_Wpdb_Repository();
		$this->source     = isset( $parts['source'] ) ? $parts['source'] : new Blago24_Leyka_Bridge_Leyka_Source();
		$this->sender     = new Blago24_Leyka_Bridge_Sender( $this->settings, $this->clock );
		$this->queue      = new Blago24_Leyka_Bridge_Queue( $this->repository, $this->sender, $this->clock );
		$this->builder    = new Blago24_Leyka_Bridge_Builder( $this->source, $this->clock );
		$this->backfill   = new Blago24_Leyka_Bridge_Backfill( $this->source, $this->builder, $this->queue );
	}

	/**
	 * Builds the site's instance and hooks it (called by the plugin file).
	 *
	 * @return Blago24_Leyka_Bridge_Plugin
	 */
	public static function boot() {
		if ( null === self::$instance ) {
			self::$instance = new self();
			self::$instance->register();
			if ( is_admin() ) {
				$admin = new Blago24_Leyka_Bridge_Admin( self::$instance );
				$admin->register();
			}
		}
		return self::$instance;
	}

	/**
	 * The booted instance, if any.
	 *
	 * @return Blago24_Leyka_Bridge_Plugin|null
	 */
	public static function instance() {
		return self::$instance;
	}

	/**
	 * Hooks Leyka's actions, the cron and the end of the request.
	 */
	public function register() {
		add_action( 'leyka_new_donation_added', array( $this, 'on_new_donation' ), self::HOOK_PRIORITY, 1 );
		add_action( 'leyka_new_rebill_donation_added', array( $this, 'on_new_rebill_donation' ), self::HOOK_PRIORITY, 1 );
		add_action( 'leyka_donation_recurring_activity_changed', array( $this, 'on_recurring_changed' ), self::HOOK_PRIORITY, 2 );
		foreach ( array_merge( array( 'new' ), self::LEYKA_STATUSES ) as $old ) {
			foreach ( self::LEYKA_STATUSES as $new ) {
				if ( $old === $new ) {
					continue;
				}
				$plugin = $this;
				add_action(
					"leyka_donation_status_{$old}_to_{$new}",
					function ( $donation = null ) use ( $plugin, $old, $new ) {
						$plugin->on_status_change( $donation, $old, $new );
					},
					self::HOOK_PRIORITY,
					1
				);
			}
		}
		// Posts storage: status changes made by WordPress itself (the trash, bulk edits) fire no Leyka hook.
		add_action( 'transition_post_status', array( $this, 'on_post_transition' ), self::HOOK_PRIORITY, 3 );

		add_filter( 'cron_schedules', array( $this, 'cron_schedules' ) ); // phpcs:ignore WordPress.WP.CronInterval
		add_action( self::CRON_HOOK, array( $this, 'run_cron' ) );
		add_action( 'init', array( $this, 'on_init' ) );
		add_action( 'plugins_loaded', array( $this, 'on_plugins_loaded' ) );
	}

	/**
	 * Creates the table after an update of the plugin's files (activation does not run then).
	 */
	public function on_plugins_loaded() {
		try {
			if ( $this->repository instanceof Blago24_Leyka_Bridge_Wpdb_Repository ) {
				$this->repository->maybe_install();
			}
		} catch ( Throwable $e ) {
			$this->note_problem( 'install', $e );
		}
	}

	/**
	 * Loads the translations and makes sure the cron is scheduled.
	 */
	public function on_init() {
		load_plugin_textdomain( 'blago24-leyka-bridge', false, dirname( plugin_basename( BLAGO24_LB_FILE ) ) . '/languages' );
		self::schedule_cron();
	}

	/**
	 * Activation: the table and the cron.
	 */
	public static function activate() {
		$repository = new Blago24_Leyka_Bridge_Wpdb_Repository();
		$repository->install();
		self::schedule_cron();
	}

	/**
	 * Deactivation: the cron stops; the queue is kept (unsent deliveries go out after reactivation).
	 */
	public static function deactivate() {
		wp_clear_scheduled_hook( self::CRON_HOOK );
	}

	/**
	 * Schedules the minutely cron unless it is.
	 */
	public static function schedule_cron() {
		if ( ! wp_next_scheduled( self::CRON_HOOK ) ) {
			wp_schedule_event( time() + 60, self::CRON_SCHEDULE, self::CRON_HOOK );
		}
	}

	/**
	 * Adds the once-a-minute schedule.
	 *
	 * @param array $schedules WordPress's schedules.
	 * @return array
	 */
	public function cron_schedules( $schedules ) {
		if ( ! is_array( $schedules ) ) {
			$schedules = array();
		}
		$schedules[ self::CRON_SCHEDULE ] = array(
			'interval' => 60,
			'display'  => 'Blago24 Leyka bridge: every minute',
		);
		return $schedules;
	}

	/**
	 * Leyka: a donation was created (any first status but trash) → donation.added.
	 *
	 * @param int $donation_id Donation ID.
	 */
	public function on_new_donation( $donation_id = 0 ) {
		try {
			$this->record( Blago24_Leyka_Bridge_Payload::EVENT_ADDED, $donation_id, 'added', array() );
		} catch ( Throwable $e ) {
			$this->note_problem( 'leyka_new_donation_added', $e );
		}
	}

	/**
	 * Leyka: a gateway registered a rebill (a recurring payment) → donation.added.
	 *
	 * @param object|int $donation The rebill donation.
	 */
	public function on_new_rebill_donation( $donation = null ) {
		try {
			$this->record( Blago24_Leyka_Bridge_Payload::EVENT_ADDED, $donation, 'added', array() );
		} catch ( Throwable $e ) {
			$this->note_problem( 'leyka_new_rebill_donation_added', $e );
		}
	}

	/**
	 * Leyka: leyka_donation_status_{old}_to_{new} → donation.status_changed (new_to_* is a creation).
	 *
	 * @param object|int $donation The donation.
	 * @param string     $old      The status before.
	 * @param string     $new      The status now.
	 */
	public function on_status_change( $donation, $old, $new ) {
		try {
			if ( 'new' === $old ) {
				$this->record( Blago24_Leyka_Bridge_Payload::EVENT_ADDED, $donation, 'added', array( 'status' => $new ) );
				return;
			}
			$this->record( Blago24_Leyka_Bridge_Payload::EVENT_STATUS_CHANGED, $donation, "status:{$old}:{$new}", array( 'status' => $new ) );
		} catch ( Throwable $e ) {
			$this->note_problem( "leyka_donation_status_{$old}_to_{$new}", $e );
		}
	}

	/**
	 * WordPress: a leyka_donation post changed status without Leyka's hook (posts storage only).
	 *
	 * @param string $new  New status.
	 * @param string $old  Old status.
	 * @param object $post The post.
	 */
	public function on_post_transition( $new = '', $old = '', $post = null ) {
		try {
			if ( ! is_object( $post ) || ! isset( $post->post_type, $post->ID ) || 'leyka_donation' !== $post->post_type ) {
				return;
			}
			if ( $old === $new || ! in_array( $old, self::LEYKA_STATUSES, true ) || ! in_array( $new, self::LEYKA_STATUSES, true ) ) {
				return; // Creation ("new") is leyka_new_donation_added's.
			}
			$this->record( Blago24_Leyka_Bridge_Payload::EVENT_STATUS_CHANGED, (int) $post->ID, "status:{$old}:{$new}", array( 'status' => $new ) );
		} catch ( Throwable $e ) {
			$this->note_problem( 'transition_post_status', $e );
		}
	}

	/**
	 * Leyka: a recurring subscription was switched on or off → recurring.changed.
	 *
	 * @param int       $donation_id The donation it was switched on (the init donation or a rebill).
	 * @param bool|null $active      Whether it is active now.
	 */
	public function on_recurring_changed( $donation_id = 0, $active = null ) {
		try {
			$overrides = null === $active ? array() : array( 'recurring_active' => Blago24_Leyka_Bridge_Payload::bool_value( $active ) );
			$key       = 'recurring:' . ( null === $active ? '' : ( $overrides['recurring_active'] ? 'on' : 'off' ) );
			$id        = Blago24_Leyka_Bridge_Payload::int_value( $donation_id );
			if ( 'recurring:off' === $key && isset( $this->seen[ $id . '|added' ] ) ) {
				// Leyka (posts storage) fires this with "off" for every new init recurring donation right
				// after creating it: its initial state, already in donation.added, not a cancellation.
				return;
			}
			$this->record( Blago24_Leyka_Bridge_Payload::EVENT_RECURRING, $donation_id, $key, $overrides );
		} catch ( Throwable $e ) {
			$this->note_problem( 'leyka_donation_recurring_activity_changed', $e );
		}
	}

	/**
	 * Queues one change of one donation, once per request.
	 *
	 * @param string     $event     Event name.
	 * @param object|int $donation  Donation object or ID.
	 * @param string     $change    What changed (for the once-per-request check).
	 * @param array      $overrides Values that win over the object's.
	 * @return string|null The delivery id, or null when nothing was queued.
	 */
	public function record( $event, $donation, $change, array $overrides ) {
		if ( is_object( $donation ) ) {
			$donation_id = Blago24_Leyka_Bridge_Payload::int_value( Blago24_Leyka_Bridge_Payload::first( $donation, array( 'id', 'ID' ) ) );
		} else {
			$donation_id = Blago24_Leyka_Bridge_Payload::int_value( $donation );
			$donation    = $donation_id > 0 ? $this->source->get( $donation_id ) : null;
		}
		if ( $donation_id <= 0 ) {
			return null;
		}
		$key = $donation_id . '|' . $change;
		if ( isset( $this->seen[ $key ] ) ) {
			return null;
		}
		if ( ! $donation ) {
			throw new RuntimeException( sprintf( 'donation #%d could not be loaded for %s', $donation_id, $event ) );
		}
		$this->seen[ $key ] = true;
		if ( ! isset( $overrides['status'] ) ) {
			// The status at the moment of the change, kept when the body is refreshed at the end of the request.
			$overrides['status'] = Blago24_Leyka_Bridge_Payload::text( Blago24_Leyka_Bridge_Payload::read( $donation, 'status' ) );
		}
		$delivery_id = wp_generate_uuid4();
		$changed_at  = $this->builder->now_iso();
		$body        = $this->builder->body( $event, $donation, $delivery_id, $changed_at, $overrides );
		$this->queue->add( $delivery_id, $event, $donation_id, $body, Blago24_Leyka_Bridge_Queue::FRESH_GRACE );
		$this->pending[ $delivery_id ] = array(
			'event'       => $event,
			'donation_id' => $donation_id,
			'overrides'   => $overrides,
			'changed_at'  => $changed_at,
		);
		if ( ! $this->flush_hooked ) {
			$this->flush_hooked = true;
			add_action( 'shutdown', array( $this, 'flush' ), PHP_INT_MAX - 10 );
		}
		return $delivery_id;
	}

	/**
	 * End of the request: refreshes the queued bodies (gateways save their data after the hooks
	 * fire) and sends them; what fails waits for the cron.
	 */
	public function flush() {
		$pending       = $this->pending;
		$this->pending = array();
		$send          = $this->settings->is_configured() && apply_filters( 'blago24_lb_send_at_once', true );
		$timeout       = (int) apply_filters( 'blago24_lb_send_at_once_timeout', self::INSTANT_TIMEOUT );
		foreach ( $pending as $delivery_id => $change ) {
			try {
				$donation = $this->source->get( $change['donation_id'] );
				if ( $donation ) {
					$body = $this->builder->body( $change['event'], $donation, $delivery_id, $change['changed_at'], $change['overrides'] );
					$this->queue->refresh_body( $delivery_id, $body );
				}
				if ( $send ) {
					$result = $this->queue->send( $delivery_id, $timeout );
					if ( is_array( $result ) && ! $result['ok'] && 0 === (int) $result['status'] ) {
						$send = false; // Unreachable: leave the rest to the cron rather than hold the request up.
					}
				}
			} catch ( Throwable $e ) {
				$this->note_problem( 'shutdown', $e );
			}
		}
	}

	/**
	 * WP-cron, every minute: the backfill's next page, the due deliveries, a daily prune.
	 */
	public function run_cron() {
		if ( ! $this->lock() ) {
			return;
		}
		try {
			$this->backfill->tick();
			$this->queue->process_due( 50, 25, self::SEND_TIMEOUT );
			$now = $this->queue->now();
			if ( $now - (int) get_option( self::OPTION_PRUNED, 0 ) >= 86400 ) {
				$this->queue->prune();
				update_option( self::OPTION_PRUNED, $now, false );
			}
		} catch ( Throwable $e ) {
			$this->note_problem( 'cron', $e );
		} finally {
			$this->unlock();
		}
	}

	/**
	 * «Test connection»: a signed bridge.ping, and the report of its answer.
	 *
	 * @return array The report (Blago24_Leyka_Bridge_Ping::report()).
	 */
	public function ping() {
		$body   = $this->builder->ping_body( 'ping-' . wp_generate_uuid4() );
		$result = $this->sender->post( $body, self::SEND_TIMEOUT );
		return Blago24_Leyka_Bridge_Ping::report( $result, $this->queue->now() );
	}

	/**
	 * The last problem a hook, the cron or the shutdown met (shown on the settings page).
	 *
	 * @return array{time:int,where:string,message:string}|null
	 */
	public function last_problem() {
		$problem = get_option( self::OPTION_PROBLEM, null );
		return is_array( $problem ) ? $problem : null;
	}

	/**
	 * Notes a problem without letting it out.
	 *
	 * @param string    $where Which hook or step.
	 * @param Throwable $error What happened.
	 */
	public function note_problem( $where, $error ) {
		try {
			$message = Blago24_Leyka_Bridge_Payload::clip( $error->getMessage(), 500 );
			update_option(
				self::OPTION_PROBLEM,
				array(
					'time'    => $this->queue->now(),
					'where'   => (string) $where,
					'message' => $message,
				),
				false
			);
			if ( defined( 'WP_DEBUG' ) && WP_DEBUG ) {
				error_log( 'blago24-leyka-bridge: ' . $where . ': ' . $message ); // phpcs:ignore WordPress.PHP.DevelopmentFunctions.error_log_error_log
			}
		} catch ( Throwable $e ) {
			unset( $e ); // Nothing more can be done; Leyka's request goes on.
		}
	}

	/**
	 * Takes the cron lock (one run at a time; a stale lock expires after ten minutes).
	 *
	 * @return bool
	 */
	private function lock() {
		$now = $this->queue->now();
		if ( add_option( self::OPTION_LOCK, $now + 600, '', 'no' ) ) {
			return true;
		}
		$until = (int) get_option( self::OPTION_LOCK, 0 );
		if ( $until < $now ) {
			update_option( self::OPTION_LOCK, $now + 600, false );
			return true;
		}
		return false;
	}

	/**
	 * Releases the cron lock.
	 */
	private function unlock() {
		delete_option( self::OPTION_LOCK );
	}
}
