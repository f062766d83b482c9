<?php
/**
 * The delivery queue in its own table, {$wpdb->prefix}blago24_lb_deliveries.
 *
 * @package Blago24_Leyka_Bridge
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * The queue in a custom table created with dbDelta.
 */
class Blago24_Leyka_Bridge_Wpdb_Repository implements Blago24_Leyka_Bridge_Repository {

	const TABLE          = 'blago24_lb_deliveries';
	const SCHEMA_VERSION = '1';
	const OPTION_SCHEMA  = 'blago24_lb_db_version';

	/**
	 * The columns and their placeholders.
	 *
	 * @var array<string,string>
	 */
	const FORMATS = array(
		'delivery_id' => '%s',
		'event'       => '%s',
		'donation_id' => '%d',
		'body'        => '%s',
		'attempts'    => '%d',
		'next_try_at' => '%d',
		'last_try_at' => '%d',
		'last_status' => '%d',
		'last_error'  => '%s',
		'sent_at'     => '%d',
		'created_at'  => '%d',
	);

	/**
	 * The database.
	 *
	 * @var wpdb
	 */
	private $db;

	/**
	 * The table's full name.
	 *
	 * @var string
	 */
	private $table;

	/**
	 * Uses the given wpdb, or the global one.
	 *
	 * @param wpdb|null $db Database.
	 */
	public function __construct( $db = null ) {
		if ( null === $db ) {
			global $wpdb;
			$db = $wpdb;
		}
		$this->db    = $db;
		$this->table = $db->prefix . self::TABLE;
	}

	/**
	 * The table's full name.
	 *
	 * @return string
	 */
	public function table() {
		return $this->table;
	}

