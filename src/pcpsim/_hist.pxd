# cython: language_level=3
"""Log-linear latency histograms kept in the native loop (MODEL.md 8).

Values are integer nanoseconds. Values below 256 ns have a bucket each; above,
every power of two is split into 128 buckets, so a bucket is at most 1/128 of
its value wide (better than 2 significant digits) up to 2^40 ns (1100 s).
Larger values are counted as overflow (and still update max).
"""
from libc.stdint cimport int32_t, int64_t, uint64_t
from pcpsim._state cimport sim_t, hist_stats_t

cdef enum:
    HIST_SUB_BITS = 7                     # 128 buckets per power of two
    HIST_LINEAR = 256                     # exact buckets for 0..255
    HIST_MAX_EXP = 40                     # values < 2^40 ns are bucketed
    HIST_BUCKETS = 256 + (40 - 8) * 128   # 4352


cdef extern from *:
    int __builtin_clzll(unsigned long long) nogil


cdef inline int _ilog2(uint64_t v) noexcept nogil:
    return 63 - __builtin_clzll(v)


cdef inline int32_t hist_bucket(int64_t v) noexcept nogil:
    cdef int e, shift
    if v < HIST_LINEAR:
        return <int32_t>v
    e = _ilog2(<uint64_t>v)
    if e >= HIST_MAX_EXP:
        return -1
    shift = e - HIST_SUB_BITS
    return <int32_t>(HIST_LINEAR + (e - 8) * 128 + ((v >> shift) - 128))


cdef inline void hist_record(sim_t* s, int32_t h, int64_t v) noexcept nogil:
    cdef hist_stats_t* st = &s.hist_stats[h]
    cdef int32_t b
    if v < 0:
        v = 0
    if st.count == 0 or v < st.min:
        st.min = v
    if v > st.max:
        st.max = v
    st.count += 1
    st.total += v
    b = hist_bucket(v)
    if b < 0:
        st.overflow += 1
    else:
        s.hist_counts[<int64_t>h * HIST_BUCKETS + b] += 1
