# cython: language_level=3
"""Durations drawn inside the loop from numpy's bit generator (MODEL.md 1, 5).

Only ``next_double`` of the bit generator is used, through numpy's C interface,
so a seed gives the same stream in every process.
"""
from libc.math cimport log, sqrt, cos, exp, M_PI
from libc.stdint cimport int32_t, int64_t
from numpy.random cimport bitgen_t
from pcpsim._state cimport DIST_FIXED, DIST_EXP, DIST_LOGNORMAL

cdef extern from *:
    """
    #define PCPSIM_MAX_SAMPLE_NS ((int64_t)1000000000000000LL)
    """
    const int64_t MAX_SAMPLE_NS "PCPSIM_MAX_SAMPLE_NS"   # 1e6 s: far from int64 overflow


cdef inline double _uniform(bitgen_t* rng) noexcept nogil:
    return rng.next_double(rng.state)


cdef inline int64_t sample_duration(bitgen_t* rng, int32_t dist, double a, double b) noexcept nogil:
    """A duration in ns, at least 1: fixed ``a``; exponential of mean ``a``;
    lognormal of mean ``a`` and shape ``b`` (sigma of the underlying normal)."""
    cdef double x, u1, u2
    if dist == DIST_FIXED:
        x = a
    elif dist == DIST_EXP:
        x = -a * log(1.0 - _uniform(rng))
    else:
        # Box-Muller; mu chosen so that the mean is a
        u1 = _uniform(rng)
        u2 = _uniform(rng)
        x = exp(log(a) - 0.5 * b * b + b * sqrt(-2.0 * log(1.0 - u1)) * cos(2.0 * M_PI * u2))
    if x < 1.0:
        return 1
    if x > <double>MAX_SAMPLE_NS:
        return MAX_SAMPLE_NS
    return <int64_t>(x + 0.5)
