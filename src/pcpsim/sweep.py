"""Parameter sweeps: one base config, a grid of changes, many seeds, any executor.

```python
import pcpsim.sweep
from pcpsim.scenarios import phone

report = pcpsim.sweep(phone("workqueue"),                    # the module is callable: pcpsim.sweep.sweep
                      {"topology.cpus_per_node": [8, 16, 32],
                       "drain.strategy": ["ipi", "workqueue", "remote"]},
                      seeds=3, out="runs/scaling")
df = pcpsim.sweep.load("runs/scaling")                      # one row per point (pandas)
pcpsim.sweep.plot(df, "drain_latency_ns.p99", "topology.cpus_per_node").savefig("scaling.png")
```

**Grid.** Keys are config paths: dotted fields with list indexes
(``"kernel"``, ``"duration"``, ``"topology.cpus_per_node"``,
``"drain.strategy"``, ``"tasks[0].nice"``, ``"workqueue.sources[0].rate"``),
values are what the TOML form of the config would hold there (``"2GiB"``,
``{ range = [0, 64, 16] }``, a table for a :class:`~pcpsim.Dist` or a whole
sub-config). A mapping of path -> list of values is a cartesian product; a key
naming several comma-separated paths varies them together (``"topology.
cpus_per_node,memory.node_mem": [[8, "2GiB"], [64, "16GiB"]]``); a list of
mappings (path -> value) is an explicit list of points. :func:`expand` gives
the points of a grid. ``seed`` cannot be in a grid: ``seeds`` says how many
replicates each point gets (or lists the config seeds to use).

**Seeds.** Replicate ``r`` of a point runs with the config seed
``SeedSequence(sweep_seed, spawn_key=(*hash(point), r))`` (``hash``: the
SHA-256 of the point's canonical JSON), so a point's result depends only on the
base config, the point and the sweep seed, never on which worker ran it, when,
or what else the sweep holds.

**Output** (``out``)::

    sweep.json            the manifest: base config (TOML), sweep seed, every point
                          (id, params, replicate, seed); rewritten at each start
    points/<id>.json      one per finished point: params, replicate, seed, status
                          ("done" or "failed"), error and traceback, wall time
                          (crashed: true after worker deaths), and
                          Results.summary() less the config (NaN as null)
    points/<id>.npz       with save_results=True: the full Results (Results.load)

Every file is written to a temporary name and moved into place
(``os.replace``), by the process driving the sweep (workers need no shared
disk), as each point finishes. Started again with the same arguments, a sweep
skips the points that have a file and runs the rest: ``retry_failed=True``
also reruns the failed ones, and points failed by worker deaths are always
rerun; temporary files a killed run left are removed. A folder belongs to one
base config and sweep seed; the grid may change between runs (new points are
added, points already run are reused).

**Failures.** A point whose config is refused, or whose run raises, is
recorded as failed with its error and traceback; the others go on. A worker
process that dies (``BrokenProcessPool``) takes the points in flight with it:
the pool is recreated and those points are run again one at a time, so the
one that kills its worker is found; it is recorded as failed after
``max_crashes`` deaths. Dask retries a task whose worker died by itself and
then raises ``KilledWorker``, which is recorded as that point's failure.

**Executors.** ``executor=None``: a process pool of ``workers`` processes
(default: every core; ``spawn`` start method, so a script that calls
:func:`sweep` needs ``if __name__ == "__main__":`` and cannot be read from
stdin); ``"sequential"``: in this process, one point after another; any
:class:`concurrent.futures.Executor` (left running); a
``dask.distributed.Client`` (its ``get_executor()``; ``pip install
"pcpsim[dask]"``).

**The TOML form** (``pcpsim sweep SWEEP.toml``; paths relative to the file)::

    [base]
    scenario = "phone"            # a built-in scenario (pcpsim scenarios) ...
    strategy = "workqueue"        # ... built for this drain strategy (default: its first)
    # config = "experiment.toml"  # ... or a config file instead of a scenario

    [base.set]                    # changes to the base before the grid (same paths)
    duration = "500ms"
    "tasks[3].cpus" = "all"

    [sweep]
    seeds = 3                     # replicates per point, or a list of config seeds
    seed = 0                      # the sweep seed (default: the base config's seed)
    out = "runs/scaling"          # default: the TOML file's name without .toml
    save_results = false
    retry_failed = false
    max_crashes = 2

    [grid]                        # cartesian product ...
    "topology.cpus_per_node" = [8, 16, 32]
    "drain.strategy" = ["ipi", "workqueue", "remote"]

    [[points]]                    # ... and/or explicit points (crossed with [grid])
    kernel = "5.17"
    [[points]]
    kernel = "6.6"
"""
from __future__ import annotations

