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


def test_a_directory_without_a_build_is_refused(tmp_path: Path) -> None:
    tool = load_tool()
    with pytest.raises(SystemExit, match="no pcpsim/_core extension"):
        tool.main([SITE, os.fspath(tmp_path)])


def test_engine_option_runs_the_engine_benchmarks_config(capsys: pytest.CaptureFixture[str]) -> None:
    tool = load_tool()
    assert tool.main([SITE, SITE, "--engine", "16", "--chunk", "10ms", "--until", "50ms"]) == 0
    out = capsys.readouterr().out
    cfg = tool.engine_config(16)
    cfg.duration = "50ms"
    sim = p.Simulation(cfg)
    sim.run()
    m = re.search(r"^engine, 16 CPUs, 0.05 simulated s in (\d+) chunks, (\d+) events", out, re.M)
    assert m and int(m.group(1)) == 5 and int(m.group(2)) == sim.events, out
