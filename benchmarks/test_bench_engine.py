"""Engine-only throughput benchmarks (pytest-benchmark); see benchmarks/README.md.

Scenario at N CPUs: two nice-0 hogs per CPU, a SCHED_FIFO periodic task
(1 ms period, 100 us runtime) on every 16th CPU, HZ=250, 1 simulated second.
``test_engine_run`` times ``Simulation.run()`` only (the Simulation is built in
the untimed setup); ``test_engine_build`` times ``Simulation(cfg)`` at 8192 CPUs.
``test_server_load_run`` times the run of ``server-4096``'s per-CPU load at the
same sizes (``configs.server_load_config``).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import pcpsim as p
from configs import engine_config, server_load_config
from conftest import ROUNDS, native_bytes, record

CPU_COUNTS = (64, 512, 4096, 8192)
BUILD_CPUS = 8192


@pytest.mark.benchmark(group="engine-run")
@pytest.mark.parametrize("ncpu", CPU_COUNTS)
def test_engine_run(timed_run: Any, ncpu: int) -> None:
    assert timed_run(engine_config(ncpu)) > 0


@pytest.mark.benchmark(group="server-load-run")
@pytest.mark.parametrize("ncpu", CPU_COUNTS)
def test_server_load_run(timed_run: Any, ncpu: int) -> None:
    """server-4096's per-CPU load at each size: its random-order timers
    (allocators' pcp boundaries, wakeups) are what the engine benchmark's
    hogs lack, and at thousands of CPUs their rows come from beyond the cache."""
    assert timed_run(server_load_config(ncpu)) > 0


@pytest.mark.benchmark(group="engine-build")
def test_engine_build(benchmark: Any) -> None:
    cfg = engine_config(BUILD_CPUS)
    sim: p.Simulation = benchmark.pedantic(p.Simulation, args=(cfg,), rounds=ROUNDS,
                                           warmup_rounds=1, iterations=1)
    assert sim.arrays["cpus"].shape == (BUILD_CPUS,)
    record(benchmark, BUILD_CPUS, tasks=len(sim.arrays["tasks"]),
           native_bytes_per_cpu=round(native_bytes(sim) / BUILD_CPUS))


# a run in a process of its own, so that ru_maxrss is its peak and nothing else's
PEAK_SCRIPT = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from configs import engine_config
import pcpsim as p
t0 = time.perf_counter()
sim = p.Simulation(engine_config(int(sys.argv[2])))
t1 = time.perf_counter()
events = sim.run()
t2 = time.perf_counter()
sim.results()                       # the histograms and tables, as a user gets them
# VmHWM, not ru_maxrss: on Linux the latter keeps the forking parent's peak across exec
with open("/proc/self/status") as f:
    hwm_kb = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
print(json.dumps({"events": events, "build_s": t1 - t0, "run_s": t2 - t1, "peak_rss_mb": hwm_kb / 1024}))
"""


@pytest.mark.benchmark(group="engine-peak-memory")
def test_engine_peak_memory(benchmark: Any) -> None:
    """Peak resident memory of a whole 8192-CPU run (build, 1 simulated second,
    results; histograms included, tracing off) in a fresh interpreter (Linux:
    its VmHWM)."""
    here = str(Path(__file__).parent)

    def child() -> dict[str, float]:
        out = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, here, str(BUILD_CPUS)], check=True,
                             capture_output=True, text=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    m = benchmark.pedantic(child, rounds=1, warmup_rounds=0, iterations=1)
    assert m["events"] > 0
    benchmark.extra_info.update(ncpu=BUILD_CPUS, child_peak_rss_mb=round(m["peak_rss_mb"], 1),
                                events=m["events"], build_s=round(m["build_s"], 3),
                                events_per_s=round(m["events"] / m["run_s"]))
