# cython: language_level=3
"""Native state of the engine: the C structs behind every numpy view.

Each struct has a numpy structured dtype twin in ``_core.pyx`` (checked field by
field at import); the arrays are owned by numpy so that a Simulation pickles by
pickling its arrays.
"""
from libc.stdint cimport int16_t, int32_t, int64_t, uint64_t
from numpy.random cimport bitgen_t

cdef extern from *:
    """
    #include <stdint.h>
    #ifndef PCPSIM_DEBUG
    #define PCPSIM_DEBUG 0
    #endif
    #define PCPSIM_NO_TIME INT64_MAX
    """
    bint PCPSIM_DEBUG
    const int64_t NO_TIME "PCPSIM_NO_TIME"   # "never": an int64, not an (int-sized) enum

cdef enum:
    NO_TASK = -1

# task kinds (MODEL.md 5)
cdef enum:
    KIND_HOG = 0
    KIND_PERIODIC = 1
    KIND_BURSTY = 2
    KIND_ALLOCATOR = 3      # allocates/frees through its CPU's pcp while it runs (MODEL.md 5, 6)
    KIND_KWORKER = 4        # a worker of a per-CPU workqueue pool (MODEL.md 7.2)
    KIND_KTHREAD = 5        # the RFC's per-CPU drain kthread_worker (MODEL.md 7.3)
    KIND_KSWAPD = 6         # one per node (MODEL.md 6.4)
    KIND_EXTDRAIN = 7       # issues zone-specific drain_all_pages(zone) calls (MODEL.md 5)
    KIND_CPUHP = 8          # a CPU's hotplug thread: creates its drain kthread when it comes online
    KIND_RESCUER = 9        # mm_percpu_wq's rescuer (WQ_MEM_RECLAIM): one, goes where it is called

# kernel sections a task can be in: CPU time that is not the task's own work
cdef enum:
    SECT_NONE = 0
    SECT_REFILL = 1         # rmqueue_bulk() under zone->lock (IRQs off)
    SECT_BULKFREE = 2       # free_pcppages_bulk() under zone->lock (IRQs off)
    SECT_RECLAIM = 3        # direct reclaim (preemptible)
    SECT_KSWAPD = 4         # one kswapd reclaim chunk (preemptible)
    SECT_ITEM = 5           # a work item's own CPU work
    SECT_DRAIN = 6          # drain_local_pages() of a work item / kthread (IRQs off)
    SECT_REMOTE = 7         # the caller drains one target's pcp (6.0+, pcp->lock, IRQs off)
    SECT_IPI_WAIT = 8       # the caller spins until every IPI handler finished (wait=1)
    SECT_CALL = 9           # zero-length continuation: (re)enter drain_all_pages()
    SECT_RETRY = 10         # zero-length continuation: retry the allocation
    SECT_CPUHP = 11         # zero-length continuation: the next step of creating the drain kthread
    SECT_CREATE = 12        # kthread_create_worker_on_cpu() itself
    SECT_DEADLOCK = 13      # waits on pcpu_drain_mutex that it holds itself: never ends
    SECT_PCP_FREE = 14      # free_pcppages_bulk() of reclaimed pages under zone->lock (IRQs off)

# how a section blocks: preemption waits for both; an IPI only for IRQs off
cdef enum:
    NP_NONE = 0
    NP_PREEMPT_OFF = 1
    NP_IRQS_OFF = 2

# CPU-time categories (MODEL.md 8)
cdef enum:
    CAT_WORKLOAD = 0
    CAT_DRAIN = 1
    CAT_WORK = 2
    CAT_RECLAIM = 3
    CAT_ALLOC = 4

# drain strategies (MODEL.md 7)
cdef enum:
    STRAT_IPI = 0
    STRAT_WQ = 1
    STRAT_WQ_HIGHPRI = 2
    STRAT_KTHREAD = 3
    STRAT_KTHREAD_V1 = 4
    STRAT_REMOTE = 5

# work item kinds (MODEL.md 5, 7.2)
cdef enum:
    ITEM_DRAIN = 0
    ITEM_VMSTAT = 1
    ITEM_GENERIC = 2        # system_wq-style: no rescuer
    ITEM_MM = 3             # another mm_percpu_wq item (lru_add_drain_per_cpu): the rescuer runs it

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

