"""Configs as TOML: exact round trips (Config.to_toml / from_toml / save_toml) and
the errors a bad file gives (file, key path, problem; syntax errors with the line)."""
from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import numpy as np
import pytest

from pcpsim import (
    Config, ConfigError, Dist, Drain, Hotplug, Memory, Reclaim, Sched, Task, Topology, WorkSource, Workqueue,
)
from pcpsim.config import STRATEGIES
from pcpsim.scenarios import phone, server_4096
from pcpsim.tomlconfig import TomlSyntaxError, tomllib


def rich() -> Config:
    """A valid config with every field of every dataclass set (none left None)."""
    return Config(
        kernel="6.12",
        topology=Topology(nodes=2, cpus_per_node=4, node_sizes=[4, 4], isolated=(3,), offline=(7,)),
        tasks=[
            Task("periodic", [1, 2], "rr", 0, 10, period="2ms", runtime=250_000, phase="10us",
                 run=Dist("lognormal", "100us", 0.5), sleep="1ms", nonpreempt="5us", nonpreempt_every="1ms",
                 slice="3ms", per_cpu=2, name='rt "main"\tµ\\', alloc_rate=1.5, free_rate=2.0, held=3,
                 reclaim=True, zone=None, force=True),
            Task("allocator", range(0, 8, 2), nice=-5, alloc_rate=1e5, free_rate=5e4, held=100,
                 run=Dist("exp", 2_000_000), sleep=Dist("fixed", "3ms")),
            Task("extdrain", 4, period="5ms", zone=1, force=True, name="cma"),
        ],
        sched=Sched(hz=1000, fair_class="eevdf", rt_throttle=False, rt_runtime="900ms", rt_period="1s",
                    fair_server=True, fair_server_runtime="40ms", fair_server_period="900ms",
                    context_switch="1us", wakeup_ipi=1500, tunable_scaling="linear", sched_latency="8ms",
                    min_granularity="1ms", wakeup_granularity="2ms", base_slice="3ms", rr_timeslice="50ms",
                    run_to_parity=False, preempt_short=True, gentle_sleepers=False),
        memory=Memory(node_mem=["1GiB", 300_000], min_free_kbytes=4096, watermark_scale_factor=20,
                      pcp_high_rule="autotune", batch=31, high=200, page_cost="50ns", lock_base=300,
                      in_use=0.9, pcp_fill=0.25, free_pages=5000, sample_interval="5ms"),
        reclaim=Reclaim(reclaim_time="2ms", success_rate=0.25, pages_per_attempt=64, max_retries=8,
                        oom_release=2048, kswapd_rate=1e6, kswapd=False, kswapd_cpus=[1, 5], retry_interval="3ms"),
        drain=Drain(strategy="kthread_rfc_v1", kthread_policy="rr", kthread_prio=5, ipi_latency="3us",
                    remote_chunk=64, max_calls=1000, max_targets=10_000, worker_create="2ms", worker_pages=8,
                    nested_drain="zone"),
        workqueue=Workqueue(workers_per_pool=4, initial_workers=2, worker_create="50us", worker_pages=2,
                            rescuer=False, hog_detection=True, hog_threshold="20ms", vmstat_update=0,
                            sources=[WorkSource(cpus=[0, 1], rate=10, start="1ms", interval="10ms",
                                                duration=Dist("exp", "20us"), sleep_prob=0.5,
                                                sleep=Dist("lognormal", "1ms", 1.0), highpri=True,
                                                workqueue="mm_percpu_wq"),
                                     WorkSource()]),
        hotplug=[Hotplug("100ms", 7, True), Hotplug(at=300_000_000, cpu=6, online=False)],
        duration="1.5s",
        seed=2**63 - 1,
    )


def unset_fields(cfg: Config) -> set[str]:
    """``Class.field`` names that no instance in ``cfg`` sets (leaves None): the
    round trip must cover every field of every dataclass."""
    fields: set[str] = set()
    set_somewhere: set[str] = set()

    def walk(obj: object) -> None:
        for f in dataclasses.fields(obj):
            v, name = getattr(obj, f.name), f"{type(obj).__name__}.{f.name}"
            fields.add(name)
            if v is not None:
                set_somewhere.add(name)
            for x in v if isinstance(v, list) else [v]:
                if dataclasses.is_dataclass(x):
                    walk(x)

    walk(cfg)
    return fields - set_somewhere


# -------------------------------------------------------------- round trips
@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("build", [phone, server_4096])
def test_scenarios_round_trip(build, strategy: str) -> None:
    cfg = build(strategy)
    text = cfg.to_toml()
    assert Config.from_toml(text) == cfg
    assert tomllib.loads(text)  # plain TOML for any reader


