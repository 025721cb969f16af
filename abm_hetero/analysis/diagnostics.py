"""Diagnostics of learning traders: does each trait have work to do, and does the policy use it?

Four measurements, on decisions recorded with :class:`~abm_hetero.agents.audit.DecisionAudit`:

* **Reward audit** (:func:`reward_audit`): each term of the reward (``learning/reward.py``) with
  its mean, its standard deviation, its share of the summed variance of the terms
  (``var(term) / sum of var(terms)``) and its share of the reward's variance
  (``cov(term, reward) / var(reward)``, which sums to 1 over the terms that make the reward),
  overall and by tercile of each trait. Terms recorded beside the reward but not part of it
  (the fundamental's own revaluation of the position) are listed with ``in_reward`` false and
  their variance relative to the reward's.
* **Policy sensitivity** (:func:`policy_sensitivity`): each trait feature is swept over
  [-1, 1] while the other features stay at real observations; the change of the deterministic
  action and of the value over the sweep is reported relative to the spread of the action (or
  value) across those observations and to the exploration noise of the action.
* **Observation coverage** (:func:`observation_coverage`): each feature's 5-95% range inside
  [-1, 1] and the share of observations clipped at a bound; a feature is *pinned* when its 5-95%
  range spans less than 5% of [-1, 1] or more than half its values sit at a bound (a constant
  trait feature is reported as constant, not as pinned).
* **Reward timing** (:func:`reward_timing`): the autocorrelation of rewards along each trader's
  chain of decisions, and the response of the rewards ``k`` decisions later to an order sent
  toward the fundamental (the correlation and slope of ``R_{i+k}`` on the signed order size in
  the direction of the true fundamental gap): payoffs that arrive after the next decision give
  the discount factor ``gamma`` work to do.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..agents.audit import DecisionAudit
from ..errors import AbmHeteroError
from ..experiments import run_market
from ..learning.observer import MARKET_FEATURES, feature_names, observed_traits
from . import figures
from .behaviour import TRAITS

PINNED_SPAN = 0.1  # 5% of the width of [-1, 1]
PINNED_AT_BOUND = 0.5


def trait_columns() -> dict[str, int]:
    """Each observed trait's column in the observation."""
    return {name: len(MARKET_FEATURES) + i for i, name in enumerate(observed_traits())}


def _audit_rows(frame: pd.DataFrame, group: str) -> list[dict]:
    terms = [c for c in frame.columns if c.startswith("term_")]
    extras = [c for c in frame.columns if c.startswith("info_")]
    known = frame.dropna(subset=["reward"])
    reward = known["reward"].to_numpy(float)
    var_reward = reward.var()
    variances = {t: known[t].var(ddof=0) for t in terms}
    total = sum(variances.values())
    rows = []
    for t in terms + extras:
        x = known[t].to_numpy(float)
        counted = t in variances
        cov = float(((x - x.mean()) * (reward - reward.mean())).mean())
        rows.append({"group": group, "term": t.split("_", 1)[1], "in_reward": counted,
                     "mean": x.mean(), "std": x.std(),
                     "variance_share": variances[t] / total if counted and total else np.nan,
                     "reward_variance_share": cov / var_reward if counted and var_reward
                     else np.nan,
                     "variance_vs_reward": x.var() / var_reward if var_reward else np.nan,
                     "decisions": len(x)})
    return rows


