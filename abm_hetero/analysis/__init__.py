"""Analysis of runs: stylized facts of returns, behaviour by trait, niches, the trade network,
diagnostics of learning traders, optimal-transport calibration and the report. The modules
measure; ``abm_hetero.experiments`` runs the markets they measure."""

from .stylized_facts import (
    KEYS,
    AnalysisError,
    log_returns,
    quick_summary,
    stylized_facts,
    verdicts,
)

__all__ = ["KEYS", "AnalysisError", "log_returns", "quick_summary", "stylized_facts", "verdicts"]
