"""Configuration: topology, tasks and scheduler parameters (MODEL.md 2, 3, 4, 5).

Everything is a plain dataclass. ``Config.validate()`` checks every value before
the native loop starts and raises :class:`ConfigError` naming the field, the
value and what is allowed. Durations are integer nanoseconds or strings such as
``"10ms"``, ``"1.5us"``, ``"2s"``.
"""
from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Union

import numpy as np

from pcpsim import profiles

Duration = Union[int, str]
CpuSet = Union[int, Sequence[int], range, str]

HZ_VALUES = (100, 250, 300, 1000)
TASK_KINDS = ("hog", "periodic", "bursty", "allocator", "extdrain")
STRATEGIES = ("ipi", "workqueue", "workqueue_highpri", "kthread", "kthread_rfc_v1", "remote")
PCP_HIGH_RULES = ("6batch", "lowwmark", "autotune")
POLICIES = ("normal", "fifo", "rr")
DIST_KINDS = ("fixed", "exp", "lognormal")
FAIR_CLASSES = ("cfs", "eevdf")
TUNABLE_SCALING = ("none", "log", "linear")
MAX_CPUS = 65536
MAX_DURATION_NS = 10**15  # 1e6 s: every sum of durations stays far from int64 overflow
MIN_NET_RATE = 1.0        # pages/s: an allocator's net flow, one page per <= 1 s of CPU time
MIN_KSWAPD_RATE = 1.0     # pages/s: kswapd's ns per page (<= 1e9) times pages per attempt fits int64
PCP_HIGH_MAX = 2**31 - 1  # pcp->high is an int

_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
_DURATION_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*(ns|us|µs|ms|s)\s*$")


class ConfigError(ValueError):
    """A configuration value that is not allowed.

    ``field`` is the path of the value (``"tasks[2].nice"``), ``value`` the value
    given, ``allowed`` what would have been accepted; ``source`` the file it was
    read from (:meth:`Config.from_toml`), named first in the message.
    """

    def __init__(self, field: str, value: object, allowed: str, *, source: str | None = None) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        self.source = source   # the file the value came from (Config.from_toml), if any
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{field} = {value!r} is not allowed: expected {allowed}")

    def __reduce__(self) -> tuple[object, ...]:  # picklable (e.g. raised in a worker process)
        return _config_error, (type(self), self.__dict__, self.args)


def _config_error(cls: type[ConfigError], state: dict[str, object], args: tuple[object, ...]) -> ConfigError:
    err = cls.__new__(cls)
    err.__dict__.update(state)
    err.args = args
    return err


def parse_duration(value: object, field: str, *, allow_zero: bool = True) -> int:
    """A duration in integer nanoseconds from an int (ns) or a string with unit."""
    allowed = ("a duration: an integer number of nanoseconds or a string such as "
               f"'10ms' (units ns, us, ms, s), {'>= 0' if allow_zero else '> 0'}, at most 1e6 s")
    if isinstance(value, bool):
        raise ConfigError(field, value, allowed)
    if isinstance(value, (int, np.integer)):
        ns = int(value)
    elif isinstance(value, float) and value.is_integer():
        ns = int(value)
    elif isinstance(value, str):
        m = _DURATION_RE.match(value)
        if not m:
            raise ConfigError(field, value, allowed)
        x = float(m.group(1)) * _UNITS[m.group(2)]
        if not math.isfinite(x):
            raise ConfigError(field, value, allowed)
        ns = round(x)
    else:
        raise ConfigError(field, value, allowed)
    if ns < 0 or (ns == 0 and not allow_zero) or ns > MAX_DURATION_NS:
        raise ConfigError(field, value, allowed)
    return ns


