"""Benchmarks of the bridge against real throwaway servers; `bench/run` is the main one."""
