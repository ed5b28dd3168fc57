"""Differential tests: the engine's scheduler against the pure-Python reference
model in ``tests/reference/sched_ref.py`` (written from MODEL.md section 4 and
the scheduler contract, not from the native sources).

Scope: 1-4 CPUs, pinned ``hog`` and ``periodic`` tasks, policies normal / fifo /
rr, kernels 5.17 (CFS) and 6.6 (EEVDF), HZ 100/250/1000, no background work
(``Workqueue(vmstat_update=0)``), no allocators. Every figure is compared
exactly.
"""
from __future__ import annotations

import random

import pytest

import pcpsim
from reference.sched_ref import simulate  # tests/ is on sys.path (pytest rootdir-relative import)

TASK_KEYS = ("cpu_time", "nr_runs", "nr_preempted", "deadline_misses")
CPU_KEYS = ("ticks", "nr_switches", "busy_ns", "idle_ns", "overhead_ns")


def engine_figures(cfg: pcpsim.Config) -> dict:
    r = pcpsim.run(cfg)
    ids = [i for i in range(len(r.tasks["spec"])) if r.tasks["spec"][i] >= 0]
    tasks = []
    for i in ids:
        d = {k: int(r.tasks[k][i]) for k in TASK_KEYS}
        periodic = i in r.wakeup_latency
        for name, table in (("wakeup_latency", r.wakeup_latency), ("response_time", r.response_time)):
            h = table.get(i)
            d[name] = (h.count, h.min, h.max, h.total) if h is not None else (None if not periodic else (0, 0, 0, 0))
        tasks.append(d)
    cpus = [{k: int(r.cpus[k][c]) for k in CPU_KEYS} for c in range(len(r.cpus["busy_ns"]))]
    return {"tasks": tasks, "cpus": cpus}


def normalise(ref: dict) -> dict:
    for t in ref["tasks"]:
        for name in ("wakeup_latency", "response_time"):
            if t[name] is not None and t[name][0] == 0:
                t[name] = (0, 0, 0, 0)
    return ref


def first_difference(eng: dict, ref: dict) -> str | None:
    for c, (e, r) in enumerate(zip(eng["cpus"], ref["cpus"])):
        for k in CPU_KEYS:
            if e[k] != r[k]:
                return f"cpu {c} {k}: engine {e[k]} reference {r[k]}"
    if len(eng["tasks"]) != len(ref["tasks"]):
        return f"{len(eng['tasks'])} tasks in the engine, {len(ref['tasks'])} in the reference"
    for i, (e, r) in enumerate(zip(eng["tasks"], ref["tasks"])):
        for k in (*TASK_KEYS, "wakeup_latency", "response_time"):
            if e[k] != r[k]:
                return f"task {i} {k}: engine {e[k]} reference {r[k]}"
    return None


def compare(cfg: pcpsim.Config) -> None:
    eng = engine_figures(cfg)
    ref = normalise(simulate(cfg))
    diff = first_difference(eng, ref)
    assert diff is None, f"{diff}\nconfig: {cfg!r}"


def make_config(kernel: str, hz: int, ncpu: int, tasks: list, duration: str | int) -> pcpsim.Config:
    return pcpsim.Config(
        kernel=kernel,
        topology=pcpsim.Topology(nodes=1, cpus_per_node=ncpu),
        tasks=tasks,
        sched=pcpsim.Sched(hz=hz),
        workqueue=pcpsim.Workqueue(vmstat_update=0),
        duration=duration,
    )


# ---------------------------------------------------------------- hand-picked

HAND = {
    "two-nice0-hogs": lambda k, hz: make_config(k, hz, 1, [pcpsim.hog(0, per_cpu=2)], "200ms"),
    "nice0-vs-nice19": lambda k, hz: make_config(k, hz, 1, [pcpsim.hog(0), pcpsim.hog(0, nice=19)], "200ms"),
    "fifo-periodic-3-hogs": lambda k, hz: make_config(
        k, hz, 1, [pcpsim.hog(0, per_cpu=2), pcpsim.hog(0, nice=-5),
                   pcpsim.periodic(0, "10ms", "2ms", policy="fifo", prio=50, phase="1ms")], "200ms"),
    "rr-pair": lambda k, hz: make_config(
        k, hz, 1, [pcpsim.hog(0, policy="rr", prio=10, per_cpu=2), pcpsim.hog(0)], "500ms"),
    "fair-periodic-vs-hog": lambda k, hz: make_config(
        k, hz, 1, [pcpsim.hog(0), pcpsim.periodic(0, "7ms", "1ms", policy="normal", nice=-3)], "200ms"),
}


