# cython: language_level=3
"""What happens when a timer fires (MODEL.md 4, 5): the handlers the event loop
dispatches to. Each ends with ``after_event()``, which reschedules the CPU when
asked to, else re-arms its timer."""
from libc.stdint cimport int32_t, int64_t
from pcpsim._state cimport *
from pcpsim._eventq cimport timer_arm
from pcpsim._hist cimport hist_record
from pcpsim._rng cimport sample_duration, _uniform
from pcpsim._mm cimport zone_lock, pcp_drain_all, nr_pcp_free, nr_pcp_high, flow_at_boundary
from pcpsim._sched cimport (cpu_slot, task_slot, account_curr, schedule, rearm_curr_timer,
                            dequeue_task, sched_tick, wake_up_task, block_current, after_event, account_stats,
                            preemptible, spin_pending)
from pcpsim._drain cimport (POOLS_PER_CPU, POOL_NORMAL, POOL_HIGHPRI, set_section, end_section,
                            item_alloc, pool_queue, drain_all_pages, drain_done, remote_step,
                            alloc_refill, alloc_retry, reclaim_done, reclaim_continue, kswapd_done, worker_next,
                            wq_worker_tick, cpuhp_step, cpu_offline_work)


cdef inline void on_tick(sim_t* s, int32_t c, int64_t now) noexcept nogil:
    sched_tick(s, c, now)
    if s.p.wq_hog:
        wq_worker_tick(s, c)
    after_event(s, c, now)


cdef inline void sleep_until(sim_t* s, int32_t c, int32_t ti, int64_t wake, int64_t now) noexcept nogil:
    dequeue_task(s, c, ti)
    timer_arm(s, task_slot(s, ti), wake)
    schedule(s, c, now)


cdef inline void burst_done(sim_t* s, int32_t c, int32_t ti, int64_t now) noexcept nogil:
    """The current task finished its burst: a periodic job completes (response
    time, deadline), a bursty task (or bursty allocator) goes to sleep."""
    cdef task_t* t = &s.tasks[ti]
    if t.kind == KIND_PERIODIC:
        hist_record(s, t.hist + 1, now - t.release)
        s.tstats[ti].nr_jobs += 1
        if now > t.release + t.period:
            s.tstats[ti].deadline_misses += 1
        t.release += t.period
        if t.release <= now:
            # overrun: the next job is already due and starts at once
            t.remaining = t.runtime
            hist_record(s, t.hist, now - t.release)
            return
        sleep_until(s, c, ti, t.release, now)
        return
    sleep_until(s, c, ti, now + sample_duration(s.rng, t.sleep_dist, t.sleep_a, t.sleep_b), now)


cdef inline void flow_event(sim_t* s, int32_t c, int32_t ti, int64_t now) noexcept nogil:
    """An allocator's pcp reached a boundary: refill when empty, bulk free when full."""
    cdef task_t* t = &s.tasks[ti]
    cdef cpu_t* cpu = &s.cpus[c]
    cdef zone_t* z = &s.zones[t.zone]
    cdef int32_t high
    cdef int64_t pages
    if t.flow_dir < 0:
        alloc_refill(s, c, ti, now)
        return
    high = nr_pcp_high(s, z, cpu)
    cpu.pcp_alloc_factor >>= 1
    if cpu.pcp_count < high:
        return                                   # auto-tuning raised high: nothing to flush yet
    pages = pcp_drain_all(z, cpu, nr_pcp_free(s, z, cpu, high))
    set_section(t, SECT_BULKFREE, zone_lock(s, c, z, now, pages), NP_IRQS_OFF, CAT_ALLOC)


cdef inline void extdrain_next(sim_t* s, int32_t c, int32_t ti, int64_t now) noexcept nogil:
    cdef task_t* t = &s.tasks[ti]
    end_section(t)
    t.release += t.period
    if t.release <= now:
        t.release = now + t.period
    sleep_until(s, c, ti, t.release, now)


