"""Tests of pcpsim.profiles against values worked out by hand from the kernel formulas.

Every expected value below is written as the kernel's arithmetic, step by step, with
literal numbers; none is produced by the function under test.
"""

import dataclasses

import pytest

from pcpsim import profiles as P

MIB = 1024 * 1024 // 4096  # pages per MiB
GIB = 1024 * MIB


# ------------------------------------------------------------------- profiles


@pytest.mark.parametrize(
    "kernel, drain, high_rule, fair, rt, hog, shift, slice_ns, trylock",
    [
        ("4.10", "ipi", "6batch", "cfs", "throttle", False, None, 750_000, False),
        ("5.10", "workqueue", "6batch", "cfs", "throttle", False, None, 750_000, False),
        ("5.17", "workqueue", "lowwmark", "cfs", "throttle", False, None, 750_000, False),
        ("6.1", "remote", "lowwmark", "cfs", "throttle", False, None, 750_000, True),
        ("6.6", "remote", "lowwmark", "eevdf", "throttle", True, None, 750_000, True),
        ("6.10", "remote", "autotune", "eevdf", "throttle", True, 5, 750_000, True),
        ("6.12", "remote", "autotune", "eevdf", "fair_server", True, 5, 750_000, True),
        ("6.18", "remote", "autotune", "eevdf", "fair_server", True, 5, 700_000, True),
    ],
)
def test_profile_defaults(kernel, drain, high_rule, fair, rt, hog, shift, slice_ns, trylock):
    p = P.profile(kernel)
    assert p.kernel == kernel
    assert p.drain_strategy == drain
    assert p.pcp_high_rule == high_rule
    assert p.fair_class == fair
    assert p.rt_bandwidth == rt
    assert p.wq_hog_detection is hog
    assert p.remote_drain_batch_shift == shift
    assert p.base_slice_ns == slice_ns
    assert p.pcp_vs_buddy_trylock is trylock
    assert p.wq_hog_thresh_ns == 10 * 1000 * 1000  # wq_cpu_intensive_thresh_us = 10 ms
    assert p.bandwidth_period_ns == 1000 * 1000 * 1000


def test_profile_bandwidth_and_version_caps():
    # RT throttling 950 ms / 1000 ms up to 6.11; fair server 50 ms / 1000 ms from 6.12.
    assert P.profile("6.10").bandwidth_runtime_ns == 950 * 1000 * 1000
    assert P.profile("6.12").bandwidth_runtime_ns == 50 * 1000 * 1000
    assert P.profile("6.6").preempt_short is False
    assert P.profile("6.12").preempt_short is True
    # zone_batchsize cap: 512 KiB before 4.19, 1 MiB after; min_free_kbytes cap 64 Mi/256 Mi.
    assert P.profile("4.10").zone_batch_max_bytes == 512 * 1024
    assert P.profile("5.10").zone_batch_max_bytes == 1024 * 1024
    assert P.profile("4.10").min_free_kbytes_max == 65536
    assert P.profile("5.10").min_free_kbytes_max == 262144


def test_remote_drain_chunk_is_2016_pages_for_batch_63():
    assert 63 << P.profile("6.10").remote_drain_batch_shift == 2016


def test_profile_is_frozen_and_overridable():
    p = P.profile("5.17")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.drain_strategy = "remote"
    rfc = dataclasses.replace(p, drain_strategy="kthread")
    assert rfc.drain_strategy == "kthread"
    assert P.profile("5.17").drain_strategy == "workqueue"
    with pytest.raises(ValueError, match="bogus"):
        dataclasses.replace(p, drain_strategy="bogus")


@pytest.mark.parametrize("bad", ["7.0", "5.15", "", None])
def test_unknown_kernel_raises(bad):
    with pytest.raises(ValueError) as err:
        P.profile(bad)
    msg = str(err.value)
    assert repr(bad) in msg
    assert "4.10" in msg and "6.18" in msg


def test_kernels_tuple():
    assert P.KERNELS == ("4.10", "5.10", "5.17", "6.1", "6.6", "6.10", "6.12", "6.18")
    assert P.PAGE_SIZE == 4096


# ------------------------------------------------------------ min_free_kbytes


def test_int_sqrt():
    assert P.int_sqrt(0) == 0
    assert P.int_sqrt(15) == 3
    assert P.int_sqrt(16) == 4
    # 46340^2 = 2147395600 <= 2^31 < 46341^2 = 2147488281
    assert P.int_sqrt(2**31) == 46340
    with pytest.raises(ValueError):
        P.int_sqrt(-1)


