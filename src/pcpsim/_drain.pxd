# cython: language_level=3
"""Work, reclaim and drain_all_pages() (MODEL.md 5, 6.4, 7).

- Per-CPU worker pools (``queue_work_on``, concurrency management, the 6.5+
  CPU-hog rule) and the RFC's per-CPU ``kthread_worker``.
- The allocation slow path: refill, direct reclaim, the drain, OOM; kswapd.
- ``__drain_all_pages()``: the ``pcpu_drain_mutex`` trylock rule, the target
  set and the dispatch strategies (IPI, workqueue, kthread, remote).

Tasks do kernel work in *sections* (``task.sect_kind``): CPU time with a known
length that ends in ``section_done()``. A zero-length section is a
continuation: it runs as soon as the task is on its CPU again.
"""
from libc.stdint cimport int32_t, int64_t
from pcpsim._state cimport *
from pcpsim._eventq cimport timer_arm, timer_cancel
from pcpsim._hist cimport hist_record
from pcpsim._rng cimport _uniform
from pcpsim._trace cimport trace
from pcpsim._mm cimport (zone_lock, pcp_add, pcp_drain_all, pcp_free_threshold, nr_pcp_high, nr_pcp_free,
                         PCP_RULE_AUTOTUNE, PCP_BATCH_SCALE_MAX)
from pcpsim._sched cimport (cpu_slot, task_slot, account_curr, wake_up_task,
                            block_current, rearm_curr_timer, after_event, charge_overhead,
                            nonpreempt_left, timer_set, prio_key, account_stats)

cdef enum:
    POOL_NORMAL = 0
    POOL_HIGHPRI = 1
    POOL_KTHREAD = 2
    POOLS_PER_CPU = 3


cdef inline void fifo_push(int32_t* head, int32_t* tail, int32_t* tail_link, int32_t x) noexcept nogil:
    """Append ``x`` to a singly linked FIFO; ``tail_link`` is the link field of
    the current tail (NULL when the FIFO is empty)."""
    if tail_link != NULL:
        tail_link[0] = x
    else:
        head[0] = x
    tail[0] = x


cdef inline void set_section(task_t* t, int32_t kind, int64_t left, int32_t np, int32_t cat) noexcept nogil:
    t.sect_kind = kind
    t.sect_left = left
    t.sect_np = np
    t.cat = cat


cdef inline void end_section(task_t* t) noexcept nogil:
    t.sect_kind = SECT_NONE
    t.sect_left = 0
    t.sect_np = NP_NONE
    t.cat = CAT_WORKLOAD


# ---------------------------------------------------------------- work items and pools

cdef inline int32_t item_alloc(sim_t* s) noexcept nogil:
    cdef int32_t i = s.item_free
    if i >= 0:
        s.item_free = s.items[i].next
        s.items[i].next = -1
    return i


cdef inline void item_release(sim_t* s, int32_t i) noexcept nogil:
    # items [0, 2 * ncpu) are static per-CPU works (struct pcpu_drain, vmstat_work)
    s.items[i].queued_at = -1
    if i >= 2 * s.ncpu:
        s.items[i].next = s.item_free
        s.item_free = i


cdef inline void pool_rearm(sim_t* s, int32_t c) noexcept nogil:
    """The CPU's pool timer: the earliest worker creation or mayday of its pools."""
    cdef pool_t* pools = &s.pools[c * POOLS_PER_CPU]
    cdef int64_t when = NO_TIME
    cdef int32_t k
    for k in range(2):
        if pools[k].create_at < when:
            when = pools[k].create_at
        if pools[k].mayday_at < when:
            when = pools[k].mayday_at
    if when == NO_TIME:
        timer_cancel(s, cpu_slot(s, c, SLOT_POOL))
    else:
        timer_set(s, cpu_slot(s, c, SLOT_POOL), when)


cdef inline void pool_need_worker(sim_t* s, int32_t pi, int64_t now) noexcept nogil:
    """maybe_create_worker(): work is pending and no worker is idle. Create one
    (ready after wq_create_ns; it may fail under memory pressure and is retried
    after CREATE_COOLDOWN) and start the mayday timer in case that takes too long."""
    cdef pool_t* pool = &s.pools[pi]
    if pool.create_at == NO_TIME and pool_uncreated(s, pool) >= 0:
        pool.create_at = now + s.p.wq_create_ns
    if pool.mayday_at == NO_TIME and s.p.rescuer >= 0:
        pool.mayday_at = now + s.p.mayday_initial_ns
    pool_rearm(s, pool.cpu)


cdef inline int32_t pool_uncreated(sim_t* s, pool_t* pool) noexcept nogil:
    cdef int32_t w
    for w in range(pool.first_worker, pool.first_worker + pool.nworkers):
        if not (s.tasks[w].flags & TF_CREATED):
            return w
    return -1


cdef inline void pool_wake_worker(sim_t* s, int32_t pi, int64_t now) noexcept nogil:
    """wake_up_worker(): an idle worker starts processing the worklist."""
    cdef pool_t* pool = &s.pools[pi]
    cdef int32_t w = pool.idle
    if w < 0:
        if pool.head >= 0 and pi % POOLS_PER_CPU != POOL_KTHREAD:
            pool_need_worker(s, pi, now)
        return
    pool.idle = s.tasks[w].link
    s.tasks[w].link = -1
    pool.nr_running += 1
    if pool.idle < 0:
        # manage_workers(): the last idle worker starts working, so create another
        pool_need_worker(s, pi, now)
    s.tasks[w].item = -1
    set_section(&s.tasks[w], SECT_ITEM, 0, NP_NONE, CAT_WORK)
    wake_up_task(s, w, now)


