<?php
/**
 * A tiny test runner: blago24_test() registers, blago24_run_tests() runs, prints one summary line and
 * exits non-zero on any failure. Warnings and notices count as failures.
 *
 * @package Blago24_Leyka_Bridge
 */

/**
 * Thrown by a failed assertion.
 */
class Blago24_Assertion_Failed extends Exception {
}

/**
 * The runner's state.
 */
final class Blago24_Test_Run {
	/**
	 * Registered tests: [name, callable].
	 *
	 * @var array
	 */
	public static $tests = array();

	/**
	 * Assertions made.
	 *
	 * @var int
	 */
	public static $assertions = 0;
}

/**
 * Registers a test.
 *
 * @param string   $name Name.
 * @param callable $fn   Body.
 */
function blago24_test( $name, $fn ) {
	Blago24_Test_Run::$tests[] = array( $name, $fn );
}

/**
 * A value for a failure message.
 *
 * @param mixed $value Value.
 * @return string
 */
function blago24_export( $value ) {
	$text = var_export( $value, true );
	return strlen( $text ) > 600 ? substr( $text, 0, 600 ) . '…' : $text;
}

/**
 * Fails the test.
 *
 * @param string $message Message.
 * @throws Blago24_Assertion_Failed Always.
 */
function blago24_fail( $message ) {
	throw new Blago24_Assertion_Failed( $message );
}

/**
 * Strict equality.
 *
 * @param mixed  $expected Expected.
 * @param mixed  $actual   Actual.
 * @param string $message  What is checked.
 */
function assert_same( $expected, $actual, $message = '' ) {
	++Blago24_Test_Run::$assertions;
	if ( $expected !== $actual ) {
		blago24_fail( ( '' !== $message ? $message . ': ' : '' ) . 'expected ' . blago24_export( $expected ) . ', got ' . blago24_export( $actual ) );
	}
}

/**
 * A true condition.
 *
 * @param mixed  $condition Condition.
 * @param string $message   What is checked.
 */
function assert_true( $condition, $message = '' ) {
	++Blago24_Test_Run::$assertions;
	if ( true !== $condition ) {
		blago24_fail( ( '' !== $message ? $message : 'condition' ) . ' is not true (got ' . blago24_export( $condition ) . ')' );
	}
}

/**
 * A false condition.
 *
 * @param mixed  $condition Condition.
 * @param string $message   What is checked.
 */
function assert_false( $condition, $message = '' ) {
	++Blago24_Test_Run::$assertions;
	if ( false !== $condition ) {
		blago24_fail( ( '' !== $message ? $message : 'condition' ) . ' is not false (got ' . blago24_export( $condition ) . ')' );
	}
}

/**
 * A substring.
 *
 * @param string $needle   Needle.
 * @param string $haystack Haystack.
 * @param string $message  What is checked.
 */
function assert_contains( $needle, $haystack, $message = '' ) {
	++Blago24_Test_Run::$assertions;
	if ( false === strpos( (string) $haystack, (string) $needle ) ) {
		blago24_fail( ( '' !== $message ? $message . ': ' : '' ) . blago24_export( $needle ) . ' not found in ' . blago24_export( $haystack ) );
	}
}

/**
 * No such substring.
 *
 * @param string $needle   Needle.
 * @param string $haystack Haystack.
 * @param string $message  What is checked.
 */
function assert_not_contains( $needle, $haystack, $message = '' ) {
	++Blago24_Test_Run::$assertions;
	if ( false !== strpos( (string) $haystack, (string) $needle ) ) {
		blago24_fail( ( '' !== $message ? $message . ': ' : '' ) . blago24_export( $needle ) . ' found in ' . blago24_export( $haystack ) );
	}
}

/**
 * A regular expression match.
 *
 * @param string $pattern Pattern.
 * @param string $subject Subject.
 * @param string $message What is checked.
 */
function assert_matches( $pattern, $subject, $message = '' ) {
	++Blago24_Test_Run::$assertions;
	if ( ! preg_match( $pattern, (string) $subject ) ) {
		blago24_fail( ( '' !== $message ? $message . ': ' : '' ) . blago24_export( $subject ) . ' does not match ' . $pattern );
	}
}

/**
 * The callable throws an instance of $class; returns it.
 *
 * @param callable $fn      Code.
 * @param string   $class   Expected class.
 * @param string   $message What is checked.
 * @return Throwable
 */
function assert_throws( $fn, $class, $message = '' ) {
	++Blago24_Test_Run::$assertions;
	try {
		$fn();
	} catch ( Throwable $e ) {
		if ( $e instanceof $class ) {
			return $e;
		}
		blago24_fail( ( '' !== $message ? $message . ': ' : '' ) . 'expected ' . $class . ', got ' . get_class( $e ) . ': ' . $e->getMessage() );
	}
	blago24_fail( ( '' !== $message ? $message . ': ' : '' ) . 'expected ' . $class . ', nothing was thrown' );
	return null;
}

/**
 * Runs the registered tests and exits: 0 when all passed, 1 otherwise.
 *
 * @param string $file The test file (for the summary line).
 */
function blago24_run_tests( $file ) {
	$name     = basename( $file );
	$failures = array();
	set_error_handler(
		function ( $severity, $message, $where, $line ) {
			throw new ErrorException( $message, 0, $severity, $where, $line );
		}
	);
	foreach ( Blago24_Test_Run::$tests as $test ) {
		list( $title, $fn ) = $test;
		blago24_stub_reset();
		ob_start();
		try {
			$fn();
		} catch ( Throwable $e ) {
			$where      = $e instanceof Blago24_Assertion_Failed ? blago24_test_location( $e ) : basename( $e->getFile() ) . ':' . $e->getLine() . ', in ' . blago24_test_location( $e );
			$failures[] = sprintf( "  FAIL %s\n       %s: %s (%s)", $title, get_class( $e ), $e->getMessage(), $where );
		}
		ob_end_clean();
	}
	restore_error_handler();
	$count = count( Blago24_Test_Run::$tests );
	if ( $failures ) {
		fwrite( STDOUT, implode( "\n", $failures ) . "\n" );
		fwrite( STDOUT, sprintf( "%s: FAILED, %d of %d tests failed (%d assertions)\n", $name, count( $failures ), $count, Blago24_Test_Run::$assertions ) );
		exit( 1 );
	}
	if ( 0 === $count ) {
		fwrite( STDOUT, $name . ": FAILED, no tests\n" );
		exit( 1 );
	}
	fwrite( STDOUT, sprintf( "%s: OK, %d tests, %d assertions\n", $name, $count, Blago24_Test_Run::$assertions ) );
	exit( 0 );
}

/**
 * Where in a test file an assertion failed.
 *
 * @param Throwable $e The failure.
 * @return string
 */
function blago24_test_location( $e ) {
	foreach ( $e->getTrace() as $frame ) {
		if ( isset( $frame['file'] ) && 0 === strpos( basename( $frame['file'] ), 'test-' ) ) {
			return basename( $frame['file'] ) . ':' . $frame['line'];
		}
	}
	return basename( $e->getFile() ) . ':' . $e->getLine();
}
