"""The pcpsim command (its exit codes and tables)."""
from __future__ import annotations

import pytest

from pcpsim import cli
from pcpsim.config import STRATEGIES


def test_default_scenario_prints_one_row_per_strategy(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.split() and line.split()[0] in STRATEGIES]
    assert [r[0] for r in rows] == list(STRATEGIES)
    header = next(line for line in out.splitlines() if line.strip().startswith("strategy"))
    assert "drain p50" in header and "stall p50" in header and "stranded" in header
    by = {r[0]: r for r in rows}
    # the seed's story: the workqueue's worst drain is far above the kthread's and remote's
    assert float(by["workqueue"][3]) > 10 * float(by["kthread"][3])
    assert float(by["workqueue"][3]) > 10 * float(by["remote"][3])


def test_scenarios_are_listed(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["scenarios"]) == 0
    out = capsys.readouterr().out
    assert "phone" in out and "server-4096" in out


def test_run_one_strategy_short(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "phone", "--strategy", "remote", "--duration", "200ms", "--seed", "3"]) == 0
    rows = [line.split()[0] for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert "remote" in rows and "workqueue" not in rows


def test_bad_duration_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "phone", "--strategy", "ipi", "--duration", "ten"]) == 2
    err = capsys.readouterr().err
    assert "duration" in err and "'ten'" in err


def test_unknown_scenario_is_refused() -> None:
    with pytest.raises(SystemExit) as e:
        cli.main(["run", "laptop"])
    assert e.value.code == 2
