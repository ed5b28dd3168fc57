"""The ``pcpsim`` command: run a built-in scenario and print a comparison table.

    pcpsim                       the default scenario, one row per kernel profile
    pcpsim scenarios             list the built-in scenarios
    pcpsim run NAME [--kernel K] [--duration T] [--seed N]
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import numpy as np

from pcpsim.config import ConfigError
from pcpsim.results import Histogram, Results
from pcpsim.scenarios import DEFAULT, SCENARIOS, scenario
from pcpsim.simulation import Simulation

_US = 1e3


def _merged(r: Results, name: str, table: dict[int, Histogram]) -> Histogram:
    h = Histogram.empty()
    for ti in r.task_ids(name):
        h = h.merge(table[int(ti)])
    return h


def _row(kernel: str, r: Results, wall: float) -> list[str]:
    rt = _merged(r, "rt-periodic", r.wakeup_latency)
    row = [kernel, f"{rt.percentile(50) / _US:.1f}", f"{rt.percentile(99) / _US:.1f}", f"{rt.max / _US:.1f}"]
    if "fair-periodic" in r.task_names:
        fair = _merged(r, "fair-periodic", r.wakeup_latency)
        row += [f"{fair.percentile(50) / _US:.1f}", f"{fair.percentile(99) / _US:.1f}", f"{fair.max / _US:.1f}"]
    else:
        row += ["-", "-", "-"]
    misses = int(r.tasks["deadline_misses"].sum())
    seconds = r.now / 1e9
    row += [str(misses), f"{r.cpus['nr_switches'].sum() / seconds / len(r.cpus['nr_switches']):.0f}",
            f"{r.events / wall / 1e6:.1f}"]
    return row


HEADER = ["kernel", "RT lat p50", "p99", "max", "fair lat p50", "p99", "max",
          "deadline misses", "switches/s/CPU", "Mevents/s"]


def _print_table(rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(HEADER)]
    print("  ".join(h.rjust(w) for h, w in zip(HEADER, widths)))
    for r in rows:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))


def run_scenario(name: str, kernels: Sequence[str], duration: str | None, seed: int | None) -> None:
    sc = scenario(name)
    print(f"scenario {sc.name}: {sc.description}")
    print("wake-up latencies in microseconds (release -> first run)\n")
    rows = []
    for kernel in kernels:
        cfg = sc.build(kernel)
        if duration is not None:
            cfg.duration = duration
        if seed is not None:
            cfg.seed = seed
        sim = Simulation(cfg)
        t0 = time.perf_counter()
        sim.run()
        rows.append(_row(kernel, sim.results(), time.perf_counter() - t0))
    _print_table(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pcpsim", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("scenarios", help="list the built-in scenarios")
    run = sub.add_parser("run", help="run a built-in scenario")
    run.add_argument("name", choices=sorted(SCENARIOS))
    run.add_argument("--kernel", action="append", help="kernel profile (repeatable); default: the scenario's set")
    run.add_argument("--duration", help="simulated time, e.g. 500ms")
    run.add_argument("--seed", type=int)
    args = parser.parse_args(argv)
    try:
        if args.command == "scenarios":
            for sc in SCENARIOS.values():
                print(f"{sc.name:14s} {sc.description}  (kernels: {', '.join(sc.kernels)})")
        elif args.command == "run":
            run_scenario(args.name, args.kernel or scenario(args.name).kernels, args.duration, args.seed)
        else:
            run_scenario(DEFAULT, scenario(DEFAULT).kernels, None, None)
    except (ConfigError, ValueError) as e:
        print(f"pcpsim: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
