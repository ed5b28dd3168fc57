"""The debug build (``-C cmake.define.PCPSIM_DEBUG=ON``) in the suite (issue 7).

The extension is built with bounds checks and the engine's in-loop invariant
checks into a cache folder (``build/debug-test/<hash of the sources>``; set
``PCPSIM_DEBUG_BUILD_DIR`` to put it elsewhere), then a subprocess that imports
that build instead of the regular one runs: the ``phone`` scenario for every
strategy (1.5 simulated seconds, so one hotplug cycle), a server-like
multi-node machine, CPU hotplug under the kthread strategies (the RFC v1's
nested drains included) and 50 random configs of tests/test_fuzz.py. Every run
must finish with ``Simulation.check()`` clean, and its results and engine
arrays must be bit-identical to the regular (release) build's.

The build needs scikit-build-core, cython, cython-cmake, numpy, cmake and
ninja in this environment (the ``test`` extra brings them). About a minute
on 2 cores the first time; the runs about 40 s.
``PCPSIM_SKIP_DEBUG_BUILD=1`` leaves the module out (a quick local run).
"""
from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import pcpsim as p
from pcpsim.config import STRATEGIES
from pcpsim.scenarios import phone

ROOT = Path(__file__).resolve().parents[1]
FUZZ_EXAMPLES = 50

pytestmark = pytest.mark.skipif(os.environ.get("PCPSIM_SKIP_DEBUG_BUILD") == "1",
                                reason="PCPSIM_SKIP_DEBUG_BUILD=1")


# ------------------------------------------------------------------ the configs
def server_like(strategy: str) -> p.Config:
    """server-4096's machine and workload on 3 nodes of 8 CPUs (the debug
    build checks every CPU and zone after every event)."""
    return p.Config(
        kernel="6.6",
        topology=p.Topology(nodes=3, cpus_per_node=8),
        tasks=[
            p.hog("all", per_cpu=2, name="hog"),
            p.allocator("all", 20_000, 15_000, held=500, name="alloc"),
            p.periodic(range(0, 24, 4), "1ms", "100us", policy="fifo", prio=50, name="rt-periodic"),
            p.reclaimer(range(0, 24, 8), 400_000, 200_000, nice=-10, run=p.Dist("exp", "2ms"),
                        sleep=p.Dist("exp", "20ms"), name="reclaimer"),
            p.external_drain(9, "50ms", zone=2, force=True, name="cma"),
        ],
        memory=p.Memory(node_mem="1GiB", in_use=0.985),
        reclaim=p.Reclaim(kswapd_rate=1_000_000, success_rate=0.7, kswapd_cpus=[1, 8, 23]),
        drain=p.Drain(strategy=strategy),
        workqueue=p.Workqueue(sources=[p.WorkSource(rate=20, duration=p.Dist("lognormal", "500us", 1.0)),
                                       p.WorkSource(rate=200, duration="20us", workqueue="mm_percpu_wq")]),
        hotplug=[p.Hotplug("100ms", 13, False), p.Hotplug("250ms", 13, True)],
        duration="400ms",
        seed=3,
    )


def hotplug_config(strategy: str, nested: str) -> p.Config:
    """CPUs going offline and online under memory pressure: the kthread
    strategies create the drain kthread from the hotplug thread, which may
    reclaim and drain (nested)."""
    cfg = phone(strategy)
    cfg.topology = p.Topology(nodes=1, cpus_per_node=4, offline=(3,))
    cfg.memory = p.Memory(node_mem="256MiB", in_use=0.995)
    cfg.drain = p.Drain(strategy=strategy, nested_drain=nested, worker_create="1ms", worker_pages=64)
    cfg.hotplug = [p.Hotplug(f"{t}ms", cpu, online) for t, cpu, online in
                   ((50, 3, True), (120, 2, False), (200, 2, True), (260, 3, False), (330, 3, True),
                    (400, 1, False), (401, 1, True))]
    cfg.duration = "500ms"
    return cfg


