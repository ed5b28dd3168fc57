"""Compare the event loop of two builds in one process, run in alternating chunks.

On a shared VM the wall time of one run moves by 30-50 % from one run to the
next (the neighbours' load on the memory system), so two builds timed one after
the other differ by more than most changes to the loop. Here both builds'
engines run the same simulation in one process, taking turns every ``--chunk``
of simulated time (which one goes first alternates), so that a slow spell of
the machine costs both alike; the median of the per-chunk time ratios is the
figure to read. Two copies of one build give its noise floor (about +-5 % for
``server-4096`` here).

A build is a directory holding an installed ``pcpsim`` (``pip install --target``)::

    git worktree add /tmp/old <commit>
    pip install --no-deps --no-build-isolation --target /tmp/old_site /tmp/old
    pip install --no-deps --no-build-isolation --target /tmp/new_site .
    python benchmarks/compare_builds.py /tmp/old_site /tmp/new_site --until 1.5s

The first build's Python layer builds the simulation; every build's engine then
starts from a copy of its arrays, converted field by field to that build's
struct layout (a field a build adds starts at zero). Both must process the same
events: the script stops with an error if they do not.

With one build and ``--strategies``, the same turns compare drain strategies
instead: each strategy's simulation of the scenario, in one process, so that
the figure is its cost per event against the first's, free of the drift
between processes::

    python benchmarks/compare_builds.py /tmp/new_site --strategies kthread kthread_rfc_v1 --until 3s
"""
from __future__ import annotations

import argparse
import copy
import glob
import importlib.util
import os
import statistics
import sys
import time
from types import ModuleType
from typing import Any

import numpy as np


def load_core(site: str) -> ModuleType:
    """The ``pcpsim._core`` extension of the build installed in ``site``, as a
    module object of its own (not in ``sys.modules``)."""
    found = glob.glob(os.path.join(site, "pcpsim", "_core*.so")) + glob.glob(os.path.join(site, "pcpsim", "_core*.pyd"))
    if not found:
        raise SystemExit(f"{site}: no pcpsim/_core extension there (install a build with pip install --target)")
    spec = importlib.util.spec_from_file_location("pcpsim._core", found[0])
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def bench_configs() -> ModuleType:
    """``configs.py`` beside this file (the benchmarks' configs), loaded by its path."""
    spec = importlib.util.spec_from_file_location("configs", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                                          "configs.py"))
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def convert(arrays: dict[str, np.ndarray], core: ModuleType) -> dict[str, np.ndarray]:
    """A copy of ``arrays`` in ``core``'s struct layouts; a per-slot array
    that ``core`` needs and the reference build has not (as before the start:
    an empty queue) starts zeroed."""
    out = {}
    for name, (dtype, rows) in core.ARRAY_SPECS.items():
        if name not in arrays and rows == "slot":
            out[name] = np.zeros(len(arrays["heap_pos"]), dtype=dtype)
    for name, arr in arrays.items():
        want = core.ARRAY_SPECS[name][0] if name in core.ARRAY_SPECS else arr.dtype
        if want == arr.dtype:
            out[name] = arr.copy()
            continue
        out[name] = np.zeros(arr.shape, dtype=want)
        for field in arr.dtype.names or ():
            if field in want.names:
                out[name][field] = arr[field]
    return out


def in_turns(engines: list[Any], chunk: int, until: int, same_events: bool) -> list[list[float]]:
    """Run ``engines`` to ``until`` in turns of ``chunk`` ns (which goes first
    alternates); the wall seconds of each one's turns. With ``same_events``,
    stop with an error as soon as their event counts part."""
    times: list[list[float]] = [[] for _ in engines]
    order = list(range(len(engines)))
    t, turn = 0, 0
    while t < until:
        t = min(t + chunk, until)
        for i in order if turn % 2 == 0 else order[::-1]:
            w = time.perf_counter()
            engines[i].run(t)
            times[i].append(time.perf_counter() - w)
        turn += 1
        if same_events:
            events = sorted({engine.events for engine in engines})
            if len(events) != 1:
                raise SystemExit(f"the builds processed different events by t={t} ns: {events}")
    return times


def engine_of(sim: Any, core: ModuleType) -> Any:
    """An engine of ``core`` (a build's extension) that starts where ``sim``'s
    engine is, from a copy of its arrays in that build's layouts."""
    _, (arrays, bitgen, started) = sim._engine.__reduce__()
    return core.Engine(convert(arrays, core), copy.deepcopy(bitgen), started)


