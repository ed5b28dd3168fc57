"""The Simulation object: a validated Config compiled into the native engine.

SimPy's verbs over an event loop that runs in C: ``run(until=...)`` (callable
again and again), ``step()``, ``peek()``; the state is readable between calls as
numpy arrays (``cpu_curr``, ``nr_running``, ``task_cpu_time``...).
"""
from __future__ import annotations

import numpy as np

from pcpsim import _core, profiles
from pcpsim.config import Config, Duration, as_dist, parse_duration
from pcpsim.results import Histogram, Results

_KIND = {"hog": 0, "periodic": 1, "bursty": 2}
_POLICY = {"normal": 0, "fifo": 1, "rr": 2}
_DIST = {"fixed": 0, "exp": 1, "lognormal": 2}


def engine_params(cfg: Config) -> dict[str, int]:
    """The scheduler parameters of the engine, profile defaults applied and the
    granularities scaled by the tunable factor (sched_init_granularity)."""
    prof = cfg.profile
    s = cfg.sched
    ncpu = cfg.topology.ncpu
    factor = profiles.tunable_scaling_factor(ncpu, s.tunable_scaling)  # type: ignore[arg-type]
    latency = parse_duration(s.sched_latency, "sched.sched_latency") * factor
    min_gran = parse_duration(s.min_granularity, "sched.min_granularity") * factor
    fair_class = s.fair_class or prof.fair_class
    return {
        "tick_ns": (1_000_000_000 + s.hz // 2) // s.hz,          # TICK_NSEC
        "context_switch_ns": parse_duration(s.context_switch, "sched.context_switch"),
        "wakeup_ns": parse_duration(s.wakeup_ipi, "sched.wakeup_ipi"),
        "fair_class": 1 if fair_class == "eevdf" else 0,
        "run_to_parity": int(s.run_to_parity),
        "preempt_short": int(prof.preempt_short if s.preempt_short is None else s.preempt_short),
        "gentle_sleepers": int(s.gentle_sleepers),
        "sched_latency": latency,
        "min_granularity": min_gran,
        "wakeup_granularity": parse_duration(s.wakeup_granularity, "sched.wakeup_granularity") * factor,
        "nr_latency": -(-latency // min_gran),                   # sched_nr_latency
        "rr_ticks": max(1, round(parse_duration(s.rr_timeslice, "sched.rr_timeslice") * s.hz / 1e9)),
        "rt_throttle": int(prof.rt_bandwidth == "throttle" if s.rt_throttle is None else s.rt_throttle),
        "fair_server": int(prof.rt_bandwidth == "fair_server" if s.fair_server is None else s.fair_server),
        "rt_runtime": parse_duration(s.rt_runtime, "sched.rt_runtime"),
        "rt_period": parse_duration(s.rt_period, "sched.rt_period"),
        "fs_runtime": parse_duration(s.fair_server_runtime, "sched.fair_server_runtime"),
        "fs_period": parse_duration(s.fair_server_period, "sched.fair_server_period"),
        "base_slice": parse_duration(s.base_slice, "sched.base_slice") * factor
        if s.base_slice is not None else prof.base_slice_ns * factor,
    }


def build_tasks(cfg: Config, base_slice: int) -> tuple[np.ndarray, np.ndarray, list[str], int]:
    """The task table of the engine (vectorised per Task spec), the spec index of
    every task, the spec names and the number of histograms."""
    ncpu = cfg.topology.ncpu
    parts = []
    specs = []
    for i, t in enumerate(cfg.tasks):
        cpus = np.repeat(t.cpu_ids(ncpu), t.per_cpu)
        rows = np.zeros(len(cpus), dtype=_core.TASK_DTYPE)
        rows["cpu"] = cpus
        rows["kind"] = _KIND[t.kind]
        rows["policy"] = _POLICY[t.policy]
        rows["prio"] = t.prio
        rows["weight"] = profiles.SCHED_PRIO_TO_WEIGHT[t.nice + 20]
        rows["wmult"] = profiles.SCHED_PRIO_TO_WMULT[t.nice + 20]
        rows["hist"] = -1
        if t.kind == "periodic":
            rows["period"] = parse_duration(t.period, "period")
            rows["runtime"] = parse_duration(t.runtime, "runtime")
        rows["phase"] = parse_duration(t.phase, "phase")
        for name, value in (("run", t.run), ("sleep", t.sleep)):
            if value is not None:
                d = as_dist(value)
                rows[f"{name}_dist"] = _DIST[d.kind]
                rows[f"{name}_a"] = parse_duration(d.mean, name)
                rows[f"{name}_b"] = d.sigma
        np_len = parse_duration(t.nonpreempt, "nonpreempt")
        if np_len:
            rows["np_len"] = np_len
            rows["np_every"] = parse_duration(t.nonpreempt_every, "nonpreempt_every")
        rows["slice"] = parse_duration(t.slice, "slice") if t.slice is not None else base_slice
        rows["remaining"] = -1
        parts.append(rows)
        specs.append(np.full(len(cpus), i, dtype=np.int32))
    tasks = np.concatenate(parts) if parts else np.zeros(0, dtype=_core.TASK_DTYPE)
    spec = np.concatenate(specs) if specs else np.zeros(0, dtype=np.int32)
    periodic_ids = np.flatnonzero(tasks["kind"] == _KIND["periodic"])
    tasks["hist"][periodic_ids] = 2 * np.arange(len(periodic_ids), dtype=np.int32)
    names = [t.name or f"{t.kind}{i}" for i, t in enumerate(cfg.tasks)]
    return tasks, spec, names, 2 * len(periodic_ids)


class Simulation:
    """A run of one Config: build it, then ``run(until)``, ``step()``, ``peek()``.

    >>> sim = Simulation(config)
    >>> sim.run(until="10ms")      # and again later
    >>> sim.task_cpu_time          # numpy view, live
    """

    def __init__(self, config: Config) -> None:
        config.validate()
        self.config = config
        params = engine_params(config)
        tasks, self.task_spec, self.spec_names, nhist = build_tasks(config, params.pop("base_slice"))
        ncpu = config.topology.ncpu
        cpus = np.zeros(ncpu, dtype=_core.CPU_DTYPE)
        cpus["curr"] = -1
        cpus["rt_head"] = -1
        cpus["fair_head"] = -1
        cpus["fair_tail"] = -1
        cpus["isolated"][np.asarray(config.topology.isolated, dtype=np.int64)] = 1
        nslot = ncpu * 4 + len(tasks)
        arrays = {
            "tasks": tasks,
            "task_stats": np.zeros(len(tasks), dtype=_core.TASK_STATS_DTYPE),
            "cpus": cpus,
            "cpu_stats": np.zeros(ncpu, dtype=_core.CPU_STATS_DTYPE),
            "heap": np.zeros(nslot, dtype=_core.HEAP_DTYPE),
            "heap_pos": np.full(nslot, -1, dtype=np.int32),
            "hist_stats": np.zeros(nhist, dtype=_core.HIST_STATS_DTYPE),
            "hist_counts": np.zeros(nhist * _core.HIST_NBUCKETS, dtype=np.int64),
        }
        bitgen = np.random.PCG64(np.random.SeedSequence(config.seed))
        self._engine = _core.Engine(arrays, params, bitgen)
        self.duration_ns = parse_duration(config.duration, "duration")

    # -- SimPy-style verbs -------------------------------------------------
    def run(self, until: Duration | None = None) -> int:
        """Advance to ``until`` (default: the config's duration); return the
        number of events processed. Can be called again with a later time."""
        t = self.duration_ns if until is None else parse_duration(until, "until")
        n = self._engine.run(t)
        self._engine.flush()
        return n

    def step(self) -> int:
        """Process one event; return its time in ns (-1 if none is left)."""
        return self._engine.step()

    def peek(self) -> int:
        """Time in ns of the next event (-1 if none)."""
        return self._engine.peek()

    @property
    def now(self) -> int:
        return self._engine.now

    @property
    def events(self) -> int:
        return self._engine.events

    # -- live state (numpy views of the engine's arrays) -----------------------
    @property
    def cpu_curr(self) -> np.ndarray:
        """Task id running on each CPU (-1: idle)."""
        return self._engine.arrays["cpus"]["curr"]

    @property
    def nr_running(self) -> np.ndarray:
        """Runnable tasks per CPU, the running one included."""
        return self._engine.arrays["cpus"]["nr_running"]

    @property
    def task_cpu_time(self) -> np.ndarray:
        """CPU time (ns) of every task, exact up to ``now`` after ``run()``."""
        return self._engine.arrays["task_stats"]["cpu_time"]

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        """Every engine array (structured numpy arrays), live."""
        return self._engine.arrays

    def results(self) -> Results:
        """A snapshot of everything measured so far."""
        self._engine.flush()
        a = self._engine.arrays
        ts, st = a["tasks"], a["task_stats"]
        tasks = {k: ts[k].copy() for k in ("cpu", "kind", "policy", "prio")}
        tasks["nice"] = np.searchsorted(-np.asarray(profiles.SCHED_PRIO_TO_WEIGHT), -ts["weight"]) - 20
        tasks["spec"] = self.task_spec.copy()
        tasks.update({k: st[k].copy() for k in st.dtype.names})
        cpus = {k: a["cpu_stats"][k].copy() for k in a["cpu_stats"].dtype.names}
        counts = a["hist_counts"].reshape(-1, _core.HIST_NBUCKETS)
        lat, resp = {}, {}
        for ti in np.flatnonzero(ts["hist"] >= 0):
            h = int(ts["hist"][ti])
            lat[int(ti)] = Histogram.from_engine(counts[h], a["hist_stats"][h])
            resp[int(ti)] = Histogram.from_engine(counts[h + 1], a["hist_stats"][h + 1])
        return Results(self.now, self.events, tasks, cpus,
                       [self.spec_names[i] for i in self.task_spec], lat, resp, self.config)

    def __reduce__(self):
        return (_restore, (self.config, self._engine, self.task_spec, self.spec_names, self.duration_ns))


def _restore(config, engine, task_spec, spec_names, duration_ns) -> Simulation:
    sim = Simulation.__new__(Simulation)
    sim.config, sim._engine, sim.task_spec = config, engine, task_spec
    sim.spec_names, sim.duration_ns = spec_names, duration_ns
    return sim


def run(config: Config, until: Duration | None = None) -> Results:
    """Build a Simulation, run it to ``until`` (default: its duration), return its results."""
    sim = Simulation(config)
    sim.run(until)
    return sim.results()