cdef inline void pool_queue(sim_t* s, int32_t pi, int32_t item, int64_t now) noexcept nogil:
    """queue_work_on() / kthread_queue_work(): append to the FIFO worklist and
    wake a worker when none of the pool is running (concurrency management)."""
    cdef pool_t* pool = &s.pools[pi]
    s.items[item].next = -1
    s.items[item].queued_at = now
    if pool.tail >= 0:
        s.items[pool.tail].next = item
    else:
        pool.head = item
    pool.tail = item
    pool.nr_items += 1
    trace(s, now, pool.cpu, TR_WQ_QUEUE, item, pi, s.items[item].kind)
    if pool.nr_running == 0:
        pool_wake_worker(s, pi, now)


cdef inline int32_t pool_pop(sim_t* s, pool_t* pool) noexcept nogil:
    cdef int32_t i = pool.head
    pool.head = s.items[i].next
    if pool.head < 0:
        pool.tail = -1
    pool.nr_items -= 1
    s.items[i].next = -1
    return i


# ---------------------------------------------------------------- drain_all_pages

cdef inline void record_target_start(sim_t* s, int32_t k, int64_t now) noexcept nogil:
    cdef int32_t r = s.target_recs[k]
    cdef int32_t tc = s.target_cpus[k]
    if s.cpus[tc].inv_key:
        account_stats(s, tc, now)
        s.cpus[tc].inv_key = 0
    if r >= 0 and s.targets[r].start < 0:
        s.targets[r].start = now
        hist_record(s, s.p.hist_dispatch, now - s.targets[r].queued)


cdef inline void target_finished(sim_t* s, int32_t k, int64_t end, int64_t pages) noexcept nogil:
    """One target of the call in progress is drained."""
    cdef drain_t* d = &s.drain
    cdef int32_t r = s.target_recs[k]
    cdef call_t* call
    cdef int64_t delay
    if r >= 0:
        s.targets[r].end = end
        s.targets[r].pages += pages
    if d.call >= 0:
        call = &s.calls[d.call]
        call.pages += pages
        if r >= 0:
            delay = s.targets[r].start - s.targets[r].queued
            if call.slowest_cpu < 0 or delay > call.slowest_delay:
                call.slowest_cpu = s.target_cpus[k]
                call.slowest_delay = delay
    if end > d.max_end:
        d.max_end = end
    d.pending -= 1


cdef inline int32_t new_call(sim_t* s, int32_t caller, int32_t zone, int32_t force, int64_t now) noexcept nogil:
    cdef int32_t i
    if s.ncall >= s.call_cap:
        s.calls_dropped += 1
        return -1
    i = s.ncall
    s.ncall += 1
    s.calls[i].start = now
    s.calls[i].end = -1
    s.calls[i].caller = caller
    s.calls[i].zone = zone
    s.calls[i].force = force
    s.calls[i].skipped = 0
    s.calls[i].ntargets = 0
    s.calls[i].slowest_cpu = -1
    s.calls[i].slowest_delay = 0
    s.calls[i].pages = 0
    s.calls[i].stranded = 0
    s.calls[i].inversion_ns = 0
    return i


cdef inline int32_t new_target(sim_t* s, int32_t call, int32_t cpu, int64_t now) noexcept nogil:
    cdef int32_t i
    if call < 0 or s.ntarget_rec >= s.target_cap:
        s.targets_dropped += 1
        return -1
    i = s.ntarget_rec
    s.ntarget_rec += 1
    s.targets[i].call = call
    s.targets[i].cpu = cpu
    s.targets[i].queued = now
    s.targets[i].start = -1
    s.targets[i].end = -1
    s.targets[i].pages = 0
    return i


cdef inline int32_t drain_target_set(sim_t* s, int32_t zone, int32_t force) noexcept nogil:
    """The CPUs whose pcp for ``zone`` (any zone when -1) holds pages, or every
    online CPU with force_all_cpus (a racy snapshot in the kernel too)."""
    cdef int32_t c, n = 0
    for c in range(s.ncpu):
        if not s.cpus[c].online:
            continue
        if force or (s.cpus[c].pcp_count > 0 and (zone < 0 or s.cpus[c].node == zone)):
            s.target_cpus[n] = c
            n += 1
    return n


cdef inline int32_t drain_worker_pool(sim_t* s, int32_t c) noexcept nogil:
    if s.p.strategy == STRAT_WQ_HIGHPRI:
        return c * POOLS_PER_CPU + POOL_HIGHPRI
    if s.p.strategy == STRAT_KTHREAD or s.p.strategy == STRAT_KTHREAD_V1:
        return c * POOLS_PER_CPU + POOL_KTHREAD
    return c * POOLS_PER_CPU + POOL_NORMAL


