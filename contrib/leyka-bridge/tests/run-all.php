<?php
/**
 * Runs every tests/test-*.php in its own php process: `php contrib/leyka-bridge/tests/run-all.php`.
 * Prints each file's summary, then one line for all; exits non-zero when any file failed.
 *
 * @package Blago24_Leyka_Bridge
 */

$blago24_files  = glob( __DIR__ . '/test-*.php' );
$blago24_failed = array();
sort( $blago24_files );
foreach ( $blago24_files as $blago24_file ) {
	$blago24_output = array();
	exec( escapeshellarg( PHP_BINARY ) . ' ' . escapeshellarg( $blago24_file ) . ' 2>&1', $blago24_output, $blago24_code );
	echo implode( "\n", $blago24_output ), "\n";
	if ( 0 !== $blago24_code ) {
		$blago24_failed[] = basename( $blago24_file );
	}
}
if ( ! $blago24_files ) {
	echo "leyka-bridge: FAILED, no test files\n";
	exit( 1 );
}
if ( $blago24_failed ) {
	echo 'leyka-bridge: FAILED: ', implode( ', ', $blago24_failed ), ' (', count( $blago24_failed ), ' of ', count( $blago24_files ), " files)\n";
	exit( 1 );
}
echo 'leyka-bridge: OK, ', count( $blago24_files ), " test files passed\n";
exit( 0 );