def reward_audit(frame: pd.DataFrame, traits: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each reward term's size and share of variance, overall and by trait tercile.

    ``frame`` is :meth:`DecisionAudit.frame` (one row per decision with ``term_*`` columns)
    with the traits of each decision's trader as columns, or ``traits`` to join them from (on
    ``row``, and on ``episode`` when both tables have it).
    """
    data = frame
    if traits is not None:
        keys = [k for k in ("episode", "row") if k in frame and k in traits]
        data = frame.merge(traits[[*keys, *TRAITS]], on=keys, how="left")
    rows = _audit_rows(data, "all")
    for trait in TRAITS:
        values = data[trait].to_numpy(float)
        if not np.isfinite(values).any() or np.ptp(values[np.isfinite(values)]) == 0:
            continue
        cuts = np.nanquantile(values, [1 / 3, 2 / 3])
        tercile = np.digitize(values, cuts)
        for k, label in enumerate(("low", "middle", "high")):
            part = data[tercile == k]
            if len(part.dropna(subset=["reward"])) > 1:
                rows += _audit_rows(part, f"{trait} {label}")
    return pd.DataFrame(rows)


def observation_coverage(frame: pd.DataFrame, names=None) -> pd.DataFrame:
    """5%, 50% and 95% quantiles of each observation feature (``names``: the observer's by
    default) and whether it is pinned."""
    names = feature_names() if names is None else names
    rows = []
    for j, name in enumerate(names):
        x = frame[f"obs_{j}"].to_numpy(float)
        q05, q50, q95 = np.quantile(x, [0.05, 0.5, 0.95])
        at_bound = float(np.mean(np.abs(x) >= 0.999))
        constant = bool(np.ptp(x) == 0) and at_bound == 0  # e.g. a trait without spread
        pinned = not constant and (q95 - q05 < PINNED_SPAN or at_bound > PINNED_AT_BOUND)
        rows.append({"feature": j, "name": name, "q05": q05, "median": q50, "q95": q95,
                     "span": q95 - q05, "at_bound": at_bound, "constant": constant,
                     "pinned": pinned})
    return pd.DataFrame(rows)


def _squash(u: np.ndarray) -> np.ndarray:
    return np.tanh(u).clip(-0.999, 0.999)


def policy_sensitivity(policy, obs: np.ndarray, points: int = 11, noise_draws: int = 16,
                       seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sweep each trait feature over [-1, 1] with the other features at real observations.

    Returns ``(table, curves)``: per trait and action dimension (and the value), the change over
    the sweep of the mean deterministic output (largest minus smallest point of the curve),
    the output's spread (standard deviation) across the observations, the exploration noise
    (standard deviation of the sampled action around the deterministic one), and the ratios of
    the change to both; ``curves`` holds the mean output at each point of each sweep.
    """
    import torch

    net = policy.net
    obs = np.asarray(obs, np.float32)
    rng = np.random.default_rng(seed)
    grid = np.linspace(-1.0, 1.0, points)
    with torch.no_grad():
        x = torch.as_tensor(obs, device=policy.device)
        mean = net.actor(x).cpu().numpy()
        value = net.value(x).cpu().numpy()
        std = net.log_std.exp().cpu().numpy()
    action = _squash(mean)
    eps = rng.standard_normal((noise_draws, *mean.shape))
    noise = (_squash(mean[None] + std * eps) - action[None]).std(axis=0).mean(axis=0)
    spread = {"action_0": action[:, 0].std(), "action_1": action[:, 1].std(),
              "value": value.std()}
    rows, curves = [], []
    for trait, column in trait_columns().items():
        outputs = {"action_0": [], "action_1": [], "value": []}
        for v in grid:
            swept = obs.copy()
            swept[:, column] = v
            with torch.no_grad():
                t = torch.as_tensor(swept, device=policy.device)
                a = _squash(net.actor(t).cpu().numpy())
                val = net.value(t).cpu().numpy()
            outputs["action_0"].append(a[:, 0].mean())
            outputs["action_1"].append(a[:, 1].mean())
            outputs["value"].append(val.mean())
            curves.append({"trait": trait, "feature_value": v, "action_0": a[:, 0].mean(),
                           "action_1": a[:, 1].mean(), "value": val.mean()})
        for output, curve in outputs.items():
            change = float(np.max(curve) - np.min(curve))
            explore = float(noise[int(output[-1])]) if output != "value" else np.nan
            rows.append({"trait": trait, "output": output, "change": change,
                         "direction": float(np.sign(curve[-1] - curve[0])),
                         "spread_across_obs": float(spread[output]),
                         "change_over_spread": change / spread[output] if spread[output] else
                         np.nan, "exploration_noise": explore,
                         "change_over_noise": change / explore if explore else np.nan})
    return pd.DataFrame(rows), pd.DataFrame(curves)


