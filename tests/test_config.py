"""Tests of pcpsim.config: durations, Config.validate() and its error messages.

Every bad config below is a known-valid base config with exactly one mistake in it.
The test asserts the ConfigError names the exact field path and the bad value, and
that its message says what is allowed.
"""

import dataclasses
import math
import re

import numpy as np
import pytest

from pcpsim import (
    Config, ConfigError, Dist, Drain, Sched, Simulation, Task, Topology, bursty, hog, parse_duration,
    periodic,
)
from pcpsim import simulation as simulation_module
from pcpsim.config import as_dist

# ------------------------------------------------------------------- helpers

#: one valid task of each shape; a bad config replaces tasks[1] by a modified copy
GOOD = {
    "hog": hog(1, nice=5),
    "fifo": periodic(1, "1ms", "100us", policy="fifo", prio=10),
    "bursty": bursty(1, "1ms", Dist("exp", "2ms")),
}


def cfg(**kw) -> Config:
    """A valid 8-CPU config, with ``kw`` overriding some of its fields."""
    base = dict(kernel="6.6", topology=Topology(nodes=1, cpus_per_node=8), sched=Sched(),
                tasks=[hog(0), GOOD["fifo"]], duration="10ms", seed=1)
    base.update(kw)
    return Config(**base)


def t1(shape: str, **changes) -> Config:
    """A valid config whose tasks[1] is GOOD[shape] with ``changes`` applied."""
    return cfg(tasks=[hog(0), dataclasses.replace(GOOD[shape], **changes)])


