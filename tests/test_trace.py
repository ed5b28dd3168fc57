"""The ftrace export: parsed back, every switch is consistent."""
from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest

import pcpsim as p
from pcpsim import trace
from pcpsim.scenarios import phone

LINE = re.compile(r"^\s*(?P<comm>\S+)-(?P<pid>\d+)\s+\[(?P<cpu>\d+)\] (?P<flags>\S{4})\s+"
                  r"(?P<sec>\d+)\.(?P<frac>\d{9}): (?P<event>\w+): (?P<args>.*)$")
SWITCH = re.compile(r"prev_comm=(\S+) prev_pid=(\d+) prev_prio=(-?\d+) prev_state=(\S) ==> "
                    r"next_comm=(\S+) next_pid=(\d+) next_prio=(-?\d+)")


def parse(text: str) -> list[dict[str, str]]:
    events = []
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        m = LINE.match(line)
        assert m, line
        events.append(m.groupdict())
    return events


def traced(strategy: str, capacity: int = 500_000) -> p.Simulation:
    cfg = phone(strategy)
    cfg.duration = "300ms"
    sim = p.Simulation(cfg, trace=capacity)
    sim.run()
    return sim


@pytest.mark.parametrize("strategy", ["ipi", "workqueue", "kthread", "remote"])
def test_every_switch_switches_out_the_running_task(strategy: str) -> None:
    sim = traced(strategy)
    events = parse(trace.to_ftrace(sim))
    running: dict[int, str] = {}
    last_t: dict[int, int] = {}
    switches = 0
    for e in events:
        cpu, t = int(e["cpu"]), int(e["sec"]) * 10**9 + int(e["frac"])
        assert t >= last_t.get(cpu, 0)               # per-CPU time order
        last_t[cpu] = t
        assert e["pid"] == running.get(cpu, "0")     # the line's task is the one running there
        if e["event"] == "sched_switch":
            m = SWITCH.match(e["args"])
            assert m, e["args"]
            assert m.group(2) == running.get(cpu, "0")
            running[cpu] = m.group(6)
            switches += 1
    assert switches == int(sim.arrays["cpu_stats"]["nr_switches"].sum())


def test_each_strategy_shows_its_events() -> None:
    kinds = {s: Counter(e["event"] for e in parse(trace.to_ftrace(traced(s))))
             for s in ("ipi", "workqueue", "kthread")}
    assert kinds["ipi"]["ipi_raise"] > 0 and kinds["ipi"]["ipi_entry"] == kinds["ipi"]["ipi_exit"] > 0
    assert kinds["ipi"]["mm_pcp_drain"] >= kinds["ipi"]["ipi_entry"]
    wq = kinds["workqueue"]
    assert wq["workqueue_execute_start"] > 0 and wq["workqueue_queue_work"] >= wq["workqueue_execute_start"]
    text = trace.to_ftrace(traced("workqueue"))
    assert "function drain_local_pages_wq" in text and "workqueue=mm_percpu_wq" in text
    assert re.search(r"kworker/\d+:\d+-\d+", text)
    assert re.search(r"pg_drain/\d+-\d+", trace.to_ftrace(traced("kthread")))


def test_tracing_changes_nothing_and_a_full_buffer_says_so() -> None:
    cfg = phone("workqueue")
    cfg.duration = "100ms"
    plain = p.Simulation(cfg)
    plain.run()
    small = p.Simulation(cfg, trace=100)
    small.run()
    for name in ("task_counts", "task_stats", "cpu_stats", "zones", "calls"):
        assert np.array_equal(plain.arrays[name], small.arrays[name]), name
    assert trace.dropped(small) > 0
    text = trace.to_ftrace(small)
    assert f"# truncated: the trace buffer was full; {trace.dropped(small)} records were dropped" in text
    assert len(parse(text)) == 100


def test_a_time_window() -> None:
    sim = traced("ipi")
    events = parse(trace.to_ftrace(sim, start_ns=100_000_000, end_ns=150_000_000))
    times = [int(e["sec"]) * 10**9 + int(e["frac"]) for e in events]
    assert times and min(times) >= 100_000_000 and max(times) <= 150_000_000


def test_trace_size_is_validated() -> None:
    with pytest.raises(p.ConfigError) as e:
        p.Simulation(phone("ipi"), trace=-1)
    assert e.value.field == "trace"
