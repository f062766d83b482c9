<?php
/**
 * A wpdb stand-in that records the SQL it is given and answers what a test queued.
 *
 * There is no MySQL (nor SQLite) here: the SQL-level tests check the statements' shape.
 *
 * @package Blago24_Leyka_Bridge
 */

/**
 * Records queries; prepare() quotes like wpdb's.
 */
class Blago24_Fake_Wpdb {

	/**
	 * Table prefix.
	 *
	 * @var string
	 */
	public $prefix = 'wp_';

	/**
	 * Posts table.
	 *
	 * @var string
	 */
	public $posts = 'wp_posts';

	/**
	 * The last error.
	 *
	 * @var string
	 */
	public $last_error = '';

	/**
	 * Every statement run, in order.
	 *
	 * @var string[]
	 */
	public $queries = array();

	/**
	 * Queued answers, by method.
	 *
	 * @var array
	 */
	public $answers = array();

	/**
	 * Updates made: [table, data, where, formats].
	 *
	 * @var array
	 */
	public $updates = array();

	/**
	 * Like wpdb::prepare(): %d, %f and %s (quoted) in order.
	 *
	 * @param string $query SQL with placeholders.
	 * @param mixed  ...$args Values.
	 * @return string
	 */
	public function prepare( $query, ...$args ) {
		if ( 1 === count( $args ) && is_array( $args[0] ) ) {
			$args = $args[0];
		}
		$i = 0;
		return preg_replace_callback(
			'/%[dsf]/',
			function ( $m ) use ( &$i, $args ) {
				$value = $args[ $i++ ];
				if ( '%d' === $m[0] ) {
					return (string) (int) $value;
				}
				if ( '%f' === $m[0] ) {
					return (string) (float) $value;
				}
				return "'" . addslashes( (string) $value ) . "'";
			},
			$query
		);
	}

	/**
	 * The next queued answer of a method.
	 *
	 * @param string $method  Method.
	 * @param mixed  $default When none is queued.
	 * @return mixed
	 */
	private function answer( $method, $default ) {
		if ( ! empty( $this->answers[ $method ] ) ) {
			return array_shift( $this->answers[ $method ] );
		}
		return $default;
	}

	public function query( $sql ) {
		$this->queries[] = $sql;
		return $this->answer( 'query', 1 );
	}

	public function get_col( $sql ) {
		$this->queries[] = $sql;
		return $this->answer( 'get_col', array() );
	}

	public function get_row( $sql, $output = null ) {
		$this->queries[] = $sql;
		return $this->answer( 'get_row', null );
	}

	public function get_results( $sql, $output = null ) {
		$this->queries[] = $sql;
		return $this->answer( 'get_results', array() );
	}

	public function update( $table, $data, $where, $formats = null, $where_formats = null ) {
		$this->updates[] = array( $table, $data, $where, $formats );
		return $this->answer( 'update', 1 );
	}

	public function get_charset_collate() {
		return 'DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci';
	}
}
