# cython: language_level=3
"""The event queue: an indexed binary heap of timer slots (MODEL.md 1, 9).

Every timer (a CPU's tick, its current task's next self-event, a task's wakeup)
owns one slot; arming a slot that is already armed moves it instead of adding a
stale entry, so the heap never holds more than one entry per slot and the engine
never allocates per event. Entries order by (time, sequence number), the sequence
number being taken when the slot is armed: events at one instant run in the
order they were scheduled.
"""
from libc.stdint cimport int32_t, int64_t
from pcpsim._state cimport sim_t, heap_entry_t, cpu_t


cdef inline bint _before(heap_entry_t* a, heap_entry_t* b) noexcept nogil:
    return a.time < b.time or (a.time == b.time and a.seq < b.seq)


cdef inline void _sift_up(sim_t* s, int32_t i) noexcept nogil:
    cdef heap_entry_t e = s.heap[i]
    cdef int32_t parent
    while i > 0:
        parent = (i - 1) >> 1
        if not _before(&e, &s.heap[parent]):
            break
        s.heap[i] = s.heap[parent]
        s.heap_pos[s.heap[i].slot] = i
        i = parent
    s.heap[i] = e
    s.heap_pos[e.slot] = i


cdef inline void _sift_down(sim_t* s, int32_t i) noexcept nogil:
    cdef heap_entry_t e = s.heap[i]
    cdef int32_t n = s.heap_len
    cdef int32_t child
    while True:
        child = 2 * i + 1
        if child >= n:
            break
        if child + 1 < n and _before(&s.heap[child + 1], &s.heap[child]):
            child += 1
        if not _before(&s.heap[child], &e):
            break
        s.heap[i] = s.heap[child]
        s.heap_pos[s.heap[i].slot] = i
        i = child
    s.heap[i] = e
    s.heap_pos[e.slot] = i


cdef inline void timer_arm(sim_t* s, int32_t slot, int64_t when) noexcept nogil:
    """Arm (or move) ``slot`` to fire at ``when``."""
    cdef int32_t i = s.heap_pos[slot]
    if i < 0:
        i = s.heap_len
        s.heap_len += 1
        s.heap[i].slot = slot
        s.heap[i].time = when
        s.heap[i].seq = s.seq
        s.seq += 1
        _sift_up(s, i)
        return
    s.heap[i].time = when
    s.heap[i].seq = s.seq
    s.seq += 1
    # the new key is later than or equal to the old one in (time, seq) only
    # when time did not decrease; sift in the direction that can be needed
    _sift_up(s, i)
    _sift_down(s, s.heap_pos[slot])


cdef inline void timer_cancel(sim_t* s, int32_t slot) noexcept nogil:
    cdef int32_t i = s.heap_pos[slot]
    if i < 0:
        return
    s.heap_pos[slot] = -1
    s.heap_len -= 1
    if i == s.heap_len:
        return
    s.heap[i] = s.heap[s.heap_len]
    s.heap_pos[s.heap[i].slot] = i
    _sift_up(s, i)
    _sift_down(s, s.heap_pos[s.heap[i].slot])


cdef inline bint timer_armed(sim_t* s, int32_t slot) noexcept nogil:
    return s.heap_pos[slot] >= 0


cdef inline int64_t timer_when(sim_t* s, int32_t slot) noexcept nogil:
    return s.heap[s.heap_pos[slot]].time


# ---------------------------------------------------------------- the tick queue
#
# Ticks are most of the events, always at multiples of the tick period, and are
# armed in time order: a tick for jiffy J+1 is only ever armed once jiffy J has
# come. So they need no heap: a FIFO ring of (time, seq, cpu) is already in
# (time, seq) order, and the loop merges its head with the heap's top. A
# cancelled tick stays in the ring until it reaches the head, where it is
# recognised as stale (its seq is not its CPU's tick_seq any more).

cdef inline bint tick_armed(sim_t* s, int32_t c) noexcept nogil:
    return s.cpus[c].tick_seq >= 0


cdef inline void tick_cancel(sim_t* s, int32_t c) noexcept nogil:
    s.cpus[c].tick_seq = -1


cdef inline void _tick_compact(sim_t* s) noexcept nogil:
    """Drop the stale entries of a full ring, keeping the order of the rest."""
    cdef int32_t i, k, n = 0
    cdef heap_entry_t e
    for k in range(s.tq_len):
        i = (s.tq_head + k) % s.tq_cap
        e = s.tq[i]
        if s.cpus[e.slot].tick_seq == e.seq:
            s.tq[(s.tq_head + n) % s.tq_cap] = e
            n += 1
    s.tq_len = n


cdef inline void tick_arm(sim_t* s, int32_t c, int64_t when) noexcept nogil:
    """Arm CPU ``c``'s tick at ``when`` (a tick period boundary, never before the
    last tick already armed)."""
    cdef int32_t i
    if s.tq_len == s.tq_cap:
        _tick_compact(s)
    i = (s.tq_head + s.tq_len) % s.tq_cap
    s.tq[i].time = when
    s.tq[i].seq = s.seq
    s.tq[i].slot = c
    s.cpus[c].tick_seq = s.seq
    s.seq += 1
    s.tq_len += 1


cdef inline heap_entry_t* tick_head(sim_t* s) noexcept nogil:
    """The next live tick (stale entries at the head are dropped), or NULL."""
    cdef heap_entry_t* e
    while s.tq_len > 0:
        e = &s.tq[s.tq_head]
        if s.cpus[e.slot].tick_seq == e.seq:
            return e
        s.tq_head = (s.tq_head + 1) % s.tq_cap
        s.tq_len -= 1
    return NULL


cdef inline int32_t tick_pop(sim_t* s) noexcept nogil:
    """Remove the head tick (it fires now); return its CPU."""
    cdef int32_t c = s.tq[s.tq_head].slot
    s.tq_head = (s.tq_head + 1) % s.tq_cap
    s.tq_len -= 1
    s.cpus[c].tick_seq = -1
    return c


cdef inline heap_entry_t* next_event(sim_t* s) noexcept nogil:
    """The earliest of the heap's top and the tick queue's head, or NULL."""
    cdef heap_entry_t* t = tick_head(s)
    if s.heap_len > 0 and (t == NULL or _before(&s.heap[0], t)):
        return &s.heap[0]
    return t