def test_min_free_kbytes():
    # 4 GiB: sqrt(4194304 * 16) = sqrt(2^26) = 8192
    assert P.min_free_kbytes(4194304) == 8192
    # 512 KiB of lowmem: sqrt(8192) = 90 -> clamped up to 128
    assert P.min_free_kbytes(512) == 128
    # 1 TiB = 2^30 KiB: sqrt(2^34) = 2^17 = 131072: under the 5.7+ cap, over the 4.10 cap
    assert P.min_free_kbytes(2**30, kernel="6.1") == 131072
    assert P.min_free_kbytes(2**30, kernel="4.10") == 65536
    # 16 TiB = 2^34 KiB: sqrt(2^38) = 2^19 = 524288 -> 262144
    assert P.min_free_kbytes(2**34) == 262144


# ----------------------------------------------------------------- watermarks


def test_watermarks_one_4gib_zone():
    # managed = 1048576 pages; lowmem = 4194304 KiB; min_free_kbytes = sqrt(2^26) = 8192
    # pages_min = 8192 >> 2 = 2048; min = 2048 * 1048576 / 1048576 = 2048
    # mult_frac(1048576, 10, 10000) = (1048576 / 10000) * 10 + (1048576 % 10000) * 10 / 10000
    #                               = 104 * 10 + 8576 * 10 / 10000 = 1040 + 8 = 1048
    # tmp = max(2048 >> 2 = 512, 1048) = 1048; low = 3096; high = 4144
    assert P.zone_watermarks([4 * GIB]) == [(2048, 3096, 4144)]


def test_watermarks_two_64gib_nodes():
    # each zone 16777216 pages; lowmem = 33554432 pages = 134217728 KiB
    # min_free_kbytes = int_sqrt(134217728 * 16 = 2^31) = 46340; pages_min = 46340 >> 2 = 11585
    # min = 11585 * 16777216 / 33554432 = 5792 (5792.5 floored)
    # mult_frac(16777216, 10, 10000) = 1677 * 10 + 7216 * 10 / 10000 = 16770 + 7 = 16777
    # tmp = max(5792 >> 2 = 1448, 16777) = 16777; low = 22569; high = 39346
    assert P.zone_watermarks([64 * GIB, 64 * GIB]) == [(5792, 22569, 39346)] * 2


def test_watermarks_unequal_zones():
    # 3 GiB + 13 GiB = 786432 + 3407872 = 4194304 pages = 16777216 KiB
    # min_free_kbytes = sqrt(2^28) = 16384; pages_min = 4096
    # zone 0: min = 4096 * 786432 / 4194304 = 768
    #   mult_frac(786432) = 78 * 10 + 6432 * 10 / 10000 = 780 + 6 = 786; tmp = max(192, 786) = 786
    # zone 1: min = 4096 * 3407872 / 4194304 = 3328
    #   mult_frac(3407872) = 340 * 10 + 7872 * 10 / 10000 = 3400 + 7 = 3407; tmp = max(832, 3407)
    assert P.zone_watermarks([3 * GIB, 13 * GIB]) == [
        (768, 768 + 786, 768 + 2 * 786),
        (3328, 3328 + 3407, 3328 + 2 * 3407),
    ]


def test_watermarks_min_quarter_dominates_and_overrides():
    # 16 MiB = 4096 pages; min_free_kbytes = sqrt(16384 * 16) = 512; pages_min = 128; min = 128
    # mult_frac(4096, 10, 10000) = 0 + 4096 * 10 / 10000 = 4; tmp = max(128 >> 2 = 32, 4) = 32
    assert P.zone_watermarks([16 * MIB]) == [(128, 160, 192)]
    # explicit min_free_kbytes = 65536 -> pages_min 16384 on the 4 GiB zone;
    # watermark_scale_factor = 100: mult_frac(1048576, 100, 10000) = 104 * 100 + 8576 * 100 / 10000
    # = 10400 + 85 = 10485; tmp = max(16384 >> 2 = 4096, 10485) = 10485
    assert P.zone_watermarks([4 * GIB], min_free_kbytes=65536, watermark_scale_factor=100) == [
        (16384, 16384 + 10485, 16384 + 2 * 10485)
    ]


def test_watermarks_min_free_cap_depends_on_kernel():
    # one 1 TiB zone: min_free_kbytes 131072 (5.7+) vs 65536 (4.10)
    # 6.x: pages_min = 32768; mult_frac(268435456, 10, 10000) = 26843 * 10 + 5456 * 10 / 10000
    #      = 268430 + 5 = 268435; tmp = max(8192, 268435)
    assert P.zone_watermarks([1024 * GIB]) == [(32768, 32768 + 268435, 32768 + 2 * 268435)]
    # 4.10: pages_min = 65536 >> 2 = 16384
    assert P.zone_watermarks([1024 * GIB], kernel="4.10") == [
        (16384, 16384 + 268435, 16384 + 2 * 268435)
    ]


# ---------------------------------------------------------- pcp batch and high


