# cython: language_level=3
"""The event queue: a timer wheel whose current bucket is kept in sorted lists,
a binary heap beyond its span, and two FIFO rings (MODEL.md 1, 9).

Every timer (a CPU's tick, its current task's next self-event, a task's wakeup)
owns one slot; arming a slot that is already armed moves it instead of adding a
stale entry, so the queue never holds more than one entry per slot and the engine
never allocates per event. Entries order by (time, sequence number), the sequence
number being taken when the slot is armed: events at one instant run in the
order they were scheduled. Any structure that pops in that total order gives the
same run; this one is chosen for the cost per event.

An entry is 16 bytes, its time and a key: the sequence number shifted up by
SLOT_BITS with the slot in the bits below (timer_key()). Sequence numbers are
unique, so keys order as they do; an entry is one 16-byte move where time,
seq and slot were 24 bytes and two, and its index a shift, not a multiply.
A simulation can so have at most 2^SLOT_BITS slots (MAX_SLOTS, checked when
the engine binds its arrays) and arm at most SEQ_LIMIT timers (checked at
every event, like time running backwards): 5.5e11, hours of simulating.

A binary heap of every armed timer costs a walk of log2(timers) levels per pop
and per arm: at 4096 CPUs (16 k timers, 14 levels) about a third of the loop's
instructions (callgrind, server-4096). So the timers
are split by how far ahead they are (a calendar queue, as in Brown 1988, and the
kernel's own timer wheel):
- the current bucket: the timers due before the wheel's current bucket ends,
  in CURRENT_SUBS sub-buckets of 64 ns, each a list in (time, key) order,
  with a bitmap of the non-empty ones: a pop takes the first list's head, an
  arm goes behind the entries before it, found from the list's tail (arming
  order is key order, so almost always the tail). At 4096 CPUs tens of timers
  are due in a bucket; a heap of them cost a sift of a few dependent levels a
  pop, 13 % of the samples, where the lists cost a bit scan (10 % faster in
  all, benchmarks/README.md);
- the wheel: WHEEL_SIZE buckets of BUCKET_NS each, from the current bucket on,
  a bucket being a list of slots in arming order (arming and cancelling cost
  O(1)); when the current bucket runs dry the next non-empty bucket (found in
  a bitmap) becomes current and its timers move into its sub-buckets, unless
  a ring's next event comes before that bucket;
- ``far``: a binary heap of the timers beyond the wheel's span (vmstat's
  second, long sleeps), moved onto the wheel as it turns.

``heap_pos[slot]`` says which part holds a slot's timer: -1 none, IN_CURRENT,
IN_WHEEL or IN_FAR; ``wheel[slot]`` holds its time and key whatever the part
(and its list's links in the current bucket and on the wheel). A far-heap
entry's index is not kept: a sift would write the position of every entry it
moves, one scattered store a level (a slot-indexed array of 300 KB at 4096
CPUs), where a timer leaves the far heap other than by its pop about never;
it is then found by a scan.
"""
from libc.stdint cimport int32_t, int64_t, uint64_t
from pcpsim._state cimport sim_t, heap_entry_t, heap_t, ring_t, NO_TIME

cdef extern from *:
    int __builtin_ctzll(unsigned long long x) nogil

cdef enum:
    BUCKET_SHIFT = 12                       # 4.096 us a bucket: a few timers each at 4096 CPUs
    BUCKET_NS = 1 << BUCKET_SHIFT
    WHEEL_SHIFT = 14
    WHEEL_SIZE = 1 << WHEEL_SHIFT           # 16384 buckets: 67 ms
    WHEEL_MASK = WHEEL_SIZE - 1
    WHEEL_WORDS = WHEEL_SIZE // 64
    IN_CURRENT = -3
    IN_WHEEL = -2
    WHEEL_SPAN = 1 << (BUCKET_SHIFT + WHEEL_SHIFT)
    IN_FAR = -4
    SLOT_BITS = 24                          # a key's low bits: the slot
    MAX_SLOTS = 1 << SLOT_BITS
    SLOT_MASK = MAX_SLOTS - 1