def _chains(frame: pd.DataFrame) -> pd.DataFrame:
    """Decisions ordered along each trader's chain, with the position in the chain."""
    known = frame.dropna(subset=["reward"]).sort_values(["episode", "row", "tick"]) if \
        "episode" in frame else frame.dropna(subset=["reward"]).sort_values(["row", "tick"])
    keys = ["episode", "row"] if "episode" in known else ["row"]
    known = known.assign(step=known.groupby(keys).cumcount())
    return known.reset_index(drop=True), keys


def reward_timing(frame: pd.DataFrame, max_lag: int = 5, max_volume: float = 20.0
                  ) -> pd.DataFrame:
    """Autocorrelation of rewards along traders' decisions, and the response of the reward
    ``k`` decisions later to an order toward the fundamental (``k = 0`` is the decision's own
    reward: the payoff by the next decision)."""
    chains, keys = _chains(frame)
    reward = chains["reward"].to_numpy(float)
    toward = np.ceil(np.abs(max_volume * chains["action_1"].to_numpy(float))) * np.sign(
        chains["action_1"].to_numpy(float)) * np.sign(chains["gap"].to_numpy(float))
    group = chains.groupby(keys).ngroup().to_numpy()
    mu = reward.mean() if len(reward) else np.nan
    var = ((reward - mu) ** 2).mean() if len(reward) else np.nan
    rows = []
    for k in range(0, max_lag + 1):
        stop = max(len(group) - k, 0)  # fewer decisions than the lag: no pairs
        same = group[k:] == group[:stop] if k else np.ones(len(group), bool)
        if not same.any():
            rows.append({"lag": k, "reward_acf": np.nan, "response_corr": np.nan,
                         "response_slope": np.nan, "pairs": 0})
            continue
        later = reward[k:][same]
        now_reward = reward[:stop][same]
        x = toward[:stop][same]
        acf = float(((now_reward - mu) * (later - mu)).mean() / var) if k and var else (
            1.0 if k == 0 else np.nan)
        xc = x - x.mean()
        slope = float((xc * (later - later.mean())).sum() / (xc * xc).sum()) if (
            xc * xc).sum() else np.nan
        corr = float(np.corrcoef(x, later)[0, 1]) if len(x) > 2 and x.std() and later.std() \
            else np.nan
        rows.append({"lag": k, "reward_acf": acf, "response_corr": corr,
                     "response_slope": slope, "pairs": int(same.sum())})
    return pd.DataFrame(rows)


