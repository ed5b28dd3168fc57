"""Checks that hold for every run of the suite."""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from pcpsim.results import Results
from pcpsim.simulation import Simulation


@pytest.fixture(autouse=True)
def pages_are_conserved(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every results() of every test: free + pcp + in use == managed pages in
    every zone (MODEL.md 6.3), each zone's pcp total is its CPUs' sum, and the
    work-item and drain-call bookkeeping holds (Simulation.check)."""
    results = Simulation.results

    def checked(self: Simulation) -> Results:
        r = results(self)
        self.check()
        assert r.conservation_error() == 0
        z = r.zones
        assert np.all(z["free"] >= 0) and np.all(z["held"] >= 0) and np.all(z["held"] <= z["in_use"])
        cpus = self.arrays["cpus"]
        per_zone = np.bincount(cpus["node"], weights=cpus["pcp_count"], minlength=len(r.zones["free"]))
        assert np.array_equal(per_zone.astype(np.int64), r.zones["pcp_pages"])
        return r

    monkeypatch.setattr(Simulation, "results", checked)
    yield