import concurrent.futures as cf
import copy
import dataclasses
import functools
import hashlib
import itertools
import json
import math
import multiprocessing
import os
import re
import sys
import tempfile
import time
import traceback
import types
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from pcpsim.config import Config, ConfigError
from pcpsim.results import Results, _require
from pcpsim.simulation import run as run_config
from pcpsim.tomlconfig import _build, _field, tomllib

if TYPE_CHECKING:                                   # pragma: no cover
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["sweep", "expand", "apply", "point_seed", "load", "plot", "load_toml", "SweepReport",
           "SequentialExecutor"]

FORMAT_VERSION = 1
MANIFEST = "sweep.json"
#: points failed by worker deaths in a row (none done in between) that stop the sweep
_DEAD_STREAK = 3
POINTS = "points"

Grid = Union[Mapping[Any, Sequence[Any]], Sequence[Mapping[str, Any]]]
#: progress callback: (points done, points failed, points in the sweep)
ProgressCallback = Callable[[int, int, int], None]
#: what runs one config (a top-level function, so that it pickles to workers)
Runner = Callable[[Config], Results]

_PATH = re.compile(r"^[A-Za-z_]\w*(\[\d+\])*(\.[A-Za-z_]\w*(\[\d+\])*)*$")
_TOKEN = re.compile(r"([A-Za-z_]\w*)|\[(\d+)\]")


# -- points: paths, values, canonical form, seeds --------------------------------------
def _parse_path(path: str) -> list[str | int]:
    """``"tasks[0].nice"`` -> ``["tasks", 0, "nice"]``; ConfigError when malformed."""
    if not isinstance(path, str) or not _PATH.fullmatch(path):
        raise ConfigError(str(path), None, "a config path such as 'kernel', 'topology.cpus_per_node' or "
                                           "'tasks[0].nice'")
    return [m.group(1) if m.group(1) else int(m.group(2)) for m in _TOKEN.finditer(path)]


def _canonical(value: Any) -> Any:
    """``value`` as plain JSON data, in the form the config's TOML would hold it:
    tuples become lists, a ``range`` ``{"range": [start, stop, step]}``, a
    dataclass (a Dist, a Task...) the table of its fields, numpy scalars Python
    numbers."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, range):
        return {"range": [value.start, value.stop, value.step]}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _canonical(getattr(value, f.name)) for f in dataclasses.fields(value)
                if getattr(value, f.name) is not None}
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_canonical(v) for v in value]
    raise ConfigError("grid", value, "a value a config TOML can hold: number, string, bool, list, table, range")


def _json(value: Any) -> str:
    """Canonical JSON: sorted keys, no spaces (the input of every hash here)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _digest(value: Any) -> bytes:
    return hashlib.sha256(_json(value).encode()).digest()


def expand(grid: Grid) -> list[dict[str, Any]]:
    """The points of ``grid`` (see the module doc), each a dict path -> canonical
    value, in grid order (the last key varies fastest)."""
    if isinstance(grid, Mapping):
        axes: list[tuple[tuple[str, ...], list[Any]]] = []
        for key, values in grid.items():
            paths = tuple(p.strip() for p in (key.split(",") if isinstance(key, str) else key))
            if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, (Sequence, np.ndarray)):
                raise ConfigError(f"grid[{key!r}]", values, "a list of values")
            if len(paths) > 1 and any(not isinstance(v, (Sequence, np.ndarray)) or isinstance(v, str)
                                      or len(v) != len(paths) for v in values):
                raise ConfigError(f"grid[{key!r}]", values, f"a list of [{', '.join(paths)}] value lists")
            axes.append((paths, list(values)))
        points = []
        for combo in itertools.product(*(values for _, values in axes)):
            point: dict[str, Any] = {}
            for (paths, _), value in zip(axes, combo):
                point.update(zip(paths, value) if len(paths) > 1 else [(paths[0], value)])
            points.append(point)
    elif isinstance(grid, Sequence) and not isinstance(grid, str) and all(isinstance(p, Mapping) for p in grid):
        points = [dict(p) for p in grid]
    else:
        raise ConfigError("grid", grid, "a mapping of config path -> list of values, or a list of points "
                                        "(mappings of config path -> value)")
    out = []
    for point in points:
        for path in point:
            _parse_path(path)
            if path == "seed":
                raise ConfigError("grid", path, "config paths other than 'seed' (use seeds=)")
        out.append({path: _canonical(v) for path, v in point.items()})
    return out


