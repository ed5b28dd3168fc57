# cython: language_level=3
"""The trace buffer (issue: traces): fixed size, off unless asked for. A full
buffer counts what it drops (``trace_dropped``) instead of growing."""
from libc.stdint cimport int32_t, int64_t
from pcpsim._state cimport sim_t, trace_t


cdef inline void trace(sim_t* s, int64_t time, int32_t cpu, int32_t kind, int32_t a, int32_t b,
                       int64_t c) noexcept nogil:
    cdef trace_t* r
    if s.trace_cap == 0:
        return
    if s.ntrace >= s.trace_cap:
        s.trace_dropped += 1
        return
    r = &s.trace[s.ntrace]
    s.ntrace += 1
    r.time = time
    r.cpu = cpu
    r.type = kind
    r.a = a
    r.b = b
    r.c = c