# timer slots per CPU, numbered kind by kind (slot = kind * ncpu + cpu, see
# cpu_slot()); task wakeup timers follow the CPU slots (ticks have
# their own queue, see _eventq.pxd)
cdef enum:
    SLOT_CURR = 0       # current task: end of its burst, section, pcp boundary; a pending resched
    SLOT_RT_PERIOD = 1  # RT bandwidth period timer (do_sched_rt_period_timer)
    SLOT_FAIR_SERVER = 2
    SLOT_IPI = 3        # a drain IPI arriving (or waiting for IRQs to come back on)
    SLOT_WORKGEN = 4    # next background work item arrival
    SLOT_VMSTAT = 5     # vmstat_update every second
    SLOT_POOL = 6       # the normal and highpri pools' manager: worker creation, mayday timer
    SLOTS_PER_CPU = 7

# task flags
cdef enum:
    TF_RECLAIM = 1          # allocations may enter direct reclaim
    TF_FORCE = 2            # extdrain: force_all_cpus
    TF_INTENSIVE = 4        # kworker marked CPU_INTENSIVE by wq_worker_tick()
    TF_CREATED = 8          # kthread worker exists (not on an offline CPU, or not yet created)
    TF_ALLOCATED = 16       # cpuhp: the worker's memory is allocated

ctypedef struct task_t:
    # Line 0: what a runqueue walk reads of a queued task (pick_eevdf, the
    # leftmost, the RT list), so that it touches one line per task.
    int32_t rq_next         # runqueue links (RT: sorted list with curr; fair: without curr)
    int32_t rq_prev
    int32_t policy
    int32_t prio            # RT priority 1..99
    int32_t weight          # sched_prio_to_weight[nice + 20]
    int32_t wmult           # sched_prio_to_wmult[nice + 20]
    int32_t state
    int32_t cpu
    int64_t vruntime
    int64_t deadline        # EEVDF virtual deadline
    int64_t vlag            # EEVDF lag (or the RUN_TO_PARITY deadline stash while running)
    int64_t slice           # EEVDF request size (base slice or sched_setattr runtime)
    # Line 1: what every event of the current task and every switch read and
    # write (update_curr, its timer, __schedule() for prev and next), so that
    # a hog or a woken task touches two lines; the kinds and flags fit 16 bits.
    int16_t kind
    int16_t sect_kind       # kernel sections (MODEL.md 6, 7): CPU time spent in the kernel on the task's behalf
    int16_t sect_np         # NP_PREEMPT_OFF or NP_IRQS_OFF: cannot be preempted
    int16_t cat             # CPU-time category of what the task is doing now
    int16_t flow_dir        # page flow of allocators (MODEL.md 6.1): -1 allocates, +1 frees, 0 none
    int16_t np_on           # np_len > 0 (set at the start), so the check needs no other line
    int16_t first_run_pending
    int16_t _pad1
    int64_t exec_start      # progress (vruntime, remaining, rt_time) accounted up to here
    int64_t sum_exec        # sum_exec_runtime as the scheduler sees it
    int64_t cpu_time        # CPU time (statistics: account_stats() at every event)
    int64_t remaining       # CPU work left in the current burst; -1 = forever
    int64_t wait_start
    int64_t prev_sum_exec   # prev_sum_exec_runtime, set at every pick
    # Line 2: what sections, page flows, refills and work items use: an
    # allocator's refill (its stall ends) and a kworker's item (its pool, the
    # idle list) touch this line and no further one
    int64_t sect_left       # CPU time left in the section; NO_TIME = until told
    int64_t flow_ns         # one net page per flow_ns of CPU time
    int64_t flow_acc        # CPU ns accumulated towards the next page
    int64_t held            # pages this task holds (in_use it may free)
    int64_t stall_start     # slow-path entry, -1 when not in the slow path (MODEL.md 6.4)
    int32_t zone
    int32_t flags           # TF_* above
    int32_t hist            # first histogram id (wake-up latency; +1 response time), -1 none
    # work (MODEL.md 7.2, 7.3): the item a worker runs, its pool, list links
    int32_t item
    int32_t pool
    int32_t link            # idle-worker list / mutex waiters
    # configuration and rarer state
    int64_t np_len          # non-preemptible span at the start of every np_every of CPU time
    int64_t np_every
    int64_t release         # periodic: release time of the current job
    int32_t run_dist
    int32_t sleep_dist
    int64_t period
    int64_t runtime
    int64_t phase
    double run_a
    double run_b
    double sleep_a
    double sleep_b
    # direct reclaim (MODEL.md 6.4)
    int32_t attempts
    int32_t drained         # drain_all_pages() already called in this attempt
    int32_t hist_stall      # allocation-stall histogram, -1 none
    int32_t rr_left         # RR ticks left
    int32_t wait_call       # the record of a drain call waiting for pcpu_drain_mutex, -1 none
    int32_t progress        # direct reclaim / kswapd: the last chunk reclaimed pages
    int64_t _pad2           # to 320 bytes: with the array 64-byte aligned, lines 0, 1 and 2
    int64_t _pad3           # above are each task's first three cache lines