cdef inline bint drain_all_pages(sim_t* s, int32_t c, int32_t ti, int32_t zone, int32_t force,
                                 int64_t now) noexcept nogil:
    """__drain_all_pages(zone, force_all_cpus) called by the current task ``ti``
    of CPU ``c``. Returns False when the call returned at once (a global drain
    that lost the trylock, or nothing to drain): the caller goes on; True when
    the caller now waits (asleep, spinning or draining) for its continuation."""
    cdef drain_t* d = &s.drain
    cdef task_t* t = &s.tasks[ti]
    cdef int32_t call, k, n, tc, pi, r
    if t.wait_call < 0:
        s.tstats[ti].drain_calls += 1
    if d.owner >= 0:
        if zone >= 0 and d.owner == ti:
            # mutex_lock() on pcpu_drain_mutex held by this very task: Hillf
            # Danton's deadlock; the task never goes on
            call = new_call(s, ti, zone, force, now)
            if call >= 0:
                s.calls[call].deadlock = 1
            s.deadlocks += 1
            set_section(t, SECT_DEADLOCK, 0, NP_NONE, CAT_WORKLOAD)
            block_current(s, c, now)
            return True
        if zone < 0:
            # mutex_trylock() failed: "global drain already running: just skip"
            s.tstats[ti].skipped_drains += 1
            call = new_call(s, ti, zone, force, now)
            if call >= 0:
                s.calls[call].skipped = 1
                s.calls[call].end = now
            return False
        # zone-specific callers sleep in mutex_lock() and call again when woken;
        # their call started now
        if t.wait_call < 0:
            t.wait_call = new_call(s, ti, zone, force, now)
        mutex_lock(s, c, ti, SECT_CALL, now)
        return True
    d.owner = ti
    if t.wait_call >= 0:
        call = t.wait_call
        t.wait_call = -1
    else:
        call = new_call(s, ti, zone, force, now)
    d.call = call
    n = drain_target_set(s, zone, force)
    d.ntargets = n
    d.pending = n
    d.cursor = 0
    d.cur_cpu = -1
    d.max_end = now
    if call >= 0:
        s.calls[call].ntargets = n
    for k in range(n):
        s.target_recs[k] = new_target(s, call, s.target_cpus[k], now)
    if n == 0:
        drain_done(s, now)
        return False
    if s.p.strategy == STRAT_REMOTE:
        set_section(t, SECT_REMOTE, 0, NP_NONE, CAT_DRAIN)
        return True
    if s.p.strategy == STRAT_IPI:
        set_section(t, SECT_IPI_WAIT, NO_TIME, NP_PREEMPT_OFF, CAT_DRAIN)
        for k in range(n):
            tc = s.target_cpus[k]
            s.cpus[tc].ipi_call = k
            trace(s, now, c, TR_IPI_RAISE, tc, -1, 0)
            timer_arm(s, cpu_slot(s, tc, SLOT_IPI), now if tc == c else now + s.p.ipi_latency_ns)
        return True
    # workqueue / kthread: queue the per-CPU drain work, then flush_work() each
    for k in range(n):
        tc = s.target_cpus[k]
        if (s.p.strategy == STRAT_KTHREAD or s.p.strategy == STRAT_KTHREAD_V1) and (
                s.cpus[tc].kthread < 0 or not (s.tasks[s.cpus[tc].kthread].flags & TF_CREATED)):
            kthread_fallback(s, c, k, now)
            continue
        pi = drain_worker_pool(s, tc)
        account_stats(s, tc, now)
        s.cpus[tc].inv_key = prio_key(t)
        s.items[tc].kind = ITEM_DRAIN
        s.items[tc].call = k
        s.items[tc].sleep_at = -1
        pool_queue(s, pi, tc, now)
    if d.pending == 0:
        drain_done(s, now)
        return False
    set_section(t, SECT_RETRY, 0, NP_NONE, CAT_WORKLOAD)
    block_current(s, c, now)
    return True


cdef inline void kthread_fallback(sim_t* s, int32_t c, int32_t k, int64_t now) noexcept nogil:
    """The RFC: a target without a worker is "drained" by the caller running
    drain_local_pages() itself, which drains the caller's own CPU: the target's
    pages stay where they are (stranded)."""
    cdef drain_t* d = &s.drain
    cdef cpu_t* own = &s.cpus[c]
    cdef zone_t* z = &s.zones[own.node]
    cdef int64_t pages = pcp_drain_all(z, own, 0)
    charge_overhead(s, c, now, zone_lock(s, c, z, now, pages), False)
    trace(s, now, c, TR_PCP_DRAIN, s.drain.owner, <int32_t>pages, c)
    if d.call >= 0:
        s.calls[d.call].stranded += s.cpus[s.target_cpus[k]].pcp_count
        s.calls[d.call].pages += pages
    record_target_start(s, k, now)
    target_finished(s, k, now, 0)


cdef inline void mutex_unlock(sim_t* s, int64_t now) noexcept nogil:
    """Release pcpu_drain_mutex and wake its first sleeper, which retries."""
    cdef drain_t* d = &s.drain
    cdef int32_t w = d.wait_head
    d.owner = -1
    if w >= 0:
        d.wait_head = s.tasks[w].link
        if d.wait_head < 0:
            d.wait_tail = -1
        s.tasks[w].link = -1
        wake_up_task(s, w, now)


cdef inline bint mutex_lock(sim_t* s, int32_t c, int32_t ti, int32_t cont, int64_t now) noexcept nogil:
    """mutex_lock(&pcpu_drain_mutex): True when the task holds it; else it
    sleeps and retries its continuation ``cont`` when woken."""
    cdef drain_t* d = &s.drain
    cdef task_t* t = &s.tasks[ti]
    if d.owner == ti:
        return True
    if d.owner < 0:
        d.owner = ti
        d.call = -1
        return True
    t.link = -1
    fifo_push(&d.wait_head, &d.wait_tail, &s.tasks[d.wait_tail].link if d.wait_tail >= 0 else NULL, ti)
    set_section(t, cont, 0, NP_NONE, CAT_WORK)
    block_current(s, c, now)
    return False


