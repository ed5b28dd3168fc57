# cython: language_level=3
"""The native engine of pcpsim: the event loop over flat arrays (MODEL.md 1, 9).

``Engine`` owns every piece of state as a numpy array of a C struct (the struct
definitions are in ``_state.pxd``; the dtypes are derived from them, so the two
cannot drift apart). The loop runs without the GIL and without a Python object
or call per event; between calls the arrays are readable as they are.
"""
from cpython.pycapsule cimport PyCapsule_GetPointer
from libc.stdint cimport int32_t, int64_t
from numpy.random cimport bitgen_t

import numpy as np

from pcpsim._state cimport *
from pcpsim._eventq cimport timer_arm, timer_pop
from pcpsim._hist cimport HIST_BUCKETS, HIST_LINEAR, HIST_SUB_BITS, HIST_MAX_EXP
from pcpsim._sched cimport (
    cpu_slot, task_slot, account_stats, enqueue_task, schedule, fair_curr,
    on_tick, on_curr_timer, on_task_wakeup, on_rt_period, on_fair_server,
)
from pcpsim._rng cimport sample_duration

# error codes of the invariant checks (debug builds)
ERRORS = {
    1: "time went backwards",
    2: "a CPU runs a task that is not runnable or belongs to another CPU",
    3: "runqueue counts disagree with the runqueue lists",
    4: "fair load disagrees with the runnable fair tasks",
}


cdef object _struct_dtype(object view):
    return np.asarray(view).dtype


cdef task_t _task0
cdef task_stats_t _tstat0
cdef cpu_t _cpu0
cdef cpu_stats_t _cstat0
cdef heap_entry_t _heap0
cdef hist_stats_t _hstat0

TASK_DTYPE = _struct_dtype(<task_t[:1]> &_task0)
TASK_STATS_DTYPE = _struct_dtype(<task_stats_t[:1]> &_tstat0)
CPU_DTYPE = _struct_dtype(<cpu_t[:1]> &_cpu0)
CPU_STATS_DTYPE = _struct_dtype(<cpu_stats_t[:1]> &_cstat0)
HEAP_DTYPE = _struct_dtype(<heap_entry_t[:1]> &_heap0)
HIST_STATS_DTYPE = _struct_dtype(<hist_stats_t[:1]> &_hstat0)
assert TASK_DTYPE.itemsize == sizeof(task_t)
assert CPU_DTYPE.itemsize == sizeof(cpu_t)
assert HEAP_DTYPE.itemsize == sizeof(heap_entry_t)

HIST_NBUCKETS = HIST_BUCKETS
DEBUG = bool(PCPSIM_DEBUG)
NO_TIME_NS = NO_TIME

# field names of params_t, in order, for building it from a mapping
PARAM_FIELDS = (
    "tick_ns", "context_switch_ns", "wakeup_ns", "fair_class", "run_to_parity",
    "preempt_short", "gentle_sleepers", "sched_latency", "min_granularity",
    "wakeup_granularity", "nr_latency", "rr_ticks", "rt_throttle", "fair_server",
    "rt_runtime", "rt_period", "fs_runtime", "fs_period",
)


def hist_bucket_bounds():
    """Lower bound (ns) of every histogram bucket, and of the overflow region."""
    lo = np.empty(HIST_BUCKETS + 1, dtype=np.int64)
    lo[:HIST_LINEAR] = np.arange(HIST_LINEAR)
    i = HIST_LINEAR
    for e in range(8, HIST_MAX_EXP):
        shift = e - HIST_SUB_BITS
        lo[i:i + 128] = (np.arange(128, 256, dtype=np.int64) << shift)
        i += 128
    lo[i] = 1 << HIST_MAX_EXP
    return lo


cdef int32_t check_invariants(sim_t* s, int64_t last) noexcept nogil:
    """Debug builds: the state after every event is consistent."""
    cdef int32_t c, i, nr, nf
    cdef int64_t load
    cdef cpu_t* cpu
    if s.now < last:
        return 1
    for c in range(s.ncpu):
        cpu = &s.cpus[c]
        if cpu.curr >= 0:
            if s.tasks[cpu.curr].cpu != c or s.tasks[cpu.curr].state != TASK_RUNNABLE:
                if not (s.tasks[cpu.curr].cpu == c and s.tasks[cpu.curr].state == TASK_SLEEPING
                        and s.heap_pos[task_slot(s, cpu.curr)] >= 0):
                    return 2
        nr = 0
        i = cpu.rt_head
        while i >= 0:
            nr += 1
            i = s.tasks[i].rq_next
        nf = 0
        load = 0
        i = cpu.fair_head
        while i >= 0:
            nf += 1
            load += s.tasks[i].weight
            i = s.tasks[i].rq_next
        i = fair_curr(s, cpu)
        if i >= 0:
            nf += 1
            load += s.tasks[i].weight
        if nf != cpu.nr_fair or nr + nf != cpu.nr_running:
            return 3
        if load != cpu.fair_load:
            return 4
    return 0


