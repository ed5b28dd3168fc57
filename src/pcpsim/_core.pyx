# cython: language_level=3
"""The native engine of pcpsim: the event loop over flat arrays (MODEL.md 1, 9).

``Engine`` owns every piece of state as a numpy array of a C struct (the struct
definitions are in ``_state.pxd``; the dtypes are derived from them, so the two
cannot drift apart). The loop runs without the GIL and without a Python object
or call per event; between calls the arrays are readable as they are.
"""
from cpython.pycapsule cimport PyCapsule_GetPointer
from libc.stdint cimport int32_t, int64_t, uint64_t
from numpy.random cimport bitgen_t

cdef extern from *:
    void __builtin_prefetch(const void* addr, int rw, int locality) nogil

cdef enum:
    LINE_BYTES = 64     # the struct layouts in _state.pxd are laid out in lines of this size
    RING_AHEAD = 8      # how far ahead in a ring run_loop() prefetches

import mmap

import numpy as np

from pcpsim._state cimport *
from pcpsim._eventq cimport (timer_arm, timer_cancel, next_event, SRC_QUEUE, SRC_TICKS, SRC_NOWQ, ring_pop, ring_ahead,
                             ring_index, queue_pop, entry_slot, _cur_add, __builtin_ctzll, _before, next_bucket_start,
                             bucket_of, CURRENT_SUBS, cur_sub, IN_CURRENT, IN_WHEEL, IN_FAR, BUCKET_NS, WHEEL_SIZE,
                             WHEEL_SPAN, MAX_SLOTS, SEQ_LIMIT)
from pcpsim._hist cimport HIST_BUCKETS, HIST_LINEAR, HIST_SUB_BITS, HIST_MAX_EXP
from pcpsim._sched cimport (
    cpu_slot, cpu_slot_kind, slot_cpu, task_slot, slot_task, account_stats, enqueue_task, schedule, fair_curr,
    scan_leftmost, on_rt_period, on_fair_server,
)
from pcpsim._drain cimport on_ipi, on_pool_timer, POOLS_PER_CPU
from pcpsim._tasks cimport (on_tick, on_curr_timer, on_task_timer, on_workgen, on_vmstat, on_sample,
                            on_hotplug)
from pcpsim._rng cimport sample_duration

# error codes of the invariant checks (debug builds)
ERRORS = {
    1: "time went backwards",
    2: "a CPU runs a task that is not runnable or belongs to another CPU",
    3: "runqueue counts disagree with the runqueue lists",
    4: "fair load disagrees with the runnable fair tasks",
    5: "pages are not conserved in a zone (free + pcp + in use != managed)",
    6: "a page count went negative",
    7: "a zone's pcp total disagrees with its CPUs' pcp counts",
    8: "the fair runqueue's cached leftmost or avg_vruntime sums disagree with its tasks",
    9: "a CPU runs something it should not, with no reschedule pending: a task while offline, or "
       "nothing while it has runnable tasks; or it has its running task queued too",
    10: "a work item is lost, or queued or held in two places",
    11: "a drain call neither finished, skipped nor deadlocked, and nobody is in it or waiting for it",
    12: "the timer queue is out of order or its positions are wrong",
    13: "a task, pool or CPU count went negative",
    14: "a prefetch hint disagrees with the CPU's current task or the task's CPU",
    15: "the simulation has armed as many timers as timer keys can number (about 5.5e11, "
        "hours of simulating): simulate a shorter time or fewer CPUs",
}


cdef object _struct_dtype(object view):
    return np.asarray(view).dtype


cdef task_t _task0
cdef task_counts_t _tcount0
cdef task_stats_t _tstat0
cdef cpu_t _cpu0
cdef cpu_stats_t _cstat0
cdef heap_entry_t _heap0
cdef wheel_link_t _wheel0
cdef hist_stats_t _hstat0
cdef params_t _params0
cdef zone_t _zone0
cdef pool_t _pool0
cdef item_t _item0
cdef source_t _source0
cdef call_t _call0
cdef target_t _target0
cdef drain_t _drain0
cdef counters_t _counters0
cdef trace_t _trace0

