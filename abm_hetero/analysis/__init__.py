"""Analysis of runs: stylized facts of returns (and, later, behaviour, niches, calibration)."""

from .stylized_facts import (
    KEYS,
    AnalysisError,
    log_returns,
    quick_summary,
    stylized_facts,
    verdicts,
)

__all__ = ["KEYS", "AnalysisError", "log_returns", "quick_summary", "stylized_facts", "verdicts"]
