"""Figures of results: latency CCDFs, per-CPU heatmaps over time, CPU time by category.

Every function returns a ``matplotlib.figure.Figure`` built with matplotlib's
object-oriented API (no pyplot, no global state: it works without a display
and from threads); show it in a notebook, or ``fig.savefig("x.png")``.
``save_all(results, outdir)`` writes the standard set of PNGs. Needs
matplotlib: ``pip install "pcpsim[plots]"``.

```python
import pcpsim, pcpsim.plot
from pcpsim.config import STRATEGIES
from pcpsim.scenarios import phone
runs = {s: pcpsim.run(phone(s)) for s in STRATEGIES}
pcpsim.plot.ccdf(runs, "drain").savefig("drain.png")
pcpsim.plot.save_all(runs, "plots/")
```

Heatmaps of many CPUs or samples are reduced to at most :data:`_MAX_ROWS`
rows (groups of consecutive CPUs) and :data:`_MAX_COLS` columns (groups of
consecutive samples) before drawing, so that no CPU or sample is dropped by the
renderer: the pcp heatmap shows the mean of a group, the interference heatmap
its most disturbed CPU (the drain time of each CPU over the group's interval).
"""
from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pcpsim.config import STRATEGIES
from pcpsim.results import Histogram, Results, _require

if TYPE_CHECKING:                                   # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["ccdf", "pcp_heatmap", "interference_heatmap", "cpu_time_bars", "save_all"]

#: heatmaps draw at most this many rows (CPUs are grouped beyond it) ...
_MAX_ROWS = 256
#: ... and this many columns (samples are grouped beyond it)
_MAX_COLS = 600
#: resolution of save_all's PNGs
_DPI = 110

_METRICS = {
    # metric: (title, what is counted, x-axis quantity)
    "drain": ("drain_all_pages() latency", "calls", "latency"),
    "dispatch": ("Dispatch delay of the drain on each target CPU (queued to start)", "target drains", "delay"),
    "stall": ("Allocation stalls", "stalls", "stall time"),
}

# one category of CPU time: (label, colour)
_CATEGORIES = {
    "workload": ("workload (tasks)", "#c7c7c7"),
    "drain": ("drain work", "#d62728"),
    "irq_drain": ("drain IPIs", "#ff7f0e"),
    "work": ("other work items", "#1f77b4"),
    "reclaim": ("reclaim", "#2ca02c"),
    "alloc": ("pcp refill/free", "#9467bd"),
    "overhead": ("overhead (switches, wakeups)", "#8c564b"),
    "idle": ("idle (or offline)", "#f2f2f2"),
}


def _figure(width: float, height: float) -> Figure:
    """A new Figure with constrained layout (matplotlib imported here, lazily)."""
    mfig = _require("matplotlib.figure", "plots")
    return mfig.Figure(figsize=(width, height), layout="constrained")


