# cython: language_level=3
"""The per-CPU scheduler (MODEL.md 4): RT (FIFO, RR), fair (CFS or EEVDF), idle.

Each function names the kernel function it stands for. Tasks never migrate, so
every runqueue is a short intrusive list over ``task_t`` and picks scan it; the
kernel's red-black tree order (equal keys go right) is kept by appending.

Time is accounted exactly at every event (``update_curr``); the tick only drives
the tick-time checks. Overhead (context switch, wakeup) is serialised per CPU in
``cpu.ovh_until``: the current task makes no progress until it has passed.
"""
from libc.stdint cimport int32_t, int64_t
from pcpsim._state cimport *
from pcpsim._eventq cimport timer_arm, timer_cancel, timer_armed, timer_when, tick_arm, tick_armed, tick_cancel
from pcpsim._fixed cimport calc_delta_fair, div_weight
from pcpsim._hist cimport hist_record
from pcpsim._mm cimport flow_pages, flow_boundary_ns
from pcpsim._trace cimport trace


cdef inline int32_t cpu_slot(sim_t* s, int32_t c, int32_t kind) noexcept nogil:
    """CPU ``c``'s timer of kind ``kind``. Slots are numbered kind by kind, so
    that the timers one kind of event sweeps across the CPUs (SLOT_CURR at every
    tick instant) are adjacent: their queue state (heap_pos, now_live) is 12
    bytes per CPU in the sweep, not a cache line."""
    return kind * s.ncpu + c


cdef inline int32_t cpu_slot_kind(sim_t* s, int32_t slot) noexcept nogil:
    """The kind of CPU timer ``slot`` (< ncpu * SLOTS_PER_CPU)."""
    return SLOT_CURR if slot < s.ncpu else slot // s.ncpu


cdef inline int32_t slot_cpu(sim_t* s, int32_t slot) noexcept nogil:
    """The CPU of CPU timer ``slot``: cpu_slot()'s inverse."""
    return slot - cpu_slot_kind(s, slot) * s.ncpu


cdef inline int32_t task_slot(sim_t* s, int32_t ti) noexcept nogil:
    return s.ncpu * SLOTS_PER_CPU + ti


cdef inline int32_t slot_task(sim_t* s, int32_t slot) noexcept nogil:
    """task_slot()'s inverse for a slot past the CPU timers (ntask and on: the
    hotplug and sampling timers)."""
    return slot - s.ncpu * SLOTS_PER_CPU


cdef inline bint is_fair(task_t* t) noexcept nogil:
    return t.policy == POLICY_NORMAL


cdef inline int64_t prio_key(task_t* t) noexcept nogil:
    """Higher is more important: RT by priority above every fair weight."""
    return (<int64_t>1 << 40) + t.prio if t.policy != POLICY_NORMAL else t.weight


cdef inline void timer_set(sim_t* s, int32_t slot, int64_t when) noexcept nogil:
    """Arm ``slot`` unless it is already armed for that very time (keeps its order)."""
    if not (timer_armed(s, slot) and timer_when(s, slot) == when):
        timer_arm(s, slot, when)


# ---------------------------------------------------------------- accounting

cdef inline void account_stats(sim_t* s, int32_t c, int64_t now) noexcept nogil:
    """CPU-time statistics up to ``now``; touches no scheduler state, so it can
    run at any time (between steps) without changing what happens next."""
    cdef cpu_t* cpu = &s.cpus[c]
    cdef cpu_stats_t* st = &s.cstats[c]
    cdef int64_t d
    cdef int32_t cat
    if now <= cpu.acct_stamp:
        return
    d = now - cpu.acct_stamp
    cpu.acct_stamp = now
    if cpu.curr < 0:
        st.idle_ns += d
        return
    st.busy_ns += d
    s.tasks[cpu.curr].cpu_time += d
    if cpu.inv_key and prio_key(&s.tasks[cpu.curr]) < cpu.inv_key and s.drain.call >= 0:
        # priority inversion: a drain the caller waits for is pending here
        # while a less important task runs
        s.calls[s.drain.call].inversion_ns += d
    cat = s.tasks[cpu.curr].cat
    if cat == CAT_DRAIN:
        st.drain_ns += d
    elif cat == CAT_WORK:
        st.work_ns += d
    elif cat == CAT_RECLAIM:
        st.reclaim_ns += d
    elif cat == CAT_ALLOC:
        st.alloc_ns += d


