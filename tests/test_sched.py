"""The per-CPU scheduler against the kernel's rules (MODEL.md 4)."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

import pcpsim as p
from pcpsim.profiles import SCHED_PRIO_TO_WEIGHT

MS = 1_000_000
US = 1_000
FAIR_KERNELS = {"cfs": "5.17", "eevdf": "6.6"}


NO_BACKGROUND = p.Workqueue(vmstat_update=0)   # the scheduler alone: no vmstat_update kworker


def one_cpu(kernel: str, *tasks: p.Task, duration: str = "10s", **sched: object) -> p.Results:
    cfg = p.Config(kernel=kernel, topology=p.Topology(1, 1), tasks=list(tasks),
                   sched=p.Sched(**sched), workqueue=NO_BACKGROUND, duration=duration)
    return p.run(cfg)


def work(r: p.Results, column: str) -> np.ndarray:
    """A column of the task table for the workload tasks (kernel threads follow them)."""
    return r.tasks[column][r.tasks["spec"] >= 0]


def weight(nice: int) -> int:
    return SCHED_PRIO_TO_WEIGHT[nice + 20]


@pytest.mark.parametrize("kernel", FAIR_KERNELS.values(), ids=FAIR_KERNELS.keys())
def test_two_nice0_hogs_share_half_each(kernel: str) -> None:
    r = one_cpu(kernel, p.hog(0), p.hog(0))
    share = work(r, "cpu_time") / work(r, "cpu_time").sum()
    assert np.all(np.abs(share - 0.5) < 0.005), share


@pytest.mark.parametrize("kernel", FAIR_KERNELS.values(), ids=FAIR_KERNELS.keys())
@pytest.mark.parametrize("nice_a,nice_b", [(0, 5), (-10, 10), (0, 19), (-20, 0)])
def test_cpu_time_ratio_is_weight_ratio(kernel: str, nice_a: int, nice_b: int) -> None:
    # The light task runs whole ticks (no hrtick), so the shares converge at the
    # scale of one light-task tick per cycle: 100 s keeps that under 0.4 %.
    r = one_cpu(kernel, p.hog(0, nice=nice_a), p.hog(0, nice=nice_b), duration="100s")
    a, b = work(r, "cpu_time")
    expected = weight(nice_a) / weight(nice_b)
    assert abs((a / b) / expected - 1) < 0.01, (a / b, expected)


@pytest.mark.parametrize("throttle,fifo_share", [(None, 0.95), (False, 1.0)])
def test_fifo_hog_against_fair_hog_with_rt_throttling(throttle: bool | None, fifo_share: float) -> None:
    r = one_cpu("5.17", p.hog(0, policy="fifo", prio=10), p.hog(0), rt_throttle=throttle)
    share = work(r, "cpu_time") / work(r, "cpu_time").sum()
    assert abs(share[0] - fifo_share) < 0.005, share
    assert abs(share[1] - (1 - fifo_share)) < 0.005, share


def test_fair_server_gives_starved_fair_task_50ms_per_second() -> None:
    r = one_cpu("6.12", p.hog(0, policy="fifo", prio=10), p.hog(0))
    fair_ms_per_s = work(r, "cpu_time")[1] / MS / 10
    assert 45 <= fair_ms_per_s <= 55, fair_ms_per_s
    # switched off, the FIFO hog starves it completely
    off = one_cpu("6.12", p.hog(0, policy="fifo", prio=10), p.hog(0), fair_server=False)
    assert work(off, "cpu_time")[1] == 0


def _periodic_among_hogs(kernel: str, policy: str, **sched: object) -> p.Results:
    prio = 1 if policy == "fifo" else 0
    return one_cpu(kernel, p.hog(0, per_cpu=3), p.periodic(0, "1ms", "100us", policy=policy, prio=prio),
                   duration="2s", **sched)


@pytest.mark.parametrize("kernel", ["5.17", "6.6", "6.12"])
def test_fifo_periodic_wakeup_latency_is_wakeup_plus_switch(kernel: str) -> None:
    r = _periodic_among_hogs(kernel, "fifo")
    lat = r.wakeup_latency[3]
    assert lat.count == 2 * 1000 + 1  # releases at 0, 1, ..., 2000 ms
    assert lat.max <= 2 * US + 2 * US
    assert work(r, "deadline_misses")[3] == 0


TICK = 4 * MS
COSTS = 2 * US + 2 * US  # wakeup + context switch


def test_cfs_nice0_periodic_preempts_when_sleeper_credit_beats_granularity() -> None:
    # 1 CPU: factor 1. The sleeper is placed at min_vruntime - latency/2 = 3 ms
    # (virtual) behind every hog; wakeup_gran is 1 ms: it always preempts at once.
    lat = _periodic_among_hogs("5.17", "normal").wakeup_latency[3]
    assert lat.max <= COSTS
    # With wakeup_gran 5 ms > 3 ms it never preempts at wake-up: it waits for the
    # tick, where the hog (ran a whole tick > its 1.5 ms ideal slice) is
    # preempted and the sleeper, leftmost, is picked: at most one tick.
    lat = _periodic_among_hogs("5.17", "normal", wakeup_granularity="5ms").wakeup_latency[3]
    assert lat.mean > 100 * COSTS
    assert lat.max <= TICK + COSTS, lat.max


def test_eevdf_nice0_periodic_waits_longer_but_within_bound() -> None:
    fifo = _periodic_among_hogs("6.6", "fifo").wakeup_latency[3]
    lat = _periodic_among_hogs("6.6", "normal").wakeup_latency[3]
    # Measurably longer: RUN_TO_PARITY keeps an eligible hog inside its slice.
    assert lat.mean > 10 * fifo.mean
    # Bound: it uses 10 % of the CPU against a 25 % share, so it wakes with a
    # positive lag and is eligible; each of the 3 hogs can hold an earlier
    # deadline and run one whole tick (slices end at ticks: no hrtick) first.
    assert lat.max <= 3 * TICK + COSTS, lat.max


def test_rr_tasks_of_one_priority_alternate_every_100ms() -> None:
    r = one_cpu("5.17", p.hog(0, policy="rr", prio=5, per_cpu=2), duration=999_999_999, rt_throttle=False)
    runs = work(r, "nr_runs")
    assert list(runs) == [5, 5]
    per_run = work(r, "cpu_time") / runs
    assert np.all(np.abs(per_run - 100 * MS) < 1 * MS), per_run
    # FIFO tasks of one priority do not alternate
    f = one_cpu("5.17", p.hog(0, policy="fifo", prio=5, per_cpu=2), duration="1s", rt_throttle=False)
    assert list(work(f, "nr_runs")) == [1, 0]


@pytest.mark.parametrize("hz", [100, 250, 1000])
def test_ticks_only_on_busy_cpus(hz: int) -> None:
    cfg = p.Config(kernel="6.6", topology=p.Topology(1, 3, isolated=[2]),
                   tasks=[p.hog(0), p.hog(2)], sched=p.Sched(hz=hz), duration="2s")
    r = p.run(cfg)
    assert r.cpus["ticks"][0] == 2 * hz      # busy CPU: HZ per second
    assert r.cpus["ticks"][1] == 0           # idle CPU: no tick
    assert r.cpus["ticks"][2] == 0           # isolated CPU with a single task: no tick
    # idle but for vmstat_update (5 us, queued at 1 s and 2 s; the second one
    # has not run by the end) and the kworker's wakeups and switches
    c = r.cpus
    assert c["work_ns"][1] == 5_000
    # (the switch to the second one is charged already: it ends 4 us after the end)
    assert c["idle_ns"][1] + c["work_ns"][1] + c["overhead_ns"][1] == 2_000_000_000 + 4_000


def test_bursty_cpu_ticks_only_while_busy() -> None:
    r = one_cpu("6.6", p.bursty(0, "2ms", "8ms"), duration="1s")
    # busy about 20 % of the time: about 20 % of the HZ ticks (whole-jiffy quantisation)
    assert 0.2 * 250 - 5 <= r.cpus["ticks"][0] <= 0.4 * 250
    assert abs(work(r, "cpu_time")[0] / 1e9 - 0.2) < 0.01


def test_cpu_time_accounting_adds_up() -> None:
    cfg = p.Config(kernel="5.17", topology=p.Topology(2, 4),
                   tasks=[p.hog(range(4), per_cpu=2), p.bursty("all", p.Dist("exp", "1ms"), p.Dist("exp", "3ms")),
                          p.periodic([1, 5], "1ms", "200us", prio=10)], duration="500ms", seed=3)
    sim = p.Simulation(cfg)
    sim.run()
    r = sim.results()
    c = r.cpus
    total = c["busy_ns"] + c["idle_ns"] + c["overhead_ns"]
    # overhead already charged for a switch that ends after `now` is at most one switch + one wakeup
    assert np.all(total >= r.now) and np.all(total <= r.now + 4 * US)
    per_cpu = np.bincount(work(r, "cpu"), weights=work(r, "cpu_time"), minlength=8)
    assert np.array_equal(per_cpu.astype(np.int64), c["busy_ns"])
    # every switch and wakeup costs 2 us, but the first pick at time 0 is free
    assert np.array_equal(c["overhead_ns"], 2 * US * (c["nr_switches"] - 1 + c["nr_wakeups"]))


def test_nonpreemptible_section_delays_rt_wakeup() -> None:
    r = one_cpu("5.17", p.hog(0, nonpreempt="500us", nonpreempt_every="1ms"),
                p.periodic(0, "1ms", "100us", prio=50, phase="250us"), duration="1s")
    lat = r.wakeup_latency[1]
    # releases land inside the hog's sections: wait for the section's end, never longer
    assert lat.max > 100 * US
    assert lat.max <= 500 * US + 4 * US


def _mixed(seed: int) -> p.Config:
    return p.Config(kernel="6.6", topology=p.Topology(1, 4),
                    tasks=[p.hog("all"), p.bursty("all", p.Dist("exp", "500us"), p.Dist("lognormal", "2ms", 1.0)),
                           p.periodic([0, 2], "1ms", "50us", prio=20)], duration="300ms", seed=seed)


def _arrays(sim: p.Simulation) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in sim.arrays.items()}


def test_same_seed_same_results_other_seed_differs() -> None:
    a, b, c = (p.Simulation(_mixed(s)) for s in (7, 7, 8))
    for sim in (a, b, c):
        sim.run()
    for k, v in _arrays(a).items():
        assert np.array_equal(v, b.arrays[k]), k
    assert not np.array_equal(a.arrays["task_counts"], c.arrays["task_counts"])


def test_stepped_and_pickled_runs_equal_a_straight_run() -> None:
    straight = p.Simulation(_mixed(1))
    straight.run()
    stepped = p.Simulation(_mixed(1))
    for t in ("1ms", "33ms", "100ms"):
        stepped.run(t)
    for _ in range(1000):
        stepped.step()
    resumed = pickle.loads(pickle.dumps(stepped))
    resumed.run()
    for k, v in _arrays(straight).items():
        assert np.array_equal(v, resumed.arrays[k]), k
    assert resumed.peek() == straight.peek()


def test_run_until_stops_at_until_and_step_peek_agree() -> None:
    sim = p.Simulation(_mixed(2))
    sim.run("5ms")
    assert sim.now == 5 * MS
    t = sim.peek()
    assert t > 5 * MS
    assert sim.step() == t
    with pytest.raises(ValueError):
        sim.run("1ms")
    # a bounded run stops after exactly that many events
    n = sim.run("10ms", max_events=7)
    assert n == 7 and sim.now < 10 * MS


def test_live_views_between_steps() -> None:
    sim = p.Simulation(_mixed(4))
    sim.run("10ms")
    curr = sim.cpu_curr
    assert np.all(curr >= -1) and np.all(sim.nr_running >= (curr >= 0))
    before = sim.task_cpu_time.copy()
    sim.run("20ms")
    assert np.all(sim.task_cpu_time >= before)
    # the 4 CPUs are never idle (a hog each): 20 ms of CPU each, minus overhead
    busy = np.bincount(sim.arrays["tasks"]["cpu"], weights=sim.task_cpu_time, minlength=4)
    overhead = sim.arrays["cpu_stats"]["overhead_ns"]
    assert np.all(np.abs(busy + overhead - 20 * MS) <= 4 * US)


def test_8192_cpus_two_hogs_each() -> None:
    cfg = p.Config(kernel="6.6", topology=p.Topology(8, 1024), tasks=[p.hog("all", per_cpu=2)], duration="20ms")
    r = p.run(cfg)
    assert len(r.cpus["ticks"]) == 8192
    assert np.all(r.cpus["ticks"] == 5)
    assert np.all(r.cpus["idle_ns"] == 0)
