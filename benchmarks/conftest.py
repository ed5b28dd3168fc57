"""Shared helpers of the benchmarks: time ``Simulation.run()`` only and record
the figures every benchmark reports in ``extra_info``."""
from __future__ import annotations

import resource
import sys
from collections.abc import Callable
from typing import Any

import pytest

import pcpsim as p

ROUNDS = 3


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (ru_maxrss is KiB on
    Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def record(benchmark: Any, ncpu: int, **extra: float) -> float | None:
    """Store ncpu, peak RSS and ``extra`` in extra_info; return the mean wall
    seconds (None when timing is off, e.g. ``--benchmark-disable``)."""
    benchmark.extra_info.update(ncpu=ncpu, peak_rss_mb=round(peak_rss_mb(), 1), **extra)
    return benchmark.stats.stats.mean if benchmark.stats is not None else None


def native_bytes(sim: p.Simulation) -> int:
    """Bytes of the engine's arrays: the whole native state of a run."""
    return sum(a.nbytes for a in sim.arrays.values())


@pytest.fixture
def timed_run(benchmark: Any) -> Callable[..., int]:
    """Time ``Simulation(cfg).run()`` (building excluded) and record events/s,
    simulated CPU-seconds per wall second and the native state's size."""

    def run(cfg: p.Config, rounds: int = ROUNDS, warmup_rounds: int = 1) -> int:
        sizes = []

        def setup() -> tuple[tuple[p.Simulation], dict[str, Any]]:  # untimed: a fresh Simulation
            sim = p.Simulation(cfg)
            sizes.append(native_bytes(sim))
            return (sim,), {}

        events: int = benchmark.pedantic(p.Simulation.run, setup=setup, rounds=rounds,
                                         warmup_rounds=warmup_rounds, iterations=1)
        benchmark.extra_info.update(native_bytes_per_cpu=round(sizes[-1] / cfg.topology.ncpu))
        ncpu = cfg.topology.ncpu
        wall = record(benchmark, ncpu, events=events)
        if wall:
            seconds = p.parse_duration(cfg.duration, "duration") / 1e9
            benchmark.extra_info.update(events_per_s=round(events / wall),
                                        sim_cpu_seconds_per_wall_second=round(ncpu * seconds / wall, 1))
        return events

    return run
