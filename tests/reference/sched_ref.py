"""An independent, pure-Python reference model of pcpsim's per-CPU scheduler.

Written from MODEL.md section 4, kernel-facts.md section 5 and the
differential-testing contract (see tests/test_reference.py), *not* from the
engine's native sources. Slow on purpose: plain lists, a heapq of
``(time, seq, kind, target)`` and the kernel's integer arithmetic.

Scope: ``hog`` and ``periodic`` tasks (pinned), policies normal / fifo / rr,
kernels with CFS (5.17) or EEVDF (6.6), RT throttling, no background work and
no memory activity (``Workqueue(vmstat_update=0)``, no allocators).

Where the contract left a choice open, the engine was matched black-box (by
comparing results, never by reading its sources), and the choice is an option
of ``RefSim`` (defaults = what the engine does):

- ``completion_accounting="no_checks"``: the accounting at the end of a
  periodic job updates vruntime / min_vruntime / RT runtime but runs neither
  EEVDF ``update_deadline`` nor the RT throttle check (the contract says
  "update_deadline at every accounting"; the engine defers both to the next
  accounting, as the kernel would: a cyclictest job that overran calls
  clock_nanosleep with a past time and never enters the scheduler).
- ``checks_on_zero=True``: the deadline and throttle checks run even at an
  accounting with no new CPU time (so the check skipped at a job's end happens
  at the ``__schedule`` right after it).
- ``minv_on_zero=False``: min_vruntime is not updated by an accounting with no
  new CPU time (the kernel's ``update_curr`` returns early).
- ``pick_resets_same=True``: a ``__schedule`` that picks the current fair task
  again still resets ``prev_sum_exec`` and the RUN_TO_PARITY stash.

``drain_ref.DrainRefSim`` extends ``RefSim`` through a few hooks
(``make_tasks``, ``initial_enqueue``, ``segment_done``, ``dispatch``,
``nonpreemptible``, ``results``): tasks whose ``remaining`` CPU time ends a
step of their own (an allocator's refill, a lock hold, a reclaim attempt, a
worker's item) and sections during which a reschedule waits.
``segment_accounting`` is the ``update_curr`` mode at the end of such a step.

``simulate(cfg)`` returns a dict::

    {"tasks": [ {cpu_time, nr_runs, nr_preempted, deadline_misses,
                 wakeup_latency: (count, min, max, total) | None,
                 response_time:  (count, min, max, total) | None}, ...],
     "cpus":  [ {ticks, nr_switches, busy_ns, idle_ns, overhead_ns}, ...]}
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from pcpsim import profiles
from pcpsim.config import Config, parse_duration

WMULT_CONST = 0xFFFFFFFF
NICE_0 = 1024

# timer kinds
TICK_EV, CUR_EV, RELEASE_EV, RTPERIOD_EV = "tick", "cur", "release", "rtperiod"


# ----------------------------------------------------------------- kernel arithmetic


def calc_delta(delta: int, weight: int, inv_weight: int) -> int:
    """The kernel's ``__calc_delta(delta, weight, lw)`` with ``lw->inv_weight``
    given: ``delta * weight / lw.weight`` as a 32.32 fixed-point multiply."""
    fact = weight
    shift = 32
    fact_hi = fact >> 32
    if fact_hi:
        fs = fact_hi.bit_length()
        shift -= fs
        fact >>= fs
    fact = fact * inv_weight            # mul_u32_u32
    fact_hi = fact >> 32
    if fact_hi:
        fs = fact_hi.bit_length()
        shift -= fs
        fact >>= fs
    return (delta * fact) >> shift      # mul_u64_u32_shr: exact floor


def inv_weight_of(load: int) -> int:
    """``__update_inv_weight()`` for a runqueue load (unscaled)."""
    if load >= WMULT_CONST:
        return 1
    if load == 0:
        return WMULT_CONST
    return WMULT_CONST // load


def div_trunc(a: int, b: int) -> int:
    """C division (``div_s64``): truncation toward zero."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


# ----------------------------------------------------------------------- state


