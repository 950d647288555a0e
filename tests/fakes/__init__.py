"""Fake upstream servers used by the test suite and the benchmarks."""