ctypedef struct task_counts_t:
    # what every switch and wakeup counts: 32 bytes, so that the two hogs of a
    # CPU (adjacent task ids) count in one cache line, not two or three rows of
    # task_stats_t; the results show them with the task statistics
    int64_t wait_time
    int64_t nr_runs
    int64_t nr_preempted
    int64_t nr_wakeups

ctypedef struct task_stats_t:
    int64_t nr_jobs
    int64_t deadline_misses
    int64_t stalls
    int64_t stall_ns
    int64_t drain_calls
    int64_t skipped_drains
    int64_t ooms

ctypedef struct cpu_t:
    # Line 0: the runqueue (every scheduling event)
    int32_t curr
    int32_t nr_running      # all runnable tasks incl. curr
    int32_t nr_fair         # runnable fair tasks incl. curr
    int32_t rt_head         # RT runqueue head (highest prio, FIFO within prio)
    int32_t fair_head       # fair runqueue (curr excluded) as a list in insertion order
    int32_t fair_tail
    int32_t fair_left       # the leftmost queued task (cfs_rq->tasks_timeline's cached leftmost), -1 none
    int32_t need_resched
    int64_t fair_load       # sum of the weights of runnable fair tasks incl. curr
    int64_t min_vruntime
    # the fair runqueue's aggregates, kept as the kernel keeps them so that no
    # event walks the queue for them (the queued tasks' vruntimes do not change)
    int64_t avg_vsum        # cfs_rq->avg_vruntime: sum of (vruntime - min_vruntime) * weight, queued tasks
    int64_t avg_load        # cfs_rq->avg_load: sum of their weights
    # Line 1: accounting, bandwidth, the pcp count
    int64_t ovh_until       # CPU busy with overhead (context switch, wakeup) until here
    int64_t acct_stamp      # CPU-time statistics accounted up to here
    int64_t inv_key         # while a drain waits on this CPU: the caller's priority key, else 0
    int64_t left_vruntime   # the leftmost queued task's vruntime (valid while fair_left >= 0)
    int32_t isolated
    int32_t rt_throttled
    int32_t fs_active
    int32_t online
    # page allocator (MODEL.md 6.1): the pcp of this CPU for its node's zone
    int32_t pcp_count
    int32_t pcp_high
    int32_t pcp_locked      # a remote drain holds pcp->lock
    int32_t node
    # Line 2: the rest
    int64_t rt_time
    int64_t fs_used
    int64_t fs_win_end
    int32_t pcp_free_factor # 5.14-6.6: doubles the pages a bulk free returns
    int32_t pcp_free_count  # 6.7+: pages freed since the last allocations (capped at batch << 5)
    int32_t pcp_alloc_factor  # 6.7+: refills take batch << alloc_factor
    int32_t kthread         # drain kthread_worker task, -1 none
    int32_t ipi_call        # drain call whose IPI is pending here, -1 none
    int32_t cpuhp           # this CPU's hotplug thread, -1 none
    int64_t _pad8           # to 192 bytes: three whole cache lines per CPU
    int64_t _pad9

