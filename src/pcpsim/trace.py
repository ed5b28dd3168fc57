"""Export a run's trace as ftrace text (the systrace layout that Perfetto's UI
and trace processor load): per-CPU ``sched_switch`` and ``sched_wakeup``
tracks with the kernel's task names, workqueue and IPI events, and a pcp
drain event.

Tracing is off unless the Simulation was built with ``trace=N`` (a buffer of N
records); a full buffer drops the rest and the export says how many.

    sim = pcpsim.Simulation(config, trace=1_000_000)
    sim.run()
    pcpsim.trace.write_ftrace(sim, "run.trace")        # open in ui.perfetto.dev
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pcpsim import _core
from pcpsim.profiles import weight_to_nice
from pcpsim.simulation import Simulation

_T = _core.TRACE_TYPES
_ITEM = {v: k for k, v in _core.ITEM_KINDS.items()}
_FUNCTION = {"drain": "drain_local_pages_wq", "vmstat": "vmstat_update", "generic": "system_wq_work",
             "mm": "lru_add_drain_per_cpu"}
_HEADER = """# tracer: nop
#
# entries-in-buffer/entries-written: {n}/{written}   #P:{ncpu}
#
#                                _-----=> irqs-off
#                               / _----=> need-resched
#                              | / _---=> hardirq/softirq
#                              || / _--=> preempt-depth
#                              ||| /     delay
#           TASK-PID     CPU#  ||||   TIMESTAMP  FUNCTION
#              | |         |   ||||      |         |
"""


def records(sim: Simulation) -> np.ndarray:
    """The trace records so far (a structured array: time, cpu, type, a, b, c),
    in time order (stable: records of one instant keep their order)."""
    n = int(sim.arrays["counters"]["ntrace"][0])
    recs = sim.arrays["trace"][:n]
    return recs[np.argsort(recs["time"], kind="stable")]


def dropped(sim: Simulation) -> int:
    """Records the full buffer could not keep."""
    return int(sim.arrays["counters"]["trace_dropped"][0])


def _task_fields(sim: Simulation) -> tuple[list[str], np.ndarray]:
    """comm (no spaces, as the kernel's) and the kernel's prio of every task."""
    ts = sim.arrays["tasks"]
    comm = [name.replace(" ", "_") for name in sim.task_names()]
    nice = weight_to_nice(ts["weight"])
    prio = np.where(ts["policy"] == 0, 120 + nice, 99 - ts["prio"])
    return comm, prio


def to_ftrace(sim: Simulation, start_ns: int | None = None, end_ns: int | None = None) -> str:
    """The trace (or the window [start_ns, end_ns]) as ftrace text."""
    recs = records(sim)
    ncpu = len(sim.arrays["cpus"])
    comm, prio = _task_fields(sim)
    # what runs on each CPU at every record: replay the switches from the start
    curr = np.full(ncpu, -1)
    lines = []

    def who(task: int, cpu: int) -> tuple[str, int]:
        return (f"swapper/{cpu}", 0) if task < 0 else (comm[task], task + 1)

    for r in recs:
        t, cpu, kind, a, b, c = (int(r["time"]), int(r["cpu"]), int(r["type"]), int(r["a"]),
                                 int(r["b"]), int(r["c"]))
        running = int(curr[cpu])
        if kind == _T["switch"]:
            curr[cpu] = b
        if (start_ns is not None and t < start_ns) or (end_ns is not None and t > end_ns):
            continue
        name, pid = who(running, cpu)
        if kind == _T["switch"]:
            pn, pp = who(a, cpu)
            nn, np_ = who(b, cpu)
            event = (f"sched_switch: prev_comm={pn} prev_pid={pp} prev_prio={prio[a] if a >= 0 else 120} "
                     f"prev_state={'R' if c else 'S'} ==> next_comm={nn} next_pid={np_} "
                     f"next_prio={prio[b] if b >= 0 else 120}")
        elif kind == _T["wakeup"]:
            event = f"sched_wakeup: comm={comm[a]} pid={a + 1} prio={prio[a]} target_cpu={cpu:03d}"
        elif kind in (_T["wq_queue"], _T["wq_start"], _T["wq_end"]):
            item = a if kind == _T["wq_queue"] else b
            fn = _FUNCTION[_ITEM[c]]
            work = f"{0xffff000000000000 + item * 64:016x}"
            if kind == _T["wq_queue"]:
                wq = "mm_percpu_wq" if _ITEM[c] != "generic" else "events"
                event = f"workqueue_queue_work: work struct={work} function={fn} workqueue={wq} req_cpu={cpu} cpu={cpu}"
            else:
                what = "workqueue_execute_start" if kind == _T["wq_start"] else "workqueue_execute_end"
                event = f"{what}: work struct {work}: function {fn}"
        elif kind == _T["ipi_raise"]:
            event = f"ipi_raise: target_mask={1 << a:016x} (Function call interrupts)"
        elif kind in (_T["ipi_entry"], _T["ipi_exit"]):
            event = f"{'ipi_entry' if kind == _T['ipi_entry'] else 'ipi_exit'}: (Function call interrupts)"
        else:
            event = f"mm_pcp_drain: cpu={c} pages={b}"
        flags = "d..2" if kind in (_T["switch"], _T["pcp_drain"], _T["ipi_entry"], _T["ipi_exit"]) else "...."
        lines.append(f"{name:>16}-{pid:<7} [{cpu:03d}] {flags} {t // 1_000_000_000:5d}."
                     f"{t % 1_000_000_000:09d}: {event}")
    lost = dropped(sim)
    header = _HEADER.format(n=len(lines), written=len(recs) + lost, ncpu=ncpu)
    if lost:
        header += f"# truncated: the trace buffer was full; {lost} records were dropped\n"
    return header + "\n".join(lines) + "\n"


def write_ftrace(sim: Simulation, path: str | Path, start_ns: int | None = None,
                 end_ns: int | None = None) -> Path:
    """Write :func:`to_ftrace` to ``path``; return it."""
    path = Path(path)
    path.write_text(to_ftrace(sim, start_ns, end_ns))
    return path