def test_rich_config_round_trips_every_field(tmp_path: Path) -> None:
    cfg = rich()
    assert unset_fields(cfg) == set()
    cfg.validate()
    text = cfg.to_toml()
    back = Config.from_toml(text)
    assert back == cfg
    # types come back, not just equal values
    assert type(back.tasks[0].runtime) is int and type(back.tasks[0].alloc_rate) is float
    assert back.tasks[1].cpus == range(0, 8, 2) and isinstance(back.tasks[1].cpus, range)
    assert back.topology.isolated == (3,) and back.topology.node_sizes == [4, 4]
    assert back.tasks[0].run == Dist("lognormal", "100us", 0.5) and back.tasks[0].sleep == "1ms"
    assert back.tasks[0].name == 'rt "main"\tµ\\'
    assert "cpus = { range = [0, 8, 2] }" in text
    # through a file, by Path and by str
    path = tmp_path / "rich.toml"
    cfg.save_toml(path)
    assert Config.from_toml(path) == cfg
    assert Config.from_toml(str(path)) == cfg


def test_none_values_are_left_out_and_come_back() -> None:
    cfg = Config(tasks=[Task("hog", 0)])
    text = cfg.to_toml()
    keys = {line.split(" = ")[0] for line in text.splitlines()}
    assert {"fair_class", "period", "strategy", "name"}.isdisjoint(keys) and "kernel" in keys
    assert Config.from_toml(text) == cfg
    assert Config.from_toml("") == Config()
    assert Config.from_toml(Config().to_toml()) == Config()


def test_numpy_values_floats_and_awkward_strings() -> None:
    cfg = Config(tasks=[Task("allocator", np.array([0, 1]), nice=np.int64(-3), alloc_rate=np.float64(1e16),
                             free_rate=float("inf"), held=np.int32(7), name="a\x01b\x7f\n", reclaim=np.bool_(True))],
                 seed=np.uint64(5))
    back = Config.from_toml(cfg.to_toml(), validate=False)
    t = back.tasks[0]
    assert t.cpus == [0, 1] and t.nice == -3 and type(t.nice) is int
    assert t.alloc_rate == 1e16 and t.free_rate == float("inf") and t.held == 7 and t.reclaim is True
    assert t.name == "a\x01b\x7f\n" and back.seed == 5


def test_unrepresentable_value_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as e:
        Config(tasks=[Task("hog", {0, 1})]).to_toml()
    assert e.value.field == "tasks[0].cpus"


# -------------------------------------------------------------- errors
GOOD = """\
kernel = "6.6"
duration = "10ms"

[[tasks]]
kind = "hog"
cpus = 0

[[tasks]]
kind = "hog"
cpus = 1

[[tasks]]
kind = "hog"
cpus = 2
"""


def error_of(tmp_path: Path, text: str) -> ConfigError:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        Config.from_toml(path)
    assert e.value.source == str(path)
    assert str(e.value).startswith(f"{path}: ") or isinstance(e.value, TomlSyntaxError)
    return e.value


def test_good_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "good.toml"
    path.write_text(GOOD, encoding="utf-8")
    cfg = Config.from_toml(path)
    assert [t.cpus for t in cfg.tasks] == [0, 1, 2] and cfg.duration == "10ms"


@pytest.mark.parametrize("text, field, value, words", [
    ("kernal = '6.6'\n", "kernal", "6.6", ["a key of Config", "kernel"]),
    (GOOD + "nicee = 5\n", "tasks[2].nicee", 5, ["a key of Task", "nice"]),
    (GOOD + "nice = 'zero'\n", "tasks[2].nice", "zero", ["an integer in -20..19"]),
    (GOOD + "nice = 40\n", "tasks[2].nice", 40, ["-20..19"]),
    (GOOD + "nice = { a = 1 }\n", "tasks[2].nice", {"a": 1}, ["not a table"]),
    ("[[tasks]]\ncpus = { range = [0, '8'] }\n", "tasks[0].cpus.range", [0, "8"], ["integers"]),
    (GOOD + "run = { kind = 'exp', mean = '1ms', sigmaa = 1 }\n", "tasks[2].run.sigmaa", 1, ["a key of Dist"]),
    (GOOD + "run = { kind = 'expo', mean = '1ms' }\n", "tasks[2].run.kind", "expo", ["'lognormal'"]),
    ("topology = 5\n", "topology", 5, ["a table of Topology keys"]),
    ("[tasks]\nkind = 'hog'\n", "tasks", {"kind": "hog"}, ["an array of Task tables", "[[tasks]]"]),
    ("[topology]\nisolated = [1, 99]\n", "topology.isolated[1]", 99, ["0..7"]),
    ("[[hotplug]]\nat = '1ms'\ncpu = 0\n", "hotplug[0].online", None, ["Hotplug needs online"]),
    ("[workqueue]\n[[workqueue.sources]]\n[[workqueue.sources]]\nrate = -1\n", "workqueue.sources[1].rate", -1,
     ["0..1e+07"]),
    ("[sched]\nhz = 99\n", "sched.hz", 99, ["250"]),
])
def test_bad_file_names_file_key_and_problem(tmp_path: Path, text: str, field: str, value, words) -> None:
    err = error_of(tmp_path, text)
    assert err.field == field
    assert err.value == value
    msg = str(err)
    assert f"{field} = {value!r} is not allowed: expected" in msg
    for w in words:
        assert w in msg, (w, msg)


