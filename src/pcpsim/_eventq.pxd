# cython: language_level=3
"""The event queue: an indexed binary heap of timer slots and two FIFO rings
(MODEL.md 1, 9).

Every timer (a CPU's tick, its current task's next self-event, a task's wakeup)
owns one slot; arming a slot that is already armed moves it instead of adding a
stale entry, so the heap never holds more than one entry per slot and the engine
never allocates per event. Entries order by (time, sequence number), the sequence
number being taken when the slot is armed: events at one instant run in the
order they were scheduled.
"""
from libc.stdint cimport int32_t, int64_t
from pcpsim._state cimport sim_t, heap_entry_t, ring_t


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


cdef inline int32_t _hole_down(sim_t* s, int32_t i, heap_entry_t* e) noexcept nogil:
    """Move the hole at ``i`` down along the earlier child while that child is
    before ``e`` (all the way to a leaf when ``e`` is NULL); return where it ends."""
    cdef int32_t n = s.heap_len
    cdef int32_t child
    while True:
        child = 2 * i + 1
        if child >= n:
            break
        if child + 1 < n and _before(&s.heap[child + 1], &s.heap[child]):
            child += 1
        if e != NULL and not _before(&s.heap[child], e):
            break
        s.heap[i] = s.heap[child]
        s.heap_pos[s.heap[i].slot] = i
        i = child
    return i


cdef inline void _sift_down(sim_t* s, int32_t i) noexcept nogil:
    cdef heap_entry_t e = s.heap[i]
    i = _hole_down(s, i, &e)
    s.heap[i] = e
    s.heap_pos[e.slot] = i


cdef inline void _heap_arm(sim_t* s, int32_t slot, int64_t when) noexcept nogil:
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
    _sift_up(s, i)
    _sift_down(s, s.heap_pos[slot])


cdef inline void _heap_cancel(sim_t* s, int32_t slot) noexcept nogil:
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


cdef inline int32_t heap_pop(sim_t* s) noexcept nogil:
    """Take the top entry off (it fires now); return its slot. Floyd's pop: the
    hole goes down to a leaf along the earlier child (one comparison a level),
    then the last entry rises from there (rarely more than a level or two)."""
    cdef int32_t slot = s.heap[0].slot
    cdef int32_t i
    s.heap_pos[slot] = -1
    s.nowq.live[slot] = -1
    s.heap_len -= 1
    if s.heap_len == 0:
        return slot
    i = _hole_down(s, 0, NULL)
    s.heap[i] = s.heap[s.heap_len]
    _sift_up(s, i)
    return slot


cdef inline void timer_cancel(sim_t* s, int32_t slot) noexcept nogil:
    s.nowq.live[slot] = -1
    _heap_cancel(s, slot)


cdef inline void timer_arm(sim_t* s, int32_t slot, int64_t when) noexcept nogil:
    """Arm (or move) ``slot`` to fire at ``when`` (>= now)."""
    if when == s.now:
        _heap_cancel(s, slot)
        ring_push(s, &s.nowq, slot, when)
    else:
        s.nowq.live[slot] = -1
        _heap_arm(s, slot, when)


cdef inline bint timer_armed(sim_t* s, int32_t slot) noexcept nogil:
    return s.heap_pos[slot] >= 0 or s.nowq.live[slot] >= 0


cdef inline int64_t timer_when(sim_t* s, int32_t slot) noexcept nogil:
    return s.now if s.nowq.live[slot] >= 0 else s.heap[s.heap_pos[slot]].time


# ---------------------------------------------------------------- rings
#
# Two kinds of timers need no heap, because they are armed in (time, seq) order:
# - ticks: always at multiples of the tick period, and a tick for jiffy J+1 is
#   only ever armed once jiffy J has come;
# - timers armed for the current instant (a reschedule "on return from the
#   interrupt", a continuation): later in seq than every event of this instant
#   already queued, and all at the same time.
# Each lives in a FIFO ring; the loop takes the earliest of the heap's top and
# the rings' heads. A cancelled entry stays in its ring until it reaches the
# head, where it is dropped as stale (its seq is not live[slot] any more).

cdef inline void _ring_compact(ring_t* r) noexcept nogil:
    """Drop the stale entries of a full ring, keeping the order of the rest."""
    cdef int32_t k, n = 0
    cdef heap_entry_t e
    for k in range(r.len):
        e = r.e[(r.head + k) % r.cap]
        if r.live[e.slot] == e.seq:
            r.e[(r.head + n) % r.cap] = e
            n += 1
    r.len = n


cdef inline void ring_push(sim_t* s, ring_t* r, int32_t slot, int64_t when) noexcept nogil:
    cdef int32_t i
    if r.len == r.cap:
        _ring_compact(r)
    i = (r.head + r.len) % r.cap
    r.e[i].time = when
    r.e[i].seq = s.seq
    r.e[i].slot = slot
    r.live[slot] = s.seq
    s.seq += 1
    r.len += 1


cdef inline heap_entry_t* ring_head(ring_t* r) noexcept nogil:
    """The first live entry (stale ones at the head are dropped), or NULL."""
    cdef heap_entry_t* e
    while r.len > 0:
        e = &r.e[r.head]
        if r.live[e.slot] == e.seq:
            return e
        r.head = (r.head + 1) % r.cap
        r.len -= 1
    return NULL


cdef inline int32_t ring_pop(ring_t* r) noexcept nogil:
    """Remove the head entry (it fires now); return its slot."""
    cdef int32_t slot = r.e[r.head].slot
    r.head = (r.head + 1) % r.cap
    r.len -= 1
    r.live[slot] = -1
    return slot


cdef inline bint tick_armed(sim_t* s, int32_t c) noexcept nogil:
    return s.ticks.live[c] >= 0


cdef inline void tick_cancel(sim_t* s, int32_t c) noexcept nogil:
    s.ticks.live[c] = -1


cdef inline void tick_arm(sim_t* s, int32_t c, int64_t when) noexcept nogil:
    """Arm CPU ``c``'s tick at ``when`` (a tick period boundary, never before the
    last tick already armed)."""
    ring_push(s, &s.ticks, c, when)


cdef inline heap_entry_t* _earlier(heap_entry_t* a, heap_entry_t* b) noexcept nogil:
    if a == NULL:
        return b
    if b == NULL or _before(a, b):
        return a
    return b


cdef inline heap_entry_t* next_event(sim_t* s) noexcept nogil:
    """The earliest of the heap's top and the rings' heads, or NULL."""
    cdef heap_entry_t* e = _earlier(ring_head(&s.ticks), ring_head(&s.nowq))
    if s.heap_len > 0:
        return _earlier(&s.heap[0], e)
    return e
