"""Results I/O: save/load (npz, Parquet), pickle, pandas tables, histogram
exports (buckets, HdrHistogram text, cyclictest's --histogram layout) and
histogram percentiles against numpy."""
from __future__ import annotations

import importlib.util
import pickle
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import pcpsim as p
from pcpsim.results import BUCKET_LOWER, HIST_GROUPS, TABLES, Histogram, Results
from pcpsim.scenarios import phone


@pytest.fixture(scope="module")
def res() -> Results:
    """A short phone run (periodic tasks, allocators, drains, hotplug)."""
    cfg = phone("workqueue")
    cfg.duration = "300ms"
    return p.run(cfg)


@pytest.fixture(scope="module")
def res2() -> Results:
    """Two nodes (two zones) with the kthread strategy."""
    cfg = phone("kthread")
    cfg.topology = p.Topology(nodes=2, cpus_per_node=4)
    cfg.duration = "200ms"
    return p.run(cfg)


def assert_identical(a: Results, b: Results) -> None:
    """Every table array equal in dtype and values, every histogram, every scalar, the config."""
    for t in TABLES:
        ta, tb = getattr(a, t), getattr(b, t)
        assert list(ta) == list(tb), t
        for k in ta:
            assert ta[k].dtype == tb[k].dtype and ta[k].shape == tb[k].shape, (t, k)
            assert np.array_equal(ta[k], tb[k]), (t, k)
    for g in HIST_GROUPS:
        ha, hb = getattr(a, g), getattr(b, g)
        if isinstance(ha, dict):
            assert list(ha) == list(hb) and all(type(x) is type(y) for x, y in zip(ha, hb)), g
            pairs = [(ha[k], hb[k]) for k in ha]
        else:
            pairs = [(ha, hb)]
        for x, y in pairs:
            assert x.counts.dtype == y.counts.dtype and np.array_equal(x.counts, y.counts)
            assert (x.count, x.total, x.min, x.max, x.overflow) == (y.count, y.total, y.min, y.max, y.overflow)
    assert (a.now, a.events, a.task_names, a.dropped, a.deadlocks, a.strategy) == \
        (b.now, b.events, b.task_names, b.dropped, b.deadlocks, b.strategy)
    assert type(b.now) is int and type(b.strategy) is str and all(type(n) is str for n in b.task_names)
    assert a.config == b.config
    assert a == b


# -------------------------------------------------------------- save / load / pickle
def test_npz_round_trip_is_exact(res: Results, res2: Results, tmp_path: Path) -> None:
    assert res.calls["start"].size and res.targets["start"].size and res.wakeup_latency and res.alloc_stall
    for r, name in ((res, "a.npz"), (res2, "b.results")):
        path = tmp_path / name
        r.save(path)
        assert path.is_file()                       # exactly there: no ".npz" appended
        back = Results.load(path)
        assert_identical(r, back)
        assert back.summary() == r.summary()
    back = Results.load(tmp_path / "b.results")
    assert back.memory["free"].shape[1] == 2 and back.config.topology.nodes == 2