cdef inline int64_t charge_overhead(sim_t* s, int32_t c, int64_t now, int64_t d, bint irq_drain) noexcept nogil:
    """Make CPU ``c`` busy for ``d`` ns, after any overhead already due: a context
    switch or wakeup (overhead), or a drain IPI handler (hard IRQ). Returns when
    it ends."""
    account_stats(s, c, now)
    return charge_overhead_accounted(s, c, now, d, irq_drain)


cdef inline int64_t charge_overhead_accounted(sim_t* s, int32_t c, int64_t now, int64_t d,
                                              bint irq_drain) noexcept nogil:
    """charge_overhead() right after update_curr() at ``now`` (whose
    account_stats() leaves nothing to account)."""
    cdef cpu_t* cpu = &s.cpus[c]
    cdef task_t* t
    if cpu.ovh_until < now:
        cpu.ovh_until = now
    cpu.ovh_until += d
    cpu.acct_stamp = cpu.ovh_until
    if irq_drain:
        s.cstats[c].irq_drain_ns += d
    else:
        s.cstats[c].overhead_ns += d
    if cpu.curr >= 0 and s.tasks[cpu.curr].exec_start < cpu.ovh_until:
        t = &s.tasks[cpu.curr]
        if t.sect_kind == SECT_IPI_WAIT and t.sect_left != NO_TIME:
            # the spin's end is a time (the last handler's): the overhead passes it too
            t.sect_left -= cpu.ovh_until - t.exec_start if cpu.ovh_until - t.exec_start < t.sect_left \
                else t.sect_left
        t.exec_start = cpu.ovh_until
    return cpu.ovh_until


# ---------------------------------------------------------------- fair class

cdef inline int32_t scan_leftmost(sim_t* s, cpu_t* cpu) noexcept nogil:
    """The queued entity with the smallest vruntime (curr excluded), the first
    in queue order among equals: the rb-tree's leftmost (equal keys go right)."""
    cdef int32_t i = cpu.fair_head
    cdef int32_t best = NO_TASK
    while i >= 0:
        if best < 0 or s.tasks[i].vruntime < s.tasks[best].vruntime:
            best = i
        i = s.tasks[i].rq_next
    return best


cdef inline int32_t fair_leftmost(sim_t* s, cpu_t* cpu) noexcept nogil:
    """__pick_first_entity(): the cached leftmost (kept by the fair list's
    append and remove)."""
    return cpu.fair_left


cdef inline int32_t fair_curr(sim_t* s, cpu_t* cpu) noexcept nogil:
    """cfs_rq->curr when it is still on the runqueue, else NO_TASK."""
    cdef int32_t c = cpu.curr
    if c >= 0 and is_fair(&s.tasks[c]) and s.tasks[c].state == TASK_RUNNABLE:
        return c
    return NO_TASK


cdef inline void update_min_vruntime(sim_t* s, cpu_t* cpu) noexcept nogil:
    """update_min_vruntime(): monotonic floor of the runqueue's vruntimes."""
    cdef int32_t curr = fair_curr(s, cpu)
    cdef int64_t v = cpu.min_vruntime
    if curr >= 0:
        v = s.tasks[curr].vruntime
    if cpu.fair_left >= 0:
        if curr < 0 or cpu.left_vruntime < v:
            v = cpu.left_vruntime
    if v > cpu.min_vruntime:
        cpu.avg_vsum -= cpu.avg_load * (v - cpu.min_vruntime)     # avg_vruntime_update()
        cpu.min_vruntime = v


cdef inline void avg_vruntime_sums(sim_t* s, cpu_t* cpu, int64_t* avg, int64_t* load) noexcept nogil:
    """The sums behind avg_vruntime(): sum w*(v - min_vruntime) and sum w, curr included."""
    cdef int32_t curr = fair_curr(s, cpu)
    cdef int64_t a = cpu.avg_vsum, l = cpu.avg_load
    if curr >= 0:
        a += (s.tasks[curr].vruntime - cpu.min_vruntime) * s.tasks[curr].weight
        l += s.tasks[curr].weight
    avg[0] = a
    load[0] = l


cdef inline int64_t avg_vruntime(sim_t* s, cpu_t* cpu) noexcept nogil:
    """avg_vruntime(): V, the load-weighted average vruntime (floor division)."""
    cdef int64_t avg, load
    avg_vruntime_sums(s, cpu, &avg, &load)
    if load:
        if avg < 0:
            avg -= load - 1
        avg = avg // load
    return cpu.min_vruntime + avg


cdef inline bint entity_eligible(cpu_t* cpu, task_t* t, int64_t avg, int64_t load) noexcept nogil:
    """vruntime_eligible(): V >= v without the division."""
    return avg >= (t.vruntime - cpu.min_vruntime) * load


