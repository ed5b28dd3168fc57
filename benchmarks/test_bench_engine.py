"""Engine-only throughput benchmarks (pytest-benchmark); see benchmarks/README.md.

Scenario at N CPUs: two nice-0 hogs per CPU, a SCHED_FIFO periodic task
(1 ms period, 100 us runtime) on every 16th CPU, HZ=250, 1 simulated second.
``test_engine_run`` times ``Simulation.run()`` only (the Simulation is built in
the untimed setup); ``test_engine_build`` times ``Simulation(cfg)`` at 8192 CPUs.
"""
from __future__ import annotations

from typing import Any

import pytest

import pcpsim as p
from conftest import ROUNDS, record

CPU_COUNTS = (64, 512, 4096, 8192)
BUILD_CPUS = 8192
DURATION = "1s"


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


@pytest.mark.benchmark(group="engine-run")
@pytest.mark.parametrize("ncpu", CPU_COUNTS)
def test_engine_run(timed_run: Any, ncpu: int) -> None:
    assert timed_run(engine_config(ncpu)) > 0


@pytest.mark.benchmark(group="engine-build")
def test_engine_build(benchmark: Any) -> None:
    cfg = engine_config(BUILD_CPUS)
    sim: p.Simulation = benchmark.pedantic(p.Simulation, args=(cfg,), rounds=ROUNDS,
                                           warmup_rounds=1, iterations=1)
    assert sim.arrays["cpus"].shape == (BUILD_CPUS,)
    record(benchmark, BUILD_CPUS, tasks=len(sim.arrays["tasks"]))