cdef inline void cpuhp_step(sim_t* s, int32_t c, int32_t ti, int64_t now) noexcept nogil:
    """The CPU-online callback of the RFC: create this CPU's drain kthread.
    ``kthread_rfc_v1`` allocates it while holding pcpu_drain_mutex (Hillf
    Danton's report); ``kthread`` (Suren's fix) allocates first, then takes the
    mutex only to assign it."""
    cdef task_t* t = &s.tasks[ti]
    if not (t.flags & TF_ALLOCATED):
        if s.p.strategy == STRAT_KTHREAD_V1 and not mutex_lock(s, c, ti, SECT_CPUHP, now):
            return
        alloc_refill(s, c, ti, now)
        return
    if not mutex_lock(s, c, ti, SECT_CPUHP, now):
        return
    s.tasks[s.cpus[c].kthread].flags |= TF_CREATED
    t.flags &= ~TF_ALLOCATED
    end_section(t)
    mutex_unlock(s, now)
    block_current(s, c, now)


cdef inline void drain_done(sim_t* s, int64_t now) noexcept nogil:
    """mutex_unlock(&pcpu_drain_mutex) at the end of a call: record it, let the
    caller go on (it may be asleep in flush_work()) and wake the first sleeper."""
    cdef drain_t* d = &s.drain
    cdef int32_t caller = d.owner
    cdef task_t* t = &s.tasks[caller]
    if d.call >= 0:
        s.calls[d.call].end = now
        hist_record(s, s.p.hist_drain, now - s.calls[d.call].start)
    d.call = -1
    set_section(t, SECT_RETRY, 0, NP_NONE, CAT_WORKLOAD)
    if t.state == TASK_SLEEPING:
        wake_up_task(s, caller, now)
    mutex_unlock(s, now)


cdef inline void remote_step(sim_t* s, int32_t c, int32_t ti, int64_t now) noexcept nogil:
    """drain_pages_zone() of the next target, from the caller's CPU (6.0+): take
    the target's pcp->lock, free (a chunk of) its list under zone->lock."""
    cdef drain_t* d = &s.drain
    cdef task_t* t = &s.tasks[ti]
    cdef int32_t tc, k
    cdef cpu_t* cpu
    cdef zone_t* z
    cdef int64_t pages, dur
    if d.cur_cpu >= 0:
        # the visit that just ended: release pcp->lock; the target's own flow
        # went to the zone meanwhile
        tc = d.cur_cpu
        k = d.cursor
        if tc != c:
            account_curr(s, tc, now)
        s.cpus[tc].pcp_locked = 0
        d.cur_cpu = -1
        if tc != c:
            after_event(s, tc, now)
        if s.cpus[tc].pcp_count == 0 or s.p.remote_chunk == 0:
            target_finished(s, k, now, 0)
            d.cursor += 1
        # a preemption point between two lock holds
        set_section(t, SECT_REMOTE, 0, NP_NONE, CAT_DRAIN)
        return
    if d.cursor >= d.ntargets:
        drain_done(s, now)
        return
    k = d.cursor
    tc = s.target_cpus[k]
    if tc != c:
        account_curr(s, tc, now)
    cpu = &s.cpus[tc]
    z = &s.zones[cpu.node]
    record_target_start(s, k, now)
    pages = pcp_drain_all(z, cpu, s.p.remote_chunk)
    if s.target_recs[k] >= 0:
        s.targets[s.target_recs[k]].pages += pages
    if d.call >= 0:
        s.calls[d.call].pages += pages
    dur = zone_lock(s, c, z, now, pages)
    trace(s, now, c, TR_PCP_DRAIN, ti, <int32_t>pages, tc)
    cpu.pcp_locked = 1
    d.cur_cpu = tc
    if tc != c:
        after_event(s, tc, now)
    set_section(t, SECT_REMOTE, dur, NP_IRQS_OFF, CAT_DRAIN)


cdef inline void on_ipi(sim_t* s, int32_t c, int64_t now) noexcept nogil:
    """The drain IPI arrives: drain_local_pages() in hard-IRQ context, unless
    IRQs are off here (then when they come back on)."""
    cdef cpu_t* cpu = &s.cpus[c]
    cdef drain_t* d = &s.drain
    cdef int32_t k = cpu.ipi_call
    cdef task_t* caller
    cdef int64_t np, pages, dur, end
    account_curr(s, c, now)
    if cpu.curr >= 0 and s.tasks[cpu.curr].sect_kind != SECT_NONE and s.tasks[cpu.curr].sect_np == NP_IRQS_OFF:
        np = nonpreempt_left(&s.tasks[cpu.curr])
        timer_arm(s, cpu_slot(s, c, SLOT_IPI), s.tasks[cpu.curr].exec_start + np)
        return
    if cpu.curr >= 0 and s.tasks[cpu.curr].sect_kind == SECT_NONE and nonpreempt_left(&s.tasks[cpu.curr]) > 0:
        np = nonpreempt_left(&s.tasks[cpu.curr])
        timer_arm(s, cpu_slot(s, c, SLOT_IPI), s.tasks[cpu.curr].exec_start + np)
        return
    cpu.ipi_call = -1
    s.cstats[c].ipis += 1
    record_target_start(s, k, now if now > cpu.ovh_until else cpu.ovh_until)
    pages = pcp_drain_all(&s.zones[cpu.node], cpu, 0)
    dur = zone_lock(s, c, &s.zones[cpu.node], now, pages)
    end = charge_overhead(s, c, now, dur, True)
    trace(s, end - dur, c, TR_IPI_ENTRY, -1, -1, 0)
    trace(s, end - dur, c, TR_PCP_DRAIN, -1, <int32_t>pages, c)
    trace(s, end, c, TR_IPI_EXIT, -1, -1, 0)
    target_finished(s, k, end, pages)
    if d.pending == 0:
        # the caller's spin ends when the last handler has finished
        caller = &s.tasks[d.owner]
        account_curr(s, caller.cpu, now)
        caller.sect_left = d.max_end - caller.exec_start if d.max_end > caller.exec_start else 0
        if caller.cpu != c:
            after_event(s, caller.cpu, now)
    after_event(s, c, now)


