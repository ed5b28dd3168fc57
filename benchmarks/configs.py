"""The benchmark configs, in a module of their own (no pytest) so that a
child process can build them and measure nothing but the run."""
from __future__ import annotations

import pcpsim as p

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
