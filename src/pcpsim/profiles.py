"""Kernel profiles and the kernel's sizing formulas (MODEL.md sections 2, 3, 4, 6.1).

A *profile* holds the per-version defaults of MODEL.md section 3: which
``drain_all_pages()`` dispatch a kernel uses, how it sizes ``pcp->high``, which fair
scheduler and RT-bandwidth rule it has, and so on.  Every profile comes from one
table of changes (``_CHANGES``): each kernel is the previous one plus the changes
listed for it, so "6.18 is 6.12 with a 0.70 ms base slice" is written exactly once.
Profiles are frozen; override a mechanism with ``dataclasses.replace``.

The formula functions are pure functions on ints that reproduce the kernel's integer
arithmetic (unsigned long / u64 division is floor division on non-negative ints).
Each docstring names the kernel function it reproduces.  Versions are those of
MODEL.md; where the kernel differs from MODEL.md the docstring says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

PAGE_SIZE = 4096
PAGE_SHIFT = 12
KERNELS = ("4.10", "5.10", "5.17", "6.1", "6.6", "6.10", "6.12", "6.18")

DrainStrategy = Literal["ipi", "workqueue", "kthread", "remote"]
PcpHighRule = Literal["6batch", "lowwmark", "autotune"]
FairClass = Literal["cfs", "eevdf"]
RtBandwidth = Literal["throttle", "fair_server"]
TunableScaling = Literal["none", "log", "linear"]

DRAIN_STRATEGIES: tuple[str, ...] = ("ipi", "workqueue", "kthread", "remote")
PCP_HIGH_RULES: tuple[str, ...] = ("6batch", "lowwmark", "autotune")
FAIR_CLASSES: tuple[str, ...] = ("cfs", "eevdf")
RT_BANDWIDTH_MODES: tuple[str, ...] = ("throttle", "fair_server")

#: ``MIN_PERCPU_PAGELIST_HIGH_FRACTION`` (mm/page_alloc.c, 5.14+): the fraction that
#: gives ``pcp->high_max`` under auto-tuning (6.7+).
MIN_PERCPU_PAGELIST_HIGH_FRACTION = 8

_MS = 1_000_000


@dataclass(frozen=True)
class KernelProfile:
    """Per-kernel defaults of the mechanisms the simulator models (MODEL.md section 3).

    Attributes:
        kernel: version string, one of ``KERNELS``.
        drain_strategy: ``__drain_all_pages()`` dispatch (MODEL.md 7.2-7.5): ``"ipi"``
            (<= 4.10, ``on_each_cpu_mask``), ``"workqueue"`` (4.11-5.19,
            ``queue_work_on(mm_percpu_wq)``), ``"remote"`` (6.0+, the caller drains each
            remote pcp under ``pcp->lock``).  ``"kthread"`` (the Feb 2022 RFC, never
            merged) is accepted as an override but is no kernel's default.
        pcp_high_rule: how ``pcp->high`` is sized (see ``pcp_high``): ``"6batch"``
            (< 5.14, ``pageset_set_batch``), ``"lowwmark"`` (5.14-6.6,
            ``zone_highsize``), ``"autotune"`` (6.7+, ``high_min``/``high_max``).
        fair_class: ``"cfs"`` (<= 6.5) or ``"eevdf"`` (6.6+).
        rt_bandwidth: ``"throttle"`` (<= 6.11: RT may run ``bandwidth_runtime_ns`` per
            ``bandwidth_period_ns``) or ``"fair_server"`` (6.12+: a deferred DL server
            gives starved fair tasks ``bandwidth_runtime_ns`` per period).
        bandwidth_runtime_ns: 950 ms under ``throttle`` (``sched_rt_runtime_us``), 50 ms
            under ``fair_server`` (fair_server runtime).
        bandwidth_period_ns: 1 s in both modes.
        wq_hog_detection: 6.5+ ``wq_worker_tick()`` marks a worker CPU_INTENSIVE once
            its item ran longer than ``wq_hog_thresh_ns``.
        wq_hog_thresh_ns: ``wq_cpu_intensive_thresh_us`` = 10 ms.
        remote_drain_batch_shift: ``None`` = a remote drain frees the whole pcp in one
            ``pcp->lock`` hold (6.0-6.9); ``5`` = at most ``pcp->batch << 5`` pages per
            hold (6.10+, ``CONFIG_PCP_BATCH_SCALE_MAX``; 2016 pages for batch 63).
        base_slice_ns: EEVDF ``sysctl_sched_base_slice`` before tunable scaling
            (0.75 ms; 0.70 ms from 6.17).  CFS kernels keep the same 0.75 ms as
            ``sysctl_sched_min_granularity``.
        preempt_short: EEVDF ``PREEMPT_SHORT`` (6.12+): a waking task with a shorter
            slice may preempt despite ``RUN_TO_PARITY``.
        pcp_vs_buddy_trylock: 6.0+: the pcp has its own spinlock and local alloc/free
            use ``spin_trylock``, falling back to the zone (``rmqueue_buddy`` /
            ``free_one_page``) while a remote drain holds it.
        zone_batch_max_bytes: cap of ``zone_batchsize()``: 512 KiB before 4.19, 1 MiB
            from commit d8a759b57035 ("mm, page_alloc: double zone's batchsize").
        min_free_kbytes_max: upper clamp of the computed ``min_free_kbytes``: 65536
            before "mm/page_alloc: increase default min_free_kbytes bound" (Joel
            Savitz, 2020), 262144 after.
        cfs_slice_floor: CFS ``sched_slice()`` is at least ``min_granularity``
            (the BASE_SLICE feature, commit 0c2de3f054a5, 5.13).
    """

    kernel: str
    drain_strategy: DrainStrategy
    pcp_high_rule: PcpHighRule
    fair_class: FairClass
    rt_bandwidth: RtBandwidth
    bandwidth_runtime_ns: int
    wq_hog_detection: bool
    remote_drain_batch_shift: int | None
    base_slice_ns: int
    preempt_short: bool
    pcp_vs_buddy_trylock: bool
    zone_batch_max_bytes: int
    min_free_kbytes_max: int
    cfs_slice_floor: bool
    wq_hog_thresh_ns: int = 10 * _MS
    bandwidth_period_ns: int = 1000 * _MS

    def __post_init__(self) -> None:
        for name, allowed in (
            ("drain_strategy", DRAIN_STRATEGIES),
            ("pcp_high_rule", PCP_HIGH_RULES),
            ("fair_class", FAIR_CLASSES),
            ("rt_bandwidth", RT_BANDWIDTH_MODES),
        ):
            value = getattr(self, name)
            if value not in allowed:
                raise ValueError(f"{name}={value!r}: expected one of {allowed}")


# Each kernel = the previous kernel + these changes (MODEL.md section 3; the comment
# gives the version that merged each change).  6.10 auto-tunes pcp->high (6.7+, as
# MODEL.md 6.1 says), although MODEL.md's section 3 table writes "same" for 6.10.
# The 4.19 and 5.7 merge versions are inferred from the patches' posting dates.
_CHANGES: dict[str, dict[str, object]] = {
    "4.10": dict(
        drain_strategy="ipi",
        pcp_high_rule="6batch",
        fair_class="cfs",
        rt_bandwidth="throttle",
        bandwidth_runtime_ns=950 * _MS,
        wq_hog_detection=False,
        remote_drain_batch_shift=None,
        base_slice_ns=750_000,
        preempt_short=False,
        pcp_vs_buddy_trylock=False,
        zone_batch_max_bytes=512 * 1024,
        min_free_kbytes_max=65536,
        cfs_slice_floor=False,
    ),
    "5.10": dict(
        drain_strategy="workqueue",  # 4.11
        zone_batch_max_bytes=1024 * 1024,  # 4.19
        min_free_kbytes_max=262144,  # 5.7
    ),
    "5.17": dict(pcp_high_rule="lowwmark", cfs_slice_floor=True),  # 5.14; BASE_SLICE 5.13
    "6.1": dict(drain_strategy="remote", pcp_vs_buddy_trylock=True),  # 6.0
    "6.6": dict(fair_class="eevdf", wq_hog_detection=True),  # 6.6, 6.5
    "6.10": dict(pcp_high_rule="autotune", remote_drain_batch_shift=5),  # 6.7, 6.10
    "6.12": dict(  # 6.12
        rt_bandwidth="fair_server", bandwidth_runtime_ns=50 * _MS, preempt_short=True
    ),
    "6.18": dict(base_slice_ns=700_000),  # 6.17
}


def _build_profiles() -> dict[str, KernelProfile]:
    fields: dict[str, object] = {}
    built = {}
    for kernel in KERNELS:
        fields.update(_CHANGES[kernel])
        built[kernel] = KernelProfile(kernel=kernel, **fields)  # type: ignore[arg-type]
    return built


_PROFILES = _build_profiles()


def profile(kernel: str) -> KernelProfile:
    """Return the default profile of ``kernel`` (MODEL.md section 3).

    Raises:
        ValueError: ``kernel`` is not one of ``KERNELS``; the message names it and
            lists the allowed versions.
    """
    try:
        return _PROFILES[kernel]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown kernel {kernel!r}; allowed kernels: {', '.join(KERNELS)}"
        ) from None


# --------------------------------------------------------------------------- helpers


def int_sqrt(x: int) -> int:
    """Floor of the square root of ``x``, as the kernel's ``int_sqrt()`` (lib/math/int_sqrt.c).

    The kernel's bit-by-bit loop returns the floor square root of an unsigned long;
    ``math.isqrt`` computes the same value exactly.
    """
    if x < 0:
        raise ValueError(f"int_sqrt of a negative number: {x}")
    return math.isqrt(x)


def _ilog2(x: int) -> int:
    """The kernel's ``ilog2()`` for ``x >= 1``: index of the highest set bit."""
    return x.bit_length() - 1