def fuzz_configs() -> list[p.Config]:
    """FUZZ_EXAMPLES configs of tests/test_fuzz.py, the same ones every run."""
    from test_fuzz import configs

    out: list[p.Config] = []

    @settings(max_examples=FUZZ_EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(configs())
    def collect(cfg: p.Config) -> None:
        out.append(cfg)

    collect()
    return out


def cases() -> list[tuple[str, p.Config]]:
    out = []
    for s in STRATEGIES:
        cfg = phone(s)
        cfg.duration = "1.5s"                  # CPU 7 goes offline at 300 ms, online at 500 ms, again at 1.3 s
        out.append((f"phone-{s}", cfg))
    out += [(f"server-{s}", server_like(s)) for s in ("workqueue", "kthread", "remote")]
    out += [(f"hotplug-{s}-{n}", hotplug_config(s, n)) for s in ("kthread", "kthread_rfc_v1")
            for n in ("global", "zone")]
    out += [(f"fuzz-{i}", cfg) for i, cfg in enumerate(fuzz_configs())]
    return out


STALE = (" (the debug build is of the current sources; is the imported release build too? an editable "
         "install is not rebuilt on import)")


# ------------------------------------------------------------------ running one
#: a run: results (or the ConfigError's text) and the engine arrays, in both builds
RUNNER = textwrap.dedent("""
    import pickle, sys
    site, cases_path, out_path = sys.argv[1:4]
    # the build under test, not the regular one (an editable install's finder
    # would win over sys.path: drop it)
    sys.meta_path[:] = [f for f in sys.meta_path if "pcpsim" not in repr(f).lower()]
    sys.path.insert(0, site)
    import pcpsim, pcpsim._core
    from run_case import canaries, run_case
    assert pcpsim._core.__file__.startswith(site), pcpsim._core.__file__
    with open(cases_path, "rb") as f:
        cases = pickle.load(f)
    out = {"debug": pcpsim._core.DEBUG, "core": pcpsim._core.__file__,
           "runs": {name: run_case(cfg) for name, cfg in cases}, "canaries": canaries(cases[0][1])}
    with open(out_path, "wb") as f:
        pickle.dump(out, f, protocol=pickle.HIGHEST_PROTOCOL)
""")

RUN_CASE = textwrap.dedent("""
    import numpy as np
    import pcpsim as p

    def run_case(cfg):
        try:
            sim = p.Simulation(cfg)
        except p.ConfigError as e:
            return ("config-error", str(e))
        sim.run(max_events=5_000_000)
        res = sim.results()
        sim.check()
        assert res.conservation_error() == 0
        return ("ok", res, {k: v.copy() for k, v in sim.arrays.items()})

    def canaries(cfg):
        # the checks are live: state broken between two runs is caught by the next event
        def more_free(a):
            a["zones"]["free"][0] += 1

        def more_running(a):
            a["cpus"]["nr_running"][0] += 1

        def lose_items(a):                    # cut the free list of work items after its head
            a["items"]["next"][a["counters"]["item_free"][0]] = -1

        def reopen_call(a):                   # a finished drain call looks unfinished
            calls = a["calls"][: a["counters"]["ncall"][0]]
            calls["end"][(calls["end"] >= 0).argmax()] = -1

        def misplace_timer(a):                # a far timer's slot says it is not armed
            # far timers (vmstat's, a second ahead) are not moved before the
            # next check; a heap timer due next would be popped and heal the lie
            armed = (a["heap_pos"] == p._core.TIMER_IN_FAR).nonzero()[0]
            a["heap_pos"][armed[0]] = -1

        def hide_bucket(a):                   # a wheel bucket with timers loses its bit: they would never fire
            b = int((a["wheel_head"] >= 0).nonzero()[0][0])
            a["wheel_bits"][b // 64] ^= np.uint64(1) << np.uint64(b % 64)

        out = {}
        for name, corrupt in (("conservation", more_free), ("runqueue", more_running), ("items", lose_items),
                              ("calls", reopen_call), ("far", misplace_timer), ("wheel", hide_bucket)):
            sim = p.Simulation(cfg)
            sim.run("100ms")                  # drain calls have been made by then
            corrupt(sim.arrays)
            try:
                sim.run("120ms")
                out[name] = None
            except RuntimeError as e:
                out[name] = str(e)
        return out
""")


def source_hash() -> str:
    h = hashlib.sha256()
    files = [ROOT / "CMakeLists.txt", ROOT / "pyproject.toml"] + sorted((ROOT / "src" / "pcpsim").iterdir())
    for f in files:
        if f.is_file() and f.suffix in (".py", ".pyx", ".pxd", ".pyi", ".txt", ".toml", ".typed"):
            h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def build_debug(cache: Path) -> Path:
    """The debug build's install folder (built when the sources changed)."""
    key = source_hash()
    site = cache / key / "site"
    if (site / "pcpsim").is_dir():
        return site
    work = cache / f"{key}.tmp{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    for cmd in (
        pip + ["wheel", str(ROOT), "--no-build-isolation", "--no-deps", "-w", str(work / "wheel"),
               "-C", "cmake.define.PCPSIM_DEBUG=ON", "-C", f"build-dir={work / 'build'}"],
        None,
    ):
        if cmd is None:
            (wheel,) = (work / "wheel").glob("pcpsim-*.whl")
            cmd = pip + ["install", "--no-deps", "--no-compile", "--target", str(work / "site"), str(wheel)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        assert r.returncode == 0, f"debug build failed: {' '.join(cmd)}\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    shutil.rmtree(work / "build", ignore_errors=True)
    final = cache / key
    try:
        work.rename(final)                       # atomic: a parallel run sees a whole build or none
    except OSError:                              # another run got there first
        shutil.rmtree(work, ignore_errors=True)
    for old in cache.iterdir():                  # builds of older sources
        if old.name != key and not old.name.startswith(f"{key}.tmp"):
            shutil.rmtree(old, ignore_errors=True)
    return site


@pytest.fixture(scope="module")
def debug_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[tuple[str, p.Config]], dict]:
    cache = Path(os.environ.get("PCPSIM_DEBUG_BUILD_DIR", ROOT / "build" / "debug-test"))
    site = build_debug(cache)
    tmp = tmp_path_factory.mktemp("debug-runs")
    the_cases = cases()
    (tmp / "runner.py").write_text(RUNNER)
    (tmp / "run_case.py").write_text(RUN_CASE)
    with open(tmp / "cases.pkl", "wb") as f:
        pickle.dump(the_cases, f, protocol=pickle.HIGHEST_PROTOCOL)
    r = subprocess.run([sys.executable, str(tmp / "runner.py"), str(site), str(tmp / "cases.pkl"),
                        str(tmp / "out.pkl")], capture_output=True, text=True, cwd=tmp, timeout=900)
    assert r.returncode == 0, f"debug-build runs failed:\n{r.stdout[-4000:]}\n{r.stderr[-6000:]}"
    with open(tmp / "out.pkl", "rb") as f:
        out = pickle.load(f)
    out["site"] = str(site)
    return the_cases, out