def test_parquet_round_trip_is_exact(res: Results, res2: Results, tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    for r, name in ((res, "a.parquet"), (res2, "b.parquet")):
        path = tmp_path / name
        r.save(path)
        assert path.is_dir() and (path / "tasks.parquet").is_file() and (path / "meta.json").is_file()
        assert_identical(r, Results.load(path))
        assert_identical(r, Results.load(str(path)))


def test_round_trip_of_empty_and_hand_made_results(tmp_path: Path) -> None:
    r = Results(now=5, events=1, tasks={"cpu": np.zeros(0, np.int32)}, cpus={"busy_ns": np.zeros(2)}, task_names=[],
                wakeup_latency={3: Histogram.from_samples([1, 2, 2**41])}, strategy="")
    names = ["e.npz"] + (["e.parquet"] if importlib.util.find_spec("pyarrow") else [])
    for name in names:
        r.save(tmp_path / name)
        assert_identical(r, Results.load(tmp_path / name))
        assert Results.load(tmp_path / name).config is None
    r.config = "not a Config"
    with pytest.raises(TypeError, match="only a pcpsim.Config"):
        r.save(tmp_path / "f.npz")
    assert not (tmp_path / "f.npz").exists()


def test_pickle_round_trip_is_exact_and_cheap(res: Results) -> None:
    data = pickle.dumps(res, protocol=pickle.HIGHEST_PROTOCOL)
    assert_identical(res, pickle.loads(data))
    hists = [h for g in ("wakeup_latency", "response_time", "alloc_stall") for h in getattr(res, g).values()]
    hists += [res.drain_latency, res.dispatch_delay]
    nbytes = sum(v.nbytes for t in TABLES for v in getattr(res, t).values())
    nbytes += sum(16 * np.count_nonzero(h.counts) for h in hists)       # histograms go sparse
    assert len(data) < nbytes + 32 * 1024           # the arrays and little else


def test_equality_sees_dtype_and_value_changes(res: Results) -> None:
    other = pickle.loads(pickle.dumps(res))
    other.cpus["busy_ns"] = other.cpus["busy_ns"].astype(np.int32)
    assert other != res
    other = pickle.loads(pickle.dumps(res))
    other.drain_latency.counts[0] += 1
    assert other != res
    other = pickle.loads(pickle.dumps(res))
    other.config.seed += 1
    assert other != res


# -------------------------------------------------------------- pandas
def test_to_pandas_every_table(res: Results, res2: Results) -> None:
    pytest.importorskip("pandas")
    for r in (res, res2):
        for t in TABLES:
            df = r.to_pandas(t)
            table = getattr(r, t)
            assert len(df) == len(next(iter(table.values())))
            assert not any(c.startswith("_") for c in df.columns)
        tasks = r.to_pandas("tasks")
        assert list(tasks["name"]) == r.task_names and tasks.columns[0] == "name"
        assert np.array_equal(tasks["cpu_time"].to_numpy(), r.tasks["cpu_time"])
        mem = r.to_pandas("memory")
        nz = r.memory["free"].shape[1]
        nc = r.memory["cpu_pcp"].shape[1]
        assert list(mem.columns) == (["time"] + [f"free_z{z}" for z in range(nz)] + [f"pcp_z{z}" for z in range(nz)]
                                     + [f"cpu_pcp_cpu{c}" for c in range(nc)]
                                     + [f"cpu_drain_ns_cpu{c}" for c in range(nc)])
        assert np.array_equal(mem[f"pcp_z{nz - 1}"].to_numpy(), r.memory["pcp"][:, nz - 1])
        assert np.array_equal(mem[f"cpu_pcp_cpu{nc - 1}"].to_numpy(), r.memory["cpu_pcp"][:, nc - 1])
    assert res2.memory["free"].shape[1] == 2
    with pytest.raises(ValueError, match="tasks, cpus"):
        res.to_pandas("task")


def test_missing_pandas_names_the_extra(res: Results, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=re.escape('pip install "pcpsim[pandas]"')):
        res.to_pandas("cpus")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ImportError, match=re.escape('pip install "pcpsim[parquet]"')):
        res.save(tmp_path / "x.parquet")


