"""An independent, pure-Python reference model of pcpsim's page allocator,
reclaim and drain_all_pages() strategies, on top of the scheduler reference
``sched_ref.RefSim``.

Written from MODEL.md sections 2, 5, 6 and 7, README's "The model, and what it
leaves out" and the public config API, *not* from the engine's native sources
(nor from ``simulation.py``). Slow on purpose: plain Python objects and the
scheduler reference's heapq of timers.

Scope (what ``simulate`` accepts; everything else raises ``NotImplementedError``):

- one node (one Normal zone), 1-8 CPUs, kernels 4.10 / 5.10 / 5.17 / 6.1 / 6.6
  (pcp high rules ``6batch`` and ``lowwmark``; no auto-tuning);
- tasks ``hog``, ``periodic`` (as in sched_ref), ``allocator`` (always
  runnable; ``alloc_rate > free_rate``) and reclaimers (``reclaim=True``);
- ``Reclaim(kswapd=False)`` and ``success_rate`` 0 or 1 (the engine draws a
  random number per attempt: any other rate would need its bit stream);
- no background work (``Workqueue(vmstat_update=0)``, no WorkSources), no
  hotplug, no extdrain tasks;
- drain strategies ``remote``, ``ipi``, ``workqueue``, ``workqueue_highpri``,
  ``kthread`` and ``kthread_rfc_v1`` (the two kthread variants only differ at
  hotplug, which is out of scope).

Model, in short: every pcp count is exact at every event (an allocator's
count moves by one page per ``round(1e9 / (alloc_rate - free_rate))`` ns of its
CPU time, accounted lazily from its CPU time); every bulk move (refill, drain,
a bulk free) queues on the FIFO zone->lock (``lock_free_at``) and costs its
task ``spin + lock_base + pages * page_cost`` of non-preemptible CPU time; a
refill that would take the zone below min enters direct reclaim (reclaimers)
or sleeps ``Reclaim.retry_interval`` (other allocators); reclaim runs
``reclaim_time`` of the task's CPU, its pages land on the pcp, a failed retry
after progress calls drain_all_pages(NULL) once (mutex trylock: skipped when
held), OOM after ``max_retries`` failed attempts releases ``oom_release``
pages onto the pcp. drain_all_pages: target set = CPUs with pcp pages; ``remote``
visits them in CPU order under their pcp lock; ``ipi`` sends IPIs (the
handler is hard-IRQ overhead on the target, deferred while IRQs are off there;
the caller spins); ``workqueue*`` / ``kthread*`` wake one worker per target
(kworker nice 0 / nice -20, or the SCHED_FIFO kthread) and the caller sleeps
in flush_work().

Choices the spec leaves open, matched black-box against the engine (by
comparing results on small targeted configs, never by reading its sources);
each is marked ``# OPEN:`` where it is implemented:

1. Pages of a bulk move change hands when the move is *requested*; the lock is
   queued for at the request time even if the CPU is still in overhead (a
   wakeup IPI), and the task then spends spin + hold of its own CPU time
   (FIFO lock: the order of the moves is decided at the request).
2. A refill is refused when ``free - batch < min`` (the whole batch would take
   the zone below min). ``flow_ns`` is rounded to the nearest nanosecond.
3. A non-reclaiming allocator whose refill is refused sleeps
   ``retry_interval`` and retries when it next runs.
4. Reclaimed pages and an OOM's released pages land on the reclaiming CPU's
   pcp (README); OOM's released pages count as reclaimed. Reclaimed pages
   are freed one by one, with MODEL.md 6.1's bulk frees under zone->lock
   (FINDINGS.md #1, fixed in the engine); an OOM's released pages beyond the
   free threshold go back to the zone at once, with no lock (the spec only
   says they are released: the engine's choice). An allocation (a refill)
   halves free_factor.
5. While a remote drain holds a pcp's lock, that CPU's allocator allocates
   from the zone directly (the 6.0+ trylock fallback) and refills once the
   lock is released; reclaimed pages freed then go to the zone directly; a
   slow-path retry still refills.
6. Same-instant order: a target notices its emptied pcp at the unlock (remote)
   or the end of the handler (ipi), before the caller goes on; the first
   remote visit and the ipi caller's local drain are later events of the
   call's instant; between two remote visits the caller is preemptible.
7. The accounting at the end of an allocator's or worker's step runs no EEVDF
   deadline / RT throttle check (as sched_ref's ``completion_accounting``),
   nor does the accounting before an IPI handler: a slice that ends there is
   noticed at the next tick.
8. A task that blocks in flush_work() is replaced in the same event; a
   worker that finishes its item first wakes the flush_work() waiter (while
   still on the runqueue), then sleeps and its CPU picks later in the instant.
9. Workqueue pools: the idle list is LIFO; taking the last idle worker starts
   the creation of another (``worker_create`` later, ``worker_pages`` pages,
   refused below ``min + worker_pages``; after a failure no creation for 1 s).
   A drain item's recorded start is the event that runs it (even if the CPU
   is still in overhead); its end is the worker's CPU time.
10. A step of zero length pending for the current task is taken at the next
    event of its CPU (even one during overhead).

The engine/spec disagreements this reference found are in FINDINGS.md; both
are fixed in the engine.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pcpsim import profiles
from pcpsim.config import Config, parse_duration

from .sched_ref import RefSim, Task

WAKE_EV = "wake"
IPI_EV = "ipi"
LOCAL_EV = "local"
CREATE_EV = "create"
CREATE_COOLDOWN_NS = 1_000_000_000
IPIDONE_EV = "ipidone"

# OPEN (8): a task blocking in flush_work() is replaced in the same event
BLOCK_SCHEDULES_NOW = True


@dataclass
class Zone:
    managed: int
    free: int
    wmin: int
    wlow: int
    whigh: int
    batch: int
    high: int
    lock_free_at: int = 0
    lock_hold_ns: int = 0
    lock_spin_ns: int = 0
    lock_acq: int = 0
    reclaimed: int = 0
    ooms: int = 0
    reclaim_active: int = 0     # tasks in the slow path


@dataclass
class Pool:
    cpu: int
    idle: list = field(default_factory=list)    # LIFO: the last one is woken first
    nworkers: int = 0
    create_at: int | None = None
    create_failures: int = 0


@dataclass
class Call:
    start: int
    caller: int
    zone: int = -1
    skipped: int = 0
    end: int = -1
    targets: list = field(default_factory=list)   # [cpu, queued, start, end, pages]


class DrainRefSim(RefSim):
    def __init__(self, cfg: Config, **opts: bool) -> None:
        self._check_scope(cfg)
        # OPEN: the accounting at the end of an allocator's or worker's step
        # (refill, lock hold, reclaim, drain) runs no EEVDF deadline / RT
        # throttle check, like the end of a periodic job (engine: a slice that
        # ends there is noticed at the next tick).
        opts.setdefault("segment_accounting", "no_checks")
        super().__init__(cfg, **opts)
        prof = cfg.profile
        m = cfg.memory
        self.strategy = cfg.drain.strategy or prof.drain_strategy
        self.kernel = cfg.kernel
        managed = m.node_pages(1)[0]
        (wmin, wlow, whigh), = profiles.zone_watermarks([managed], m.min_free_kbytes, m.watermark_scale_factor,
                                                        kernel=cfg.kernel)
        raw_batch = profiles.zone_batchsize(managed, kernel=cfg.kernel)
        batch = m.batch if m.batch is not None else max(1, raw_batch)
        rule = m.pcp_high_rule or prof.pcp_high_rule
        high = m.high if m.high is not None else profiles.pcp_high(rule, managed, wlow, raw_batch, self.ncpu)[0]
        self.rule = rule
        self.page_cost = parse_duration(m.page_cost, "")
        self.lock_base = parse_duration(m.lock_base, "")
        rc = cfg.reclaim
        self.reclaim_ns = parse_duration(rc.reclaim_time, "")
        self.retry_ns = parse_duration(rc.retry_interval, "")
        self.success = rc.success_rate
        self.ppa = rc.pages_per_attempt
        self.max_retries = rc.max_retries
        self.oom_release = rc.oom_release
        self.ipi_latency = parse_duration(cfg.drain.ipi_latency, "")
        # time-0 state
        pcp0 = int(m.pcp_fill * high)
        for c in self.cpus:
            c.pcp = pcp0
            c.ff = 0
            c.pcp_locked = False
            c.ipi_pending = None
        if m.free_pages is not None:
            free = m.free_pages
        else:
            free = managed - int(m.in_use * managed) - pcp0 * self.ncpu
        self.zone = Zone(managed, free, wmin, wlow, whigh, batch, high)
        for p in self.tasks:
            if p.alloc:
                self.start_flow(self.cpus[p.cpu], p)
        self.make_workers()
        self.calls: list[Call] = []
        self.drain_owner: Task | None = None
        self.fallback = 0

    # ---------------------------------------------------------------- scope
    @staticmethod
    def _check_scope(cfg: Config) -> None:
        cfg.validate()
        def no(what: str) -> None:
            raise NotImplementedError(f"drain_ref: {what} is out of scope")
        if len(cfg.topology.sizes()) != 1:
            no("more than one node")
        if cfg.kernel not in ("4.10", "5.10", "5.17", "6.1", "6.6"):
            no(f"kernel {cfg.kernel}")
        if cfg.reclaim.kswapd:
            no("kswapd")
        if cfg.reclaim.success_rate not in (0.0, 1.0):
            no("a success rate other than 0 or 1")
        if parse_duration(cfg.workqueue.vmstat_update, ""):
            no("vmstat_update (use Workqueue(vmstat_update=0))")
        if (cfg.memory.pcp_high_rule or cfg.profile.pcp_high_rule) == "autotune":
            no("pcp high auto-tuning")
        if cfg.sched.fair_server:
            no("the fair server")
        if cfg.workqueue.sources or cfg.hotplug or cfg.topology.offline or cfg.topology.isolated:
            no("work sources, hotplug, offline or isolated CPUs")
        for t in cfg.tasks:
            if t.kind not in ("hog", "periodic", "allocator"):
                no(f"task kind {t.kind}")
            if t.kind == "allocator" and (t.free_rate >= t.alloc_rate or t.run is not None):
                no("freeing or bursty allocators")
            if t.nonpreempt:
                no("nonpreempt sections")

    # ---------------------------------------------------------------- tasks
    def make_tasks(self) -> None:
        super().make_tasks()
        self.cpu_tasks = [[p for p in self.tasks if p.cpu == c] for c in range(self.ncpu)]
        for p in self.tasks:
            p.alloc = p.kind == "allocator"
            p.np = False            # in a non-preemptible section (lock spin / hold)
            p.st = None
            if p.alloc:
                spec = self.cfg.tasks[p.spec]
                p.reclaimer = spec.reclaim
                net = spec.alloc_rate - spec.free_rate
                p.flow_ns = int(1e9 / abs(net) + 0.5)     # OPEN: rounded to the nearest ns (engine)
                p.acc = 0
                p.flow_mark = 0
                p.stall_start = -1
                p.attempts = 0
                p.drained = False
                p.stalls = 0
                p.stall_ns = 0
                p.ooms = 0

    def make_workers(self) -> None:
        """One drain worker per CPU: a kworker of the normal (nice 0) or
        highpri (nice -20) pool, or the SCHED_FIFO kthread_worker."""
        self.workers = []
        self.nworkload = len(self.tasks)
        if self.strategy in ("remote", "ipi"):
            return
        wq = self.cfg.workqueue
        self.wq_create_ns = parse_duration(wq.worker_create, "")
        self.wq_pages = wq.worker_pages
        self.wq_max = wq.workers_per_pool
        self.pools = []
        for c in range(self.ncpu):
            if self.strategy.startswith("kthread"):
                self.pools.append(None)
                self.workers.append(self.new_worker(c))
            else:
                pool = Pool(c)
                for _ in range(wq.initial_workers):
                    pool.idle.append(self.new_worker(c))
                    pool.nworkers += 1
                self.pools.append(pool)

    def new_worker(self, c: int) -> Task:
        d = self.cfg.drain
        if True:
            if self.strategy.startswith("kthread"):
                w = Task(len(self.tasks), c, "worker", d.kthread_policy, 0, d.kthread_prio)
            else:
                nice = -20 if self.strategy == "workqueue_highpri" else 0
                w = Task(len(self.tasks), c, "worker", "normal", nice, 0)
            w.weight = profiles.SCHED_PRIO_TO_WEIGHT[w.nice + 20]
            w.wmult = profiles.SCHED_PRIO_TO_WMULT[w.nice + 20]
            w.slice = self.base_slice
            w.rr_left = self.rr_ticks
            w.spec = -1
            w.alloc = False
            w.np = False
            w.st = "idle"
            w.work = None
            self.tasks.append(w)
            self.cpu_tasks[c].append(w)
            return w

    def take_worker(self, c: int, t: int) -> Task:
        """The worker that runs a drain item queued on CPU ``c``. On the
        workqueue pools: the most recently idle one (the kernel's idle list
        is LIFO); taking the last idle worker starts the creation of a new
        one, ``worker_create`` later, which costs ``worker_pages`` pages."""
        pool = self.pools[c]
        if pool is None:
            return self.workers[c]
        w = pool.idle.pop()
        if not pool.idle and pool.nworkers < self.wq_max and pool.create_at is None:
            pool.create_at = t + self.wq_create_ns
            self.arm(CREATE_EV, c, pool.create_at)
        return w

    def ev_create(self, c: int, t: int) -> None:
        pool = self.pools[c]
        pool.create_at = None
        z = self.zone
        if z.free - self.wq_pages >= z.wmin:
            z.free -= self.wq_pages
            pool.nworkers += 1
            pool.idle.append(self.new_worker(c))      # idle from now: first in the LIFO
        else:
            # fails below the min watermark; retried a second later (README);
            # until then no other creation starts
            pool.create_failures += 1
            pool.create_at = t + CREATE_COOLDOWN_NS
            self.arm(CREATE_EV, c, pool.create_at)

    def task_kind_ok(self, kind: str) -> bool:
        return kind in ("hog", "periodic", "allocator")

    def initial_enqueue(self, p: Task) -> bool:
        return p.kind in ("hog", "allocator")

    # ------------------------------------------------------------- flow
    def sync_flow(self, cpu, t: int) -> None:
        """Bring the pcp count of ``cpu`` up to ``t``: its allocators moving
        pages consumed one page per flow_ns of their CPU time."""
        p = cpu.curr
        if p is not None and p.alloc and p.st == "flow":
            self.update_curr(cpu, t, mode="progress")
        for q in self.cpu_tasks[cpu.cid]:
            if q.alloc and q.st == "flow":
                self.flow_account(cpu, q)

    def nonpreemptible(self, cpu) -> bool:
        return cpu.curr is not None and cpu.curr.np

    def dispatch(self, kind: str, target: int, t: int) -> None:
        if kind == WAKE_EV:
            self.ev_wake(self.tasks[target], t)
        elif kind == IPI_EV:
            self.ev_ipi(self.cpus[target], t)
        elif kind == LOCAL_EV:
            cpu = self.cpus[target]
            call, i = cpu.local_drain
            cpu.local_drain = None
            self.run_handler(cpu, t, call, i)
        elif kind == CREATE_EV:
            self.ev_create(target, t)
        elif kind == IPIDONE_EV:
            self.ev_ipi_done(target, t)
        else:
            raise AssertionError(kind)

    def flow_account(self, cpu, p: Task) -> None:
        elapsed = p.cpu_time - p.flow_mark
        p.flow_mark = p.cpu_time
        p.acc += elapsed
        n = p.acc // p.flow_ns
        p.acc -= n * p.flow_ns
        if n > cpu.pcp:
            # only while a remote drain emptied the pcp under the task: the
            # rest came from the zone directly (the 6.0+ pcp trylock fallback)
            assert cpu.pcp == 0, (n, cpu.pcp)
            self.zone.free -= n - cpu.pcp
            self.fallback += 1
            n = cpu.pcp
        cpu.pcp -= n

    def start_flow(self, cpu, p: Task) -> None:
        for q in self.cpu_tasks[cpu.cid]:       # pages other allocators took while p did not flow
            if q.alloc and q.st == "flow":
                self.flow_account(cpu, q)
        p.st = "flow"
        p.np = False
        p.flow_mark = p.cpu_time
        p.remaining = max(0, cpu.pcp * p.flow_ns - p.acc)
        if cpu.pcp_locked and p.remaining == 0:
            p.remaining = None          # see alloc_event

    def start_running(self, cpu, nxt, t: int, was_idle: bool) -> None:
        if nxt is not None and nxt.kind == "worker" and nxt.st == "idle":
            nxt.st = "wstart"
            nxt.remaining = 0
        for q in self.cpu_tasks[cpu.cid]:
            if q.alloc and q.st == "flow":
                self.flow_account(cpu, q)
        if nxt is not None and nxt.alloc and nxt.st == "flow":
            nxt.remaining = max(0, cpu.pcp * nxt.flow_ns - nxt.acc)
        super().start_running(cpu, nxt, t, was_idle)

    def set_segment(self, p: Task, phase: str, length: int, np: bool) -> None:
        p.st = phase
        p.np = np
        p.remaining = length

    # --------------------------------------------------------------- zone lock
    def zone_lock(self, cpu, p: Task, t: int, pages: int) -> int:
        """Queue on zone->lock for a bulk move of ``pages``; returns spin + hold."""
        z = self.zone
        # OPEN: the lock is queued for at the request time ``t``, even if the
        # CPU is still busy with overhead (a wakeup IPI) until later; the
        # task then spends spin + hold of its own CPU time (engine)
        start = t
        spin = max(0, z.lock_free_at - start)
        hold = self.lock_base + pages * self.page_cost
        z.lock_free_at = start + spin + hold
        z.lock_hold_ns += hold
        z.lock_spin_ns += spin
        z.lock_acq += 1
        return spin + hold

    def threshold(self) -> int:
        z = self.zone
        if z.reclaim_active:
            return min(4 * z.batch, z.high)
        return z.high

    def trim(self, cpu) -> None:
        thr = self.threshold()
        if cpu.pcp > thr:
            self.zone.free += cpu.pcp - thr
            cpu.pcp = thr

    # --------------------------------------------------------- allocator steps
    def refill_ok(self) -> bool:
        # OPEN (2): the whole batch must leave the zone at or above min
        z = self.zone
        return z.free - z.batch >= z.wmin

    def do_refill(self, cpu, p: Task, t: int) -> None:
        z = self.zone
        z.free -= z.batch
        cpu.pcp += z.batch
        # OPEN: an allocation halves free_factor (the kernel's rmqueue_pcplist
        # does it at every allocation; the engine, whose allocations between
        # refills are analytic, at each refill)
        cpu.ff >>= 1
        d = self.zone_lock(cpu, p, t, z.batch)
        self.set_segment(p, "lock", d, True)

    def alloc_event(self, cpu, p: Task, t: int) -> None:
        """The allocator's pcp is empty (or it retries after a sleep)."""
        if cpu.pcp_locked:
            # OPEN: while a remote drain holds this pcp's lock the allocator
            # goes on allocating from the zone directly (6.0+ trylock fallback)
            # and refills once the lock is released (engine)
            p.st = "flow"
            p.np = False
            p.flow_mark = p.cpu_time
            p.remaining = None
            return
        if self.refill_ok():
            self.do_refill(cpu, p, t)
            return
        if p.reclaimer:
            self.enter_slow_path(cpu, p, t)
        else:
            self.sleep_task(cpu, p, t, self.retry_ns, "retry")

    def enter_slow_path(self, cpu, p: Task, t: int) -> None:
        p.stall_start = t
        p.stalls += 1
        p.attempts = 0
        self.zone.reclaim_active += 1
        self.set_segment(p, "reclaim", self.reclaim_ns, False)

    def reclaim_done(self, cpu, p: Task, t: int) -> None:
        z = self.zone
        n = self.ppa if self.success >= 1.0 else 0
        z.reclaimed += n
        p.drained = False
        p.progress = n > 0
        if n and cpu.pcp_locked:
            # OPEN: a remote drain holds this pcp's lock: the reclaimed pages
            # are freed to the zone directly (the 6.0+ trylock fallback; engine)
            z.free += n
        elif n:
            self.sync_flow(cpu, t)
            d = self.free_pages_to_pcp(cpu, p, t, n)
            if d:
                self.set_segment(p, "reclaim_free", d, True)
                return
        self.slow_retry(cpu, p, t)

    def free_pages_to_pcp(self, cpu, p: Task, t: int, n: int) -> int:
        """MODEL.md 6.1: ``n`` pages freed one by one to the pcp; whenever the
        count reaches the threshold, a bulk free of ``clamp(batch <<
        free_factor, batch, threshold - batch)`` pages (``batch`` before 5.14)
        under zone->lock. Returns the lock time (spin + holds)."""
        z = self.zone
        thr = self.threshold()
        d = 0
        for _ in range(n):
            cpu.pcp += 1
            if cpu.pcp >= thr:
                if self.rule == "6batch":
                    amount = z.batch
                else:
                    amount = max(z.batch, min(z.batch << cpu.ff, thr - z.batch))
                    if (z.batch << cpu.ff) < thr - z.batch:
                        cpu.ff += 1
                amount = min(amount, cpu.pcp)
                cpu.pcp -= amount
                z.free += amount
                d += self.zone_lock(cpu, p, t + d, amount)
        return d

    def slow_retry(self, cpu, p: Task, t: int) -> None:
        z = self.zone
        if self.refill_ok():
            z.reclaim_active -= 1
            p.stall_ns += t - p.stall_start
            p.stall_start = -1
            self.do_refill(cpu, p, t)
            return
        if p.progress and not p.drained:
            p.drained = True
            self.drain_all_pages(cpu, p, t)
            return
        p.attempts += 1
        if p.attempts > self.max_retries:
            z.ooms += 1
            p.ooms += 1
            p.attempts = 0
            self.sync_flow(cpu, t)
            cpu.pcp += self.oom_release
            z.reclaimed += self.oom_release    # the engine counts the released pages as reclaimed
            self.trim(cpu)
            p.progress = False
            if self.refill_ok():
                self.slow_retry(cpu, p, t)
                return
        self.set_segment(p, "reclaim", self.reclaim_ns, False)

    def after_drain(self, cpu, p: Task, t: int) -> None:
        """The caller's drain_all_pages() returned."""
        self.slow_retry(cpu, p, t)

    # ------------------------------------------------------------- sleeping
    def sleep_task(self, cpu, p: Task, t: int, length: int, phase: str) -> None:
        p.st = phase
        p.np = False
        p.remaining = None
        self.dequeue_sleep(cpu, p, t)
        self.arm(WAKE_EV, p.tid, t + length)
        self.request_resched(cpu)

    def ev_wake(self, p: Task, t: int) -> None:
        cpu = self.cpus[p.cpu]
        self.charge(cpu, t, self.ipi)
        if p.st == "retry":
            p.remaining = 0
        self.enqueue(cpu, p, t, initial=False)
        self.check_preempt(cpu, p, t)
        self.rearm_cur(cpu)

    # ---------------------------------------------------------- drain_all_pages
    def drain_all_pages(self, cpu, p: Task, t: int) -> None:
        call = Call(start=t, caller=p.tid)
        self.calls.append(call)
        if self.drain_owner is not None:
            call.skipped = 1
            call.end = t
            self.after_drain(cpu, p, t)
            return
        self.drain_owner = p
        for c in self.cpus:
            self.sync_flow(c, t)
        targets = [c for c in self.cpus if c.pcp > 0]
        call.targets = [[c.cid, t, -1, -1, 0] for c in targets]
        p.call = call
        call.pending = len(targets)
        if self.strategy == "remote":
            p.visit = 0
            # OPEN: the first visit is a later event of the same instant (as the
            # ipi strategy's local drain; engine)
            self.set_segment(p, "remote_next", 0, True)
        elif self.strategy == "ipi":
            p.st = "ipi_wait"        # spins, preemption off, until the last handler ends
            p.np = True
            p.remaining = None
            for i, rec in enumerate(call.targets):
                if rec[0] != cpu.cid:
                    self.arm(IPI_EV, rec[0], t + self.ipi_latency)
                    self.cpus[rec[0]].ipi_pending = (call, i)
            for i, rec in enumerate(call.targets):
                if rec[0] == cpu.cid:
                    # OPEN: the caller's own CPU drains in a later event of the
                    # same instant (engine: another CPU's event at that instant
                    # comes first)
                    cpu.local_drain = (call, i)
                    self.arm(LOCAL_EV, cpu.cid, t)
            if call.pending == 0:
                self.ipi_caller_done(call, t)
        else:
            for i, rec in enumerate(call.targets):
                w = self.take_worker(rec[0], t)
                w.work = (call, i)
                self.wake_task(w, t)
            self.flush_sleep(cpu, p, t)

    def remote_unlock(self, cpu, p: Task, t: int) -> None:
        prev = p.call.targets[p.visit - 1]
        prev[3] = t
        pc = self.cpus[prev[0]]
        pc.pcp_locked = False
        if pc is not cpu:
            self.pcp_changed(pc, t)     # OPEN: the target notices at the unlock
        # OPEN: the caller goes on in a later event of the same instant, after
        # the target's reaction (engine: the target's refill comes first)
        self.set_segment(p, "remote_next", 0, False)     # preemptible between visits

    def remote_next(self, cpu, p: Task, t: int) -> None:
        call = p.call
        if p.visit == len(call.targets):
            self.finish_call(cpu, p, t)
            return
        rec = call.targets[p.visit]
        p.visit += 1
        tc = self.cpus[rec[0]]
        self.sync_flow(tc, t)
        pages = tc.pcp
        rec[2] = t
        rec[4] = pages
        self.zone.free += pages
        tc.pcp = 0
        tc.pcp_locked = True
        d = self.zone_lock(cpu, p, t, pages)
        self.set_segment(p, "remote", d, True)

    # ipi
    def ev_ipi(self, cpu, t: int) -> None:
        if self.nonpreemptible(cpu):
            return                      # taken when the IRQs-off section ends
        self.take_ipi(cpu, t)

    def take_ipi(self, cpu, t: int) -> None:
        call, i = cpu.ipi_pending
        cpu.ipi_pending = None
        self.run_handler(cpu, t, call, i)

    def charge_irq(self, cpu, t: int, d: int) -> None:
        """Hard-IRQ time on ``cpu``: overhead; OPEN: the accounting before it
        runs no deadline / throttle check (engine: no reschedule from it)."""
        self.cpu_acct(cpu, t)
        self.update_curr(cpu, t, mode="no_checks")
        cpu.O = max(cpu.O, t) + d
        cpu.overhead_ns += d
        if cpu.curr is not None:
            cpu.curr.exec_start = max(cpu.curr.exec_start, cpu.O)

    def run_handler(self, cpu, t: int, call: Call, i: int) -> None:
        """The drain IPI handler on ``cpu`` (hard IRQ): CPU overhead there."""
        rec = call.targets[i]
        self.cpu_acct(cpu, t)
        self.sync_flow(cpu, t)
        pages = cpu.pcp
        self.zone.free += pages
        cpu.pcp = 0
        z = self.zone
        start = max(t, cpu.O)
        spin = max(0, z.lock_free_at - start)
        hold = self.lock_base + pages * self.page_cost
        z.lock_free_at = start + spin + hold
        z.lock_hold_ns += hold
        z.lock_spin_ns += spin
        z.lock_acq += 1
        rec[2] = start
        rec[4] = pages
        rec[3] = start + spin + hold
        self.charge_irq(cpu, t, spin + hold)
        self.rearm_cur(cpu)
        self.arm(IPIDONE_EV, self.calls.index(call) * 65536 + i, rec[3])

    def ev_ipi_done(self, key: int, t: int) -> None:
        call = self.calls[key // 65536]
        # OPEN: the target's allocator notices its emptied pcp when the
        # handler ends (engine)
        self.pcp_changed(self.cpus[call.targets[key % 65536][0]], t)
        call.pending -= 1
        if call.pending == 0:
            self.ipi_caller_done(call, t)

    def ipi_caller_done(self, call: Call, t: int) -> None:
        p = self.tasks[call.caller]
        cpu = self.cpus[p.cpu]
        if cpu.curr is p:
            self.update_curr(cpu, t, mode="progress")
        p.st = "ipi_done"
        p.remaining = 0
        self.rearm_cur(cpu)

    # workqueue / kthread
    def wake_task(self, w: Task, t: int) -> None:
        cpu = self.cpus[w.cpu]
        self.charge(cpu, t, self.ipi)
        self.enqueue(cpu, w, t, initial=False)
        self.check_preempt(cpu, w, t)
        self.rearm_cur(cpu)

    def block(self, cpu, t: int) -> None:
        """The current task went to sleep: OPEN: with BLOCK_SCHEDULES_NOW the
        CPU picks the next task in the same event (the task calls schedule()
        itself), else a reschedule later in the instant."""
        if BLOCK_SCHEDULES_NOW:
            self.schedule(cpu, t)
        else:
            self.request_resched(cpu)

    def flush_sleep(self, cpu, p: Task, t: int) -> None:
        p.st = "flush"
        p.np = False
        p.remaining = None
        self.dequeue_sleep(cpu, p, t)
        self.block(cpu, t)

    def worker_run(self, cpu, w: Task, t: int) -> None:
        """The worker runs its drain item (drain_local_pages, IRQs off)."""
        call, i = w.work
        rec = call.targets[i]
        self.sync_flow(cpu, t)
        pages = cpu.pcp
        self.zone.free += pages
        cpu.pcp = 0
        # OPEN (9): the item's start is the event that runs it, even while the
        # CPU is still in overhead (engine); it ends when the worker's CPU time
        # for it is spent
        rec[2] = t
        rec[4] = pages
        d = self.zone_lock(cpu, w, t, pages)
        rec[3] = -1                     # set when the item ends (overhead may stretch it)
        self.set_segment(w, "work", d, True)

    def worker_done(self, cpu, w: Task, t: int) -> None:
        call, i = w.work
        call.targets[i][3] = t
        w.work = None
        if self.pools[cpu.cid] is not None:
            self.pools[cpu.cid].idle.append(w)
        w.st = "idle"
        w.np = False
        w.remaining = None
        # OPEN: the item's completion wakes the flush_work() waiter while the
        # worker is still on the runqueue; then the worker sleeps, its CPU
        # picking the next task later in the instant (engine)
        call.pending -= 1
        if call.pending == 0:
            call.end = t
            p = self.tasks[call.caller]
            self.drain_owner = None
            p.call = None
            p.st = "flushed"
            p.remaining = 0
            self.wake_task(p, t)
        self.dequeue_sleep(cpu, w, t)
        self.request_resched(cpu)

    def pcp_changed(self, cpu, t: int) -> None:
        """The pcp count of ``cpu`` changed under its running allocator."""
        q = cpu.curr
        if q is not None and q.alloc and q.st == "flow":
            self.update_curr(cpu, t, mode="progress")
            self.flow_account(cpu, q)
            q.remaining = max(0, cpu.pcp * q.flow_ns - q.acc)
            self.rearm_cur(cpu)

    def finish_call(self, cpu, p: Task, t: int) -> None:
        call = p.call
        call.end = t
        self.drain_owner = None
        p.call = None
        self.after_drain(cpu, p, t)

    # -------------------------------------------------------- segment dispatch
    def segment_done(self, cpu, p: Task, t: int) -> None:
        self._segment_done(cpu, p, t)
        if cpu.ipi_pending is not None and not self.nonpreemptible(cpu) and \
                (IPI_EV, cpu.cid) not in self.timers:
            self.take_ipi(cpu, t)

    def _segment_done(self, cpu, p: Task, t: int) -> None:
        ph = p.st
        if ph == "flow":
            self.flow_account(cpu, p)
            assert cpu.pcp == 0, cpu.pcp
            self.alloc_event(cpu, p, t)
        elif ph == "retry":
            self.alloc_event(cpu, p, t)
        elif ph == "lock":
            self.start_flow(cpu, p)
        elif ph == "reclaim":
            self.reclaim_done(cpu, p, t)
        elif ph == "reclaim_free":
            self.slow_retry(cpu, p, t)
        elif ph == "remote":
            self.remote_unlock(cpu, p, t)
        elif ph == "remote_next":
            self.remote_next(cpu, p, t)
        elif ph == "ipi_done":
            p.np = False
            self.finish_call(cpu, p, t)
        elif ph == "flushed":
            self.after_drain(cpu, p, t)
        elif ph == "wstart":
            self.worker_run(cpu, p, t)
        elif ph == "work":
            self.worker_done(cpu, p, t)
        else:
            raise AssertionError(ph)

    # ------------------------------------------------------------- results
    def results(self) -> dict:
        for c in self.cpus:
            for q in self.cpu_tasks[c.cid]:
                if q.alloc and q.st == "flow":
                    self.flow_account(c, q)
        base = super().results()
        base["tasks"] = base["tasks"][:self.nworkload]      # the kernel threads are not compared
        z = self.zone
        base["zone_free"] = z.free
        base["pcp"] = [c.pcp for c in self.cpus]
        base["calls"] = [(c.start, c.end, c.caller, c.skipped, len(c.targets)) for c in self.calls]
        base["targets"] = [(i, *rec) for i, c in enumerate(self.calls) for rec in c.targets]
        base["lock_hold_ns"] = z.lock_hold_ns
        base["reclaimed"] = z.reclaimed
        base["oom_events"] = z.ooms
        for d, p in zip(base["tasks"], self.tasks):
            if p.alloc:
                d["stalls"] = p.stalls
        return base


def simulate(cfg: Config, **opts: bool) -> dict:
    """Run the reference model on ``cfg`` (see the module docstring)."""
    return DrainRefSim(cfg, **opts).run()
