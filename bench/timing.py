"""Timing helpers shared by the benchmarks: median of several runs, reported as operations per second."""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def ops_per_second(fn: Callable[[], object], *, calls: int, runs: int = 5) -> float:
    """Call `fn` `calls` times in all, split over `runs` timed runs (after a short warm-up); return the
    calls per second of the median run, which shrugs off a run disturbed by another process."""
    per_run = max(1, calls // runs)
    for _ in range(min(per_run, 1000)):
        fn()
    durations = []
    for _ in range(runs):
        started = time.perf_counter()
        for _ in range(per_run):
            fn()
        durations.append(time.perf_counter() - started)
    return per_run / statistics.median(durations)


def report(label: str, ops: float, note: str = "") -> None:
    per_call_us = 1e6 / ops
    print(f"{label}: {ops:,.0f} ops/s ({per_call_us:.2f} µs per call){f'  {note}' if note else ''}")
