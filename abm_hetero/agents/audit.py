"""A recorder of learning traders' decisions and of the terms of their rewards.

Attach one to a market (``MarketModel(settings, audit=DecisionAudit())``) and every decision of
its learning traders is recorded: the tick, the trader's row, its observation, the pre-squash
action, the order it sent, its holding and the true fundamental gap; when the decision's reward
becomes known (at the trader's next decision, or at the episode's end), the reward and each of
its terms. The diagnostics of ``abm_hetero.analysis.diagnostics`` read :meth:`frame`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


class DecisionAudit:
    """Decisions and their rewards, one row per decision (see the module docstring)."""

    def __init__(self) -> None:
        self._decisions: list[dict[str, np.ndarray]] = []
        self._rewards: list[dict[str, np.ndarray]] = []
        self.count = 0

    def decisions(self, tick: int, rows: np.ndarray, obs: np.ndarray, raw: np.ndarray,
                  action: np.ndarray, shares: np.ndarray, gap: float) -> np.ndarray:
        """Record decisions taken at ``tick``; returns their ids (for :meth:`rewards`)."""
        n = len(rows)
        ids = np.arange(self.count, self.count + n)
        self.count += n
        self._decisions.append({
            "decision": ids, "tick": np.full(n, tick), "row": np.asarray(rows),
            "obs": np.asarray(obs, np.float32), "raw": np.asarray(raw, np.float32),
            "action": np.asarray(action, np.float32), "shares": np.asarray(shares, float),
            "gap": np.full(n, gap),
        })
        return ids

    def rewards(self, ids: np.ndarray, interval: np.ndarray, terms: dict[str, np.ndarray],
                reward: np.ndarray) -> None:
        """Record the rewards (and their terms) of earlier decisions ``ids``."""
        self._rewards.append({"decision": np.asarray(ids), "interval": np.asarray(interval),
                              "reward": np.asarray(reward, float),
                              **{k if k.startswith("info_") else f"term_{k}": np.asarray(v, float)
                                 for k, v in terms.items()}})

    def frame(self) -> pd.DataFrame:
        """One row per decision: tick, row, ``obs_0..``, ``raw_0..``, ``action_0..``, shares,
        true gap, and (once known) interval, reward, the ``term_*`` columns that sum to the
        reward and ``info_*`` columns recorded beside it."""
        if not self._decisions:
            return pd.DataFrame(columns=["decision", "tick", "row", "reward"])
        cat = {k: np.concatenate([d[k] for d in self._decisions]) for k in self._decisions[0]}
        out = pd.DataFrame({k: cat[k] for k in ("decision", "tick", "row", "shares", "gap")})
        for name in ("obs", "raw", "action"):
            for j in range(cat[name].shape[1]):
                out[f"{name}_{j}"] = cat[name][:, j]
        if self._rewards:
            keys = sorted({k for r in self._rewards for k in r}, key=lambda k: (k != "decision",
                                                                               k))
            rew = pd.DataFrame({k: np.concatenate([r.get(k, np.full(len(r["decision"]), np.nan))
                                                   for r in self._rewards]) for k in keys})
            out = out.merge(rew, on="decision", how="left")
        return out