TASK_DTYPE = _struct_dtype(<task_t[:1]> &_task0)
TASK_COUNTS_DTYPE = _struct_dtype(<task_counts_t[:1]> &_tcount0)
TASK_STATS_DTYPE = _struct_dtype(<task_stats_t[:1]> &_tstat0)
CPU_DTYPE = _struct_dtype(<cpu_t[:1]> &_cpu0)
CPU_STATS_DTYPE = _struct_dtype(<cpu_stats_t[:1]> &_cstat0)
HEAP_DTYPE = _struct_dtype(<heap_entry_t[:1]> &_heap0)
WHEEL_DTYPE = _struct_dtype(<wheel_link_t[:1]> &_wheel0)
TIMER_WHEEL_SIZE = WHEEL_SIZE
TIMER_BUCKET_NS = BUCKET_NS
TIMER_IN_CURRENT = IN_CURRENT   # heap_pos of a slot due in the wheel's current bucket
TIMER_IN_WHEEL = IN_WHEEL       # heap_pos of a slot on the wheel
TIMER_IN_FAR = IN_FAR           # heap_pos of a slot in the heap beyond the wheel's span
TIMER_MAX_SLOTS = MAX_SLOTS     # timer slots a simulation can have (CPU timers, tasks, 2)
TIMER_SEQ_LIMIT = SEQ_LIMIT     # timers a simulation can arm
HIST_STATS_DTYPE = _struct_dtype(<hist_stats_t[:1]> &_hstat0)
PARAMS_DTYPE = _struct_dtype(<params_t[:1]> &_params0)
ZONE_DTYPE = _struct_dtype(<zone_t[:1]> &_zone0)
POOL_DTYPE = _struct_dtype(<pool_t[:1]> &_pool0)
ITEM_DTYPE = _struct_dtype(<item_t[:1]> &_item0)
SOURCE_DTYPE = _struct_dtype(<source_t[:1]> &_source0)
CALL_DTYPE = _struct_dtype(<call_t[:1]> &_call0)
TARGET_DTYPE = _struct_dtype(<target_t[:1]> &_target0)
DRAIN_DTYPE = _struct_dtype(<drain_t[:1]> &_drain0)
COUNTERS_DTYPE = _struct_dtype(<counters_t[:1]> &_counters0)
TRACE_DTYPE = _struct_dtype(<trace_t[:1]> &_trace0)
TRACE_TYPES = {"switch": TR_SWITCH, "wakeup": TR_WAKEUP, "wq_queue": TR_WQ_QUEUE, "wq_start": TR_WQ_START,
               "wq_end": TR_WQ_END, "ipi_raise": TR_IPI_RAISE, "ipi_entry": TR_IPI_ENTRY,
               "ipi_exit": TR_IPI_EXIT, "pcp_drain": TR_PCP_DRAIN}
ITEM_KINDS = {"drain": ITEM_DRAIN, "vmstat": ITEM_VMSTAT, "generic": ITEM_GENERIC, "mm": ITEM_MM}
assert TASK_DTYPE.itemsize == sizeof(task_t)
assert CPU_DTYPE.itemsize == sizeof(cpu_t)
assert HEAP_DTYPE.itemsize == sizeof(heap_entry_t)
assert PARAMS_DTYPE.itemsize == sizeof(params_t)
assert ZONE_DTYPE.itemsize == sizeof(zone_t)
assert ITEM_DTYPE.itemsize == sizeof(item_t)
assert SOURCE_DTYPE.itemsize == sizeof(source_t)
SLOTS = SLOTS_PER_CPU
POOLS = POOLS_PER_CPU
STRATEGIES = {"ipi": STRAT_IPI, "workqueue": STRAT_WQ, "workqueue_highpri": STRAT_WQ_HIGHPRI,
              "kthread": STRAT_KTHREAD, "kthread_rfc_v1": STRAT_KTHREAD_V1, "remote": STRAT_REMOTE}
KINDS = {"hog": KIND_HOG, "periodic": KIND_PERIODIC, "bursty": KIND_BURSTY, "allocator": KIND_ALLOCATOR,
         "kworker": KIND_KWORKER, "kthread": KIND_KTHREAD, "kswapd": KIND_KSWAPD, "extdrain": KIND_EXTDRAIN,
         "cpuhp": KIND_CPUHP, "rescuer": KIND_RESCUER}
TASK_FLAGS = {"reclaim": TF_RECLAIM, "force": TF_FORCE, "created": TF_CREATED}

HIST_NBUCKETS = HIST_BUCKETS
DEBUG = bool(PCPSIM_DEBUG)
NO_TIME_NS = NO_TIME

def hist_bucket_bounds():
    """Lower bound (ns) of every histogram bucket, and of the overflow region."""
    lo = np.empty(HIST_BUCKETS + 1, dtype=np.int64)
    lo[:HIST_LINEAR] = np.arange(HIST_LINEAR)
    i = HIST_LINEAR
    for e in range(8, HIST_MAX_EXP):
        shift = e - HIST_SUB_BITS
        lo[i:i + 128] = (np.arange(128, 256, dtype=np.int64) << shift)
        i += 128
    lo[i] = (<int64_t>1) << HIST_MAX_EXP
    return lo


cdef bint heap_broken(sim_t* s, heap_t* h, int32_t where) noexcept nogil:
    """Is ``h`` out of heap order, or is one of its entries not its slot's
    armed timer (``heap_pos`` saying ``where``, ``wheel`` its time and key)?"""
    cdef int32_t i, slot
    for i in range(h.len):
        slot = entry_slot(&h.e[i])
        if (s.heap_pos[slot] != where or s.wheel[slot].key != h.e[i].key or s.wheel[slot].time != h.e[i].time
                or (i > 0 and _before(&h.e[i], &h.e[(i - 1) >> 1]))):
            return True
    return False


cdef bint current_broken(sim_t* s) noexcept nogil:
    """Is a sub-bucket of the current bucket out of (time, key) order, a list
    inconsistent, or a timer in the wrong sub-bucket or not marked there?"""
    cdef int32_t b, k, prev, n = 0
    for b in range(CURRENT_SUBS):
        k = s.cur_head[b]
        if (k >= 0) != ((s.cur_bits >> b) & 1):
            return True
        prev = -1
        while k >= 0:
            if (s.heap_pos[k] != IN_CURRENT or s.wheel[k].prev != prev
                    or s.wheel[k].time - s.wheel_start >= BUCKET_NS or cur_sub(s, s.wheel[k].time) != b
                    or (prev >= 0 and not _before(<heap_entry_t*>&s.wheel[prev], <heap_entry_t*>&s.wheel[k]))):
                return True
            n += 1
            if n > s.cur_len:
                return True
            prev = k
            k = s.wheel[k].next
        if s.cur_head[b] >= 0 and s.cur_tail[b] != prev:
            return True
    if s.cur_len > 0:
        k = s.cur_head[__builtin_ctzll(s.cur_bits)]
        if s.cur_top.time != s.wheel[k].time or s.cur_top.key != s.wheel[k].key:
            return True
    return n != s.cur_len