# A key's high bits hold the sequence number, below the sign bit (the rings'
# live[] arrays say -1 for none); an event arms far fewer than 2^32 timers, so
# a simulation stops below 2^39 - 2^32 before one arms past 2^39.
cdef extern from *:
    """
    #define PCPSIM_SEQ_LIMIT ((((int64_t)1) << 39) - (((int64_t)1) << 32))
    """
    const int64_t SEQ_LIMIT "PCPSIM_SEQ_LIMIT"


cdef inline int64_t timer_key(int64_t seq, int32_t slot) noexcept nogil:
    """The key of ``slot``'s entry armed with sequence number ``seq``."""
    return (seq << SLOT_BITS) | slot


cdef inline int32_t entry_slot(heap_entry_t* e) noexcept nogil:
    return <int32_t>(e.key & SLOT_MASK)


cdef inline bint _before(heap_entry_t* a, heap_entry_t* b) noexcept nogil:
    return a.time < b.time or (a.time == b.time and a.key < b.key)


# ---------------------------------------------------------------- heaps

cdef inline int32_t _hole_up(heap_t* h, int32_t i, heap_entry_t* e) noexcept nogil:
    """Move the hole at ``i`` up while its parent is after ``e`` (a copy, not
    an entry of ``h``), then put ``e`` in it; return where. A push or a pop
    puts its entry in once, where it stops, not first in the hole and then
    again there."""
    cdef int32_t parent
    while i > 0:
        parent = (i - 1) >> 1
        if not _before(e, &h.e[parent]):
            break
        h.e[i] = h.e[parent]
        i = parent
    h.e[i] = e[0]
    return i


cdef inline int32_t _sift_up(heap_t* h, int32_t i) noexcept nogil:
    cdef heap_entry_t e = h.e[i]
    return _hole_up(h, i, &e)


cdef inline int32_t _hole_down(heap_t* h, int32_t i, heap_entry_t* e) noexcept nogil:
    """Move the hole at ``i`` down along the earlier child while that child is
    before ``e`` (all the way to a leaf when ``e`` is NULL); return where it ends."""
    cdef int32_t n = h.len
    cdef int32_t child
    while True:
        child = 2 * i + 1
        if child >= n:
            break
        if child + 1 < n and _before(&h.e[child + 1], &h.e[child]):
            child += 1
        if e != NULL and not _before(&h.e[child], e):
            break
        h.e[i] = h.e[child]
        i = child
    return i


cdef inline void _sift_down(heap_t* h, int32_t i) noexcept nogil:
    cdef heap_entry_t e = h.e[i]
    h.e[_hole_down(h, i, &e)] = e


cdef inline void _heap_push(heap_t* h, int64_t when, int64_t key) noexcept nogil:
    cdef heap_entry_t e
    cdef int32_t i = h.len
    e.time = when
    e.key = key
    h.len += 1
    _hole_up(h, i, &e)


cdef inline void _heap_remove(heap_t* h, int32_t slot) noexcept nogil:
    """Take ``slot``'s entry out, found by a scan (its heap_pos is the caller's)."""
    cdef int32_t i = 0
    while entry_slot(&h.e[i]) != slot:
        i += 1
    h.len -= 1
    if i == h.len:
        return
    h.e[i] = h.e[h.len]
    _sift_down(h, _sift_up(h, i))


cdef inline int32_t _heap_take_top(heap_t* h) noexcept nogil:
    """Floyd's pop: the hole goes down to a leaf along the earlier child (one
    comparison a level), then the last entry rises from there (rarely more
    than a level or two). Returns the slot taken off; its position is the
    caller's."""
    cdef int32_t slot = entry_slot(&h.e[0])
    cdef int32_t i
    cdef heap_entry_t last
    h.len -= 1
    if h.len == 0:
        return slot
    i = _hole_down(h, 0, NULL)
    last = h.e[h.len]
    _hole_up(h, i, &last)
    return slot


# ---------------------------------------------------------------- the wheel

cdef inline int32_t bucket_of(int64_t t) noexcept nogil:
    """The wheel bucket that time ``t`` falls in."""
    return <int32_t>((t >> BUCKET_SHIFT) & WHEEL_MASK)


