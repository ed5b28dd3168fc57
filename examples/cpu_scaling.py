"""How does drain_all_pages() latency grow with the CPU count, per drain strategy?

Runs the sweep of ``cpu_scaling.toml`` (8 to 1024 CPUs x 6 strategies x 3
seeds, 4 simulated seconds each; a couple of minutes on 2 cores) and draws
``cpu_scaling.png``: the median and the 99th percentile of the drain latency
against the CPU count, one curve per strategy (mean over the seeds, min-max
band). Run again, it only runs the points that are missing.

    python examples/cpu_scaling.py [--out runs/cpu_scaling] [--workers N]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from pcpsim import sweep
from pcpsim.plot import _figure

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/cpu_scaling", help="results folder (default: %(default)s)")
    parser.add_argument("--workers", type=int, help="worker processes (default: every core)")
    parser.add_argument("--figure", default=str(HERE / "cpu_scaling.png"), help="PNG to write")
    args = parser.parse_args()

    base, grid, kwargs = sweep.load_toml(HERE / "cpu_scaling.toml")
    kwargs["out"] = args.out
    report = sweep.sweep(base, grid, workers=args.workers, **kwargs)
    print(f"{report.done} points done, {report.failed} failed, {report.ran} run now in {report.wall_s:.1f} s")

    df = sweep.load(args.out)
    fig = _figure(12, 4.8)
    left, right = fig.subplots(1, 2, sharey=True)
    param = "topology.cpus_per_node"
    sweep.plot(df, "drain_latency_ns.p50", param, ax=left, logy=True, title="median drain_all_pages() latency")
    sweep.plot(df, "drain_latency_ns.p99", param, ax=right, logy=True, title="p99 drain_all_pages() latency")
    right.get_legend().remove()
    for ax in (left, right):
        ax.set_xlabel("CPUs (one node, 256 MiB of memory per CPU)")
    left.set_ylabel("latency (ms)")
    right.set_ylabel("")
    fig.suptitle("drain_all_pages() latency vs CPU count (server-like load, 4 s simulated; "
                 "mean of 3 seeds, band: min-max)", fontsize=11)
    fig.savefig(args.figure, dpi=110)
    print(f"figure: {args.figure}")


if __name__ == "__main__":
    main()
