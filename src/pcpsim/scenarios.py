"""Built-in scenarios: named Config builders that users can list and run.

Until the page allocator lands, the scenarios exercise the scheduler that the
drain strategies will run on (MODEL.md 4, 5): how long RT and fair periodic work
waits on CPUs packed with nice-0 hogs, under each kernel profile.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pcpsim.config import Config, Dist, Sched, Topology, bursty, hog, periodic


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    build: Callable[[str], Config]   # kernel -> Config
    kernels: tuple[str, ...]         # the kernels the built-in comparison runs


def phone(kernel: str) -> Config:
    """8 CPUs at HZ=250, every CPU packed with two nice-0 hogs and a bursty
    interactive task; a FIFO periodic task (1 ms / 100 us, like an audio
    thread) on CPUs 0-3 and a nice-0 periodic task (4 ms / 500 us, like a UI
    thread) on CPUs 4-7."""
    return Config(
        kernel=kernel,
        topology=Topology(nodes=1, cpus_per_node=8),
        tasks=[
            hog("all", per_cpu=2, name="hog"),
            bursty("all", Dist("exp", "300us"), Dist("exp", "3ms"), name="interactive"),
            periodic(range(0, 4), "1ms", "100us", policy="fifo", prio=50, name="rt-periodic"),
            periodic(range(4, 8), "4ms", "500us", policy="normal", name="fair-periodic"),
        ],
        sched=Sched(hz=250),
        duration="2s",
    )


def server_4096(kernel: str) -> Config:
    """4096 CPUs in 8 nodes at HZ=250: two nice-0 hogs per CPU and a FIFO
    periodic task (1 ms / 100 us) on every 16th CPU."""
    return Config(
        kernel=kernel,
        topology=Topology(nodes=8, cpus_per_node=512),
        tasks=[
            hog("all", per_cpu=2, name="hog"),
            periodic(range(0, 4096, 16), "1ms", "100us", policy="fifo", prio=50, name="rt-periodic"),
        ],
        sched=Sched(hz=250),
        duration="1s",
    )


SCENARIOS: dict[str, Scenario] = {
    s.name: s for s in (
        Scenario("phone", "8-CPU phone-like machine packed with nice-0 work, RT and fair periodic tasks",
                 phone, ("5.17", "6.6", "6.12", "6.18")),
        Scenario("server-4096", "4096 CPUs in 8 nodes, two hogs per CPU, RT periodic tasks",
                 server_4096, ("5.17", "6.6", "6.12")),
    )
}
DEFAULT = "phone"


def scenario(name: str) -> Scenario:
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    return SCENARIOS[name]