cdef inline int64_t bucket_floor(int64_t t) noexcept nogil:
    """The start of the bucket-long interval holding ``t``."""
    return (t >> BUCKET_SHIFT) << BUCKET_SHIFT


cdef inline void _wheel_add(sim_t* s, int32_t slot, int64_t when) noexcept nogil:
    """Append to the bucket's list, so that it is in seq order (but for timers
    brought in from ``far``, which come in time order): moved into the current
    bucket in that order, the many timers of one instant (a period boundary)
    each go to their sub-bucket's tail. The first slot's ``prev`` is the last
    one."""
    cdef int32_t b = bucket_of(when)
    cdef int32_t head = s.wheel_head[b]
    s.wheel[slot].next = -1
    if head >= 0:
        s.wheel[slot].prev = s.wheel[head].prev
        s.wheel[s.wheel[head].prev].next = slot
        s.wheel[head].prev = slot
    else:
        s.wheel[slot].prev = slot
        s.wheel_head[b] = slot
        s.wheel_bits[b >> 6] |= (<uint64_t>1) << (b & 63)
        if s.wheel_next >= 0 and when - s.wheel_next < 0:
            s.wheel_next = bucket_floor(when)
    s.heap_pos[slot] = IN_WHEEL
    s.wheel_len += 1


cdef inline void _wheel_remove(sim_t* s, int32_t slot) noexcept nogil:
    cdef int32_t b = bucket_of(s.wheel[slot].time)
    cdef int32_t head = s.wheel_head[b], nxt = s.wheel[slot].next, prv = s.wheel[slot].prev
    s.wheel_len -= 1
    if slot == head:
        if nxt < 0:
            s.wheel_head[b] = -1
            s.wheel_bits[b >> 6] &= ~((<uint64_t>1) << (b & 63))
            if s.wheel_next == bucket_floor(s.wheel[slot].time):
                s.wheel_next = -1
        else:
            s.wheel[nxt].prev = prv          # the last one
            s.wheel_head[b] = nxt
        return
    s.wheel[prv].next = nxt
    if nxt >= 0:
        s.wheel[nxt].prev = prv
    else:
        s.wheel[head].prev = prv


cdef enum:
    CURRENT_SUBS = 64                       # one bit each in cur_bits
    SUB_SHIFT = BUCKET_SHIFT - 6            # 64 ns a sub-bucket


cdef inline int32_t cur_sub(sim_t* s, int64_t t) noexcept nogil:
    """The current bucket's sub-bucket that time ``t`` falls in (a time before
    the wheel's start, were there one, in the first)."""
    cdef int64_t ahead = t - s.wheel_start
    return <int32_t>(ahead >> SUB_SHIFT) if ahead > 0 else 0


cdef inline void _cur_add(sim_t* s, int32_t slot) noexcept nogil:
    """Put ``slot`` (its wheel row holds its time and key) in its sub-bucket of
    the current bucket, in (time, key) order: behind the entries before it,
    found from the tail (arming order is key order, so mostly the tail)."""
    cdef int32_t b = cur_sub(s, s.wheel[slot].time)
    cdef int32_t p = s.cur_tail[b] if s.cur_head[b] >= 0 else -1
    cdef int32_t n
    while p >= 0 and _before(<heap_entry_t*>&s.wheel[slot], <heap_entry_t*>&s.wheel[p]):
        p = s.wheel[p].prev
    n = s.cur_head[b] if p < 0 else s.wheel[p].next
    s.wheel[slot].prev = p
    s.wheel[slot].next = n
    if p >= 0:
        s.wheel[p].next = slot
    else:
        if s.cur_head[b] < 0:
            s.cur_bits |= (<uint64_t>1) << b
        s.cur_head[b] = slot
    if n >= 0:
        s.wheel[n].prev = slot
    else:
        s.cur_tail[b] = slot
    if s.cur_len == 0 or _before(<heap_entry_t*>&s.wheel[slot], &s.cur_top):
        s.cur_top = (<heap_entry_t*>&s.wheel[slot])[0]
    s.heap_pos[slot] = IN_CURRENT
    s.cur_len += 1