cdef inline void dispatch(sim_t* s, int32_t slot, int64_t now) noexcept nogil:
    cdef int32_t c, kind, ti
    if slot < s.ncpu * SLOTS_PER_CPU:
        c = slot // SLOTS_PER_CPU
        kind = slot - c * SLOTS_PER_CPU
        s.cstats[c].events += 1
        if kind == SLOT_TICK:
            on_tick(s, c, now)
        elif kind == SLOT_CURR:
            on_curr_timer(s, c, now)
        elif kind == SLOT_RT_PERIOD:
            on_rt_period(s, c, now)
        else:
            on_fair_server(s, c, now)
    else:
        ti = slot - s.ncpu * SLOTS_PER_CPU
        s.cstats[s.tasks[ti].cpu].events += 1
        on_task_wakeup(s, ti, now)


cdef int64_t run_loop(sim_t* s, int64_t until, int64_t max_events) noexcept nogil:
    """Process events up to and including ``until`` (at most ``max_events``)."""
    cdef int64_t n = 0, now, last = s.now
    cdef int32_t slot
    while s.heap_len > 0 and s.heap[0].time <= until and n != max_events:
        now = s.heap[0].time
        slot = timer_pop(s)
        s.now = now
        dispatch(s, slot, now)
        n += 1
        if PCPSIM_DEBUG:
            s.error = check_invariants(s, last)
            last = now
            if s.error:
                break
    s.events += n
    return n


