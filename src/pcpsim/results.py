"""Results of a run: per-task and per-CPU tables and latency histograms (MODEL.md 8).

Besides the numpy tables and histograms: ``Results.to_pandas(table)``,
``Results.save(path)`` / ``Results.load(path)`` (``.npz``; Parquet with
pyarrow), ``Results.cyclictest_histogram()`` (cyclictest's ``--histogram``
text) and ``Histogram.to_hdr_text()`` (HdrHistogram's percentile distribution).
"""
from __future__ import annotations

import importlib
import json
import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from pcpsim import _core

PERCENTILES = (50.0, 90.0, 99.0, 99.9)
TABLES = ("tasks", "cpus", "zones", "pools", "calls", "targets", "memory")
HIST_GROUPS = ("wakeup_latency", "response_time", "alloc_stall", "drain_latency", "dispatch_delay")
UNITS_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
FORMAT_VERSION = 1

#: lower bound (ns) of every histogram bucket; the last entry starts the overflow
#: (set here from the last bucket's width: _core.hist_bucket_bounds() gives 0 there)
BUCKET_LOWER = _core.hist_bucket_bounds()
#: HdrHistogram's description of the same layout (2 significant digits, values < 2^40)
HDR_BUCKETS, HDR_SUB_BUCKETS = (_core.HIST_NBUCKETS - 128) // 128, 256


def _require(module: str, extra: str) -> ModuleType:
    """Import an optional dependency, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(f"{module} is needed for this; install it with: pip install \"pcpsim[{extra}]\"") from e


def _unit(unit: str) -> int:
    if unit not in UNITS_NS:
        raise ValueError(f"unit = {unit!r}: expected one of {', '.join(UNITS_NS)}")
    return UNITS_NS[unit]


def _same(a: object, b: object) -> bool:
    """Deep equality for results: arrays equal in dtype, shape and values (NaN
    equals NaN), dicts in keys and values, sequences item by item."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype
                and a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return bool(a == b)


