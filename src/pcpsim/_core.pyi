"""Type stub of the native engine (src/pcpsim/_core.pyx)."""
from typing import Any

import numpy as np

TASK_DTYPE: np.dtype[np.void]
TASK_STATS_DTYPE: np.dtype[np.void]
CPU_DTYPE: np.dtype[np.void]
CPU_STATS_DTYPE: np.dtype[np.void]
HEAP_DTYPE: np.dtype[np.void]
HIST_STATS_DTYPE: np.dtype[np.void]
HIST_NBUCKETS: int
DEBUG: bool
NO_TIME_NS: int
PARAM_FIELDS: tuple[str, ...]
ERRORS: dict[int, str]

def hist_bucket_bounds() -> np.ndarray: ...

class Engine:
    arrays: dict[str, np.ndarray]
    params: dict[str, int]
    started: bool
    def __init__(self, arrays: dict[str, np.ndarray], params: dict[str, int], bitgen: Any,
                 started: bool = ..., now: int = ..., seq: int = ..., events: int = ...) -> None: ...
    def start(self) -> None: ...
    def run(self, until: int, max_events: int = ...) -> int: ...
    def step(self) -> int: ...
    def peek(self) -> int: ...
    def flush(self) -> None: ...
    @property
    def now(self) -> int: ...
    @property
    def events(self) -> int: ...
    def __reduce__(self) -> tuple[Any, ...]: ...