ctypedef struct cpu_stats_t:
    int64_t busy_ns
    int64_t idle_ns
    int64_t overhead_ns
    int64_t events
    int64_t ticks
    int64_t nr_switches
    int64_t nr_wakeups
    int64_t drain_ns        # drain work run here by tasks (kworker, kthread, remote caller)
    int64_t irq_drain_ns    # drain IPI handlers run here (stolen from whatever ran)
    int64_t work_ns         # other work items
    int64_t reclaim_ns      # direct reclaim and kswapd
    int64_t alloc_ns        # pcp refills and bulk frees (zone->lock spin and hold)
    int64_t lock_spin_ns    # spinning on zone->lock (inside the categories above)
    int64_t pcp_fallback    # pages that bypassed the pcp (held by a remote drain)
    int64_t ipis            # drain IPIs handled
    int64_t _pad            # to 128 bytes: two whole cache lines per CPU

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
    # page allocator, reclaim and drains
    int32_t strategy
    int32_t pcp_rule        # 0: fixed high, 1: auto-tuned (6.7+)
    int64_t lock_base_ns
    int64_t page_cost_ns
    int64_t ipi_latency_ns
    int64_t remote_chunk    # pages per pcp->lock hold of a remote drain; 0 = whole list
    int64_t reclaim_ns
    double reclaim_success
    int64_t reclaim_pages
    int64_t max_retries
    int64_t oom_release
    int64_t kswapd_ns_per_page
    int64_t retry_ns        # a stalled allocator without direct reclaim retries after this
    # workqueues
    int32_t wq_hog
    int32_t nsources
    int32_t hist_drain      # histogram of drain_all_pages() latency
    int32_t hist_dispatch   # histogram of per-target dispatch delay
    int32_t workers         # kworkers per pool
    int32_t cfs_slice_floor # 5.13+: sched_slice() is at least min_granularity (BASE_SLICE)
    int32_t _pp
    int32_t rescuer         # mm_percpu_wq's rescuer task, -1 none
    int64_t mayday_initial_ns
    int64_t mayday_interval_ns
    int64_t wq_create_ns
    int64_t wq_create_pages
    int64_t create_cooldown_ns
    int32_t nested_zone     # kthread_rfc_v1: the creation's nested drain is zone-specific
    int64_t create_ns       # CPU time of kthread_create_worker_on_cpu()
    int64_t create_pages    # pages it allocates
    int64_t wq_hog_ns
    int64_t vmstat_ns
    int64_t sample_ns

ctypedef struct heap_entry_t:
    int64_t time
    int64_t key             # seq << SLOT_BITS | slot (_eventq.pxd): orders like seq, names the slot

ctypedef struct heap_t:     # a binary heap of timers (far: see _eventq.pxd)
    heap_entry_t* e
    int32_t len

ctypedef struct wheel_link_t:   # a slot's armed timer and its list's links (see _eventq.pxd)
    int64_t time            # time and key first, as in heap_entry_t: the current
    int64_t key             # bucket's first timer is handed out as this row
    int32_t next
    int32_t prev

ctypedef struct hist_stats_t:
    int64_t count
    int64_t total
    int64_t min
    int64_t max
    int64_t overflow

ctypedef struct zone_t:
    int64_t managed
    int64_t free
    int64_t in_use
    int64_t pcp_pages       # sum of the pcp counts of this zone's CPUs
    int64_t wmark_min
    int64_t wmark_low
    int64_t wmark_high
    int64_t high_min
    int64_t high_max
    int64_t lock_free_at    # zone->lock: a FIFO spinlock, free from this time on
    int64_t lock_hold_ns
    int64_t lock_spin_ns
    int64_t lock_acquisitions
    int64_t reclaimed
    int64_t oom_events
    int64_t held            # in-use pages the zone's allocator tasks hold (and may free)
    int32_t batch
    int32_t kswapd          # task id, -1 none
    int32_t reclaim_active  # ZONE_RECLAIM_ACTIVE: kswapd awake or direct reclaimers
    int32_t first_cpu
    int32_t ncpu
    int32_t _pad

