"""The engine's memory layout (issue 6): the structs every event reads are
whole cache lines and their arrays start on one, in one buffer on huge pages,
also after a pickle round trip, so that a task's or a CPU's hot fields share
as few lines (and pages) as they can.
The runqueue aggregates the engine caches (leftmost, avg_vruntime sums) agree
with the tasks they summarise."""
from __future__ import annotations

import mmap
import pickle
import sys

import numpy as np
import pytest

import pcpsim as p
from pcpsim import _core
from pcpsim.scenarios import server_4096


def small_server() -> p.Config:
    cfg = server_4096("workqueue")
    cfg.topology = p.Topology(nodes=2, cpus_per_node=16)
    cfg.tasks[2] = p.periodic(range(0, 32, 16), "1ms", "100us", policy="fifo", prio=50, name="rt-periodic")
    cfg.tasks[3] = p.reclaimer([0, 16], 400_000, 200_000, nice=-10, run=p.Dist("exp", "2ms"),
                               sleep=p.Dist("exp", "20ms"), name="reclaimer")
    cfg.memory = p.Memory(node_mem="1GiB", in_use=0.96)
    cfg.duration = "200ms"
    return cfg


def assert_in_line(names: tuple[str, ...], line: int) -> None:
    """Each field of ``names`` lies wholly in cache line ``line`` of a task row."""
    for name in names:
        dtype, off = _core.TASK_DTYPE.fields[name][:2]
        assert line * 64 <= off and off + dtype.itemsize <= (line + 1) * 64, name


def test_hot_structs_are_whole_cache_lines() -> None:
    for dtype in (_core.TASK_DTYPE, _core.CPU_DTYPE, _core.CPU_STATS_DTYPE):
        assert dtype.itemsize % _core.CACHE_LINE == 0, dtype
    # a runqueue walk reads only the first line of each task
    assert_in_line(("rq_next", "policy", "prio", "weight", "state", "vruntime", "deadline"), 0)
    # and every event's accounting of the current task, and a switch's of the
    # task it stops and the one it starts (its wait, the slice start, the
    # first-run latency), only its second
    assert_in_line(("cat", "sect_kind", "flow_dir", "np_on", "exec_start", "sum_exec", "cpu_time", "remaining",
                    "wait_start", "prev_sum_exec", "first_run_pending"), 1)
    # an allocator's refill and a kworker's work item only its third
    assert_in_line(("sect_left", "flow_ns", "flow_acc", "held", "stall_start", "zone", "flags", "item", "pool",
                    "link"), 2)


def hot_layout(arrays: dict[str, np.ndarray]) -> list[int]:
    """The hot arrays' start addresses, asserting that they follow each other
    in one buffer, each on a cache line."""
    starts = [arrays[name].ctypes.data for name in _core.HOT_ARRAYS]
    for name, start, nxt in zip(_core.HOT_ARRAYS, starts, starts[1:]):
        assert start % _core.CACHE_LINE == 0, name
        assert nxt == start + _core._line_up(arrays[name].nbytes), name
    return starts


def test_hot_arrays_share_one_buffer_on_cache_lines_also_after_a_pickle() -> None:
    sim = p.Simulation(small_server())
    sim.run("50ms")
    back = pickle.loads(pickle.dumps(sim))
    assert hot_layout(back.arrays)[0] != hot_layout(sim.arrays)[0]      # a buffer of its own
    back.run()
    sim.run()
    assert back.results() == sim.results()


def test_pack_hot_keeps_every_value() -> None:
    sim = p.Simulation(small_server())
    sim.run("30ms")
    copies = {name: arr.copy() for name, arr in sim.arrays.items()}
    _core.pack_hot(copies)
    hot_layout(copies)
    for name, arr in sim.arrays.items():
        assert copies[name].dtype == arr.dtype and copies[name].shape == arr.shape, name
        assert copies[name].tobytes() == arr.tobytes(), name


@pytest.mark.skipif(not sys.platform.startswith("linux") or not hasattr(mmap, "MADV_HUGEPAGE"),
                    reason="transparent huge pages are a Linux feature")
def test_large_hot_buffer_is_advised_for_huge_pages() -> None:
    cfg = small_server()
    cfg.topology = p.Topology(nodes=2, cpus_per_node=256)       # a hot buffer of several MiB
    sim = p.Simulation(cfg)
    start = hot_layout(sim.arrays)[0]
    assert start % _core.HUGE_PAGE == 0
    with open("/proc/self/smaps") as f:
        lines = f.read().splitlines()
    for i, line in enumerate(lines):
        lo, _, hi = line.split(" ", 1)[0].partition("-")
        if hi and int(lo, 16) <= start < int(hi, 16):
            flags = next(x for x in lines[i + 1:] if x.startswith("VmFlags:")).split()[1:]
            assert "hg" in flags and "sh" not in flags      # MADV_HUGEPAGE, private (shmem has THP off)
            break
    else:
        raise AssertionError("no mapping holds the hot buffer")


def test_cached_runqueue_aggregates_match_the_tasks() -> None:
    sim = p.Simulation(small_server())
    for t in ("20ms", "90ms", "200ms"):
        sim.run(t)
        cpus, tasks = sim.arrays["cpus"], sim.arrays["tasks"]
        for c in range(len(cpus)):
            queued, i = [], int(cpus["fair_head"][c])
            while i >= 0:
                queued.append(i)
                i = int(tasks["rq_next"][i])
            v = tasks["vruntime"][queued].astype(object)
            w = tasks["weight"][queued].astype(object)
            assert int(cpus["avg_load"][c]) == sum(w)
            assert int(cpus["avg_vsum"][c]) == sum((v - int(cpus["min_vruntime"][c])) * w)
            # the leftmost: smallest vruntime, the first in queue order among equals
            left = min(queued, key=lambda k: (int(tasks["vruntime"][k]), queued.index(k))) if queued else -1
            assert int(cpus["fair_left"][c]) == left
            if left >= 0:
                assert int(cpus["left_vruntime"][c]) == int(tasks["vruntime"][left])
