"""The ``pcpsim`` command.

    pcpsim                                   the default scenario, every drain strategy
    pcpsim scenarios                         list the built-in scenarios
    pcpsim run CONFIG.toml|SCENARIO [--strategy S] [--cpus N] [--duration T] [--seed N]
               [--out DIR] [--plots] [--trace N]
    pcpsim compare CONFIG.toml|SCENARIO --strategies a,b,c [same options]
    pcpsim show RESULT.npz|RESULT.parquet    the table of a saved result
    pcpsim sweep SWEEP.toml [--workers N] [--dask-scheduler ADDRESS] [--out DIR]
                                             a parameter sweep (see pcpsim.sweep)
"""
from __future__ import annotations

import argparse
import copy
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from pcpsim.config import STRATEGIES, Config, ConfigError, Topology
from pcpsim.results import Histogram, Results
from pcpsim.scenarios import DEFAULT, SCENARIOS, scenario
from pcpsim.simulation import Simulation

HEADER = ["strategy", "drain p50", "p99", "max", "stall p50", "p99", "max", "skipped", "stranded",
          "RT worst lat", "drain CPU", "inversion", "OOM", "wall s"]
LEGEND = ("All times in ms. drain: drain_all_pages() latency (calls that drained); stall: the "
          "'reclaimer' task's allocation stalls (all allocators' when there is none); skipped: global drains "
          "that lost the pcpu_drain_mutex trylock; stranded: pages left on CPUs without a drain worker (the "
          "RFC's fallback); RT worst lat: worst wake-up latency of the 'rt-periodic' tasks (all periodic tasks' "
          "when there are none); drain CPU: CPU time of drain work and drain IPIs; inversion: time targets ran "
          "tasks less important than the waiting caller.")


def _ms(ns: float) -> str:
    return "-" if ns != ns else f"{ns / 1e6:.3f}"


def _hmax(h: Histogram) -> float:
    return float(h.max) if h.count else float("nan")


def row(strategy: str, r: Results, wall: float) -> list[str]:
    """One line of the comparison table."""
    s = r.summary(with_config=False)
    drain = r.drain_latency
    stall = r.alloc_stall.get("reclaimer") or r.merged(r.alloc_stall)
    rt = r.merged(r.wakeup_latency, "rt-periodic") if "rt-periodic" in r.task_names else r.merged(r.wakeup_latency)
    return [strategy,
            *(_ms(drain.percentile(q)) for q in (50, 99)), _ms(_hmax(drain)),
            *(_ms(stall.percentile(q)) for q in (50, 99)), _ms(_hmax(stall)),
            str(s["skipped_drains"]), str(s["stranded_pages"]), _ms(_hmax(rt)),
            _ms(s["drain_cpu_ns"]), _ms(s["priority_inversion_ns"]), str(s["oom_events"]), f"{wall:.2f}"]


def print_table(rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(HEADER)]
    print("  ".join(h.rjust(w) for h, w in zip(HEADER, widths)))
    for r in rows:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))
    print("\n" + LEGEND)


def load_config(spec: str, strategy: str | None) -> tuple[str, Config]:
    """A built-in scenario's config, or a TOML file's; ``strategy`` overrides its drain strategy."""
    if spec in SCENARIOS:
        sc = scenario(spec)
        return spec, sc.build(strategy or sc.strategies[0])
    path = Path(spec)
    if not path.exists():
        raise ConfigError("CONFIG", spec, f"a TOML file or a built-in scenario ({', '.join(SCENARIOS)})")
    cfg = Config.from_toml(path)
    if strategy is not None:
        cfg.drain.strategy = strategy
    return path.stem, cfg


def apply_overrides(cfg: Config, cpus: int | None, duration: str | None, seed: int | None) -> Config:
    cfg = copy.deepcopy(cfg)
    if cpus is not None:
        nodes = len(cfg.topology.sizes())
        if cpus < nodes or cpus % nodes:
            raise ConfigError("--cpus", cpus, f"a multiple of the {nodes} node(s)")
        cfg.topology = Topology(nodes=nodes, cpus_per_node=cpus // nodes, isolated=cfg.topology.isolated,
                                offline=cfg.topology.offline)
    if duration is not None:
        cfg.duration = duration
    if seed is not None:
        cfg.seed = seed
    return cfg


