"""Random configs (hypothesis): a run finishes without hanging, conserves pages
and repeats itself bit for bit. A longer run: PCPSIM_FUZZ_EXAMPLES=2000."""
from __future__ import annotations

import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pcpsim as p
from pcpsim.config import STRATEGIES

UNTIL = 150_000_000                 # 150 ms
MAX_EVENTS = 2_000_000              # far above what 150 ms of 8 CPUs needs: more means a livelock
EXAMPLES = int(os.environ.get("PCPSIM_FUZZ_EXAMPLES", "40"))

durations = st.sampled_from(["5us", "50us", "300us", "1ms", "4ms", "20ms"])
dists = st.one_of(durations, st.builds(p.Dist, st.sampled_from(["exp", "lognormal"]), durations,
                                       st.floats(0.1, 2.0)))


@st.composite
def configs(draw: st.DrawFn) -> p.Config:
    nodes = draw(st.integers(1, 2))
    per_node = draw(st.integers(1, 4))
    ncpu = nodes * per_node
    cpu = st.integers(0, ncpu - 1)
    policy = st.sampled_from(["normal", "fifo", "rr"])

    def sched_kw(pol: str) -> dict[str, int]:
        return {"nice": draw(st.integers(-20, 19))} if pol == "normal" else {"prio": draw(st.integers(1, 99))}

    tasks: list[p.Task] = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["hog", "periodic", "bursty", "allocator", "reclaimer", "extdrain"]))
        pol = draw(policy)
        where = draw(cpu)
        if kind == "hog":
            tasks.append(p.hog(where, policy=pol, **sched_kw(pol),
                               **({"nonpreempt": "20us", "nonpreempt_every": "1ms"} if draw(st.booleans()) else {})))
        elif kind == "periodic":
            tasks.append(p.periodic(where, "1ms", draw(st.sampled_from(["50us", "300us", "1ms"])),
                                    policy=pol, **sched_kw(pol)))
        elif kind == "bursty":
            tasks.append(p.bursty(where, draw(dists), draw(dists), policy=pol, **sched_kw(pol)))
        elif kind in ("allocator", "reclaimer"):
            alloc = draw(st.sampled_from([10_000, 200_000, 2_000_000]))
            free = draw(st.sampled_from([0, 5_000, 100_000, 3_000_000]))
            if free == alloc:
                free += 1
            bursts = {"run": draw(dists), "sleep": draw(dists)} if draw(st.booleans()) else {}
            tasks.append(p.allocator(where, alloc, free, reclaim=kind == "reclaimer", held=1000,
                                     policy=pol, **sched_kw(pol), **bursts))
        else:
            tasks.append(p.external_drain(where, draw(st.sampled_from(["3ms", "20ms"])),
                                          force=draw(st.booleans())))
    hotplug = [p.Hotplug(draw(st.sampled_from(["10ms", "40ms", "90ms"])), draw(cpu), draw(st.booleans()))
               for _ in range(draw(st.integers(0, 3)))]
    sources = [p.WorkSource(cpus="all", rate=draw(st.sampled_from([50, 500, 5000])), duration=draw(dists),
                            sleep_prob=draw(st.sampled_from([0.0, 0.5])), highpri=draw(st.booleans()))
               for _ in range(draw(st.integers(0, 2)))]
    return p.Config(
        kernel=draw(st.sampled_from(p.KERNELS)),
        topology=p.Topology(nodes=nodes, cpus_per_node=per_node,
                            isolated=draw(st.lists(cpu, max_size=1)), offline=draw(st.lists(cpu, max_size=1))),
        tasks=tasks,
        sched=p.Sched(hz=draw(st.sampled_from([100, 250, 1000]))),
        memory=p.Memory(node_mem=draw(st.sampled_from(["64MiB", "256MiB"])),
                        in_use=draw(st.sampled_from([0.3, 0.9, 0.99])), sample_interval="5ms"),
        reclaim=p.Reclaim(success_rate=draw(st.sampled_from([0.0, 0.5, 1.0])), kswapd=draw(st.booleans())),
        drain=p.Drain(strategy=draw(st.sampled_from(STRATEGIES)),
                      nested_drain=draw(st.sampled_from(["global", "zone"]))),
        workqueue=p.Workqueue(workers_per_pool=draw(st.integers(1, 3)), initial_workers=1,
                              rescuer=draw(st.booleans()), sources=sources),
        hotplug=hotplug,
        duration="150ms",
        seed=draw(st.integers(0, 2**32)),
    )


def _run(cfg: p.Config) -> p.Simulation:
    sim = p.Simulation(cfg)                           # a ConfigError is an allowed outcome
    sim.run(UNTIL, max_events=MAX_EVENTS)
    assert sim.now == UNTIL, f"livelock: {MAX_EVENTS} events before {UNTIL} ns (stuck at {sim.now})"
    return sim


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs())
def test_random_configs_finish_conserve_and_repeat(cfg: p.Config) -> None:
    try:
        a = _run(cfg)
    except p.ConfigError as e:
        assert e.field and str(e).startswith(e.field)
        return
    r = a.results()                                   # the autouse fixture checks conservation
    assert np.all(r.cpus["busy_ns"] + r.cpus["idle_ns"] <= r.now)
    assert np.all(r.tasks["cpu_time"] >= 0) and np.all(r.zones["free"] >= 0)
    ended = r.calls["end"] >= 0
    assert np.all(r.calls["end"][ended] >= r.calls["start"][ended])
    b = _run(cfg)
    b.results()                                       # results() brings the statistics up to now
    for name, arr in a.arrays.items():
        assert np.array_equal(arr, b.arrays[name]), name