cdef bint queue_broken(sim_t* s) noexcept nogil:
    """The timer queue's structure (_eventq.pxd): the current bucket's lists
    and the far heap in order, every wheel bucket a consistent list of the
    slots due in it, each part holding the timers of its distance from the
    wheel's start and no other."""
    cdef int32_t b, k, prev, n = 0
    cdef int64_t ahead
    if current_broken(s) or heap_broken(s, &s.far, IN_FAR) or s.wheel_start % BUCKET_NS != 0:
        return True
    for k in range(s.far.len):
        if s.far.e[k].time - s.wheel_start < WHEEL_SPAN:
            return True
    for b in range(WHEEL_SIZE):
        k = s.wheel_head[b]
        if (k >= 0) != ((s.wheel_bits[b >> 6] >> (b & 63)) & 1):
            return True
        prev = -1
        while k >= 0:
            ahead = s.wheel[k].time - s.wheel_start
            if (s.heap_pos[k] != IN_WHEEL or (prev >= 0 and s.wheel[k].prev != prev)
                    or ahead < BUCKET_NS or ahead >= WHEEL_SPAN or bucket_of(s.wheel[k].time) != b):
                return True
            n += 1
            if n > s.wheel_len:
                return True
            prev = k
            k = s.wheel[k].next
        if prev >= 0 and s.wheel[s.wheel_head[b]].prev != prev:
            return True
    if n != s.wheel_len:
        return True
    if s.wheel_next >= 0 and (s.wheel_len == 0 or s.wheel_next != next_bucket_start(s)):
        return True
    n += s.cur_len + s.far.len
    for k in range(s.nslot):
        if s.heap_pos[k] != -1:
            n -= 1
    return n != 0


cdef int32_t check_bookkeeping(sim_t* s) noexcept nogil:
    """Work items, drain calls, the timer queue and the counts: the part of
    check_invariants that Engine.check_bookkeeping() also offers any build."""
    cdef int32_t i, k, ti
    cdef bint waited
    if queue_broken(s):
        return 12
    # every work item: free, on one pool's worklist or in one worker's hands
    # (the per-CPU drain and vmstat items, the first 2 * ncpu, may be idle)
    k = s.item_free
    while k >= 0:
        s.items[k]._mark += 1
        k = s.items[k].next
    for i in range(s.ncpu * POOLS_PER_CPU):
        if s.pools[i].nr_running < 0 or s.pools[i].nr_items < 0:
            return 13
        k = s.pools[i].head
        while k >= 0:
            s.items[k]._mark += 1
            k = s.items[k].next
    for ti in range(s.ntask):
        if s.tasks[ti].held < 0:
            return 13
        if s.tasks[ti].item >= 0:
            s.items[s.tasks[ti].item]._mark += 1
    k = 0
    for i in range(s.nitem):
        if s.items[i]._mark > 1 or (i >= 2 * s.ncpu and s.items[i]._mark != 1):
            k = 1
        s.items[i]._mark = 0
    if k:
        return 10
    # every drain call ended, was skipped, deadlocked, or is the one in
    # progress, or one a task waits to start (pcpu_drain_mutex)
    for i in range(s.ncall):
        if s.calls[i].end >= 0 or s.calls[i].skipped or s.calls[i].deadlock or i == s.drain.call:
            continue
        waited = False
        for ti in range(s.ntask):
            if s.tasks[ti].wait_call == i:
                waited = True
                break
        if not waited:
            return 11
    return 0