cdef inline int64_t sched_slice(sim_t* s, cpu_t* cpu, task_t* t, bint on_rq) noexcept nogil:
    """sched_slice() of CFS: __sched_period(nr) * weight / cfs_rq load, at least
    min_granularity from 5.13 (BASE_SLICE)."""
    cdef int64_t nr = cpu.nr_fair + (0 if on_rq else 1)
    cdef int64_t load = cpu.fair_load + (0 if on_rq else t.weight)
    cdef int64_t period = s.p.sched_latency
    cdef int64_t slice
    if nr > s.p.nr_latency:
        period = nr * s.p.min_granularity
    slice = div_weight(period, t.weight, load)
    if s.p.cfs_slice_floor and slice < s.p.min_granularity:
        slice = s.p.min_granularity
    return slice


cdef inline int32_t pick_eevdf(sim_t* s, cpu_t* cpu, bint protect) noexcept nogil:
    """pick_eevdf(): the eligible entity with the earliest virtual deadline;
    RUN_TO_PARITY keeps an eligible curr inside its slice when ``protect``."""
    cdef int64_t avg, load
    cdef int32_t curr = fair_curr(s, cpu)
    cdef int32_t best = NO_TASK
    cdef int32_t i = cpu.fair_head
    avg_vruntime_sums(s, cpu, &avg, &load)
    if curr >= 0 and not entity_eligible(cpu, &s.tasks[curr], avg, load):
        curr = NO_TASK
    if (s.p.run_to_parity and protect and curr >= 0
            and s.tasks[curr].vlag == s.tasks[curr].deadline):
        return curr
    while i >= 0:
        if entity_eligible(cpu, &s.tasks[i], avg, load):
            if best < 0 or s.tasks[i].deadline < s.tasks[best].deadline:
                best = i
        i = s.tasks[i].rq_next
    if curr >= 0 and (best < 0 or s.tasks[curr].deadline < s.tasks[best].deadline):
        best = curr
    if best < 0:
        # the kernel's "EEVDF scheduling fail, picking leftmost"
        best = fair_leftmost(s, cpu)
        if best < 0:
            best = fair_curr(s, cpu)
    return best


cdef inline int32_t pick_fair(sim_t* s, cpu_t* cpu) noexcept nogil:
    """pick_next_entity(): leftmost vruntime (CFS; curr only when strictly before
    it) or pick_eevdf()."""
    cdef int32_t curr, left
    if s.p.fair_class == FAIR_EEVDF:
        return pick_eevdf(s, cpu, True)
    curr = fair_curr(s, cpu)
    left = fair_leftmost(s, cpu)
    if left < 0 or (curr >= 0 and s.tasks[curr].vruntime < cpu.left_vruntime):
        return curr
    return left


cdef inline void place_entity(sim_t* s, cpu_t* cpu, task_t* t, bint initial) noexcept nogil:
    """place_entity(): CFS gentle sleeper credit and START_DEBIT; EEVDF
    PLACE_LAG and PLACE_DEADLINE_INITIAL."""
    cdef int64_t v, lag, load, vslice
    if s.p.fair_class == FAIR_CFS:
        v = cpu.min_vruntime
        if initial:
            v += calc_delta_fair(sched_slice(s, cpu, t, False), t.weight, t.wmult)
        else:
            v -= s.p.sched_latency >> 1 if s.p.gentle_sleepers else s.p.sched_latency
        if v > t.vruntime:
            t.vruntime = v
        return
    v = avg_vruntime(s, cpu)
    lag = 0
    if cpu.nr_fair > 0:
        load = cpu.fair_load
        lag = t.vlag * (load + t.weight)
        lag = lag // load
    t.vruntime = v - lag
    vslice = calc_delta_fair(t.slice, t.weight, t.wmult)
    if initial:
        vslice //= 2
    t.deadline = t.vruntime + vslice


cdef inline void update_entity_lag(sim_t* s, cpu_t* cpu, task_t* t, int64_t tick_ns) noexcept nogil:
    """update_entity_lag(): vlag = clamp(V - v, +-limit) when a task sleeps."""
    cdef int64_t lag = avg_vruntime(s, cpu) - t.vruntime
    cdef int64_t limit = 2 * t.slice
    if limit < tick_ns:
        limit = tick_ns
    limit = calc_delta_fair(limit, t.weight, t.wmult)
    if lag > limit:
        lag = limit
    elif lag < -limit:
        lag = -limit
    t.vlag = lag


# ---------------------------------------------------------------- runqueue lists