def compare_strategies(pcpsim: ModuleType, core: ModuleType, scenario: Any, strategies: list[str], chunk: int,
                       until: int) -> list[str]:
    """The lines of ``--strategies``: each strategy's run of ``scenario`` on
    ``core``'s engine, in turns; its time and its time per event against the
    first strategy's."""
    engines = []
    for strategy in strategies:
        cfg = scenario.build(strategy)
        cfg.duration = until
        engines.append(engine_of(pcpsim.Simulation(cfg), core))
    times = [sum(t) for t in in_turns(engines, chunk, until, same_events=False)]
    lines = []
    for i, (strategy, engine) in enumerate(zip(strategies, engines)):
        n = engine.events
        line = f"  {strategy}: {times[i]:.3f} s, {n} events, {n / times[i] / 1e6:.2f} M events/s"
        if i:
            line += (f", time vs the first {times[i] / times[0]:.3f}, "
                     f"per event {times[i] / n / (times[0] / engines[0].events):.3f}")
        lines.append(line)
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sites", nargs="+", help="directories with an installed pcpsim; the first is the reference")
    ap.add_argument("--scenario", default="server-4096", help="a built-in scenario (default: server-4096)")
    ap.add_argument("--strategy", default="workqueue", help="drain strategy (default: workqueue)")
    ap.add_argument("--strategies", nargs="+", metavar="STRATEGY",
                    help="with one build: compare these strategies' runs of the scenario instead of builds")
    ap.add_argument("--engine", type=int, metavar="NCPU",
                    help="the engine benchmark's config (configs.engine_config) at NCPU CPUs instead of a scenario")
    ap.add_argument("--server-load", type=int, metavar="NCPU",
                    help="server-4096's per-CPU load (configs.server_load_config, workqueue) at NCPU CPUs")
    ap.add_argument("--chunk", default="20ms", help="simulated time per turn (default: 20ms)")
    ap.add_argument("--until", default="1s", help="simulated time in all (default: 1s)")
    args = ap.parse_args(argv)
    if args.strategies is not None:
        if len(args.sites) != 1 or len(args.strategies) < 2:
            ap.error("--strategies compares two or more strategies with one build")
        if args.engine is not None or args.server_load is not None:
            ap.error("--strategies runs a scenario: leave out --engine and --server-load")
    elif len(args.sites) < 2:
        ap.error("give at least two builds")
    if args.engine is not None and args.server_load is not None:
        ap.error("--engine and --server-load each name a config: give one")
    sys.path.insert(0, args.sites[0])
    import pcpsim
    from pcpsim import scenarios
    from pcpsim.config import parse_duration

    chunk, until = parse_duration(args.chunk, "--chunk"), parse_duration(args.until, "--until")
    if args.strategies is not None:
        lines = compare_strategies(pcpsim, load_core(args.sites[0]), scenarios.scenario(args.scenario),
                                   args.strategies, chunk, until)
        print(f"{args.scenario}, {until / 1e9:g} simulated s in turns of {chunk / 1e6:g} ms, "
              f"one build ({args.sites[0]})")
        print("\n".join(lines))
        return 0
    if args.engine is not None:
        cfg = bench_configs().engine_config(args.engine)
        name = f"engine, {args.engine} CPUs"
    elif args.server_load is not None:
        cfg = bench_configs().server_load_config(args.server_load)
        name = f"server-4096's load, {args.server_load} CPUs"
    else:
        cfg = scenarios.scenario(args.scenario).build(args.strategy)
        name = f"{args.scenario} ({args.strategy})"
    cfg.duration = until
    sim = pcpsim.Simulation(cfg)
    # one engine per argument, so that one build given twice shows its noise floor
    engines = [engine_of(sim, load_core(site)) for site in args.sites]
    times = in_turns(engines, chunk, until, same_events=True)
    n = engines[0].events
    print(f"{name}, {until / 1e9:g} simulated s in {len(times[0])} chunks, {n} events")
    for i, site in enumerate(args.sites):
        total = sum(times[i])
        line = f"  {site}: {total:.3f} s, {n / total / 1e6:.2f} M events/s"
        if i:
            ratios = [a / b for a, b in zip(times[i], times[0])]
            line += f", time vs the first: median chunk {statistics.median(ratios):.3f}, total {total / sum(times[0]):.3f}"
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