def test_the_subprocess_ran_the_debug_build(debug_runs) -> None:
    _, out = debug_runs
    assert out["debug"] is True
    assert out["core"].startswith(out["site"])
    import pcpsim._core
    assert pcpsim._core.DEBUG is False, "the suite itself should run the release build"


def test_the_debug_build_checks_invariants_in_the_loop(debug_runs) -> None:
    c = debug_runs[1]["canaries"]
    assert c["conservation"] and "pages are not conserved in a zone" in c["conservation"], c
    assert c["runqueue"] and "runqueue counts disagree" in c["runqueue"], c
    assert c["items"] and "a work item is lost" in c["items"], c
    assert c["calls"] and "a drain call neither finished" in c["calls"], c
    assert c["far"] and "the timer queue is out of order" in c["far"], c
    assert c["wheel"] and "the timer queue is out of order" in c["wheel"], c


def test_debug_runs_match_the_release_build(debug_runs) -> None:
    """Every case, run here with the release build, ends bit-identical to the
    debug build's run (which checked every invariant after every event)."""
    the_cases, out = debug_runs
    ran = 0
    for name, cfg in the_cases:
        got = out["runs"][name]
        try:
            sim = p.Simulation(cfg)
        except p.ConfigError as e:
            assert got == ("config-error", str(e)), name
            continue
        sim.run(max_events=5_000_000)
        res = sim.results()
        assert got[0] == "ok", name
        assert got[1] == res, f"{name}: results differ between the debug and the release build{STALE}"
        assert got[2].keys() == sim.arrays.keys()
        for k, v in sim.arrays.items():
            assert got[2][k].dtype == v.dtype and np.array_equal(got[2][k], v), \
                f"{name}: engine array {k!r} differs{STALE}"
        ran += 1
    assert ran >= len(STRATEGIES) + 3 + 4 + FUZZ_EXAMPLES // 2, ran   # most fuzz configs are valid