@dataclass(eq=False)
class Histogram:
    """A log-linear latency histogram (HdrHistogram's layout with 2 significant
    digits: values below 256 ns exact, above them buckets at most 1/128 of their
    value wide, up to 2^40 ns = 1100 s; larger values are counted in
    ``overflow``). ``count``, ``total``, ``min``, ``max`` and ``mean`` are exact;
    percentiles are within one bucket (the midpoint of the bucket is reported,
    clamped to the exact min and max)."""

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

    @classmethod
    def from_samples(cls, values: Any) -> Histogram:
        """The histogram of integer nanosecond ``values``, bucketed as the engine
        does (negative values count as 0)."""
        v = np.maximum(np.asarray(values, dtype=np.int64).ravel(), 0)
        if v.size == 0:
            return cls.empty()
        inside = v < BUCKET_LOWER[-1]
        b = np.searchsorted(BUCKET_LOWER, v[inside], side="right") - 1
        counts = np.bincount(b, minlength=_core.HIST_NBUCKETS).astype(np.int64)
        return cls(counts, int(v.size), int(v.sum()), int(v.min()), int(v.max()), int(v.size - inside.sum()))

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickled sparse: the non-empty buckets only."""
        b = np.flatnonzero(self.counts)
        return _sparse_histogram, (len(self.counts), b, self.counts[b], self.count, self.total, self.min, self.max,
                                   self.overflow)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Histogram):
            return NotImplemented
        return all(_same(getattr(self, f.name), getattr(other, f.name)) for f in fields(self))

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else float("nan")

    def _value(self, b: np.ndarray | int) -> np.ndarray:
        """The value reported for bucket(s) ``b``: its midpoint (its value when
        the bucket is 1 ns wide), clamped to the exact min and max."""
        lo, hi = BUCKET_LOWER[b], BUCKET_LOWER[np.add(b, 1)]
        mid = np.where(hi - lo <= 1, lo, (lo + hi - 1) / 2.0)
        return np.clip(mid, self.min, self.max)

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile (0..100) in ns, by the inverted CDF (the
        smallest value with at least ``q`` % of the samples at or below it, as
        ``numpy.percentile(method="inverted_cdf")``), within one bucket (exact
        for the smallest and the largest sample); NaN when empty."""
        if not 0 <= q <= 100:
            raise ValueError(f"percentile q={q!r}: expected a number in 0..100")
        if self.count == 0:
            return float("nan")
        rank = max(1, int(np.ceil(q / 100.0 * self.count)))
        if rank == 1 or rank == self.count:
            return float(self.min if rank == 1 else self.max)      # exact
        cum = np.cumsum(self.counts)
        if rank > cum[-1]:
            return float(self.max)  # in the overflow region
        return float(self._value(int(np.searchsorted(cum, rank))))

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

    def to_buckets(self) -> dict[str, np.ndarray]:
        """The non-empty buckets: ``lower_ns``, ``upper_ns`` (exclusive) and
        ``count``; the overflow, if any, is a last row ``[2^40, max + 1)``."""
        b = np.flatnonzero(self.counts)
        lower, upper, count = BUCKET_LOWER[b], BUCKET_LOWER[b + 1], self.counts[b]
        if self.overflow:
            lower, upper = np.append(lower, BUCKET_LOWER[-1]), np.append(upper, self.max + 1)
            count = np.append(count, self.overflow)
        return {"lower_ns": lower.astype(np.int64), "upper_ns": upper.astype(np.int64),
                "count": count.astype(np.int64)}

    def linear_counts(self, width_ns: int, n: int) -> np.ndarray:
        """Counts in ``n`` linear bins ``[k * width_ns, (k + 1) * width_ns)`` and,
        last (``n + 1`` entries), the count at or above ``n * width_ns``. A bucket
        is counted in the bin of its lower bound: exact where buckets do not
        straddle bins (1 us bins: below 2048 ns), otherwise off by at most one
        bucket width (1/128 of the value)."""
        if width_ns < 1 or n < 0:
            raise ValueError(f"width_ns = {width_ns!r}, n = {n!r}: expected width_ns >= 1 and n >= 0")
        b = np.flatnonzero(self.counts)
        bins = np.minimum(BUCKET_LOWER[b] // width_ns, n)
        out = np.bincount(bins, weights=self.counts[b], minlength=n + 1).astype(np.int64)
        out[n] += self.overflow
        return out

    def to_hdr_text(self, unit: str = "us", ticks_per_half_distance: int = 5) -> str:
        """The percentile distribution in the text layout of HdrHistogram's
        ``outputPercentileDistribution`` (columns Value, Percentile, TotalCount,
        1/(1-Percentile); values in ``unit``; the ``#[Mean ...]`` footer). Each
        value is its bucket's highest value clamped to the exact min and max
        (the overflow reports the max); StdDeviation is from bucket midpoints."""
        scale = _unit(unit)
        if isinstance(ticks_per_half_distance, bool) or not isinstance(ticks_per_half_distance, int) \
                or ticks_per_half_distance < 1:
            raise ValueError(f"ticks_per_half_distance = {ticks_per_half_distance!r}: expected an integer >= 1")
        out = [f"{'Value':>12} {'Percentile':>14} {'TotalCount':>10} {'1/(1-Percentile)':>14}", ""]
        b = np.flatnonzero(self.counts)
        values = np.clip(BUCKET_LOWER[b + 1] - 1, self.min, self.max).astype(float).tolist()
        cum = np.cumsum(self.counts[b]).tolist()
        if self.overflow:
            values.append(float(self.max))
            cum.append(self.count)
        level = 0.0
        for value, total in zip(values, cum):
            while 100.0 * total / self.count >= level and level < 100.0:
                out.append(f"{value / scale:12.2f} {level / 100:2.12f} {total:10d} {1 / (1 - level / 100):14.2f}")
                ticks = ticks_per_half_distance * 2 ** (int(math.log(100.0 / (100.0 - level)) / math.log(2)) + 1)
                level += 100.0 / ticks
                if total == self.count:
                    break
        if self.count:
            out.append(f"{values[-1] / scale:12.2f} {1.0:2.12f} {self.count:10d}")
        mid = self._value(b)
        mean = self.mean if self.count else 0.0
        var = float(np.sum((mid - mean) ** 2 * self.counts[b])) + self.overflow * (self.max - mean) ** 2
        std = math.sqrt(var / self.count) if self.count else 0.0
        out += [f"#[Mean    = {mean / scale:12.2f}, StdDeviation   = {std / scale:12.2f}]",
                f"#[Max     = {self.max / scale:12.2f}, Total count    = {self.count:12d}]",
                f"#[Buckets = {HDR_BUCKETS:12d}, SubBuckets     = {HDR_SUB_BUCKETS:12d}]"]
        return "\n".join(out) + "\n"


def _sparse_histogram(n: int, b: np.ndarray, counts: np.ndarray, *stats: int) -> Histogram:
    full = np.zeros(n, dtype=counts.dtype)
    full[b] = counts
    return Histogram(full, *stats)


def _series_unit(name: str) -> str:
    """The column suffix of a 2-D series: one column per CPU (``cpu_*``) or zone."""
    return "cpu" if name.startswith("cpu_") else "z"


@dataclass(eq=False)
class Results:
    """What a run measured (MODEL.md 8), as numpy tables (dicts of equal-length
    arrays; times in ns).

    - ``tasks``: per task (``cpu``, ``kind``, ``policy``, ``nice``, ``prio``,
      ``spec`` = index of its Task spec or -1 for kernel threads, ``cpu_time``,
      ``wait_time``, ``nr_runs``, ``nr_preempted``, ``nr_wakeups``, ``nr_jobs``,
      ``deadline_misses``, ``stalls``, ``stall_ns``, ``drain_calls``,
      ``skipped_drains``, ``ooms``); ``task_names``.
    - ``cpus``: per CPU: ``busy_ns`` (tasks ran), ``idle_ns`` (nothing ran, or
      offline), ``overhead_ns`` (switches, wakeups), ``irq_drain_ns`` (drain IPI
      handlers): these four add up to the elapsed time; ``drain_ns``,
      ``work_ns``, ``reclaim_ns``, ``alloc_ns`` break ``busy_ns`` down by what
      the tasks did (the rest is the workload's own work);
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
    - ``memory``: ``time`` and per zone ``free`` and ``pcp`` pages over time;
      with ``Memory.sample_cpus``, per CPU ``cpu_pcp`` (pages in its pcp list)
      and ``cpu_drain_ns`` (drain work and drain IPI time so far).
    - Histograms: ``wakeup_latency``/``response_time`` per periodic task id,
      ``alloc_stall`` per allocator spec name (its tasks share it), ``drain_latency`` and
      ``dispatch_delay`` over all calls.

    ``to_pandas(table)`` gives a table as a DataFrame; ``save(path)`` and
    ``Results.load(path)`` store everything (the config as TOML) in one ``.npz``
    file, or, for a path ending in ``.parquet``, a Parquet directory; results
    compare with ``==`` (arrays by dtype and value) and pickle.
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

    def summary(self, *, with_config: bool = True) -> dict[str, Any]:
        """Headline figures as a plain dict, with the seed and the config (as the
        plain data of its TOML form; None with ``with_config=False``, which
        spares the TOML round trip, most of the cost of a small run's summary)."""
        ncpu = len(self.cpus["busy_ns"])
        real = self.calls["skipped"] == 0 if self.calls else np.zeros(0, bool)
        config = None
        if self.config is not None and with_config:
            from pcpsim.tomlconfig import tomllib
            config = tomllib.loads(self.config.to_toml())
        return {
            "seed": None if self.config is None else self.config.seed,
            "config": config,
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

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Results):
            return NotImplemented
        return all(_same(getattr(self, f.name), getattr(other, f.name)) for f in fields(self))

    # -- tables as columns and DataFrames ------------------------------------------
    def columns(self, table: str) -> dict[str, np.ndarray]:
        """The 1-D columns of ``table`` (one of :data:`TABLES`): a per-zone 2-D
        array (``memory``'s ``free`` and ``pcp``) becomes ``free_z0``,
        ``free_z1``..., a per-CPU one (``cpu_pcp``, ``cpu_drain_ns``)
        ``cpu_pcp_cpu0``...; ``tasks`` starts with ``name`` (``task_names``)."""
        if table not in TABLES:
            raise ValueError(f"table = {table!r}: expected one of {', '.join(TABLES)}")
        out: dict[str, np.ndarray] = {"name": np.asarray(self.task_names, dtype=object)} if table == "tasks" else {}
        for name, col in getattr(self, table).items():
            if col.ndim == 2:
                out.update({f"{name}_{_series_unit(name)}{i}": col[:, i] for i in range(col.shape[1])})
            else:
                out[name] = col
        return out

    def to_pandas(self, table: str) -> Any:
        """``table`` as a ``pandas.DataFrame`` (columns as in :meth:`columns`,
        less the engine's struct padding ``_pad``). Needs pandas: ``pip install
        "pcpsim[pandas]"``."""
        pd = _require("pandas", "pandas")
        return pd.DataFrame({k: v for k, v in self.columns(table).items() if not k.startswith("_")})

    # -- save / load -------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Store everything: the tables, every histogram, ``now``, ``events``,
        ``task_names``, ``dropped``, ``deadlocks``, ``strategy`` and the config (as
        TOML text). Written exactly at ``path``:

        - a compressed ``.npz`` file (numpy only) for any path not ending in
          ``.parquet``: arrays ``{table}/{column}``; per histogram group
          (``hist/{group}/``) ``keys`` (task ids or spec names; none for
          ``drain_latency``/``dispatch_delay``), ``counts`` (one row of
          buckets per histogram) and ``stats`` (count, total, min, max,
          overflow); ``meta/...`` scalars and ``meta/config`` (TOML);
        - for a path ending in ``.parquet`` (needs pyarrow: ``pip install
          "pcpsim[parquet]"``), a directory of that name: ``{table}.parquet`` per
          table (columns as in :meth:`columns`), ``histograms.parquet`` (the
          non-empty buckets: ``group``, ``key``, ``bucket``, ``count``),
          ``histogram_stats.parquet`` (``group``, ``key``, ``count``, ``total``,
          ``min``, ``max``, ``overflow``) and ``meta.json`` (the scalars, the
          task names and the config's TOML).

        :meth:`load` gives back an equal Results (``==``: same arrays, dtypes,
        histograms and config)."""
        if str(path).endswith(".parquet"):
            self._save_parquet(Path(path))
            return
        arrays = self._arrays()
        with open(path, "wb") as f:
            np.savez_compressed(f, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Results:
        """Results stored by :meth:`save` (a Parquet directory or an ``.npz`` file)."""
        if Path(path).is_dir():
            return cls._load_parquet(Path(path))
        with np.load(path, allow_pickle=False) as z:
            a = {k: z[k] for k in z.files}
        hists: dict[str, Any] = {}
        for g in HIST_GROUPS:
            hs = [Histogram(c.copy(), *map(int, st)) for c, st in zip(a[f"hist/{g}/counts"], a[f"hist/{g}/stats"])]
            hists[g] = dict(zip(map(_KEY[g], a[f"hist/{g}/keys"]), hs)) if g in _KEY else hs[0]
        tables = {t: {k.split("/", 1)[1]: v for k, v in a.items() if k.startswith(f"{t}/")} for t in TABLES}
        meta = {k[5:]: v[()] if v.ndim == 0 else v.tolist() for k, v in a.items() if k.startswith("meta/")}
        meta["dropped"] = dict(zip(meta.pop("dropped_keys"), meta.pop("dropped_values")))
        return cls._from_parts(meta, tables, hists)

    def _meta(self) -> dict[str, Any]:
        from pcpsim.config import Config
        if self.config is not None and not isinstance(self.config, Config):
            raise TypeError(f"config = {self.config!r}: only a pcpsim.Config (or None) can be saved")
        return {"format": FORMAT_VERSION, "now": int(self.now), "events": int(self.events),
                "deadlocks": int(self.deadlocks), "strategy": str(self.strategy), "task_names": list(self.task_names),
                "dropped": {str(k): int(v) for k, v in self.dropped.items()},
                "config": None if self.config is None else self.config.to_toml()}

    def _hist_groups(self) -> dict[str, tuple[list[Any], list[Histogram]]]:
        """Every histogram group as (keys, histograms); no keys for a single histogram."""
        return {g: (list(h), list(h.values())) if isinstance(h, dict) else ([], [h])
                for g in HIST_GROUPS for h in [getattr(self, g)]}

    def _arrays(self) -> dict[str, np.ndarray]:
        a = {f"{t}/{name}": col for t in TABLES for name, col in getattr(self, t).items()}
        for g, (keys, hs) in self._hist_groups().items():
            a[f"hist/{g}/keys"] = np.array(keys, dtype=str if g == "alloc_stall" else np.int64)
            a[f"hist/{g}/counts"] = np.stack([h.counts for h in hs]) if hs else \
                np.zeros((0, _core.HIST_NBUCKETS), np.int64)
            a[f"hist/{g}/stats"] = np.array([[h.count, h.total, h.min, h.max, h.overflow] for h in hs],
                                            dtype=np.int64).reshape(-1, 5)
        meta = self._meta()
        dropped = meta.pop("dropped")
        if meta["config"] is None:
            del meta["config"]
        a.update({f"meta/{k}": np.array(v, dtype=str if k == "task_names" else None) for k, v in meta.items()})
        a["meta/dropped_keys"] = np.array(list(dropped), dtype=str)
        a["meta/dropped_values"] = np.array(list(dropped.values()), dtype=np.int64)
        return a

    @classmethod
    def _from_parts(cls, meta: dict[str, Any], tables: dict[str, dict[str, np.ndarray]],
                    hists: dict[str, Any]) -> Results:
        from pcpsim.config import Config
        if int(meta["format"]) > FORMAT_VERSION:
            raise ValueError(f"results saved in format {meta['format']}; this pcpsim reads up to {FORMAT_VERSION}")
        toml = meta.get("config")
        return cls(now=int(meta["now"]), events=int(meta["events"]), task_names=[str(n) for n in meta["task_names"]],
                   deadlocks=int(meta["deadlocks"]), strategy=str(meta["strategy"]),
                   dropped={str(k): int(v) for k, v in meta["dropped"].items()},
                   config=None if toml is None else Config.from_toml(str(toml), validate=False), **tables, **hists)

    def _save_parquet(self, path: Path) -> None:
        pa, pq = _require("pyarrow", "parquet"), _require("pyarrow.parquet", "parquet")
        meta = self._meta()
        meta["wide"] = {t: {n: c.shape[1] for n, c in getattr(self, t).items() if c.ndim == 2} for t in TABLES}
        path.mkdir(parents=True, exist_ok=True)
        for t in TABLES:
            pq.write_table(pa.table(self.columns(t)), path / f"{t}.parquet")
        rows: dict[str, list[Any]] = {k: [] for k in ("group", "key", "bucket", "count")}
        stats: dict[str, list[Any]] = {k: [] for k in ("group", "key", "count", "total", "min", "max", "overflow")}
        for g, (keys, hs) in self._hist_groups().items():
            for key, h in zip(keys or [""], hs):
                b = np.flatnonzero(h.counts)
                rows["group"] += [g] * len(b)
                rows["key"] += [str(key)] * len(b)
                rows["bucket"].append(b.astype(np.int32))
                rows["count"].append(h.counts[b])
                for k, v in zip(stats, (g, str(key), h.count, h.total, h.min, h.max, h.overflow)):
                    stats[k].append(v)
        rows["bucket"], rows["count"] = np.concatenate(rows["bucket"]), np.concatenate(rows["count"])
        pq.write_table(pa.table(rows), path / "histograms.parquet")
        pq.write_table(pa.table({k: pa.array(v, pa.int64() if k not in ("group", "key") else pa.string())
                                 for k, v in stats.items()}), path / "histogram_stats.parquet")
        (path / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")

    @classmethod
    def _load_parquet(cls, path: Path) -> Results:
        pq = _require("pyarrow.parquet", "parquet")
        meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
        tables: dict[str, dict[str, np.ndarray]] = {}
        for t in TABLES:
            pt = pq.read_table(path / f"{t}.parquet")
            cols = {n: np.array(c.to_numpy()) for n, c in zip(pt.column_names, pt.columns)
                    if not (t == "tasks" and n == "name")}
            wide, tables[t] = meta["wide"][t], {}
            parts = {f"{base}_{_series_unit(base)}{i}": base for base, width in wide.items() for i in range(width)}
            for n, c in cols.items():
                base = parts.get(n)
                if base is None:
                    tables[t][n] = c
                elif base not in tables[t]:
                    tables[t][base] = np.column_stack([cols[f"{base}_{_series_unit(base)}{i}"]
                                                       for i in range(wide[base])])
        rows = pq.read_table(path / "histograms.parquet").to_pydict()
        stats = pq.read_table(path / "histogram_stats.parquet").to_pydict()
        counts: dict[tuple[str, str], np.ndarray] = {}
        for g, key, b, c in zip(rows["group"], rows["key"], rows["bucket"], rows["count"]):
            counts.setdefault((g, key), np.zeros(_core.HIST_NBUCKETS, np.int64))[b] = c
        hists: dict[str, Any] = {g: {} for g in _KEY}
        for i, (g, key) in enumerate(zip(stats["group"], stats["key"])):
            h = Histogram(counts.get((g, key), np.zeros(_core.HIST_NBUCKETS, np.int64)),
                          *(int(stats[k][i]) for k in ("count", "total", "min", "max", "overflow")))
            if g in _KEY:
                hists[g][_KEY[g](key)] = h
            else:
                hists[g] = h
        return cls._from_parts(meta, tables, hists)

    # -- cyclictest --------------------------------------------------------------
    def cyclictest_histogram(self, unit: str = "us", buckets: int = 1000, name: str | None = None,
                             histofall: bool = False) -> str:
        """The periodic tasks' wake-up latency histograms in the layout of
        cyclictest's ``--histogram=buckets`` output (``--histofall`` adds the
        sum column): ``# Histogram``, one line per ``unit``-wide bucket
        (``%06d`` bucket then ``%06lu`` per task, tab-separated), then ``#
        Total:`` (counts in the printed buckets), ``# Min Latencies:``, ``# Avg
        Latencies:``, ``# Max Latencies:`` (exact, truncated to ``unit``) and ``#
        Histogram Overflows:`` (samples at or above ``buckets`` units). One column
        per periodic task (the tasks called ``name``, or all), in task id order.
        Counts are exact below 2 us and otherwise within one histogram bucket
        (:meth:`Histogram.linear_counts`); an empty task prints 0 as min.
        cyclictest's overflow cycle numbers are not recorded, so its ``# Histogram
        Overflow at cycle number:`` lines are left out."""
        scale = _unit(unit)
        if isinstance(buckets, bool) or not isinstance(buckets, int) or buckets < 1:
            raise ValueError(f"buckets = {buckets!r}: expected an integer >= 1")
        hs = [self.wakeup_latency[i] for i in sorted(self.wakeup_latency)
              if name is None or self.task_names[i] == name]
        if not hs:
            raise ValueError("no periodic task" + (f" called {name!r}" if name is not None else "") + " in these results")
        bins = np.stack([h.linear_counts(scale, buckets) for h in hs])     # (tasks, buckets + 1)
        maxes = [h.max // scale for h in hs]
        if histofall and len(hs) > 1:                                      # cyclictest's sum column
            bins, maxes = np.vstack([bins, bins.sum(axis=0)]), maxes + [max(maxes)]

        def summary(label: str, values: Any, width: int) -> str:
            return f"# {label}:" + "".join(f" {int(v):0{width}d}" for v in values)

        lines = ["# Histogram"]
        lines += [f"{k:06d} " + "\t".join(f"{c:06d}" for c in row) for k, row in enumerate(bins[:, :buckets].T.tolist())]
        lines += [summary("Total", bins[:, :buckets].sum(axis=1), 9),
                  summary("Min Latencies", (h.min // scale for h in hs), 5),
                  summary("Avg Latencies", (h.total // (h.count * scale) if h.count else 0 for h in hs), 5),
                  summary("Max Latencies", maxes, 5),
                  summary("Histogram Overflows", bins[:, buckets], 5)]
        return "\n".join(lines) + "\n"


#: how the keys of the keyed histogram groups are typed
_KEY: dict[str, Any] = {"wakeup_latency": int, "response_time": int, "alloc_stall": str}
