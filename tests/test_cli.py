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


def test_unknown_scenario_or_file_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "laptop"]) == 2
    err = capsys.readouterr().err
    assert "'laptop'" in err and "phone" in err


def test_run_a_toml_config_save_and_show(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    from pcpsim.scenarios import phone
    path = tmp_path / "exp.toml"
    phone("ipi").save_toml(path)
    out = tmp_path / "out"
    assert cli.main(["run", str(path), "--strategy", "kthread", "--duration", "200ms", "--cpus", "8",
                     "--out", str(out), "--trace", "500"]) == 0
    printed = capsys.readouterr().out
    assert any(line.split()[:1] == ["kthread"] for line in printed.splitlines())
    saved = out / "exp-kthread.npz"
    assert saved.exists() and (out / "exp-kthread.trace").read_text().startswith("# tracer: nop")
    assert "# Max Latencies:" in (out / "exp-kthread.cyclictest.txt").read_text()
    assert cli.main(["show", str(saved)]) == 0
    shown = capsys.readouterr().out
    assert "0.200 s simulated" in shown and "kthread" in shown


def test_compare_named_strategies(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["compare", "phone", "--strategies", "remote,ipi", "--duration", "100ms"]) == 0
    rows = [line.split()[0] for line in capsys.readouterr().out.splitlines() if line.split()]
    assert rows.count("remote") == 1 and rows.count("ipi") == 1 and "workqueue" not in rows
    assert cli.main(["compare", "phone", "--strategies", "ipi,foo"]) == 2


def test_errors_in_a_config_file_name_file_and_key(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('kernel = "5.17"\n[[tasks]]\nkind = "hog"\nnice = 30\n')
    assert cli.main(["run", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "tasks[0].nice" in err and "30" in err
    bad.write_text('kernel = "5.17\n')
    assert cli.main(["run", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "line 1" in err


def test_plots_are_written(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    assert cli.main(["compare", "phone", "--strategies", "ipi,remote", "--duration", "300ms",
                     "--out", str(tmp_path), "--plots"]) == 0
    for name in ("drain_ccdf", "stall_ccdf", "cpu_time", "pcp_heatmap_ipi", "interference_remote"):
        png = tmp_path / f"{name}.png"
        assert png.stat().st_size > 5000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_progress_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["run", "phone", "--strategy", "remote", "--duration", "100ms"]
    assert cli.main(args) == 0
    assert "simulated" not in capsys.readouterr().err            # not a terminal: quiet
    monkeypatch.setattr(cli.sys.stderr, "isatty", lambda: True)
    assert cli.main(args) == 0
    assert "0.100 / 0.100 s simulated" in capsys.readouterr().err