def _check_int(value: object, field: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise ConfigError(field, value, f"an integer in {lo}..{hi}")
    return int(value)


def _check_choice(value: object, field: str, choices: Sequence[object]) -> None:
    # a str (or None where None is a choice) first: an array or a list compared
    # with ``in`` would broadcast, or raise something other than a ConfigError
    if not (isinstance(value, str) or value is None) or value not in choices:
        raise ConfigError(field, value, "one of " + ", ".join(map(repr, choices)))


def _check_rate(value: object, field: str, hi: float = 1e12) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or not 0 <= value <= hi:
        raise ConfigError(field, value, f"a finite number in 0..{hi:g}")
    return float(value)


def _check_fraction(value: object, field: str) -> float:
    return _check_rate(value, field, 1.0)


def _check_ids(value: object, field: str, what: str) -> None:
    """A sequence (list, tuple, range, 1-D numpy array) of CPU ids or counts."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, range, np.ndarray)) \
            or (isinstance(value, np.ndarray) and value.ndim != 1):
        raise ConfigError(field, value, what)


def _check_bool(value: object, field: str, optional: bool = False) -> None:
    if not (isinstance(value, bool) or (optional and value is None)):
        raise ConfigError(field, value, "True or False" + (" or None (profile default)" if optional else ""))


@dataclass
class Dist:
    """A duration distribution (MODEL.md 5): ``fixed`` at ``mean``, ``exp`` of mean
    ``mean``, or ``lognormal`` of mean ``mean`` and shape ``sigma``."""

    kind: str = "fixed"
    mean: Duration = 0
    sigma: float = 0.0

    def validate(self, field: str) -> None:
        _check_choice(self.kind, f"{field}.kind", DIST_KINDS)
        parse_duration(self.mean, f"{field}.mean", allow_zero=False)
        # checked for every kind: only lognormal uses it, but the engine copies it
        if isinstance(self.sigma, bool) or not isinstance(self.sigma, (int, float, np.integer, np.floating)) \
                or not math.isfinite(self.sigma) or not 0 <= self.sigma <= 10:
            raise ConfigError(f"{field}.sigma", self.sigma, "a finite number in 0..10")


def as_dist(value: Dist | Duration) -> Dist:
    """A Dist from a Dist or a plain duration (fixed)."""
    return value if isinstance(value, Dist) else Dist("fixed", value)


@dataclass
class Task:
    """A workload task, replicated ``per_cpu`` times on each CPU of ``cpus``
    (MODEL.md 5). Tasks are pinned; there is no load balancing.

    - ``hog``: always runnable.
    - ``periodic``: released every ``period`` (first at ``phase``), runs
      ``runtime`` of CPU time; records wake-up latency (release to first run),
      response time and deadline misses (implicit deadline = next release).
    - ``bursty``: runs ``run`` of CPU time, sleeps ``sleep``, again and again.

    ``nonpreempt``: the first ``nonpreempt`` of every ``nonpreempt_every`` of the
    task's CPU time is a non-preemptible section (MODEL.md 4).
    ``slice``: EEVDF request size (``sched_setattr`` runtime, 6.12+ semantics with
    PREEMPT_SHORT); default the base slice.

    - ``allocator``: always runnable (or ``run``/``sleep`` bursts); while it runs
      it allocates ``alloc_rate`` and frees ``free_rate`` pages per second of its
      CPU time through its CPU's pcp list (MODEL.md 5, 6); ``held`` pages it
      holds at the start (what it can free). With ``reclaim`` its refills may
      enter direct reclaim (a *reclaimer*, MODEL.md 6.4).
    - ``extdrain``: calls ``drain_all_pages(zone)`` (``force``: force_all_cpus,
      as memory offlining does) every ``period`` from ``phase``; ``zone`` is a
      node id (default: the node of its CPU).
    """

    kind: str = "hog"
    cpus: CpuSet = 0
    policy: str = "normal"
    nice: int = 0
    prio: int = 0
    period: Duration | None = None
    runtime: Duration | None = None
    phase: Duration = 0
    run: Dist | Duration | None = None
    sleep: Dist | Duration | None = None
    nonpreempt: Duration = 0
    nonpreempt_every: Duration | None = None
    slice: Duration | None = None
    per_cpu: int = 1
    name: str | None = None
    alloc_rate: float = 0.0
    free_rate: float = 0.0
    held: int = 0
    reclaim: bool = False
    zone: int | None = None
    force: bool = False

    def cpu_ids(self, ncpu: int, field: str = "cpus") -> np.ndarray:
        """The CPUs this task spec is pinned to, validated against ``ncpu``."""
        allowed = f"a CPU id in 0..{ncpu - 1}, a sequence or range of them, or 'all'"
        c = self.cpus
        if isinstance(c, str):
            if c != "all":
                raise ConfigError(field, c, allowed)
            return np.arange(ncpu, dtype=np.int32)
        if isinstance(c, bool):
            raise ConfigError(field, c, allowed)
        if isinstance(c, (int, np.integer)):
            c = [int(c)]
        try:
            ids = np.asarray(list(c) if isinstance(c, range) else c)
        except Exception:  # noqa: BLE001 - any unusable value is a config error
            raise ConfigError(field, self.cpus, allowed) from None
        if ids.ndim != 1 or ids.size == 0 or not np.issubdtype(ids.dtype, np.integer):
            raise ConfigError(field, self.cpus, allowed)
        bad = ids[(ids < 0) | (ids >= ncpu)]
        if bad.size:
            raise ConfigError(field, int(bad[0]), allowed)
        return ids.astype(np.int32)

    def validate(self, field: str, ncpu: int, nnode: int = 1) -> None:
        _check_choice(self.kind, f"{field}.kind", TASK_KINDS)
        _check_choice(self.policy, f"{field}.policy", POLICIES)
        self.cpu_ids(ncpu, f"{field}.cpus")
        _check_int(self.per_cpu, f"{field}.per_cpu", 1, 1024)
        _check_int(self.nice, f"{field}.nice", -20, 19)
        if self.policy == "normal":
            _check_int(self.prio, f"{field}.prio", 0, 0)
        else:
            _check_int(self.prio, f"{field}.prio", 1, 99)
        parse_duration(self.phase, f"{field}.phase")
        # given to a kind that does not use them they must still be durations
        # (extdrain reads runtime; a typo should not pass silently)
        if self.period is not None:
            parse_duration(self.period, f"{field}.period", allow_zero=False)
        if self.runtime is not None:
            parse_duration(self.runtime, f"{field}.runtime", allow_zero=self.kind != "periodic")
        if self.kind == "periodic":
            if self.period is None:
                raise ConfigError(f"{field}.period", None, "a duration > 0 for a periodic task")
            if self.runtime is None:
                raise ConfigError(f"{field}.runtime", None, "a duration > 0 for a periodic task")
            period = parse_duration(self.period, f"{field}.period", allow_zero=False)
            runtime = parse_duration(self.runtime, f"{field}.runtime", allow_zero=False)
            if runtime > period:
                raise ConfigError(f"{field}.runtime", self.runtime,
                                  f"a duration <= period ({self.period!r})")
        for name in ("run", "sleep"):
            value = getattr(self, name)
            if value is not None:
                as_dist(value).validate(f"{field}.{name}")
            elif self.kind == "bursty":
                raise ConfigError(f"{field}.{name}", None, "a duration or Dist for a bursty task")
        np_len = parse_duration(self.nonpreempt, f"{field}.nonpreempt")
        if self.nonpreempt_every is not None:
            parse_duration(self.nonpreempt_every, f"{field}.nonpreempt_every", allow_zero=False)
        if np_len:
            if self.nonpreempt_every is None:
                raise ConfigError(f"{field}.nonpreempt_every", None,
                                  "a duration > nonpreempt when nonpreempt is set")
            every = parse_duration(self.nonpreempt_every, f"{field}.nonpreempt_every", allow_zero=False)
            if every <= np_len:
                raise ConfigError(f"{field}.nonpreempt_every", self.nonpreempt_every,
                                  f"a duration > nonpreempt ({self.nonpreempt!r})")
        if self.slice is not None:
            s = parse_duration(self.slice, f"{field}.slice", allow_zero=False)
            if not 100_000 <= s <= 100_000_000:
                raise ConfigError(f"{field}.slice", self.slice, "a duration in 0.1ms..100ms (sched_setattr)")
        if self.name is not None and not isinstance(self.name, str):
            raise ConfigError(f"{field}.name", self.name, "a string or None")
        for name in ("alloc_rate", "free_rate"):
            _check_rate(getattr(self, name), f"{field}.{name}")
        _check_int(self.held, f"{field}.held", 0, 2**40)
        _check_bool(self.reclaim, f"{field}.reclaim")
        _check_bool(self.force, f"{field}.force")
        if self.kind == "allocator" and abs(self.alloc_rate - self.free_rate) < MIN_NET_RATE:
            # the engine moves one net page per 1e9 / |net| ns of CPU time, an int64
            raise ConfigError(f"{field}.free_rate", self.free_rate,
                              f"a rate that differs from alloc_rate ({self.alloc_rate!r}) by at least "
                              f"{MIN_NET_RATE:g} page/s: the net flow drives the pcp")
        if self.kind == "allocator" and (self.run is None) != (self.sleep is None):
            raise ConfigError(f"{field}.{'sleep' if self.sleep is None else 'run'}", None,
                              "both run and sleep (a bursty allocator) or neither")
        if self.zone is not None and self.kind != "extdrain":
            raise ConfigError(f"{field}.zone", self.zone,
                              "None: only an extdrain task names a zone; the others use their CPU's node")
        if self.kind == "extdrain":
            if self.period is None:
                raise ConfigError(f"{field}.period", None, "a duration > 0 for an extdrain task")
            parse_duration(self.period, f"{field}.period", allow_zero=False)
            if self.zone is not None:
                _check_int(self.zone, f"{field}.zone", 0, nnode - 1)


def hog(cpus: CpuSet, *, policy: str = "normal", nice: int = 0, prio: int = 0, **kw: object) -> Task:
    """An always-runnable task on each CPU of ``cpus``."""
    return Task("hog", cpus, policy, nice, prio, **kw)  # type: ignore[arg-type]


def periodic(cpus: CpuSet, period: Duration, runtime: Duration, *, policy: str = "fifo",
             prio: int = 1, nice: int = 0, **kw: object) -> Task:
    """A cyclictest-like task on each CPU of ``cpus``."""
    if policy == "normal":
        prio = 0
    return Task("periodic", cpus, policy, nice, prio, period=period, runtime=runtime, **kw)  # type: ignore[arg-type]


def bursty(cpus: CpuSet, run: Dist | Duration, sleep: Dist | Duration, *, policy: str = "normal",
           nice: int = 0, prio: int = 0, **kw: object) -> Task:
    """A task that alternates ``run`` of CPU time and ``sleep``."""
    return Task("bursty", cpus, policy, nice, prio, run=run, sleep=sleep, **kw)  # type: ignore[arg-type]


def allocator(cpus: CpuSet, alloc_rate: float, free_rate: float = 0.0, *, reclaim: bool = False,
              policy: str = "normal", nice: int = 0, prio: int = 0, **kw: object) -> Task:
    """A task that allocates (and frees) pages through its CPU's pcp list while it runs."""
    return Task("allocator", cpus, policy, nice, prio, alloc_rate=alloc_rate, free_rate=free_rate,  # type: ignore[arg-type]
                reclaim=reclaim, **kw)


def reclaimer(cpus: CpuSet, alloc_rate: float, free_rate: float = 0.0, **kw: object) -> Task:
    """An allocator whose refills can enter direct reclaim (MODEL.md 6.4)."""
    return allocator(cpus, alloc_rate, free_rate, reclaim=True, **kw)  # type: ignore[arg-type]


def external_drain(cpu: int, period: Duration, *, zone: int | None = None, force: bool = False,
                   phase: Duration = 0, **kw: object) -> Task:
    """Zone-specific drain_all_pages(zone) calls every ``period`` (CMA-like; with
    ``force``, memory-offline-like), issued from ``cpu``."""
    return Task("extdrain", cpu, period=period, phase=phase, zone=zone, force=force, **kw)  # type: ignore[arg-type]


@dataclass
class Topology:
    """NUMA nodes and CPUs (MODEL.md 2): ``nodes`` x ``cpus_per_node``, or the
    explicit ``node_sizes``; CPU ids are contiguous per node. ``isolated`` CPUs
    have no tick while one task runs; ``offline`` CPUs start offline."""

    nodes: int = 1
    cpus_per_node: int = 8
    node_sizes: Sequence[int] | None = None
    isolated: Sequence[int] = ()
    offline: Sequence[int] = ()

    def sizes(self) -> list[int]:
        if self.node_sizes is not None:
            return [int(n) for n in self.node_sizes]
        return [int(self.cpus_per_node)] * int(self.nodes)

    @property
    def ncpu(self) -> int:
        return sum(self.sizes())

    def validate(self, field: str = "topology") -> None:
        # nodes and cpus_per_node are checked even when node_sizes overrides them
        _check_int(self.nodes, f"{field}.nodes", 1, 1024)
        _check_int(self.cpus_per_node, f"{field}.cpus_per_node", 1, MAX_CPUS)
        if self.node_sizes is not None:
            _check_ids(self.node_sizes, f"{field}.node_sizes", "a non-empty list of CPU counts")
            if len(self.node_sizes) == 0 or len(self.node_sizes) > 1024:
                raise ConfigError(f"{field}.node_sizes", self.node_sizes,
                                  "a non-empty list of CPU counts, at most 1024 nodes")
            for i, n in enumerate(self.node_sizes):
                _check_int(n, f"{field}.node_sizes[{i}]", 1, MAX_CPUS)
        if self.ncpu > MAX_CPUS:
            name = "node_sizes" if self.node_sizes is not None else "cpus_per_node"
            raise ConfigError(f"{field}.{name}", getattr(self, name),
                              f"at most {MAX_CPUS} CPUs in all (got {self.ncpu})")
        ncpu = self.ncpu
        for name in ("isolated", "offline"):
            ids = getattr(self, name)
            _check_ids(ids, f"{field}.{name}", "a sequence of CPU ids")
            for i, c in enumerate(ids):
                _check_int(c, f"{field}.{name}[{i}]", 0, ncpu - 1)
        if len({int(c) for c in self.offline}) == ncpu:
            raise ConfigError(f"{field}.offline", self.offline,
                              f"CPU ids that leave at least one of the {ncpu} CPUs online (the boot CPU)")


@dataclass
class Sched:
    """Scheduler parameters (MODEL.md 4). ``None`` takes the kernel profile's value.

    The base granularities (``sched_latency``, ``min_granularity``,
    ``wakeup_granularity``, ``base_slice``) are multiplied by the tunable-scaling
    factor, as the kernel does at boot.
    """

    hz: int = 250
    fair_class: str | None = None
    rt_throttle: bool | None = None
    rt_runtime: Duration = "950ms"
    rt_period: Duration = "1s"
    fair_server: bool | None = None
    fair_server_runtime: Duration = "50ms"
    fair_server_period: Duration = "1s"
    context_switch: Duration = "2us"
    wakeup_ipi: Duration = "2us"
    tunable_scaling: str = "log"
    sched_latency: Duration = "6ms"
    min_granularity: Duration = "0.75ms"
    wakeup_granularity: Duration = "1ms"
    base_slice: Duration | None = None
    rr_timeslice: Duration = "100ms"
    run_to_parity: bool = True
    preempt_short: bool | None = None
    gentle_sleepers: bool = True

    def validate(self, field: str = "sched") -> None:
        if not isinstance(self.hz, (int, np.integer)) or isinstance(self.hz, bool) or self.hz not in HZ_VALUES:
            raise ConfigError(f"{field}.hz", self.hz, "one of " + ", ".join(map(str, HZ_VALUES)))
        if self.fair_class is not None:
            _check_choice(self.fair_class, f"{field}.fair_class", FAIR_CLASSES + (None,))
        _check_choice(self.tunable_scaling, f"{field}.tunable_scaling", TUNABLE_SCALING)
        for name in ("rt_throttle", "fair_server", "preempt_short"):
            _check_bool(getattr(self, name), f"{field}.{name}", optional=True)
        for name in ("run_to_parity", "gentle_sleepers"):
            _check_bool(getattr(self, name), f"{field}.{name}")
        for name in ("context_switch", "wakeup_ipi"):
            parse_duration(getattr(self, name), f"{field}.{name}")
        for name in ("sched_latency", "min_granularity", "wakeup_granularity", "rr_timeslice",
                     "rt_period", "fair_server_period"):
            parse_duration(getattr(self, name), f"{field}.{name}", allow_zero=False)
        if self.base_slice is not None:
            parse_duration(self.base_slice, f"{field}.base_slice", allow_zero=False)
        for budget, period in (("rt_runtime", "rt_period"), ("fair_server_runtime", "fair_server_period")):
            b = parse_duration(getattr(self, budget), f"{field}.{budget}")
            if b > parse_duration(getattr(self, period), f"{field}.{period}"):
                raise ConfigError(f"{field}.{budget}", getattr(self, budget),
                                  f"a duration <= {period} ({getattr(self, period)!r})")
        if parse_duration(self.min_granularity, f"{field}.min_granularity") > \
                parse_duration(self.sched_latency, f"{field}.sched_latency"):
            raise ConfigError(f"{field}.min_granularity", self.min_granularity,
                              f"a duration <= sched_latency ({self.sched_latency!r})")


_BYTES_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(B|KiB|MiB|GiB|TiB)\s*$")
_BYTE_UNITS = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}