def _styles(results: Mapping[str, Results]) -> dict[str, dict[str, Any]]:
    """Colour (and line style) per label: a strategy keeps its colour in every
    figure when each label is a different strategy; otherwise labels take the
    colours in order."""
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
              "#bcbd22", "#17becf"]
    linestyles = ["-", "--", "-.", ":"]
    strategies = [r.strategy for r in results.values()]
    known = len(set(strategies)) == len(strategies) and all(s in STRATEGIES for s in strategies)
    out = {}
    for i, (label, r) in enumerate(results.items()):
        k = STRATEGIES.index(r.strategy) if known else i
        out[label] = {"color": colors[k % len(colors)], "linestyle": linestyles[(k // len(colors)) % 4]}
    return out


def _check_results(results: Mapping[str, Results], what: str) -> None:
    if not isinstance(results, Mapping) or not results:
        raise ValueError(f"{what}: expected a non-empty mapping of label -> Results, got {results!r:.80}")
    for label, r in results.items():
        if not isinstance(r, Results):
            raise TypeError(f"{what}: results[{label!r}] is a {type(r).__name__}, expected pcpsim.Results")


def _label(r: Results, default: str = "") -> str:
    return r.strategy or default


def _g(v: float, sig: int = 1) -> str:
    """``v`` rounded to ``sig`` significant digits in plain decimal notation (no
    exponent, thousands separated): tick labels and values in legends."""
    if v == 0 or not math.isfinite(v):
        return "0" if v == 0 else str(v)
    digits = max(0, sig - 1 - int(math.floor(math.log10(abs(v)))))
    text = f"{round(v, digits):,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


# -- CCDF -------------------------------------------------------------------------

def _histogram(r: Results, metric: str, spec: str | None, label: str) -> Histogram:
    if metric == "drain":
        return r.drain_latency
    if metric == "dispatch":
        return r.dispatch_delay
    if spec is not None:
        if spec not in r.alloc_stall:
            known = ", ".join(map(repr, r.alloc_stall)) or "none"
            raise ValueError(f"spec = {spec!r}: results[{label!r}] has no allocator of that name (known: {known})")
        return r.alloc_stall[spec]
    h = Histogram.empty()
    for one in r.alloc_stall.values():
        h = h.merge(one)
    return h


def _ccdf_points(h: Histogram) -> tuple[np.ndarray, np.ndarray]:
    """The CCDF of ``h`` as a step curve, in ns: at each non-empty bucket's
    lower bound x (clamped to the exact min and max) the fraction y of samples
    at or above it, then the exact max at 1/count. Drawn "steps-pre" (the level
    y[i] from x[i-1] to x[i]) it is the fraction of samples above x, within one
    bucket. Starts at (min, 1), ends at (max, 1/count)."""
    b = h.to_buckets()
    x = np.clip(b["lower_ns"].astype(float), h.min, h.max)
    above = h.count - np.concatenate([[0], np.cumsum(b["count"])[:-1]])
    y = above / h.count
    if x[-1] < h.max or y[-1] != 1 / h.count:
        x, y = np.append(x, float(h.max)), np.append(y, 1 / h.count)
    return x, y


def ccdf(results: Mapping[str, Results], metric: str = "drain", *, spec: str | None = None) -> Figure:
    """Complementary CDF (fraction of samples at or above x), log-log, one step
    curve per entry of ``results`` (its key is the curve's label), from the
    histogram buckets (values within one bucket, 1/128 of the value; the min
    and max are exact).

    ``metric``: ``"drain"`` (drain_all_pages() latency, ``drain_latency``),
    ``"dispatch"`` (``dispatch_delay`` of every target) or ``"stall"``
    (allocation stalls: all ``alloc_stall`` histograms merged, or the
    allocator spec ``spec``). x is in ms, or in µs when every value is below
    1 ms; samples of 0 are drawn at the left edge, whose tick reads 0. The
    right axis marks the percentiles (where a curve crosses p99, 1 % of the
    samples are above it)."""
    _check_results(results, "ccdf")
    if metric not in _METRICS:
        raise ValueError(f"metric = {metric!r}: expected one of {', '.join(map(repr, _METRICS))}")
    if spec is not None and metric != "stall":
        raise ValueError(f"spec = {spec!r} is only for metric='stall' (an allocator spec's stalls)")
    hists = {label: _histogram(r, metric, spec, label) for label, r in results.items()}
    curves = {label: _ccdf_points(h) for label, h in hists.items() if h.count}
    top = max((h.max for h in hists.values() if h.count), default=0)
    unit, scale = ("ms", 1e6) if top >= 1e6 else ("µs", 1e3)
    positive = [x[x > 0].min() for x, _ in curves.values() if (x > 0).any()]
    lowest = min(positive, default=scale) / scale
    zero_at = 10.0 ** math.floor(math.log10(lowest))        # where samples of 0 are drawn
    if zero_at >= lowest:
        zero_at /= 10
    has_zero = any(x[0] == 0 for x, _ in curves.values())

    title, counted, quantity = _METRICS[metric]
    if metric == "stall":
        title += f" of allocator {spec!r}" if spec is not None else " (all allocators)"
    fig = _figure(10, 5.2)
    ax = fig.add_subplot()
    styles = _styles(results)
    for label, h in hists.items():
        if not h.count:
            ax.plot([], [], label=f"{label} (no {counted})", **styles[label])
            continue
        x, y = curves[label]
        x = np.where(x > 0, x / scale, zero_at)
        ax.step(x, y, where="pre", linewidth=1.6, alpha=0.9,
                label=f"{label}: n={h.count:,}, max {_g(h.max / scale, 3)} {unit}", **styles[label])
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_title(f"{title}: CCDF")
    ax.set_xlabel(f"{quantity} x ({unit}, log scale)")
    ax.set_ylabel(f"fraction of {counted} > x (log scale)")
    ax.grid(True, which="major", alpha=0.4)
    ax.grid(True, which="minor", alpha=0.12)
    if curves:
        ymin = min(1 / h.count for h in hists.values() if h.count)
        ax.set_ylim(ymin / 2, 1.25)
        right = max(x.max() for x, _ in curves.values()) / scale
        ax.set_xlim(zero_at if has_zero else lowest / 1.5, max(right * 1.5, lowest * 10))
        mticker = _require("matplotlib.ticker", "plots")

        def fmt(v: float, _pos: int | None) -> str:
            return "0" if has_zero and math.isclose(v, zero_at) else _g(v)
        ax.xaxis.set_major_formatter(mticker.FuncFormatter(fmt))
        ax.yaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _pos: _g(v)))
        marks = {q: f"p{100 * (1 - q):g}" for q in (0.5, 0.1, 0.01, 0.001, 0.0001, 0.00001) if q >= ymin}
        sec = ax.secondary_yaxis("right")
        sec.set_yticks(list(marks), labels=list(marks.values()))
        sec.yaxis.set_minor_locator(mticker.NullLocator())
        sec.set_ylabel("percentile")
    else:
        ax.set_xlim(0.1, 1000)
        ax.set_ylim(1e-3, 1.25)
        ax.text(0.5, 0.5, f"no {counted} in these results", transform=ax.transAxes, ha="center", va="center",
                fontsize=12, color="0.4")
    ax.legend(loc="upper left", bbox_to_anchor=(1.08, 1.0), title="strategy", fontsize=9, frameon=False)
    return fig


# -- heatmaps -------------------------------------------------------------------------

def _series(result: Results, name: str, what: str, minimum: int) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(result, Results):
        raise TypeError(f"{what}: expected pcpsim.Results, got {type(result).__name__}")
    m = result.memory
    if name not in m:
        raise ValueError(f"{what}: these results have no per-CPU samples (memory[{name!r}]); run with "
                         "Memory(sample_cpus=True) and a sample_interval")
    t, v = np.asarray(m["time"]), np.asarray(m[name])
    if len(t) < minimum or v.ndim != 2 or v.shape[1] == 0:
        raise ValueError(f"{what}: needs at least {minimum} samples of at least one CPU, have {v.shape}")
    return t[: len(v)], v[: len(t)]


def _groups(n: int, most: int) -> np.ndarray:
    """Starts of the groups of consecutive items when ``n`` items become at most ``most``."""
    return np.arange(0, n, math.ceil(n / most))


def _heatmap(fig: Figure, ax: Axes, image: np.ndarray, x0: float, x_step: float, x_lim: tuple[float, float],
             ncpu: int, per_row: int, cmap: Any, norm: Any, cbar_label: str) -> None:
    """Draw ``image`` (rows = groups of ``per_row`` CPUs, columns ``x_step`` s
    wide from ``x0``) with CPU 0 at the bottom; a colorbar."""
    extent = (x0, x0 + image.shape[1] * x_step, -0.5, image.shape[0] * per_row - 0.5)
    im = ax.imshow(image, origin="lower", aspect="auto", interpolation="nearest", extent=extent, cmap=cmap, norm=norm)
    ax.set_xlim(*x_lim)
    ax.set_ylim(-0.5, ncpu - 0.5)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("CPU" if per_row == 1 else f"CPU ({per_row} CPUs per row)")
    mticker = _require("matplotlib.ticker", "plots")
    if ncpu <= 16:
        ax.set_yticks(range(ncpu))
    else:                                   # a power of two: 8 nodes of 512 CPUs get a tick each
        ax.yaxis.set_major_locator(mticker.MultipleLocator(2 ** math.ceil(math.log2(ncpu / 8))))
    cb = fig.colorbar(im, ax=ax, pad=0.02, fraction=0.05)
    cb.set_label(cbar_label)


def _heat_size(rows: int) -> tuple[float, float]:
    return 10.0, min(6.0, max(3.6, 1.6 + 0.3 * rows))


def pcp_heatmap(result: Results) -> Figure:
    """Pages held in each CPU's pcp lists over time (``memory["cpu_pcp"]``):
    x = time (s), y = CPU (0 at the bottom), colour = pages. More than
    :data:`_MAX_ROWS` CPUs or :data:`_MAX_COLS` samples are shown as the mean of
    groups of consecutive CPUs / samples (the colorbar says so)."""
    t, v = _series(result, "cpu_pcp", "pcp_heatmap", 1)
    nsample, ncpu = v.shape
    cols, rows = _groups(nsample, _MAX_COLS), _groups(ncpu, _MAX_ROWS)
    per_col = int(cols[1] - cols[0]) if len(cols) > 1 else 1
    per_row = int(rows[1] - rows[0]) if len(rows) > 1 else 1
    data = v.astype(float)
    data = np.add.reduceat(data, cols, axis=0) / np.diff(np.append(cols, nsample))[:, None]
    data = np.add.reduceat(data, rows, axis=1) / np.diff(np.append(rows, ncpu))[None, :]
    dt = float(np.median(np.diff(t))) / 1e9 if nsample > 1 else 0.01
    t0, t1 = t[0] / 1e9, t[-1] / 1e9
    fig = _figure(*_heat_size(len(rows)))
    ax = fig.add_subplot()
    mcolors = _require("matplotlib.colors", "plots")
    norm = mcolors.Normalize(vmin=0, vmax=max(1.0, float(data.max())))
    mean = "" if per_row == 1 and per_col == 1 else \
        " (mean of " + " × ".join(filter(None, [f"{per_row} CPUs" if per_row > 1 else "",
                                                 f"{per_col} samples" if per_col > 1 else ""])) + ")"
    _heatmap(fig, ax, data.T, t0 - dt / 2, per_col * dt, (t0 - dt / 2, t1 + dt / 2), ncpu, per_row,
             "viridis", norm, f"pages on the CPU's pcp lists{mean}")
    name = _label(result, "results")
    ax.set_title(f"Pages held in per-CPU page lists: {name} ({ncpu} CPUs, one sample every {_g(dt * 1e3)} ms)")
    return fig


def interference_heatmap(result: Results) -> Figure:
    """Drain time on each CPU over time: the growth of
    ``memory["cpu_drain_ns"]`` (drain work and drain IPI handlers) per
    sample interval, as a percentage of the interval (% of the CPU), on a log
    colour scale; intervals without drain time are white. More than
    :data:`_MAX_COLS` intervals are merged into longer ones (exact: the drain
    time over the longer interval); more than :data:`_MAX_ROWS` CPUs are
    grouped, each row showing its most disturbed CPU."""
    t, v = _series(result, "cpu_drain_ns", "interference_heatmap", 2)
    nsample, ncpu = v.shape
    edges = np.append(_groups(nsample - 1, _MAX_COLS), nsample - 1)      # sample indices bounding the columns
    per_col = int(edges[1] - edges[0])
    rows = _groups(ncpu, _MAX_ROWS)
    per_row = int(rows[1] - rows[0]) if len(rows) > 1 else 1
    pct = 100.0 * np.diff(v[edges].astype(float), axis=0) / np.diff(t[edges]).astype(float)[:, None]
    data = np.maximum.reduceat(pct, rows, axis=1)                         # (columns, rows)
    dt = float(np.median(np.diff(t))) / 1e9
    mcolors = _require("matplotlib.colors", "plots")
    mpl = _require("matplotlib", "plots")
    cmap = mpl.colormaps["plasma"].with_extremes(bad="white")
    top = float(data.max())
    vmax = top if top > 0 else 1.0
    vmin = max(float(data[data > 0].min()) if top > 0 else vmax / 1000, vmax / 1000)
    if vmin >= vmax:
        vmin = vmax / 10
    norm = mcolors.LogNorm(vmin=vmin, vmax=vmax, clip=True)
    image = np.ma.masked_less_equal(data.T, 0)
    interval = f"{_g(per_col * dt * 1e3, 3)} ms"
    worst = f"; worst of {per_row} CPUs per row" if per_row > 1 else ""
    fig = _figure(*_heat_size(len(rows)))
    ax = fig.add_subplot()
    _heatmap(fig, ax, image, t[0] / 1e9, per_col * dt, (t[0] / 1e9, t[-1] / 1e9), ncpu, per_row, cmap, norm,
             f"drain time, % of the CPU per {interval}\n(log scale{worst}; white: none)")
    cb = ax.images[0].colorbar
    mticker = _require("matplotlib.ticker", "plots")
    cb.ax.yaxis.set_major_locator(mticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    cb.ax.yaxis.set_major_formatter(mticker.FuncFormatter(lambda p, _pos: _g(p)))
    cb.ax.yaxis.set_minor_formatter(mticker.NullFormatter())
    if top <= 0:
        ax.text(0.5, 0.5, "no drain time in this run", transform=ax.transAxes, ha="center", va="center",
                fontsize=12, color="0.4")
    name = _label(result, "results")
    total = v[-1].astype(float) - v[0]
    ax.set_title(f"CPU time spent draining pcp lists: {name} ({ncpu} CPUs; "
                 f"{total.sum() / 1e6:,.2f} CPU-ms in all, busiest CPU {int(np.argmax(total))})"
                 if top > 0 else f"CPU time spent draining pcp lists: {name} ({ncpu} CPUs; no drain time)")
    return fig


# -- CPU time -------------------------------------------------------------------------

def _cpu_time(r: Results) -> dict[str, float]:
    """CPU time by category in CPU-seconds, summed over CPUs; adds up to
    CPUs x simulated time (busy + idle + overhead + drain IPIs)."""
    c = {k: float(np.asarray(v).sum()) for k, v in r.cpus.items()}
    out = {"workload": c["busy_ns"] - c["drain_ns"] - c["work_ns"] - c["reclaim_ns"] - c["alloc_ns"],
           "drain": c["drain_ns"], "irq_drain": c["irq_drain_ns"], "work": c["work_ns"],
           "reclaim": c["reclaim_ns"], "alloc": c["alloc_ns"], "overhead": c["overhead_ns"], "idle": c["idle_ns"]}
    return {k: v / 1e9 for k, v in out.items()}


def cpu_time_bars(results: Mapping[str, Results]) -> Figure:
    """CPU time by category, summed over the CPUs, one stacked bar per entry of
    ``results`` (labelled by its key): left, all of it in CPU-seconds
    (workload = busy time less drain work, other work items, reclaim and pcp
    refill/free; drain work; drain IPIs; other work items; reclaim; pcp
    refill/free; overhead: context switches and wakeups; idle, which includes
    time offline): each bar is CPUs x simulated time. Right, the drain alone
    (drain work and IPIs), which is too small to see on the left, with its total
    above each bar."""
    _check_results(results, "cpu_time_bars")
    times = {label: _cpu_time(r) for label, r in results.items()}
    labels = list(times)
    x = np.arange(len(labels))
    fig = _figure(max(9.0, 4.5 + 1.1 * len(labels)), 5.4)
    ax, ax2 = fig.subplots(1, 2, width_ratios=[3, 2])
    bottom = np.zeros(len(labels))
    for key, (name, color) in _CATEGORIES.items():
        h = np.array([times[label][key] for label in labels])
        ax.bar(x, h, 0.7, bottom=bottom, label=name, color=color, edgecolor="0.35", linewidth=0.5)
        bottom += h
    shapes = {(len(r.cpus["busy_ns"]), r.now) for r in results.values()}
    if len(shapes) == 1:
        ncpu, now = shapes.pop()
        ax.set_title(f"All CPU time ({ncpu} CPUs × {_g(now / 1e9, 3)} s)")
    else:
        ax.set_title("All CPU time (CPUs × simulated time)")
    ax.set_ylabel("CPU time (CPU-seconds)")
    ax.set_ylim(0, bottom.max() * 1.04 if bottom.max() > 0 else 1)

    drain = np.array([times[label]["drain"] + times[label]["irq_drain"] for label in labels])
    unit, scale = ("CPU-s", 1.0) if drain.max() >= 10 else ("CPU-ms", 1e3)
    b2 = np.zeros(len(labels))
    for key in ("drain", "irq_drain"):
        h = np.array([times[label][key] for label in labels]) * scale
        ax2.bar(x, h, 0.7, bottom=b2, color=_CATEGORIES[key][1], edgecolor="0.35", linewidth=0.5)
        b2 += h
    for xi, total in zip(x, b2):
        ax2.annotate(f"{total:,.3g}", (xi, total), xytext=(0, 2), textcoords="offset points", ha="center",
                     va="bottom", fontsize=8.5)
    ax2.set_ylim(0, b2.max() * 1.15 if b2.max() > 0 else 1)
    ax2.set_title("Drain only (work + IPIs)")
    ax2.set_ylabel(f"CPU time ({unit})")
    rotate = len(labels) > 3 or max(map(len, labels)) > 10
    for a in (ax, ax2):
        a.set_xticks(x, labels, rotation=30 if rotate else 0, ha="right" if rotate else "center",
                     rotation_mode="anchor")
        a.set_xlabel("strategy")
        a.grid(True, axis="y", alpha=0.3)
        a.set_axisbelow(True)
    handles, names = ax.get_legend_handles_labels()
    fig.legend(handles[::-1], names[::-1], loc="outside right upper", title="category (top to bottom)",
               fontsize=9, frameon=False)
    fig.suptitle("CPU time by category, summed over CPUs")
    return fig


# -- all of them ---------------------------------------------------------------------

def _filename(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_") or "results"


def save_all(results: Mapping[str, Results], outdir: str | os.PathLike[str]) -> list[Path]:
    """Write the standard figures as PNG into ``outdir`` (created if needed):
    ``drain_ccdf.png``, ``stall_ccdf.png``, ``cpu_time.png`` and, per entry of
    ``results`` (by its key, made safe for a file name),
    ``pcp_heatmap_<key>.png`` and ``interference_<key>.png`` (the heatmaps
    only for results with per-CPU samples). Returns the paths written."""
    _check_results(results, "save_all")
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    figures: list[tuple[str, Any]] = [("drain_ccdf.png", lambda: ccdf(results, "drain")),
                                      ("stall_ccdf.png", lambda: ccdf(results, "stall")),
                                      ("cpu_time.png", lambda: cpu_time_bars(results))]
    for label, r in results.items():
        if len(r.memory.get("cpu_pcp", ())) >= 1:
            figures.append((f"pcp_heatmap_{_filename(label)}.png", lambda r=r: pcp_heatmap(r)))
        if len(r.memory.get("cpu_drain_ns", ())) >= 2:
            figures.append((f"interference_{_filename(label)}.png", lambda r=r: interference_heatmap(r)))
    paths = []
    for name, make in figures:
        fig = make()
        fig.savefig(out / name, dpi=_DPI)
        paths.append(out / name)
    return paths
