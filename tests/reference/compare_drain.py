"""The figures the drain differential test compares (tests/test_reference_drain.py),
from the engine's results and from the reference model drain_ref.

``calls``: (start, end, caller task id, skipped, ntargets) per call;
``targets``: (call, cpu, queued, start, end, pages) per target; ``cpu_time``
of the workload tasks (the kernel threads are not compared: the engine keeps
8 kworkers per pool, the reference only those it needs)."""
from __future__ import annotations

import pcpsim

from .drain_ref import simulate


def engine(cfg: pcpsim.Config) -> dict:
    r = pcpsim.run(cfg)
    ids = [i for i in range(len(r.tasks["spec"])) if r.tasks["spec"][i] >= 0]
    c, tg = r.calls, r.targets
    return {
        "cpu_time": [int(r.tasks["cpu_time"][i]) for i in ids],
        "calls": [(int(c["start"][i]), int(c["end"][i]), int(c["caller"][i]),
                   int(c["skipped"][i]), int(c["ntargets"][i])) for i in range(len(c["start"]))],
        "targets": [tuple(int(tg[k][i]) for k in ("call", "cpu", "queued", "start", "end", "pages"))
                    for i in range(len(tg["call"]))],
        "zone_free": int(r.zones["free"][0]),
        "pcp": [int(x) for x in r.cpus["pcp_count"]],
        "reclaimed": int(r.zones["reclaimed"][0]),
        "oom_events": int(r.zones["oom_events"][0]),
        "lock_hold_ns": int(r.zones["lock_hold_ns"][0]),
    }


# not compared: the final pcp counts (the engine reports each CPU's count as of
# its last event, not synced to the end of the run; the zone's free pages are)
KEYS = ("cpu_time", "calls", "targets", "zone_free", "reclaimed", "oom_events", "lock_hold_ns")


def reference(cfg: pcpsim.Config, **opts: object) -> dict:
    ref = simulate(cfg, **opts)
    out = {k: ref[k] for k in KEYS if k != "cpu_time"}
    out["cpu_time"] = [t["cpu_time"] for t in ref["tasks"]]
    return out


def first_difference(eng: dict, ref: dict) -> str | None:
    for k in KEYS:
        e, r = eng[k], ref[k]
        if e == r:
            continue
        if isinstance(e, list) and isinstance(r, list):
            for i, (a, b) in enumerate(zip(e, r)):
                if a != b:
                    return f"{k}[{i}]: engine {a} reference {b}"
            return f"{k}: engine has {len(e)} entries, reference {len(r)}"
        return f"{k}: engine {e} reference {r}"
    return None


def compare(cfg: pcpsim.Config) -> str | None:
    return first_difference(engine(cfg), reference(cfg))