ctypedef struct pool_t:
    int32_t cpu
    int32_t head            # worklist (FIFO of items)
    int32_t tail
    int32_t nr_running      # concurrency-managed workers running an item
    int32_t idle            # idle workers (list through task.link)
    int32_t nr_items
    int64_t items_run
    int32_t first_worker    # its workers are tasks first_worker .. first_worker + nworkers - 1
    int32_t nworkers
    int32_t mayday_next     # the rescuer's list of pools that called for help
    int32_t on_mayday
    int64_t create_at       # a worker being created is ready then (NO_TIME: none)
    int64_t mayday_at       # the mayday timer (NO_TIME: off)
    int64_t maydays
    int64_t create_failures

ctypedef struct item_t:
    int32_t kind
    int32_t call            # drain call record, -1 none
    int32_t next
    int32_t _mark           # scratch of the debug build's bookkeeping check: 0 between events
    int64_t queued_at
    int64_t cpu_left        # CPU work left
    int64_t sleep_at        # sleeps once cpu_left falls to this (-1 never)
    int64_t sleep_len
    int64_t ran             # the worker's sum_exec when the item started (CPU-hog detection)

ctypedef struct source_t:   # a background work-item source on one CPU
    double rate             # items per second (Poisson)
    int64_t start           # first arrival (fixed-interval sources)
    int64_t interval        # > 0: arrivals every interval from start instead of Poisson
    int32_t dur_dist
    int32_t sleep_dist
    double dur_a
    double dur_b
    double sleep_a
    double sleep_b
    double sleep_prob
    int32_t highpri
    int32_t mm              # the items are mm_percpu_wq's (ITEM_MM), else system_wq's

ctypedef struct call_t:     # one drain_all_pages() call (MODEL.md 8)
    int64_t start
    int64_t end             # -1 while running
    int32_t caller
    int32_t zone            # -1: global (zone == NULL)
    int32_t force
    int32_t skipped         # lost the pcpu_drain_mutex trylock
    int32_t ntargets
    int32_t slowest_cpu
    int64_t pages
    int64_t stranded        # pages left on targets without a worker (the RFC's fallback)
    int32_t deadlock        # the caller waits on the mutex it holds
    int32_t _pad
    int64_t slowest_delay
    int64_t inversion_ns

ctypedef struct target_t:   # one target CPU of one call
    int32_t call
    int32_t cpu
    int64_t queued          # work queued / IPI sent / visit begun
    int64_t start           # the drain starts on the target
    int64_t end
    int64_t pages

ctypedef struct drain_t:    # the one drain in progress (pcpu_drain_mutex)
    int32_t owner           # task holding pcpu_drain_mutex, -1 none
    int32_t wait_head       # tasks sleeping in mutex_lock()
    int32_t wait_tail
    int32_t call            # record of the call in progress
    int32_t pending         # targets not finished
    int32_t ntargets
    int32_t cursor          # remote: next target
    int32_t cur_cpu         # remote: target whose pcp->lock the caller holds, -1 none
    int32_t mayday_head     # pools waiting for mm_percpu_wq's rescuer
    int32_t mayday_tail
    int64_t max_end

# trace record types (pcpsim.trace writes them as ftrace events)
cdef enum:
    TR_SWITCH = 0           # a = prev task (-1 idle), b = next task, c = prev still runnable
    TR_WAKEUP = 1           # a = task
    TR_WQ_QUEUE = 2         # a = item, b = pool, c = item kind
    TR_WQ_START = 3         # a = worker task, b = item, c = item kind
    TR_WQ_END = 4           # a = worker task, b = item, c = item kind
    TR_IPI_RAISE = 5        # a = target CPU
    TR_IPI_ENTRY = 6
    TR_IPI_EXIT = 7
    TR_PCP_DRAIN = 8        # a = draining task (-1: IRQ), b = pages, c = the drained CPU

ctypedef struct trace_t:
    int64_t time
    int32_t cpu
    int32_t type
    int32_t a
    int32_t b
    int64_t c

ctypedef struct counters_t: # the engine's scalar state, saved with the arrays
    int64_t now
    int64_t seq
    int64_t events
    int64_t calls_dropped
    int64_t targets_dropped
    int64_t items_dropped
    int32_t item_free
    int32_t ncall
    int32_t ntarget_rec
    int32_t nsample
    int32_t hotplug_next
    int32_t deadlocks
    int32_t ticks_head
    int32_t ticks_len
    int32_t nowq_head
    int32_t nowq_len
    int64_t ntrace
    int64_t trace_dropped
    int64_t wheel_start

