"""The timer queue (_eventq.pxd): a heap for the current bucket, a wheel of
WHEEL_SIZE buckets of BUCKET_NS, and a heap for timers beyond the wheel's span.
These runs arm timers at every distance, from the current bucket to several
spans ahead, and check that each fires when it was armed for and that the
structure stays consistent as the wheel turns and wraps."""
from __future__ import annotations

import numpy as np
import pytest

import pcpsim as p
from pcpsim import _core

SPAN_NS = _core.TIMER_WHEEL_SIZE * _core.TIMER_BUCKET_NS
MS = 1_000_000


def test_the_wheel_span_is_what_the_queue_assumes() -> None:
    # 16384 buckets of 4.096 us: 67 ms, so the 100 ms and 250 ms periods below are beyond it
    assert SPAN_NS == 67_108_864


def _periods_config(seed: int = 3) -> p.Config:
    # FIFO periodic tasks, each alone at its priority on a CPU of its own:
    # their wakeups come from timers in the current bucket (50 us), the wheel
    # (1 ms, 20 ms), just past the span (70 ms) and far beyond it (250 ms)
    periods = ["50us", "1ms", "20ms", "70ms", "250ms"]
    return p.Config(
        kernel="6.6", topology=p.Topology(1, len(periods)),
        tasks=[p.periodic([c], per, "10us", prio=50, name=f"per-{per}") for c, per in enumerate(periods)],
        duration="1s", seed=seed)


def test_timers_at_every_distance_fire_on_time() -> None:
    cfg = _periods_config()
    res = p.run(cfg)
    tasks = res.tasks
    kinds = np.asarray(tasks["kind"])
    ids = np.nonzero(kinds == _core.KINDS["periodic"])[0]
    assert len(ids) == 5
    for ti, per_ns in zip(ids, (50_000, 1 * MS, 20 * MS, 70 * MS, 250 * MS)):
        # a release at 0, per, 2 per, ... up to 1 s: a late or lost timer loses a job
        # (a release at 1 s itself is still running at the end)
        releases = 1_000 * MS // per_ns + 1
        assert tasks["nr_jobs"][ti] == releases - (1_000 * MS % per_ns == 0), (ti, per_ns)
        assert tasks["deadline_misses"][ti] == 0
        # alone on its CPU: it runs at its release, after the wakeup IPI (2 us) and the
        # switch (2 us), or one more switch's cost when a tick's work is due then too;
        # a timer a bucket late (4.096 us) would show
        lat = res.wakeup_latency[int(ti)]
        assert lat.count == releases
        assert lat.min == 4_000 and lat.max <= 6_000, (ti, lat.min, lat.max)


def test_queue_stays_consistent_while_the_wheel_turns_and_wraps() -> None:
    # bursty tasks sleep from microseconds to a few spans (lognormal, sigma 2):
    # timers land in every part of the queue and move between them
    cfg = p.Config(kernel="6.6", topology=p.Topology(1, 4),
                   tasks=[p.hog("all"), p.bursty("all", p.Dist("exp", "200us"), p.Dist("lognormal", "5ms", 2.0)),
                          p.periodic([0], "90ms", "1ms", prio=10)],
                   duration="600ms", seed=11)
    sim = p.Simulation(cfg)
    parts = {"current": 0, "wheel": 0, "far": 0}
    last = 0
    for k in range(1, 301):
        sim.run(f"{2 * k}ms")
        sim.check()                         # heaps in order, buckets consistent, parts by distance
        pos = sim.arrays["heap_pos"]
        parts["current"] += int(np.count_nonzero(pos == _core.TIMER_IN_CURRENT))
        parts["wheel"] += int(np.count_nonzero(pos == _core.TIMER_IN_WHEEL))
        parts["far"] += int(np.count_nonzero(pos == _core.TIMER_IN_FAR))
        t = sim.peek()
        assert t >= last
        last = t
    assert min(parts.values()) > 0, parts  # every part was used
    start = int(sim.arrays["counters"]["wheel_start"][0])
    assert start > SPAN_NS * 8           # the wheel went round several times
    # the stepped run is the straight run: the queue's structure changes nothing
    straight = p.Simulation(cfg)
    straight.run()
    for name in ("tasks", "task_counts", "task_stats", "cpus", "cpu_stats", "hist_counts"):
        assert np.array_equal(sim.arrays[name], straight.arrays[name]), name


def test_step_takes_events_in_time_order_across_parts() -> None:
    sim = p.Simulation(_periods_config(5))
    sim.run("240ms")
    times = []
    for _ in range(20_000):
        t = sim.peek()
        if t < 0:
            break
        assert sim.step() == t
        times.append(t)
    assert times == sorted(times)
    # the 250 ms release (armed far beyond the span at time 0) is among them, on time
    assert 250 * MS in times


