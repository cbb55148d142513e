"""Benchmarks for memex-mcp: `python -m benchmarks` runs them all and writes BENCHMARKS.md."""