# ---------------------------------------------------------------- allocation and reclaim

cdef inline void wake_kswapd(sim_t* s, zone_t* z, int64_t now) noexcept nogil:
    """wakeup_kswapd(): kswapd reclaims until the zone is above its high mark."""
    cdef int32_t k = z.kswapd
    if k < 0 or s.tasks[k].state == TASK_RUNNABLE:
        return
    z.reclaim_active += 1
    set_section(&s.tasks[k], SECT_KSWAPD, s.p.reclaim_pages * s.p.kswapd_ns_per_page, NP_NONE, CAT_RECLAIM)
    wake_up_task(s, k, now)


cdef inline int64_t reclaim_pages(zone_t* z, int64_t want) noexcept nogil:
    """shrink_node(): take up to ``want`` in-use pages (what allocators hold is
    theirs to free, not reclaim's); the caller frees them."""
    if want > z.in_use - z.held:
        want = z.in_use - z.held
    z.in_use -= want
    z.reclaimed += want
    return want


cdef inline bint on_local_pcp(sim_t* s, int32_t c, zone_t* z) noexcept nogil:
    """Frees on CPU ``c`` go to its pcp for ``z``: its node's zone, and no
    remote drain holding the pcp lock (6.0+: then straight to the zone)."""
    return s.cpus[c].node == z - s.zones and not s.cpus[c].pcp_locked


cdef inline int64_t free_to_pcp(sim_t* s, int32_t c, zone_t* z, int64_t n, int64_t now) noexcept nogil:
    """free_unref_page_list() of ``n`` reclaimed pages (MODEL.md 6.1, 6.4): one
    by one onto CPU ``c``'s pcp; each time the count reaches nr_pcp_high() a
    bulk free of nr_pcp_free() pages under zone->lock, the holds back to back.
    Returns their CPU time (spin and holds) from ``now``. Pages on a pcp do not
    count for the watermarks: that is why a failed retry drains them."""
    cdef cpu_t* cpu = &s.cpus[c]
    cdef int64_t d = 0, step, pages
    cdef int32_t high
    if not on_local_pcp(s, c, z):
        z.free += n
        return 0
    high = nr_pcp_high(s, z, cpu)
    while n > 0:
        step = high - cpu.pcp_count
        if step < 1:
            step = 1
        if step > n:
            step = n
        pcp_add(z, cpu, step)
        n -= step
        if cpu.pcp_count >= high:
            pages = pcp_drain_all(z, cpu, nr_pcp_free(s, z, cpu, high))
            d += zone_lock(s, c, z, now + d, pages)
    return d


cdef inline void release_pages(sim_t* s, int32_t c, zone_t* z, int64_t n) noexcept nogil:
    """The OOM event's released pages (MODEL.md 6.4: released so the run goes
    on): onto the pcp up to its free threshold, the rest to the zone, at once."""
    cdef cpu_t* cpu = &s.cpus[c]
    cdef int64_t room, to_pcp = 0
    if on_local_pcp(s, c, z):
        room = pcp_free_threshold(z, cpu) - cpu.pcp_count
        to_pcp = n if n < room else (room if room > 0 else 0)
        pcp_add(z, cpu, to_pcp)
    z.free += n - to_pcp


cdef inline bint reclaim_freed(sim_t* s, int32_t c, int32_t ti, zone_t* z, int64_t got, int64_t now) noexcept nogil:
    """Free what a reclaim chunk got; True when that takes zone->lock time first
    (a SECT_PCP_FREE section, then reclaim_continue())."""
    cdef task_t* t = &s.tasks[ti]
    cdef int64_t d = free_to_pcp(s, c, z, got, now) if got > 0 else 0
    t.progress = got > 0
    if d > 0:
        set_section(t, SECT_PCP_FREE, d, NP_IRQS_OFF, CAT_ALLOC)
        return True
    return False


cdef inline void end_stall(sim_t* s, int32_t ti, int64_t now) noexcept nogil:
    cdef task_t* t = &s.tasks[ti]
    if t.stall_start < 0:
        return
    s.tstats[ti].stalls += 1
    s.tstats[ti].stall_ns += now - t.stall_start
    if t.hist_stall >= 0:
        hist_record(s, t.hist_stall, now - t.stall_start)
    if t.flags & TF_RECLAIM:
        s.zones[t.zone].reclaim_active -= 1
    t.stall_start = -1


cdef inline int64_t alloc_want(sim_t* s, task_t* t) noexcept nogil:
    """Pages the task's pending allocation takes from the zone: a refill of
    batch pages (nr_pcp_alloc(), 6.7+: batch << alloc_factor, at most what fits
    under high), or the hotplug thread's worker."""
    cdef zone_t* z = &s.zones[t.zone]
    cdef cpu_t* cpu = &s.cpus[t.cpu]
    cdef int64_t want, room
    if t.kind == KIND_CPUHP:
        return s.p.create_pages
    if s.p.pcp_rule != PCP_RULE_AUTOTUNE:
        return z.batch
    want = (<int64_t>z.batch) << cpu.pcp_alloc_factor
    room = cpu.pcp_high - cpu.pcp_count - z.batch
    if room < z.batch:
        room = z.batch
    return want if want < room else room


