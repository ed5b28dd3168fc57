"""Built-in scenarios: named Config builders that users can list and run.

Each builds the same machine and workload for every drain strategy, so that a
run per strategy answers the project's question (MODEL.md 0): how long does
the caller of drain_all_pages() wait, and whom does the drain disturb?
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pcpsim.config import (
    Config, Dist, Drain, Hotplug, Memory, Reclaim, Sched, Topology, WorkSource, Workqueue, allocator,
    bursty, hog, periodic, reclaimer,
)
from pcpsim.config import STRATEGIES


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    build: Callable[[str], Config]        # strategy -> Config
    strategies: tuple[str, ...] = STRATEGIES


def phone(strategy: str) -> Config:
    """The seed's story: an 8-CPU phone-like machine (HZ=250, kernel 5.17
    otherwise) with every CPU packed with nice-0 work (two hogs, an interactive
    bursty task, a page allocator), background system_wq items on the per-CPU
    pools (lognormal lengths, some sleeping), FIFO periodic tasks (1 ms / 100 us)
    on CPUs 2 and 5, memory pressure (the zone hovers at its min watermark), a
    nice -10 foreground reclaimer on CPU 0 and a nice-0 one on CPU 4 that enter
    direct reclaim, and CPU 7 going offline and online again every second."""
    return Config(
        kernel="5.17",
        topology=Topology(nodes=1, cpus_per_node=8),
        tasks=[
            hog("all", per_cpu=2, name="hog"),
            bursty("all", Dist("exp", "300us"), Dist("exp", "3ms"), name="interactive"),
            allocator("all", 60_000, 40_000, held=2000, name="alloc"),
            periodic([2, 5], "1ms", "100us", policy="fifo", prio=50, name="rt-periodic"),
            reclaimer(0, 400_000, 200_000, nice=-10, run=Dist("exp", "2ms"), sleep=Dist("exp", "8ms"),
                      name="reclaimer"),
            reclaimer(4, 200_000, 100_000, run=Dist("exp", "2ms"), sleep=Dist("exp", "8ms"),
                      name="bg-reclaimer"),
        ],
        sched=Sched(hz=250),
        memory=Memory(node_mem="2GiB", in_use=0.985),
        reclaim=Reclaim(kswapd_rate=100_000, success_rate=0.7),
        drain=Drain(strategy=strategy, worker_create="1ms"),
        workqueue=Workqueue(sources=[WorkSource(rate=50, duration=Dist("lognormal", "1ms", 1.5), sleep_prob=0.2)]),
        hotplug=[Hotplug(f"{1000 * k + t}ms", 7, online) for k in range(10)
                 for t, online in ((300, False), (500, True))],
        duration="10s",
        seed=1,
    )


def server_4096(strategy: str) -> Config:
    """4096 CPUs in 8 NUMA nodes (64 GiB each, HZ=250, kernel 6.6 otherwise):
    two nice-0 hogs and an allocator per CPU, a FIFO periodic task on every
    16th CPU, background work, memory pressure, and a reclaimer on the first
    CPU of every node."""
    return Config(
        kernel="6.6",
        topology=Topology(nodes=8, cpus_per_node=512),
        tasks=[
            hog("all", per_cpu=2, name="hog"),
            allocator("all", 20_000, 15_000, held=500, name="alloc"),
            periodic(range(0, 4096, 16), "1ms", "100us", policy="fifo", prio=50, name="rt-periodic"),
            reclaimer(range(0, 4096, 512), 400_000, 200_000, nice=-10, run=Dist("exp", "2ms"),
                      sleep=Dist("exp", "20ms"), name="reclaimer"),
        ],
        sched=Sched(hz=250),
        memory=Memory(node_mem="64GiB", in_use=0.96),
        reclaim=Reclaim(kswapd_rate=1_000_000, success_rate=0.7),
        drain=Drain(strategy=strategy),
        workqueue=Workqueue(sources=[WorkSource(rate=20, duration=Dist("lognormal", "500us", 1.0))]),
        duration="1s",
        seed=1,
    )


SCENARIOS: dict[str, Scenario] = {
    s.name: s for s in (
        Scenario("phone", "8-CPU phone packed with nice-0 work, memory pressure, a nice -10 reclaimer", phone),
        Scenario("server-4096", "4096 CPUs in 8 nodes, two hogs and an allocator per CPU, reclaimers",
                 server_4096),
    )
}
DEFAULT = "phone"


def scenario(name: str) -> Scenario:
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    return SCENARIOS[name]