def _resolve(cfg: Config, path: str) -> tuple[Any, str | int, dataclasses.Field | None]:
    """The object holding ``path`` in ``cfg``, the last key, and its dataclass
    field (None for a list item). Unknown keys and indexes raise ConfigError."""
    tokens = _parse_path(path)
    obj: Any = cfg
    for i, tok in enumerate(tokens):
        at = path if i == len(tokens) - 1 else None
        if isinstance(tok, int):
            if not isinstance(obj, list) or not 0 <= tok < len(obj):
                n = len(obj) if isinstance(obj, list) else 0
                raise ConfigError(path, tok, f"an index of a list of {n} item(s)" if n else "a path into a list")
            if at is not None:
                return obj, tok, None
            obj = obj[tok]
        else:
            fields = {f.name: f for f in dataclasses.fields(obj)} if dataclasses.is_dataclass(obj) else {}
            if tok not in fields:
                raise ConfigError(path, tok, f"a key of {type(obj).__name__}: one of " + ", ".join(fields)
                                  if fields else "a path into a config table")
            if at is not None:
                return obj, tok, fields[tok]
            obj = getattr(obj, tok)
    raise AssertionError("unreachable")


def apply(base: Config, params: Mapping[str, Any]) -> Config:
    """A deep copy of ``base`` with each path of ``params`` set to its value
    (converted as the config's TOML reader would: ``{range = [...]}``, tables
    for a Dist or a sub-config). Not validated; unknown paths and values of the
    wrong shape raise :class:`ConfigError`."""
    cfg = copy.deepcopy(base)
    for path, value in params.items():
        obj, key, f = _resolve(cfg, path)
        value = _canonical(value)
        if f is not None:
            setattr(obj, key, _field(f, value, path))
        elif dataclasses.is_dataclass(obj[key]) and isinstance(value, dict):
            obj[key] = _build(type(obj[key]), value, path)
        else:
            obj[key] = value
    return cfg


def point_seed(sweep_seed: int, params: Mapping[str, Any], replicate: int) -> int:
    """The config seed of replicate ``replicate`` of the point ``params``: from
    ``SeedSequence(sweep_seed, spawn_key=(*sha256(point) as 32-bit words, replicate))``,
    in 0..2**63-1."""
    words = np.frombuffer(_digest({p: _canonical(v) for p, v in params.items()})[:16], dtype="<u4")
    ss = np.random.SeedSequence(sweep_seed, spawn_key=(*(int(w) for w in words), replicate))
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


