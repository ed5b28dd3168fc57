"""The ``pcpsim`` command: run a built-in scenario once per drain strategy and
print a comparison table.

    pcpsim                                  the default scenario, every strategy
    pcpsim scenarios                        list the built-in scenarios
    pcpsim run NAME [--strategy S ...] [--duration T] [--seed N]
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from pcpsim.config import STRATEGIES, ConfigError
from pcpsim.results import Histogram, Results
from pcpsim.scenarios import DEFAULT, SCENARIOS, scenario
from pcpsim.simulation import Simulation

HEADER = ["strategy", "drain p50", "p99", "max", "stall p50", "p99", "max", "skipped", "stranded",
          "RT worst lat", "drain CPU", "inversion", "OOM", "wall s"]


def _ms(ns: float) -> str:
    return "-" if ns != ns else f"{ns / 1e6:.3f}"


def _row(strategy: str, r: Results, wall: float) -> list[str]:
    s = r.summary()
    drain = r.drain_latency
    stall = r.alloc_stall.get("reclaimer", Histogram.empty())
    rt = r.merged(r.wakeup_latency, "rt-periodic")
    return [strategy,
            *(_ms(drain.percentile(q)) for q in (50, 99)), _ms(float(drain.max) if drain.count else float("nan")),
            *(_ms(stall.percentile(q)) for q in (50, 99)), _ms(float(stall.max) if stall.count else float("nan")),
            str(s["skipped_drains"]), str(s["stranded_pages"]), _ms(rt.max if rt.count else float("nan")),
            _ms(s["drain_cpu_ns"]), _ms(s["priority_inversion_ns"]), str(s["oom_events"]), f"{wall:.2f}"]


def _print_table(rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(HEADER)]
    print("  ".join(h.rjust(w) for h, w in zip(HEADER, widths)))
    for r in rows:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))


def run_scenario(name: str, strategies: Sequence[str], duration: str | None, seed: int | None) -> None:
    sc = scenario(name)
    print(f"scenario {sc.name}: {' '.join((sc.build.__doc__ or '').split())}\n")
    rows = []
    for strategy in strategies:
        cfg = sc.build(strategy)
        if duration is not None:
            cfg.duration = duration
        if seed is not None:
            cfg.seed = seed
        t0 = time.perf_counter()
        sim = Simulation(cfg)
        sim.run()
        rows.append(_row(strategy, sim.results(), time.perf_counter() - t0))
    _print_table(rows)
    print("\nAll times in ms. drain: drain_all_pages() latency (calls that drained); stall: the "
          "'reclaimer' task's allocation stalls; skipped: global drains that lost the pcpu_drain_mutex "
          "trylock; stranded: pages left on CPUs without a drain worker (the RFC's fallback); RT worst "
          "lat: worst wake-up latency of the 'rt-periodic' tasks; drain CPU: CPU time of drain work and "
          "drain IPIs; inversion: time targets ran tasks less important than the waiting caller.")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pcpsim", description=(__doc__ or "").split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("scenarios", help="list the built-in scenarios")
    run = sub.add_parser("run", help="run a built-in scenario")
    run.add_argument("name", choices=sorted(SCENARIOS))
    run.add_argument("--strategy", action="append", choices=STRATEGIES,
                     help="drain strategy (repeatable); default: all")
    run.add_argument("--duration", help="simulated time, e.g. 500ms")
    run.add_argument("--seed", type=int)
    args = parser.parse_args(argv)
    try:
        if args.command == "scenarios":
            for sc in SCENARIOS.values():
                print(f"{sc.name:14s} {sc.description}")
        elif args.command == "run":
            run_scenario(args.name, args.strategy or scenario(args.name).strategies, args.duration, args.seed)
        else:
            run_scenario(DEFAULT, scenario(DEFAULT).strategies, None, None)
    except (ConfigError, ValueError) as e:
        print(f"pcpsim: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
