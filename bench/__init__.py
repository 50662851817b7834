"""Benchmarks: ``./dev bench`` (python -m bench). Results go to docs/benchmarks.md."""
