"""benchmarks/compare_builds.py: two builds' engines on one simulation, in turns.
Given the installed build twice, both engines must process exactly the events
of a straight run; arrays convert field by field between layouts; a directory
without a build is refused."""
from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import numpy as np
import pytest

import pcpsim as p
from pcpsim import _core, scenarios

TOOL = Path(__file__).resolve().parent.parent / "benchmarks" / "compare_builds.py"


def load_tool():
    spec = importlib.util.spec_from_file_location("compare_builds", TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


SITE = str(Path(_core.__file__).resolve().parent.parent)


def test_both_engines_process_the_straight_runs_events(capsys: pytest.CaptureFixture[str]) -> None:
    tool = load_tool()
    assert tool.main([SITE, SITE, "--scenario", "phone", "--strategy", "remote", "--chunk", "7ms",
                      "--until", "60ms"]) == 0
    out = capsys.readouterr().out
    cfg = scenarios.phone("remote")
    cfg.duration = "60ms"
    sim = p.Simulation(cfg)
    sim.run()
    m = re.search(r"in (\d+) chunks, (\d+) events", out)
    assert m and int(m.group(1)) == 9 and int(m.group(2)) == sim.events, out     # 60 ms in 7 ms turns
    assert out.count("median chunk") == 1


def test_convert_keeps_common_fields_and_zeroes_new_ones() -> None:
    tool = load_tool()
    cpus = np.zeros(3, dtype=[("curr", "<i4"), ("old_only", "<i8")])
    cpus["curr"] = [5, -1, 7]

    class Core:
        ARRAY_SPECS = {"cpus": (np.dtype([("curr", "<i4"), ("new_only", "<i2")]), "cpu")}

    out = tool.convert({"cpus": cpus, "other": np.arange(4)}, Core)
    assert out["cpus"]["curr"].tolist() == [5, -1, 7] and out["cpus"]["new_only"].tolist() == [0, 0, 0]
    assert out["other"].tolist() == [0, 1, 2, 3]


def test_convert_makes_a_per_slot_array_the_reference_lacks() -> None:
    # a build whose engine needs a per-slot array that the reference build has
    # not (the queue is empty before the start): zeros, one row a slot
    tool = load_tool()
    entry = np.dtype([("time", "<i8"), ("key", "<i8")])

    class Core:
        ARRAY_SPECS = {"heap_pos": (np.dtype(np.int32), "slot"), "newq": (entry, "slot"), "cpus": (entry, "cpu")}

    out = tool.convert({"heap_pos": np.full(5, -1, dtype=np.int32)}, Core)
    assert out["newq"].dtype == entry and len(out["newq"]) == 5 and not out["newq"]["key"].any()
    assert out["heap_pos"].tolist() == [-1] * 5 and "cpus" not in out


def test_a_directory_without_a_build_is_refused(tmp_path: Path) -> None:
    tool = load_tool()
    with pytest.raises(SystemExit, match="no pcpsim/_core extension"):
        tool.main([SITE, os.fspath(tmp_path)])


@pytest.mark.parametrize("option, ncpu, heading", [
    ("--engine", 16, "engine, 16 CPUs"),
    ("--server-load", 64, "server-4096's load, 64 CPUs"),
])
def test_a_benchmark_config_option_runs_that_config(capsys: pytest.CaptureFixture[str], option: str, ncpu: int,
                                                    heading: str) -> None:
    """--engine and --server-load run configs.engine_config / server_load_config
    at that size: both engines process exactly a straight run's events."""
    tool = load_tool()
    assert tool.main([SITE, SITE, option, str(ncpu), "--chunk", "10ms", "--until", "50ms"]) == 0
    out = capsys.readouterr().out
    configs = tool.bench_configs()
    cfg = (configs.engine_config if option == "--engine" else configs.server_load_config)(ncpu)
    cfg.duration = "50ms"
    sim = p.Simulation(cfg)
    sim.run()
    m = re.search(rf"^{re.escape(heading)}, 0.05 simulated s in (\d+) chunks, (\d+) events", out, re.M)
    assert m and int(m.group(1)) == 5 and int(m.group(2)) == sim.events, out


def test_engine_and_server_load_together_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    tool = load_tool()
    with pytest.raises(SystemExit):
        tool.main([SITE, SITE, "--engine", "16", "--server-load", "64"])
    assert "--engine and --server-load" in capsys.readouterr().err


def test_server_load_config_keeps_the_servers_load_per_cpu() -> None:
    configs = load_tool().bench_configs()
    server = scenarios.server_4096("workqueue")
    cfg = configs.server_load_config(1024)
    assert (cfg.topology.nodes, cfg.topology.cpus_per_node) == (2, 512)
    assert cfg.tasks[:2] == server.tasks[:2]                      # the hogs and allocators: "all"
    assert list(cfg.tasks[2].cpus) == list(range(0, 1024, 16))    # FIFO periodic on every 16th CPU
    assert list(cfg.tasks[3].cpus) == [0, 512]                    # a reclaimer on each node's first CPU
    assert p.parse_duration(cfg.duration, "duration") == 1_171_875_000    # 1200 CPU-seconds / 1024 CPUs
    small = configs.server_load_config(64)
    assert (small.topology.nodes, small.topology.cpus_per_node) == (1, 64)
    assert list(small.tasks[3].cpus) == [0]
    with pytest.raises(ValueError, match="ncpu = 768"):
        configs.server_load_config(768)


def test_strategies_run_each_strategys_own_events(capsys: pytest.CaptureFixture[str]) -> None:
    """--strategies: one build, each strategy's simulation of the scenario in
    turns; each processes exactly the events of its own straight run, and
    the later ones are priced per event against the first."""
    tool = load_tool()
    strategies = ["remote", "workqueue_highpri", "ipi"]
    assert tool.main([SITE, "--strategies", *strategies, "--scenario", "phone", "--chunk", "7ms",
                      "--until", "60ms"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("phone, 0.06 simulated s in turns of 7 ms, one build"), out
    for i, strategy in enumerate(strategies):
        cfg = scenarios.phone(strategy)
        cfg.duration = "60ms"
        sim = p.Simulation(cfg)
        sim.run()
        m = re.search(rf"^  {strategy}: [\d.]+ s, (\d+) events, [\d.]+ M events/s(, time vs the first [\d.]+, "
                      rf"per event [\d.]+)?$", out, re.M)
        assert m and int(m.group(1)) == sim.events, out
        assert bool(m.group(2)) == (i > 0), out


@pytest.mark.parametrize("argv, message", [
    (["--strategies", "ipi"], "two or more strategies with one build"),
    ([SITE, "--strategies", "ipi", "remote"], "two or more strategies with one build"),
    (["--strategies", "ipi", "remote", "--engine", "16"], "leave out --engine and --server-load"),
])
def test_strategies_misuse_is_refused(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    tool = load_tool()
    with pytest.raises(SystemExit):
        tool.main([SITE, *argv])
    assert message in capsys.readouterr().err
