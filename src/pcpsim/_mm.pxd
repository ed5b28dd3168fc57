# cython: language_level=3
"""Zones, the zone lock and the pcp lists (MODEL.md 6): the arithmetic of the
page allocator, with no scheduling in it.

Pages move only at events: a running allocator's pcp count is advanced
analytically (one net page per ``flow_ns`` of its CPU time) and the engine
schedules an event only when the count reaches 0 (refill) or the free
threshold (bulk free), so the cost of a run grows with pcp boundary crossings,
not with pages. Every move keeps ``free + pcp_pages + in_use == managed``.
"""
from libc.stdint cimport int32_t, int64_t
from pcpsim._state cimport *

cdef enum:
    PCP_RULE_FIXED = 0      # < 5.14: high = 6 * batch, frees batch pages
    PCP_RULE_FACTOR = 1     # 5.14-6.6: free_factor doubles the amount freed
    PCP_RULE_AUTOTUNE = 2   # 6.7+: high auto-tuned in [high_min, high_max]
    PCP_BATCH_SCALE_MAX = 5


cdef inline int64_t zone_lock(sim_t* s, int32_t c, zone_t* z, int64_t now, int64_t pages) noexcept nogil:
    """spin_lock(&zone->lock) for a bulk move of ``pages``: a FIFO spinlock, so the
    requester spins until every earlier holder is done, then holds it for
    ``lock_base + pages * page_cost``. Returns spin + hold (CPU time, IRQs off)."""
    cdef int64_t start = z.lock_free_at if z.lock_free_at > now else now
    cdef int64_t hold = s.p.lock_base_ns + pages * s.p.page_cost_ns
    z.lock_free_at = start + hold
    z.lock_hold_ns += hold
    z.lock_spin_ns += start - now
    z.lock_acquisitions += 1
    s.cstats[c].lock_spin_ns += start - now
    return start - now + hold


cdef inline int32_t pcp_free_threshold(zone_t* z, cpu_t* cpu) noexcept nogil:
    """nr_pcp_high() without its side effects: high, or min(4 * batch, high)
    while reclaim is active."""
    if z.reclaim_active and 4 * z.batch < cpu.pcp_high:
        return 4 * z.batch
    return cpu.pcp_high


cdef inline int32_t nr_pcp_high(sim_t* s, zone_t* z, cpu_t* cpu) noexcept nogil:
    """nr_pcp_high() at a free: the count at which the pcp is flushed. 6.7+
    auto-tuning also moves pcp->high: down by the pages freed while reclaim is
    active or the zone is below its high watermark, up to hold free_count + batch
    pages otherwise."""
    cdef int32_t high = cpu.pcp_high
    cdef int32_t step, need
    if s.p.pcp_rule != PCP_RULE_AUTOTUNE or z.high_min == z.high_max:
        return pcp_free_threshold(z, cpu)
    step = cpu.pcp_free_count if cpu.pcp_free_count > z.batch else z.batch
    if z.reclaim_active:
        cpu.pcp_high = <int32_t>(high - step if high - step > z.high_min else z.high_min)
        return 4 * z.batch if 4 * z.batch < cpu.pcp_high else cpu.pcp_high
    if z.free < z.wmark_high:
        cpu.pcp_high = <int32_t>(high - step if high - step > z.high_min else z.high_min)
        return cpu.pcp_count if cpu.pcp_count > z.high_min else <int32_t>z.high_min
    if cpu.pcp_count >= high:
        need = cpu.pcp_free_count + z.batch
        if high < need:
            cpu.pcp_high = <int32_t>(need if need < z.high_max else z.high_max)
    return high


cdef inline int32_t nr_pcp_free(sim_t* s, zone_t* z, cpu_t* cpu, int32_t high) noexcept nogil:
    """nr_pcp_free(): pages a bulk free returns: batch (< 5.14), batch doubled
    by free_factor (5.14-6.6), free_count (6.7+), within [batch, high - batch]."""
    cdef int32_t batch = z.batch
    cdef int32_t max_free = high - batch
    cdef int64_t n
    if s.p.pcp_rule == PCP_RULE_FIXED:
        return batch
    if high < batch:
        return 1
    if s.p.pcp_rule == PCP_RULE_AUTOTUNE:
        n = cpu.pcp_free_count
    else:
        n = (<int64_t>batch) << cpu.pcp_free_factor
        if n < max_free:
            cpu.pcp_free_factor += 1
    if n > max_free:
        n = max_free
    if n < batch:
        n = batch
    return <int32_t>n


cdef inline void pcp_add(zone_t* z, cpu_t* cpu, int64_t pages) noexcept nogil:
    cpu.pcp_count += <int32_t>pages
    z.pcp_pages += pages


cdef inline int64_t pcp_drain_all(zone_t* z, cpu_t* cpu, int64_t limit) noexcept nogil:
    """free_pcppages_bulk() of up to ``limit`` pages (<= 0: all) back to the zone."""
    cdef int64_t n = cpu.pcp_count
    if limit > 0 and n > limit:
        n = limit
    cpu.pcp_count -= <int32_t>n
    z.pcp_pages -= n
    z.free += n
    return n


cdef inline void flow_pages(sim_t* s, int32_t c, task_t* t, int64_t delta) noexcept nogil:
    """Advance an allocator's page flow by ``delta`` ns of its CPU time. While a
    remote drain holds the pcp lock the pages go to and from the zone directly
    (rmqueue_buddy / free_one_page, 6.0+)."""
    cdef cpu_t* cpu = &s.cpus[c]
    cdef zone_t* z = &s.zones[t.zone]
    cdef int64_t total = t.flow_acc + delta
    cdef int64_t n = total // t.flow_ns
    t.flow_acc = total - n * t.flow_ns
    if n == 0:
        return
    if t.flow_dir < 0:
        if cpu.pcp_locked:
            if n > z.free:
                n = z.free
            z.free -= n
            s.cstats[c].pcp_fallback += n
        else:
            if n > cpu.pcp_count:
                n = cpu.pcp_count
            pcp_add(z, cpu, -n)
        z.in_use += n
        z.held += n
        t.held += n
    else:
        if n > t.held:
            n = t.held
        if cpu.pcp_locked:
            z.free += n
            s.cstats[c].pcp_fallback += n
        else:
            pcp_add(z, cpu, n)
            cpu.pcp_free_count += <int32_t>n
            if cpu.pcp_free_count > z.batch << PCP_BATCH_SCALE_MAX:
                cpu.pcp_free_count = z.batch << PCP_BATCH_SCALE_MAX
        z.in_use -= n
        z.held -= n
        t.held -= n


cdef inline int64_t flow_boundary_ns(sim_t* s, int32_t c, task_t* t) noexcept nogil:
    """CPU time until the flow empties the pcp (refill) or fills it to the free
    threshold (bulk free); NO_TIME when nothing will happen."""
    cdef cpu_t* cpu = &s.cpus[c]
    cdef int64_t pages
    if t.flow_dir == 0 or cpu.pcp_locked:
        return NO_TIME
    if t.flow_dir < 0:
        pages = cpu.pcp_count
    else:
        pages = pcp_free_threshold(&s.zones[t.zone], cpu) - cpu.pcp_count
        if pages > t.held:
            return NO_TIME
    if pages <= 0:
        return 0
    return pages * t.flow_ns - t.flow_acc


cdef inline bint flow_at_boundary(sim_t* s, int32_t c, task_t* t) noexcept nogil:
    return flow_boundary_ns(s, c, t) == 0
