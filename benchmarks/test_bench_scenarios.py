"""The built-in scenarios per drain strategy (pytest-benchmark); see README.md.

``server-4096``: 4096 CPUs in 8 nodes, memory pressure and reclaimers, 1
simulated second (3 rounds), and its 10 simulated seconds (1 round: the
"10 s in at most 5 s" figure of the performance issue); ``phone``: the default
8-CPU scenario, 10 simulated seconds.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from pcpsim.config import STRATEGIES
from pcpsim.scenarios import phone, server_4096


@pytest.mark.benchmark(group="scenario-server-4096")
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_server_4096(timed_run: Any, strategy: str) -> None:
    assert timed_run(server_4096(strategy)) > 0


@pytest.mark.benchmark(group="scenario-server-4096-10s")
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_server_4096_10s(timed_run: Any, strategy: str) -> None:
    assert timed_run(dataclasses.replace(server_4096(strategy), duration="10s"), rounds=1, warmup_rounds=0) > 0


@pytest.mark.benchmark(group="scenario-phone")
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_phone(timed_run: Any, strategy: str) -> None:
    assert timed_run(phone(strategy)) > 0
