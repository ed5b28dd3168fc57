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
    """What a run measured (MODEL.md 8), as numpy tables (dicts of equal-length
    arrays; times in ns).

    - ``tasks``: per task (``cpu``, ``kind``, ``policy``, ``nice``, ``prio``,
      ``spec`` = index of its Task spec or -1 for kernel threads, ``cpu_time``,
      ``wait_time``, ``nr_runs``, ``nr_preempted``, ``nr_wakeups``, ``nr_jobs``,
      ``deadline_misses``, ``stalls``, ``stall_ns``, ``drain_calls``,
      ``skipped_drains``, ``ooms``); ``task_names``.
    - ``cpus``: per CPU: ``busy_ns``, ``idle_ns``, ``overhead_ns`` (switches,
      wakeups), ``irq_drain_ns`` (drain IPI handlers), ``drain_ns``, ``work_ns``,
      ``reclaim_ns``, ``alloc_ns`` (CPU time by category, inside busy_ns),
      ``lock_spin_ns``, ``pcp_fallback``, event counts (``events``, ``ticks``,
      ``nr_switches``, ``nr_wakeups``, ``ipis``), final ``pcp_count``.
    - ``zones``: per zone: pages (``managed``, ``free``, ``pcp_pages``,
      ``in_use``), watermarks, ``batch``, ``high_min``, ``high_max``, lock
      statistics, ``reclaimed``, ``oom_events``.
    - ``pools``: per worker pool (3 per CPU: normal, highpri, drain kthread):
      ``cpu``, ``items_run``, ``maydays``, ``create_failures``, ``nr_items``
      (still queued).
    - ``calls``: per drain_all_pages() call: ``start``, ``end``, ``caller``,
      ``zone`` (-1 global), ``force``, ``skipped``, ``deadlock``, ``ntargets``,
      ``pages``, ``stranded``, ``slowest_cpu``, ``slowest_delay``,
      ``inversion_ns`` (time targets whose drain was pending ran tasks less
      important than the caller: priority inversion); ``end`` is -1
      for a call still waiting (or deadlocked) at the end; ``deadlocks`` counts
      the detected ones.
    - ``targets``: per target of every call: ``call``, ``cpu``, ``queued``,
      ``start`` (dispatch delay = start - queued), ``end``, ``pages``.
    - ``memory``: ``time`` and per zone ``free`` and ``pcp`` pages over time.
    - Histograms: ``wakeup_latency``/``response_time`` per periodic task id,
      ``alloc_stall`` per allocator spec name (its tasks share it), ``drain_latency`` and
      ``dispatch_delay`` over all calls.
    """

    now: int
    events: int
    tasks: dict[str, np.ndarray]
    cpus: dict[str, np.ndarray]
    task_names: list[str]
    wakeup_latency: dict[int, Histogram] = field(default_factory=dict)
    response_time: dict[int, Histogram] = field(default_factory=dict)
    alloc_stall: dict[str, Histogram] = field(default_factory=dict)
    drain_latency: Histogram = field(default_factory=lambda: Histogram.empty())
    dispatch_delay: Histogram = field(default_factory=lambda: Histogram.empty())
    zones: dict[str, np.ndarray] = field(default_factory=dict)
    pools: dict[str, np.ndarray] = field(default_factory=dict)
    calls: dict[str, np.ndarray] = field(default_factory=dict)
    targets: dict[str, np.ndarray] = field(default_factory=dict)
    memory: dict[str, np.ndarray] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    deadlocks: int = 0
    strategy: str = ""
    config: Any = None

    def task_ids(self, name: str) -> np.ndarray:
        """Ids of the tasks called ``name`` (a spec's name or a kernel thread's)."""
        return np.flatnonzero(np.asarray(self.task_names, dtype=object) == name)

    def merged(self, table: dict[Any, Histogram], name: str | None = None) -> Histogram:
        """One histogram of ``table`` over the tasks called ``name`` (all when None)."""
        ids = list(table) if name is None else [int(i) for i in self.task_ids(name)]
        h = Histogram.empty()
        for i in ids:
            h = h.merge(table[i])
        return h

    def conservation_error(self) -> int:
        """Largest |free + pcp + in_use - managed| over the zones (0 when pages are conserved)."""
        z = self.zones
        return int(np.abs(z["free"] + z["pcp_pages"] + z["in_use"] - z["managed"]).max()) if z else 0

    def summary(self) -> dict[str, Any]:
        """Headline figures as a plain dict."""
        ncpu = len(self.cpus["busy_ns"])
        real = self.calls["skipped"] == 0 if self.calls else np.zeros(0, bool)
        return {
            "strategy": self.strategy,
            "simulated_ns": self.now,
            "events": self.events,
            "cpus": ncpu,
            "tasks": len(self.tasks["cpu"]),
            "busy_fraction": float(self.cpus["busy_ns"].sum() / max(1, self.now * ncpu)),
            "context_switches": int(self.cpus["nr_switches"].sum()),
            "ticks": int(self.cpus["ticks"].sum()),
            "deadline_misses": int(self.tasks["deadline_misses"].sum()),
            "periodic_wakeup_latency_ns": self.merged(self.wakeup_latency).percentiles(),
            "drain_calls": int(real.sum()),
            "skipped_drains": int((~real).sum()),
            "drain_latency_ns": self.drain_latency.percentiles(),
            "dispatch_delay_ns": self.dispatch_delay.percentiles(),
            "alloc_stall_ns": self.merged(self.alloc_stall).percentiles(),
            "stranded_pages": int(self.calls["stranded"].sum()) if self.calls else 0,
            "oom_events": int(self.zones["oom_events"].sum()) if self.zones else 0,
            "drain_cpu_ns": int(self.cpus["drain_ns"].sum() + self.cpus["irq_drain_ns"].sum()),
            "deadlocks": self.deadlocks,
            "priority_inversion_ns": int(self.calls["inversion_ns"].sum()) if self.calls else 0,
            "dropped": self.dropped,
        }