# -------------------------------------------------------------- histograms
def samples(seed: int) -> np.ndarray:
    """Latency-like samples from 0 to ~1e11 ns (many exact small values, long tails)."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.integers(0, 300, 500), rng.lognormal(10, 3, 3000).astype(np.int64),
                           rng.integers(2**38, 2**40 - 1, 5)])


@pytest.mark.parametrize("seed", range(5))
def test_percentiles_match_numpy_inverted_cdf(seed: int) -> None:
    x = samples(seed)
    rng = np.random.default_rng(seed + 100)
    for n in (1, 2, 7, 100, len(x)):
        sub = rng.choice(x, n, replace=False)
        h = Histogram.from_samples(sub)
        for q in (0, 0.1, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 100, 33.333):
            exact = float(np.percentile(sub, q, method="inverted_cdf"))
            got = h.percentile(q)
            tol = 0.0 if exact < 256 else exact / 128      # values < 256 ns exact, buckets <= 1/128 wide
            assert abs(got - exact) <= tol, (n, q, got, exact)
    h = Histogram.from_samples(x)
    assert h.percentiles()["max"] == x.max() and h.percentile(100) == x.max() and h.percentile(0) == x.min()


def test_from_samples_is_exact_where_it_can_be() -> None:
    x = np.append(samples(1), [2**40, 2**41, -5])
    h = Histogram.from_samples(x)
    clipped = np.maximum(x, 0)
    assert (h.count, h.total, h.min, h.max) == (len(x), int(clipped.sum()), 0, 2**41)
    assert h.overflow == 2 and h.counts.sum() + h.overflow == h.count
    assert h.mean == clipped.sum() / len(x)
    # every sample lies in its bucket
    b = np.searchsorted(BUCKET_LOWER, clipped[clipped < 2**40], side="right") - 1
    assert np.all(BUCKET_LOWER[b] <= clipped[clipped < 2**40]) and np.all(clipped[clipped < 2**40] < BUCKET_LOWER[b + 1])
    assert np.all(np.diff(BUCKET_LOWER) > 0) and BUCKET_LOWER[-1] == 2**40
    assert Histogram.from_samples([]) == Histogram.empty()
    a, c = Histogram.from_samples(x[:100]), Histogram.from_samples(x[100:])
    assert a.merge(c) == h


def test_to_buckets_lists_the_non_empty_ones() -> None:
    x = np.append(samples(2), [2**40 + 7])
    h = Histogram.from_samples(x)
    b = h.to_buckets()
    assert set(b) == {"lower_ns", "upper_ns", "count"} and all(v.dtype == np.int64 for v in b.values())
    assert b["count"].sum() == h.count and np.all(b["count"] > 0) and np.all(b["lower_ns"] < b["upper_ns"])
    for lo, hi, n in zip(b["lower_ns"], b["upper_ns"], b["count"]):
        assert ((x >= lo) & (x < hi)).sum() == n
    assert b["lower_ns"][-1] == 2**40 and b["upper_ns"][-1] == 2**40 + 8
    assert Histogram.empty().to_buckets()["count"].size == 0


def test_linear_counts_exact_below_2us() -> None:
    x = np.random.default_rng(3).integers(0, 2048, 5000)
    h = Histogram.from_samples(x)
    assert np.array_equal(h.linear_counts(1000, 3), np.append(np.bincount(x // 1000, minlength=3), 0))
    assert np.array_equal(h.linear_counts(1, 256)[:256], np.bincount(x[x < 256], minlength=256))
    assert h.linear_counts(1000, 1)[1] == (x >= 1000).sum()


HDR_LINE = re.compile(r"^ *\d+\.\d\d \d\.\d{12} +\d+( +\d+\.\d\d)?$")   # %12.2f %2.12f %10d %14.2f


@pytest.mark.parametrize("unit", ["ns", "us", "ms"])
def test_hdr_text(unit: str) -> None:
    x = samples(4)
    h = Histogram.from_samples(x)
    scale = {"ns": 1, "us": 1e3, "ms": 1e6}[unit]
    lines = h.to_hdr_text(unit).splitlines()
    assert lines[0] == "       Value     Percentile TotalCount 1/(1-Percentile)" and lines[1] == ""
    body, footer = lines[2:-3], lines[-3:]
    assert all(HDR_LINE.match(line) for line in body), body[:3]
    assert all(line.index(".") >= 9 and line[12] == " " for line in body if float(line.split()[0]) < 1e8)
    rows = [line.split() for line in body]
    pct = [float(r[1]) for r in rows]
    totals = [int(r[2]) for r in rows]
    assert pct[0] == 0 and pct[-1] == 1.0 and pct == sorted(pct) and totals == sorted(totals)
    assert totals[-1] == h.count and len(rows[-1]) == 3          # the 100 % line has no 1/(1-p)
    assert pct[1:6] == [0.1, 0.2, 0.3, 0.4, 0.5] and pct[6] == 0.55  # HdrHistogram's ticks (5 per half)
    for (value, p_, total) in ((float(r[0]), float(r[1]), int(r[2])) for r in rows):
        assert total >= p_ * h.count - 1e-6
        # the value is the highest in its bucket (clamped to the max): exactly `total` samples at or below
        if unit == "ns":
            assert (x <= value).sum() == total
        else:
            assert abs(value - np.sort(x)[total - 1] / scale) <= max(0.01, np.sort(x)[total - 1] / scale / 128)
    assert footer[0].startswith("#[Mean    = ") and f"{h.mean / scale:.2f}" in footer[0]
    assert footer[1] == f"#[Max     = {h.max / scale:12.2f}, Total count    = {h.count:12d}]"
    assert footer[2] == "#[Buckets =           33, SubBuckets     =          256]"
    assert Histogram.empty().to_hdr_text().count("\n") == 5
    with pytest.raises(ValueError, match="unit"):
        h.to_hdr_text("minutes")
    with pytest.raises(ValueError, match="ticks_per_half_distance"):
        h.to_hdr_text(unit, 0)
    coarse = [line.split() for line in h.to_hdr_text(unit, 1).splitlines()[2:-3]]
    assert [float(r[1]) for r in coarse[:4]] == [0.0, 0.5, 0.75, 0.875]     # one tick per half distance


# -------------------------------------------------------------- cyclictest
def parse_cyclictest(text: str) -> tuple[np.ndarray, dict[str, list[int]]]:
    """(bins x columns counts, summary lines) of cyclictest --histogram output."""
    lines = text.splitlines()
    assert lines[0] == "# Histogram"
    rows, summary = [], {}
    for line in lines[1:]:
        if line.startswith("# "):
            label, values = line[2:].split(":")
            summary[label] = [int(v) for v in values.split()]
            assert all(re.fullmatch(r"\d{5,}", v) for v in values.split())
        else:
            assert re.fullmatch(r"\d{6} \d{6}(\t\d{6})*", line), line
            bucket, *counts = line.replace("\t", " ").split()
            assert int(bucket) == len(rows)
            rows.append([int(c) for c in counts])
    assert list(summary) == ["Total", "Min Latencies", "Avg Latencies", "Max Latencies", "Histogram Overflows"]
    return np.array(rows), summary


def test_cyclictest_layout_parses_back(res: Results) -> None:
    ids = sorted(res.wakeup_latency)
    hs = [res.wakeup_latency[i] for i in ids]
    assert len(hs) == 2 and all(h.count for h in hs)
    for buckets in (5, 100):
        rows, s = parse_cyclictest(res.cyclictest_histogram(buckets=buckets))
        assert rows.shape == (buckets, len(hs))
        for col, h in enumerate(hs):
            lin = h.linear_counts(1000, buckets)
            assert np.array_equal(rows[:, col], lin[:buckets])
            assert s["Histogram Overflows"][col] == lin[buckets]
            assert s["Total"][col] == rows[:, col].sum() and s["Total"][col] + lin[buckets] == h.count
            assert s["Min Latencies"][col] == h.min // 1000 and s["Max Latencies"][col] == h.max // 1000
            assert s["Avg Latencies"][col] == int(h.mean // 1000)
    rows, s = parse_cyclictest(res.cyclictest_histogram(buckets=50, histofall=True))
    assert rows.shape == (50, 3) and np.array_equal(rows[:, 2], rows[:, 0] + rows[:, 1])
    assert len(s["Total"]) == len(s["Max Latencies"]) == len(s["Histogram Overflows"]) == 3
    assert len(s["Min Latencies"]) == len(s["Avg Latencies"]) == 2
    assert s["Max Latencies"][2] == max(s["Max Latencies"][:2])
    rows, _ = parse_cyclictest(res.cyclictest_histogram(unit="ns", buckets=20_000, name="rt-periodic"))
    assert rows.shape == (20_000, 2)
    with pytest.raises(ValueError, match="no periodic task called 'hog'"):
        res.cyclictest_histogram(name="hog")


def test_cyclictest_counts_every_sample_in_its_microsecond() -> None:
    """Samples at bucket lower bounds fall in exactly one 1-us bin: the layout's
    counts must be np.bincount(samples // 1000), overflows those >= the limit."""
    rng = np.random.default_rng(7)
    cols = [rng.choice(BUCKET_LOWER[:-1][BUCKET_LOWER[:-1] < 3_000_000], 2000) for _ in range(3)]
    cols[1] = np.append(cols[1], [2**41, 999_999_999])                  # and overflows
    r = Results(now=0, events=0, tasks={}, cpus={}, task_names=["rt", "other", "rt"],
                wakeup_latency={i: Histogram.from_samples(c) for i, c in enumerate(cols)})
    limit = 1500
    rows, s = parse_cyclictest(r.cyclictest_histogram(buckets=limit))
    for col, x in enumerate(cols):
        assert np.array_equal(rows[:, col], np.bincount(x[x < limit * 1000] // 1000, minlength=limit))
        assert s["Histogram Overflows"][col] == (x >= limit * 1000).sum()
        assert s["Min Latencies"][col] == x.min() // 1000 and s["Max Latencies"][col] == x.max() // 1000
        assert s["Avg Latencies"][col] == x.sum() // (len(x) * 1000)
    rows, _ = parse_cyclictest(r.cyclictest_histogram(buckets=limit, name="rt"))
    assert rows.shape == (limit, 2)
    with pytest.raises(ValueError, match="no periodic task"):
        Results(now=0, events=0, tasks={}, cpus={}, task_names=[]).cyclictest_histogram()
    with pytest.raises(ValueError, match="buckets"):
        r.cyclictest_histogram(buckets=0)


def test_summary_is_plain_data_with_the_seed_and_config() -> None:
    import json

    cfg = phone("remote")
    cfg.duration, cfg.seed = "100ms", 42
    r = p.run(cfg)
    s = r.summary()
    assert s["seed"] == 42 and s["config"]["seed"] == 42
    assert s["config"]["drain"]["strategy"] == "remote" and s["strategy"] == "remote"
    assert json.loads(json.dumps(s)) == s
    # without the config, the same figures
    assert r.summary(with_config=False) == {**s, "config": None}
