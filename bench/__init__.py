"""Micro-benchmarks: `make bench` (python -m bench [name ...]). Each bench/bench_*.py has `run()`."""