cdef inline void fair_list_append(sim_t* s, cpu_t* cpu, int32_t ti) noexcept nogil:
    """__enqueue_entity(): at the tail (behind equal keys); avg_vruntime_add()."""
    cdef task_t* t = &s.tasks[ti]
    t.rq_next = NO_TASK
    t.rq_prev = cpu.fair_tail
    if cpu.fair_tail >= 0:
        s.tasks[cpu.fair_tail].rq_next = ti
    else:
        cpu.fair_head = ti
        s.head_hint[cpu - s.cpus] = ti
    cpu.fair_tail = ti
    cpu.avg_vsum += (t.vruntime - cpu.min_vruntime) * t.weight
    cpu.avg_load += t.weight
    if cpu.fair_left < 0 or t.vruntime < cpu.left_vruntime:
        cpu.fair_left = ti
        cpu.left_vruntime = t.vruntime


cdef inline void list_unlink(sim_t* s, int32_t ti, int32_t* head, int32_t* tail) noexcept nogil:
    """Take ``ti`` out of a runqueue list (``tail`` NULL: the list keeps none)."""
    cdef task_t* t = &s.tasks[ti]
    if t.rq_prev >= 0:
        s.tasks[t.rq_prev].rq_next = t.rq_next
    else:
        head[0] = t.rq_next
    if t.rq_next >= 0:
        s.tasks[t.rq_next].rq_prev = t.rq_prev
    elif tail != NULL:
        tail[0] = t.rq_prev
    t.rq_next = NO_TASK
    t.rq_prev = NO_TASK


cdef inline void fair_list_remove(sim_t* s, cpu_t* cpu, int32_t ti) noexcept nogil:
    """__dequeue_entity(): avg_vruntime_sub(), and a new leftmost when it was."""
    cdef task_t* t = &s.tasks[ti]
    list_unlink(s, ti, &cpu.fair_head, &cpu.fair_tail)
    s.head_hint[cpu - s.cpus] = cpu.fair_head
    cpu.avg_vsum -= (t.vruntime - cpu.min_vruntime) * t.weight
    cpu.avg_load -= t.weight
    if cpu.fair_left == ti:
        cpu.fair_left = scan_leftmost(s, cpu)
        if cpu.fair_left >= 0:
            cpu.left_vruntime = s.tasks[cpu.fair_left].vruntime


cdef inline void rt_list_insert(sim_t* s, cpu_t* cpu, int32_t ti) noexcept nogil:
    """enqueue_rt_entity(): behind every queued task of the same or higher priority."""
    cdef int32_t prev = NO_TASK
    cdef int32_t i = cpu.rt_head
    cdef task_t* t = &s.tasks[ti]
    while i >= 0 and s.tasks[i].prio >= t.prio:
        prev = i
        i = s.tasks[i].rq_next
    t.rq_prev = prev
    t.rq_next = i
    if prev >= 0:
        s.tasks[prev].rq_next = ti
    else:
        cpu.rt_head = ti
    if i >= 0:
        s.tasks[i].rq_prev = ti


cdef inline void rt_list_remove(sim_t* s, cpu_t* cpu, int32_t ti) noexcept nogil:
    list_unlink(s, ti, &cpu.rt_head, NULL)


cdef inline void enqueue_task(sim_t* s, int32_t c, int32_t ti, bint initial) noexcept nogil:
    """enqueue_task(): put a waking (or new) task on its CPU's runqueue."""
    cdef cpu_t* cpu = &s.cpus[c]
    cdef task_t* t = &s.tasks[ti]
    if is_fair(t):
        place_entity(s, cpu, t, initial)
        fair_list_append(s, cpu, ti)
        cpu.nr_fair += 1
        cpu.fair_load += t.weight
    else:
        rt_list_insert(s, cpu, ti)
    cpu.nr_running += 1
    t.state = TASK_RUNNABLE


cdef inline void dequeue_task(sim_t* s, int32_t c, int32_t ti) noexcept nogil:
    """dequeue_task(DEQUEUE_SLEEP): the task blocks."""
    cdef cpu_t* cpu = &s.cpus[c]
    cdef task_t* t = &s.tasks[ti]
    if is_fair(t):
        if s.p.fair_class == FAIR_EEVDF:
            update_entity_lag(s, cpu, t, s.p.tick_ns)
        if cpu.curr != ti:
            fair_list_remove(s, cpu, ti)
        t.state = TASK_SLEEPING
        cpu.nr_fair -= 1
        cpu.fair_load -= t.weight
        update_min_vruntime(s, cpu)
    else:
        rt_list_remove(s, cpu, ti)
        t.state = TASK_SLEEPING
    cpu.nr_running -= 1


