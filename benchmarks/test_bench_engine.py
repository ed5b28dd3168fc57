"""Engine-only throughput benchmarks (pytest-benchmark); see benchmarks/README.md.

Scenario at N CPUs: two nice-0 hogs per CPU, a SCHED_FIFO periodic task
(1 ms period, 100 us runtime) on every 16th CPU, HZ=250, 1 simulated second.
``test_engine_run`` times ``Simulation.run()`` only (the Simulation is built in
the untimed setup); ``test_engine_build`` times ``Simulation(cfg)`` at 8192 CPUs.
"""
from __future__ import annotations

import resource
import sys
from typing import Any

import pytest

import pcpsim as p

CPU_COUNTS = (64, 512, 4096, 8192)
BUILD_CPUS = 8192
DURATION = "1s"
SIM_SECONDS = p.parse_duration(DURATION, "duration") / 1e9
ROUNDS = 3


def engine_config(ncpu: int) -> p.Config:
    """The benchmark scenario at ``ncpu`` CPUs."""
    return p.Config(
        kernel="6.6",
        topology=p.Topology(nodes=1, cpus_per_node=ncpu),
        tasks=[p.hog("all", per_cpu=2),
               p.periodic(range(0, ncpu, 16), "1ms", "100us", policy="fifo", prio=50)],
        sched=p.Sched(hz=250),
        duration=DURATION,
        seed=0,
    )


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


@pytest.mark.benchmark(group="engine-run")
@pytest.mark.parametrize("ncpu", CPU_COUNTS)
def test_engine_run(benchmark: Any, ncpu: int) -> None:
    cfg = engine_config(ncpu)

    def setup() -> tuple[tuple[p.Simulation], dict[str, Any]]:  # untimed: build a fresh Simulation
        return (p.Simulation(cfg),), {}

    events: int = benchmark.pedantic(p.Simulation.run, setup=setup, rounds=ROUNDS,
                                     warmup_rounds=1, iterations=1)
    assert events > 0
    wall = record(benchmark, ncpu, events=events)
    if wall:
        benchmark.extra_info.update(
            events_per_s=round(events / wall),
            sim_cpu_seconds_per_wall_second=round(ncpu * SIM_SECONDS / wall, 1),
        )


@pytest.mark.benchmark(group="engine-build")
def test_engine_build(benchmark: Any) -> None:
    cfg = engine_config(BUILD_CPUS)
    sim: p.Simulation = benchmark.pedantic(p.Simulation, args=(cfg,), rounds=ROUNDS,
                                           warmup_rounds=1, iterations=1)
    assert sim.arrays["cpus"].shape == (BUILD_CPUS,)
    record(benchmark, BUILD_CPUS, tasks=len(sim.arrays["tasks"]))