cdef inline void alloc_refill(sim_t* s, int32_t c, int32_t ti, int64_t now) noexcept nogil:
    """The pcp is empty: rmqueue_bulk() a batch from the zone, or enter the slow
    path when that would take the zone below its min watermark. (The hotplug
    thread allocates its kthread_worker the same way.)"""
    cdef task_t* t = &s.tasks[ti]
    cdef cpu_t* cpu = &s.cpus[c]
    cdef zone_t* z = &s.zones[t.zone]
    cdef int64_t want = alloc_want(s, t)
    if z.free < z.wmark_low:
        wake_kswapd(s, z, now)
    if z.free - want >= z.wmark_min and t.kind == KIND_CPUHP:
        z.free -= want
        z.in_use += want
        t.flags |= TF_ALLOCATED
        end_stall(s, ti, now)
        set_section(t, SECT_CREATE, s.p.create_ns, NP_NONE, CAT_WORK)
        return
    if z.free - want >= z.wmark_min:
        z.free -= want
        pcp_add(z, cpu, want)
        cpu.pcp_free_factor >>= 1
        cpu.pcp_free_count >>= 1
        if s.p.pcp_rule == PCP_RULE_AUTOTUNE:
            if cpu.pcp_alloc_factor < PCP_BATCH_SCALE_MAX:
                cpu.pcp_alloc_factor += 1
            if z.high_min != z.high_max and z.free > z.wmark_high:
                cpu.pcp_high = <int32_t>(cpu.pcp_high + z.batch if cpu.pcp_high + z.batch < z.high_max
                                         else z.high_max)
        end_stall(s, ti, now)
        set_section(t, SECT_REFILL, zone_lock(s, c, z, now, want), NP_IRQS_OFF, CAT_ALLOC)
        return
    if t.stall_start < 0:
        t.stall_start = now
        t.attempts = 0
        if t.flags & TF_RECLAIM:
            z.reclaim_active += 1
    if t.flags & TF_RECLAIM:
        t.drained = 0
        set_section(t, SECT_RECLAIM, s.p.reclaim_ns, NP_NONE, CAT_RECLAIM)
    else:
        # no direct reclaim: wait and retry (congestion_wait-like)
        set_section(t, SECT_RETRY, 0, NP_NONE, CAT_WORKLOAD)
        block_current(s, c, now)
        timer_arm(s, task_slot(s, ti), now + s.p.retry_ns)


cdef inline void alloc_retry(sim_t* s, int32_t c, int32_t ti, int64_t now) noexcept nogil:
    """get_page_from_freelist() again after reclaim or a drain; a failed retry
    after a drain ends the attempt (should_reclaim_retry(), OOM after the limit)."""
    cdef task_t* t = &s.tasks[ti]
    cdef zone_t* z = &s.zones[t.zone]
    if z.free - alloc_want(s, t) >= z.wmark_min or not (t.flags & TF_RECLAIM):
        alloc_refill(s, c, ti, now)
        return
    t.attempts += 1
    if t.attempts > s.p.max_retries:
        z.oom_events += 1
        s.tstats[ti].ooms += 1
        release_pages(s, c, z, reclaim_pages(z, s.p.oom_release))
        t.attempts = 0
        alloc_refill(s, c, ti, now)
        return
    t.drained = 0
    set_section(t, SECT_RECLAIM, s.p.reclaim_ns, NP_NONE, CAT_RECLAIM)


cdef inline void reclaim_done(sim_t* s, int32_t c, int32_t ti, int64_t now) noexcept nogil:
    """__perform_reclaim() made (or not) progress: free the pages, then go on."""
    cdef task_t* t = &s.tasks[ti]
    cdef zone_t* z = &s.zones[t.zone]
    cdef int64_t got = 0
    if _uniform(s.rng) < s.p.reclaim_success:
        got = reclaim_pages(z, s.p.reclaim_pages)
    if not reclaim_freed(s, c, ti, z, got, now):
        reclaim_retry(s, c, ti, now)


cdef inline void reclaim_retry(sim_t* s, int32_t c, int32_t ti, int64_t now) noexcept nogil:
    """__alloc_pages_direct_reclaim() after the reclaim: retry; if that fails
    after progress, drain_all_pages(NULL) once and retry."""
    cdef task_t* t = &s.tasks[ti]
    cdef zone_t* z = &s.zones[t.zone]
    if z.free - alloc_want(s, t) >= z.wmark_min:
        alloc_refill(s, c, ti, now)
        return
    if t.progress and not t.drained:
        t.drained = 1
        # kthread_rfc_v1 can make the nested drain zone-specific (CMA, compaction)
        if drain_all_pages(s, c, ti, t.zone if (t.kind == KIND_CPUHP and s.p.nested_zone) else -1, 0, now):
            return
    alloc_retry(s, c, ti, now)


cdef inline void kswapd_done(sim_t* s, int32_t c, int32_t ti, int64_t now) noexcept nogil:
    """balance_pgdat(): one chunk reclaimed and freed."""
    cdef task_t* t = &s.tasks[ti]
    cdef zone_t* z = &s.zones[t.zone]
    if not reclaim_freed(s, c, ti, z, reclaim_pages(z, s.p.reclaim_pages), now):
        kswapd_next(s, c, ti, now)


cdef inline void kswapd_next(sim_t* s, int32_t c, int32_t ti, int64_t now) noexcept nogil:
    """kswapd sleeps once the zone is above high, else reclaims another chunk."""
    cdef task_t* t = &s.tasks[ti]
    cdef zone_t* z = &s.zones[t.zone]
    if z.free >= z.wmark_high or z.in_use == z.held:
        end_section(t)
        z.reclaim_active -= 1
        block_current(s, c, now)
        return
    set_section(t, SECT_KSWAPD, s.p.reclaim_pages * s.p.kswapd_ns_per_page, NP_NONE, CAT_RECLAIM)


