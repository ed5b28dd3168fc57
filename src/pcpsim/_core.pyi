"""Type stub of the native engine (src/pcpsim/_core.pyx)."""
from typing import Any

import numpy as np

# numpy dtypes of the engine's C structs (derived from _state.pxd)
TASK_DTYPE: np.dtype[np.void]
TASK_COUNTS_DTYPE: np.dtype[np.void]
TASK_STATS_DTYPE: np.dtype[np.void]
CPU_DTYPE: np.dtype[np.void]
CPU_STATS_DTYPE: np.dtype[np.void]
HEAP_DTYPE: np.dtype[np.void]
WHEEL_DTYPE: np.dtype[np.void]
TIMER_WHEEL_SIZE: int
TIMER_BUCKET_NS: int
TIMER_IN_CURRENT: int
TIMER_IN_WHEEL: int
TIMER_IN_FAR: int
TIMER_MAX_SLOTS: int
TIMER_SEQ_LIMIT: int
HIST_STATS_DTYPE: np.dtype[np.void]
PARAMS_DTYPE: np.dtype[np.void]
ZONE_DTYPE: np.dtype[np.void]
POOL_DTYPE: np.dtype[np.void]
ITEM_DTYPE: np.dtype[np.void]
SOURCE_DTYPE: np.dtype[np.void]
CALL_DTYPE: np.dtype[np.void]
TARGET_DTYPE: np.dtype[np.void]
DRAIN_DTYPE: np.dtype[np.void]
COUNTERS_DTYPE: np.dtype[np.void]
TRACE_DTYPE: np.dtype[np.void]

HIST_NBUCKETS: int
DEBUG: bool
NO_TIME_NS: int
SLOTS: int
POOLS: int
STRATEGIES: dict[str, int]
KINDS: dict[str, int]
TASK_FLAGS: dict[str, int]
TRACE_TYPES: dict[str, int]
ITEM_KINDS: dict[str, int]
ERRORS: dict[int, str]
ARRAY_SPECS: dict[str, tuple[np.dtype[Any], str | None]]
CACHE_LINE: int
HUGE_PAGE: int
HOT_ARRAYS: tuple[str, ...]

def hist_bucket_bounds() -> np.ndarray: ...
def _line_up(n: int) -> int: ...
def pack_hot(arrays: dict[str, np.ndarray]) -> None: ...

class Engine:
    arrays: dict[str, np.ndarray]
    started: bool
    def __init__(self, arrays: dict[str, np.ndarray], bitgen: Any, started: bool = ...) -> None: ...
    def start(self) -> None: ...
    def run(self, until: int, max_events: int = ...) -> int: ...
    def step(self) -> int: ...
    def peek(self) -> int: ...
    def check_bookkeeping(self) -> str | None: ...
    def flush(self) -> None: ...
    @property
    def now(self) -> int: ...
    @property
    def events(self) -> int: ...
    def __reduce__(self) -> tuple[Any, ...]: ...