cdef inline void section_done(sim_t* s, int32_t c, int32_t ti, int64_t now) noexcept nogil:
    """A kernel section of the current task ended (or a continuation is due)."""
    cdef task_t* t = &s.tasks[ti]
    cdef int32_t kind = t.sect_kind
    if kind == SECT_ITEM or kind == SECT_DRAIN:
        worker_next(s, c, ti, now)
        return
    if kind == SECT_REMOTE:
        remote_step(s, c, ti, now)
        return
    if kind == SECT_CPUHP or kind == SECT_CREATE:
        cpuhp_step(s, c, ti, now)
        return
    end_section(t)
    if kind == SECT_RECLAIM:
        reclaim_done(s, c, ti, now)
    elif kind == SECT_KSWAPD:
        kswapd_done(s, c, ti, now)
    elif kind == SECT_PCP_FREE:
        reclaim_continue(s, c, ti, now)
    elif kind == SECT_IPI_WAIT:
        drain_done(s, now)
    elif kind == SECT_CALL:
        if not drain_all_pages(s, c, ti, t.zone, (t.flags & TF_FORCE) != 0, now):
            if t.kind == KIND_EXTDRAIN:
                extdrain_next(s, c, ti, now)
            else:
                alloc_retry(s, c, ti, now)
    elif kind == SECT_RETRY:
        if t.kind == KIND_EXTDRAIN:
            extdrain_next(s, c, ti, now)
        else:
            alloc_retry(s, c, ti, now)


cdef inline void on_curr_timer(sim_t* s, int32_t c, int64_t now) noexcept nogil:
    cdef cpu_t* cpu = &s.cpus[c]
    cdef task_t* t
    account_curr(s, c, now)
    if cpu.curr >= 0:
        t = &s.tasks[cpu.curr]
        if t.sect_kind != SECT_NONE:
            if t.sect_left == 0 and not spin_pending(t, now):
                section_done(s, c, cpu.curr, now)
        elif t.remaining == 0:
            burst_done(s, c, cpu.curr, now)
        elif t.flow_dir != 0 and flow_at_boundary(s, c, t):
            flow_event(s, c, cpu.curr, now)
    if cpu.need_resched and (cpu.curr < 0 or preemptible(&s.tasks[cpu.curr], now)):
        schedule(s, c, now)
    else:
        rearm_curr_timer(s, c, now)


cdef inline void on_task_timer(sim_t* s, int32_t ti, int64_t now) noexcept nogil:
    """A sleeping task's timer: a periodic release, the end of a sleep, a retry."""
    cdef task_t* t = &s.tasks[ti]
    if t.kind == KIND_PERIODIC:
        t.remaining = t.runtime
        t.first_run_pending = 1
    elif t.kind == KIND_KWORKER or t.kind == KIND_KTHREAD:
        if not (t.flags & TF_INTENSIVE):         # wq_worker_running(): an item that slept goes on
            s.pools[t.pool].nr_running += 1
    elif t.kind == KIND_EXTDRAIN:
        set_section(t, SECT_CALL, 0, NP_NONE, CAT_DRAIN)
    elif t.sect_kind == SECT_NONE:
        t.remaining = sample_duration(s.rng, t.run_dist, t.run_a, t.run_b)
    wake_up_task(s, ti, now)


cdef inline int32_t new_item(sim_t* s, int32_t kind, int64_t cpu_left, int64_t sleep_at,
                             int64_t sleep_len) noexcept nogil:
    cdef int32_t i = item_alloc(s)
    if i < 0:
        s.items_dropped += 1
        return -1
    s.items[i].kind = kind
    s.items[i].call = -1
    s.items[i].cpu_left = cpu_left
    s.items[i].sleep_at = sleep_at
    s.items[i].sleep_len = sleep_len
    return i


