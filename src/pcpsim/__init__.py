"""pcpsim: a simulator of Linux per-CPU page lists, drain_all_pages() dispatch
strategies and the per-CPU scheduler they run on."""
from pcpsim.config import (
    Config, ConfigError, Dist, Sched, Task, Topology, bursty, hog, parse_duration, periodic,
)
from pcpsim.profiles import KERNELS, KernelProfile, profile
from pcpsim.results import Histogram, Results
from pcpsim.simulation import Simulation, run

__all__ = [
    "Config", "ConfigError", "Dist", "Histogram", "KERNELS", "KernelProfile", "Results", "Sched",
    "Simulation", "Task", "Topology", "bursty", "hog", "parse_duration", "periodic", "profile", "run",
]
__version__ = "0.1.0"
