"""The bench's runner: medians and ranges over runs, the pure-Python core's figures beside the
compiled core's, and its option errors. The measurements themselves run in test_cli's quick
bench; here they are replaced by counters, so the arithmetic is checked exactly."""

from __future__ import annotations

import itertools

import pytest

from abm_hetero import bench
from abm_hetero.cli import main


@pytest.fixture
def counted(monkeypatch):
    """Figures whose values are known: the compiled core gives 2k, the Python core k, for the
    k-th call of each core; the environment is measured on one core only."""
    calls = {"compiled": itertools.count(1), "python": itertools.count(1)}
    cores_seen = []

    def speed(core):
        cores_seen.append(core)
        k = next(calls[core])
        return {"speed": 2.0 * k if core == "compiled" else float(k), "memory": 7.0}

    monkeypatch.setattr(bench, "figures", lambda quick, progress: [
        bench.Figure("speed of a thing", "things/s", speed),
        bench.Figure("environment", "steps/s", lambda core: {"env": 3.0}, compare=False),
    ])
    return cores_seen


def test_every_figure_is_the_median_and_range_of_its_runs(counted):
    results = bench.run_all(runs=5, progress=lambda line: None)
    assert results["speed"] == 6.0
    assert results["speed_range"] == [2.0, 10.0]
    assert results["speed_runs"] == [2.0, 4.0, 6.0, 8.0, 10.0]
    assert not any(k.startswith(bench.PYTHON_CORE) for k in results)
    assert counted == ["compiled"] * 5


def test_compare_alternates_the_cores_and_reports_the_ratio(counted):
    lines = []
    results = bench.run_all(runs=3, compare=True, progress=lines.append)
    assert counted == ["compiled", "python"] * 3
    assert results["python_core_speed"] == 2.0
    assert results["python_core_speed_range"] == [1.0, 3.0]
    assert results["speed_vs_python_core"] == 2.0
    assert results["speed_vs_python_core_range"] == [2.0, 2.0]
    assert "python_core_env" not in results  # measured on one core only
    table = lines[-1]
    assert "speed of a thing: 4.00 things/s (2.00-6.00)" in table
    assert "pure-Python core 2.00 (1.00-3.00); ratio 2.00x (2.00-2.00)" in table


def test_runs_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        bench.run_all(runs=0)


@pytest.mark.parametrize("value, words", [("0", "at least 1"), ("x", "whole number"),
                                           ("1001", "at most 1000")])
def test_bench_refuses_a_bad_runs_option(value, words, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--runs", value])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--runs" in err and words in err
