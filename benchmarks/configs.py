"""The benchmark configs, in a module of their own (no pytest) so that a
child process can build them and measure nothing but the run."""
from __future__ import annotations

import dataclasses

import pcpsim as p
from pcpsim.scenarios import server_4096

DURATION = "1s"


def engine_config(ncpu: int) -> p.Config:
    """The benchmark scenario at ``ncpu`` CPUs."""
    return p.Config(
        kernel="6.6",
        topology=p.Topology(nodes=1, cpus_per_node=ncpu),
        tasks=[p.hog("all", per_cpu=2),
               p.periodic(range(0, ncpu, 16), "1ms", "100us", policy="fifo", prio=50)],
        sched=p.Sched(hz=250),
        duration=DURATION,
        seed=0,
    )


def server_load_config(ncpu: int) -> p.Config:
    """``server-4096``'s per-CPU load (two hogs and an allocator a CPU, a FIFO
    periodic task on every 16th, a reclaimer on each node's first CPU, memory
    pressure, background work; workqueue drains) on ``ncpu`` CPUs in nodes of
    up to 512, over the same simulated CPU-seconds at every size (1200 /
    ``ncpu`` simulated seconds: about 1.5 M events)."""
    cpn = min(ncpu, 512)
    if ncpu % cpn:
        raise ValueError(f"ncpu = {ncpu}: expected a multiple of 512, or at most 512")
    cfg = server_4096("workqueue")
    hogs, alloc, rt, reclaimer = cfg.tasks
    return dataclasses.replace(
        cfg, topology=p.Topology(nodes=ncpu // cpn, cpus_per_node=cpn),
        tasks=[hogs, alloc, dataclasses.replace(rt, cpus=range(0, ncpu, 16)),
               dataclasses.replace(reclaimer, cpus=range(0, ncpu, cpn))],
        duration=f"{1200 / ncpu:.6f}s")