cdef inline void reclaim_continue(sim_t* s, int32_t c, int32_t ti, int64_t now) noexcept nogil:
    """The reclaimed pages' bulk frees (SECT_PCP_FREE) are done."""
    if s.tasks[ti].kind == KIND_KSWAPD:
        kswapd_next(s, c, ti, now)
    else:
        reclaim_retry(s, c, ti, now)


# ---------------------------------------------------------------- workers

cdef inline void start_item(sim_t* s, int32_t c, int32_t w, int32_t item, int64_t now) noexcept nogil:
    cdef task_t* t = &s.tasks[w]
    cdef item_t* it = &s.items[item]
    cdef cpu_t* cpu = &s.cpus[c]
    cdef zone_t* z = &s.zones[cpu.node]
    cdef int64_t pages, dur
    cdef int32_t high
    t.item = item
    it.ran = t.sum_exec
    trace(s, now, c, TR_WQ_START, w, item, it.kind)
    if it.kind == ITEM_DRAIN:
        # drain_local_pages_wq(): the whole pcp in one IRQs-off section
        record_target_start(s, it.call, now)
        pages = pcp_drain_all(z, cpu, 0)
        trace(s, now, c, TR_PCP_DRAIN, w, <int32_t>pages, c)
        it.cpu_left = pages
        set_section(t, SECT_DRAIN, zone_lock(s, c, z, now, pages), NP_IRQS_OFF, CAT_DRAIN)
        return
    dur = it.cpu_left if it.sleep_at < 0 else it.cpu_left - it.sleep_at
    if it.kind == ITEM_VMSTAT and s.p.pcp_rule == PCP_RULE_AUTOTUNE:
        # decay_pcp_high() from refresh_cpu_vm_stats()
        high = cpu.pcp_high - cpu.pcp_high // 8
        if cpu.pcp_count - (z.batch << 5) > high:
            high = cpu.pcp_count - (z.batch << 5)
        if high < z.high_min:
            high = <int32_t>z.high_min
        cpu.pcp_high = high
        if cpu.pcp_count > high:
            pages = pcp_drain_all(z, cpu, cpu.pcp_count - high)
            dur += zone_lock(s, c, z, now, pages)
    set_section(t, SECT_ITEM, dur, NP_NONE, CAT_WORK)


cdef inline void item_finished(sim_t* s, int32_t item, int64_t now) noexcept nogil:
    if s.items[item].kind == ITEM_DRAIN:
        target_finished(s, s.items[item].call, now, s.items[item].cpu_left)
        item_release(s, item)
        if s.drain.pending == 0 and s.drain.owner >= 0:
            drain_done(s, now)
    else:
        item_release(s, item)


cdef inline void rescuer_next(sim_t* s, int32_t c, int32_t r, int64_t now) noexcept nogil:
    """rescuer_thread(): run the pool's mm_percpu_wq items (drains, vmstat),
    not the other workqueues' items, then go to the next pool that called."""
    cdef task_t* t = &s.tasks[r]
    cdef pool_t* pool = &s.pools[t.pool]
    cdef drain_t* d = &s.drain
    cdef int32_t i, prev, nxt
    if t.item >= 0:
        pool.items_run += 1
        i = t.item
        t.item = -1
        trace(s, now, c, TR_WQ_END, r, i, s.items[i].kind)
        item_finished(s, i, now)
    prev = -1
    i = pool.head
    while i >= 0 and s.items[i].kind == ITEM_GENERIC:
        prev = i
        i = s.items[i].next
    if i >= 0:
        if prev >= 0:
            s.items[prev].next = s.items[i].next
        else:
            pool.head = s.items[i].next
        if pool.tail == i:
            pool.tail = prev
        pool.nr_items -= 1
        s.items[i].next = -1
        start_item(s, c, r, i, now)
        return
    end_section(t)
    block_current(s, c, now)
    nxt = d.mayday_head
    if nxt >= 0:
        d.mayday_head = s.pools[nxt].mayday_next
        if d.mayday_head < 0:
            d.mayday_tail = -1
        s.pools[nxt].on_mayday = 0
        rescuer_go(s, nxt, now)


cdef inline void rescuer_go(sim_t* s, int32_t pi, int64_t now) noexcept nogil:
    """The sleeping rescuer moves to the pool's CPU and wakes there."""
    cdef int32_t r = s.p.rescuer
    cdef task_t* t = &s.tasks[r]
    cdef int32_t c = s.pools[pi].cpu
    t.cpu = c
    s.cpu_hint[r] = c
    t.zone = s.cpus[c].node
    t.pool = pi
    t.item = -1
    t.vruntime = s.cpus[c].min_vruntime - s.p.sched_latency   # a sleeper: placed with full credit
    t.vlag = 0
    set_section(t, SECT_ITEM, 0, NP_NONE, CAT_WORK)
    wake_up_task(s, r, now)


cdef inline void send_mayday(sim_t* s, int32_t pi, int64_t now) noexcept nogil:
    """send_mayday(): queue the pool for the rescuer, waking it if it sleeps."""
    cdef drain_t* d = &s.drain
    cdef pool_t* pool = &s.pools[pi]
    pool.maydays += 1
    if s.tasks[s.p.rescuer].state == TASK_SLEEPING:
        rescuer_go(s, pi, now)
        return
    if pool.on_mayday or s.tasks[s.p.rescuer].pool == pi:
        return
    pool.on_mayday = 1
    pool.mayday_next = -1
    fifo_push(&d.mayday_head, &d.mayday_tail,
              &s.pools[d.mayday_tail].mayday_next if d.mayday_tail >= 0 else NULL, pi)