@pytest.mark.parametrize("kernel", ["5.17", "6.6"])
@pytest.mark.parametrize("hz", [100, 250, 1000])
@pytest.mark.parametrize("name", sorted(HAND))
def test_hand_picked(name: str, kernel: str, hz: int) -> None:
    compare(HAND[name](kernel, hz))


@pytest.mark.parametrize("kernel", ["5.17", "6.6"])
def test_rt_throttling(kernel: str) -> None:
    """A FIFO hog and a fair hog over 2.5 s: RT throttled at 950 ms of each second."""
    compare(make_config(kernel, 250, 1, [pcpsim.hog(0, policy="fifo", prio=1), pcpsim.hog(0)], "2500ms"))


# -------------------------------------------------------------------- random


def random_task(rng: random.Random, cpus: list[int]) -> pcpsim.Task:
    policy = rng.choice(["normal", "normal", "fifo", "rr"])
    kw: dict = {}
    if policy == "normal":
        kw["nice"] = rng.choice([0, 0, rng.randint(-20, 19)])
    else:
        kw["prio"] = rng.choice([1, 1, 50, rng.randint(1, 99)])
    if rng.random() < 0.5:
        return pcpsim.Task("hog", cpus, policy, **kw)
    period = rng.choice([1, 2, 3, 4, 5, 7, 10, 16, 20, 33]) * 1_000_000 + rng.choice([0, 0, rng.randint(0, 999_999)])
    runtime = max(1000, int(period * rng.choice([0.05, 0.1, 0.3, 0.5, rng.random()])))
    phase = rng.choice([0, 0, rng.randint(0, period)])
    return pcpsim.Task("periodic", cpus, policy, period=period, runtime=runtime, phase=phase, **kw)


def random_config(seed: int) -> pcpsim.Config:
    rng = random.Random(seed)
    ncpu = rng.choice([1, 1, 2, 2, 3, 4])
    specs = []
    for c in range(ncpu):
        for _ in range(rng.randint(1, 4)):
            specs.append(random_task(rng, [c]))
    if ncpu > 1 and rng.random() < 0.3:        # one spec over several CPUs, maybe several per CPU
        cpus = sorted(rng.sample(range(ncpu), rng.randint(2, ncpu)))
        t = random_task(rng, cpus)
        t.per_cpu = rng.choice([1, 1, 2])
        specs.append(t)
    rng.shuffle(specs)
    return make_config(rng.choice(["5.17", "6.6"]), rng.choice([100, 250, 1000]), ncpu, specs,
                       rng.randint(50, 200) * 1_000_000)


N_RANDOM = 400


@pytest.mark.parametrize("seed", range(N_RANDOM))
def test_random(seed: int) -> None:
    compare(random_config(seed))


def edgy_task(rng: random.Random) -> pcpsim.Task:
    """Ties and overruns: periods that are multiples of the tick, runtimes that
    end on a tick or fill the period, phases on ticks."""
    policy = rng.choice(["normal", "normal", "fifo", "rr"])
    kw: dict = {}
    if policy == "normal":
        kw["nice"] = rng.choice([-20, -10, 0, 0, 5, 19])
    else:
        kw["prio"] = rng.choice([1, 2, 50])
    if rng.random() < 0.3:
        return pcpsim.Task("hog", [0], policy, **kw)
    period = rng.choice([1, 2, 4, 5, 8, 10, 20]) * 1_000_000
    runtime = rng.choice([1000, 2000, 4000, 96000, 996000, period // 2, period - 4000, period, period * 3 // 4])
    runtime = max(1000, min(runtime, period))
    phase = rng.choice([0, 0, 1_000_000, 4_000_000, rng.randrange(0, period)])
    return pcpsim.Task("periodic", [0], policy, period=period, runtime=runtime, phase=phase, **kw)


def edgy_config(seed: int, long: bool = False) -> pcpsim.Config:
    rng = random.Random(seed)
    if long:
        rng.random()
    duration = rng.randint(1000, 3000) if long else rng.randint(20, 200)
    return make_config(rng.choice(["5.17", "6.6"]), rng.choice([100, 250, 1000]), rng.choice([1, 1, 4, 8]),
                       [edgy_task(rng) for _ in range(rng.randint(1, 6))], duration * 1_000_000)


@pytest.mark.parametrize("seed", range(300))
def test_edgy(seed: int) -> None:
    compare(edgy_config(seed))


@pytest.mark.parametrize("seed", range(40))
def test_edgy_long(seed: int) -> None:
    """1-3 s: RT throttling, RR slices and the RT period timer."""
    compare(edgy_config(seed, long=True))
