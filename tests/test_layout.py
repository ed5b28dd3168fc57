"""The engine's memory layout (issue 6): the structs every event reads are
whole cache lines and their arrays start on one, also after a pickle round
trip, so that a task's or a CPU's hot fields share as few lines as they can.
The runqueue aggregates the engine caches (leftmost, avg_vruntime sums) agree
with the tasks they summarise."""
from __future__ import annotations

import pickle

import numpy as np

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


def test_hot_structs_are_whole_cache_lines() -> None:
    for dtype in (_core.TASK_DTYPE, _core.CPU_DTYPE, _core.CPU_STATS_DTYPE):
        assert dtype.itemsize % _core.CACHE_LINE == 0, dtype
    # a runqueue walk reads only the first line of each task
    for name in ("rq_next", "policy", "prio", "weight", "state", "vruntime", "deadline"):
        assert _core.TASK_DTYPE.fields[name][1] + _core.TASK_DTYPE.fields[name][0].itemsize <= 64, name
    # and every event's accounting of the current task only its second
    for name in ("cat", "sect_kind", "exec_start", "sum_exec", "cpu_time", "remaining"):
        off = _core.TASK_DTYPE.fields[name][1]
        assert 64 <= off and off + _core.TASK_DTYPE.fields[name][0].itemsize <= 128, name


def test_hot_arrays_start_on_a_cache_line_also_after_a_pickle() -> None:
    sim = p.Simulation(small_server())
    sim.run("50ms")
    back = pickle.loads(pickle.dumps(sim))
    for s in (sim, back):
        for name in _core.ALIGNED_ARRAYS:
            assert s.arrays[name].ctypes.data % _core.CACHE_LINE == 0, name
    back.run()
    sim.run()
    assert back.results() == sim.results()


def test_aligned_copies_only_when_needed() -> None:
    buf = np.zeros(1000 * _core.CPU_DTYPE.itemsize + 64, dtype=np.uint8)
    off = (-buf.ctypes.data) % 64 + 16                      # deliberately 16 bytes off a line
    arr = buf[off:off + 999 * _core.CPU_DTYPE.itemsize].view(_core.CPU_DTYPE)
    arr["curr"] = np.arange(999)
    out = _core.aligned(arr)
    assert out.ctypes.data % 64 == 0 and out.dtype == arr.dtype and np.array_equal(out, arr)
    assert _core.aligned(out) is out


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
