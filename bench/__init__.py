"""Load and latency benchmarks of passline (run by hand, not by the test suite)."""