def test_zone_batchsize():
    # 16 MiB: 4096 >> 10 = 4; 4 / 4 = 1; rounddown_pow_of_two(1 + 0) - 1 = 0
    assert P.zone_batchsize(16 * MIB) == 0
    assert P.pcp_batch(16 * MIB) == 1
    # 32 MiB: 8 / 4 = 2; rounddown_pow_of_two(2 + 1 = 3) - 1 = 1
    assert P.zone_batchsize(32 * MIB) == 1
    # 256 MiB: 65536 >> 10 = 64; 64 / 4 = 16; rounddown_pow_of_two(24) - 1 = 15
    assert P.zone_batchsize(256 * MIB) == 15
    # 1 GiB: min(256, 256) / 4 = 64; rounddown_pow_of_two(96) - 1 = 63
    assert P.zone_batchsize(1 * GIB) == 63
    assert P.zone_batchsize(64 * GIB) == 63
    # 4.10 caps at 512 KiB = 128 pages: 128 / 4 = 32; rounddown_pow_of_two(48) - 1 = 31
    assert P.zone_batchsize(1 * GIB, kernel="4.10") == 31
    assert P.zone_batchsize(256 * MIB, kernel="4.10") == 15


def test_zone_highsize():
    # low 1286 over 8 CPUs = 160 < 63 << 2 = 252 -> 252
    assert P.zone_highsize(262144, 1286, 63, 8) == 252
    # low 24969 / 8 = 3121
    assert P.zone_highsize(16777216, 24969, 63, 8) == 3121
    # fraction 8: 16777216 / 8 = 2097152; / 64 = 32768
    assert P.zone_highsize(16777216, 24969, 63, 64, high_fraction=8) == 32768
    with pytest.raises(ValueError):
        P.zone_highsize(16777216, 24969, 63, 0)


# (zone pages, low watermark of a machine made of that zone alone, raw batch) with the
# low watermarks worked out as in the watermark tests above:
#   16 MiB:  low = 128 + max(32, 4)     = 160,   batch 0
#   256 MiB: min_free = sqrt(262144 * 16) = 2048, min = 512,
#            tmp = max(128, 6 * 10 + 5536 * 10 / 10000 = 65) = 128, low = 640, batch 15
#   1 GiB:   min_free = sqrt(1048576 * 16) = 4096, min = 1024,
#            tmp = max(256, 26 * 10 + 2144 * 10 / 10000 = 262) = 262, low = 1286, batch 63
#   64 GiB:  min_free = sqrt(67108864 * 16) = 32768, min = 8192,
#            tmp = max(2048, 16777) = 16777, low = 24969, batch 63
ZONES = {
    "16MiB": (16 * MIB, 160, 0),
    "256MiB": (256 * MIB, 640, 15),
    "1GiB": (1 * GIB, 1286, 63),
    "64GiB": (64 * GIB, 24969, 63),
}

