# cython: language_level=3
"""Native state of the engine: the C structs behind every numpy view.

Each struct has a numpy structured dtype twin in ``_core.pyx`` (checked field by
field at import); the arrays are owned by numpy so that a Simulation pickles by
pickling its arrays.
"""
from libc.stdint cimport int32_t, int64_t, uint64_t
from numpy.random cimport bitgen_t

cdef extern from *:
    """
    #ifndef PCPSIM_DEBUG
    #define PCPSIM_DEBUG 0
    #endif
    """
    bint PCPSIM_DEBUG

cdef enum:
    NO_TASK = -1
    NO_TIME = 0x7fffffffffffffff

# task kinds (MODEL.md 5)
cdef enum:
    KIND_HOG = 0
    KIND_PERIODIC = 1
    KIND_BURSTY = 2

# scheduling policies (MODEL.md 4)
cdef enum:
    POLICY_NORMAL = 0
    POLICY_FIFO = 1
    POLICY_RR = 2

# task states
cdef enum:
    TASK_SLEEPING = 0
    TASK_RUNNABLE = 1   # on a runqueue (the current task included)

# fair class flavour
cdef enum:
    FAIR_CFS = 0
    FAIR_EEVDF = 1

# duration distributions (MODEL.md 5)
cdef enum:
    DIST_FIXED = 0
    DIST_EXP = 1
    DIST_LOGNORMAL = 2

# timer slots per CPU; task wakeup timers follow the CPU slots
cdef enum:
    SLOT_TICK = 0
    SLOT_CURR = 1       # current task: end of its burst or of a non-preemptible section
    SLOT_RT_PERIOD = 2  # RT bandwidth period timer (do_sched_rt_period_timer)
    SLOT_FAIR_SERVER = 3
    SLOTS_PER_CPU = 4

ctypedef struct task_t:
    # configuration
    int32_t cpu
    int32_t kind
    int32_t policy
    int32_t prio            # RT priority 1..99
    int32_t weight          # sched_prio_to_weight[nice + 20]
    int32_t wmult           # sched_prio_to_wmult[nice + 20]
    int32_t hist            # first histogram id (wake-up latency; +1 response time), -1 none
    int32_t run_dist
    int32_t sleep_dist
    int32_t _pad0
    int64_t period
    int64_t runtime
    int64_t phase
    double run_a
    double run_b
    double sleep_a
    double sleep_b
    int64_t np_len          # non-preemptible span at the start of every np_every of CPU time
    int64_t np_every
    int64_t slice           # EEVDF request size (base slice or sched_setattr runtime)
    # dynamic state
    int32_t state
    int32_t rq_next         # runqueue links (RT: sorted list with curr; fair: without curr)
    int32_t rq_prev
    int32_t rr_left         # RR ticks left
    int32_t first_run_pending
    int32_t _pad1
    int64_t exec_start      # progress (vruntime, remaining, rt_time) accounted up to here
    int64_t sum_exec        # sum_exec_runtime as the scheduler sees it
    int64_t prev_sum_exec   # prev_sum_exec_runtime, set at every pick
    int64_t remaining       # CPU work left in the current burst; -1 = forever
    int64_t release         # periodic: release time of the current job
    int64_t vruntime
    int64_t deadline        # EEVDF virtual deadline
    int64_t vlag            # EEVDF lag (or the RUN_TO_PARITY deadline stash while running)
    int64_t wait_start

ctypedef struct task_stats_t:
    int64_t cpu_time
    int64_t wait_time
    int64_t nr_runs
    int64_t nr_preempted
    int64_t nr_wakeups
    int64_t nr_jobs
    int64_t deadline_misses

ctypedef struct cpu_t:
    int32_t curr
    int32_t isolated
    int32_t nr_running      # all runnable tasks incl. curr
    int32_t nr_fair         # runnable fair tasks incl. curr
    int32_t rt_head         # RT runqueue head (highest prio, FIFO within prio)
    int32_t fair_head       # fair runqueue (curr excluded) as a list in insertion order
    int32_t fair_tail
    int32_t need_resched
    int32_t rt_throttled
    int32_t fs_active
    int64_t fair_load       # sum of the weights of runnable fair tasks incl. curr
    int64_t min_vruntime
    int64_t ovh_until       # CPU busy with overhead (context switch, wakeup) until here
    int64_t acct_stamp      # CPU-time statistics accounted up to here
    int64_t rt_time
    int64_t fs_used
    int64_t fs_win_end

ctypedef struct cpu_stats_t:
    int64_t busy_ns
    int64_t idle_ns
    int64_t overhead_ns
    int64_t events
    int64_t ticks
    int64_t nr_switches
    int64_t nr_wakeups

ctypedef struct params_t:
    int64_t tick_ns
    int64_t context_switch_ns
    int64_t wakeup_ns
    int32_t fair_class
    int32_t run_to_parity
    int32_t preempt_short
    int32_t gentle_sleepers
    int64_t sched_latency
    int64_t min_granularity
    int64_t wakeup_granularity
    int64_t nr_latency
    int64_t rr_ticks
    int32_t rt_throttle
    int32_t fair_server
    int64_t rt_runtime
    int64_t rt_period
    int64_t fs_runtime
    int64_t fs_period

ctypedef struct heap_entry_t:
    int64_t time
    int64_t seq
    int32_t slot
    int32_t _pad

ctypedef struct hist_stats_t:
    int64_t count
    int64_t total
    int64_t min
    int64_t max
    int64_t overflow

ctypedef struct sim_t:
    int64_t now
    int64_t seq
    int64_t events
    int32_t ncpu
    int32_t ntask
    int32_t nslot
    int32_t heap_len
    int32_t error           # first invariant that failed (debug builds), 0 = none
    int32_t _pad
    params_t p
    task_t* tasks
    task_stats_t* tstats
    cpu_t* cpus
    cpu_stats_t* cstats
    heap_entry_t* heap
    int32_t* heap_pos       # slot -> index in heap, -1 when not armed
    int64_t* hist_counts
    hist_stats_t* hist_stats
    bitgen_t* rng
