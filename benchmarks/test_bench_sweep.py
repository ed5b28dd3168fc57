"""Sweep throughput (pytest-benchmark): points per second through the local
process pool with 1 and 2 workers, and in-process (``sequential``, no pool).

The grid: the ``phone`` scenario (10 simulated seconds) x 6 drain strategies x
2 loads (``tasks[0].per_cpu`` 1 or 2) x 3 seeds = 36 points of about 35 ms each.
Every round is a fresh sweep into a new folder, so each round pays the pool's
start-up (spawned workers import numpy and pcpsim) and the per-point file
writes. ``extra_info``: ``points``, ``points_per_s``.
"""
from __future__ import annotations

import itertools
from typing import Any

import pytest

from pcpsim import sweep
from pcpsim.config import STRATEGIES
from pcpsim.scenarios import phone

GRID = {"drain.strategy": list(STRATEGIES), "tasks[0].per_cpu": [1, 2]}
SEEDS = 3
POINTS = len(STRATEGIES) * 2 * SEEDS
_round = itertools.count()


@pytest.mark.benchmark(group="sweep-throughput")
@pytest.mark.parametrize("workers", [0, 1, 2], ids=["sequential", "1-worker", "2-workers"])
def test_sweep_throughput(benchmark: Any, workers: int, tmp_path: Any) -> None:
    base = phone("workqueue")
    base.duration = "10s"
    executor = "sequential" if workers == 0 else None

    def setup() -> tuple[tuple[()], dict[str, Any]]:          # untimed: a fresh output folder
        return (), {"out": tmp_path / f"round{next(_round)}"}

    def run(out: Any) -> sweep.SweepReport:
        return sweep.sweep(base, GRID, seeds=SEEDS, out=out, executor=executor, workers=workers or None,
                           progress=False)

    report = benchmark.pedantic(run, setup=setup, rounds=3, warmup_rounds=0, iterations=1)
    assert (report.done, report.failed) == (POINTS, 0)
    benchmark.extra_info.update(points=POINTS, workers=workers)
    if benchmark.stats is not None:
        benchmark.extra_info["points_per_s"] = round(POINTS / benchmark.stats.stats.mean, 1)