@dataclass
class Stat:
    count: int = 0
    min: int = 0
    max: int = 0
    total: int = 0

    def add(self, v: int) -> None:
        v = max(v, 0)
        if self.count == 0:
            self.min = self.max = v
        else:
            self.min = min(self.min, v)
            self.max = max(self.max, v)
        self.count += 1
        self.total += v

    def tuple(self) -> tuple[int, int, int, int]:
        return (self.count, self.min, self.max, self.total)


@dataclass(eq=False)
class Task:
    tid: int
    cpu: int
    kind: str                   # "hog" | "periodic"
    policy: str                 # "normal" | "fifo" | "rr"
    nice: int
    prio: int
    period: int = 0
    runtime: int = 0
    phase: int = 0
    weight: int = NICE_0
    wmult: int = 0
    # state
    on_rq: bool = False
    exec_start: int = 0
    sum_exec: int = 0
    prev_sum_exec: int = 0
    class_sum: int = 0                 # sum_exec already seen by the class (vruntime, RT runtime)
    remaining: int | None = None       # None: a hog (no end of burst)
    release: int = 0                   # release time of the current job
    started: bool = False              # current job already ran
    # fair
    vruntime: int = 0
    deadline: int = 0
    vlag: int = 0
    slice: int = 0
    ins_seq: int = 0                   # tree insertion order (ties)
    # rt
    rr_left: int = 0
    # figures
    cpu_time: int = 0
    nr_runs: int = 0
    nr_preempted: int = 0
    deadline_misses: int = 0
    wl: Stat = field(default_factory=Stat)
    rt: Stat = field(default_factory=Stat)

    @property
    def is_rt(self) -> bool:
        return self.policy in ("fifo", "rr")


@dataclass(eq=False)
class Cpu:
    cid: int
    curr: Task | None = None
    cfs_curr: Task | None = None       # cfs_rq->curr (None while RT or idle runs)
    tree: list[Task] = field(default_factory=list)   # queued fair tasks, not curr
    rtq: dict[int, list[Task]] = field(default_factory=dict)   # prio -> FIFO list (curr included)
    min_vruntime: int = 0
    O: int = 0                         # overhead until
    acct_t: int = 0
    busy_ns: int = 0
    idle_ns: int = 0
    overhead_ns: int = 0
    ticks: int = 0
    nr_switches: int = 0
    resched: bool = False
    in_schedule: bool = False
    rt_time: int = 0
    rt_throttled: bool = False