ctypedef struct ring_t:     # a FIFO of timers already in (time, seq) order (see _eventq.pxd)
    heap_entry_t* e
    int64_t* live           # live[slot]: key of the slot's entry in this ring, -1 none
    int32_t head
    int32_t len
    int32_t cap
    int32_t _pad

ctypedef struct sim_t:
    int64_t now
    int64_t seq
    int64_t events
    int32_t ncpu
    int32_t ntask
    int32_t nslot
    int32_t wheel_len       # slots on the timer wheel
    int32_t error           # first invariant that failed (debug builds), 0 = none
    int32_t _pad
    params_t p
    task_t* tasks
    task_counts_t* tcounts
    task_stats_t* tstats
    cpu_t* cpus
    cpu_stats_t* cstats
    # Prefetch hints: copies of every cpus[c].curr (curr_hint[c]), every
    # tasks[ti].cpu (cpu_hint[ti]) and every cpus[c].fair_head (head_hint[c])
    # in one small array that stays in the cache, so that run_loop() can
    # prefetch a timer's task, CPU and first queued task without first
    # loading a line that is not there yet. Only prefetches read them. The
    # engine sets them from the arrays when it binds them; schedule(), the
    # rescuer's move and the fair list keep them current; the debug build
    # checks them.
    int32_t* curr_hint
    int32_t* cpu_hint
    int32_t* head_hint
    # the timers due before the wheel's current bucket ends (see _eventq.pxd):
    # CURRENT_SUBS sub-buckets, each a list through wheel[].next/prev in
    # (time, key) order; derived from heap_pos and wheel when the engine binds
    int32_t cur_len
    heap_entry_t cur_top    # a copy of the first timer's time and key (when cur_len > 0)
    uint64_t cur_bits       # the non-empty sub-buckets
    int32_t cur_head[64]    # CURRENT_SUBS
    int32_t cur_tail[64]
    heap_t far              # timers beyond the wheel's span
    int32_t* heap_pos       # slot -> where its timer is (see _eventq.pxd), -1 when not armed
    wheel_link_t* wheel     # per slot
    int32_t* wheel_head     # per bucket: first slot, -1 empty
    uint64_t* wheel_bits    # a bit per non-empty bucket
    int64_t wheel_start     # start (ns) of the current bucket
    int64_t wheel_next      # start (ns) of the first non-empty bucket after it, -1 not known
    int64_t* hist_counts
    hist_stats_t* hist_stats
    bitgen_t* rng
    zone_t* zones
    pool_t* pools           # 3 per CPU: normal (nice 0), highpri (nice -20), drain kthread
    item_t* items
    source_t* sources       # nsources per CPU
    int64_t* source_next    # next arrival per (CPU, source)
    call_t* calls
    target_t* targets
    int32_t* target_cpus    # scratch: the CPUs of the call in progress
    int32_t* target_recs    # scratch: their target records
    int64_t* samples        # per sample: time, then free and pcp pages per zone
    int64_t* cpu_samples    # per sample: pcp pages of each CPU, then its drain ns (NULL: off)
    drain_t drain
    int32_t nzone
    int32_t item_free       # free list of items
    int32_t nitem
    int32_t ncall
    int32_t call_cap
    int32_t ntarget_rec
    int32_t target_cap
    int32_t nsample
    int32_t sample_cap
    int32_t nhotplug
    int32_t hotplug_next
    int32_t deadlocks
    int32_t _pad6
    trace_t* trace          # the trace buffer (trace_cap == 0: tracing off)
    int64_t trace_cap
    int64_t ntrace
    int64_t trace_dropped
    ring_t ticks            # CPUs' ticks (slot = CPU)
    ring_t nowq             # timers armed for the current instant (slot = timer slot)
    int64_t* hotplug        # (time, cpu, online) triples, by time
    int64_t calls_dropped
    int64_t targets_dropped
    int64_t items_dropped
