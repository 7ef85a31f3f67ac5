"""Fakes of external services for tests and benchmarks (loopback servers, never the real thing)."""