def test_errors_pickle(tmp_path: Path) -> None:
    for text in ("seed = -1\n", "seed = = 1\n"):
        path = tmp_path / "e.toml"
        path.write_text(text)
        with pytest.raises(ConfigError) as e:
            Config.from_toml(path)
        back = pickle.loads(pickle.dumps(e.value))
        assert type(back) is type(e.value) and str(back) == str(e.value) and back.__dict__ == e.value.__dict__


def test_error_in_text_names_no_file() -> None:
    with pytest.raises(ConfigError) as e:
        Config.from_toml("seed = -1\n")
    assert e.value.source is None and str(e.value).startswith("seed = -1 is not allowed")


def test_validation_can_be_left_out() -> None:
    assert Config.from_toml("seed = -1\n", validate=False).seed == -1
    with pytest.raises(ConfigError):                     # the structure is always checked
        Config.from_toml("sead = 1\n", validate=False)


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    err = error_of(tmp_path, 'kernel = "6.6"\nduration = "1s"\nseed = = 3\n')
    assert isinstance(err, TomlSyntaxError)
    assert err.line == 3 and err.column is not None
    msg = str(err)
    assert msg.startswith(f"{tmp_path / 'bad.toml'}, line 3: TOML syntax error: ")
    err = error_of(tmp_path, "[tasks\n")
    assert err.line == 1
    with pytest.raises(TomlSyntaxError) as e:
        Config.from_toml("a = 1\nb = [1,\n")
    assert str(e.value).startswith("<string>, line ") and e.value.source is None


def test_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(TomlSyntaxError) as e:
        Config.from_toml(path)
    assert "UTF-8" in str(e.value) and str(path) in str(e.value)


def test_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Config.from_toml(tmp_path / "nope.toml")
    with pytest.raises(FileNotFoundError):
        Config.from_toml(str(tmp_path / "nope.toml"))


# -------------------------------------------------------------- TOML values validate() refuses
@pytest.mark.parametrize("text, field, value, allowed", [
    ("[reclaim]\nkswapd = 1\n", "reclaim.kswapd", 1, "True or False"),
    ("[sched]\nrun_to_parity = 'true'\n", "sched.run_to_parity", "true", "True or False"),
    ("kernel = 6.6\n", "kernel", 6.6, "one of 4.10"),
    ("duration = 1979-05-27\n", "duration", __import__("datetime").date(1979, 5, 27), "a duration"),
    ("duration = 9223372036854775807\n", "duration", 2**63 - 1, "at most 1e6 s"),
    ("seed = -9223372036854775808\n", "seed", -2**63, "0..9223372036854775807"),
    ("[memory]\nin_use = inf\n", "memory.in_use", float("inf"), "a finite number in 0..1"),
    ("[memory]\nbatch = 64\nhigh = 32\n", "memory.batch", 64, "an integer <= high (32)"),
    ("[[hotplug]]\nat = '1ms'\ncpu = 99\nonline = false\n", "hotplug[0].cpu", 99, "0..7"),
    ("[topology]\noffline = [0, 1, 2, 3, 4, 5, 6, 7]\n", "topology.offline", (0, 1, 2, 3, 4, 5, 6, 7),
     "at least one of the 8 CPUs online"),
    ("[topology]\nnodes = 2\ncpus_per_node = 4\n[reclaim]\nkswapd_cpus = [0, 1]\n", "reclaim.kswapd_cpus[1]", 1,
     "4..7"),
    ("[drain]\nstrategy = 'kthreads'\n", "drain.strategy", "kthreads", "'kthread'"),
    ("[[workqueue.sources]]\nduration = { kind = 'exp', mean = '-1ms' }\n", "workqueue.sources[0].duration.mean",
     "-1ms", "> 0"),
    ("[[tasks]]\nkind = 'hog'\ncpus = 0\nperiod = '1 fortnight'\n", "tasks[0].period", "1 fortnight", "a duration"),
    ("[[tasks]]\nkind = 'allocator'\ncpus = 0\nalloc_rate = 10.0\nfree_rate = 10.5\n", "tasks[0].free_rate", 10.5,
     "by at least 1 page/s"),
    ("[[tasks]]\nkind = 'hog'\ncpus = { range = [0, 9] }\n", "tasks[0].cpus", 8, "0..7"),
])
def test_bad_value_in_file_names_file_field_value_and_allowed(tmp_path: Path, text: str, field: str, value,
                                                                allowed: str) -> None:
    err = error_of(tmp_path, text)
    assert err.field == field and type(err.value) is type(value) and err.value == value
    assert str(err) == f"{tmp_path / 'bad.toml'}: {field} = {value!r} is not allowed: expected {err.allowed}"
    assert allowed in err.allowed


def test_nan_rate_in_file(tmp_path: Path) -> None:
    err = error_of(tmp_path, "[[tasks]]\nkind = 'allocator'\ncpus = 0\nalloc_rate = nan\n")
    assert err.field == "tasks[0].alloc_rate" and err.value != err.value      # NaN
    assert "tasks[0].alloc_rate = nan is not allowed: expected a finite number" in str(err)