cdef int32_t check_invariants(sim_t* s, int64_t last) noexcept nogil:
    """Debug builds: the state after every event is consistent."""
    cdef int32_t c, i, nr, nf
    cdef int64_t load, vsum
    cdef cpu_t* cpu
    cdef heap_entry_t* e = next_event(s, NULL)
    if s.now < last or (e != NULL and e.time < s.now):
        return 1
    for i in range(1, s.ticks.len):
        if s.ticks.e[ring_index(&s.ticks, i)].time < s.ticks.e[ring_index(&s.ticks, i - 1)].time:
            return 1
    for c in range(s.ncpu):
        if s.curr_hint[c] != s.cpus[c].curr or s.head_hint[c] != s.cpus[c].fair_head:
            return 14
    for i in range(s.ntask):
        if s.cpu_hint[i] != s.tasks[i].cpu:
            return 14
    for c in range(s.ncpu):
        cpu = &s.cpus[c]
        if cpu.nr_running < 0 or cpu.nr_fair < 0:
            return 13
        # a CPU going offline stops its task, and an idle CPU with a woken
        # task runs it, at the reschedule that is then pending
        if not cpu.need_resched and ((cpu.curr >= 0 and not cpu.online)
                                     or (cpu.curr < 0 and cpu.online and cpu.nr_running > 0)):
            return 9
        if cpu.curr >= 0:
            if s.tasks[cpu.curr].cpu != c or s.tasks[cpu.curr].state != TASK_RUNNABLE:
                if not (s.tasks[cpu.curr].cpu == c and s.tasks[cpu.curr].state == TASK_SLEEPING
                        and s.heap_pos[task_slot(s, cpu.curr)] != -1):
                    return 2
        nr = 0
        i = cpu.rt_head
        while i >= 0:
            nr += 1
            i = s.tasks[i].rq_next
        nf = 0
        load = 0
        vsum = 0
        i = cpu.fair_head
        while i >= 0:
            if i == cpu.curr:
                return 9
            nf += 1
            load += s.tasks[i].weight
            vsum += (s.tasks[i].vruntime - cpu.min_vruntime) * s.tasks[i].weight
            i = s.tasks[i].rq_next
        if cpu.fair_left != scan_leftmost(s, cpu) or cpu.avg_load != load or cpu.avg_vsum != vsum or (
                cpu.fair_left >= 0 and cpu.left_vruntime != s.tasks[cpu.fair_left].vruntime):
            return 8
        i = fair_curr(s, cpu)
        if i >= 0:
            nf += 1
            load += s.tasks[i].weight
        if nf != cpu.nr_fair or nr + nf != cpu.nr_running:
            return 3
        if load != cpu.fair_load:
            return 4
        if cpu.pcp_count < 0:
            return 6
    for i in range(s.nzone):
        if s.zones[i].free < 0 or s.zones[i].in_use < 0 or s.zones[i].pcp_pages < 0:
            return 6
        if s.zones[i].free + s.zones[i].pcp_pages + s.zones[i].in_use != s.zones[i].managed:
            return 5
        load = 0
        for c in range(s.zones[i].first_cpu, s.zones[i].first_cpu + s.zones[i].ncpu):
            load += s.cpus[c].pcp_count
        if load != s.zones[i].pcp_pages:
            return 7
    return check_bookkeeping(s)


cdef inline void dispatch(sim_t* s, int32_t slot, int64_t now) noexcept nogil:
    cdef int32_t c, kind, ti
    if slot < s.ncpu:
        # SLOT_CURR, the CPU's number (cpu_slot()): most events, decoded first
        s.cstats[slot].events += 1
        on_curr_timer(s, slot, now)
    elif slot < s.ncpu * SLOTS_PER_CPU:
        kind = cpu_slot_kind(s, slot)
        c = slot_cpu(s, slot)
        s.cstats[c].events += 1
        if kind == SLOT_RT_PERIOD:
            on_rt_period(s, c, now)
        elif kind == SLOT_FAIR_SERVER:
            on_fair_server(s, c, now)
        elif kind == SLOT_IPI:
            on_ipi(s, c, now)
        elif kind == SLOT_WORKGEN:
            on_workgen(s, c, now)
        elif kind == SLOT_VMSTAT:
            on_vmstat(s, c, now)
        else:
            on_pool_timer(s, c, now)
    elif slot < s.nslot - 2:
        ti = slot_task(s, slot)
        s.cstats[s.tasks[ti].cpu].events += 1
        on_task_timer(s, ti, now)
    elif slot == s.nslot - 2:
        on_hotplug(s, slot, now)
    else:
        on_sample(s, slot, now)