def _rounddown_pow_of_two(x: int) -> int:
    """The kernel's ``rounddown_pow_of_two()`` for ``x >= 1``."""
    return 1 << _ilog2(x)


def _mult_frac(x: int, numer: int, denom: int) -> int:
    """The kernel's ``mult_frac(x, n, d)`` (include/linux/math.h): ``x * n / d``
    computed as ``(x / d) * n + ((x % d) * n) / d`` to avoid overflow."""
    q, r = divmod(x, denom)
    return q * numer + (r * numer) // denom


# --------------------------------------------------------------------- watermarks


def min_free_kbytes(lowmem_kbytes: int, *, kernel: str = KERNELS[-1]) -> int:
    """Default ``min_free_kbytes`` for ``lowmem_kbytes`` KiB of lowmem (MODEL.md section 2).

    ``calculate_min_free_kbytes()`` (``init_per_zone_wmark_min()`` before 5.16):
    ``clamp(int_sqrt(lowmem_kbytes * 16), 128, max)``.  The upper bound differs by
    version: 65536 before, 262144 after Joel Savitz's "mm/page_alloc: increase default
    min_free_kbytes bound" (posted Feb 2020, so 5.7), so ``kernel`` selects it
    (``KernelProfile.min_free_kbytes_max``); the two differ only above 256 GiB of lowmem.
    At boot ``lowmem_kbytes`` is ``nr_free_buffer_pages() * 4`` = the managed pages of
    all non-highmem zones (their watermarks are still 0) times 4.  Not modelled:
    khugepaged's ``set_recommended_min_free_kbytes()``, which raises the value when THP
    is enabled, and a user-set value (pass it to ``zone_watermarks`` instead).
    """
    return min(max(int_sqrt(lowmem_kbytes * 16), 128), profile(kernel).min_free_kbytes_max)