def test_timer_keys_name_their_slot_and_order_by_arming() -> None:
    # an entry's key is its sequence number above SLOT_BITS and its slot below:
    # every far-heap and ring entry decodes to a slot that says it is there,
    # and whose row in ``wheel`` holds the entry's time and key
    sim = p.Simulation(_periods_config(7))
    sim.run("123456789ns")
    a = sim.arrays
    mask = _core.TIMER_MAX_SLOTS - 1
    bits = _core.TIMER_MAX_SLOTS.bit_length() - 1
    seq = int(a["counters"]["seq"][0])
    pos = a["heap_pos"]
    n = int(np.count_nonzero(pos == _core.TIMER_IN_FAR))
    entries = a["far"][:n]
    slots = entries["key"] & mask
    assert n > 0 and np.all(pos[slots] == _core.TIMER_IN_FAR)
    assert np.array_equal(a["wheel"]["key"][slots], entries["key"])
    assert np.array_equal(a["wheel"]["time"][slots], entries["time"])
    # every armed timer's key names its slot and a number already taken, one per arming
    armed = np.flatnonzero(pos != -1)
    keys = a["wheel"]["key"][armed]
    assert len(armed) > 0 and np.array_equal(keys & mask, armed)
    assert np.all(keys >> bits < seq) and len(np.unique(keys >> bits)) == len(armed)
    head, n = int(a["counters"]["ticks_head"][0]), int(a["counters"]["ticks_len"][0])
    ring = a["tickq"]["key"][(head + np.arange(n)) % len(a["tickq"])]
    live = ring[a["tick_live"][ring & mask] == ring]
    assert len(live) > 0 and np.all(np.diff(live >> bits) > 0)      # in arming order


def test_the_current_bucket_pops_in_time_then_arming_order() -> None:
    # 64 CPUs with microsecond bursts and sleeps: a bucket holds several timers,
    # some in one 64 ns sub-bucket; at every step the sub-buckets' lists stay in
    # (time, key) order (sim.check()) and the next event is never later than the
    # earliest of them
    cfg = p.Config(kernel="6.6", topology=p.Topology(1, 64),
                   tasks=[p.hog("all"), p.bursty("all", p.Dist("exp", "3us"), p.Dist("exp", "2us")),
                          p.periodic(range(0, 64, 2), "100us", "1us", prio=10)],
                   duration="20ms", seed=4)
    sim = p.Simulation(cfg)
    sim.run("5ms")
    a = sim.arrays
    most = shared = 0
    times = []
    for _ in range(3000):
        cur = np.flatnonzero(a["heap_pos"] == _core.TIMER_IN_CURRENT)
        t = sim.peek()
        if len(cur):
            due = a["wheel"]["time"][cur]
            assert t <= due.min()
            subs = (np.maximum(due - int(a["counters"]["wheel_start"][0]), 0) >> 6).tolist()
            most, shared = max(most, len(cur)), max(shared, max(subs.count(b) for b in subs))
        assert sim.step() == t
        times.append(t)
        sim.check()
    assert times == sorted(times)
    assert most >= 4 and shared >= 2, (most, shared)


def test_a_simulation_that_would_outnumber_timer_keys_stops_with_an_error() -> None:
    sim = p.Simulation(_periods_config(3))
    sim.run("5ms")
    _, (arrays, bitgen, started) = sim._engine.__reduce__()
    arrays["counters"]["seq"] = _core.TIMER_SEQ_LIMIT - 3      # three more arms, then the limit
    engine = _core.Engine(arrays, bitgen, started)
    with pytest.raises(RuntimeError, match="as many timers as timer keys can number"):
        engine.run(10 * MS)
    assert 5 * MS <= engine.now < 10 * MS


def test_more_tasks_than_timer_keys_can_name_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _periods_config()
    nslot = p.Simulation(cfg).arrays["heap_pos"].size
    monkeypatch.setattr(_core, "TIMER_MAX_SLOTS", nslot - 1)
    with pytest.raises(p.ConfigError, match=f"at most {nslot - 1 - 5 * _core.SLOTS - 2} tasks on 5 CPUs") as err:
        p.Simulation(cfg)
    assert err.value.field == "tasks"


def test_an_engine_refuses_a_current_bucket_timer_due_after_it() -> None:
    # the current bucket's lists are rebuilt from heap_pos and the wheel rows
    # when an engine binds its arrays: a timer marked there but due later
    # would land past its 64 sub-buckets, so binding refuses it
    cfg = p.Config(kernel="6.6", topology=p.Topology(1, 64),
                   tasks=[p.hog("all"), p.bursty("all", p.Dist("exp", "3us"), p.Dist("exp", "2us"))],
                   duration="20ms", seed=4)
    sim = p.Simulation(cfg)
    sim.run("5ms")
    while not np.any(sim.arrays["heap_pos"] == _core.TIMER_IN_CURRENT):
        sim.step()
    _, (arrays, bitgen, started) = sim._engine.__reduce__()
    again = _core.Engine({k: v.copy() for k, v in arrays.items()}, bitgen, started)   # as saved: binds
    assert again.peek() == sim.peek()
    slot = int(np.flatnonzero(arrays["heap_pos"] == _core.TIMER_IN_CURRENT)[0])
    arrays["wheel"]["time"][slot] = int(arrays["counters"]["wheel_start"][0]) + _core.TIMER_BUCKET_NS
    with pytest.raises(ValueError, match="a timer marked in the current bucket is due after it"):
        _core.Engine(arrays, bitgen, started)