cdef int64_t run_loop(sim_t* s, int64_t until, int64_t max_events) noexcept nogil:
    """Process events up to and including ``until`` (at most ``max_events``)."""
    cdef int64_t n = 0, now, last = s.now
    cdef int32_t slot, c, next_slot, ti, src, curr
    cdef heap_entry_t* e
    cdef cpu_t* cpu
    while n != max_events:
        e = next_event(s, &src)
        if e == NULL or e.time > until:
            break
        now = e.time
        if now < s.now:
            s.error = 1         # checked in every build: one comparison per event
            break
        if s.seq >= SEQ_LIMIT:
            s.error = 15        # checked in every build: timer keys would overflow
            break
        s.now = now
        # Start loading what a coming event will touch while this one runs:
        # its CPU's runqueue, accounting and statistics lines and the three
        # hot lines of its task (a task timer) or of the CPU's current task.
        # For a timer-queue event (SRC_QUEUE), the queue's next timer: these
        # (pcp boundaries, burst ends, wakeups) hit CPUs in no order, so at
        # thousands of CPUs their first touches wait for lines from beyond
        # the L2, and one event ahead most are there in time; also the head
        # of that CPU's fair queue, which the pick after a block and the
        # preemption check of a wakeup walk (pick_eevdf()). For a tick or a
        # reschedule, the ring's entry RING_AHEAD on: the rings sweep the CPUs
        # in order, but the tasks they run are anywhere. The hints give the
        # CPU's current task and queue head and the task's CPU from a small
        # array in the cache (read from the rows themselves, that load
        # missed and held the loop up). Measured with compare_builds.py in
        # benchmarks/README.md. Not a function: gcc deletes calls of a
        # function whose only effect is a prefetch.
        if src == SRC_QUEUE:
            slot = queue_pop(s)
            next_slot = entry_slot(&s.cur_top) if s.cur_len > 0 else -1
        elif src == SRC_TICKS:
            slot = ring_pop(&s.ticks, e)
            next_slot = ring_ahead(&s.ticks, RING_AHEAD)
        else:
            slot = ring_pop(&s.nowq, e)
            next_slot = ring_ahead(&s.nowq, RING_AHEAD)
        # (a tick ring's slot is its CPU, which is also the number of that
        # CPU's SLOT_CURR timer: no decoding needed)
        c = ti = -1
        if next_slot < 0:
            pass
        elif src == SRC_TICKS:
            c = next_slot
            ti = s.curr_hint[c]
        elif next_slot < s.ncpu * SLOTS_PER_CPU:
            c = slot_cpu(s, next_slot)
            ti = s.curr_hint[c]
        elif slot_task(s, next_slot) < s.ntask:
            ti = slot_task(s, next_slot)
            c = s.cpu_hint[ti]
            # a wakeup accounts the CPU's current task first (update_curr())
            curr = s.curr_hint[c]
            if curr >= 0:
                __builtin_prefetch(&s.tasks[curr], 1, 3)
                __builtin_prefetch(<char*>&s.tasks[curr] + LINE_BYTES, 1, 3)
        if c >= 0:
            __builtin_prefetch(&s.cpus[c], 1, 3)
            __builtin_prefetch(<char*>&s.cpus[c] + LINE_BYTES, 1, 3)
            __builtin_prefetch(&s.cstats[c], 1, 3)
            if src == SRC_QUEUE and s.head_hint[c] >= 0:
                __builtin_prefetch(&s.tasks[s.head_hint[c]], 0, 3)
        if ti >= 0:
            __builtin_prefetch(&s.tasks[ti], 1, 3)
            __builtin_prefetch(<char*>&s.tasks[ti] + LINE_BYTES, 1, 3)
            __builtin_prefetch(<char*>&s.tasks[ti] + 2 * LINE_BYTES, 1, 3)
            __builtin_prefetch(&s.tcounts[ti], 1, 3)
        if src == SRC_NOWQ:
            # a reschedule picks from the CPU's queued tasks: half as far
            # ahead, the CPU's line is in and names them. The head and the
            # tail are the whole queue for 95 % of server-4096's CPUs (curr
            # and two queued); the pick walks their first lines, the switch
            # to the one picked reads its second line and its counters.
            next_slot = ring_ahead(&s.nowq, RING_AHEAD // 2)
            if 0 <= next_slot < s.ncpu:     # a SLOT_CURR timer
                cpu = &s.cpus[next_slot]
                if cpu.fair_head >= 0:
                    __builtin_prefetch(&s.tasks[cpu.fair_head], 0, 3)
                    __builtin_prefetch(<char*>&s.tasks[cpu.fair_head] + LINE_BYTES, 1, 3)
                    __builtin_prefetch(&s.tcounts[cpu.fair_head], 1, 3)
                    if cpu.fair_tail != cpu.fair_head:
                        __builtin_prefetch(&s.tasks[cpu.fair_tail], 0, 3)
                        __builtin_prefetch(<char*>&s.tasks[cpu.fair_tail] + LINE_BYTES, 1, 3)
                        __builtin_prefetch(&s.tcounts[cpu.fair_tail], 1, 3)
        if src == SRC_TICKS:
            s.cstats[slot].events += 1
            on_tick(s, slot, now)
        else:
            dispatch(s, slot, now)
        n += 1
        if PCPSIM_DEBUG:
            s.error = check_invariants(s, last)
            last = now
            if s.error:
                break
    s.events += n
    return n


# engine arrays: name -> (dtype, rows: "task", "cpu", "slot" or None for any)
ARRAY_SPECS = {
    "tasks": (TASK_DTYPE, "task"),
    "task_counts": (TASK_COUNTS_DTYPE, "task"),
    "task_stats": (TASK_STATS_DTYPE, "task"),
    "cpus": (CPU_DTYPE, "cpu"),
    "cpu_stats": (CPU_STATS_DTYPE, "cpu"),
    "far": (HEAP_DTYPE, "slot"),
    "heap_pos": (np.dtype(np.int32), "slot"),
    "wheel": (WHEEL_DTYPE, "slot"),
    "wheel_head": (np.dtype(np.int32), "bucket"),
    "wheel_bits": (np.dtype(np.uint64), "bucket_word"),
    "hist_stats": (HIST_STATS_DTYPE, None),
    "hist_counts": (np.dtype(np.int64), None),
    "zones": (ZONE_DTYPE, None),
    "pools": (POOL_DTYPE, None),
    "items": (ITEM_DTYPE, None),
    "sources": (SOURCE_DTYPE, None),
    "source_next": (np.dtype(np.int64), None),
    "calls": (CALL_DTYPE, None),
    "targets": (TARGET_DTYPE, None),
    "target_cpus": (np.dtype(np.int32), "cpu"),
    "target_recs": (np.dtype(np.int32), "cpu"),
    "samples": (np.dtype(np.int64), None),
    "cpu_samples": (np.dtype(np.int64), None),
    "hotplug": (np.dtype(np.int64), None),
    "tickq": (HEAP_DTYPE, None),
    "trace": (TRACE_DTYPE, None),
    "tick_live": (np.dtype(np.int64), "cpu"),
    "nowq": (HEAP_DTYPE, None),
    "now_live": (np.dtype(np.int64), "slot"),
    "drain": (DRAIN_DTYPE, None),
    "counters": (COUNTERS_DTYPE, None),
    "params": (PARAMS_DTYPE, None),
}

cdef void* _ptr(object arr):
    return <void*><size_t>arr.ctypes.data


CACHE_LINE = LINE_BYTES
HUGE_PAGE = 2 << 20
# the arrays events read and write, packed together by pack_hot()
HOT_ARRAYS = ("tasks", "task_counts", "task_stats", "cpus", "cpu_stats", "far", "heap_pos", "wheel",
              "wheel_head", "wheel_bits", "tickq", "tick_live", "nowq", "now_live", "pools", "zones", "items",
              "sources", "source_next", "hist_stats", "target_cpus", "target_recs", "params", "drain", "counters")


def _line_up(Py_ssize_t n):
    return -(-n // CACHE_LINE) * CACHE_LINE


def _hot_buffer(Py_ssize_t size):
    """A zeroed uint8 array of at least ``size`` bytes whose start is 2 MiB
    aligned and advised for transparent huge pages (Linux, from 2 MiB on),
    else on a cache line."""
    if size >= HUGE_PAGE and hasattr(mmap, "MAP_PRIVATE") and hasattr(mmap, "MADV_HUGEPAGE"):
        # private anonymous memory: a shared mapping would be shmem, whose
        # huge pages are off by default
        buf = mmap.mmap(-1, size + HUGE_PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        buf.madvise(mmap.MADV_HUGEPAGE)
        raw = np.frombuffer(buf, dtype=np.uint8)
        align = HUGE_PAGE
    else:
        raw = np.zeros(size + CACHE_LINE, dtype=np.uint8)
        align = CACHE_LINE
    return raw[(-raw.ctypes.data) % align:]


def pack_hot(dict arrays):
    """Move the ``HOT_ARRAYS`` of ``arrays`` (in place in the dict) into one
    buffer, each array on a cache line (the struct sizes are whole lines, so a
    CPU's or a task's hot fields share as few lines as they can), the buffer on
    transparent huge pages where the kernel has them. At thousands of CPUs
    consecutive events touch different CPUs' rows: spread over a dozen arrays
    on 4 KiB pages, most of those touches also missed the TLB (on a VM, a walk
    of two page tables). Measured: 0.94-1.00x the time of server-4096 (in
    turns, benchmarks/compare_builds.py), up to a fifth less at 2048 CPUs."""
    cdef Py_ssize_t off = 0
    raw = _hot_buffer(sum(_line_up(arrays[name].nbytes) for name in HOT_ARRAYS))
    for name in HOT_ARRAYS:
        arr = arrays[name]
        out = raw[off:off + arr.nbytes].view(arr.dtype).reshape(arr.shape)
        out[...] = arr
        arrays[name] = out
        off += _line_up(arr.nbytes)


cdef _bind_ring(ring_t* ring, dict a, str entries, str live, Py_ssize_t least):
    if len(a[entries]) < least:
        raise ValueError(f"engine array {entries!r} is too small")
    ring.e = <heap_entry_t*>_ptr(a[entries])
    ring.live = <int64_t*>_ptr(a[live])
    ring.cap = <int32_t>len(a[entries])


cdef class Engine:
    """The simulation state and its event loop.

    Built from flat arrays by ``pcpsim.simulation.Simulation``; not meant to be
    built by hand. ``arrays`` are the live state: numpy arrays whose memory the
    loop writes, so reading them between calls costs nothing.
    """
    cdef sim_t s
    cdef readonly dict arrays
    cdef object bitgen
    cdef object hints          # curr_hint, cpu_hint, head_hint (see sim_t): derived, not saved
    cdef readonly bint started

    def __init__(self, dict arrays, object bitgen, bint started=False):
        self.arrays = arrays
        self.bitgen = bitgen
        self.started = started
        self.s.error = 0
        self._bind()

    cdef _bind(self):
        cdef dict a = self.arrays
        cdef int32_t ncpu = <int32_t>len(a["cpus"])
        cdef int32_t ntask = <int32_t>len(a["tasks"])
        rows = {"task": ntask, "cpu": ncpu, "slot": ncpu * SLOTS_PER_CPU + ntask + 2, "bucket": WHEEL_SIZE,
                "bucket_word": WHEEL_SIZE // 64}
        if rows["slot"] > MAX_SLOTS:
            raise ValueError(f"engine arrays: {ncpu} CPUs and {ntask} tasks need {rows['slot']} timer slots, "
                             f"at most {MAX_SLOTS} fit a timer key")
        for name, (dtype, kind) in ARRAY_SPECS.items():
            arr = a.get(name)
            if arr is None or arr.dtype != dtype or not arr.flags.c_contiguous or not arr.flags.writeable:
                raise ValueError(f"engine array {name!r}: expected a writeable C-contiguous {dtype}")
            if kind is not None and len(arr) != rows[kind]:
                raise ValueError(f"engine array {name!r}: expected {rows[kind]} rows, got {len(arr)}")
        pack_hot(a)
        if a["hist_counts"].size != len(a["hist_stats"]) * HIST_BUCKETS:
            raise ValueError("engine array 'hist_counts' does not match 'hist_stats'")
        if len(a["params"]) != 1 or len(a["drain"]) != 1 or len(a["counters"]) != 1 \
                or len(a["pools"]) != ncpu * POOLS_PER_CPU:
            raise ValueError("engine arrays 'params', 'drain', 'counters' or 'pools' have the wrong size")
        self.s.ncpu = ncpu
        self.s.ntask = ntask
        self.s.nslot = rows["slot"]
        self.s.nzone = <int32_t>len(a["zones"])
        self.s.nitem = <int32_t>len(a["items"])
        self.s.call_cap = <int32_t>len(a["calls"])
        self.s.target_cap = <int32_t>len(a["targets"])
        self.s.sample_cap = <int32_t>(a["samples"].size // (1 + 2 * self.s.nzone))
        self.s.p = (<params_t*>_ptr(a["params"]))[0]
        if self.s.nitem < 2 * ncpu or len(a["sources"]) != ncpu * self.s.p.nsources \
                or len(a["source_next"]) != len(a["sources"]):
            raise ValueError("engine arrays 'items', 'sources' or 'source_next' have the wrong size")
        self.s.tasks = <task_t*>_ptr(a["tasks"])
        self.s.tcounts = <task_counts_t*>_ptr(a["task_counts"])
        self.s.tstats = <task_stats_t*>_ptr(a["task_stats"])
        self.s.cpus = <cpu_t*>_ptr(a["cpus"])
        self.s.cstats = <cpu_stats_t*>_ptr(a["cpu_stats"])
        self.s.far.e = <heap_entry_t*>_ptr(a["far"])
        self.s.heap_pos = <int32_t*>_ptr(a["heap_pos"])
        self.s.wheel = <wheel_link_t*>_ptr(a["wheel"])
        self.s.wheel_head = <int32_t*>_ptr(a["wheel_head"])
        self.s.wheel_bits = <uint64_t*>_ptr(a["wheel_bits"])
        self.s.hist_stats = <hist_stats_t*>_ptr(a["hist_stats"])
        self.s.hist_counts = <int64_t*>_ptr(a["hist_counts"])
        self.s.zones = <zone_t*>_ptr(a["zones"])
        self.s.pools = <pool_t*>_ptr(a["pools"])
        self.s.items = <item_t*>_ptr(a["items"])
        self.s.sources = <source_t*>_ptr(a["sources"])
        self.s.source_next = <int64_t*>_ptr(a["source_next"])
        self.s.calls = <call_t*>_ptr(a["calls"])
        self.s.targets = <target_t*>_ptr(a["targets"])
        self.s.target_cpus = <int32_t*>_ptr(a["target_cpus"])
        self.s.target_recs = <int32_t*>_ptr(a["target_recs"])
        self.s.samples = <int64_t*>_ptr(a["samples"])
        if a["cpu_samples"].size not in (0, self.s.sample_cap * 2 * ncpu):
            raise ValueError("engine array 'cpu_samples' does not match 'samples'")
        self.s.cpu_samples = <int64_t*>_ptr(a["cpu_samples"]) if a["cpu_samples"].size else NULL
        self.s.hotplug = <int64_t*>_ptr(a["hotplug"])
        self.s.trace = <trace_t*>_ptr(a["trace"])
        self.s.trace_cap = len(a["trace"])
        _bind_ring(&self.s.ticks, a, "tickq", "tick_live", ncpu + 1)
        _bind_ring(&self.s.nowq, a, "nowq", "now_live", rows["slot"] + 1)
        self.s.nhotplug = <int32_t>(len(a["hotplug"]) // 3)
        self.s.drain = (<drain_t*>_ptr(a["drain"]))[0]
        cdef counters_t* k = <counters_t*>_ptr(a["counters"])
        self.s.now, self.s.seq, self.s.events = k.now, k.seq, k.events
        self.s.calls_dropped, self.s.targets_dropped = k.calls_dropped, k.targets_dropped
        self.s.items_dropped, self.s.item_free = k.items_dropped, k.item_free
        self.s.ncall, self.s.ntarget_rec, self.s.nsample = k.ncall, k.ntarget_rec, k.nsample
        self.s.hotplug_next, self.s.deadlocks = k.hotplug_next, k.deadlocks
        self.s.ntrace, self.s.trace_dropped = k.ntrace, k.trace_dropped
        self.s.ticks.head, self.s.ticks.len = k.ticks_head, k.ticks_len
        self.s.nowq.head, self.s.nowq.len = k.nowq_head, k.nowq_len
        pos = a["heap_pos"]
        self.s.cur_len = 0
        self.s.cur_bits = 0
        for j in range(CURRENT_SUBS):
            self.s.cur_head[j] = -1
            self.s.cur_tail[j] = -1
        self.s.wheel_start = k.wheel_start
        # the current bucket's lists, derived: its timers in (time, key)
        # order, so that each goes to its list's tail
        cur = np.flatnonzero(pos == IN_CURRENT)
        if np.any(a["wheel"]["time"][cur] - k.wheel_start >= BUCKET_NS):
            raise ValueError("engine arrays 'heap_pos' and 'wheel': a timer marked in the current bucket "
                             "is due after it")
        for j in cur[np.lexsort((a["wheel"]["key"][cur], a["wheel"]["time"][cur]))].tolist():
            _cur_add(&self.s, <int32_t>j)
        self.s.far.len = <int32_t>np.count_nonzero(pos == IN_FAR)
        self.s.wheel_len = <int32_t>np.count_nonzero(pos == IN_WHEEL)
        self.s.wheel_next = -1
        self.s.rng = <bitgen_t*>PyCapsule_GetPointer(self.bitgen.capsule, "BitGenerator")
        self.hints = np.concatenate([a["cpus"]["curr"], a["tasks"]["cpu"],
                                     a["cpus"]["fair_head"]]).astype(np.int32)
        self.s.curr_hint = <int32_t*>_ptr(self.hints)
        self.s.cpu_hint = self.s.curr_hint + ncpu
        self.s.head_hint = self.s.cpu_hint + self.s.ntask

    def start(self):
        """Time 0: put every task on its runqueue or to sleep with its first
        timer, arm the per-CPU timers, then pick the first task of every CPU."""
        cdef sim_t* s = &self.s
        cdef int32_t ti, c, k
        cdef int64_t cs, first
        cdef task_t* t
        cdef pool_t* pool
        cdef source_t* src
        if self.started:
            return
        self.started = True
        with nogil:
            for ti in range(s.ntask):
                t = &s.tasks[ti]
                t.rq_next = NO_TASK
                t.rq_prev = NO_TASK
                t.link = NO_TASK
                t.item = -1
                t.stall_start = -1
                t.rr_left = <int32_t>s.p.rr_ticks
                t.np_on = t.np_len > 0
                if t.kind == KIND_PERIODIC or t.kind == KIND_EXTDRAIN:
                    t.release = t.phase
                    t.state = TASK_SLEEPING
                    timer_arm(s, task_slot(s, ti), t.phase)
                elif t.kind == KIND_KWORKER or t.kind == KIND_KTHREAD:
                    t.state = TASK_SLEEPING         # idle, on its pool's idle list once created
                    pool = &s.pools[t.pool]
                    if t.kind == KIND_KTHREAD or (t.flags & TF_CREATED):
                        t.link = pool.idle
                        pool.idle = ti
                elif t.kind == KIND_KSWAPD or t.kind == KIND_CPUHP or t.kind == KIND_RESCUER:
                    t.state = TASK_SLEEPING
                else:
                    t.remaining = -1 if t.run_dist < 0 else sample_duration(
                        s.rng, t.run_dist, t.run_a, t.run_b)
                    t.wait_start = 0
                    enqueue_task(s, t.cpu, ti, True)
            for c in range(s.ncpu):
                if s.p.vmstat_ns > 0:
                    timer_arm(s, cpu_slot(s, c, SLOT_VMSTAT), 1000000000)
                first = NO_TIME
                for k in range(s.p.nsources):
                    src = &s.sources[c * s.p.nsources + k]
                    if src.rate <= 0:
                        s.source_next[c * s.p.nsources + k] = NO_TIME
                    elif src.interval > 0:
                        s.source_next[c * s.p.nsources + k] = src.start
                    else:
                        s.source_next[c * s.p.nsources + k] = src.start + sample_duration(
                            s.rng, DIST_EXP, 1e9 / src.rate, 0.0)
                    if s.source_next[c * s.p.nsources + k] < first:
                        first = s.source_next[c * s.p.nsources + k]
                if first != NO_TIME:
                    timer_arm(s, cpu_slot(s, c, SLOT_WORKGEN), first)
            if s.p.sample_ns > 0 and s.sample_cap > 0:
                timer_arm(s, s.nslot - 1, 0)
            if s.nhotplug > 0:
                timer_arm(s, s.nslot - 2, s.hotplug[0])
            # the run starts with every CPU already running its first pick:
            # that first switch costs nothing
            cs = s.p.context_switch_ns
            s.p.context_switch_ns = 0
            for c in range(s.ncpu):
                if s.p.fair_server:
                    s.cpus[c].fs_win_end = s.p.fs_period
                schedule(s, c, 0)
            s.p.context_switch_ns = cs
        self._sync()

    cdef _sync(self):
        # scalars live in sim_t while the loop runs; keep their arrays current
        cdef counters_t* k = <counters_t*>_ptr(self.arrays["counters"])
        (<drain_t*>_ptr(self.arrays["drain"]))[0] = self.s.drain
        k.now, k.seq, k.events = self.s.now, self.s.seq, self.s.events
        k.calls_dropped, k.targets_dropped = self.s.calls_dropped, self.s.targets_dropped
        k.items_dropped, k.item_free = self.s.items_dropped, self.s.item_free
        k.ncall, k.ntarget_rec, k.nsample = self.s.ncall, self.s.ntarget_rec, self.s.nsample
        k.hotplug_next, k.deadlocks = self.s.hotplug_next, self.s.deadlocks
        k.ntrace, k.trace_dropped = self.s.ntrace, self.s.trace_dropped
        k.ticks_head, k.ticks_len = self.s.ticks.head, self.s.ticks.len
        k.nowq_head, k.nowq_len = self.s.nowq.head, self.s.nowq.len
        k.wheel_start = self.s.wheel_start

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
        self._sync()
        self._raise_on_error()
        return n

    def step(self):
        """Process the next event; return its time (ns), or -1 when none is left."""
        self.start()
        if next_event(&self.s, NULL) == NULL:
            return -1
        with nogil:
            run_loop(&self.s, NO_TIME, 1)
        self._sync()
        self._raise_on_error()
        return self.s.now

    def check_bookkeeping(self):
        """The broken bookkeeping invariant's message (work items, drain calls,
        the timer queue, counts), or None: what the debug build checks after
        every event, here on demand in any build."""
        cdef int32_t err
        with nogil:
            err = check_bookkeeping(&self.s)
        return ERRORS[err] if err else None

    def peek(self):
        """Time (ns) of the next event, or -1 when none is left."""
        self.start()
        e = next_event(&self.s, NULL)
        return e.time if e != NULL else -1

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
                    s.tcounts[ti].wait_time += s.now - s.tasks[ti].wait_start
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
        self._sync()
        arrays = {k: v.copy() for k, v in self.arrays.items()}
        return (Engine, (arrays, self.bitgen, self.started))
