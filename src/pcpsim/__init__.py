"""pcpsim: a simulator of Linux per-CPU page lists, drain_all_pages() dispatch
strategies and the per-CPU scheduler they run on."""
from pcpsim.config import (
    Config, ConfigError, Dist, Drain, Hotplug, Memory, Reclaim, Sched, Task, Topology, WorkSource, Workqueue,
    allocator, bursty, external_drain, hog, parse_duration, periodic, reclaimer,
)
from pcpsim.profiles import KERNELS, KernelProfile, profile
from pcpsim.results import Histogram, Results
from pcpsim.simulation import Simulation, run
from pcpsim import sweep, trace

__all__ = [
    "Config", "ConfigError", "Dist", "Drain", "Hotplug", "Histogram", "KERNELS", "KernelProfile", "Memory", "Reclaim",
    "Results", "Sched", "Simulation", "Task", "Topology", "WorkSource", "Workqueue", "allocator", "bursty",
    "external_drain", "hog", "parse_duration", "periodic", "profile", "reclaimer", "run", "sweep", "trace",
]
__version__ = "0.1.0"
