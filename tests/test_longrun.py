"""Long runs hold memory flat with tracing off (issue 7).

In a fresh process (so that the rest of the suite does not perturb it): the
phone scenario runs 1 simulated second, then 20 more in 200 calls of 100 ms.
Over those 20 s:

- the Python heap (tracemalloc, which numpy's allocations report to) grows by
  less than 64 KiB: ``run()`` allocates nothing that stays;
- the peak RSS grows by less than the bytes of the records the engine wrote in
  its preallocated, bounded buffers meanwhile (drain calls, targets, memory
  samples: the kernel maps their pages when they are first written) plus 2
  MiB of slack (malloc arenas, the allocator's own bookkeeping). Measured:
  0.8 MiB of growth for 1.1 MB of records; a leak of 8 bytes per event
  (~470 k events: 3.8 MB) would be above the bound.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from test_checkpoint import SAME_BUILD, child_env

SCRIPT = SAME_BUILD + textwrap.dedent("""
    import json, resource, tracemalloc
    import numpy as np
    import pcpsim as p
    from pcpsim.scenarios import phone

    cfg = phone("workqueue")
    cfg.duration = "21s"
    sim = p.Simulation(cfg)                          # trace=0: no tracing
    sim.run("1s")
    sim.results()                                    # warm every code path once
    k = lambda name: int(sim.arrays["counters"][name][0])
    before = {n: k(n) for n in ("ncall", "ntarget_rec", "nsample")}
    events0 = sim.events
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    heap0 = tracemalloc.get_traced_memory()[0]
    for i in range(1, 201):
        sim.run(1_000_000_000 + i * 100_000_000)
    heap1 = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    a = sim.arrays
    nz = len(a["zones"])
    records = ((k("ncall") - before["ncall"]) * a["calls"].dtype.itemsize
               + (k("ntarget_rec") - before["ntarget_rec"]) * a["targets"].dtype.itemsize
               + (k("nsample") - before["nsample"]) * 8 * (1 + 2 * nz + 2 * len(a["cpus"])))
    print(json.dumps({"rss0": rss0, "rss1": rss1, "heap0": heap0, "heap1": heap1, "records": records,
                      "events": sim.events - events0, "now": sim.now}))
""")


def test_long_run_holds_memory_flat() -> None:
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600, env=child_env())
    assert r.returncode == 0, r.stderr[-4000:]
    m = json.loads(r.stdout.strip().splitlines()[-1])
    assert m["now"] == 21_000_000_000
    assert m["events"] > 300_000, m                         # a long run, not an idle one
    heap = m["heap1"] - m["heap0"]
    assert heap < 64 * 1024, f"the Python heap grew by {heap} bytes over 20 simulated seconds: {m}"
    growth = m["rss1"] - m["rss0"]
    bound = m["records"] + 2 * 2**20
    assert growth < bound, f"peak RSS grew by {growth / 2**20:.2f} MiB (bound {bound / 2**20:.2f} MiB): {m}"