cdef inline void on_workgen(sim_t* s, int32_t c, int64_t now) noexcept nogil:
    """Background work items arrive (system_wq-style, Poisson per source)."""
    cdef int32_t k, i
    cdef int64_t* nxt = &s.source_next[<int64_t>c * s.p.nsources]
    cdef source_t* src
    cdef int64_t dur, sl, earliest = NO_TIME
    for k in range(s.p.nsources):
        src = &s.sources[<int64_t>c * s.p.nsources + k]
        if nxt[k] <= now:
            dur = sample_duration(s.rng, src.dur_dist, src.dur_a, src.dur_b)
            sl = -1
            if src.sleep_prob > 0 and not src.mm and _uniform(s.rng) < src.sleep_prob:
                sl = dur // 2
            i = new_item(s, ITEM_MM if src.mm else ITEM_GENERIC, dur, sl,
                         sample_duration(s.rng, src.sleep_dist, src.sleep_a, src.sleep_b) if sl >= 0 else 0)
            if i >= 0:
                pool_queue(s, c * POOLS_PER_CPU + (POOL_HIGHPRI if src.highpri else POOL_NORMAL), i, now)
            if src.interval > 0:
                nxt[k] = now + src.interval
            else:
                nxt[k] = now + sample_duration(s.rng, DIST_EXP, 1e9 / src.rate, 0.0)
        if nxt[k] < earliest:
            earliest = nxt[k]
    if earliest != NO_TIME:
        timer_arm(s, cpu_slot(s, c, SLOT_WORKGEN), earliest)
    after_event(s, c, now)


cdef inline void on_vmstat(sim_t* s, int32_t c, int64_t now) noexcept nogil:
    """vmstat_update, a delayed work queued every second on the CPU's pool."""
    cdef int32_t i = s.ncpu + c
    if s.items[i].queued_at < 0:
        s.items[i].kind = ITEM_VMSTAT
        s.items[i].call = -1
        s.items[i].cpu_left = s.p.vmstat_ns
        s.items[i].sleep_at = -1
        pool_queue(s, c * POOLS_PER_CPU + POOL_NORMAL, i, now)
    timer_arm(s, cpu_slot(s, c, SLOT_VMSTAT), now + 1000000000)
    after_event(s, c, now)


cdef inline void on_sample(sim_t* s, int32_t slot, int64_t now) noexcept nogil:
    """Memory over time: free and pcp pages per zone; with per-CPU sampling,
    each CPU's pcp pages and its drain time so far (drain work and drain IPIs)."""
    cdef int64_t* row
    cdef int32_t z, c
    if s.nsample < s.sample_cap:
        row = &s.samples[<int64_t>s.nsample * (1 + 2 * s.nzone)]
        row[0] = now
        for z in range(s.nzone):
            row[1 + 2 * z] = s.zones[z].free
            row[2 + 2 * z] = s.zones[z].pcp_pages
        if s.cpu_samples != NULL:
            row = &s.cpu_samples[<int64_t>s.nsample * 2 * s.ncpu]
            for c in range(s.ncpu):
                account_stats(s, c, now)
                row[c] = s.cpus[c].pcp_count
                row[s.ncpu + c] = s.cstats[c].drain_ns + s.cstats[c].irq_drain_ns
        s.nsample += 1
    if s.nsample < s.sample_cap:
        timer_arm(s, slot, now + s.p.sample_ns)


cdef inline void on_hotplug(sim_t* s, int32_t slot, int64_t now) noexcept nogil:
    """CPU hotplug events due now (MODEL.md 7.6). Offline: the CPU's pcp pages go
    back to the zone (page_alloc_cpu_dead), its drain kthread is destroyed and
    nothing runs there. Online: tasks run again and, with the kthread
    strategies, its hotplug thread creates the drain kthread."""
    cdef int64_t* ev
    cdef int32_t c, hp
    cdef cpu_t* cpu
    while s.hotplug_next < s.nhotplug and s.hotplug[3 * s.hotplug_next] <= now:
        ev = &s.hotplug[3 * s.hotplug_next]
        s.hotplug_next += 1
        c = <int32_t>ev[1]
        cpu = &s.cpus[c]
        account_curr(s, c, now)
        if ev[2] and not cpu.online:
            cpu.online = 1
            hp = cpu.cpuhp
            if hp >= 0 and s.tasks[hp].state == TASK_SLEEPING:
                set_section(&s.tasks[hp], SECT_CPUHP, 0, NP_NONE, CAT_WORK)
                wake_up_task(s, hp, now)
        elif not ev[2] and cpu.online:
            cpu.online = 0
            pcp_drain_all(&s.zones[cpu.node], cpu, 0)
            if cpu.kthread >= 0:
                s.tasks[cpu.kthread].flags &= ~TF_CREATED
            cpu_offline_work(s, c, now)
        cpu.need_resched = 1
        after_event(s, c, now)
    if s.hotplug_next < s.nhotplug:
        timer_arm(s, slot, s.hotplug[3 * s.hotplug_next])