def same(a, b) -> bool:
    """Equal values of the same type (True is not 1); NaN equals NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b)
    return a == b


def check_error(err: ConfigError, field: str, value, allowed_word: str) -> None:
    assert err.field == field
    assert same(err.value, value), f"value {err.value!r}, expected {value!r}"
    msg = str(err)
    assert msg.startswith(f"{field} = {value!r} is not allowed: expected "), msg
    assert field in msg and repr(value) in msg
    assert allowed_word in msg, f"{allowed_word!r} not in {msg!r}"
    assert allowed_word in err.allowed


# ------------------------------------------------------------------- parse_duration


@pytest.mark.parametrize(
    "value, ns",
    [
        (0, 0),
        (1, 1),
        (123_456_789, 123_456_789),
        (np.int64(42), 42),
        ("10ms", 10_000_000),
        ("1.5us", 1500),
        ("2s", 2_000_000_000),
        ("100ns", 100),
        ("0.75ms", 750_000),
        ("3µs", 3_000),
        (" 5 ms ", 5_000_000),
        ("1e3us", 1_000_000),
        ("1000000s", 10**15),  # the largest allowed, 1e6 s
    ],
)
def test_parse_duration_accepts(value, ns):
    got = parse_duration(value, "x")
    assert got == ns
    assert type(got) is int


@pytest.mark.parametrize(
    "value",
    [-1, -(10**9), "-1ms", "10 parsecs", "ms", "", "10", "1.5", None, True, False,
     1e20, "1e20ns", 10**15 + 1, "1000001s", 1.5, math.nan, math.inf, [10], "1e400s"],
    ids=repr,
)
def test_parse_duration_rejects(value):
    with pytest.raises(ConfigError) as e:
        parse_duration(value, "tasks[3].period")
    assert e.value.field == "tasks[3].period"
    assert same(e.value.value, value)
    assert str(e.value).startswith(f"tasks[3].period = {value!r} is not allowed")


def test_parse_duration_zero_only_when_allowed():
    assert parse_duration("0ms", "f") == 0
    with pytest.raises(ConfigError) as e:
        parse_duration("0ms", "sched.rt_period", allow_zero=False)
    check_error(e.value, "sched.rt_period", "0ms", "> 0")


# ------------------------------------------------------------------- one mistake each

BAD = [
    # id, builder, field, value, a word of what is allowed
    ("negative-duration", lambda: cfg(duration="-5ms"), "duration", "-5ms", "> 0"),
    ("negative-period", lambda: t1("fifo", period="-5ms"), "tasks[1].period", "-5ms", "> 0"),
    ("negative-phase", lambda: t1("hog", phase=-1), "tasks[1].phase", -1, ">= 0"),
    ("negative-ctxsw", lambda: cfg(sched=Sched(context_switch="-2us")), "sched.context_switch", "-2us",
     ">= 0"),
    ("zero-duration", lambda: cfg(duration=0), "duration", 0, "> 0"),
    ("zero-period", lambda: t1("fifo", period="0ms"), "tasks[1].period", "0ms", "> 0"),
    ("zero-runtime", lambda: t1("fifo", runtime=0), "tasks[1].runtime", 0, "> 0"),
    ("zero-latency", lambda: cfg(sched=Sched(sched_latency=0)), "sched.sched_latency", 0, "> 0"),
    ("zero-dist-mean", lambda: t1("bursty", run=Dist("fixed", 0)), "tasks[1].run.mean", 0, "> 0"),
    ("unknown-policy", lambda: t1("hog", policy="deadline"), "tasks[1].policy", "deadline", "'fifo'"),
    ("unknown-kind", lambda: t1("hog", kind="sporadic"), "tasks[1].kind", "sporadic", "'periodic'"),
    ("fifo-prio-0", lambda: t1("fifo", prio=0), "tasks[1].prio", 0, "1..99"),
    ("fifo-prio-100", lambda: t1("fifo", prio=100), "tasks[1].prio", 100, "1..99"),
    ("rr-prio-100", lambda: t1("fifo", policy="rr", prio=100), "tasks[1].prio", 100, "1..99"),
    ("normal-prio-5", lambda: t1("hog", prio=5), "tasks[1].prio", 5, "0..0"),
    ("nice-minus-21", lambda: t1("hog", nice=-21), "tasks[1].nice", -21, "-20..19"),
    ("nice-20", lambda: t1("hog", nice=20), "tasks[1].nice", 20, "-20..19"),
    ("cpu-8-of-8", lambda: t1("hog", cpus=8), "tasks[1].cpus", 8, "0..7"),
    ("cpu-list-one-bad", lambda: t1("hog", cpus=[0, 8, 3]), "tasks[1].cpus", 8, "0..7"),
    ("cpu-range-one-bad", lambda: t1("hog", cpus=range(4, 9)), "tasks[1].cpus", 8, "0..7"),
    ("cpu-negative", lambda: t1("hog", cpus=-1), "tasks[1].cpus", -1, "0..7"),
    ("cpus-not-all", lambda: t1("hog", cpus="any"), "tasks[1].cpus", "any", "'all'"),
    ("cpus-empty", lambda: t1("hog", cpus=[]), "tasks[1].cpus", [], "'all'"),
    ("zero-cpus-per-node", lambda: cfg(topology=Topology(cpus_per_node=0)), "topology.cpus_per_node", 0,
     "1..65536"),
    ("zero-nodes", lambda: cfg(topology=Topology(nodes=0)), "topology.nodes", 0, "1..1024"),
    ("empty-node-sizes", lambda: cfg(topology=Topology(node_sizes=[])), "topology.node_sizes", [],
     "non-empty"),
    ("zero-node-size", lambda: cfg(topology=Topology(node_sizes=[4, 0])), "topology.node_sizes[1]", 0,
     "1..65536"),
    ("hz-200", lambda: cfg(sched=Sched(hz=200)), "sched.hz", 200, "300"),
    ("hz-true", lambda: cfg(sched=Sched(hz=True)), "sched.hz", True, "1000"),
    ("unknown-kernel", lambda: cfg(kernel="5.4"), "kernel", "5.4", "6.6"),
    ("runtime-gt-period", lambda: t1("fifo", runtime="2ms"), "tasks[1].runtime", "2ms", "<= period"),
    ("periodic-no-period", lambda: t1("fifo", period=None), "tasks[1].period", None, "periodic"),
    ("periodic-no-runtime", lambda: t1("fifo", runtime=None), "tasks[1].runtime", None, "periodic"),
    ("bursty-no-sleep", lambda: t1("bursty", sleep=None), "tasks[1].sleep", None, "bursty"),
    ("bursty-no-run", lambda: t1("bursty", run=None), "tasks[1].run", None, "bursty"),
    ("dist-unknown-kind", lambda: t1("bursty", run=Dist("gamma", "1ms")), "tasks[1].run.kind", "gamma",
     "'lognormal'"),
    ("lognormal-sigma-nan", lambda: t1("bursty", sleep=Dist("lognormal", "1ms", math.nan)),
     "tasks[1].sleep.sigma", math.nan, "finite"),
    ("lognormal-sigma-11", lambda: t1("bursty", sleep=Dist("lognormal", "1ms", 11.0)),
     "tasks[1].sleep.sigma", 11.0, "0..10"),
    ("nonpreempt-no-every", lambda: t1("hog", nonpreempt="100us"), "tasks[1].nonpreempt_every", None,
     "> nonpreempt"),
    ("nonpreempt-every-eq", lambda: t1("hog", nonpreempt="100us", nonpreempt_every=100_000),
     "tasks[1].nonpreempt_every", 100_000, "> nonpreempt"),
    ("nonpreempt-every-lt", lambda: t1("hog", nonpreempt="1ms", nonpreempt_every="500us"),
     "tasks[1].nonpreempt_every", "500us", "> nonpreempt"),
    ("rt-runtime-gt-period", lambda: cfg(sched=Sched(rt_runtime="1.5s", rt_period="1s")),
     "sched.rt_runtime", "1.5s", "<= rt_period"),
    ("fs-runtime-gt-period", lambda: cfg(sched=Sched(fair_server_runtime="2ms", fair_server_period="1ms")),
     "sched.fair_server_runtime", "2ms", "<= fair_server_period"),
    ("min-gran-gt-latency", lambda: cfg(sched=Sched(min_granularity="7ms", sched_latency="6ms")),
     "sched.min_granularity", "7ms", "<= sched_latency"),
    ("nice-true", lambda: t1("hog", nice=True), "tasks[1].nice", True, "-20..19"),
    ("prio-true", lambda: t1("fifo", prio=True), "tasks[1].prio", True, "1..99"),
    ("per-cpu-true", lambda: t1("hog", per_cpu=True), "tasks[1].per_cpu", True, "1..1024"),
    ("cpus-true", lambda: t1("hog", cpus=True), "tasks[1].cpus", True, "0..7"),
    ("seed-true", lambda: cfg(seed=True), "seed", True, "0.."),
    ("isolated-8-of-8", lambda: cfg(topology=Topology(isolated=[0, 8])), "topology.isolated[1]", 8, "0..7"),
    ("seed-negative", lambda: cfg(seed=-1), "seed", -1, "0..9223372036854775807"),
    ("task-is-dict", lambda: cfg(tasks=[hog(0), {"kind": "hog", "cpus": 1}]), "tasks[1]",
     {"kind": "hog", "cpus": 1}, "pcpsim.Task"),
    ("slice-50us", lambda: t1("hog", slice="50us"), "tasks[1].slice", "50us", "0.1ms..100ms"),
    ("slice-101ms", lambda: t1("hog", slice="101ms"), "tasks[1].slice", "101ms", "0.1ms..100ms"),
]
BAD_IDS = [row[0] for row in BAD]
BAD_ARGS = [row[1:] for row in BAD]


def test_base_configs_are_valid():
    """The mistakes in BAD are the only ones: the configs they start from validate."""
    cfg().validate()
    for shape in GOOD:
        t1(shape).validate()
    # and the boundary values next to each mistake are accepted
    t1("fifo", prio=1).validate()
    t1("fifo", prio=99).validate()
    t1("hog", nice=-20).validate()
    t1("hog", nice=19).validate()
    t1("hog", cpus=7).validate()
    t1("fifo", runtime="1ms").validate()                              # runtime == period
    t1("hog", nonpreempt="100us", nonpreempt_every="101us").validate()
    t1("hog", slice="0.1ms").validate()
    t1("hog", slice="100ms").validate()
    t1("bursty", sleep=Dist("lognormal", "1ms", 10)).validate()
    cfg(sched=Sched(rt_runtime="1s", rt_period="1s")).validate()
    cfg(sched=Sched(min_granularity="6ms", sched_latency="6ms")).validate()
    cfg(topology=Topology(isolated=[0, 7])).validate()
    cfg(seed=2**63 - 1).validate()
    cfg(duration=1).validate()


@pytest.mark.parametrize("build, field, value, allowed", BAD_ARGS, ids=BAD_IDS)
def test_validate_names_field_value_and_allowed(build, field, value, allowed):
    config = build()
    with pytest.raises(ConfigError) as e:
        config.validate()
    check_error(e.value, field, value, allowed)


@pytest.mark.parametrize("hz", [100, 250, 300, 1000])
def test_allowed_hz(hz):
    cfg(sched=Sched(hz=hz)).validate()


# ------------------------------------------------------------------- before anything native


@pytest.fixture
def no_native(monkeypatch):
    """Make every step after validation fail loudly, so a ConfigError can only
    come from validation that ran first."""

    def boom(*args, **kwargs):
        raise AssertionError("native engine reached before validation")

    monkeypatch.setattr(simulation_module, "engine_params", boom)
    monkeypatch.setattr(simulation_module, "build_tasks", boom)
    monkeypatch.setattr(simulation_module._core, "Engine", boom)


@pytest.mark.parametrize("build, field, value, allowed", BAD_ARGS, ids=BAD_IDS)
def test_simulation_validates_before_native(no_native, build, field, value, allowed):
    with pytest.raises(ConfigError) as e:
        Simulation(build())
    check_error(e.value, field, value, allowed)


def test_simulation_of_bad_config_without_patching():
    with pytest.raises(ConfigError) as e:
        Simulation(t1("hog", cpus=8))
    assert e.value.field == "tasks[1].cpus"


def test_validation_covers_fields_the_engine_reads():
    """A Dist given to a non-bursty task is still read by build_tasks(); it must be
    validated too, not fail later with a KeyError inside the engine build."""
    config = cfg(tasks=[hog(0, run=Dist("weird", "1ms"))])
    with pytest.raises(ConfigError) as e:
        Simulation(config)
    assert e.value.field == "tasks[0].run.kind"


def test_isolated_of_wrong_type_is_a_config_error():
    with pytest.raises(ConfigError) as e:
        cfg(topology=Topology(isolated=3)).validate()
    assert e.value.field == "topology.isolated"


# ------------------------------------------------------------------- valid configs


def test_every_field_set_explicitly_validates_and_runs():
    topo_kw = dict(nodes=2, cpus_per_node=4, node_sizes=[3, 5], isolated=[7], offline=[])
    sched_kw = dict(
        hz=1000, fair_class="eevdf", rt_throttle=True, rt_runtime="950ms", rt_period="1s",
        fair_server=False, fair_server_runtime="50ms", fair_server_period="1s",
        context_switch="2us", wakeup_ipi="1500ns", tunable_scaling="none", sched_latency="6ms",
        min_granularity="0.75ms", wakeup_granularity="1ms", base_slice="3ms",
        rr_timeslice="100ms", run_to_parity=False, preempt_short=True, gentle_sleepers=False,
    )
    rt_kw = dict(
        kind="periodic", cpus=[0, 1], policy="fifo", nice=0, prio=50, period="1ms",
        runtime="200us", phase="10us", run=None, sleep=None, nonpreempt="10us",
        nonpreempt_every="100us", slice="3ms", per_cpu=1, name="rt",
        alloc_rate=0.0, free_rate=0.0, held=0, reclaim=False, zone=None, force=False,
    )
    bursty_kw = dict(
        kind="bursty", cpus=range(2, 5), policy="normal", nice=-5, prio=0, period=None,
        runtime=None, phase=0, run=Dist("lognormal", "100us", 0.5), sleep=Dist("exp", "200us", 0.0),
        nonpreempt=0, nonpreempt_every=None, slice=None, per_cpu=2, name="burst",
        alloc_rate=0.0, free_rate=0.0, held=0, reclaim=False, zone=None, force=False,
    )
    # every field of every dataclass really is given
    assert set(topo_kw) == {f.name for f in dataclasses.fields(Topology)}
    assert set(sched_kw) == {f.name for f in dataclasses.fields(Sched)}
    assert set(rt_kw) == {f.name for f in dataclasses.fields(Task)}
    assert set(bursty_kw) == {f.name for f in dataclasses.fields(Task)}
    config = Config(
        kernel="6.12", topology=Topology(**topo_kw), sched=Sched(**sched_kw),
        tasks=[Task(**rt_kw), Task(**bursty_kw), hog("all", nice=3, name="hogs")],
        duration="5ms", seed=12345,
    )
    assert {f.name for f in dataclasses.fields(Config)} == {
        "kernel", "topology", "tasks", "sched", "memory", "reclaim", "drain", "workqueue",
        "hotplug", "duration", "seed"}
    config.validate()

    sim = Simulation(config)
    events = sim.run("1ms")
    assert events > 0
    assert sim.now == 1_000_000
    res = sim.results()
    assert (res.tasks["spec"] >= 0).sum() == 2 + 3 * 2 + 8   # workload tasks; kernel threads follow
    assert (res.tasks["cpu_time"] >= 0).all()
    assert (res.tasks["cpu_time"] <= 1_000_000).all()
    assert res.tasks["cpu_time"].sum() > 0
    sim.run("2ms")                     # can go on
    assert sim.now == 2_000_000


@pytest.mark.parametrize(
    "cpus, expected",
    [
        ("all", [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7]),
        (range(2, 6), [2, 2, 3, 3, 4, 4, 5, 5]),
        (range(1, 8, 3), [1, 1, 4, 4, 7, 7]),
        ([6, 1], [6, 6, 1, 1]),
        (np.array([3, 0]), [3, 3, 0, 0]),
        (5, [5, 5]),
    ],
    ids=["all", "range", "range-step", "list", "ndarray", "int"],
)
def test_task_spec_expansion(cpus, expected):
    config = cfg(tasks=[hog(cpus, per_cpu=2)], duration="1ms")
    sim = Simulation(config)
    tasks = sim.results().tasks
    work = tasks["spec"] >= 0          # kernel threads (kswapd, kworkers) follow with spec -1
    assert work.sum() == len(expected)
    assert tasks["cpu"][work].tolist() == expected
    assert tasks["spec"][work].tolist() == [0] * len(expected)


def test_task_specs_expand_in_order():
    config = cfg(tasks=[hog("all", per_cpu=2), periodic(range(2, 6), "1ms", "100us", per_cpu=2),
                        bursty([7], "50us", "50us")])
    res = Simulation(config).results()
    cpus = list(range(8))
    expected = [c for c in cpus for _ in range(2)] + [2, 2, 3, 3, 4, 4, 5, 5] + [7]
    work = res.tasks["spec"] >= 0
    assert work.sum() == 16 + 8 + 1
    assert res.tasks["cpu"][work].tolist() == expected
    assert res.tasks["spec"][work].tolist() == [0] * 16 + [1] * 8 + [2]
    assert len(res.wakeup_latency) == 8          # one histogram per periodic task


def test_a_machine_that_does_not_fit_in_memory_is_refused(monkeypatch):
    import pcpsim.simulation as simulation

    monkeypatch.setattr(simulation, "physical_memory", lambda: 64 * 2**20)   # a 64 MiB machine
    cfg = Config(topology=Topology(nodes=1, cpus_per_node=4096), tasks=[hog("all", per_cpu=2)])
    with pytest.raises(ConfigError) as e:
        Simulation(cfg)
    assert e.value.field == "topology"
    assert "GiB of native state" in str(e.value) and "0.1 GiB" in str(e.value)
    monkeypatch.setattr(simulation, "physical_memory", lambda: None)          # unknown: no check
    assert Simulation(cfg).arrays["cpus"].shape == (4096,)


@pytest.mark.parametrize("drain, trace", [(Drain(max_targets=10**9), 0), (Drain(), 10**9)])
def test_record_buffers_larger_than_memory_are_refused_before_they_are_allocated(drain, trace):
    # 10**9 target records (40 GB) or trace records (30 GB) on a 24 GiB machine:
    # a ConfigError with the estimate, not a MemoryError from numpy
    with pytest.raises(ConfigError) as e:
        Simulation(Config(topology=Topology(nodes=1, cpus_per_node=2), drain=drain), trace=trace)
    assert "GiB of native state" in str(e.value) and "drain.max_targets" in str(e.value)


# ------------------------------------------------------------------- every field of every dataclass
#
# One row per validation rule, on a config that holds one object of every kind
# (issue 7): the error names the field, the bad value and what is allowed. A
# meta-test below checks that every field of every dataclass has a row.

from pcpsim import (  # noqa: E402 - grouped with the table that uses them
    Drain, Hotplug, Memory, Reclaim, WorkSource, Workqueue, allocator, external_drain,
)


def full() -> Config:
    """A valid config with every kind of object: 2 nodes x 2 CPUs; tasks[0..4]
    are a hog, a periodic task, a bursty task, an allocator and an extdrain."""
    return Config(
        kernel="6.6",
        topology=Topology(nodes=2, cpus_per_node=2),
        tasks=[hog(0), periodic(1, "1ms", "100us", prio=10), bursty(2, "1ms", Dist("exp", "2ms")),
               allocator(3, 100_000, 50_000, held=100, reclaim=True), external_drain(0, "5ms")],
        memory=Memory(node_mem="256MiB"),
        drain=Drain(strategy="kthread"),
        workqueue=Workqueue(sources=[WorkSource(rate=100)]),
        hotplug=[Hotplug("2ms", 3, False), Hotplug("4ms", 3, True)],
        duration="10ms", seed=1)


_PATH = re.compile(r"\.?([A-Za-z_]\w*)|\[(\d+)\]")


def _steps(path: str) -> list[str | int]:
    return [m.group(1) if m.group(1) else int(m.group(2)) for m in _PATH.finditer(path)]


def _set(config: Config, path: str, value) -> Config:
    steps = _steps(path)
    obj = config
    for k in steps[:-1]:
        obj = obj[k] if isinstance(k, int) else getattr(obj, k)
    if isinstance(steps[-1], int):
        obj[steps[-1]] = value
    else:
        setattr(obj, steps[-1], value)
    return config


def owner_field(config: Config, path: str) -> str | None:
    """``Class.field`` that the error path names (indices into lists of ids dropped)."""
    obj, name = config, None
    for k in _steps(path):
        if isinstance(k, int):
            if isinstance(obj, (list, tuple)) and obj and dataclasses.is_dataclass(obj[min(k, len(obj) - 1)]):
                obj = obj[k]
            continue
        if not dataclasses.is_dataclass(obj):
            return None
        name = f"{type(obj).__name__}.{k}"
        nxt = getattr(obj, k)
        obj = as_dist(nxt) if k in ("run", "sleep", "duration") and not isinstance(obj, Config) \
            and nxt is not None else nxt
    return name


_SAME = object()


def rule(rid: str, changes: dict, allowed: str, field: str | None = None, value=_SAME, base=full):
    """A row: ``changes`` (path -> value) applied to ``base()``; the error must
    name ``field`` (default: the only changed path) and ``value`` (default: the
    value put there)."""
    if field is None:
        (field,) = changes
    if value is _SAME:
        value = changes[field]
    return pytest.param(base, changes, field, value, allowed, id=rid)


RULES = [
    # Config
    rule("kernel-unknown", {"kernel": "5.4"}, "6.6"),
    rule("kernel-list", {"kernel": ["6.6"]}, "6.6"),
    rule("topology-not-topology", {"topology": 5}, "pcpsim.Topology"),
    rule("tasks-not-list", {"tasks": "hog"}, "a list of pcpsim.Task"),
    rule("task-not-task", {"tasks[2]": ("hog", 1)}, "a pcpsim.Task"),
    rule("sched-not-sched", {"sched": {}}, "pcpsim.Sched"),
    rule("memory-not-memory", {"memory": None}, "pcpsim.Memory"),
    rule("reclaim-not-reclaim", {"reclaim": "x"}, "pcpsim.Reclaim"),
    rule("drain-not-drain", {"drain": 1}, "pcpsim.Drain"),
    rule("workqueue-not-workqueue", {"workqueue": []}, "pcpsim.Workqueue"),
    rule("hotplug-not-list", {"hotplug": Hotplug("1ms", 1, False)}, "a list of pcpsim.Hotplug"),
    rule("hotplug-entry-tuple", {"hotplug[0]": ("1ms", 1, False)}, "a pcpsim.Hotplug"),
    rule("duration-huge", {"duration": "1e30s"}, "at most 1e6 s"),
    rule("duration-huge-int", {"duration": 10**30}, "at most 1e6 s"),
    rule("duration-nan", {"duration": math.nan}, "a duration"),
    rule("duration-float32", {"duration": np.float32(1.0)}, "a duration"),
    rule("seed-2-63", {"seed": 2**63}, "0..9223372036854775807"),
    rule("seed-float", {"seed": 1.0}, "an integer"),
    rule("seed-uint64-max", {"seed": np.uint64(2**64 - 1)}, "0..9223372036854775807"),
    # Topology
    rule("nodes-true", {"topology.nodes": True}, "1..1024"),
    rule("nodes-1025", {"topology.nodes": 1025}, "1..1024"),
    rule("nodes-float-with-node-sizes", {"topology.node_sizes": [2, 2], "topology.nodes": 1.5}, "1..1024",
         field="topology.nodes"),
    rule("cpus-per-node-65537", {"topology.cpus_per_node": 65537}, "1..65536"),
    rule("cpus-per-node-2-64", {"topology.cpus_per_node": 2**64}, "1..65536"),
    rule("node-sizes-str", {"topology.node_sizes": "2,2"}, "a non-empty list of CPU counts"),
    rule("node-sizes-too-many-cpus", {"topology.node_sizes": [65536, 1]}, "at most 65536 CPUs"),
    rule("node-sizes-1025-nodes", {"topology.node_sizes": [1] * 1025}, "at most 1024 nodes"),
    rule("node-sizes-float", {"topology.node_sizes": [2, 2.0]}, "1..65536", field="topology.node_sizes[1]",
         value=2.0),
    rule("isolated-int", {"topology.isolated": 3}, "a sequence of CPU ids"),
    rule("isolated-nonexistent-cpu", {"topology.isolated": [0, 4]}, "0..3", field="topology.isolated[1]",
         value=4),
    rule("isolated-bool", {"topology.isolated": [True]}, "0..3", field="topology.isolated[0]", value=True),
    rule("offline-str", {"topology.offline": "0"}, "a sequence of CPU ids"),
    rule("offline-negative", {"topology.offline": [-1]}, "0..3", field="topology.offline[0]", value=-1),
    rule("offline-every-cpu", {"topology.offline": [0, 1, 2, 3]}, "at least one of the 4 CPUs online"),
    # Sched
    rule("hz-str", {"sched.hz": "250"}, "250"),
    rule("hz-float", {"sched.hz": 250.0}, "250"),
    rule("fair-class-unknown", {"sched.fair_class": "o1"}, "'eevdf'"),
    rule("fair-class-list", {"sched.fair_class": ["cfs"]}, "'cfs'"),
    rule("rt-throttle-int", {"sched.rt_throttle": 1}, "True or False or None"),
    rule("rt-throttle-str", {"sched.rt_throttle": "yes"}, "True or False or None"),
    rule("rt-runtime-negative", {"sched.rt_runtime": -1}, ">= 0"),
    rule("rt-period-zero", {"sched.rt_period": 0}, "> 0"),
    rule("fair-server-numpy-bool", {"sched.fair_server": np.bool_(True)}, "True or False"),
    rule("fair-server-runtime-nan", {"sched.fair_server_runtime": math.nan}, "a duration"),
    rule("fair-server-period-zero", {"sched.fair_server_period": "0s"}, "> 0"),
    rule("wakeup-ipi-unit", {"sched.wakeup_ipi": "2 parsecs"}, "units ns, us, ms, s"),
    rule("tunable-scaling-unknown", {"sched.tunable_scaling": "log2"}, "'linear'"),
    rule("min-granularity-zero", {"sched.min_granularity": 0}, "> 0"),
    rule("wakeup-granularity-negative", {"sched.wakeup_granularity": -1}, "> 0"),
    rule("base-slice-zero", {"sched.base_slice": 0}, "> 0"),
    rule("rr-timeslice-zero", {"sched.rr_timeslice": "0ms"}, "> 0"),
    rule("run-to-parity-int", {"sched.run_to_parity": 1}, "True or False"),
    rule("preempt-short-str", {"sched.preempt_short": "no"}, "True or False or None"),
    rule("gentle-sleepers-none", {"sched.gentle_sleepers": None}, "True or False"),
    # Memory
    rule("node-mem-gb", {"memory.node_mem": "4GB"}, "GiB"),
    rule("node-mem-1023-pages", {"memory.node_mem": 1023}, ">= 1024"),
    rule("node-mem-float", {"memory.node_mem": 4e9}, "a size such as '4GiB'"),
    rule("node-mem-bool", {"memory.node_mem": True}, "a size such as '4GiB'"),
    rule("node-mem-one-of-two", {"memory.node_mem": ["1GiB"]}, "one size per node (2 nodes)"),
    rule("node-mem-list-entry", {"memory.node_mem": ["1GiB", "1 GiB of RAM"]}, "GiB",
         field="memory.node_mem[1]", value="1 GiB of RAM"),
    rule("min-free-kbytes-127", {"memory.min_free_kbytes": 127}, "128.."),
    rule("min-free-kbytes-above-memory", {"memory.min_free_kbytes": 10**6}, "watermarks fit in node 0"),
    rule("watermark-scale-factor-0", {"memory.watermark_scale_factor": 0}, "1..3000"),
    rule("watermark-scale-factor-3001", {"memory.watermark_scale_factor": 3001}, "1..3000"),
    rule("pcp-high-rule-unknown", {"memory.pcp_high_rule": "6BATCH"}, "'autotune'"),
    rule("batch-zero", {"memory.batch": 0}, "1..1048576"),
    rule("batch-gt-high", {"memory.batch": 300, "memory.high": 200}, "an integer <= high (200)",
         field="memory.batch"),
    rule("high-zero", {"memory.high": 0}, "1..1073741824"),
    rule("high-float", {"memory.high": 100.0}, "1..1073741824"),
    rule("page-cost-negative", {"memory.page_cost": "-40ns"}, ">= 0"),
    rule("lock-base-nan", {"memory.lock_base": math.nan}, "a duration"),
    rule("in-use-1-5", {"memory.in_use": 1.5}, "0..1"),
    rule("in-use-nan", {"memory.in_use": math.nan}, "a finite number"),
    rule("pcp-fill-negative", {"memory.pcp_fill": -0.1}, "0..1"),
    rule("free-pages-over-half", {"memory.free_pages": 40_000}, "0..32768"),
    rule("sample-interval-words", {"memory.sample_interval": "10 ms ago"}, "a duration"),
    rule("sample-cpus-int", {"memory.sample_cpus": 0}, "True or False"),
    rule("pcp-high-over-int32", {"memory.node_mem": 2**40, "memory.watermark_scale_factor": 3000,
                                 "topology.cpus_per_node": 1, "topology.nodes": 1, "tasks": [],
                                 "hotplug": [], "reclaim.kswapd_cpus": None},
         "pcp->high is an int", field="memory.node_mem"),
    # Reclaim
    rule("reclaim-time-zero", {"reclaim.reclaim_time": 0}, "> 0"),
    rule("success-rate-1-5", {"reclaim.success_rate": 1.5}, "0..1"),
    rule("success-rate-nan", {"reclaim.success_rate": math.nan}, "a finite number"),
    rule("pages-per-attempt-zero", {"reclaim.pages_per_attempt": 0}, "1..1048576"),
    rule("max-retries-negative", {"reclaim.max_retries": -1}, "0..10000"),
    rule("oom-release-zero", {"reclaim.oom_release": 0}, "1..1099511627776"),
    rule("kswapd-rate-below-1", {"reclaim.kswapd_rate": 0.5}, ">= 1 (pages/s)"),
    rule("kswapd-rate-inf", {"reclaim.kswapd_rate": math.inf}, "a finite number"),
    rule("kswapd-rate-nan", {"reclaim.kswapd_rate": math.nan}, "a finite number"),
    rule("kswapd-int", {"reclaim.kswapd": 1}, "True or False"),
    rule("kswapd-cpus-one-for-two-nodes", {"reclaim.kswapd_cpus": [0]}, "a list of 2 CPU ids, one per node"),
    rule("kswapd-cpus-wrong-node", {"reclaim.kswapd_cpus": [2, 3]}, "0..1", field="reclaim.kswapd_cpus[0]",
         value=2),
    rule("kswapd-cpus-str", {"reclaim.kswapd_cpus": "0,2"}, "a list of 2 CPU ids"),
    rule("retry-interval-zero", {"reclaim.retry_interval": 0}, "> 0"),
    # Drain
    rule("strategy-unknown", {"drain.strategy": "ipi2"}, "'remote'"),
    rule("strategy-array", {"drain.strategy": np.array(["ipi"])}, "'remote'"),
    rule("kthread-policy-normal", {"drain.kthread_policy": "normal"}, "'fifo'"),
    rule("kthread-prio-0", {"drain.kthread_prio": 0}, "1..99"),
    rule("kthread-prio-100", {"drain.kthread_prio": 100}, "1..99"),
    rule("ipi-latency-negative", {"drain.ipi_latency": -1}, ">= 0"),
    rule("remote-chunk-negative", {"drain.remote_chunk": -1}, "0..1073741824"),
    rule("remote-chunk-float", {"drain.remote_chunk": 1.0}, "0..1073741824"),
    rule("max-calls-negative", {"drain.max_calls": -1}, "0..100000000"),
    rule("max-targets-1e10", {"drain.max_targets": 10**10}, "0..1000000000"),
    rule("drain-worker-create-negative", {"drain.worker_create": "-1us"}, ">= 0"),
    rule("drain-worker-pages-zero", {"drain.worker_pages": 0}, "1..1048576"),
    rule("nested-drain-unknown", {"drain.nested_drain": "node"}, "'zone'"),
    # Workqueue
    rule("workers-per-pool-zero", {"workqueue.workers_per_pool": 0}, "1..64"),
    rule("workers-per-pool-65", {"workqueue.workers_per_pool": 65}, "1..64"),
    rule("initial-workers-gt-pool", {"workqueue.initial_workers": 9}, "1..8"),
    rule("wq-worker-create-negative", {"workqueue.worker_create": -1}, ">= 0"),
    rule("wq-worker-pages-zero", {"workqueue.worker_pages": 0}, "1..1048576"),
    rule("rescuer-str", {"workqueue.rescuer": "true"}, "True or False"),
    rule("hog-detection-int", {"workqueue.hog_detection": 1}, "True or False or None"),
    rule("hog-threshold-zero", {"workqueue.hog_threshold": 0}, "> 0"),
    rule("vmstat-update-negative", {"workqueue.vmstat_update": -1}, ">= 0"),
    rule("sources-not-list", {"workqueue.sources": WorkSource()}, "a list of pcpsim.WorkSource"),
    rule("source-dict", {"workqueue.sources[0]": {"rate": 1}}, "a pcpsim.WorkSource"),
    # WorkSource
    rule("source-cpu-nonexistent", {"workqueue.sources[0].cpus": 4}, "0..3"),
    rule("source-cpus-str", {"workqueue.sources[0].cpus": "cpu0"}, "'all'"),
    rule("source-rate-zero", {"workqueue.sources[0].rate": 0}, "> 0"),
    rule("source-rate-negative", {"workqueue.sources[0].rate": -1}, "0..1e+07"),
    rule("source-rate-nan", {"workqueue.sources[0].rate": math.nan}, "a finite number"),
    rule("source-rate-inf", {"workqueue.sources[0].rate": math.inf}, "a finite number"),
    rule("source-rate-1e8", {"workqueue.sources[0].rate": 1e8}, "0..1e+07"),
    rule("source-start-negative", {"workqueue.sources[0].start": -1}, ">= 0"),
    rule("source-interval-zero", {"workqueue.sources[0].interval": 0}, "> 0"),
    rule("source-duration-kind", {"workqueue.sources[0].duration": Dist("gamma", "1ms")}, "'lognormal'",
         field="workqueue.sources[0].duration.kind", value="gamma"),
    rule("source-duration-negative", {"workqueue.sources[0].duration": "-50us"}, "> 0",
         field="workqueue.sources[0].duration.mean", value="-50us"),
    rule("source-sleep-prob-2", {"workqueue.sources[0].sleep_prob": 2}, "0..1"),
    rule("source-sleep-sigma-negative", {"workqueue.sources[0].sleep": Dist("lognormal", "1ms", -1.0)}, "0..10",
         field="workqueue.sources[0].sleep.sigma", value=-1.0),
    rule("source-highpri-int", {"workqueue.sources[0].highpri": 1}, "True or False"),
    rule("source-workqueue-unknown", {"workqueue.sources[0].workqueue": "events"}, "'mm_percpu_wq'"),
    # Hotplug
    rule("hotplug-at-negative", {"hotplug[0].at": -1}, ">= 0"),
    rule("hotplug-at-words", {"hotplug[0].at": "later"}, "a duration"),
    rule("hotplug-nonexistent-cpu", {"hotplug[0].cpu": 4}, "0..3"),
    rule("hotplug-cpu-negative", {"hotplug[1].cpu": -1}, "0..3"),
    rule("hotplug-cpu-bool", {"hotplug[0].cpu": True}, "0..3"),
    rule("hotplug-online-int", {"hotplug[0].online": 1}, "True or False"),
    rule("hotplug-online-str", {"hotplug[1].online": "yes"}, "True or False"),
    rule("hotplug-last-online-cpu", {"hotplug": [Hotplug("1ms", c, False) for c in range(4)]},
         "not the last one online", field="hotplug[3].cpu", value=3),
    rule("hotplug-last-online-cpu-in-time-order",
         {"topology.offline": [0, 1], "hotplug": [Hotplug("3ms", 3, False), Hotplug("2ms", 2, False)]},
         "not the last one online", field="hotplug[0].cpu", value=3),
    # Task (tasks[0] hog, [1] periodic, [2] bursty, [3] allocator, [4] extdrain)
    rule("task-cpus-nonexistent", {"tasks[3].cpus": [3, 4]}, "0..3", value=4),
    rule("task-cpus-2d", {"tasks[0].cpus": np.zeros((2, 2), dtype=int)}, "a CPU id in 0..3",
         value=_SAME),
    rule("task-kind-array", {"tasks[0].kind": np.array(["hog", "hog"])}, "'periodic'"),
    rule("task-policy-list", {"tasks[0].policy": ["fifo"]}, "'fifo'"),
    rule("task-nice-float", {"tasks[0].nice": 1.0}, "-20..19"),
    rule("task-prio-numpy-float", {"tasks[1].prio": np.float64(10)}, "1..99"),
    rule("task-period-for-a-hog", {"tasks[0].period": "abc"}, "a duration"),
    rule("task-period-nan", {"tasks[1].period": math.nan}, "a duration"),
    rule("task-runtime-for-extdrain", {"tasks[4].runtime": [1]}, "a duration"),
    rule("task-phase-huge", {"tasks[1].phase": 2**63}, "at most 1e6 s"),
    rule("task-run-dist-mean", {"tasks[2].run": Dist("exp", -5)}, "> 0", field="tasks[2].run.mean", value=-5),
    rule("task-sleep-bad", {"tasks[2].sleep": {}}, "a duration", field="tasks[2].sleep.mean", value={}),
    rule("task-nonpreempt-negative", {"tasks[0].nonpreempt": "-1us"}, ">= 0"),
    rule("task-nonpreempt-every-without-nonpreempt", {"tasks[0].nonpreempt_every": math.inf}, "a duration"),
    rule("task-slice-float", {"tasks[0].slice": 1.5}, "a duration"),
    rule("task-per-cpu-zero", {"tasks[0].per_cpu": 0}, "1..1024"),
    rule("task-per-cpu-1025", {"tasks[0].per_cpu": 1025}, "1..1024"),
    rule("task-name-int", {"tasks[0].name": 5}, "a string or None"),
    rule("task-alloc-rate-nan", {"tasks[3].alloc_rate": math.nan}, "a finite number"),
    rule("task-alloc-rate-inf", {"tasks[3].alloc_rate": math.inf}, "a finite number"),
    rule("task-alloc-rate-negative", {"tasks[3].alloc_rate": -1.0}, "0..1e+12"),
    rule("task-alloc-rate-1e13", {"tasks[3].alloc_rate": 1e13}, "0..1e+12"),
    rule("task-alloc-rate-str", {"tasks[0].alloc_rate": "1000"}, "a finite number"),
    rule("task-free-rate-nan", {"tasks[3].free_rate": np.float64(math.nan)}, "a finite number"),
    rule("task-free-rate-equal", {"tasks[3].free_rate": 100_000.0}, "differs from alloc_rate"),
    rule("task-free-rate-tiny-net-flow", {"tasks[3].alloc_rate": 0.0, "tasks[3].free_rate": 1e-12},
         "by at least 1 page/s", field="tasks[3].free_rate"),
    rule("task-held-negative", {"tasks[3].held": -1}, "0..1099511627776"),
    rule("task-held-float", {"tasks[3].held": 1.5}, "0..1099511627776"),
    rule("task-reclaim-int", {"tasks[3].reclaim": 1}, "True or False"),
    rule("task-zone-for-a-hog", {"tasks[0].zone": 0}, "only an extdrain task names a zone"),
    rule("task-zone-nonexistent", {"tasks[4].zone": 2}, "0..1"),
    rule("task-force-str", {"tasks[4].force": "yes"}, "True or False"),
    rule("task-allocator-run-without-sleep", {"tasks[3].run": "1ms"}, "both run and sleep",
         field="tasks[3].sleep", value=None),
    # Dist (any kind: sigma is copied into the engine for every kind)
    rule("dist-sigma-str-fixed", {"tasks[2].sleep": Dist("fixed", "1ms", "abc")}, "a finite number in 0..10",
         field="tasks[2].sleep.sigma", value="abc"),
    rule("dist-sigma-inf-exp", {"tasks[2].run": Dist("exp", "1ms", math.inf)}, "a finite number in 0..10",
         field="tasks[2].run.sigma", value=math.inf),
    rule("dist-kind-none", {"tasks[2].run": Dist(None, "1ms")}, "'fixed'", field="tasks[2].run.kind",
         value=None),
    rule("dist-mean-bool", {"tasks[2].run": Dist("fixed", True)}, "a duration", field="tasks[2].run.mean",
         value=True),
]


def _build(base, changes: dict) -> Config:
    config = base()
    for path, v in changes.items():
        _set(config, path, v)
    return config


def test_full_config_is_valid_and_runs():
    sim = Simulation(full())
    sim.run()
    assert sim.now == 10_000_000


@pytest.mark.parametrize("base, changes, field, value, allowed", RULES)
def test_every_rule_names_field_value_and_allowed(base, changes, field, value, allowed):
    config = _build(base, changes)
    if value is _SAME:
        value = _steps_value(config, field)
    with pytest.raises(ConfigError) as e:
        config.validate()
    check_error(e.value, field, value, allowed)


def _steps_value(config: Config, path: str):
    obj = config
    for k in _steps(path):
        obj = obj[k] if isinstance(k, int) else getattr(obj, k)
    return obj


@pytest.mark.parametrize("base, changes, field, value, allowed", RULES)
def test_every_rule_holds_before_native(no_native, base, changes, field, value, allowed):
    with pytest.raises(ConfigError) as e:
        Simulation(_build(base, changes))
    assert e.value.field == field


def test_every_field_of_every_dataclass_has_a_rule():
    """The table covers the whole config: each ``Class.field`` is named by a row."""
    covered = set()

    def cover(config: Config, field: str) -> None:
        # tasks[2].run.kind names Dist.kind and Task.run
        parts = _steps(field)
        for n in range(1, len(parts) + 1):
            prefix = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in parts[:n]).lstrip(".")
            covered.add(owner_field(config, prefix))

    for row in RULES:
        base, changes, field, _value, _allowed = row.values
        cover(_build(base, changes), field)
    for build, field, _value, _allowed in BAD_ARGS:
        cover(build(), field)
    every = {f"{cls.__name__}.{f.name}" for cls in (Config, Topology, Sched, Task, Memory, Reclaim, Drain,
                                                     Workqueue, WorkSource, Hotplug, Dist)
             for f in dataclasses.fields(cls)}
    assert every - covered == set()


def test_array_values_where_ids_are_expected_are_accepted():
    """numpy integers and 1-D arrays are accepted wherever ints and id lists are."""
    config = full()
    config.sched.hz = np.int64(250)
    config.topology.isolated = np.array([1])
    config.topology.offline = np.array([2])
    config.reclaim.kswapd_cpus = np.array([0, 3])
    config.tasks[0].cpus = np.array([0, 1])
    config.tasks[0].nice = np.int8(-3)
    config.seed = np.uint64(7)
    config.workqueue.sources[0].rate = np.float32(100.0)
    config.tasks[2].run = Dist("lognormal", "1ms", np.float64(0.5))
    sim = Simulation(config)
    sim.run()
    assert sim.now == 10_000_000


#: values no field should ever turn into anything but a ConfigError or a run
HOSTILE = [True, 1.5, -1, 0, 2**64, 2**63, 10**30, math.nan, math.inf, -math.inf, "abc", None, [], {},
           np.int64(2**62), np.float64(math.nan), np.float32(1.0), np.bool_(True), np.array([1]),
           np.array(["x", "y"]), 1e300, 1e-300, np.uint64(2**64 - 1), "1e30s", "nan ms", object()]


def _leaf_paths(obj, prefix=""):
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        path = f"{prefix}.{f.name}" if prefix else f.name
        if dataclasses.is_dataclass(v):
            yield from _leaf_paths(v, path)
        elif isinstance(v, list) and v and dataclasses.is_dataclass(v[0]):
            for i, x in enumerate(v):
                yield from _leaf_paths(x, f"{path}[{i}]")
        else:
            yield path


@pytest.mark.parametrize("path", list(_leaf_paths(full())))
def test_hostile_values_give_a_config_error_or_a_clean_run(path):
    """Huge ints (int64 ns overflow), NaN, inf, floats where ints belong, numpy
    scalars and arrays, strings, None: Simulation() raises a ConfigError naming
    the field, or the value is a legal one and the run finishes; never an
    OverflowError, TypeError or a crash from inside the engine."""
    for v in HOSTILE:
        config = _set(full(), path, v)
        try:
            sim = Simulation(config)
        except ConfigError as e:
            assert e.field and str(e).startswith(f"{e.field} = "), (path, v, str(e))
            continue
        sim.run("2ms")
        sim.results()                      # the autouse fixture checks conservation and sim.check()
