"""Results of a run: per-task and per-CPU tables and latency histograms (MODEL.md 8)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pcpsim import _core

PERCENTILES = (50.0, 90.0, 99.0, 99.9)

#: lower bound (ns) of every histogram bucket; the last entry starts the overflow
BUCKET_LOWER = _core.hist_bucket_bounds()


@dataclass
class Histogram:
    """A log-linear latency histogram (HDR-style, < 0.8 % bucket width, 1 ns to
    1100 s). ``count``, ``min``, ``max`` and ``mean`` are exact; percentiles are
    within one bucket (the midpoint of the bucket is reported, clamped to the
    exact min and max)."""

    counts: np.ndarray
    count: int = 0
    total: int = 0
    min: int = 0
    max: int = 0
    overflow: int = 0

    @classmethod
    def from_engine(cls, counts: np.ndarray, stats: np.void) -> Histogram:
        return cls(counts.copy(), int(stats["count"]), int(stats["total"]), int(stats["min"]),
                   int(stats["max"]), int(stats["overflow"]))

    @classmethod
    def empty(cls) -> Histogram:
        return cls(np.zeros(_core.HIST_NBUCKETS, dtype=np.int64))

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else float("nan")

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile (0..100) in ns; NaN when empty."""
        if not 0 <= q <= 100:
            raise ValueError(f"percentile q={q!r}: expected a number in 0..100")
        if self.count == 0:
            return float("nan")
        rank = max(1, int(np.ceil(q / 100.0 * self.count)))
        cum = np.cumsum(self.counts)
        if rank > cum[-1]:
            return float(self.max)  # in the overflow region
        b = int(np.searchsorted(cum, rank))
        lo, hi = BUCKET_LOWER[b], BUCKET_LOWER[b + 1]
        mid = lo if hi - lo <= 1 else (lo + hi - 1) / 2.0
        return float(min(max(mid, self.min), self.max))

    def percentiles(self) -> dict[str, float]:
        out = {f"p{q:g}": self.percentile(q) for q in PERCENTILES}
        out["max"] = float(self.max) if self.count else float("nan")
        return out

    def merge(self, other: Histogram) -> Histogram:
        """The histogram of both sample sets."""
        if self.count == 0:
            return Histogram(other.counts.copy(), other.count, other.total, other.min, other.max, other.overflow)
        if other.count == 0:
            return Histogram(self.counts.copy(), self.count, self.total, self.min, self.max, self.overflow)
        return Histogram(self.counts + other.counts, self.count + other.count, self.total + other.total,
                         min(self.min, other.min), max(self.max, other.max), self.overflow + other.overflow)


@dataclass
class Results:
    """What a run measured, as numpy tables.

    ``tasks``: one row per task (``cpu``, ``kind``, ``policy``, ``nice``, ``prio``,
    ``spec`` = index of the Task spec it came from, ``cpu_time``, ``wait_time``,
    ``nr_runs``, ``nr_preempted``, ``nr_wakeups``, ``nr_jobs``,
    ``deadline_misses``; times in ns). ``cpus``: one row per CPU (``busy_ns``,
    ``idle_ns``, ``overhead_ns``, ``events``, ``ticks``, ``nr_switches``,
    ``nr_wakeups``). ``wakeup_latency`` and ``response_time``: a Histogram per
    task id of every periodic task.
    """

    now: int
    events: int
    tasks: dict[str, np.ndarray]
    cpus: dict[str, np.ndarray]
    task_names: list[str]
    wakeup_latency: dict[int, Histogram] = field(default_factory=dict)
    response_time: dict[int, Histogram] = field(default_factory=dict)
    config: Any = None

    def task_ids(self, name: str) -> np.ndarray:
        """Ids of the tasks of the spec called ``name``."""
        return np.flatnonzero(np.asarray(self.task_names, dtype=object) == name)

    def summary(self) -> dict[str, Any]:
        """Headline figures as a plain dict."""
        lat = Histogram.empty()
        for h in self.wakeup_latency.values():
            lat = lat.merge(h)
        return {
            "simulated_ns": self.now,
            "events": self.events,
            "cpus": len(self.cpus["busy_ns"]),
            "tasks": len(self.tasks["cpu"]),
            "busy_fraction": float(self.cpus["busy_ns"].sum() / max(1, self.now * len(self.cpus["busy_ns"]))),
            "context_switches": int(self.cpus["nr_switches"].sum()),
            "ticks": int(self.cpus["ticks"].sum()),
            "deadline_misses": int(self.tasks["deadline_misses"].sum()),
            "periodic_wakeup_latency_ns": lat.percentiles(),
        }