# -- one point: what a worker runs -------------------------------------------------------
@dataclass(frozen=True)
class _Task:
    """One point to run (pickled to a worker)."""

    id: str
    params: dict[str, Any]
    replicate: int
    seed: int
    base_toml: str
    save_results: bool
    runner: Runner | None


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as None (standard JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


@functools.lru_cache(maxsize=4)
def _base_config(base_toml: str) -> Config:
    """The sweep's base config, parsed once per process (a worker runs many
    points of one sweep; the parse costs a phone point a tenth of its time).
    Shared: ``apply()`` copies it before setting anything."""
    return Config.from_toml(base_toml, validate=False)


def run_point(task: _Task) -> dict[str, Any]:
    """Run one point and return its record (never raises for a bad config or a
    failed run: the record says ``failed``, with the error and traceback). With
    ``save_results`` the record carries the Results ``.npz`` bytes (``npz``)."""
    t0 = time.perf_counter()
    record: dict[str, Any] = {"id": task.id, "params": task.params, "replicate": task.replicate,
                              "seed": task.seed, "status": "done", "error": None, "traceback": None}
    try:
        cfg = apply(_base_config(task.base_toml), task.params)
        cfg.seed = task.seed
        cfg.validate()
        results = (task.runner or run_config)(cfg)
        summary = results.summary(with_config=False)
        del summary["config"], summary["seed"]
        record["summary"] = _finite(summary)
        if task.save_results:
            with tempfile.TemporaryDirectory() as tmp:
                results.save(Path(tmp) / "r.npz")
                record["npz"] = (Path(tmp) / "r.npz").read_bytes()
    except Exception as e:  # noqa: BLE001 - a point's failure is data, not the sweep's end
        record.update(status="failed", error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
    record["wall_s"] = time.perf_counter() - t0
    return record


# -- executors -------------------------------------------------------------------------
class SequentialExecutor(cf.Executor):
    """Runs each submitted call at once, in the calling thread (``executor="sequential"``)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        future: cf.Future[Any] = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as e:  # noqa: BLE001 - delivered through the future
            future.set_exception(e)
        return future


def _dask_executor(client: Any) -> tuple[cf.Executor, int]:
    """A Dask ``Client``'s executor and its number of worker threads."""
    nthreads = sum(client.nthreads().values()) or 1
    return client.get_executor(pure=False), nthreads


def _is_dask_client(obj: object) -> bool:
    return type(obj).__module__.split(".")[0] == "distributed" and hasattr(obj, "get_executor")


class _Pool:
    """The executor a sweep uses; owns (and recreates after a crash) the process
    pool it made itself."""

    def __init__(self, executor: cf.Executor | str | Any | None, workers: int | None) -> None:
        self.own = executor is None
        if executor is None:
            self.workers = workers or os.cpu_count() or 1
            self.executor: cf.Executor = self._new_pool()
        elif executor == "sequential":
            self.workers, self.executor = 1, SequentialExecutor()
        elif _is_dask_client(executor):
            self.executor, self.workers = _dask_executor(executor)
        elif isinstance(executor, cf.Executor):
            self.executor = executor
            self.workers = int(getattr(executor, "_max_workers", 0) or workers or os.cpu_count() or 1)
        else:
            raise TypeError(f"executor = {executor!r}: expected None, 'sequential', a concurrent.futures.Executor "
                            "or a dask.distributed.Client")

    def _new_pool(self) -> cf.Executor:
        return cf.ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))

    def renew(self) -> None:
        """A fresh process pool after a worker died; only for a pool of our own."""
        if not self.own:
            raise RuntimeError("a worker of the executor passed to sweep() died and the executor is broken; "
                               "run the sweep again (finished points are kept) or let sweep() own its pool")
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.executor = self._new_pool()

    def close(self, cancel: bool = False) -> None:
        if self.own:
            self.executor.shutdown(wait=not cancel, cancel_futures=cancel)