	/**
	 * The CREATE TABLE statement in dbDelta's format.
	 *
	 * @param string $table           Full table name.
	 * @param string $charset_collate The site's charset and collation clause.
	 * @return string
	 */
	public static function schema( $table, $charset_collate ) {
		return "CREATE TABLE {$table} (
  id bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  delivery_id varchar(100) NOT NULL,
  event varchar(40) NOT NULL DEFAULT '',
  donation_id bigint(20) unsigned NOT NULL DEFAULT 0,
  body longtext NOT NULL,
  attempts int(10) unsigned NOT NULL DEFAULT 0,
  next_try_at bigint(20) unsigned NOT NULL DEFAULT 0,
  last_try_at bigint(20) unsigned DEFAULT NULL,
  last_status smallint(5) unsigned NOT NULL DEFAULT 0,
  last_error text NULL,
  sent_at bigint(20) unsigned DEFAULT NULL,
  created_at bigint(20) unsigned NOT NULL DEFAULT 0,
  PRIMARY KEY  (id),
  UNIQUE KEY delivery_id (delivery_id),
  KEY unsent (sent_at,next_try_at)
) {$charset_collate};";
	}

	/**
	 * Creates or upgrades the table.
	 */
	public function install() {
		if ( ! function_exists( 'dbDelta' ) ) {
			require_once ABSPATH . 'wp-admin/includes/upgrade.php';
		}
		dbDelta( self::schema( $this->table, $this->db->get_charset_collate() ) );
		update_option( self::OPTION_SCHEMA, self::SCHEMA_VERSION, true );
	}

	/**
	 * Creates the table when this site has not got the current schema yet (an update of the plugin's
	 * files, or a site of a network where the plugin was never activated).
	 */
	public function maybe_install() {
		if ( self::SCHEMA_VERSION !== (string) get_option( self::OPTION_SCHEMA, '' ) ) {
			$this->install();
		}
	}

	/**
	 * Drops the table (uninstall).
	 */
	public function drop() {
		$this->db->query( "DROP TABLE IF EXISTS {$this->table}" ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared,WordPress.DB.DirectDatabaseQuery
		delete_option( self::OPTION_SCHEMA );
	}

	/**
	 * {@inheritDoc}
	 *
	 * @param array $row Row.
	 * @return bool
	 */
	public function insert( array $row ) {
		$sql = "INSERT IGNORE INTO {$this->table} (delivery_id, event, donation_id, body, attempts, next_try_at, last_status, last_error, created_at) VALUES (%s, %s, %d, %s, %d, %d, %d, %s, %d)";
		$res = $this->db->query( // phpcs:ignore WordPress.DB.DirectDatabaseQuery
			$this->db->prepare( // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
				$sql,
				(string) $row['delivery_id'],
				(string) $row['event'],
				(int) $row['donation_id'],
				(string) $row['body'],
				isset( $row['attempts'] ) ? (int) $row['attempts'] : 0,
				(int) $row['next_try_at'],
				isset( $row['last_status'] ) ? (int) $row['last_status'] : 0,
				isset( $row['last_error'] ) ? (string) $row['last_error'] : '',
				(int) $row['created_at']
			)
		);
		if ( false === $res ) {
			throw new RuntimeException( 'blago24-leyka-bridge: the delivery could not be stored: ' . $this->db->last_error );
		}
		return 1 === (int) $res;
	}

	/**
	 * {@inheritDoc}
	 *
	 * @param string $delivery_id Delivery id.
	 * @return array|null
	 */
	public function find( $delivery_id ) {
		$row = $this->db->get_row( // phpcs:ignore WordPress.DB.DirectDatabaseQuery
			$this->db->prepare( "SELECT * FROM {$this->table} WHERE delivery_id = %s", (string) $delivery_id ), // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
			ARRAY_A
		);
		return is_array( $row ) ? self::typed( $row ) : null;
	}

	/**
	 * {@inheritDoc}
	 *
	 * @param string $delivery_id Delivery id.
	 * @param array  $fields      Field => value.
	 * @return bool
	 */
	public function update( $delivery_id, array $fields ) {
		$fields  = array_intersect_key( $fields, self::FORMATS );
		$formats = array();
		foreach ( array_keys( $fields ) as $key ) {
			$formats[] = self::FORMATS[ $key ];
		}
		if ( ! $fields ) {
			return false;
		}
		$res = $this->db->update( $this->table, $fields, array( 'delivery_id' => (string) $delivery_id ), $formats, array( '%s' ) ); // phpcs:ignore WordPress.DB.DirectDatabaseQuery
		if ( false === $res ) {
			throw new RuntimeException( 'blago24-leyka-bridge: the delivery could not be updated: ' . $this->db->last_error );
		}
		return true;
	}

	/**
	 * {@inheritDoc}
	 *
	 * @param int $now   Unix seconds.
	 * @param int $limit At most this many.
	 * @return array[]
	 */
	public function due( $now, $limit ) {
		$rows = $this->db->get_results( // phpcs:ignore WordPress.DB.DirectDatabaseQuery
			$this->db->prepare( "SELECT * FROM {$this->table} WHERE sent_at IS NULL AND next_try_at <= %d ORDER BY next_try_at ASC, id ASC LIMIT %d", (int) $now, (int) $limit ), // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
			ARRAY_A
		);
		return array_map( array( __CLASS__, 'typed' ), is_array( $rows ) ? $rows : array() );
	}

	/**
	 * {@inheritDoc}
	 *
	 * @param int $limit At most this many.
	 * @return array[]
	 */
	public function recent( $limit ) {
		$rows = $this->db->get_results( // phpcs:ignore WordPress.DB.DirectDatabaseQuery
			$this->db->prepare( "SELECT * FROM {$this->table} ORDER BY id DESC LIMIT %d", (int) $limit ), // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
			ARRAY_A
		);
		return array_map( array( __CLASS__, 'typed' ), is_array( $rows ) ? $rows : array() );
	}

	/**
	 * {@inheritDoc}
	 *
	 * @return array{unsent:int,failing:int,sent:int}
	 */
	public function counts() {
		$row = $this->db->get_row( "SELECT SUM(sent_at IS NULL) AS unsent, SUM(sent_at IS NULL AND attempts > 0) AS failing, SUM(sent_at IS NOT NULL) AS sent FROM {$this->table}", ARRAY_A ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared,WordPress.DB.DirectDatabaseQuery
		return array(
			'unsent'  => isset( $row['unsent'] ) ? (int) $row['unsent'] : 0,
			'failing' => isset( $row['failing'] ) ? (int) $row['failing'] : 0,
			'sent'    => isset( $row['sent'] ) ? (int) $row['sent'] : 0,
		);
	}

	/**
	 * {@inheritDoc}
	 *
	 * @param int $when Unix seconds.
	 * @return int
	 */
	public function reschedule_unsent( $when ) {
		return (int) $this->db->query( // phpcs:ignore WordPress.DB.DirectDatabaseQuery
			$this->db->prepare( "UPDATE {$this->table} SET next_try_at = %d WHERE sent_at IS NULL", (int) $when ) // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
		);
	}

	/**
	 * {@inheritDoc}
	 *
	 * @param int $before Unix seconds.
	 * @return int
	 */
	public function prune_sent_before( $before ) {
		return (int) $this->db->query( // phpcs:ignore WordPress.DB.DirectDatabaseQuery
			$this->db->prepare( "DELETE FROM {$this->table} WHERE sent_at IS NOT NULL AND sent_at < %d LIMIT 5000", (int) $before ) // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
		);
	}

	/**
	 * A row with its numbers as integers and an unsent row's sent_at as null.
	 *
	 * @param array $row Row as MySQL returns it (all strings).
	 * @return array
	 */
	public static function typed( array $row ) {
		foreach ( array( 'id', 'donation_id', 'attempts', 'next_try_at', 'last_status', 'created_at' ) as $key ) {
			$row[ $key ] = isset( $row[ $key ] ) ? (int) $row[ $key ] : 0;
		}
		foreach ( array( 'last_try_at', 'sent_at' ) as $key ) {
			$row[ $key ] = isset( $row[ $key ] ) && '' !== $row[ $key ] ? (int) $row[ $key ] : null;
		}
		$row['last_error'] = isset( $row['last_error'] ) ? (string) $row['last_error'] : '';
		return $row;
	}
}
