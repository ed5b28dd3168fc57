"""pcpsim.plot: every figure function on short phone runs (all strategies) and a
4096-CPU heatmap; the ImportError without matplotlib."""
from __future__ import annotations

import math
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import pcpsim as p
from pcpsim import plot
from pcpsim.config import STRATEGIES
from pcpsim.results import Histogram, Results
from pcpsim.scenarios import phone, server_4096


@pytest.fixture(scope="module")
def mpl() -> Any:
    m = pytest.importorskip("matplotlib")
    m.use("Agg")
    return m


@pytest.fixture(scope="module")
def runs() -> dict[str, Results]:
    """One second of the phone scenario per strategy."""
    out = {}
    for s in STRATEGIES:
        cfg = phone(s)
        cfg.duration = "1s"
        out[s] = p.run(cfg)
    return out


def _render(fig: Any) -> None:
    """Draw on an Agg canvas (what savefig does), to catch layout errors."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    FigureCanvasAgg(fig).draw()


def _curves(fig: Any) -> list[Any]:
    return [line for line in fig.axes[0].get_lines() if not line.get_label().startswith("_")]


# -- CCDF ---------------------------------------------------------------------------

@pytest.mark.parametrize("metric", ["drain", "dispatch", "stall"])
def test_ccdf_one_curve_per_strategy(mpl: Any, runs: Mapping[str, Results], metric: str) -> None:
    from matplotlib.figure import Figure
    fig = plot.ccdf(runs, metric)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_title() and ax.get_xlabel().endswith(("(ms, log scale)", "(µs, log scale)"))
    assert "> x" in ax.get_ylabel()
    lines = _curves(fig)
    assert len(lines) == len(runs)
    assert [line.get_label().split(":")[0] for line in lines] == list(runs)
    assert [t.get_text().split(":")[0] for t in ax.get_legend().get_texts()] == list(runs)
    for line, r in zip(lines, runs.values()):
        h = {"drain": r.drain_latency, "dispatch": r.dispatch_delay, "stall": r.merged(r.alloc_stall)}[metric]
        y, x = np.asarray(line.get_ydata()), np.asarray(line.get_xdata())
        assert h.count > 0
        assert y[0] == 1 and math.isclose(y[-1], 1 / h.count)
        assert np.all(np.diff(y) <= 0) and np.all(np.diff(x) >= 0)
        scale = 1e6 if "(ms" in ax.get_xlabel() else 1e3
        assert math.isclose(x[-1], h.max / scale)
        if h.min > 0:
            assert math.isclose(x[0], h.min / scale)
    _render(fig)


def test_ccdf_stall_spec_and_errors(mpl: Any, runs: Mapping[str, Results]) -> None:
    fig = plot.ccdf(runs, "stall", spec="reclaimer")
    assert "'reclaimer'" in fig.axes[0].get_title()
    for line, r in zip(_curves(fig), runs.values()):
        assert math.isclose(line.get_ydata()[-1], 1 / r.alloc_stall["reclaimer"].count)
    with pytest.raises(ValueError, match="metric"):
        plot.ccdf(runs, "latency")
    with pytest.raises(ValueError, match="spec"):
        plot.ccdf(runs, "drain", spec="reclaimer")
    with pytest.raises(ValueError, match="nope"):
        plot.ccdf(runs, "stall", spec="nope")
    with pytest.raises(ValueError, match="mapping"):
        plot.ccdf({}, "drain")


def test_ccdf_small_values_in_us_and_zeros(mpl: Any, runs: Mapping[str, Results]) -> None:
    """Everything below 1 ms: x in µs; samples of 0 sit at the left edge, labelled 0."""
    r = runs["ipi"]
    small = Results(**{**r.__dict__, "drain_latency": Histogram.from_samples([0, 0, 500, 2_000, 40_000])})
    fig = plot.ccdf({"a": small, "b": r}, "drain")
    ax = fig.axes[0]
    assert "(µs" in ax.get_xlabel()
    a = _curves(fig)[0]
    assert list(a.get_ydata()[:4]) == [1.0, 0.6, 0.4, 0.2] and a.get_ydata()[-1] == 0.2
    assert a.get_xdata()[0] == ax.get_xlim()[0] and a.get_xdata()[-1] == 40.0
    _render(fig)
    assert ax.xaxis.get_major_formatter()(ax.get_xlim()[0], 0) == "0"


def test_ccdf_empty_histograms(mpl: Any, runs: Mapping[str, Results]) -> None:
    r = runs["ipi"]
    empty = Results(**{**r.__dict__, "drain_latency": Histogram.empty()})
    fig = plot.ccdf({"empty": empty, "ipi": r}, "drain")
    lines = _curves(fig)
    assert len(lines) == 2 and "no calls" in lines[0].get_label() and len(lines[0].get_xdata()) == 0
    _render(plot.ccdf({"empty": empty}, "drain"))


# -- heatmaps -------------------------------------------------------------------------

def test_pcp_heatmap(mpl: Any, runs: Mapping[str, Results]) -> None:
    r = runs["workqueue"]
    fig = plot.pcp_heatmap(r)
    ax = fig.axes[0]
    (im,) = ax.get_images()
    assert im.get_array().shape == (8, len(r.memory["time"])) == r.memory["cpu_pcp"].T.shape
    assert np.array_equal(im.get_array(), r.memory["cpu_pcp"].T)
    assert ax.get_xlabel() == "time (s)" and ax.get_ylabel() == "CPU" and "workqueue" in ax.get_title()
    assert "pages" in im.colorbar.ax.get_ylabel()
    assert ax.get_xlim()[1] >= r.now / 1e9
    _render(fig)


def test_interference_heatmap(mpl: Any, runs: Mapping[str, Results]) -> None:
    r = runs["ipi"]
    fig = plot.interference_heatmap(r)
    ax = fig.axes[0]
    (im,) = ax.get_images()
    t, d = r.memory["time"], r.memory["cpu_drain_ns"]
    assert im.get_array().shape == (8, len(t) - 1)
    pct = 100 * np.diff(d, axis=0).T / np.diff(t)
    assert np.allclose(np.ma.filled(im.get_array(), 0), pct)
    label = im.colorbar.ax.get_ylabel()
    assert "% of the CPU" in label and "10 ms" in label
    assert ax.get_xlabel() == "time (s)" and ax.get_ylabel() == "CPU"
    _render(fig)


def test_heatmaps_of_4096_cpus_are_downsampled(mpl: Any) -> None:
    cfg = server_4096("remote")
    cfg.duration = "50ms"
    r = p.run(cfg)
    nsample = len(r.memory["time"])
    assert r.memory["cpu_pcp"].shape == (nsample, 4096)
    rows = 4096 // math.ceil(4096 / plot._MAX_ROWS)
    fig = plot.pcp_heatmap(r)
    (im,) = fig.axes[0].get_images()
    assert im.get_array().shape == (rows, nsample)
    assert np.allclose(im.get_array()[0], r.memory["cpu_pcp"][:, :16].mean(axis=1))    # mean of 16 CPUs
    assert "16 CPUs" in fig.axes[0].get_ylabel()
    _render(fig)
    fig = plot.interference_heatmap(r)
    (im,) = fig.axes[0].get_images()
    assert im.get_array().shape == (rows, nsample - 1)
    _render(fig)


def test_heatmap_time_is_downsampled(mpl: Any, runs: Mapping[str, Results]) -> None:
    """More samples than columns: groups of consecutive samples (mean; the
    interference over the longer interval, exactly)."""
    r = runs["ipi"]
    n = 3 * plot._MAX_COLS
    t = np.arange(n + 1, dtype=np.int64) * 1_000_000
    drain = np.cumsum(np.arange(n + 1) % 7, dtype=np.int64)[:, None] * np.arange(1, 9) * 1000
    mem = {**r.memory, "time": t, "cpu_pcp": np.arange(n + 1)[:, None] * np.ones(8, np.int64),
           "cpu_drain_ns": drain}
    big = Results(**{**r.__dict__, "memory": mem})
    (im,) = plot.pcp_heatmap(big).axes[0].get_images()
    assert im.get_array().shape == (8, math.ceil((n + 1) / 4))
    assert im.get_array()[0, 0] == 1.5                                    # mean of samples 0..3
    (im,) = plot.interference_heatmap(big).axes[0].get_images()
    assert im.get_array().shape == (8, plot._MAX_COLS)
    assert np.allclose(im.get_array()[:, 0], 100 * (drain[3] - drain[0]) / 3e6)


def test_heatmap_errors(mpl: Any, runs: Mapping[str, Results]) -> None:
    r = runs["ipi"]
    bare = Results(**{**r.__dict__, "memory": {k: v for k, v in r.memory.items() if not k.startswith("cpu_")}})
    with pytest.raises(ValueError, match="sample_cpus"):
        plot.pcp_heatmap(bare)
    one = Results(**{**r.__dict__, "memory": {k: v[:1] for k, v in r.memory.items()}})
    plot.pcp_heatmap(one)
    with pytest.raises(ValueError, match="at least 2 samples"):
        plot.interference_heatmap(one)
    with pytest.raises(TypeError):
        plot.pcp_heatmap(runs)                                            # type: ignore[arg-type]


# -- CPU time ---------------------------------------------------------------------------

def test_cpu_time_bars_add_up_to_cpus_times_duration(mpl: Any, runs: Mapping[str, Results]) -> None:
    fig = plot.cpu_time_bars(runs)
    ax, ax2 = fig.axes[:2]
    assert ax.get_ylabel() == "CPU time (CPU-seconds)"
    assert [t.get_text() for t in ax.get_xticklabels()] == list(runs)
    assert len(ax.containers) == 8                                        # categories
    heights = np.array([[bar.get_height() for bar in c] for c in ax.containers])     # (categories, strategies)
    assert np.all(heights >= 0)
    for total, r in zip(heights.sum(axis=0), runs.values()):
        assert total == pytest.approx(8 * r.now / 1e9, rel=0.01)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert {"workload (tasks)", "drain work", "drain IPIs", "idle (or offline)"} <= set(legend)
    drain = np.array([[bar.get_height() for bar in c] for c in ax2.containers]).sum(axis=0)
    cpus = [r.cpus for r in runs.values()]
    assert np.allclose(drain, [(c["drain_ns"].sum() + c["irq_drain_ns"].sum()) / 1e6 for c in cpus])  # CPU-ms
    assert "CPU-ms" in ax2.get_ylabel()
    _render(fig)


# -- save_all ----------------------------------------------------------------------------

def test_save_all_writes_pngs(mpl: Any, runs: Mapping[str, Results], tmp_path: Path) -> None:
    two = {k: runs[k] for k in ("workqueue", "remote")}
    paths = plot.save_all(two, tmp_path / "out")
    names = sorted(path.name for path in paths)
    assert names == sorted(["drain_ccdf.png", "stall_ccdf.png", "cpu_time.png", "pcp_heatmap_workqueue.png",
                            "interference_workqueue.png", "pcp_heatmap_remote.png", "interference_remote.png"])
    for path in paths:
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_figures_in_threads(mpl: Any, runs: Mapping[str, Results]) -> None:
    """No pyplot state: figures can be built and drawn from several threads."""
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            _render(plot.interference_heatmap(runs[name]))
            _render(plot.ccdf({name: runs[name]}))
        except BaseException as e:          # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(s,)) for s in ("ipi", "remote", "kthread")]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert "matplotlib.pyplot" not in sys.modules or not sys.modules["matplotlib.pyplot"].get_fignums()


# -- without matplotlib ------------------------------------------------------------------

def test_import_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without matplotlib, each function says how to install it (importing
    pcpsim.plot itself needs nothing)."""
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    cfg = phone("ipi")
    cfg.duration = "100ms"
    r = p.run(cfg)
    for call in (lambda: plot.ccdf({"ipi": r}), lambda: plot.pcp_heatmap(r), lambda: plot.interference_heatmap(r),
                 lambda: plot.cpu_time_bars({"ipi": r})):
        with pytest.raises(ImportError, match=r'pip install "pcpsim\[plots\]"'):
            call()
