"""The built-in scenarios per drain strategy (pytest-benchmark); see README.md.

``server-4096``: 4096 CPUs in 8 nodes, memory pressure and reclaimers, 1
simulated second; ``phone``: the default 8-CPU scenario, 10 simulated seconds.
"""
from __future__ import annotations

from typing import Any

import pytest

from pcpsim.config import STRATEGIES
from pcpsim.scenarios import phone, server_4096


@pytest.mark.benchmark(group="scenario-server-4096")
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_server_4096(timed_run: Any, strategy: str) -> None:
    assert timed_run(server_4096(strategy)) > 0


@pytest.mark.benchmark(group="scenario-phone")
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_phone(timed_run: Any, strategy: str) -> None:
    assert timed_run(phone(strategy)) > 0
