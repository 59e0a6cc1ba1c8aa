"""Benchmarks and evidence scripts; run them as files (see bench/README.md)."""