# Expected (high_min, high_max) per zone, rule and CPUs per node, by hand:
# 6batch: 6 * raw batch.
# lowwmark: max(low / cpus, max(1, batch) << 2).
# autotune: (lowwmark value, max(managed / 8 / cpus, max(1, batch) << 2)).
EXPECTED_HIGH = {
    ("16MiB", "6batch", 8): (6 * 0, 6 * 0),
    ("16MiB", "6batch", 64): (0, 0),
    ("16MiB", "lowwmark", 8): (160 // 8, 160 // 8),  # 20 > 1 << 2
    ("16MiB", "lowwmark", 64): (1 << 2, 1 << 2),  # 160 / 64 = 2 < 4
    ("16MiB", "autotune", 8): (20, 4096 // 8 // 8),  # 64
    ("16MiB", "autotune", 64): (4, 4096 // 8 // 64),  # 8
    ("256MiB", "6batch", 8): (6 * 15, 6 * 15),
    ("256MiB", "6batch", 64): (90, 90),
    ("256MiB", "lowwmark", 8): (640 // 8, 640 // 8),  # 80 > 60
    ("256MiB", "lowwmark", 64): (15 << 2, 15 << 2),  # 640 / 64 = 10 < 60
    ("256MiB", "autotune", 8): (80, 65536 // 8 // 8),  # 1024
    ("256MiB", "autotune", 64): (60, 65536 // 8 // 64),  # 128
    ("1GiB", "6batch", 8): (6 * 63, 6 * 63),  # 378
    ("1GiB", "6batch", 64): (378, 378),
    ("1GiB", "lowwmark", 8): (63 << 2, 63 << 2),  # 1286 / 8 = 160 < 252
    ("1GiB", "lowwmark", 64): (252, 252),  # 1286 / 64 = 20 < 252
    ("1GiB", "autotune", 8): (252, 262144 // 8 // 8),  # 4096
    ("1GiB", "autotune", 64): (252, 262144 // 8 // 64),  # 512
    ("64GiB", "6batch", 8): (378, 378),
    ("64GiB", "6batch", 64): (378, 378),
    ("64GiB", "lowwmark", 8): (24969 // 8, 24969 // 8),  # 3121
    ("64GiB", "lowwmark", 64): (24969 // 64, 24969 // 64),  # 390
    ("64GiB", "autotune", 8): (3121, 16777216 // 8 // 8),  # 262144
    ("64GiB", "autotune", 64): (390, 16777216 // 8 // 64),  # 32768
}


@pytest.mark.parametrize("zone, rule, cpus", sorted(EXPECTED_HIGH))
def test_pcp_high_by_rule(zone, rule, cpus):
    managed, low, batch = ZONES[zone]
    assert P.zone_batchsize(managed) == batch
    assert P.zone_watermarks([managed])[0][1] == low
    assert P.pcp_high(rule, managed, low, batch, cpus) == EXPECTED_HIGH[zone, rule, cpus]


def test_pcp_high_from_profile():
    # 4.10 on a 1 GiB zone: batch 31 (512 KiB cap), high = 6 * 31 = 186
    assert P.pcp_high(P.profile("4.10"), 1 * GIB, 1286, 31, 8) == (186, 186)
    # 5.17 uses the low-watermark rule, 6.12 auto-tunes
    assert P.pcp_high(P.profile("5.17"), 64 * GIB, 24969, 63, 8) == (3121, 3121)
    assert P.pcp_high(P.profile("6.12"), 64 * GIB, 24969, 63, 8) == (3121, 262144)
    with pytest.raises(ValueError, match="nonsense"):
        P.pcp_high("nonsense", 64 * GIB, 24969, 63, 8)


# ------------------------------------------------------------------ scheduler


@pytest.mark.parametrize(
    "ncpus, log, linear",
    [
        (1, 1 + 0, 1),  # ilog2(1) = 0
        (2, 1 + 1, 2),
        (4, 1 + 2, 4),
        (8, 1 + 3, 8),
        (64, 1 + 3, 8),  # min(64, 8) = 8
    ],
)
def test_tunable_scaling_factor(ncpus, log, linear):
    assert P.tunable_scaling_factor(ncpus) == log
    assert P.tunable_scaling_factor(ncpus, "log") == log
    assert P.tunable_scaling_factor(ncpus, "linear") == linear
    assert P.tunable_scaling_factor(ncpus, "none") == 1


def test_tunable_scaling_factor_rejects_bad_input():
    with pytest.raises(ValueError):
        P.tunable_scaling_factor(0)
    with pytest.raises(ValueError):
        P.tunable_scaling_factor(8, "cubic")


def test_weight_table():
    w = P.SCHED_PRIO_TO_WEIGHT
    assert len(w) == 40
    assert P.nice_to_weight(0) == 1024
    assert P.nice_to_weight(-20) == 88761
    assert P.nice_to_weight(19) == 15
    assert P.nice_to_weight(1) == 820
    assert P.nice_to_weight(-10) == 9548
    assert all(a > b for a, b in zip(w, w[1:]))
    # each step is about 1.25x (1.2 at the rounded bottom end: 18 / 15)
    assert all(1.19 < a / b < 1.29 for a, b in zip(w, w[1:]))
    for bad in (-21, 20):
        with pytest.raises(ValueError):
            P.nice_to_weight(bad)


def test_wmult_table():
    w, m = P.SCHED_PRIO_TO_WEIGHT, P.SCHED_PRIO_TO_WMULT
    assert len(m) == 40
    # exact kernel entries
    assert m[20] == 4194304  # 2^32 / 1024 exactly
    assert m[0] == 48388  # 2^32 / 88761 = 48388.03
    assert m[39] == 286331153  # 2^32 / 15 = 286331153.07
    assert m[2] == 76040  # 2^32 / 56483 = 76039.6: rounded up
    assert m[35] == 119304647  # 2^32 / 36 = 119304647.1
    # every entry is floor or ceil of 2^32 / weight: |m * w - 2^32| < w
    for weight, inv in zip(w, m):
        assert abs(inv * weight - 2**32) < weight


# ------------------------------------------------------------------ workqueue


@pytest.mark.parametrize(
    "hz, initial, interval",
    [
        (100, 2, 10),  # 100 / 100 = 1 < 2 -> 2; 100 / 10 = 10
        (250, 2, 25),  # 250 / 100 = 2 -> 2 (8 ms); 25 jiffies = 100 ms
        (300, 3, 30),
        (1000, 10, 100),
    ],
)
def test_mayday(hz, initial, interval):
    assert P.mayday_initial_timeout_jiffies(hz) == initial
    assert P.mayday_interval_jiffies(hz) == interval

