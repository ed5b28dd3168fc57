"""The Simulation object: a validated Config compiled into the native engine.

SimPy's verbs over an event loop that runs in C: ``run(until=...)`` (callable
again and again), ``step()``, ``peek()``; the state is readable between calls as
numpy arrays (``cpu_curr``, ``nr_running``, ``task_cpu_time``...).
"""
from __future__ import annotations

import copy
import os

import numpy as np

from pcpsim import _core, profiles
from pcpsim.config import Config, ConfigError, Duration, Task, as_dist, parse_duration
from pcpsim.results import Histogram, Results

_POLICY = {"normal": 0, "fifo": 1, "rr": 2}
_DIST = {"fixed": 0, "exp": 1, "lognormal": 2}
_PCP_RULE = {"6batch": 0, "lowwmark": 1, "autotune": 2}
NO_TIME = _core.NO_TIME_NS


def engine_params(cfg: Config) -> dict[str, int | float]:
    """The parameters of the engine: profile defaults applied, granularities
    scaled by the tunable factor (sched_init_granularity), durations in ns."""
    prof = cfg.profile
    s, m, r, d, wq = cfg.sched, cfg.memory, cfg.reclaim, cfg.drain, cfg.workqueue
    online = cfg.topology.ncpu - len(set(cfg.topology.offline))
    factor = profiles.tunable_scaling_factor(max(1, online), s.tunable_scaling)  # type: ignore[arg-type]
    latency = parse_duration(s.sched_latency, "sched.sched_latency") * factor
    min_gran = parse_duration(s.min_granularity, "sched.min_granularity") * factor
    fair_class = s.fair_class or prof.fair_class
    strategy = d.strategy or prof.drain_strategy
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
        "strategy": _core.STRATEGIES[strategy],
        "pcp_rule": _PCP_RULE[m.pcp_high_rule or prof.pcp_high_rule],
        "lock_base_ns": parse_duration(m.lock_base, "memory.lock_base"),
        "page_cost_ns": parse_duration(m.page_cost, "memory.page_cost"),
        "ipi_latency_ns": parse_duration(d.ipi_latency, "drain.ipi_latency"),
        "reclaim_ns": parse_duration(r.reclaim_time, "reclaim.reclaim_time"),
        "reclaim_success": float(r.success_rate),
        "reclaim_pages": r.pages_per_attempt,
        "max_retries": r.max_retries,
        "oom_release": r.oom_release,
        "kswapd_ns_per_page": max(1, round(1e9 / r.kswapd_rate)),
        "retry_ns": parse_duration(r.retry_interval, "reclaim.retry_interval"),
        "wq_hog": int(prof.wq_hog_detection if wq.hog_detection is None else wq.hog_detection),
        "nsources": len(wq.sources),
        "wq_hog_ns": parse_duration(wq.hog_threshold, "workqueue.hog_threshold"),
        "vmstat_ns": parse_duration(wq.vmstat_update, "workqueue.vmstat_update"),
        "sample_ns": parse_duration(m.sample_interval, "memory.sample_interval"),
        "base_slice": parse_duration(s.base_slice, "sched.base_slice") * factor
        if s.base_slice is not None else prof.base_slice_ns * factor,
        "workers": wq.workers_per_pool,
        "cfs_slice_floor": int(prof.cfs_slice_floor),
        "rescuer": -1,
        "mayday_initial_ns": profiles.mayday_initial_timeout_jiffies(s.hz) * ((1_000_000_000 + s.hz // 2) // s.hz),
        "mayday_interval_ns": profiles.mayday_interval_jiffies(s.hz) * ((1_000_000_000 + s.hz // 2) // s.hz),
        "wq_create_ns": parse_duration(wq.worker_create, "workqueue.worker_create"),
        "wq_create_pages": wq.worker_pages,
        "create_cooldown_ns": 1_000_000_000,                    # CREATE_COOLDOWN = HZ
        "hist_drain": -1,
        "hist_dispatch": -1,
        "nested_zone": int(d.nested_drain == "zone"),
        "create_ns": parse_duration(d.worker_create, "drain.worker_create"),
        "create_pages": d.worker_pages,
    }


def remote_chunk(cfg: Config, batch: int) -> int:
    """Pages a remote drain frees per pcp->lock hold (MODEL.md 7.5): the
    override, else ``batch << 5`` from 6.10, else 0 (the whole list, 6.0-6.9)."""
    if cfg.drain.remote_chunk is not None:
        return cfg.drain.remote_chunk
    shift = cfg.profile.remote_drain_batch_shift
    return 0 if shift is None else batch << shift


def _task_rows(n: int, cpus: np.ndarray, kind: str, policy: str, prio: int, nice: int,
               base_slice: int) -> np.ndarray:
    rows = np.zeros(n, dtype=_core.TASK_DTYPE)
    rows["cpu"] = cpus
    rows["kind"] = _core.KINDS[kind]
    rows["policy"] = _POLICY[policy]
    rows["prio"] = prio
    rows["weight"] = profiles.SCHED_PRIO_TO_WEIGHT[nice + 20]
    rows["wmult"] = profiles.SCHED_PRIO_TO_WMULT[nice + 20]
    rows["hist"] = -1
    rows["hist_stall"] = -1
    rows["run_dist"] = -1
    rows["slice"] = base_slice
    rows["remaining"] = -1
    rows["item"] = -1
    rows["pool"] = -1
    rows["link"] = -1
    rows["stall_start"] = -1
    rows["wait_call"] = -1
    return rows


def build_tasks(cfg: Config, params: dict, node_of: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The workload tasks (vectorised per Task spec) then the kernel threads
    (kswapd per node; kworkers per pool; the drain kthread per CPU), the spec
    index of every task (-1 for kernel threads) and the names of the specs."""
    ncpu = cfg.topology.ncpu
    base_slice = params["base_slice"]
    parts, specs = [], []
    for i, t in enumerate(cfg.tasks):
        cpus = np.repeat(t.cpu_ids(ncpu), t.per_cpu)
        rows = _task_rows(len(cpus), cpus, t.kind, t.policy, t.prio, t.nice, base_slice)
        if t.kind in ("periodic", "extdrain"):
            rows["period"] = parse_duration(t.period, "period")
            rows["runtime"] = parse_duration(t.runtime, "runtime") if t.runtime is not None else 0
        rows["phase"] = parse_duration(t.phase, "phase")
        for name, value in (("run", t.run), ("sleep", t.sleep)):
            if value is not None:
                dist = as_dist(value)
                rows[f"{name}_dist"] = _DIST[dist.kind]
                rows[f"{name}_a"] = parse_duration(dist.mean, name)
                rows[f"{name}_b"] = dist.sigma
        if t.kind == "bursty":
            rows["run_dist"] = _DIST[as_dist(t.run).kind]
        np_len = parse_duration(t.nonpreempt, "nonpreempt")
        if np_len:
            rows["np_len"] = np_len
            rows["np_every"] = parse_duration(t.nonpreempt_every, "nonpreempt_every")
        if t.slice is not None:
            rows["slice"] = parse_duration(t.slice, "slice")
        rows["zone"] = node_of[cpus] if t.zone is None else t.zone
        if t.kind == "allocator":
            net = t.free_rate - t.alloc_rate
            rows["flow_dir"] = 1 if net > 0 else -1
            rows["flow_ns"] = max(1, round(1e9 / abs(net)))
            rows["held"] = t.held
            rows["flags"] |= _core.TASK_FLAGS["reclaim"] if t.reclaim else 0
        if t.force:
            rows["flags"] |= _core.TASK_FLAGS["force"]
        parts.append(rows)
        specs.append(np.full(len(cpus), i, dtype=np.int32))
    # kernel threads
    sizes = cfg.topology.sizes()
    first = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int32)
    if cfg.reclaim.kswapd:
        rows = _task_rows(len(sizes), np.asarray(cfg.reclaim.kswapd_cpu_ids(sizes), dtype=np.int32), "kswapd",
                          "normal", 0, 0, base_slice)
        rows["zone"] = np.arange(len(sizes))
        parts.append(rows)
    cpu_ids = np.arange(ncpu, dtype=np.int32)
    W = params["workers"]
    pools = [(0, 0)]                                     # (pool kind, nice)
    if params["strategy"] == _core.STRATEGIES["workqueue_highpri"] or any(
            src.highpri for src in cfg.workqueue.sources):
        pools.append((1, -20))
    for kind, nice in pools:
        cpus = np.repeat(cpu_ids, W)
        rows = _task_rows(len(cpus), cpus, "kworker", "normal", 0, nice, base_slice)
        rows["pool"] = cpus * _core.POOLS + kind
        rows["flags"][np.arange(len(cpus)) % W < cfg.workqueue.initial_workers] = _core.TASK_FLAGS["created"]
        parts.append(rows)
    if cfg.workqueue.rescuer:
        parts.append(_task_rows(1, np.zeros(1, np.int32), "rescuer", "normal", 0, -20, base_slice))
    if params["strategy"] in (_core.STRATEGIES["kthread"], _core.STRATEGIES["kthread_rfc_v1"]):
        d = cfg.drain
        rows = _task_rows(ncpu, cpu_ids, "kthread", d.kthread_policy, d.kthread_prio, 0, base_slice)
        rows["pool"] = cpu_ids * _core.POOLS + 2
        parts.append(rows)
        # a hotplug thread on every CPU that may come online creates its kthread
        hp = np.unique([ev.cpu for ev in cfg.hotplug if ev.online] + list(cfg.topology.offline)).astype(np.int32)
        rows = _task_rows(len(hp), hp, "cpuhp", "normal", 0, 0, base_slice)
        rows["zone"] = node_of[hp]
        rows["flags"] = _core.TASK_FLAGS["reclaim"]
        parts.append(rows)
    tasks = np.concatenate(parts, dtype=_core.TASK_DTYPE)  # keeps the struct's trailing padding
    nwork = sum(len(x) for x in specs)
    spec = np.full(len(tasks), -1, dtype=np.int32)
    if specs:
        spec[:nwork] = np.concatenate(specs)
    rescuer = np.flatnonzero(tasks["kind"] == _core.KINDS["rescuer"])
    params["rescuer"] = int(rescuer[0]) if len(rescuer) else -1
    kthreads = tasks["kind"] == _core.KINDS["kthread"]
    tasks["flags"][kthreads & ~np.isin(tasks["cpu"], list(cfg.topology.offline))] |= _core.TASK_FLAGS["created"]
    names = [t.name or f"{t.kind}{i}" for i, t in enumerate(cfg.tasks)]
    return tasks, spec, names


def build_memory(cfg: Config, params: dict, node_of: np.ndarray, cpus: np.ndarray,
                 tasks: np.ndarray) -> np.ndarray:
    """Zones with the kernel's watermarks, batch and high (MODEL.md 2, 6.1), and
    the pcp of every CPU at time 0. Returns the zone table."""
    m = cfg.memory
    sizes = cfg.topology.sizes()
    managed = m.node_pages(len(sizes))
    wmarks = profiles.zone_watermarks(managed, m.min_free_kbytes, m.watermark_scale_factor, kernel=cfg.kernel)
    rule = m.pcp_high_rule or cfg.profile.pcp_high_rule
    zones = np.zeros(len(sizes), dtype=_core.ZONE_DTYPE)
    first = 0
    for z, (pages, (wmin, wlow, whigh), n) in enumerate(zip(managed, wmarks, sizes)):
        raw_batch = profiles.zone_batchsize(pages, kernel=cfg.kernel) if m.batch is None else m.batch
        batch = max(1, raw_batch)
        hmin, hmax = profiles.pcp_high(rule, pages, wlow, raw_batch, n)
        if m.high is not None:
            hmin = hmax = m.high
        hmin, hmax = max(hmin, batch), max(hmax, batch)
        zone = zones[z]
        zone["managed"], zone["wmark_min"], zone["wmark_low"], zone["wmark_high"] = pages, wmin, wlow, whigh
        zone["batch"], zone["high_min"], zone["high_max"] = batch, hmin, hmax
        zone["first_cpu"], zone["ncpu"] = first, n
        zone["kswapd"] = -1
        in_use = int(m.in_use * pages)
        fill = min(int(m.pcp_fill * hmin), (pages - in_use) // (2 * n))
        cpus["pcp_count"][first:first + n] = fill * cpus["online"][first:first + n]
        cpus["pcp_high"][first:first + n] = hmin
        zone["pcp_pages"] = int(cpus["pcp_count"][first:first + n].sum())
        if m.free_pages is not None:
            in_use = pages - zone["pcp_pages"] - m.free_pages
        zone["in_use"] = in_use
        zone["free"] = pages - in_use - zone["pcp_pages"]
        first += n
    # pages the allocators hold at the start come out of in_use
    held = np.bincount(tasks["zone"], weights=tasks["held"], minlength=len(zones)).astype(np.int64)
    if np.any(held > zones["in_use"]):
        bad = int(np.argmax(held > zones["in_use"]))
        spec = next(i for i, t in enumerate(cfg.tasks) if t.held and bad in node_of[t.cpu_ids(len(node_of))])
        raise ConfigError(f"tasks[{spec}].held", cfg.tasks[spec].held,
                          f"pages that fit in node {bad}'s in-use pages at the start: its tasks hold "
                          f"{int(held[bad])} in all, {int(zones['in_use'][bad])} are in use")
    zones["held"] = held
    kswapd = np.flatnonzero(tasks["kind"] == _core.KINDS["kswapd"])
    zones["kswapd"][tasks["zone"][kswapd]] = kswapd
    params["remote_chunk"] = remote_chunk(cfg, int(zones["batch"].max()))
    return zones


def build_sources(cfg: Config, ncpu: int) -> np.ndarray:
    """Background work sources, one row per (CPU, source); rate 0 where a
    source does not apply."""
    srcs = cfg.workqueue.sources
    out = np.zeros((ncpu, len(srcs)), dtype=_core.SOURCE_DTYPE)
    for k, src in enumerate(srcs):
        cpus = Task(cpus=src.cpus).cpu_ids(ncpu)
        dur, sl = as_dist(src.duration), as_dist(src.sleep)
        col = out[:, k]
        col["rate"][cpus] = src.rate
        col["start"] = parse_duration(src.start, "start")
        col["interval"] = parse_duration(src.interval, "interval") if src.interval is not None else 0
        col["dur_dist"], col["dur_a"], col["dur_b"] = _DIST[dur.kind], parse_duration(dur.mean, "duration"), dur.sigma
        col["sleep_dist"], col["sleep_a"], col["sleep_b"] = _DIST[sl.kind], parse_duration(sl.mean, "sleep"), sl.sigma
        col["sleep_prob"] = src.sleep_prob
        col["highpri"] = int(src.highpri)
        col["mm"] = int(src.workqueue == "mm_percpu_wq")
    return np.ascontiguousarray(out).reshape(-1)


def physical_memory() -> int | None:
    """Bytes of RAM of this machine (None when the OS does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _check_fits(cfg: Config, nbytes: int) -> None:
    """Refuse a simulation whose native state would not fit in 80 % of RAM
    (asked before the large arrays are allocated, so asking costs nothing)."""
    ram = physical_memory()
    if ram is not None and nbytes > 0.8 * ram:
        raise ConfigError("topology", f"{cfg.topology.ncpu} CPUs, {len(cfg.tasks)} task specs",
                          f"a simulation that fits in memory: it needs about {nbytes / 2**30:.1f} GiB of native "
                          f"state and this machine has {ram / 2**30:.1f} GiB (use fewer CPUs or tasks per CPU, "
                          f"a smaller drain.max_targets, drain.max_calls, trace or workqueue.workers_per_pool, "
                          f"or memory.sample_cpus=False)")


def _table(rows: np.ndarray) -> dict[str, np.ndarray]:
    """A struct array as a table: a copy of every field but the padding."""
    return {name: rows[name].copy() for name in rows.dtype.names if not name.startswith("_")}


class Simulation:
    """A run of one Config: build it, then ``run(until)``, ``step()``, ``peek()``.

    >>> sim = Simulation(config)
    >>> sim.run(until="10ms")      # and again later
    >>> sim.task_cpu_time          # numpy view, live
    """

    def __init__(self, config: Config, trace: int = 0) -> None:
        """``trace``: the size of the trace buffer in records (0: no tracing);
        a full buffer drops further records and counts them
        (``trace_dropped``); see :mod:`pcpsim.trace`."""
        if isinstance(trace, bool) or not isinstance(trace, int) or not 0 <= trace <= 10**9:
            raise ConfigError("trace", trace, "a number of trace records in 0..1e9 (0: no tracing)")
        config.validate()
        self.config = config
        params = engine_params(config)
        sizes = config.topology.sizes()
        ncpu = config.topology.ncpu
        node_of = np.repeat(np.arange(len(sizes), dtype=np.int32), sizes)
        tasks, self.task_spec, self.spec_names = build_tasks(config, params, node_of)
        cpus = np.zeros(ncpu, dtype=_core.CPU_DTYPE)
        for name in ("curr", "rt_head", "fair_head", "fair_tail", "fair_left", "kthread", "ipi_call"):
            cpus[name] = -1
        cpus["node"] = node_of
        offline = np.asarray(config.topology.offline, dtype=np.int64)
        cpus["online"] = 1
        cpus["online"][offline] = 0
        cpus["isolated"][np.asarray(config.topology.isolated, dtype=np.int64)] = 1
        for kind, column in (("kthread", "kthread"), ("cpuhp", "cpuhp")):
            ids = np.flatnonzero(tasks["kind"] == _core.KINDS[kind])
            cpus[column] = -1
            cpus[column][tasks["cpu"][ids]] = ids
        zones = build_memory(config, params, node_of, cpus, tasks)
        hotplug = sorted((parse_duration(ev.at, "at"), ev.cpu, int(ev.online)) for ev in config.hotplug)
        # histograms: 2 per periodic task, 1 per allocator, then drain latency and dispatch delay
        periodic_ids = np.flatnonzero(tasks["kind"] == _core.KINDS["periodic"])
        tasks["hist"][periodic_ids] = 2 * np.arange(len(periodic_ids), dtype=np.int32)
        # one allocation-stall histogram per allocator spec (its tasks share it)
        alloc_ids = np.flatnonzero(tasks["kind"] == _core.KINDS["allocator"])
        alloc_specs, which = np.unique(self.task_spec[alloc_ids], return_inverse=True)
        tasks["hist_stall"][alloc_ids] = 2 * len(periodic_ids) + which
        self._stall_hist = {self.spec_names[sp]: 2 * len(periodic_ids) + i for i, sp in enumerate(alloc_specs)}
        nhist = 2 * len(periodic_ids) + len(alloc_specs) + 2
        params["hist_drain"], params["hist_dispatch"] = nhist - 2, nhist - 1
        nslot = ncpu * _core.SLOTS + len(tasks) + 2        # + hotplug and sampling timers
        if nslot > _core.TIMER_MAX_SLOTS:
            raise ConfigError("tasks", f"{len(tasks)} tasks (kernel threads included) on {ncpu} CPUs",
                              f"at most {_core.TIMER_MAX_SLOTS - ncpu * _core.SLOTS - 2} tasks on {ncpu} CPUs: "
                              f"the engine's timer keys name {_core.TIMER_MAX_SLOTS} timers, {_core.SLOTS} a CPU "
                              f"and one a task (fewer tasks per CPU or task specs)")
        nsrc = len(config.workqueue.sources)
        nitem = 2 * ncpu + 16 * ncpu + 256
        items = np.zeros(nitem, dtype=_core.ITEM_DTYPE)
        items["next"] = np.append(np.arange(1, nitem), -1)
        items["next"][: 2 * ncpu] = -1
        items["queued_at"] = -1
        items["sleep_at"] = -1
        items["call"] = -1
        pools = np.zeros(ncpu * _core.POOLS, dtype=_core.POOL_DTYPE)
        pools["cpu"] = np.repeat(np.arange(ncpu), _core.POOLS)
        pools["head"] = pools["tail"] = pools["idle"] = pools["mayday_next"] = -1
        pools["create_at"] = pools["mayday_at"] = NO_TIME
        workers = np.flatnonzero(tasks["kind"] == _core.KINDS["kworker"])
        wpool = tasks["pool"][workers]
        firsts = np.full(len(pools), -1, dtype=np.int64)
        firsts[wpool[::-1]] = workers[::-1]                    # each pool's first worker (they are contiguous)
        pools["first_worker"] = firsts
        pools["nworkers"] = np.bincount(wpool, minlength=len(pools))
        duration_ns = parse_duration(config.duration, "duration")
        sample_ns = params["sample_ns"]
        nsample = min(duration_ns // sample_ns + 1, 100_000) if sample_ns else 0
        if config.memory.sample_cpus:
            # per-CPU series: at most 20 M values (160 MB); fewer samples on big machines
            nsample = min(nsample, 20_000_000 // (2 * ncpu))
        cpu_rows = nsample if config.memory.sample_cpus else 0
        drain = np.zeros(1, dtype=_core.DRAIN_DTYPE)
        for name in ("owner", "wait_head", "wait_tail", "call", "cur_cpu", "mayday_head", "mayday_tail"):
            drain[name] = -1
        counters = np.zeros(1, dtype=_core.COUNTERS_DTYPE)
        counters["item_free"] = 2 * ncpu if nitem > 2 * ncpu else -1
        param_arr = np.zeros(1, dtype=_core.PARAMS_DTYPE)
        for name in _core.PARAMS_DTYPE.names:
            if not name.startswith("_"):                    # padding
                param_arr[name] = params[name]
        # name -> an array already built, or (rows, dtype, fill) for one made
        # only once the whole state is known to fit in memory
        spec: dict[str, np.ndarray | tuple[int, np.dtype, int]] = {
            "tasks": tasks,
            "task_counts": (len(tasks), _core.TASK_COUNTS_DTYPE, 0),
            "task_stats": (len(tasks), _core.TASK_STATS_DTYPE, 0),
            "cpus": cpus,
            "cpu_stats": (ncpu, _core.CPU_STATS_DTYPE, 0),
            "far": (nslot, _core.HEAP_DTYPE, 0),
            "heap_pos": (nslot, np.dtype(np.int32), -1),
            "wheel": (nslot, _core.WHEEL_DTYPE, 0),
            "wheel_head": (_core.TIMER_WHEEL_SIZE, np.dtype(np.int32), -1),
            "wheel_bits": (_core.TIMER_WHEEL_SIZE // 64, np.dtype(np.uint64), 0),
            "hist_stats": (nhist, _core.HIST_STATS_DTYPE, 0),
            "hist_counts": (nhist * _core.HIST_NBUCKETS, np.dtype(np.int64), 0),
            "zones": zones,
            "pools": pools,
            "items": items,
            "sources": build_sources(config, ncpu),
            "source_next": (ncpu * nsrc, np.dtype(np.int64), 0),
            "calls": (config.drain.max_calls, _core.CALL_DTYPE, 0),
            "targets": (config.drain.max_targets, _core.TARGET_DTYPE, 0),
            "target_cpus": (ncpu, np.dtype(np.int32), 0),
            "target_recs": (ncpu, np.dtype(np.int32), 0),
            "samples": (nsample * (1 + 2 * len(zones)), np.dtype(np.int64), 0),
            "cpu_samples": (cpu_rows * 2 * ncpu, np.dtype(np.int64), 0),
            "hotplug": np.asarray(hotplug, dtype=np.int64).reshape(-1),
            # one live tick per CPU, and room for cancelled ones (dropped by a
            # compaction when it fills, at about 5 entries moved per cancelled
            # tick): a push then lands on the lines the quarter of the CPUs
            # before it just popped, still in the cache (4 ncpu entries: 0.16
            # more L2 misses per event at 4096 CPUs)
            "tickq": (ncpu + ncpu // 4 + 16, _core.HEAP_DTYPE, 0),
            "trace": (trace, _core.TRACE_DTYPE, 0),
            "tick_live": (ncpu, np.dtype(np.int64), -1),
            "nowq": (2 * nslot + 16, _core.HEAP_DTYPE, 0),
            "now_live": (nslot, np.dtype(np.int64), -1),
            "drain": drain,
            "counters": counters,
            "params": param_arr,
        }
        _check_fits(config, sum(v.nbytes if isinstance(v, np.ndarray) else v[0] * v[1].itemsize
                                for v in spec.values()))
        arrays = {name: v if isinstance(v, np.ndarray)
                  else np.zeros(v[0], dtype=v[1]) if v[2] == 0 else np.full(v[0], v[2], dtype=v[1])
                  for name, v in spec.items()}
        bitgen = np.random.PCG64(np.random.SeedSequence(config.seed))
        self._engine = _core.Engine(arrays, bitgen)
        self.duration_ns = duration_ns

    # -- SimPy-style verbs -------------------------------------------------
    def run(self, until: Duration | None = None, max_events: int | None = None) -> int:
        """Advance to ``until`` (default: the config's duration); return the
        number of events processed. Can be called again with a later time.
        ``max_events`` bounds the work: the run stops early (``now`` short of
        ``until``) after that many events."""
        t = self.duration_ns if until is None else parse_duration(until, "until")
        if max_events is not None and (isinstance(max_events, bool) or not isinstance(max_events, int)
                                       or max_events < 1):
            raise ValueError(f"max_events = {max_events!r} is not allowed: expected an integer >= 1 or None")
        n = self._engine.run(t, -1 if max_events is None else max_events)
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
        return self._engine.arrays["tasks"]["cpu_time"]

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        """Every engine array (structured numpy arrays), live."""
        return self._engine.arrays

    def task_names(self) -> list[str]:
        """A name per task: the spec's name, or the kernel's thread names
        (``kswapd0``, ``kworker/3:1``, ``kworker/3:0H``, ``pg_drain/3``, ``cpuhp/3``)."""
        ts = self._engine.arrays["tasks"]
        names, nth = [], {}
        for ti, spec in enumerate(self.task_spec):
            if spec >= 0:
                names.append(self.spec_names[spec])
                continue
            kind, cpu = int(ts["kind"][ti]), int(ts["cpu"][ti])
            if kind == _core.KINDS["kswapd"]:
                names.append(f"kswapd{int(ts['zone'][ti])}")
            elif kind == _core.KINDS["kthread"]:
                names.append(f"pg_drain/{cpu}")
            elif kind == _core.KINDS["cpuhp"]:
                names.append(f"cpuhp/{cpu}")
            elif kind == _core.KINDS["rescuer"]:
                names.append("mm_percpu_wq")
            else:
                pool = int(ts["pool"][ti])
                k = nth[pool] = nth.get(pool, -1) + 1
                names.append(f"kworker/{cpu}:{k}{'H' if pool % _core.POOLS == 1 else ''}")
        return names

    def results(self) -> Results:
        """A snapshot of everything measured so far."""
        self._engine.flush()
        a = self._engine.arrays
        k = a["counters"][0]
        ts, st = a["tasks"], a["task_stats"]
        tasks = {name: ts[name].copy() for name in ("cpu", "kind", "policy", "prio", "zone", "held")}
        tasks["nice"] = profiles.weight_to_nice(ts["weight"])
        tasks["spec"] = self.task_spec.copy()
        tasks["cpu_time"] = ts["cpu_time"].copy()       # kept with the task: every event adds to it
        tasks.update(_table(a["task_counts"]))
        tasks.update(_table(st))
        cpus = _table(a["cpu_stats"])
        cpus["pcp_count"] = a["cpus"]["pcp_count"].copy()
        cpus["pcp_high"] = a["cpus"]["pcp_high"].copy()
        counts = a["hist_counts"].reshape(-1, _core.HIST_NBUCKETS)

        def hist(h: int) -> Histogram:
            return Histogram.from_engine(counts[h], a["hist_stats"][h])

        lat = {int(ti): hist(int(ts["hist"][ti])) for ti in np.flatnonzero(ts["hist"] >= 0)}
        resp = {int(ti): hist(int(ts["hist"][ti]) + 1) for ti in np.flatnonzero(ts["hist"] >= 0)}
        stall = {name: hist(h) for name, h in self._stall_hist.items()}
        p = a["params"][0]
        nz = len(a["zones"])
        samples = a["samples"].reshape(-1, 1 + 2 * nz)[: int(k["nsample"])]
        return Results(
            now=self.now, events=self.events, tasks=tasks, cpus=cpus, task_names=self.task_names(),
            wakeup_latency=lat, response_time=resp, alloc_stall=stall,
            drain_latency=hist(int(p["hist_drain"])), dispatch_delay=hist(int(p["hist_dispatch"])),
            zones=_table(a["zones"]),
            pools={name: a["pools"][name].copy() for name in ("cpu", "items_run", "maydays", "create_failures",
                                                               "nr_items")},
            calls=_table(a["calls"][: int(k["ncall"])]),
            targets=_table(a["targets"][: int(k["ntarget_rec"])]),
            memory=self._memory(samples),
            deadlocks=int(k["deadlocks"]),
            dropped={"calls": int(k["calls_dropped"]), "targets": int(k["targets_dropped"]),
                     "work_items": int(k["items_dropped"])},
            strategy=next(n for n, v in _core.STRATEGIES.items() if v == p["strategy"]),
            config=copy.deepcopy(self.config))

    def check(self) -> None:
        """Bookkeeping invariants the native loop keeps (issue: reliability):
        every work item is free, queued on exactly one pool or in one worker's
        hands; every drain call finished, was skipped, deadlocked, or is the
        one in progress or waiting for the mutex; the timer queue is in order;
        no count is negative. The debug build checks the same after every
        event. Raises AssertionError naming the broken one."""
        err = self._engine.check_bookkeeping()
        assert err is None, err

    def _memory(self, samples: np.ndarray) -> dict[str, np.ndarray]:
        """Memory over time: per zone free and pcp pages; per CPU (when sampled)
        pcp pages and drain time so far (``cpu_`` prefix: one column per CPU)."""
        out = {"time": samples[:, 0].copy(), "free": samples[:, 1::2].copy(), "pcp": samples[:, 2::2].copy()}
        cpu = self.arrays["cpu_samples"]
        if cpu.size:
            rows = cpu.reshape(-1, 2, len(self.arrays["cpus"]))[: len(samples)]
            out["cpu_pcp"] = rows[:, 0].copy()
            out["cpu_drain_ns"] = rows[:, 1].copy()
        return out

    def __reduce__(self):
        return (_restore, (self.config, self._engine, self.task_spec, self.spec_names, self.duration_ns,
                           self._stall_hist))


def _restore(config, engine, task_spec, spec_names, duration_ns, stall_hist) -> Simulation:
    sim = Simulation.__new__(Simulation)
    sim.config, sim._engine, sim.task_spec = config, engine, task_spec
    sim.spec_names, sim.duration_ns, sim._stall_hist = spec_names, duration_ns, stall_hist
    return sim


def run(config: Config, until: Duration | None = None) -> Results:
    """Build a Simulation, run it to ``until`` (default: its duration), return its results."""
    sim = Simulation(config)
    sim.run(until)
    return sim.results()
