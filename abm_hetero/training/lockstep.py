"""Several episodes' markets stepped in lockstep, with one policy call per tick for all of them.

A market asks the shared policy once per tick for its twenty-odd active learning traders; at
that size a forward pass costs mostly its per-call overhead. A rollout worker that runs ``K``
episodes at once steps each market to the point of its tick where the learning traders decide
(``MarketModel.step(controlled=...)``, which pauses there), evaluates the policy once on the
observations of all ``K`` markets, and finishes each market's tick with its own rows
(``MarketModel.complete_tick(actions, policy_out)``), which records them as ``decide`` does.

Each market draws its exploration noise from its own ``model.rng`` right after its learning
traders observe, where ``LearningGroup.decide`` draws it (in the training market, whose only
group is the learning one, at the very same point of the random stream), so a market's random
numbers depend only on its seed. What batching changes is the float rounding of the forward
pass: a matrix product over more rows may round its last bit differently, and a market's
actions then differ from those of a run alone in the last bits (rarely, a price or a volume
rounds the other way and the episode takes another path). The result of a group of episodes is
therefore a function of the settings, the weights and the group's seeds; training forms the
groups the same way on every backend (``rollouts.py``), so its runs stay the same everywhere.
With ``K = 1`` the lockstep run is the plain run, bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..learning.buffer import RolloutBuffer
from ..learning.policy import Policy
from ..model import MarketModel
from ..settings import Settings
from .episodes import learning_groups


def _decide_together(waiting: list[tuple]) -> list[dict[str, np.ndarray]]:
    """The policy's outputs for every paused decision of ``waiting`` (``(model, group,
    decision, noise)``): one forward pass per policy and kind of decision (sampled or
    deterministic, recorded or not, through torch or the NumPy forward as the group acts),
    split back into each decision's rows."""
    outs: list[dict[str, np.ndarray] | None] = [None] * len(waiting)
    batches: dict[tuple, list[int]] = {}
    for i, (_, group, _, noise) in enumerate(waiting):
        key = (id(group.policy), noise is None, group.recorder is not None, group.fast)
        batches.setdefault(key, []).append(i)
    for (_, deterministic, training, fast), members in batches.items():
        policy = waiting[members[0]][1].policy
        obs = np.concatenate([waiting[i][2].obs for i in members])
        noise = None if deterministic else np.concatenate([waiting[i][3] for i in members])
        out = policy.act(obs, noise, with_value=training, with_logp=training, fast=fast)
        start = 0
        for i in members:
            end = start + len(waiting[i][2].active)
            outs[i] = {name: values[start:end] for name, values in out.items()}
            start = end
    return outs  # type: ignore[return-value]


def run_markets(settings: Sequence[Settings], policy: Policy,
                recorders: Sequence[RolloutBuffer | None], warmup_ticks: int = 0
                ) -> list[MarketModel]:
    """Run one market per ``settings`` (equal ticks) in lockstep and end each as an episode,
    as ``episodes.run_market`` runs one: decisions in the first ``warmup_ticks`` ticks are
    neither recorded nor scored, later ones go into the market's own recorder."""
    ticks = {s.ticks for s in settings}
    if len(ticks) != 1:
        raise ValueError(f"markets run in lockstep need equal ticks, got {sorted(ticks)}")
    if len(recorders) != len(settings):
        raise ValueError("one recorder (or None) per market")
    models = [MarketModel(s, policy=policy, recorder=None if warmup_ticks else recorder)
              for s, recorder in zip(settings, recorders)]
    controlled = [learning_groups(model) for model in models]
    for tick in range(ticks.pop()):
        if warmup_ticks and tick == warmup_ticks:
            for groups, recorder in zip(controlled, recorders):
                for group in groups:
                    group.start_learning(recorder)
        waiting = []
        for model, groups in zip(models, controlled):
            model.step(controlled=groups)
            for group, decision in model.pending:  # the noise where decide draws it
                noise = None if group.params.deterministic else model.rng.standard_normal(
                    (len(decision.active), 2))
                waiting.append((model, group, decision, noise))
        if not waiting:
            continue
        outs = _decide_together(waiting)
        by_model: dict[int, tuple[dict, dict]] = {}
        for (model, group, _, _), out in zip(waiting, outs):
            actions, policy_out = by_model.setdefault(id(model), ({}, {}))
            actions[group], policy_out[group] = out["action"], out
        for model in models:
            if id(model) in by_model:
                model.complete_tick(*by_model[id(model)])
    for model in models:
        model.finish()
    return models