_min_free_kbytes = min_free_kbytes  # zone_watermarks' parameter shadows the name


def zone_watermarks(
    managed_pages: Sequence[int],
    min_free_kbytes: int | None = None,
    watermark_scale_factor: int = 10,
    *,
    kernel: str = KERNELS[-1],
) -> list[tuple[int, int, int]]:
    """``(min, low, high)`` watermarks in pages of every zone (MODEL.md section 2).

    ``__setup_per_zone_wmarks()`` (4.6+; same arithmetic through 6.18), all zones
    treated as lowmem (no highmem, no ZONE_MOVABLE)::

        pages_min = min_free_kbytes >> (PAGE_SHIFT - 10)
        lowmem_pages = sum(managed)
        tmp = (u64)pages_min * managed;  do_div(tmp, lowmem_pages)     -> min
        tmp = max_t(u64, tmp >> 2, mult_frac(managed, watermark_scale_factor, 10000))
        low = min + tmp;  high = min + 2 * tmp   (6.x: high = low + tmp)

    Args:
        managed_pages: managed pages of every zone of the machine (all nodes).
        min_free_kbytes: ``vm.min_free_kbytes``; ``None`` = the boot default
            ``min_free_kbytes(sum(managed_pages) * 4, kernel=kernel)``.
        watermark_scale_factor: ``vm.watermark_scale_factor`` (default 10 = 0.1 %).
        kernel: selects the ``min_free_kbytes`` clamp when it is computed.
    """
    lowmem_pages = sum(managed_pages)
    if lowmem_pages <= 0:
        raise ValueError("zone_watermarks needs at least one zone with managed pages")
    if min_free_kbytes is None:
        min_free_kbytes = _min_free_kbytes(lowmem_pages * (PAGE_SIZE >> 10), kernel=kernel)
    pages_min = min_free_kbytes >> (PAGE_SHIFT - 10)
    marks = []
    for managed in managed_pages:
        wmin = pages_min * managed // lowmem_pages
        tmp = max(wmin >> 2, _mult_frac(managed, watermark_scale_factor, 10000))
        marks.append((wmin, wmin + tmp, wmin + 2 * tmp))
    return marks


