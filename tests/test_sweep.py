"""Parameter sweeps (pcpsim.sweep): executors agree, restarts resume, failures are contained."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import pcpsim
import pcpsim.sweep as sw
from pcpsim import cli
from pcpsim.config import ConfigError
from pcpsim.scenarios import phone

#: a small, fast base: the phone scenario for 50 ms
GRID = {"topology.cpus_per_node": [4, 8], "drain.strategy": ["ipi", "remote"]}


def small_base(duration: str = "50ms") -> pcpsim.Config:
    cfg = sw.apply(phone("workqueue"), {"tasks[3].cpus": [2], "tasks[5].cpus": 1,
                                         "hotplug": [], "duration": duration})
    return cfg


def crashing_runner(cfg: pcpsim.Config) -> pcpsim.Results:
    """A runner whose worker process dies on 6-CPU configs (test hook; top level so it pickles)."""
    if cfg.topology.cpus_per_node == 6:
        os._exit(13)
    return pcpsim.run(cfg)


def counting_runner(cfg: pcpsim.Config) -> pcpsim.Results:
    """A runner that logs every run to $SWEEP_TEST_LOG (one line per run: the seed).
    With $SWEEP_TEST_KILL_AT=n it kills its whole process group (the sweep and its
    workers) at the start of a run once n points are saved in $SWEEP_TEST_POINTS:
    an interruption at a known point, with no wall-clock wait."""
    kill_at = os.environ.get("SWEEP_TEST_KILL_AT")
    if kill_at and len(list(Path(os.environ["SWEEP_TEST_POINTS"]).glob("*.json"))) >= int(kill_at):
        os.killpg(os.getpgid(0), signal.SIGKILL)
    r = pcpsim.run(cfg)
    with open(os.environ["SWEEP_TEST_LOG"], "a") as f:
        f.write(f"{cfg.seed}\n")
    return r


def summaries(out: Path) -> dict[str, dict[str, Any]]:
    return {r["id"]: r["summary"] for r in (json.loads(p.read_text()) for p in (out / "points").glob("*.json"))}


def test_expand_cartesian_zipped_and_explicit() -> None:
    pts = sw.expand({"a.b": [1, 2], "c,d": [[3, "x"], [4, "y"]]})
    assert pts == [{"a.b": 1, "c": 3, "d": "x"}, {"a.b": 1, "c": 4, "d": "y"},
                   {"a.b": 2, "c": 3, "d": "x"}, {"a.b": 2, "c": 4, "d": "y"}]
    assert sw.expand([{"kernel": "5.17"}, {"tasks[0].cpus": range(0, 4)}]) == [
        {"kernel": "5.17"}, {"tasks[0].cpus": {"range": [0, 4, 1]}}]
    with pytest.raises(ConfigError, match="seeds="):
        sw.expand({"seed": [1, 2]})
    with pytest.raises(ConfigError, match="config path"):
        sw.expand({"tasks[x]": [1]})


def test_apply_and_seeds_are_stable() -> None:
    base = small_base()
    cfg = sw.apply(base, {"tasks[0].nice": 5, "workqueue.sources[0].duration": {"kind": "exp", "mean": "1ms"},
                          "tasks[1].cpus": {"range": [0, 8, 2]}})
    assert cfg.tasks[0].nice == 5 and cfg.tasks[1].cpus == range(0, 8, 2)
    assert cfg.workqueue.sources[0].duration == pcpsim.Dist("exp", "1ms") and base.tasks[0].nice == 0
    with pytest.raises(ConfigError, match="Topology"):
        sw.apply(base, {"topology.cpus": 3})
    with pytest.raises(ConfigError, match="index"):
        sw.apply(base, {"tasks[9].nice": 1})
    s = sw.point_seed(7, {"kernel": "6.6", "duration": "1s"}, 0)
    assert s == sw.point_seed(7, {"duration": "1s", "kernel": "6.6"}, 0)       # order does not matter
    assert len({s, sw.point_seed(7, {"kernel": "6.6", "duration": "1s"}, 1),
                sw.point_seed(8, {"kernel": "6.6", "duration": "1s"}, 0)}) == 3
    assert 0 <= s < 2**63


def test_executors_give_identical_summaries(tmp_path: Path) -> None:
    """Sequential, the local process pool and a Dask LocalCluster (2 worker processes)."""
    distributed = pytest.importorskip("dask.distributed")
    base = small_base()
    calls: list[tuple[int, int, int]] = []
    seq = sw.sweep(base, GRID, seeds=2, out=tmp_path / "seq", executor="sequential",
                   progress=lambda *a: calls.append(a))
    assert (seq.total, seq.done, seq.failed) == (8, 8, 0)
    assert calls[0] == (0, 0, 8) and calls[-1] == (8, 0, 8)
    pool = pcpsim.sweep(base, GRID, seeds=2, out=tmp_path / "pool", workers=2)   # the module is callable
    assert pool.done == 8
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        dask = sw.sweep(base, GRID, seeds=2, out=tmp_path / "dask", executor=client)
    assert dask.done == 8
    ref = summaries(tmp_path / "seq")
    assert len(ref) == 8 and all(s["drain_calls"] >= 0 for s in ref.values())
    assert summaries(tmp_path / "pool") == ref
    assert summaries(tmp_path / "dask") == ref
    # seeds differ per point and replicate; the same point with a list of seeds uses them as they are
    df = sw.load(tmp_path / "seq")
    assert df["seed"].nunique() == 8 and set(df["status"]) == {"done"}
    assert {"topology.cpus_per_node", "drain.strategy", "drain_latency_ns.p99", "dropped.calls"} <= set(df)
    explicit = sw.sweep(base, GRID, seeds=[3], out=tmp_path / "explicit", executor="sequential")
    assert set(sw.load(explicit.out)["seed"]) == {3}


def test_a_points_summary_is_its_own_runs_and_the_base_stays_as_given(tmp_path: Path) -> None:
    base = small_base()
    grid = {"tasks[0].nice": [5, -5], "workqueue.sources[0].rate": [10.0, 200.0]}
    sw.sweep(base, grid, out=tmp_path, executor="sequential", progress=False)
    records = [json.loads(p.read_text()) for p in (tmp_path / "points").glob("*.json")]
    assert len(records) == 4
    for rec in records:
        cfg = sw.apply(base, rec["params"])
        cfg.seed = rec["seed"]
        full = pcpsim.run(cfg).summary()
        assert full["config"]["tasks"][0]["nice"] == rec["params"]["tasks[0].nice"]
        del full["config"], full["seed"]
        assert rec["summary"] == json.loads(json.dumps(sw._finite(full)))
    assert len({json.dumps(rec["summary"], sort_keys=True) for rec in records}) == 4
    # the parsed base the points share (one parse per process) took none of their settings
    assert sw._base_config(base.to_toml()) == base


def test_invalid_point_fails_alone_and_results_are_saved(tmp_path: Path) -> None:
    base = small_base()
    grid = [{"kernel": "5.17"}, {"kernel": "1.0"}, {"topology.cpus_per_node": 0}]
    report = sw.sweep(base, grid, out=tmp_path, executor="sequential", save_results=True, progress=False)
    assert (report.done, report.failed) == (1, 2)
    df = sw.load(tmp_path).set_index("kernel", drop=False)
    failed = df[df["status"] == "failed"]
    assert failed["error"].str.contains("ConfigError").all()
    assert "kernel = '1.0' is not allowed" in failed.loc["1.0", "error"]
    rec = json.loads(next(p for p in (tmp_path / "points").glob("*.json")
                          if json.loads(p.read_text())["status"] == "failed").read_text())
    assert "Traceback" in rec["traceback"]
    done_id = df[df["status"] == "done"]["id"].iloc[0]
    r = pcpsim.Results.load(tmp_path / "points" / f"{done_id}.npz")
    assert r.config.kernel == "5.17" and r.summary()["drain_calls"] == df.loc["5.17", "drain_calls"]
    # a typo in a path stops the sweep before anything runs
    with pytest.raises(ConfigError, match="cpus_per_nod"):
        sw.sweep(base, {"topology.cpus_per_nod": [4]}, out=tmp_path / "typo", executor="sequential")
    # the folder belongs to one base config
    with pytest.raises(ValueError, match="another base config"):
        sw.sweep(small_base("60ms"), grid, out=tmp_path, executor="sequential")


def test_worker_death_is_contained(tmp_path: Path) -> None:
    """A point that kills its worker process is found, retried, then failed; the others complete."""
    base = small_base()
    grid = {"topology.cpus_per_node": [4, 6, 8], "drain.strategy": ["ipi", "remote"]}
    report = sw.sweep(base, grid, out=tmp_path, workers=2, runner=crashing_runner, max_crashes=2, progress=False)
    assert (report.total, report.done, report.failed) == (6, 4, 2)
    df = sw.load(tmp_path)
    bad = df[df["topology.cpus_per_node"] == 6]
    assert (bad["status"] == "failed").all() and bad["error"].str.contains("WorkerDied").all()
    assert (df[df["topology.cpus_per_node"] != 6]["status"] == "done").all()
    # crashes are not results: a new run tries those points again (and only those)
    again = sw.sweep(base, grid, out=tmp_path, workers=2, runner=crashing_runner, progress=False)
    assert (again.ran, again.skipped, again.failed) == (2, 4, 2)


def test_interrupted_sweep_resumes(tmp_path: Path) -> None:
    """Kill the process running a sweep part way (and its workers), start again:
    every point ends done exactly once and finished points are not rerun."""
    out, log = tmp_path / "out", tmp_path / "runs.log"
    code = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})
        import pcpsim.sweep as sw
        from test_sweep import small_base, counting_runner
        if __name__ == "__main__":
            sw.sweep(small_base("1s"), {{"topology.cpus_per_node": [4, 8, 12, 16],
                                            "drain.strategy": ["ipi", "workqueue", "remote"]}},
                     seeds=2, out={str(out)!r}, workers=2, max_pending=2, runner=counting_runner, progress=False)
    """)
    points = out / "points"
    env = {**os.environ, "SWEEP_TEST_LOG": str(log), "SWEEP_TEST_POINTS": str(points)}
    # the first run is killed (with its workers) once 6 points are saved
    first = subprocess.run([sys.executable, "-c", code], env={**env, "SWEEP_TEST_KILL_AT": "6"},
                           start_new_session=True, timeout=120)
    assert first.returncode == -signal.SIGKILL, "the sweep finished before it could be interrupted"
    before = {p.name: p.stat().st_mtime_ns for p in points.glob("*.json")}
    assert 6 <= len(before) < 24
    seeds_before = {json.loads((points / n).read_text())["seed"] for n in before}
    code = code.replace("progress=False", "progress=lambda d, f, t: None")
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    after = {p.name: p.stat().st_mtime_ns for p in points.glob("*.json")}
    assert len(after) == 24 and all(after[n] == t for n, t in before.items())   # not rewritten
    assert not list(points.glob(".*.tmp"))
    runs = log.read_text().split()
    assert all(runs.count(str(s)) == 1 for s in seeds_before)                     # not recomputed
    df = sw.load(out)
    assert len(df) == 24 and set(df["status"]) == {"done"} and df["id"].is_unique