cdef inline void _cur_remove(sim_t* s, int32_t slot) noexcept nogil:
    cdef int32_t b = cur_sub(s, s.wheel[slot].time)
    cdef int32_t p = s.wheel[slot].prev, n = s.wheel[slot].next
    if p >= 0:
        s.wheel[p].next = n
    else:
        s.cur_head[b] = n
        if n < 0:
            s.cur_bits &= ~((<uint64_t>1) << b)
    if n >= 0:
        s.wheel[n].prev = p
    else:
        s.cur_tail[b] = p
    s.cur_len -= 1
    if s.cur_len > 0 and slot == entry_slot(&s.cur_top):
        s.cur_top = (<heap_entry_t*>&s.wheel[s.cur_head[__builtin_ctzll(s.cur_bits)]])[0]


cdef inline void _queue_add(sim_t* s, int32_t slot, int64_t when, int64_t key) noexcept nogil:
    """File an unarmed slot's timer (``key``: timer_key()) where its distance
    from the wheel's start puts it."""
    cdef int64_t ahead = when - s.wheel_start
    s.wheel[slot].time = when
    s.wheel[slot].key = key
    if ahead < BUCKET_NS:
        _cur_add(s, slot)
    elif ahead < WHEEL_SPAN:
        _wheel_add(s, slot, when)
    else:
        _heap_push(&s.far, when, key)
        s.heap_pos[slot] = IN_FAR


cdef inline void _queue_remove(sim_t* s, int32_t slot) noexcept nogil:
    cdef int32_t pos = s.heap_pos[slot]
    if pos == -1:
        return
    s.heap_pos[slot] = -1
    if pos == IN_WHEEL:
        _wheel_remove(s, slot)
    elif pos == IN_FAR:
        _heap_remove(&s.far, slot)
    else:
        _cur_remove(s, slot)


cdef inline int64_t next_bucket_start(sim_t* s) noexcept nogil:
    """Start (ns) of the first non-empty bucket after the current one (the
    wheel is not empty)."""
    cdef int32_t cur = bucket_of(s.wheel_start)
    cdef int32_t b = (cur + 1) & WHEEL_MASK
    cdef int32_t w = b >> 6
    cdef uint64_t word = s.wheel_bits[w] & (~(<uint64_t>0) << (b & 63))
    while word == 0:
        w = (w + 1) & (WHEEL_WORDS - 1)
        word = s.wheel_bits[w]
    b = (w << 6) + __builtin_ctzll(word)
    return s.wheel_start + ((<int64_t>((b - cur) & WHEEL_MASK)) << BUCKET_SHIFT)


cdef inline void _wheel_advance(sim_t* s, int64_t start) noexcept nogil:
    """Move the wheel's start on to ``start`` (a bucket boundary, with no timer
    before it outside the current bucket), then bring the far timers now
    within the span onto the wheel."""
    cdef int32_t slot
    s.wheel_start = start
    while s.far.len > 0 and s.far.e[0].time - start < WHEEL_SPAN:
        slot = entry_slot(&s.far.e[0])
        _queue_add(s, slot, s.far.e[0].time, s.far.e[0].key)
        _heap_take_top(&s.far)


cdef inline void _turn_wheel(sim_t* s, int64_t limit) noexcept nogil:
    """The current bucket ran dry: make the next non-empty bucket current and
    move its timers into its sub-buckets, unless a ring's event at ``limit``
    comes before that bucket. The wheel's start so never passes the next
    event, and timers armed from there are never behind it (which would leave
    them all in sub-bucket 0). The start moves only here, with the current
    bucket empty: a timer's sub-bucket stays where its time put it."""
    cdef int32_t b, slot, nxt
    cdef int64_t start
    if s.wheel_len > 0:
        if s.wheel_next < 0:       # the bitmap is searched once per bucket, not per event
            s.wheel_next = next_bucket_start(s)
        start = s.wheel_next
        b = bucket_of(start)
    else:
        b = -1
        start = bucket_floor(s.far.e[0].time)
    if start > limit:
        # not yet: but keep the span ahead of the rings' events, or timers
        # armed from there would pass it and pile up in ``far``
        if limit - s.wheel_start >= WHEEL_SPAN // 2:
            _wheel_advance(s, bucket_floor(limit))
        return
    if b >= 0:
        s.wheel_next = -1
        slot = s.wheel_head[b]
        s.wheel_head[b] = -1
        s.wheel_bits[b >> 6] &= ~((<uint64_t>1) << (b & 63))
        s.wheel_start = start
        while slot >= 0:
            nxt = s.wheel[slot].next
            s.wheel_len -= 1
            _cur_add(s, slot)
            slot = nxt
    _wheel_advance(s, start)