# ------------------------------------------------------------------ pcp batch, high


def zone_batchsize(managed_pages: int, *, kernel: str = KERNELS[-1]) -> int:
    """The kernel's ``zone_batchsize()`` (MODEL.md section 6.1), before the caller's ``max(1, .)``.

    ``b = min(managed >> 10, max_bytes / PAGE_SIZE) / 4``, at least 1, then
    ``rounddown_pow_of_two(b + b / 2) - 1``.  ``max_bytes`` is 1 MiB since commit
    d8a759b57035 ("mm, page_alloc: double zone's batchsize", July 2018, so 4.19): 63
    for every zone of 1 GiB or more; before it 512 KiB (4.10: 31 for every zone of
    512 MiB or more).  ``kernel`` selects it (``KernelProfile.zone_batch_max_bytes``).
    Zones under 32 MiB give 0: ``pcp->batch`` is ``pcp_batch()`` = ``max(1, this)``,
    while the pre-5.14 ``high = 6 * batch`` uses this raw value (see ``pcp_high``).
    """
    batch = min(managed_pages >> 10, profile(kernel).zone_batch_max_bytes // PAGE_SIZE) // 4
    batch = max(batch, 1)
    return _rounddown_pow_of_two(batch + batch // 2) - 1


def pcp_batch(managed_pages: int, *, kernel: str = KERNELS[-1]) -> int:
    """``pcp->batch`` of a zone: ``max(1, zone_batchsize())``.

    The caller-side clamp of ``pageset_set_batch()`` (< 5.14: ``max(1UL, 1 * batch)``)
    and ``zone_set_pageset_high_and_batch()`` (5.14+: ``max(1, zone_batchsize(zone))``).
    """
    return max(1, zone_batchsize(managed_pages, kernel=kernel))


def zone_highsize(
    managed_pages: int, low_wmark: int, batch: int, cpus_in_node: int, high_fraction: int = 0
) -> int:
    """The kernel's ``zone_highsize()`` (5.14+; ``high_fraction`` argument from 6.7).

    ``total = low_wmark`` if ``high_fraction == 0`` else ``managed / high_fraction``;
    ``high = max(total / cpus_in_node, batch << 2)``.  ``batch`` is ``pcp->batch``
    (already ``max(1, .)``).  ``cpus_in_node`` is the kernel's ``nr_split_cpus``: the
    CPUs of the zone's node (the kernel adds 1 while a CPU is coming online, and uses
    all online CPUs for a CPU-less node; the caller passes that number).
    """
    if cpus_in_node < 1:
        raise ValueError(f"cpus_in_node must be >= 1, got {cpus_in_node}")
    total = low_wmark if high_fraction == 0 else managed_pages // high_fraction
    return max(total // cpus_in_node, batch << 2)


def pcp_high(
    profile_or_rule: KernelProfile | str,
    managed: int,
    low_wmark: int,
    batch: int,
    cpus_in_node: int,
) -> tuple[int, int]:
    """``(high_min, high_max)`` of every pcp of a zone (MODEL.md section 6.1).

    Args:
        profile_or_rule: a ``KernelProfile`` or its ``pcp_high_rule``.
        managed: the zone's managed pages.
        low_wmark: the zone's low watermark (``zone_watermarks``).
        batch: the raw ``zone_batchsize()`` value (may be 0 for zones under 32 MiB).
        cpus_in_node: CPUs of the zone's node (see ``zone_highsize``).

    Rules:
        ``"6batch"`` (< 5.14, ``pageset_set_batch()``): ``6 * batch`` for both, from the
        raw batch, so a zone under 32 MiB has high 0 (pcp disabled).
        ``"lowwmark"`` (5.14-6.6): both ``zone_highsize(..., max(1, batch), ..., 0)``.
        ``"autotune"`` (6.7+, ``zone_set_pageset_high_and_batch()``):
        ``high_min = zone_highsize(..., 0)``, ``high_max = zone_highsize(..., 8)``
        (``MIN_PERCPU_PAGELIST_HIGH_FRACTION``); ``pcp->high`` moves between them.
    """
    rule = profile_or_rule
    if isinstance(rule, KernelProfile):
        rule = rule.pcp_high_rule
    if rule not in PCP_HIGH_RULES:
        raise ValueError(f"unknown pcp high rule {rule!r}; allowed: {', '.join(PCP_HIGH_RULES)}")
    if rule == "6batch":
        return 6 * batch, 6 * batch
    eff_batch = max(1, batch)
    high_min = zone_highsize(managed, low_wmark, eff_batch, cpus_in_node)
    if rule == "lowwmark":
        return high_min, high_min
    return high_min, zone_highsize(
        managed, low_wmark, eff_batch, cpus_in_node, MIN_PERCPU_PAGELIST_HIGH_FRACTION
    )


# ---------------------------------------------------------------------- scheduler


def tunable_scaling_factor(ncpus: int, mode: TunableScaling = "log") -> int:
    """Factor applied to the scheduler's base granularities (MODEL.md section 4).

    ``get_update_sysctl_factor()`` (kernel/sched/fair.c): ``cpus = min(ncpus, 8)``;
    ``SCHED_TUNABLESCALING_NONE`` -> 1, ``LINEAR`` -> ``cpus``, ``LOG`` (default) ->
    ``1 + ilog2(cpus)``.  ``ncpus`` is the number of online CPUs.
    """
    if ncpus < 1:
        raise ValueError(f"ncpus must be >= 1, got {ncpus}")
    cpus = min(ncpus, 8)
    if mode == "log":
        return 1 + _ilog2(cpus)
    if mode == "linear":
        return cpus
    if mode == "none":
        return 1
    raise ValueError(f"unknown tunable scaling {mode!r}; allowed: 'none', 'log', 'linear'")


#: ``sched_prio_to_weight[40]`` (kernel/sched/core.c), nice -20 .. 19.
SCHED_PRIO_TO_WEIGHT: tuple[int, ...] = (
    88761, 71755, 56483, 46273, 36291,
    29154, 23254, 18705, 14949, 11916,
    9548, 7620, 6100, 4904, 3906,
    3121, 2501, 1991, 1586, 1277,
    1024, 820, 655, 526, 423,
    335, 272, 215, 172, 137,
    110, 87, 70, 56, 45,
    36, 29, 23, 18, 15,
)  # fmt: skip

#: ``sched_prio_to_wmult[40]`` (kernel/sched/core.c): precalculated ``2^32 / weight``.
#: Copied, not computed: each entry is the floor or the ceiling of ``2^32 / weight``,
#: following no single rounding rule.
SCHED_PRIO_TO_WMULT: tuple[int, ...] = (
    48388, 59856, 76040, 92818, 118348,
    147320, 184698, 229616, 287308, 360437,
    449829, 563644, 704093, 875809, 1099582,
    1376151, 1717300, 2157191, 2708050, 3363326,
    4194304, 5237765, 6557202, 8165337, 10153587,
    12820798, 15790321, 19976592, 24970740, 31350126,
    39045157, 49367440, 61356676, 76695844, 95443717,
    119304647, 148102320, 186737708, 238609294, 286331153,
)  # fmt: skip


def nice_to_weight(nice: int) -> int:
    """Load weight of a fair task of the given nice level: ``sched_prio_to_weight[nice + 20]``
    (``set_load_weight()``, kernel/sched/core.c; MODEL.md section 4)."""
    if not -20 <= nice <= 19:
        raise ValueError(f"nice must be in -20..19, got {nice}")
    return SCHED_PRIO_TO_WEIGHT[nice + 20]


# ---------------------------------------------------------------------- workqueue



def weight_to_nice(weights: np.ndarray) -> np.ndarray:
    """The nice level of each load weight of ``sched_prio_to_weight`` (the table
    is strictly decreasing from nice -20 to 19)."""
    return np.searchsorted(-np.asarray(SCHED_PRIO_TO_WEIGHT), -np.asarray(weights)) - 20

def mayday_initial_timeout_jiffies(hz: int) -> int:
    """``MAYDAY_INITIAL_TIMEOUT`` (kernel/workqueue.c): ``HZ / 100 >= 2 ? HZ / 100 : 2``
    jiffies ("call for help after 10ms (min two ticks)"; MODEL.md 7.2)."""
    return max(hz // 100, 2)


def mayday_interval_jiffies(hz: int) -> int:
    """``MAYDAY_INTERVAL`` (kernel/workqueue.c): ``HZ / 10`` jiffies (100 ms; MODEL.md 7.2)."""
    return hz // 10
