"""Longer experiments, deselected by default: ``pytest -m slow``."""

import pandas as pd
import pytest

from abm_hetero.cli import main


@pytest.mark.slow
def test_default_experiment_end_to_end(tmp_path):
    """``abm-hetero run`` on its built-in defaults (five seeds, 2,000 ticks, 200 traders)."""
    out = tmp_path / "report"
    assert main(["run", "--out", str(out), "--quiet"]) == 0
    facts = pd.read_csv(out / "facts.csv")
    assert len(facts) == 20 and facts.groupby("scenario").size().eq(5).all()
    md = (out / "report.md").read_text()
    assert "Answer:" in md and "rho(alpha, position_late | initial_shares)" in md