cdef inline bint pool_has_rescuable(sim_t* s, pool_t* pool) noexcept nogil:
    cdef int32_t i = pool.head
    while i >= 0:
        if s.items[i].kind != ITEM_GENERIC:
            return True
        i = s.items[i].next
    return False


cdef inline void cpu_offline_work(sim_t* s, int32_t c, int64_t now) noexcept nogil:
    """unbind_workers() / the RFC's kthread teardown: a drain queued on a CPU
    that goes offline has nothing left to drain (page_alloc_cpu_dead() returned
    its pages): it is finished, so the caller does not wait for the CPU."""
    cdef int32_t k, pi, i, prev, nxt
    cdef pool_t* pool
    for k in range(POOLS_PER_CPU):
        pi = c * POOLS_PER_CPU + k
        pool = &s.pools[pi]
        prev = -1
        i = pool.head
        while i >= 0:
            nxt = s.items[i].next
            if s.items[i].kind == ITEM_DRAIN:
                if prev >= 0:
                    s.items[prev].next = nxt
                else:
                    pool.head = nxt
                if pool.tail == i:
                    pool.tail = prev
                pool.nr_items -= 1
                record_target_start(s, s.items[i].call, now)
                s.items[i].cpu_left = 0
                item_finished(s, i, now)
            else:
                prev = i
            i = nxt


cdef inline void on_pool_timer(sim_t* s, int32_t c, int64_t now) noexcept nogil:
    """A pool's manager: a worker creation completes (or fails), or the mayday
    timer fires (pool_mayday_timeout())."""
    cdef int32_t k, w, pi
    cdef pool_t* pool
    cdef zone_t* z = &s.zones[s.cpus[c].node]
    for k in range(2):
        pi = c * POOLS_PER_CPU + k
        pool = &s.pools[pi]
        if pool.create_at <= now:
            w = pool_uncreated(s, pool)
            pool.create_at = NO_TIME
            if w >= 0 and z.free - s.p.wq_create_pages >= z.wmark_min:
                z.free -= s.p.wq_create_pages
                z.in_use += s.p.wq_create_pages
                s.tasks[w].flags |= TF_CREATED
                s.tasks[w].link = pool.idle
                pool.idle = w
                if pool.head >= 0 and pool.nr_running == 0:
                    pool_wake_worker(s, pi, now)
            elif w >= 0:
                pool.create_failures += 1
                pool.create_at = now + s.p.create_cooldown_ns
        if pool.mayday_at <= now:
            pool.mayday_at = NO_TIME
            if pool.head >= 0 and pool.nr_running == 0 and pool.idle < 0:
                # need_to_create_worker(): call for help for mm_percpu_wq's
                # pending works (the only workqueue here with a rescuer)
                if pool_has_rescuable(s, pool) and s.cpus[c].online:
                    send_mayday(s, pi, now)
                pool.mayday_at = now + s.p.mayday_interval_ns
    pool_rearm(s, c)
    after_event(s, c, now)


cdef inline void worker_next(sim_t* s, int32_t c, int32_t w, int64_t now) noexcept nogil:
    """worker_thread() / kthread_worker_fn(): finish the item in hand, take the
    next one while keep_working(), else go idle."""
    cdef task_t* t = &s.tasks[w]
    cdef pool_t* pool = &s.pools[t.pool]
    cdef int32_t item = t.item
    cdef item_t* it
    cdef bint kthread = t.kind == KIND_KTHREAD
    if t.kind == KIND_RESCUER:
        rescuer_next(s, c, w, now)
        return
    if item >= 0:
        it = &s.items[item]
        if it.sleep_at >= 0:                     # (only system_wq items sleep)
            # the item sleeps part way: another worker may take the next item
            it.cpu_left = it.sleep_at
            it.sleep_at = -1
            if not (t.flags & TF_INTENSIVE):       # wq_worker_sleeping(): not for CPU_INTENSIVE
                pool.nr_running -= 1
            if pool.head >= 0 and pool.nr_running == 0:
                pool_wake_worker(s, t.pool, now)
            set_section(t, SECT_ITEM, it.cpu_left, NP_NONE, CAT_WORK)
            block_current(s, c, now)
            timer_arm(s, task_slot(s, w), now + it.sleep_len)
            return
        pool.items_run += 1
        t.item = -1
        trace(s, now, c, TR_WQ_END, w, item, it.kind)
        if t.flags & TF_INTENSIVE:
            t.flags &= ~TF_INTENSIVE
            pool.nr_running += 1
        item_finished(s, item, now)
    if pool.head >= 0 and (kthread or pool.nr_running <= 1):
        start_item(s, c, w, pool_pop(s, pool), now)
        return
    # no more work: idle
    end_section(t)
    pool.nr_running -= 1
    t.link = pool.idle
    pool.idle = w
    block_current(s, c, now)


cdef inline void wq_worker_tick(sim_t* s, int32_t c) noexcept nogil:
    """6.5+: a concurrency-managed item that ran longer than the threshold is
    marked CPU_INTENSIVE, so the next item can start on another worker."""
    cdef int32_t w = s.cpus[c].curr
    cdef task_t* t
    cdef pool_t* pool
    if w < 0:
        return
    t = &s.tasks[w]
    if t.kind != KIND_KWORKER or t.item < 0 or (t.flags & TF_INTENSIVE):
        return
    if t.sum_exec - s.items[t.item].ran <= s.p.wq_hog_ns:
        return
    t.flags |= TF_INTENSIVE
    pool = &s.pools[t.pool]
    pool.nr_running -= 1
    if pool.head >= 0 and pool.nr_running == 0:
        pool_wake_worker(s, t.pool, s.now)