def parse_pages(value: object, field: str) -> int:
    """Managed pages from an int (pages) or a size string such as '4GiB'."""
    allowed = "a number of 4 KiB pages (int, >= 1024) or a size such as '4GiB' (B, KiB, MiB, GiB, TiB)"
    if isinstance(value, bool):
        raise ConfigError(field, value, allowed)
    if isinstance(value, (int, np.integer)):
        pages = int(value)
    elif isinstance(value, str) and (m := _BYTES_RE.match(value)):
        pages = int(float(m.group(1)) * _BYTE_UNITS[m.group(2)]) // 4096
    else:
        raise ConfigError(field, value, allowed)
    if not 1024 <= pages <= 2**40:
        raise ConfigError(field, value, allowed)
    return pages


@dataclass
class Memory:
    """Zones and pcp lists (MODEL.md 2, 6): one Normal zone per node.

    ``node_mem``: managed memory per node (a size string or pages; a list gives
    one per node). Watermarks, ``batch`` and ``high`` follow the kernel's
    formulas for the profile unless overridden. ``in_use`` and ``pcp_fill`` set
    the state at time 0 (fractions of managed pages and of pcp high);
    ``free_pages`` instead sets the zone's free pages at time 0 exactly (the
    rest, after the pcp lists, is in use). Every ``sample_interval`` the zones'
    free and pcp pages are sampled, and with ``sample_cpus`` each CPU's pcp
    pages and drain time (at most 20 M values: big machines get fewer samples).
    """

    node_mem: Duration | Sequence[int | str] = "4GiB"
    min_free_kbytes: int | None = None
    watermark_scale_factor: int = 10
    pcp_high_rule: str | None = None
    batch: int | None = None
    high: int | None = None
    page_cost: Duration = "40ns"
    lock_base: Duration = "200ns"
    in_use: float = 0.5
    pcp_fill: float = 0.5
    free_pages: int | None = None
    sample_interval: Duration = "10ms"
    sample_cpus: bool = True

    def node_pages(self, nnode: int, field: str = "memory.node_mem") -> list[int]:
        if isinstance(self.node_mem, (list, tuple)):
            if len(self.node_mem) != nnode:
                raise ConfigError(field, self.node_mem, f"one size per node ({nnode} nodes)")
            return [parse_pages(v, f"{field}[{i}]") for i, v in enumerate(self.node_mem)]
        return [parse_pages(self.node_mem, field)] * nnode

    def validate(self, nnode: int, field: str = "memory") -> None:
        self.node_pages(nnode)
        if self.min_free_kbytes is not None:
            _check_int(self.min_free_kbytes, f"{field}.min_free_kbytes", 128, 2**40)
        _check_int(self.watermark_scale_factor, f"{field}.watermark_scale_factor", 1, 3000)
        if self.pcp_high_rule is not None:
            _check_choice(self.pcp_high_rule, f"{field}.pcp_high_rule", PCP_HIGH_RULES)
        if self.batch is not None:
            _check_int(self.batch, f"{field}.batch", 1, 2**20)
        if self.high is not None:
            _check_int(self.high, f"{field}.high", 1, 2**30)
            if self.batch is not None and self.batch > self.high:
                raise ConfigError(f"{field}.batch", self.batch, f"an integer <= high ({self.high})")
        _check_bool(self.sample_cpus, f"{field}.sample_cpus")
        for name in ("page_cost", "lock_base", "sample_interval"):
            parse_duration(getattr(self, name), f"{field}.{name}")
        for name in ("in_use", "pcp_fill"):
            _check_fraction(getattr(self, name), f"{field}.{name}")
        if self.free_pages is not None:
            _check_int(self.free_pages, f"{field}.free_pages", 0, min(self.node_pages(nnode)) // 2)


@dataclass
class Reclaim:
    """kswapd and direct reclaim (MODEL.md 6.4). kswapd runs on ``kswapd_cpus``
    (one CPU of each node, in node order; default each node's first CPU)."""

    reclaim_time: Duration = "1ms"
    success_rate: float = 0.5
    pages_per_attempt: int = 32
    max_retries: int = 16
    oom_release: int = 4096
    kswapd_rate: float = 50_000.0
    kswapd: bool = True
    kswapd_cpus: list[int] | None = None
    retry_interval: Duration = "4ms"

    def kswapd_cpu_ids(self, sizes: Sequence[int], field: str = "reclaim.kswapd_cpus") -> list[int]:
        """The CPU of each node's kswapd, checked against the node sizes."""
        first = [sum(sizes[:n]) for n in range(len(sizes))]
        if self.kswapd_cpus is None:
            return first
        if isinstance(self.kswapd_cpus, (str, bytes)) \
                or not isinstance(self.kswapd_cpus, (list, tuple, range, np.ndarray)) \
                or (isinstance(self.kswapd_cpus, np.ndarray) and self.kswapd_cpus.ndim != 1) \
                or len(self.kswapd_cpus) != len(sizes):
            raise ConfigError(field, self.kswapd_cpus, f"a list of {len(sizes)} CPU ids, one per node, or None")
        for n, c in enumerate(self.kswapd_cpus):
            _check_int(c, f"{field}[{n}]", first[n], first[n] + sizes[n] - 1)
        return [int(c) for c in self.kswapd_cpus]

    def validate(self, field: str = "reclaim") -> None:
        parse_duration(self.reclaim_time, f"{field}.reclaim_time", allow_zero=False)
        parse_duration(self.retry_interval, f"{field}.retry_interval", allow_zero=False)
        _check_fraction(self.success_rate, f"{field}.success_rate")
        _check_int(self.pages_per_attempt, f"{field}.pages_per_attempt", 1, 2**20)
        _check_int(self.max_retries, f"{field}.max_retries", 0, 10_000)
        _check_int(self.oom_release, f"{field}.oom_release", 1, 2**40)
        _check_rate(self.kswapd_rate, f"{field}.kswapd_rate")
        if self.kswapd_rate < MIN_KSWAPD_RATE:
            raise ConfigError(f"{field}.kswapd_rate", self.kswapd_rate,
                              f"a finite number >= {MIN_KSWAPD_RATE:g} (pages/s)")
        _check_bool(self.kswapd, f"{field}.kswapd")


@dataclass
class Drain:
    """drain_all_pages() (MODEL.md 7): the dispatch strategy and its costs.
    ``strategy`` None takes the profile's; ``remote_chunk`` None takes the
    profile's (whole list before 6.10, ``batch << 5`` from 6.10).

    With the kthread strategies a CPU that comes online gets its drain kthread
    from its hotplug thread: ``worker_create`` of CPU and ``worker_pages``
    pages, which may enter direct reclaim. ``nested_drain``: the drain that
    reclaim calls there, ``global`` (drain_all_pages(NULL): the trylock fails
    under kthread_rfc_v1) or ``zone`` (a zone-specific drain: deadlock under
    kthread_rfc_v1)."""

    strategy: str | None = None
    kthread_policy: str = "fifo"
    kthread_prio: int = 1
    ipi_latency: Duration = "2us"
    remote_chunk: int | None = None
    max_calls: int = 100_000
    max_targets: int = 1_000_000
    worker_create: Duration = "100us"
    worker_pages: int = 4
    nested_drain: str = "global"

    def validate(self, field: str = "drain") -> None:
        parse_duration(self.worker_create, f"{field}.worker_create")
        _check_int(self.worker_pages, f"{field}.worker_pages", 1, 2**20)
        _check_choice(self.nested_drain, f"{field}.nested_drain", ("global", "zone"))
        if self.strategy is not None:
            _check_choice(self.strategy, f"{field}.strategy", STRATEGIES)
        _check_choice(self.kthread_policy, f"{field}.kthread_policy", ("fifo", "rr"))
        _check_int(self.kthread_prio, f"{field}.kthread_prio", 1, 99)
        parse_duration(self.ipi_latency, f"{field}.ipi_latency")
        if self.remote_chunk is not None:
            _check_int(self.remote_chunk, f"{field}.remote_chunk", 0, 2**30)
        _check_int(self.max_calls, f"{field}.max_calls", 0, 10**8)
        _check_int(self.max_targets, f"{field}.max_targets", 0, 10**9)


@dataclass
class WorkSource:
    """Background work items queued on the per-CPU pools of ``cpus`` (MODEL.md
    5, 7.2): Poisson arrivals at ``rate`` per second from ``start`` (or, with
    ``interval``, one item at ``start`` and then every ``interval``), each
    needing ``duration`` of CPU; with probability ``sleep_prob`` an item sleeps
    ``sleep`` half way. ``workqueue``: ``system_wq`` items (no rescuer), or
    ``mm_percpu_wq`` items such as lru_add_drain_per_cpu (CPU-bound; the
    rescuer runs them when the pool is stuck)."""

    cpus: CpuSet = "all"
    rate: float = 100.0
    start: Duration = 0
    interval: Duration | None = None
    duration: Dist | Duration = "50us"
    sleep_prob: float = 0.0
    sleep: Dist | Duration = "1ms"
    highpri: bool = False
    workqueue: str = "system_wq"

    def validate(self, field: str, ncpu: int) -> None:
        _check_choice(self.workqueue, f"{field}.workqueue", ("system_wq", "mm_percpu_wq"))
        Task(cpus=self.cpus).cpu_ids(ncpu, f"{field}.cpus")
        _check_rate(self.rate, f"{field}.rate", 1e7)
        if self.rate <= 0:
            raise ConfigError(f"{field}.rate", self.rate, "a finite number > 0 (items/s)")
        parse_duration(self.start, f"{field}.start")
        if self.interval is not None:
            parse_duration(self.interval, f"{field}.interval", allow_zero=False)
        as_dist(self.duration).validate(f"{field}.duration")
        as_dist(self.sleep).validate(f"{field}.sleep")
        _check_fraction(self.sleep_prob, f"{field}.sleep_prob")
        _check_bool(self.highpri, f"{field}.highpri")


@dataclass
class Workqueue:
    """The per-CPU worker pools (MODEL.md 7.2). Each pool starts with
    ``initial_workers`` idle workers and creates more, up to
    ``workers_per_pool``, when work is pending and none is idle (each creation
    takes ``worker_create`` and ``worker_pages`` pages; it fails below the min
    watermark and is retried a second later); the mayday timer then calls
    mm_percpu_wq's single ``rescuer``. ``hog_detection`` None takes the
    profile's (6.5+); ``vmstat_update`` is the CPU time of the per-CPU
    vmstat_update item queued every second (0: off)."""

    workers_per_pool: int = 8
    initial_workers: int = 1
    worker_create: Duration = "100us"
    worker_pages: int = 4
    rescuer: bool = True
    hog_detection: bool | None = None
    hog_threshold: Duration = "10ms"
    vmstat_update: Duration = "5us"
    sources: list[WorkSource] = field(default_factory=list)

    def validate(self, ncpu: int, field: str = "workqueue") -> None:
        _check_int(self.workers_per_pool, f"{field}.workers_per_pool", 1, 64)
        _check_int(self.initial_workers, f"{field}.initial_workers", 1, self.workers_per_pool)
        parse_duration(self.worker_create, f"{field}.worker_create")
        _check_int(self.worker_pages, f"{field}.worker_pages", 1, 2**20)
        _check_bool(self.rescuer, f"{field}.rescuer")
        _check_bool(self.hog_detection, f"{field}.hog_detection", optional=True)
        parse_duration(self.hog_threshold, f"{field}.hog_threshold", allow_zero=False)
        parse_duration(self.vmstat_update, f"{field}.vmstat_update")
        if not isinstance(self.sources, (list, tuple)):
            raise ConfigError(f"{field}.sources", self.sources, "a list of pcpsim.WorkSource")
        for i, src in enumerate(self.sources):
            if not isinstance(src, WorkSource):
                raise ConfigError(f"{field}.sources[{i}]", src, "a pcpsim.WorkSource")
            src.validate(f"{field}.sources[{i}]", ncpu)


@dataclass
class Hotplug:
    """CPU ``cpu`` goes offline (``online=False``) or comes online at ``at`` (MODEL.md 7.6)."""

    at: Duration
    cpu: int
    online: bool

    def validate(self, field: str, ncpu: int) -> None:
        parse_duration(self.at, f"{field}.at")
        _check_int(self.cpu, f"{field}.cpu", 0, ncpu - 1)
        _check_bool(self.online, f"{field}.online")


@dataclass
class Config:
    """One simulation: kernel profile, topology, tasks, scheduler, memory,
    reclaim, drains, workqueues, duration, seed."""

    kernel: str = "6.6"
    topology: Topology = field(default_factory=Topology)
    tasks: list[Task] = field(default_factory=list)
    sched: Sched = field(default_factory=Sched)
    memory: Memory = field(default_factory=Memory)
    reclaim: Reclaim = field(default_factory=Reclaim)
    drain: Drain = field(default_factory=Drain)
    workqueue: Workqueue = field(default_factory=Workqueue)
    hotplug: list[Hotplug] = field(default_factory=list)
    duration: Duration = "1s"
    seed: int = 0

    def validate(self) -> None:
        """Raise :class:`ConfigError` on the first value that is not allowed."""
        if not isinstance(self.kernel, str) or self.kernel not in profiles.KERNELS:
            raise ConfigError("kernel", self.kernel, "one of " + ", ".join(profiles.KERNELS))
        if not isinstance(self.topology, Topology):
            raise ConfigError("topology", self.topology, "a pcpsim.Topology")
        self.topology.validate()
        if not isinstance(self.sched, Sched):
            raise ConfigError("sched", self.sched, "a pcpsim.Sched")
        self.sched.validate()
        if not isinstance(self.tasks, (list, tuple)):
            raise ConfigError("tasks", self.tasks, "a list of pcpsim.Task")
        ncpu = self.topology.ncpu
        nnode = len(self.topology.sizes())
        for i, t in enumerate(self.tasks):
            if not isinstance(t, Task):
                raise ConfigError(f"tasks[{i}]", t, "a pcpsim.Task")
            t.validate(f"tasks[{i}]", ncpu, nnode)
        for name, cls in (("memory", Memory), ("reclaim", Reclaim), ("drain", Drain), ("workqueue", Workqueue)):
            if not isinstance(getattr(self, name), cls):
                raise ConfigError(name, getattr(self, name), f"a pcpsim.{cls.__name__}")
        self.memory.validate(nnode)
        self._validate_memory_formulas()
        self.reclaim.validate()
        self.reclaim.kswapd_cpu_ids(self.topology.sizes())
        self.drain.validate()
        self.workqueue.validate(ncpu)
        if not isinstance(self.hotplug, (list, tuple)):
            raise ConfigError("hotplug", self.hotplug, "a list of pcpsim.Hotplug")
        for i, ev in enumerate(self.hotplug):
            if not isinstance(ev, Hotplug):
                raise ConfigError(f"hotplug[{i}]", ev, "a pcpsim.Hotplug")
            ev.validate(f"hotplug[{i}]", ncpu)
        self._validate_hotplug_sequence()
        parse_duration(self.duration, "duration", allow_zero=False)
        _check_int(self.seed, "seed", 0, 2**63 - 1)

    def _validate_memory_formulas(self) -> None:
        """Cross-field rules of the zones (after Memory.validate): the kernel's
        watermarks leave pages above the high watermark, and every pcp's high
        (the formula's or ``memory.high``) fits the engine's int32."""
        m = self.memory
        sizes = self.topology.sizes()
        managed = m.node_pages(len(sizes))
        marks = profiles.zone_watermarks(managed, m.min_free_kbytes, m.watermark_scale_factor, kernel=self.kernel)
        rule = m.pcp_high_rule or self.profile.pcp_high_rule
        for z, (pages, (_wmin, wlow, whigh), n) in enumerate(zip(managed, marks, sizes)):
            if whigh >= pages:
                name = "min_free_kbytes" if m.min_free_kbytes is not None else "watermark_scale_factor"
                raise ConfigError(f"memory.{name}", getattr(m, name),
                                  f"a value whose watermarks fit in node {z}'s {pages} managed pages "
                                  f"(its high watermark would be {whigh} pages)")
            raw_batch = profiles.zone_batchsize(pages, kernel=self.kernel) if m.batch is None else m.batch
            hmax = m.high if m.high is not None else profiles.pcp_high(rule, pages, wlow, raw_batch, n)[1]
            if max(hmax, raw_batch) > PCP_HIGH_MAX:
                raise ConfigError("memory.node_mem", m.node_mem,
                                  f"a size whose pcp high ({hmax} pages on node {z}, rule {rule!r}) fits in "
                                  f"{PCP_HIGH_MAX} (pcp->high is an int): less memory per node, more CPUs per "
                                  f"node, or memory.high")

    def _validate_hotplug_sequence(self) -> None:
        """The events in time order (the engine's: at, cpu, online) never take
        the last online CPU offline: the kernel refuses (cpu_down: -EBUSY)."""
        online = set(range(self.topology.ncpu)) - {int(c) for c in self.topology.offline}
        order = sorted(range(len(self.hotplug)), key=lambda i: (
            parse_duration(self.hotplug[i].at, "at"), int(self.hotplug[i].cpu), int(self.hotplug[i].online)))
        for i in order:
            ev = self.hotplug[i]
            if ev.online:
                online.add(int(ev.cpu))
            elif online == {int(ev.cpu)}:
                raise ConfigError(f"hotplug[{i}].cpu", ev.cpu,
                                  f"a CPU that is not the last one online at {ev.at!r} "
                                  "(the kernel does not offline the last online CPU)")
            else:
                online.discard(int(ev.cpu))

    @property
    def profile(self) -> profiles.KernelProfile:
        return profiles.profile(self.kernel)

    # -- TOML (the format is described in pcpsim.tomlconfig) -------------------
    @classmethod
    def from_toml(cls, source: str | os.PathLike[str], *, validate: bool = True) -> Config:
        """A Config from a TOML file (a path) or TOML text (a ``str`` holding a
        newline or ``=``). Unknown keys, wrong types, bad values and syntax errors
        raise :class:`ConfigError` naming the file, the key path and the problem.
        ``validate``: also run :meth:`validate` (default)."""
        from pcpsim.tomlconfig import load
        return load(source, validate=validate)

    def to_toml(self) -> str:
        """This config as TOML text; ``Config.from_toml(cfg.to_toml()) == cfg``."""
        from pcpsim.tomlconfig import dump
        return dump(self)

    def save_toml(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_toml` to ``path`` (UTF-8)."""
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_toml())
