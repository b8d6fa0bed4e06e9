"""Throughput and latency harnesses (see benchmarks/README.md)."""
