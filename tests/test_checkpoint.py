"""Checkpoints across processes (issue 7): a Simulation pickled between steps
and resumed in another Python process ends bit-identical to one run straight
through: every result table, every histogram, every engine array."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import pcpsim as p
from pcpsim.results import _same
from pcpsim.scenarios import phone

#: the start of a child's program: import the build this process imported (the
#: README's sanitizer run puts its own build first and drops the editable
#: install's finder; a plain ``import pcpsim`` in the child would take the
#: regular build). Needs PCPSIM_ORIGIN in the environment (see child_env()).
SAME_BUILD = textwrap.dedent("""
    import importlib.util, os, sys
    _origin = os.environ["PCPSIM_ORIGIN"]
    _spec = importlib.util.find_spec("pcpsim")
    if _spec is None or _spec.origin != _origin:
        sys.meta_path[:] = [f for f in sys.meta_path if "pcpsim" not in repr(f).lower()]
        sys.path.insert(0, os.path.dirname(os.path.dirname(_origin)))
    import pcpsim
    assert pcpsim.__file__ == _origin, (pcpsim.__file__, _origin)
""")


def child_env(**extra: str) -> dict[str, str]:
    return dict(os.environ, PCPSIM_ORIGIN=p.__file__, **extra)


RESUME = SAME_BUILD + textwrap.dedent("""
    import pickle, sys
    src, dst, until = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(src, "rb") as f:
        sim = pickle.load(f)
    sim.run(until)
    res = sim.results()
    sim.check()
    with open(dst, "wb") as f:
        pickle.dump((res, {k: v.copy() for k, v in sim.arrays.items()}, sim.now, sim.events), f,
                    protocol=pickle.HIGHEST_PROTOCOL)
""")


def checkpoint_config(strategy: str) -> p.Config:
    """phone: drains from direct reclaim, workqueue items (some sleeping),
    CPU 7 offline at 300 ms and 1.3 s, online at 500 ms and 1.5 s."""
    cfg = phone(strategy)
    cfg.duration = "1.8s"
    cfg.workqueue.sources.append(p.WorkSource(rate=300, duration="30us", workqueue="mm_percpu_wq"))
    cfg.tasks.append(p.external_drain(3, "70ms", force=True, name="offline-drain"))
    return cfg


def resume_elsewhere(sim: p.Simulation, until: int, tmp_path: Path):
    src, dst = tmp_path / "sim.pkl", tmp_path / "out.pkl"
    with open(src, "wb") as f:
        pickle.dump(sim, f, protocol=pickle.HIGHEST_PROTOCOL)
    (tmp_path / "resume.py").write_text(RESUME)
    env = child_env(PYTHONHASHSEED="12345")              # another hash seed: nothing may depend on it
    r = subprocess.run([sys.executable, str(tmp_path / "resume.py"), str(src), str(dst), str(until)],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-4000:]
    with open(dst, "rb") as f:
        return pickle.load(f)


@pytest.mark.parametrize("strategy", ["workqueue", "kthread_rfc_v1", "remote"])
def test_pickled_and_resumed_in_another_process_is_bit_identical(strategy: str, tmp_path: Path) -> None:
    cfg = checkpoint_config(strategy)
    straight = p.Simulation(cfg)
    straight.run()
    expected = straight.results()

    stepped = p.Simulation(cfg)
    stepped.run("1.35s")                    # CPU 7 is offline, its online event pending
    for _ in range(17):                     # and stop at an event, not a round time
        stepped.step()
    assert stepped.arrays["cpus"]["online"][7] == 0
    assert len(stepped.results().calls["start"]) > 0, "the checkpoint should hold drain calls"
    res, arrays, now, events = resume_elsewhere(stepped, straight.duration_ns, tmp_path)

    assert now == straight.now and events == straight.events
    assert res == expected                  # Results.__eq__: every table and histogram, bit for bit (_same)
    for name in ("tasks", "cpus", "zones", "pools", "calls", "targets", "memory"):
        assert _same(getattr(res, name), getattr(expected, name)), name
    for name in ("wakeup_latency", "response_time", "alloc_stall"):
        assert getattr(res, name) == getattr(expected, name), name
    assert res.drain_latency == expected.drain_latency and res.dispatch_delay == expected.dispatch_delay
    assert expected.drain_latency.count > 0 and len(expected.calls["start"]) > 0
    assert arrays.keys() == straight.arrays.keys()
    for name, arr in straight.arrays.items():
        assert arr.dtype == arrays[name].dtype and np.array_equal(arr, arrays[name]), name


def test_a_checkpoint_resumes_twice_the_same(tmp_path: Path) -> None:
    """The pickle is a snapshot: resuming it does not change it."""
    sim = p.Simulation(checkpoint_config("kthread"))
    sim.run("400ms")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = resume_elsewhere(sim, 900_000_000, tmp_path / "a")
    b = resume_elsewhere(sim, 900_000_000, tmp_path / "b")
    assert a[0] == b[0] and a[2:] == b[2:]
    sim.run("900ms")                        # and the parent's own copy goes on to the same state
    assert sim.results() == a[0]