cdef inline int32_t queue_pop(sim_t* s) noexcept nogil:
    """Take the current bucket's first timer off (it fires now); return its slot."""
    cdef int32_t slot = entry_slot(&s.cur_top)
    _cur_remove(s, slot)
    s.heap_pos[slot] = -1
    # (nowq.live[slot] is -1 already: a slot is in the current bucket, the
    # wheel, far or the same-instant ring, never in two; timer_arm() keeps it so)
    return slot


cdef inline heap_entry_t* queue_top(sim_t* s, int64_t limit) noexcept nogil:
    """The earliest timer of the current bucket, the wheel and far if it is
    due by ``limit`` (the rings' next event), else perhaps NULL. The current
    bucket's is a copy kept in ``cur_top``: the loop compares it with the rings'
    heads at every event, and its row would be a chain of dependent loads
    (the bitmap, the list's head, the row)."""
    if s.cur_len == 0:
        if s.wheel_len == 0 and s.far.len == 0:
            return NULL
        _turn_wheel(s, limit)
        if s.cur_len == 0:
            return NULL
    return &s.cur_top


cdef inline void timer_cancel(sim_t* s, int32_t slot) noexcept nogil:
    s.nowq.live[slot] = -1
    _queue_remove(s, slot)


cdef inline void timer_arm(sim_t* s, int32_t slot, int64_t when) noexcept nogil:
    """Arm (or move) ``slot`` to fire at ``when`` (>= now)."""
    if when == s.now:
        _queue_remove(s, slot)
        ring_push(s, &s.nowq, slot, when)
        return
    s.nowq.live[slot] = -1
    _queue_remove(s, slot)
    _queue_add(s, slot, when, timer_key(s.seq, slot))
    s.seq += 1


cdef inline bint timer_armed(sim_t* s, int32_t slot) noexcept nogil:
    return s.heap_pos[slot] != -1 or s.nowq.live[slot] >= 0


cdef inline int64_t timer_when(sim_t* s, int32_t slot) noexcept nogil:
    """When armed ``slot`` fires."""
    if s.nowq.live[slot] >= 0:
        return s.now
    return s.wheel[slot].time


# ---------------------------------------------------------------- rings
#
# Two kinds of timers need no heap, because they are armed in (time, seq) order:
# - ticks: always at multiples of the tick period, and a tick for jiffy J+1 is
#   only ever armed once jiffy J has come;
# - timers armed for the current instant (a reschedule "on return from the
#   interrupt", a continuation): later in seq than every event of this instant
#   already queued, and all at the same time.
# Each lives in a FIFO ring; the loop takes the earliest of the queue's top and
# the rings' heads. A cancelled entry stays in its ring until it reaches the
# head, where it is dropped as stale (its seq is not live[slot] any more).

cdef inline int32_t ring_index(ring_t* r, int32_t k) noexcept nogil:
    """Where the entry ``k`` (<= cap) after the head lies: a compare, not a
    ``%`` by the run-time capacity (an integer division on the way from every
    event to the next)."""
    cdef int32_t i = r.head + k
    return i - r.cap if i >= r.cap else i


cdef inline bint ring_live(ring_t* r, heap_entry_t* e) noexcept nogil:
    """Is ``e``, an entry of ``r``, still armed (not cancelled or moved)?"""
    return r.live[entry_slot(e)] == e.key