def test_cli_sweep_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "s.toml").write_text(textwrap.dedent("""
        [base]
        scenario = "phone"
        strategy = "remote"
        [base.set]
        duration = "50ms"
        hotplug = []
        [sweep]
        seeds = 2
        [grid]
        "drain.strategy" = ["ipi", "remote"]
        [[points]]
        "tasks[0].per_cpu" = 1
        [[points]]
        "tasks[0].per_cpu" = 3
    """))
    assert cli.main(["sweep", str(tmp_path / "s.toml"), "--workers", "1", "--out", str(tmp_path / "o")]) == 0
    assert "8 points: 8 done, 0 failed" in capsys.readouterr().out
    df = sw.load(tmp_path / "o")
    assert sorted(df.groupby(["tasks[0].per_cpu", "drain.strategy"]).size()) == [2, 2, 2, 2]
    fig = sw.plot(df, "drain_latency_ns.p99", "tasks[0].per_cpu")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["ipi", "remote"]
    assert ax.get_ylabel() == "drain_latency_ns.p99 (ms)"
    (tmp_path / "bad.toml").write_text('[base]\nscenario = "phone"\n[grid]\n"topology.nope" = [1]\n')
    assert cli.main(["sweep", str(tmp_path / "bad.toml")]) == 2
    assert "topology.nope" in capsys.readouterr().err