def simulate(cfg: Config, label: str, trace: int = 0) -> tuple[Simulation, float]:
    """Run ``cfg``; on a terminal show the simulated time reached."""
    sim = Simulation(cfg, trace=trace)
    t0 = time.perf_counter()
    if sys.stderr.isatty():
        steps = 50
        for k in range(1, steps + 1):
            sim.run(sim.duration_ns * k // steps)
            print(f"\r  {label}: {sim.now / 1e9:.3f} / {sim.duration_ns / 1e9:.3f} s simulated",
                  end="", file=sys.stderr, flush=True)
        print("\r" + " " * 70 + "\r", end="", file=sys.stderr, flush=True)
    else:
        sim.run()
    return sim, time.perf_counter() - t0


def compare(spec: str, strategies: Sequence[str], cpus: int | None = None, duration: str | None = None,
            seed: int | None = None, out: str | None = None, plots: bool = False, trace: int = 0) -> None:
    """Run one config per strategy, print the table, write results (and plots, traces) to ``out``."""
    results: dict[str, Results] = {}
    rows = []
    for strategy in strategies:
        name, cfg = load_config(spec, strategy)
        cfg = apply_overrides(cfg, cpus, duration, seed)
        if strategy is None:
            strategy = cfg.drain.strategy or cfg.profile.drain_strategy
        if not results:
            doc = scenario(spec).build.__doc__ if spec in SCENARIOS else f"{spec}"
            print(f"{name}: {' '.join((doc or '').split())}\n")
        sim, wall = simulate(cfg, strategy, trace)
        r = results[strategy] = sim.results()
        rows.append(row(strategy, r, wall))
        if out is not None:
            Path(out).mkdir(parents=True, exist_ok=True)
            r.save(Path(out) / f"{name}-{strategy}.npz")
            if r.wakeup_latency:
                (Path(out) / f"{name}-{strategy}.cyclictest.txt").write_text(r.cyclictest_histogram())
            if trace:
                from pcpsim.trace import write_ftrace
                write_ftrace(sim, Path(out) / f"{name}-{strategy}.trace")
    print_table(rows)
    if plots:
        from pcpsim.plot import save_all
        paths = save_all(results, Path(out or "."))
        print("\nfigures: " + ", ".join(str(p) for p in paths))
    if out is not None:
        print(f"results: {out}/")


def show(path: str) -> None:
    r = Results.load(path)
    cfg_doc = f" (kernel {r.config.kernel}, {r.cpus['busy_ns'].size} CPUs)" if r.config is not None else ""
    print(f"{path}: {r.now / 1e9:.3f} s simulated, {r.events} events{cfg_doc}\n")
    print_table([row(r.strategy, r, float("nan"))])


def run_sweep(path: str, workers: int | None, scheduler: str | None, out: str | None) -> int:
    """Run the sweep file ``path`` (pcpsim.sweep's TOML form); 1 when points failed."""
    from pcpsim import sweep

    base, grid, kwargs = sweep.load_toml(path)
    if out is not None:
        kwargs["out"] = out
    client = None
    if scheduler is not None:
        from pcpsim.results import _require
        client = _require("dask.distributed", "dask").Client(scheduler)
    try:
        report = sweep.sweep(base, grid, executor=client, workers=workers, **kwargs)
    finally:
        if client is not None:
            client.close()
    print(f"{report.total} points: {report.done} done, {report.failed} failed ({report.ran} run now, "
          f"{report.skipped} found done) in {report.wall_s:.1f} s; results: {report.out}/")
    for pid, error in report.failures.items():
        print(f"  failed {pid}: {error}")
    return 1 if report.failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pcpsim", description=(__doc__ or "").split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("scenarios", help="list the built-in scenarios")
    for name in ("run", "compare"):
        p = sub.add_parser(name, help=f"{name} a TOML config or a built-in scenario")
        p.add_argument("config", metavar="CONFIG.toml|SCENARIO")
        if name == "run":
            p.add_argument("--strategy", choices=STRATEGIES, help="drain strategy (default: the config's)")
        else:
            p.add_argument("--strategies", default=",".join(STRATEGIES),
                           help="comma-separated drain strategies (default: all)")
        p.add_argument("--cpus", type=int, help="number of CPUs (split over the config's nodes)")
        p.add_argument("--duration", help="simulated time, e.g. 500ms")
        p.add_argument("--seed", type=int)
        p.add_argument("--out", help="folder for the results (.npz), figures and traces")
        p.add_argument("--plots", action="store_true", help="write PNG figures (needs pcpsim[plots])")
        p.add_argument("--trace", type=int, default=0, metavar="N",
                       help="write an ftrace text trace of at most N records per run")
    show_p = sub.add_parser("show", help="the table of a saved result")
    show_p.add_argument("result")
    sweep_p = sub.add_parser("sweep", help="a parameter sweep described by a TOML file")
    sweep_p.add_argument("sweep", metavar="SWEEP.toml")
    sweep_p.add_argument("--workers", type=int, help="local worker processes (default: every core)")
    sweep_p.add_argument("--dask-scheduler", metavar="ADDRESS",
                         help="run on this Dask scheduler (e.g. tcp://host:8786; needs pcpsim[dask])")
    sweep_p.add_argument("--out", help="results folder (default: the file's [sweep] out)")
    args = parser.parse_args(argv)
    try:
        if args.command == "scenarios":
            for sc in SCENARIOS.values():
                print(f"{sc.name:14s} {sc.description}")
        elif args.command == "run":
            compare(args.config, [args.strategy], args.cpus, args.duration, args.seed, args.out, args.plots,
                    args.trace)
        elif args.command == "compare":
            strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
            bad = [s for s in strategies if s not in STRATEGIES]
            if bad or not strategies:
                raise ConfigError("--strategies", args.strategies, "a comma-separated list of " + ", ".join(STRATEGIES))
            compare(args.config, strategies, args.cpus, args.duration, args.seed, args.out, args.plots, args.trace)
        elif args.command == "show":
            show(args.result)
        elif args.command == "sweep":
            return run_sweep(args.sweep, args.workers, args.dask_scheduler, args.out)
        else:
            compare(DEFAULT, scenario(DEFAULT).strategies)
    except (ConfigError, ValueError, OSError) as e:
        print(f"pcpsim: error: {e}", file=sys.stderr)
        return 2
    except ImportError as e:
        print(f"pcpsim: error: {e}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