cdef class Engine:
    """The simulation state and its event loop.

    Built from flat arrays by ``pcpsim.simulation.Simulation``; not meant to be
    built by hand. ``arrays`` are the live state: numpy arrays whose memory the
    loop writes, so reading them between calls costs nothing.
    """
    cdef sim_t s
    cdef readonly dict arrays
    cdef readonly dict params
    cdef object bitgen
    cdef readonly bint started

    def __init__(self, dict arrays, dict params, object bitgen, bint started=False,
                 int64_t now=0, int64_t seq=0, int64_t events=0):
        self.arrays = arrays
        self.params = dict(params)
        self.bitgen = bitgen
        self.started = started
        self.s.now = now
        self.s.seq = seq
        self.s.events = events
        self.s.error = 0
        self._bind()

    cdef _bind(self):
        cdef dict a = self.arrays
        self.s.ncpu = <int32_t>len(a["cpus"])
        self.s.ntask = <int32_t>len(a["tasks"])
        self.s.nslot = self.s.ncpu * SLOTS_PER_CPU + self.s.ntask
        for name, dtype, n in (("tasks", TASK_DTYPE, self.s.ntask),
                               ("task_stats", TASK_STATS_DTYPE, self.s.ntask),
                               ("cpus", CPU_DTYPE, self.s.ncpu),
                               ("cpu_stats", CPU_STATS_DTYPE, self.s.ncpu),
                               ("heap", HEAP_DTYPE, self.s.nslot),
                               ("heap_pos", np.dtype(np.int32), self.s.nslot),
                               ("hist_stats", HIST_STATS_DTYPE, -1),
                               ("hist_counts", np.dtype(np.int64), -1)):
            arr = a[name]
            if arr.dtype != dtype or not arr.flags.c_contiguous or not arr.flags.writeable:
                raise ValueError(f"engine array {name!r}: expected a writeable C-contiguous {dtype}")
            if n >= 0 and len(arr) != n:
                raise ValueError(f"engine array {name!r}: expected {n} rows, got {len(arr)}")
        if a["hist_counts"].size != len(a["hist_stats"]) * HIST_BUCKETS:
            raise ValueError("engine array 'hist_counts' does not match 'hist_stats'")
        self.s.tasks = <task_t*><size_t>a["tasks"].ctypes.data
        self.s.tstats = <task_stats_t*><size_t>a["task_stats"].ctypes.data
        self.s.cpus = <cpu_t*><size_t>a["cpus"].ctypes.data
        self.s.cstats = <cpu_stats_t*><size_t>a["cpu_stats"].ctypes.data
        self.s.heap = <heap_entry_t*><size_t>a["heap"].ctypes.data
        self.s.heap_pos = <int32_t*><size_t>a["heap_pos"].ctypes.data
        self.s.hist_stats = <hist_stats_t*><size_t>a["hist_stats"].ctypes.data
        self.s.hist_counts = <int64_t*><size_t>a["hist_counts"].ctypes.data
        self.s.heap_len = <int32_t>np.count_nonzero(a["heap_pos"] >= 0)
        for name in PARAM_FIELDS:
            if name not in self.params:
                raise ValueError(f"engine parameter {name!r} missing")
        p = self.params
        self.s.p.tick_ns = p["tick_ns"]
        self.s.p.context_switch_ns = p["context_switch_ns"]
        self.s.p.wakeup_ns = p["wakeup_ns"]
        self.s.p.fair_class = p["fair_class"]
        self.s.p.run_to_parity = p["run_to_parity"]
        self.s.p.preempt_short = p["preempt_short"]
        self.s.p.gentle_sleepers = p["gentle_sleepers"]
        self.s.p.sched_latency = p["sched_latency"]
        self.s.p.min_granularity = p["min_granularity"]
        self.s.p.wakeup_granularity = p["wakeup_granularity"]
        self.s.p.nr_latency = p["nr_latency"]
        self.s.p.rr_ticks = p["rr_ticks"]
        self.s.p.rt_throttle = p["rt_throttle"]
        self.s.p.fair_server = p["fair_server"]
        self.s.p.rt_runtime = p["rt_runtime"]
        self.s.p.rt_period = p["rt_period"]
        self.s.p.fs_runtime = p["fs_runtime"]
        self.s.p.fs_period = p["fs_period"]
        self.s.rng = <bitgen_t*>PyCapsule_GetPointer(self.bitgen.capsule, "BitGenerator")

    def start(self):
        """Put every task on its runqueue or arm its first release, then pick the
        first task of every CPU (time 0)."""
        cdef sim_t* s = &self.s
        cdef int32_t ti, c
        cdef int64_t cs
        cdef task_t* t
        if self.started:
            return
        self.started = True
        with nogil:
            for ti in range(s.ntask):
                t = &s.tasks[ti]
                t.rq_next = NO_TASK
                t.rq_prev = NO_TASK
                t.rr_left = <int32_t>s.p.rr_ticks
                if t.kind == KIND_PERIODIC:
                    t.release = t.phase
                    t.state = TASK_SLEEPING
                    timer_arm(s, task_slot(s, ti), t.phase)
                else:
                    t.remaining = -1 if t.kind == KIND_HOG else sample_duration(
                        s.rng, t.run_dist, t.run_a, t.run_b)
                    t.wait_start = 0
                    enqueue_task(s, t.cpu, ti, True)
            # the run starts with every CPU already running its first pick:
            # that first switch costs nothing
            cs = s.p.context_switch_ns
            s.p.context_switch_ns = 0
            for c in range(s.ncpu):
                if s.p.fair_server:
                    s.cpus[c].fs_win_end = s.p.fs_period
                schedule(s, c, 0)
            s.p.context_switch_ns = cs

    def run(self, int64_t until, int64_t max_events=-1):
        """Process every event at or before ``until`` ns; return how many."""
        cdef int64_t n
        if until < self.s.now:
            raise ValueError(f"until={until} ns is before the current time {self.s.now} ns")
        self.start()
        with nogil:
            n = run_loop(&self.s, until, max_events)
            if n != max_events and self.s.error == 0:
                self.s.now = until
        self._raise_on_error()
        return n

    def step(self):
        """Process the next event; return its time (ns), or -1 when none is left."""
        self.start()
        if self.s.heap_len == 0:
            return -1
        with nogil:
            run_loop(&self.s, NO_TIME, 1)
        self._raise_on_error()
        return self.s.now

    def peek(self):
        """Time (ns) of the next event, or -1 when none is left."""
        self.start()
        return self.s.heap[0].time if self.s.heap_len > 0 else -1

    def flush(self):
        """Bring the statistics (CPU time, busy/idle, waits) up to ``now``
        without touching any scheduler state."""
        cdef sim_t* s = &self.s
        cdef int32_t c, ti
        with nogil:
            for c in range(s.ncpu):
                account_stats(s, c, s.now)
            for ti in range(s.ntask):
                if (s.tasks[ti].state == TASK_RUNNABLE and s.cpus[s.tasks[ti].cpu].curr != ti
                        and s.now > s.tasks[ti].wait_start):
                    s.tstats[ti].wait_time += s.now - s.tasks[ti].wait_start
                    s.tasks[ti].wait_start = s.now

    def _raise_on_error(self):
        if self.s.error:
            raise RuntimeError(f"engine invariant broken at t={self.s.now} ns: "
                               f"{ERRORS.get(self.s.error, self.s.error)}")

    @property
    def now(self):
        return self.s.now

    @property
    def events(self):
        return self.s.events

    def __reduce__(self):
        arrays = {k: v.copy() for k, v in self.arrays.items()}
        return (Engine, (arrays, self.params, self.bitgen, self.started,
                         self.s.now, self.s.seq, self.s.events))