class Diagnosis:
    """The four diagnostics of one population over several market seeds."""

    def __init__(self, decisions: pd.DataFrame, policy, description: str,
                 sample: int = 2000, seed: int = 0) -> None:
        if len(decisions) == 0 or "reward" not in decisions:
            what = "made no decision" if len(decisions) == 0 else "have no known reward"
            raise AbmHeteroError(f"nothing to diagnose in {description}: its learning traders "
                                 f"{what}; give the market more ticks or traders")
        self.decisions = decisions
        self.description = description
        # a small market gives statistics of one or no value: NaN in the tables, no warnings
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            self.audit = reward_audit(decisions)
            names = tuple(getattr(policy, "features", feature_names()))  # extras included
            self.coverage = observation_coverage(decisions, names)
            obs = decisions[[f"obs_{j}" for j in range(len(names))]].to_numpy(
                np.float32)
            pick = np.random.default_rng(seed).choice(len(obs), min(sample, len(obs)),
                                                      replace=False)
            self.sensitivity, self.curves = policy_sensitivity(policy, obs[pick], seed=seed)
            self.timing = reward_timing(decisions)

    def summary(self) -> list[str]:
        """The findings in a few sentences."""
        lines = []
        overall = self.audit[self.audit["group"] == "all"]
        counted = overall[overall["in_reward"]].sort_values("variance_share", ascending=False)
        lines.append("Reward terms by share of variance: " + ", ".join(
            f"{r.term} {r.variance_share:.1%}" for r in counted.itertuples()) + ".")
        for r in overall[~overall["in_reward"]].itertuples():
            lines.append(f"Recorded outside the reward: {r.term}, variance "
                         f"{r.variance_vs_reward:.2f} x the reward's.")
        pinned = self.coverage[self.coverage["pinned"]]
        lines.append("Pinned observation features: " + (", ".join(pinned["name"]) or "none")
                     + ".")
        for trait in observed_traits():
            s = self.sensitivity[(self.sensitivity["trait"] == trait)
                                 & (self.sensitivity["output"] != "value")]
            if len(s):
                best = s.loc[s["change_over_noise"].idxmax()]
                lines.append(f"{trait}: sweeping its feature moves the mean {best.output} by "
                             f"{best.change:.3f} ({best.change_over_spread:.2f} x its spread "
                             f"across observations, {best.change_over_noise:.2f} x the "
                             "exploration noise).")
        t = self.timing.set_index("lag")
        lines.append("Reward autocorrelation along a trader's decisions, lags 1-3: "
                     + ", ".join(f"{t.loc[k, 'reward_acf']:.3f}" for k in (1, 2, 3)
                                 if k in t.index)
                     + "; response of the reward k decisions later to an order toward the "
                       "fundamental (correlation), k = 0-3: "
                     + ", ".join(f"{t.loc[k, 'response_corr']:.3f}" for k in (0, 1, 2, 3)
                                 if k in t.index) + ".")
        return lines


def run_diagnosis(settings, seeds, policy=None) -> Diagnosis:
    """Run the market ``settings`` (with one group of learning traders) for each seed with its
    decisions recorded, and diagnose them."""
    frames, traits, used = [], [], None
    for seed in seeds:
        audit = DecisionAudit()
        model = run_market(settings.replace(seed=int(seed)), policy=policy, audit=audit)
        groups = [g for g in model.groups if g.kind == "learning"]
        if not groups:
            raise AbmHeteroError(f"population {settings.name!r} has no learning traders to "
                                 "diagnose")
        used = groups[0].policy
        frames.append(audit.frame().assign(episode=seed))
        for g in groups:
            traits.append(pd.DataFrame({"episode": seed, "row": g.rows,
                                        **{name: g.traits[name] for name in TRAITS}}))
    decisions = pd.concat(frames, ignore_index=True).merge(
        pd.concat(traits, ignore_index=True), on=["episode", "row"], how="left")
    desc = (f"{settings.name}: {settings.n_traders} traders, {settings.ticks} ticks, seeds "
            f"{', '.join(map(str, seeds))}")
    return Diagnosis(decisions, used, desc)


def write_diagnosis(diag: Diagnosis, out) -> None:
    """Write the tables (CSV), the sensitivity figure and ``summary.md`` into the folder
    ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    diag.audit.to_csv(out / "reward_audit.csv", index=False)
    diag.coverage.to_csv(out / "observation_coverage.csv", index=False)
    diag.sensitivity.to_csv(out / "policy_sensitivity.csv", index=False)
    diag.curves.to_csv(out / "sensitivity_curves.csv", index=False)
    diag.timing.to_csv(out / "reward_timing.csv", index=False)
    figures.trait_sensitivity(diag.curves, out / "trait_sensitivity.png")
    lines = [f"# Diagnosis of {diag.description}", ""]
    lines += [f"- {line}" for line in diag.summary()]
    lines += ["", "Tables: reward_audit.csv, observation_coverage.csv, policy_sensitivity.csv, "
              "sensitivity_curves.csv, reward_timing.csv; figure: trait_sensitivity.png.", ""]
    (out / "summary.md").write_text("\n".join(lines))
