# cython: language_level=3
"""Fixed-point arithmetic of the fair class, as kernel/sched/fair.c does it."""
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t


cdef inline int _fls32(uint32_t x) noexcept nogil:
    cdef int r = 0
    while x:
        x >>= 1
        r += 1
    return r


cdef inline uint64_t mul_u64_u32_shr(uint64_t a, uint32_t mul, int shift) noexcept nogil:
    """include/linux/math64.h, the generic version (no 128-bit type needed)."""
    cdef uint32_t ah = <uint32_t>(a >> 32)
    cdef uint32_t al = <uint32_t>a
    cdef uint64_t ret = ((<uint64_t>al) * mul) >> shift
    if ah:
        ret += ((<uint64_t>ah) * mul) << (32 - shift)
    return ret


cdef inline int64_t calc_delta(int64_t delta, uint64_t weight, uint32_t inv_weight) noexcept nogil:
    """__calc_delta(delta, weight, lw): delta * weight / lw->weight with the
    precomputed inverse lw->inv_weight = 2^32 / lw->weight (sched_prio_to_wmult)."""
    cdef uint64_t fact = weight
    cdef int shift = 32
    cdef int fs
    cdef uint32_t fact_hi = <uint32_t>(fact >> 32)
    if fact_hi:
        fs = _fls32(fact_hi)
        shift -= fs
        fact >>= fs
    fact = fact * inv_weight
    fact_hi = <uint32_t>(fact >> 32)
    if fact_hi:
        fs = _fls32(fact_hi)
        shift -= fs
        fact >>= fs
    return <int64_t>mul_u64_u32_shr(<uint64_t>delta, <uint32_t>fact, shift)


cdef inline int64_t calc_delta_fair(int64_t delta, int32_t weight, int32_t wmult) noexcept nogil:
    """calc_delta_fair(): real time to the virtual time of an entity of ``weight``."""
    if weight == 1024:
        return delta
    return calc_delta(delta, 1024, <uint32_t>wmult)


cdef inline int64_t div_weight(int64_t delta, int64_t weight, int64_t load) noexcept nogil:
    """delta * weight / load for sched_slice(): __calc_delta with the inverse of an
    arbitrary load (__update_inv_weight: WMULT_CONST / w)."""
    cdef uint32_t inv
    if load <= 0:
        return delta
    if load >= <int64_t>0xffffffff:
        inv = 1
    else:
        inv = <uint32_t>((<uint64_t>0xffffffff) // <uint64_t>load)
    return calc_delta(delta, <uint64_t>weight, inv)
