"""Tests of pcpsim.config: durations, Config.validate() and its error messages.

Every bad config below is a known-valid base config with exactly one mistake in it.
The test asserts the ConfigError names the exact field path and the bad value, and
that its message says what is allowed.
"""

import dataclasses
import math

import numpy as np
import pytest

from pcpsim import (
    Config, ConfigError, Dist, Sched, Simulation, Task, Topology, bursty, hog, parse_duration,
    periodic,
)
from pcpsim import simulation as simulation_module

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