class RefSim:
    def __init__(self, cfg: Config, *, minv_on_zero: bool = False, pick_resets_same: bool = True,
                 tick_before_cur: bool = True,
                 completion_accounting: str = "no_checks", checks_on_zero: bool = True,
                 segment_accounting: str = "full") -> None:
        cfg.validate()
        self.cfg = cfg
        prof = cfg.profile
        s = cfg.sched
        self.ncpu = cfg.topology.ncpu
        self.minv_on_zero = minv_on_zero
        self.pick_resets_same = pick_resets_same
        self.tick_before_cur = tick_before_cur
        self.completion_accounting = completion_accounting
        self.checks_on_zero = checks_on_zero
        self.segment_accounting = segment_accounting
        self.hz = s.hz
        self.TICK = (1_000_000_000 + self.hz // 2) // self.hz
        factor = profiles.tunable_scaling_factor(self.ncpu, s.tunable_scaling)
        self.latency = parse_duration(s.sched_latency, "") * factor
        self.min_gran = parse_duration(s.min_granularity, "") * factor
        self.wakeup_gran = parse_duration(s.wakeup_granularity, "") * factor
        base = parse_duration(s.base_slice, "") if s.base_slice is not None else prof.base_slice_ns
        self.base_slice = base * factor
        self.nr_latency = -(-self.latency // self.min_gran)
        self.slice_floor = prof.cfs_slice_floor
        self.eevdf = (s.fair_class or prof.fair_class) == "eevdf"
        throttle = s.rt_throttle if s.rt_throttle is not None else prof.rt_bandwidth == "throttle"
        self.rt_throttle = bool(throttle)
        self.rt_runtime = parse_duration(s.rt_runtime, "")
        self.rt_period = parse_duration(s.rt_period, "")
        self.cs = parse_duration(s.context_switch, "")
        self.ipi = parse_duration(s.wakeup_ipi, "")
        self.rr_ticks = round(parse_duration(s.rr_timeslice, "") * self.hz / 1e9)
        self.gentle = s.gentle_sleepers
        self.duration = parse_duration(cfg.duration, "")

        self.cpus = [Cpu(c) for c in range(self.ncpu)]
        self.tasks: list[Task] = []
        self.make_tasks()

        self.heap: list[tuple[int, int, str, int]] = []
        self.timers: dict[tuple[str, int], tuple[int, int]] = {}
        self.seq = 0
        self.ins = 0
        self.now = 0
        self.log: list | None = None

    # ------------------------------------------------------- hooks (drain_ref)
    def task_kind_ok(self, kind: str) -> bool:
        return kind in ("hog", "periodic")

    def initial_enqueue(self, p: Task) -> bool:
        """Runnable at time 0 (else a periodic task: its release timer is armed)."""
        return p.kind == "hog"

    def segment_done(self, cpu: Cpu, p: Task, t: int) -> None:
        """A non-periodic task's ``remaining`` CPU time ran out (drain_ref)."""
        raise AssertionError(p.kind)

    def dispatch(self, kind: str, target: int, t: int) -> None:
        """Timer kinds the scheduler does not know (drain_ref)."""
        raise AssertionError(kind)

    def nonpreemptible(self, cpu: Cpu) -> bool:
        """The current task is in a section a reschedule must wait for."""
        return False

    def make_tasks(self) -> None:
        cfg = self.cfg
        for si, spec in enumerate(cfg.tasks):
            assert self.task_kind_ok(spec.kind), spec.kind
            for c in spec.cpu_ids(self.ncpu):
                for _ in range(spec.per_cpu):
                    t = Task(len(self.tasks), int(c), spec.kind, spec.policy, spec.nice, spec.prio)
                    t.spec = si
                    if spec.kind == "periodic":
                        t.period = parse_duration(spec.period, "")
                        t.runtime = parse_duration(spec.runtime, "")
                        t.phase = parse_duration(spec.phase, "")
                    t.weight = profiles.SCHED_PRIO_TO_WEIGHT[spec.nice + 20]
                    t.wmult = profiles.SCHED_PRIO_TO_WMULT[spec.nice + 20]
                    t.slice = self.base_slice
                    t.rr_left = self.rr_ticks
                    self.tasks.append(t)

    # ------------------------------------------------------------------ timers
    def arm(self, kind: str, target: int, t: int) -> None:
        key = (kind, target)
        old = self.timers.get(key)
        if old is not None and old[0] == t:
            return
        self.seq += 1
        self.timers[key] = (t, self.seq)
        heapq.heappush(self.heap, (t, self.seq, kind, target))

    def cancel(self, kind: str, target: int) -> None:
        self.timers.pop((kind, target), None)

    # --------------------------------------------------------------- fair math
    def calc_delta_fair(self, delta: int, t: Task) -> int:
        if t.weight != NICE_0:
            return calc_delta(delta, NICE_0, t.wmult)
        return delta

    def fair_running(self, cpu: Cpu) -> list[Task]:
        """Runnable fair tasks: the tree and cfs curr if on_rq."""
        out = list(cpu.tree)
        if cpu.cfs_curr is not None and cpu.cfs_curr.on_rq:
            out.append(cpu.cfs_curr)
        return out

    def sched_slice(self, cpu: Cpu, se: Task) -> int:
        running = self.fair_running(cpu)
        nr = len(running)
        load = sum(x.weight for x in running)
        if not se.on_rq:
            nr += 1
            load += se.weight
        period = nr * self.min_gran if nr > self.nr_latency else self.latency
        sl = calc_delta(period, se.weight, inv_weight_of(load))
        if self.slice_floor:
            sl = max(sl, self.min_gran)
        return sl

    def leftmost(self, cpu: Cpu) -> Task | None:
        if not cpu.tree:
            return None
        return min(cpu.tree, key=lambda x: (x.vruntime, x.ins_seq))

    def update_min_vruntime(self, cpu: Cpu) -> None:
        curr = cpu.cfs_curr
        v = cpu.min_vruntime
        if curr is not None and not curr.on_rq:
            curr = None
        if curr is not None:
            v = curr.vruntime
        left = self.leftmost(cpu)
        if left is not None:
            v = left.vruntime if curr is None else min(v, left.vruntime)
        cpu.min_vruntime = max(cpu.min_vruntime, v)

    def avg_parts(self, cpu: Cpu) -> tuple[int, int]:
        """(sum of (v - min_vruntime) * w, load) over the tree and curr on_rq."""
        m = cpu.min_vruntime
        avg = 0
        load = 0
        for x in self.fair_running(cpu):
            avg += (x.vruntime - m) * x.weight
            load += x.weight
        return avg, load

    def avg_vruntime(self, cpu: Cpu) -> int:
        avg, load = self.avg_parts(cpu)
        if load:
            avg = avg // load     # the kernel's sign-adjusted div_s64: a floor
        return cpu.min_vruntime + avg

    def eligible(self, cpu: Cpu, se: Task) -> bool:
        avg, load = self.avg_parts(cpu)
        return avg >= (se.vruntime - cpu.min_vruntime) * load

    def pick_eevdf(self, cpu: Cpu) -> Task | None:
        curr = cpu.cfs_curr
        if curr is not None and (not curr.on_rq or not self.eligible(cpu, curr)):
            curr = None
        if curr is not None and curr.vlag == curr.deadline:     # RUN_TO_PARITY
            return curr
        best = None
        for x in sorted(cpu.tree, key=lambda x: (x.deadline, x.vruntime, x.ins_seq)):
            if self.eligible(cpu, x):
                best = x
                break
        if best is None or (curr is not None and best.deadline > curr.deadline):
            best = curr
        if best is None:
            best = self.leftmost(cpu)
        return best

    def update_deadline(self, cpu: Cpu, se: Task) -> None:
        if se.vruntime - se.deadline < 0:
            return
        se.slice = self.base_slice
        se.deadline = se.vruntime + self.calc_delta_fair(se.slice, se)
        if len(self.fair_running(cpu)) > 1:
            self.request_resched(cpu)

    # -------------------------------------------------------------- accounting
    def cpu_acct(self, cpu: Cpu, t: int) -> None:
        start = max(cpu.acct_t, cpu.O)
        if t > start:
            if cpu.curr is not None:
                cpu.busy_ns += t - start
            else:
                cpu.idle_ns += t - start
        cpu.acct_t = max(cpu.acct_t, t)

    def update_curr(self, cpu: Cpu, t: int, mode: str = "full") -> None:
        """Account the current task up to ``t``.

        Progress (CPU time, work left), then the class: vruntime and
        min_vruntime, RT runtime; then the checks: EEVDF update_deadline and
        the RT throttle check. The checks run at every accounting (even with
        no new progress) except the one at the end of a periodic job
        (``mode="no_checks"``, see the module docstring); ``mode="progress"``
        leaves the class alone (it catches up at the next accounting).
        """
        p = cpu.curr
        if p is None:
            return
        delta = t - p.exec_start
        if delta > 0:
            p.exec_start = t
            p.sum_exec += delta
            p.cpu_time += delta
            if p.remaining is not None:
                p.remaining -= delta
                assert p.remaining >= 0
        if mode == "progress":
            return
        delta = p.sum_exec - p.class_sum
        p.class_sum = p.sum_exec
        checks = mode == "full" and (delta > 0 or self.checks_on_zero)
        if p.is_rt:
            if self.rt_throttle:
                if delta > 0:
                    if (RTPERIOD_EV, cpu.cid) not in self.timers:
                        self.arm(RTPERIOD_EV, cpu.cid, (t // self.rt_period + 1) * self.rt_period)
                    cpu.rt_time += delta
                if checks and not cpu.rt_throttled and cpu.rt_time > self.rt_runtime:
                    cpu.rt_throttled = True
                    self.request_resched(cpu)
        elif cpu.cfs_curr is p:
            if delta > 0:
                p.vruntime += self.calc_delta_fair(delta, p)
            if self.eevdf and checks:
                self.update_deadline(cpu, p)
            if delta > 0 or self.minv_on_zero:
                self.update_min_vruntime(cpu)

    def charge(self, cpu: Cpu, t: int, d: int) -> None:
        self.cpu_acct(cpu, t)
        self.update_curr(cpu, t)
        cpu.O = max(cpu.O, t) + d
        cpu.overhead_ns += d
        if cpu.curr is not None:
            cpu.curr.exec_start = max(cpu.curr.exec_start, cpu.O)

    def request_resched(self, cpu: Cpu) -> None:
        if cpu.in_schedule:
            return
        cpu.resched = True

    def rearm_cur(self, cpu: Cpu) -> None:
        if cpu.resched and not self.nonpreemptible(cpu):
            self.arm(CUR_EV, cpu.cid, self.now)
            return
        p = cpu.curr
        if p is not None and p.on_rq and p.remaining is not None:
            self.arm(CUR_EV, cpu.cid, p.exec_start + p.remaining)
        else:
            self.cancel(CUR_EV, cpu.cid)

    # ---------------------------------------------------------------- enqueue
    def enqueue(self, cpu: Cpu, p: Task, t: int, initial: bool) -> None:
        if p.is_rt:
            cpu.rtq.setdefault(p.prio, []).append(p)
            p.on_rq = True
            return
        self.update_curr(cpu, t)
        if self.eevdf:
            self.place_eevdf(cpu, p, initial)
        else:
            if initial:
                v = cpu.min_vruntime + self.calc_delta_fair(self.sched_slice(cpu, p), p)
            else:
                thresh = self.latency
                if self.gentle:
                    thresh >>= 1
                v = cpu.min_vruntime - thresh
            p.vruntime = max(p.vruntime, v)
        self.ins += 1
        p.ins_seq = self.ins
        cpu.tree.append(p)
        p.on_rq = True

    def place_eevdf(self, cpu: Cpu, se: Task, initial: bool) -> None:
        v = self.avg_vruntime(cpu)
        se.slice = self.base_slice
        vslice = self.calc_delta_fair(se.slice, se)
        lag = 0
        running = self.fair_running(cpu)
        if running:
            lag = se.vlag
            load = sum(x.weight for x in running)
            lag *= load + se.weight
            lag = div_trunc(lag, load)
        se.vruntime = v - lag
        if initial:
            vslice //= 2
        se.deadline = se.vruntime + vslice

    def dequeue_sleep(self, cpu: Cpu, p: Task, t: int) -> None:
        """The current task p goes to sleep."""
        if p.is_rt:
            cpu.rtq[p.prio].remove(p)
            p.on_rq = False
            return
        self.update_curr(cpu, t)
        if self.eevdf:
            lag = self.avg_vruntime(cpu) - p.vruntime
            limit = self.calc_delta_fair(max(2 * p.slice, self.TICK), p)
            p.vlag = max(-limit, min(limit, lag))
        if p in cpu.tree:
            cpu.tree.remove(p)
        p.on_rq = False
        self.update_min_vruntime(cpu)

    # ------------------------------------------------------------------- pick
    def rt_runnable(self, cpu: Cpu) -> bool:
        return any(cpu.rtq.get(pr) for pr in cpu.rtq)

    def pick(self, cpu: Cpu) -> Task | None:
        if not cpu.rt_throttled:
            for pr in sorted(cpu.rtq, reverse=True):
                if cpu.rtq[pr]:
                    return cpu.rtq[pr][0]
        if self.eevdf:
            return self.pick_eevdf(cpu)
        left = self.leftmost(cpu)
        curr = cpu.cfs_curr if (cpu.cfs_curr is not None and cpu.cfs_curr.on_rq) else None
        if left is None or (curr is not None and curr.vruntime < left.vruntime):
            return curr
        return left

    def set_next_fair(self, cpu: Cpu, p: Task) -> None:
        if p in cpu.tree:
            cpu.tree.remove(p)
        cpu.cfs_curr = p
        p.vlag = p.deadline
        p.prev_sum_exec = p.sum_exec

    def schedule(self, cpu: Cpu, t: int) -> None:
        cpu.resched = False
        prev = cpu.curr
        cpu.in_schedule = True
        self.update_curr(cpu, t)
        nxt = self.pick(cpu)
        cpu.in_schedule = False
        cpu.resched = False
        if nxt is prev:
            if nxt is not None and not nxt.is_rt and self.pick_resets_same:
                self.set_next_fair(cpu, nxt)
            return
        self.cpu_acct(cpu, t)
        cpu.nr_switches += 1
        if prev is not None and prev.on_rq:
            prev.nr_preempted += 1
        if self.log is not None:
            self.log.append((t, cpu.cid, prev and prev.tid, nxt and nxt.tid))
        # put_prev
        if cpu.cfs_curr is not None:
            c = cpu.cfs_curr
            if c.on_rq:
                self.ins += 1
                c.ins_seq = self.ins
                cpu.tree.append(c)
            cpu.cfs_curr = None
        if nxt is not None and not nxt.is_rt:
            self.set_next_fair(cpu, nxt)
        cpu.O = max(cpu.O, t) + self.cs
        cpu.overhead_ns += self.cs
        cpu.curr = nxt
        self.start_running(cpu, nxt, t, prev is None)

    def start_running(self, cpu: Cpu, nxt: Task | None, t: int, was_idle: bool) -> None:
        if nxt is not None:
            nxt.exec_start = cpu.O
            nxt.nr_runs += 1
            if nxt.kind == "periodic" and not nxt.started:
                nxt.started = True
                nxt.wl.add(cpu.O - nxt.release)
            if was_idle and self.tick_before_cur:
                self.arm(TICK_EV, cpu.cid, (t // self.TICK + 1) * self.TICK)
            self.rearm_cur(cpu)
            if was_idle and not self.tick_before_cur:
                self.arm(TICK_EV, cpu.cid, (t // self.TICK + 1) * self.TICK)
        else:
            self.cancel(TICK_EV, cpu.cid)
            self.rearm_cur(cpu)

    # ---------------------------------------------------------- wakeup preempt
    def check_preempt(self, cpu: Cpu, p: Task, t: int) -> None:
        if cpu.resched:
            return
        curr = cpu.curr
        if curr is None:
            self.request_resched(cpu)
            return
        if p.is_rt:
            if cpu.rt_throttled:
                return
            if not curr.is_rt or p.prio > curr.prio:
                self.request_resched(cpu)
            return
        if curr.is_rt:
            return
        self.update_curr(cpu, t)
        if self.eevdf:
            if self.pick_eevdf(cpu) is p:
                self.request_resched(cpu)
        else:
            vdiff = curr.vruntime - p.vruntime
            if vdiff > 0 and vdiff > self.calc_delta_fair(self.wakeup_gran, p):
                self.request_resched(cpu)

    # ------------------------------------------------------------------ events
    def ev_release(self, p: Task, t: int) -> None:
        cpu = self.cpus[p.cpu]
        self.charge(cpu, t, self.ipi)
        p.remaining = p.runtime
        p.release = t
        p.started = False
        self.enqueue(cpu, p, t, initial=False)
        self.check_preempt(cpu, p, t)
        self.rearm_cur(cpu)

    def ev_tick(self, cpu: Cpu, t: int) -> None:
        cpu.ticks += 1
        p = cpu.curr
        self.cpu_acct(cpu, t)
        self.update_curr(cpu, t)
        if p is not None and p.on_rq:
            if p.is_rt:
                if p.policy == "rr":
                    p.rr_left -= 1
                    if p.rr_left <= 0:
                        p.rr_left = self.rr_ticks
                        q = cpu.rtq[p.prio]
                        if len(q) > 1:
                            q.remove(p)
                            q.append(p)
                            self.request_resched(cpu)
            elif not self.eevdf and len(self.fair_running(cpu)) > 1:
                ideal = self.sched_slice(cpu, p)
                ran = p.sum_exec - p.prev_sum_exec
                if ran > ideal:
                    self.request_resched(cpu)
                elif ran >= self.min_gran:
                    left = self.leftmost(cpu)
                    d = p.vruntime - left.vruntime
                    if d > ideal:
                        self.request_resched(cpu)
        self.arm(TICK_EV, cpu.cid, t + self.TICK)
        self.rearm_cur(cpu)

    def ev_cur(self, cpu: Cpu, t: int) -> None:
        was_resched = cpu.resched
        p = cpu.curr
        self.cpu_acct(cpu, t)
        if p is not None and p.on_rq and p.remaining is not None:
            if p.kind == "periodic":
                self.update_curr(cpu, t, mode=self.completion_accounting)
                if p.remaining == 0:
                    self.complete_job(cpu, p, t)
            else:
                self.update_curr(cpu, t, mode=self.segment_accounting)
                if p.remaining == 0:
                    self.segment_done(cpu, p, t)
        if was_resched and not self.nonpreemptible(cpu):
            self.schedule(cpu, t)
        self.rearm_cur(cpu)

    def complete_job(self, cpu: Cpu, p: Task, t: int) -> None:
        p.rt.add(t - p.release)
        nxt = p.release + p.period
        if t > nxt:
            p.deadline_misses += 1
        if nxt <= t:
            p.release = nxt
            p.remaining = p.runtime
            p.started = True
            p.wl.add(t - nxt)
            return
        self.dequeue_sleep(cpu, p, t)
        self.arm(RELEASE_EV, p.tid, nxt)
        self.request_resched(cpu)

    def ev_rtperiod(self, cpu: Cpu, t: int) -> None:
        cpu.rt_time -= min(cpu.rt_time, self.rt_runtime)
        if cpu.rt_throttled and cpu.rt_time < self.rt_runtime:
            cpu.rt_throttled = False
            if self.rt_runnable(cpu):
                self.request_resched(cpu)
        if cpu.rt_time > 0 or self.rt_runnable(cpu):
            self.arm(RTPERIOD_EV, cpu.cid, t + self.rt_period)
        self.rearm_cur(cpu)

    # --------------------------------------------------------------------- run
    def run(self) -> dict:
        # time 0: hogs enqueued, periodic release timers armed, in config order
        for p in self.tasks:
            cpu = self.cpus[p.cpu]
            if self.initial_enqueue(p):
                self.enqueue(cpu, p, 0, initial=True)
            elif p.kind == "periodic":
                self.arm(RELEASE_EV, p.tid, p.phase)
        for cpu in self.cpus:
            nxt = self.pick(cpu)
            if nxt is not None:
                if not nxt.is_rt:
                    self.set_next_fair(cpu, nxt)
                cpu.curr = nxt
                cpu.nr_switches += 1
                nxt.exec_start = 0
                nxt.nr_runs += 1
                self.arm(TICK_EV, cpu.cid, self.TICK)
                self.rearm_cur(cpu)
        end = self.duration
        while self.heap and self.heap[0][0] <= end:
            t, seq, kind, target = heapq.heappop(self.heap)
            key = (kind, target)
            if self.timers.get(key) != (t, seq):
                continue           # stale
            del self.timers[key]
            self.now = t
            if kind == RELEASE_EV:
                self.ev_release(self.tasks[target], t)
            elif kind == TICK_EV:
                self.ev_tick(self.cpus[target], t)
            elif kind == CUR_EV:
                self.ev_cur(self.cpus[target], t)
            elif kind == RTPERIOD_EV:
                self.ev_rtperiod(self.cpus[target], t)
            else:
                self.dispatch(kind, target, t)
        self.now = end
        for cpu in self.cpus:
            self.cpu_acct(cpu, end)
            p = cpu.curr
            if p is not None and end > p.exec_start:
                p.cpu_time += end - p.exec_start
                p.exec_start = end
        return self.results()

    def results(self) -> dict:
        return {
            "tasks": [
                dict(cpu_time=p.cpu_time, nr_runs=p.nr_runs, nr_preempted=p.nr_preempted,
                     deadline_misses=p.deadline_misses,
                     wakeup_latency=p.wl.tuple() if p.kind == "periodic" else None,
                     response_time=p.rt.tuple() if p.kind == "periodic" else None)
                for p in self.tasks
            ],
            "cpus": [
                dict(ticks=c.ticks, nr_switches=c.nr_switches, busy_ns=c.busy_ns, idle_ns=c.idle_ns,
                     overhead_ns=c.overhead_ns)
                for c in self.cpus
            ],
        }


def simulate(cfg: Config, **opts: bool) -> dict:
    """Run the reference model on ``cfg`` (see the module docstring)."""
    return RefSim(cfg, **opts).run()