# -- files -------------------------------------------------------------------------------
def _write_atomic(path: Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and
    ``os.replace``: a reader (or a restart) sees the old file or the new one."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None                                         # missing, or not ours: run the point again


def _save_record(points_dir: Path, record: dict[str, Any]) -> None:
    npz = record.pop("npz", None)
    if npz is not None:
        _write_atomic(points_dir / f"{record['id']}.npz", npz)
    _write_atomic(points_dir / f"{record['id']}.json", json.dumps(record, indent=1, allow_nan=False))


# -- progress ----------------------------------------------------------------------------
class _Progress:
    """Counts finished points; draws a bar on a terminal and/or calls back."""

    def __init__(self, total: int, done: int, failed: int, progress: bool | ProgressCallback | None) -> None:
        self.total, self.done, self.failed = total, done, failed
        self.start_done = done + failed
        self.t0 = time.monotonic()
        self.callback = progress if callable(progress) else None
        self.bar = sys.stderr.isatty() if progress is None else progress is True
        self.update()

    def add(self, status: str) -> None:
        if status == "done":
            self.done += 1
        else:
            self.failed += 1
        self.update()

    def update(self) -> None:
        if self.callback is not None:
            self.callback(self.done, self.failed, self.total)
        if self.bar:
            finished = self.done + self.failed
            elapsed = time.monotonic() - self.t0
            rate = (finished - self.start_done) / elapsed if elapsed > 0 else 0.0
            left = (self.total - finished) / rate if rate > 0 else float("nan")
            width = 30
            filled = int(width * finished / self.total) if self.total else width
            eta = time.strftime("%H:%M:%S", time.gmtime(left)) if math.isfinite(left) else "--:--:--"
            print(f"\r[{'#' * filled}{'.' * (width - filled)}] {finished}/{self.total} "
                  f"({self.failed} failed) {rate:.2f} points/s, {eta} left ", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar:
            print(file=sys.stderr, flush=True)


# -- the sweep -----------------------------------------------------------------------------
@dataclass
class SweepReport:
    """What :func:`sweep` did: ``total`` points, of which ``done`` and ``failed``
    (in all runs of the sweep); ``ran`` the points run this time, ``skipped``
    the ones found finished; ``failures`` id -> error of the failed points."""

    out: Path
    total: int
    done: int
    failed: int
    ran: int
    skipped: int
    wall_s: float
    failures: dict[str, str] = field(default_factory=dict)

    def load(self) -> pd.DataFrame:
        """The sweep's table (:func:`load`)."""
        return load(self.out)


def _seed_list(seeds: int | Sequence[int]) -> list[tuple[int, int | None]]:
    """(replicate, explicit seed or None) pairs."""
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ConfigError("seeds", seeds, "a number of seeds >= 1 or a list of config seeds")
        return [(r, None) for r in range(int(seeds))]
    if isinstance(seeds, Sequence) and seeds and all(isinstance(s, (int, np.integer)) and not isinstance(s, bool)
                                                     and 0 <= s < 2**63 for s in seeds):
        return [(r, int(s)) for r, s in enumerate(seeds)]
    raise ConfigError("seeds", seeds, "a number of seeds >= 1 or a non-empty list of config seeds in 0..2**63-1")


def sweep(base_config: Config, grid: Grid, *, seeds: int | Sequence[int] = 1, out: str | os.PathLike[str],
          seed: int | None = None, executor: cf.Executor | str | Any | None = None, workers: int | None = None,
          save_results: bool = False, retry_failed: bool = False, max_crashes: int = 2,
          progress: bool | ProgressCallback | None = None, max_pending: int | None = None,
          runner: Runner | None = None) -> SweepReport:
    """Run ``base_config`` changed by every point of ``grid`` (see the module
    doc), ``seeds`` times each, on ``executor``, streaming each point's record
    to ``out`` as it finishes; points already there are skipped.

    - ``seeds``: replicates per point (their seeds derived from ``seed``, the
      sweep seed, default ``base_config.seed``, and the point), or a list of
      config seeds to use as they are.
    - ``executor``: None (a process pool of ``workers``, default all cores),
      ``"sequential"``, a ``concurrent.futures.Executor`` or a
      ``dask.distributed.Client``.
    - ``save_results``: also store each point's full Results (``<id>.npz``).
    - ``retry_failed``: run again the points a previous run recorded as failed
      (those failed by a worker's death always are).
    - ``max_crashes``: a point whose worker process dies this many times
      (alone in the pool) is recorded as failed.
    - ``progress``: None (a bar when stderr is a terminal), True/False, or a
      callable ``(done, failed, total)`` called as points finish.
    - ``max_pending``: points submitted ahead (default 4 per worker).
    - ``runner``: what runs a config (default :func:`pcpsim.run`); a
      top-level function, so that it pickles to the workers.

    Grid paths that do not exist in the base config raise :class:`ConfigError`
    before anything runs; values the config refuses fail their point only.
    """
    t0 = time.monotonic()
    if isinstance(max_crashes, bool) or not isinstance(max_crashes, int) or max_crashes < 1:
        raise ValueError(f"max_crashes = {max_crashes!r}: expected an integer >= 1")
    base_toml = base_config.to_toml()
    sweep_seed = base_config.seed if seed is None else seed
    if isinstance(sweep_seed, bool) or not isinstance(sweep_seed, (int, np.integer)) or sweep_seed < 0:
        raise ConfigError("seed", sweep_seed, "a sweep seed: an integer >= 0")
    points = expand(grid)
    for path in {p for point in points for p in point}:
        _resolve(base_config, path)                        # a typo in a path fails the sweep, not each point
    tasks = []
    for params in points:
        for replicate, explicit in _seed_list(seeds):
            s = point_seed(int(sweep_seed), params, replicate) if explicit is None else explicit
            pid = hashlib.sha256(_json({"params": params, "seed": s}).encode()).hexdigest()[:20]
            tasks.append(_Task(pid, params, replicate, s, base_toml, save_results, runner))
    unique = {t.id: t for t in tasks}                      # the same point twice runs once
    out_dir = Path(out)
    points_dir = out_dir / POINTS
    points_dir.mkdir(parents=True, exist_ok=True)
    for stale in [*out_dir.glob(".*.tmp"), *points_dir.glob(".*.tmp")]:
        stale.unlink(missing_ok=True)                      # half-written when a previous run was killed
    manifest = {"format": FORMAT_VERSION, "base_sha256": hashlib.sha256(base_toml.encode()).hexdigest(),
                "sweep_seed": int(sweep_seed), "base": base_toml,
                "points": [{"id": t.id, "params": t.params, "replicate": t.replicate, "seed": t.seed}
                           for t in unique.values()]}
    old = _read_json(out_dir / MANIFEST)
    if old is not None and (old.get("base_sha256"), old.get("sweep_seed")) != (manifest["base_sha256"],
                                                                               manifest["sweep_seed"]):
        raise ValueError(f"{out_dir} holds a sweep of another base config or sweep seed; use another out folder")
    _write_atomic(out_dir / MANIFEST, json.dumps(manifest, indent=1))

    todo: deque[_Task] = deque()
    done = failed = 0
    for t in unique.values():
        rec = _read_json(points_dir / f"{t.id}.json") or {}
        if rec.get("status") == "done":
            done += 1
        elif rec.get("status") == "failed" and not retry_failed and not rec.get("crashed"):
            failed += 1
        else:
            todo.append(t)
    skipped = done + failed
    bar = _Progress(len(unique), done, failed, progress)
    pool = _Pool(executor, workers)
    window = max_pending or 4 * pool.workers
    suspects: deque[_Task] = deque()                       # in flight when a worker died: rerun one by one
    crashes: dict[str, int] = {}
    failures: dict[str, str] = {}
    in_flight: dict[cf.Future[dict[str, Any]], _Task] = {}
    dead_streak = 0                                        # points failed by worker deaths, none done since

    def finish(record: dict[str, Any]) -> None:
        _save_record(points_dir, record)
        if record["status"] != "done":
            failures[record["id"]] = record["error"]
        bar.add(record["status"])

    def failed_record(t: _Task, error: str, tb: str | None) -> dict[str, Any]:
        return {"id": t.id, "params": t.params, "replicate": t.replicate, "seed": t.seed, "status": "failed",
                "error": error, "traceback": tb, "wall_s": None}

    try:
        while todo or suspects or in_flight:
            if suspects:                                   # isolate: one point at a time
                if not in_flight:
                    t = suspects.popleft()
                    in_flight[pool.executor.submit(run_point, t)] = t
            else:
                while todo and len(in_flight) < window:
                    t = todo.popleft()
                    in_flight[pool.executor.submit(run_point, t)] = t
            alone = len(in_flight) == 1
            finished, _ = cf.wait(in_flight, return_when=cf.FIRST_COMPLETED)
            broken: list[_Task] = []
            for fut in finished:
                t = in_flight.pop(fut)
                try:
                    finish(fut.result())
                except BrokenProcessPool:
                    broken.append(t)
                except Exception as e:  # noqa: BLE001 - e.g. dask's KilledWorker: this point's failure
                    finish(failed_record(t, f"{type(e).__name__}: {e}", traceback.format_exc()))
            if broken:
                # a worker died: every point in flight is lost with the pool
                broken += in_flight.values()
                in_flight.clear()
                pool.renew()
                if alone and len(broken) == 1:
                    t = broken[0]
                    crashes[t.id] = crashes.get(t.id, 0) + 1
                    if crashes[t.id] < max_crashes:
                        suspects.append(t)
                        continue
                    dead_streak += 1
                    if dead_streak >= _DEAD_STREAK:
                        raise RuntimeError(
                            f"the worker processes died on {dead_streak} points in a row: is the environment "
                            "broken? (the spawn start method cannot run workers for a script read from stdin; "
                            "a worker may run out of memory)")
                    finish({**failed_record(t, f"WorkerDied: the worker process died {crashes[t.id]} "
                                               "time(s) running this point", None), "crashed": True})
                else:
                    suspects.extend(broken)
            elif finished:
                dead_streak = 0
    except BaseException:
        pool.close(cancel=True)
        bar.close()
        raise
    pool.close()
    bar.close()
    return SweepReport(out_dir, len(unique), bar.done, bar.failed, bar.done + bar.failed - skipped, skipped,
                       time.monotonic() - t0, failures)


# -- reading back ------------------------------------------------------------------------
def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, Mapping):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def load(out: str | os.PathLike[str], *, pending: bool = False) -> pd.DataFrame:
    """The sweep in ``out`` as a ``pandas.DataFrame``, one row per finished point:
    ``id``, its parameters (one column per grid path), ``replicate``, ``seed``,
    ``status`` (``done``/``failed``), ``error``, ``wall_s``, and the summary's
    figures flattened (``drain_latency_ns.p99``, ``drain_calls``,
    ``dropped.calls``...; NaN for a failed point). ``pending``: also the
    manifest's points not run yet (status ``pending``). Needs pandas."""
    pd = _require("pandas", "pandas")
    out_dir = Path(out)
    if not (out_dir / MANIFEST).exists():
        raise FileNotFoundError(f"{out_dir}: no {MANIFEST} (not a sweep folder)")
    rows = []
    seen = set()
    for path in sorted((out_dir / POINTS).glob("*.json")):
        rec = _read_json(path)
        if rec is None or "status" not in rec:
            continue
        seen.add(rec["id"])
        rows.append({"id": rec["id"], **rec["params"], "replicate": rec["replicate"], "seed": rec["seed"],
                     "status": rec["status"], "error": rec.get("error"), "wall_s": rec.get("wall_s"),
                     **_flatten(rec.get("summary") or {})})
    if pending:
        manifest = json.loads((out_dir / MANIFEST).read_text())
        rows += [{"id": p["id"], **p["params"], "replicate": p["replicate"], "seed": p["seed"], "status": "pending"}
                 for p in manifest["points"] if p["id"] not in seen]
    df = pd.DataFrame(rows)
    for col in df.columns:                                # JSON null -> NaN in numeric columns
        values = df[col].dropna()
        if len(values) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            df[col] = pd.to_numeric(df[col])
    return df


def plot(df: pd.DataFrame, metric: str, param: str, by: str | None = "drain.strategy", *,
         band: str = "minmax", logx: bool | None = None, logy: bool | None = None,
         title: str | None = None, ax: Axes | None = None) -> Figure:
    """A figure of ``metric`` (a column of :func:`load`, e.g.
    ``"drain_latency_ns.p99"``) against ``param`` (a grid path), one curve per
    value of ``by`` (default the drain strategy; None: one curve), over the
    points that ran: the mean over seeds, with the min-max range shaded
    (``band="minmax"``) or as error bars (``band="errorbar"``, or ``"none"``).
    Nanosecond metrics (``_ns``) are drawn in ms. ``logx``/``logy`` default to
    a log axis when the values span more than a factor 30. ``ax``: draw into
    these axes (and return their figure) instead of a new figure. Needs
    matplotlib."""
    from pcpsim.config import STRATEGIES
    from pcpsim.plot import _figure, _g

    if band not in ("minmax", "errorbar", "none"):
        raise ValueError(f"band = {band!r}: expected 'minmax', 'errorbar' or 'none'")
    data = df[df["status"] == "done"] if "status" in df else df
    if by == "drain.strategy" and by not in data and "strategy" in data:
        by = "strategy"                                    # not in the grid: the strategy each run used
    for col in (metric, param) + ((by,) if by else ()):
        if col not in data:
            raise KeyError(f"{col!r} is not a column of the sweep's table (columns: {', '.join(map(str, df))})")
    scale, unit = (1e6, " (ms)") if "_ns" in metric else (1.0, "")
    if ax is None:
        ax = _figure(7.5, 4.6).add_subplot()
    fig = ax.get_figure()
    groups = [(None, data)] if by is None else list(data.groupby(by, sort=False, dropna=False))
    if by is not None and all(g in STRATEGIES for g, _ in groups):
        groups.sort(key=lambda g: STRATEGIES.index(g[0]))
    for k, (label, g) in enumerate(groups):
        stats = (g.assign(_y=g[metric] / scale).groupby(param)["_y"].agg(["mean", "min", "max", "count"])
                 .sort_index())
        x = stats.index.to_numpy()
        color = f"C{STRATEGIES.index(label) if label in STRATEGIES else k}"
        ax.plot(x, stats["mean"], marker="o", ms=4, color=color, label=None if label is None else str(label))
        if band == "minmax":
            ax.fill_between(x, stats["min"], stats["max"], color=color, alpha=0.18, lw=0)
        elif band == "errorbar":
            ax.errorbar(x, stats["mean"], yerr=[stats["mean"] - stats["min"], stats["max"] - stats["mean"]],
                        fmt="none", ecolor=color, capsize=3)

    def span(values: Any) -> bool:
        v = np.asarray(values, dtype=float)
        v = v[np.isfinite(v) & (v > 0)]
        return bool(v.size) and v.max() / v.min() > 30

    if data[param].dtype.kind in "iuf" and (logx if logx is not None else span(data[param])):
        ax.set_xscale("log", base=2)
        ticks = sorted(set(data[param].dropna()))
        ax.set_xticks(ticks, [_g(float(t), 4) for t in ticks])
        ax.minorticks_off()
    if logy if logy is not None else span(data[metric] / scale):
        ax.set_yscale("log")
    ax.set_xlabel(param)
    ax.set_ylabel(metric + unit)
    seeds = data.groupby([c for c in (param, by) if c])["seed"].nunique()
    spread = {"minmax": "; band: min-max", "errorbar": "; bars: min-max", "none": ""}[band]
    ax.set_title(title or f"{metric} vs {param} (mean of {_g(float(seeds.median()), 2)} seed(s){spread})",
                 fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    if by is not None:
        ax.legend(title=by, fontsize=8, title_fontsize=8)
    return fig


# -- the TOML form ------------------------------------------------------------------------
_SWEEP_KEYS = {"seeds", "seed", "out", "save_results", "retry_failed", "max_crashes"}


def load_toml(path: str | os.PathLike[str]) -> tuple[Config, Grid, dict[str, Any]]:
    """A sweep file (see the module doc): the base config (``[base.set]``
    applied), the grid (``[grid]`` crossed with ``[[points]]``) and the keyword
    arguments of :func:`sweep` from ``[sweep]`` (``out`` resolved against the
    file's folder; default the file's name without ``.toml``)."""
    from pcpsim.scenarios import SCENARIOS, scenario

    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("", None, f"valid TOML ({e})", source=str(path)) from None
    try:
        unknown = set(data) - {"base", "sweep", "grid", "points"}
        if unknown:
            raise ConfigError(sorted(unknown)[0], None, "one of the tables base, sweep, grid, points")
        base = data.get("base")
        if not isinstance(base, dict) or ("scenario" in base) == ("config" in base):
            raise ConfigError("base", base, "a [base] table with scenario = NAME (and strategy) or config = FILE")
        if set(base) - {"scenario", "strategy", "config", "set"}:
            raise ConfigError("base", sorted(set(base) - {"scenario", "strategy", "config", "set"})[0],
                              "keys scenario, strategy, config, set")
        if "scenario" in base:
            if base["scenario"] not in SCENARIOS:
                raise ConfigError("base.scenario", base["scenario"], "one of " + ", ".join(SCENARIOS))
            sc = scenario(base["scenario"])
            cfg = sc.build(base.get("strategy") or sc.strategies[0])
        else:
            cfg = Config.from_toml(path.parent / base["config"], validate=False)
            if "strategy" in base:
                cfg.drain.strategy = base["strategy"]
        cfg = apply(cfg, base.get("set", {}))
        opts = data.get("sweep", {})
        if set(opts) - _SWEEP_KEYS:
            raise ConfigError("sweep", sorted(set(opts) - _SWEEP_KEYS)[0], "keys " + ", ".join(sorted(_SWEEP_KEYS)))
        kwargs = dict(opts)
        kwargs["out"] = path.parent / opts.get("out", path.stem)
        cart, explicit = data.get("grid"), data.get("points")
        if cart is None and explicit is None:
            raise ConfigError("grid", None, "a [grid] table and/or [[points]] tables")
        grid: Grid = expand(cart) if cart is not None else []
        if explicit is not None:
            grid = [{**p, **g} for p in expand(explicit) for g in (grid or [{}])]
        return cfg, grid, kwargs
    except ConfigError as e:
        raise ConfigError(e.field, e.value, e.allowed, source=str(path)) from None


# -- `pcpsim.sweep(...)`: the module is callable ---------------------------------------
class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> SweepReport:
        return sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
