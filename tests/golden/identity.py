"""Fingerprints of reference runs: every scenario and a short training, hashed byte for byte.

Refactoring must not change any run. ``tests/test_identity.py`` recomputes these fingerprints
and compares them with ``identity.json``, recorded on the project's machine by

    python tests/golden/identity.py --record

Record again only when a change of behaviour is intended, and say so in the commit. The
fingerprints depend on the floating-point results of numpy and torch, so they are compared only
on a platform like the one that recorded them (same torch and numpy versions, same CPU
architecture); elsewhere the test is skipped with the reason.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import platform
import sys
import tempfile
from pathlib import Path

GOLDEN = Path(__file__).with_name("identity.json")
SCENARIO_SIZE = dict(traders=60, ticks=150, seed=5)


def platform_id() -> dict[str, str]:
    import numpy
    import torch

    return {"python": platform.python_version(), "machine": platform.machine(),
            "numpy": numpy.__version__, "torch": torch.__version__}


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part)
    return h.hexdigest()


def scenario_fingerprint(name: str) -> str:
    """Hash of every output table of one scenario run (market, traders, trades, orders)."""
    import torch

    from abm_hetero import MarketModel, scenario

    torch.set_num_threads(1)
    model = MarketModel(scenario(name, **SCENARIO_SIZE)).run()
    model.finish()
    tables = (model.market_frame(), model.trader_frame(), model.trade_frame(),
              model.order_frame())
    return _digest(*(t.to_csv().encode() for t in tables))


def training_fingerprint(**backend) -> str:
    """Hash of a short training run: the final weights and the metrics without timings
    (``backend``: the trainer's backend, workers and address; the hash must not depend on
    them)."""
    from abm_hetero.policy.training import Trainer, TrainingSettings

    settings = TrainingSettings.from_dict(dict(
        traders=30, episode_ticks=50, warmup_ticks=5, episodes_per_rollout=1,
        hidden=[16, 16], eval_interval=2_000, eval_episodes=1, total_steps=4_000, seed=3))
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(settings, tmp, progress=False, **backend)
        trainer.train()
        return trainer_fingerprint(trainer)


def trainer_fingerprint(trainer) -> str:
    """Hash of a finished training: its weights and its metrics without timings."""
    import pandas as pd

    buffer = io.BytesIO()
    state = trainer.policy.net.state_dict()
    for key in sorted(state):
        buffer.write(key.encode())
        buffer.write(state[key].numpy().tobytes())
    metrics = pd.read_csv(trainer.out / "metrics.csv").drop(columns=["seconds", "steps_per_s"])
    return _digest(buffer.getvalue(), metrics.to_csv(index=False).encode())


def fingerprints() -> dict[str, str]:
    from abm_hetero.scenarios import POPULATIONS

    out = {name: scenario_fingerprint(name) for name in POPULATIONS}
    out["training"] = training_fingerprint()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true", help="write identity.json")
    args = parser.parse_args()
    current = {"platform": platform_id(), "fingerprints": fingerprints()}
    print(json.dumps(current, indent=2))
    if args.record:
        GOLDEN.write_text(json.dumps(current, indent=2) + "\n")
        print(f"recorded {GOLDEN}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