cdef inline void _ring_compact(ring_t* r) noexcept nogil:
    """Drop the stale entries of a full ring, keeping the order of the rest."""
    cdef int32_t k, n = 0
    cdef heap_entry_t e
    for k in range(r.len):
        e = r.e[ring_index(r, k)]
        if ring_live(r, &e):
            r.e[ring_index(r, n)] = e
            n += 1
    r.len = n


cdef inline void ring_push(sim_t* s, ring_t* r, int32_t slot, int64_t when) noexcept nogil:
    cdef int32_t i
    if r.len == r.cap:
        _ring_compact(r)
    i = ring_index(r, r.len)
    r.e[i].time = when
    r.e[i].key = timer_key(s.seq, slot)
    r.live[slot] = r.e[i].key
    s.seq += 1
    r.len += 1


cdef inline void _ring_advance(ring_t* r) noexcept nogil:
    """Drop the head entry. An emptied ring starts again at entry 0: the
    same-instant ring then reuses the lines of its first entries, instant after
    instant, instead of walking its whole capacity (2.7 MB at 4096 CPUs) and
    pushing the machine's state out of the cache with it."""
    r.len -= 1
    r.head = 0 if r.len == 0 else ring_index(r, 1)


cdef inline heap_entry_t* ring_first(ring_t* r) noexcept nogil:
    """The head entry, live or stale, or NULL."""
    return &r.e[r.head] if r.len > 0 else NULL


cdef inline heap_entry_t* ring_head(ring_t* r) noexcept nogil:
    """The first live entry (stale ones at the head are dropped), or NULL."""
    cdef heap_entry_t* e = ring_first(r)
    while e != NULL and not ring_live(r, e):
        _ring_advance(r)
        e = ring_first(r)
    return e


cdef inline int32_t ring_ahead(ring_t* r, int32_t k) noexcept nogil:
    """The slot of the entry ``k`` after the head (perhaps stale: for
    prefetching only), or -1 when the ring is shorter."""
    if r.len <= k:
        return -1
    return entry_slot(&r.e[ring_index(r, k)])


cdef inline int32_t ring_pop(ring_t* r, heap_entry_t* e) noexcept nogil:
    """Remove the head entry, ``e`` (next_event()'s: it fires now, and the
    loop holds it already); return its slot."""
    cdef int32_t slot = entry_slot(e)
    _ring_advance(r)
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


cdef enum:
    SRC_QUEUE = 0
    SRC_TICKS = 1
    SRC_NOWQ = 2


cdef inline heap_entry_t* next_event(sim_t* s, int32_t* src) noexcept nogil:
    """The earliest of the timer queue's top and the rings' heads, or NULL;
    ``src`` (unless NULL) says where it is: SRC_QUEUE, SRC_TICKS or SRC_NOWQ
    (so that the loop need not work it out again from the pointer).
    Only the ring head that comes first is checked for being live: a ring is
    in (time, seq) order, so a stale head is before every live entry behind
    it, and a head that loses loses as well to the live entries behind it. A
    stale head that comes first is dropped and the comparison made again
    (its earlier time may have kept the wheel from turning: harmless, the
    queue's order is the same)."""
    cdef heap_entry_t* tk
    cdef heap_entry_t* nq
    cdef heap_entry_t* r
    cdef heap_entry_t* h
    cdef int32_t where
    while True:
        tk = ring_first(&s.ticks)
        nq = ring_first(&s.nowq)
        if tk != NULL and (nq == NULL or _before(tk, nq)):
            r = tk
            where = SRC_TICKS
        else:
            r = nq
            where = SRC_NOWQ
        h = queue_top(s, NO_TIME if r == NULL else r.time)
        if h != NULL and (r == NULL or _before(h, r)):
            r = h
            where = SRC_QUEUE
            break
        # each ring named, not through a pointer chosen at run time: fewer
        # instructions on the way to every event
        if where == SRC_TICKS:
            if ring_live(&s.ticks, r):
                break
            ring_head(&s.ticks)
        elif r == NULL or ring_live(&s.nowq, r):
            break
        else:
            ring_head(&s.nowq)
    if src != NULL:
        src[0] = where
    return r