# ---------------------------------------------------------------- bandwidth

cdef inline void fair_server_roll(sim_t* s, cpu_t* cpu, int64_t now) noexcept nogil:
    """Start a new fair-server period once the old one is over."""
    if now >= cpu.fs_win_end:
        cpu.fs_win_end = (now // s.p.fs_period + 1) * s.p.fs_period
        cpu.fs_used = 0
        if cpu.fs_active:
            cpu.fs_active = 0
            cpu.need_resched = 1


cdef inline void fair_server_rearm(sim_t* s, int32_t c, int64_t now) noexcept nogil:
    """The deferred fair server (6.12+): wake up at the zero-laxity point of the
    period when fair tasks are starved by RT, stop when the budget is used."""
    cdef cpu_t* cpu = &s.cpus[c]
    cdef int32_t slot = cpu_slot(s, c, SLOT_FAIR_SERVER)
    cdef int64_t left, when
    if not s.p.fair_server:
        return
    left = s.p.fs_runtime - cpu.fs_used
    if cpu.fs_active:
        if cpu.curr >= 0 and is_fair(&s.tasks[cpu.curr]):
            when = s.tasks[cpu.curr].exec_start + (left if left > 0 else 0)
            if when > cpu.fs_win_end:
                when = cpu.fs_win_end
        elif cpu.nr_fair == 0:
            when = now
        else:
            when = cpu.fs_win_end
    elif cpu.nr_fair > 0 and cpu.curr >= 0 and not is_fair(&s.tasks[cpu.curr]):
        when = cpu.fs_win_end if left <= 0 else cpu.fs_win_end - left
        if when < now:
            when = now
    else:
        timer_cancel(s, slot)
        return
    timer_set(s, slot, when)


# ---------------------------------------------------------------- update_curr

cdef inline void _update_curr(sim_t* s, int32_t c, int64_t now, bint sched) noexcept nogil:
    """update_curr(): charge the current task's progress since ``exec_start``:
    sum_exec, the burst or section left, its page flow, vruntime, RT runtime and
    the fair server's budget. With ``sched``, also the checks the kernel makes
    there: the EEVDF deadline (update_deadline()), RT throttling
    (sched_rt_runtime_exceeded()) and the fair server's budget end."""
    cdef cpu_t* cpu = &s.cpus[c]
    cdef task_t* t
    cdef int64_t delta, win_start, used
    account_stats(s, c, now)
    if cpu.curr < 0:
        return
    t = &s.tasks[cpu.curr]
    if now > t.exec_start:
        delta = now - t.exec_start
        t.exec_start = now
        t.sum_exec += delta
        if t.sect_kind != SECT_NONE:
            if t.sect_left != NO_TIME:
                t.sect_left -= delta if delta < t.sect_left else t.sect_left
        else:
            if t.remaining > 0:
                t.remaining -= delta if delta < t.remaining else t.remaining
            if t.flow_dir != 0:
                flow_pages(s, c, t, delta)
        if not is_fair(t):
            if s.p.rt_throttle:
                cpu.rt_time += delta
                if not timer_armed(s, cpu_slot(s, c, SLOT_RT_PERIOD)):
                    timer_arm(s, cpu_slot(s, c, SLOT_RT_PERIOD), (now // s.p.rt_period + 1) * s.p.rt_period)
        else:
            t.vruntime += calc_delta_fair(delta, t.weight, t.wmult)
            update_min_vruntime(s, cpu)
            if s.p.fair_server:
                fair_server_roll(s, cpu, now)
                win_start = cpu.fs_win_end - s.p.fs_period
                used = delta if now - delta >= win_start else now - win_start
                cpu.fs_used += used
    if not sched:
        return
    if not is_fair(t):
        if s.p.rt_throttle and cpu.rt_time > s.p.rt_runtime and not cpu.rt_throttled:
            cpu.rt_throttled = 1
            cpu.need_resched = 1
        return
    if s.p.fair_class == FAIR_EEVDF and t.vruntime >= t.deadline:
        t.deadline = t.vruntime + calc_delta_fair(t.slice, t.weight, t.wmult)
        if cpu.nr_fair > 1:
            cpu.need_resched = 1
    if s.p.fair_server:
        fair_server_roll(s, cpu, now)
        if cpu.fs_active and cpu.fs_used >= s.p.fs_runtime:
            cpu.fs_active = 0
            cpu.need_resched = 1


cdef inline void update_curr(sim_t* s, int32_t c, int64_t now) noexcept nogil:
    """update_curr() where the kernel calls it: the tick, wakeups, dequeues,
    __schedule(), the bandwidth timers."""
    _update_curr(s, c, now, True)


cdef inline void account_curr(sim_t* s, int32_t c, int64_t now) noexcept nogil:
    """Progress only, for events the kernel's scheduler does not see (a pcp
    boundary, the end of a kernel section, a remote pcp drain, an IPI): the
    EEVDF deadline and the bandwidth limits wait for the next update_curr()."""
    _update_curr(s, c, now, False)


# ---------------------------------------------------------------- the current task's timer

cdef inline int64_t nonpreempt_left(task_t* t) noexcept nogil:
    """CPU time left in the non-preemptible section the task is in (0: none):
    a kernel section under a spinlock, or a configured workload section."""
    cdef int64_t pos
    if t.sect_kind != SECT_NONE:
        return t.sect_left if t.sect_np else 0
    if not t.np_on:
        return 0
    pos = t.sum_exec % t.np_every
    return t.np_len - pos if pos < t.np_len else 0


cdef inline bint spin_pending(task_t* t, int64_t now) noexcept nogil:
    """The ipi caller's spin (MODEL.md 7.4) waits for the handlers in time, not
    in CPU time: while overhead holds its CPU past ``now`` it is not over, even
    with no spinning left to do; it ends when the CPU is back."""
    return t.sect_kind == SECT_IPI_WAIT and t.exec_start > now


cdef inline bint preemptible(task_t* t, int64_t now) noexcept nogil:
    """A pending reschedule may switch ``t`` out now: no non-preemptible
    section left, nor a spin still waiting for its CPU to come back."""
    return nonpreempt_left(t) == 0 and not spin_pending(t, now)


cdef inline void rearm_curr_timer(sim_t* s, int32_t c, int64_t now) noexcept nogil:
    """The CPU's next own event: a pending reschedule (at once, like the return
    from the interrupt that asked for it, so that every event of this instant is
    seen first; or when the current non-preemptible section ends), else the end
    of the current task's kernel section, burst or pcp boundary."""
    cdef cpu_t* cpu = &s.cpus[c]
    cdef int32_t slot = cpu_slot(s, c, SLOT_CURR)
    cdef task_t* t = NULL
    cdef int64_t when = NO_TIME, np
    if cpu.curr >= 0:
        t = &s.tasks[cpu.curr]
    if cpu.need_resched and (t == NULL or preemptible(t, now)):
        # due at once, whatever the task's own boundaries are (not worked out)
        when = now
    elif t != NULL:
        if t.sect_kind != SECT_NONE:
            if t.sect_left != NO_TIME:
                when = t.exec_start + t.sect_left
        else:
            if t.remaining >= 0:
                when = t.exec_start + t.remaining
            if t.flow_dir != 0:
                np = flow_boundary_ns(s, c, t)
                if np != NO_TIME and t.exec_start + np < when:
                    when = t.exec_start + np
        if cpu.need_resched:
            # not preemptible: when the non-preemptible part ends
            np = nonpreempt_left(t)
            if np != NO_TIME and t.exec_start + np < when:
                when = t.exec_start + np
    if when == NO_TIME:
        timer_cancel(s, slot)
    else:
        # a boundary that moved behind the task (the free threshold drops while
        # reclaim is active) is due at once
        timer_set(s, slot, when if when > now else now)


cdef inline void tick_update(sim_t* s, int32_t c, int64_t now) noexcept nogil:
    """The tick runs while the CPU is busy; nohz_full-like isolated CPUs stop it
    while one task is runnable (tick_nohz_idle / tick_nohz_full)."""
    cdef cpu_t* cpu = &s.cpus[c]
    cdef bint want = cpu.curr >= 0 and not (cpu.isolated and cpu.nr_running <= 1)
    if want:
        if not tick_armed(s, c):
            tick_arm(s, c, (now // s.p.tick_ns + 1) * s.p.tick_ns)
    else:
        tick_cancel(s, c)


# ---------------------------------------------------------------- __schedule

cdef inline int32_t pick_next_task(sim_t* s, cpu_t* cpu) noexcept nogil:
    """pick_next_task(): fair server (when serving), RT unless throttled, fair,
    idle; nothing runs on an offline CPU."""
    if not cpu.online:
        return NO_TASK
    if cpu.fs_active and cpu.nr_fair > 0:
        return pick_fair(s, cpu)
    if cpu.rt_head >= 0 and not cpu.rt_throttled:
        return cpu.rt_head
    if cpu.nr_fair > 0:
        return pick_fair(s, cpu)
    return NO_TASK


cdef inline void schedule(sim_t* s, int32_t c, int64_t now) noexcept nogil:
    """__schedule(): put_prev, pick_next, set_next_entity, context_switch."""
    cdef cpu_t* cpu = &s.cpus[c]
    cdef int32_t prev, nxt
    cdef task_t* t
    cdef int64_t start
    cdef bint preempted
    update_curr(s, c, now)
    cpu.need_resched = 0
    prev = cpu.curr
    nxt = pick_next_task(s, cpu)
    # nxt leaves the fair list before prev joins its tail: the same list and
    # leftmost (prev, last, takes it only when strictly before), and a leftmost
    # scan that need not read prev
    if nxt >= 0 and nxt != prev and is_fair(&s.tasks[nxt]):
        fair_list_remove(s, cpu, nxt)
    if prev >= 0 and prev != nxt and is_fair(&s.tasks[prev]) and s.tasks[prev].state == TASK_RUNNABLE:
        fair_list_append(s, cpu, prev)
    if nxt >= 0:
        t = &s.tasks[nxt]
        t.prev_sum_exec = t.sum_exec
        if s.p.fair_class == FAIR_EEVDF:
            t.vlag = t.deadline     # RUN_TO_PARITY stash, as set_next_entity() does
    if nxt != prev:
        s.cstats[c].nr_switches += 1
        preempted = prev >= 0 and s.tasks[prev].state == TASK_RUNNABLE
        if preempted:
            s.tcounts[prev].nr_preempted += 1
            s.tasks[prev].wait_start = now
        charge_overhead_accounted(s, c, now, s.p.context_switch_ns, False)
        trace(s, cpu.ovh_until, c, TR_SWITCH, prev, nxt, preempted)
        cpu.curr = nxt
        s.curr_hint[c] = nxt
        if nxt >= 0:
            start = cpu.ovh_until
            t = &s.tasks[nxt]
            t.exec_start = start
            s.tcounts[nxt].nr_runs += 1
            s.tcounts[nxt].wait_time += start - t.wait_start
            t.wait_start = start
            if t.first_run_pending:
                t.first_run_pending = 0
                hist_record(s, t.hist, start - t.release)
        tick_update(s, c, now)
    rearm_curr_timer(s, c, now)
    fair_server_rearm(s, c, now)


cdef inline void resched_curr(sim_t* s, int32_t c, int64_t now) noexcept nogil:
    """resched_curr(): set need_resched; __schedule() runs from the CPU's own
    timer slot, after the other events of this instant (or after the current
    non-preemptible section)."""
    s.cpus[c].need_resched = 1
    rearm_curr_timer(s, c, now)


cdef inline bint check_preempt_wakeup(sim_t* s, int32_t c, int32_t ti) noexcept nogil:
    """check_preempt_curr(): does the woken task preempt the current one?
    RT over fair; RT by priority; CFS wakeup_preempt_entity(); EEVDF pick_eevdf()."""
    cdef cpu_t* cpu = &s.cpus[c]
    cdef task_t* t = &s.tasks[ti]
    cdef task_t* curr
    cdef int64_t vdiff
    if cpu.curr < 0:
        return True
    curr = &s.tasks[cpu.curr]
    if not is_fair(t):
        if cpu.rt_throttled:
            return False
        if is_fair(curr):
            return not cpu.fs_active
        return t.prio > curr.prio
    if not is_fair(curr):
        return False
    if s.p.fair_class == FAIR_CFS:
        vdiff = curr.vruntime - t.vruntime
        return vdiff > 0 and vdiff > calc_delta_fair(s.p.wakeup_granularity, t.weight, t.wmult)
    return pick_eevdf(s, cpu, not (s.p.preempt_short and t.slice < curr.slice)) == ti


# ---------------------------------------------------------------- event handlers

cdef inline void check_preempt_tick(sim_t* s, cpu_t* cpu, task_t* t) noexcept nogil:
    """check_preempt_tick() of CFS: slice used up, or far ahead of the leftmost."""
    cdef int64_t ideal = sched_slice(s, cpu, t, True)
    cdef int64_t ran = t.sum_exec - t.prev_sum_exec
    cdef int32_t left
    cdef int64_t delta
    if ran > ideal:
        cpu.need_resched = 1
        return
    if ran < s.p.min_granularity:
        return
    left = fair_leftmost(s, cpu)
    if left < 0:
        return
    delta = t.vruntime - cpu.left_vruntime
    if delta > ideal:
        cpu.need_resched = 1


cdef inline void sched_tick(sim_t* s, int32_t c, int64_t now) noexcept nogil:
    """scheduler_tick() without the reschedule: account, re-arm, then
    task_tick_rt (RR slice) or task_tick_fair (CFS check_preempt_tick)."""
    cdef cpu_t* cpu = &s.cpus[c]
    cdef task_t* t
    cdef int32_t nxt
    s.cstats[c].ticks += 1
    update_curr(s, c, now)
    tick_arm(s, c, now + s.p.tick_ns)
    if cpu.curr < 0:
        return
    t = &s.tasks[cpu.curr]
    if t.policy == POLICY_RR:
        t.rr_left -= 1
        if t.rr_left <= 0:
            t.rr_left = <int32_t>s.p.rr_ticks
            nxt = t.rq_next
            if (nxt >= 0 and s.tasks[nxt].prio == t.prio) or (t.rq_prev >= 0 and s.tasks[t.rq_prev].prio == t.prio):
                rt_list_remove(s, cpu, cpu.curr)
                rt_list_insert(s, cpu, cpu.curr)
                cpu.need_resched = 1
    elif is_fair(t) and s.p.fair_class == FAIR_CFS and cpu.nr_fair > 1:
        check_preempt_tick(s, cpu, t)


cdef inline void wake_up_task(sim_t* s, int32_t ti, int64_t now) noexcept nogil:
    """try_to_wake_up(): the task's CPU takes ``wakeup_ns`` to react (IPI or timer
    interrupt), then the task is enqueued and may preempt."""
    cdef task_t* t = &s.tasks[ti]
    cdef int32_t c = t.cpu
    s.cstats[c].nr_wakeups += 1
    s.tcounts[ti].nr_wakeups += 1
    update_curr(s, c, now)
    charge_overhead_accounted(s, c, now, s.p.wakeup_ns, False)
    trace(s, now, c, TR_WAKEUP, ti, -1, 0)
    t.wait_start = now
    enqueue_task(s, c, ti, False)
    tick_update(s, c, now)
    if s.cpus[c].need_resched or check_preempt_wakeup(s, c, ti):
        resched_curr(s, c, now)
    else:
        rearm_curr_timer(s, c, now)
        fair_server_rearm(s, c, now)


cdef inline void block_current(sim_t* s, int32_t c, int64_t now) noexcept nogil:
    """The current task sleeps (a blocking wait): dequeue it and schedule."""
    dequeue_task(s, c, s.cpus[c].curr)
    schedule(s, c, now)


cdef inline void after_event(sim_t* s, int32_t c, int64_t now) noexcept nogil:
    """Every handler ends here: honour a reschedule request or re-arm the CPU's
    timer. (resched_curr() with need_resched already set is just the re-arm,
    which arms the slot for now when a reschedule is pending.)"""
    rearm_curr_timer(s, c, now)


cdef inline void on_rt_period(sim_t* s, int32_t c, int64_t now) noexcept nogil:
    """do_sched_rt_period_timer(): return one period's runtime, unthrottle."""
    cdef cpu_t* cpu = &s.cpus[c]
    update_curr(s, c, now)
    cpu.rt_time -= cpu.rt_time if cpu.rt_time < s.p.rt_runtime else s.p.rt_runtime
    if cpu.rt_throttled and cpu.rt_time < s.p.rt_runtime:
        cpu.rt_throttled = 0
        if cpu.rt_head >= 0:
            cpu.need_resched = 1
    if cpu.rt_time > 0 or cpu.rt_head >= 0:
        timer_arm(s, cpu_slot(s, c, SLOT_RT_PERIOD), now + s.p.rt_period)
    if cpu.need_resched:
        resched_curr(s, c, now)


cdef inline void on_fair_server(sim_t* s, int32_t c, int64_t now) noexcept nogil:
    """The fair server's timer: new period, zero-laxity activation, budget end."""
    cdef cpu_t* cpu = &s.cpus[c]
    update_curr(s, c, now)
    fair_server_roll(s, cpu, now)
    if cpu.fs_active and cpu.nr_fair == 0:
        cpu.fs_active = 0
        cpu.need_resched = 1
    elif (not cpu.fs_active and cpu.nr_fair > 0 and cpu.curr >= 0
            and not is_fair(&s.tasks[cpu.curr]) and cpu.fs_used < s.p.fs_runtime
            and now >= cpu.fs_win_end - (s.p.fs_runtime - cpu.fs_used)):
        cpu.fs_active = 1
        cpu.need_resched = 1
    if cpu.need_resched:
        resched_curr(s, c, now)
    else:
        fair_server_rearm(s, c, now)
