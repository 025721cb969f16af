"""Helpers that several commands share: backend options, settings files with the options given
on top, a market's settings and the policy of its learning traders."""

from __future__ import annotations

import argparse

from ..config_io import read_mapping
from ..defaults import TRADERS
from ..errors import AbmHeteroError
from ..scenarios import scenario
from ..settings import Settings


def backend_options(args: argparse.Namespace) -> dict:
    """The backend options as keywords (an --address needs the ray backend)."""
    if args.address and args.backend != "ray":
        raise AbmHeteroError(f"--address names a Ray cluster; it needs --backend ray, not "
                             f"--backend {args.backend}")
    return dict(backend=args.backend, workers=args.workers, address=args.address)


def with_overrides(path: str | None, overrides: dict, build):
    """The settings of a run: the file at ``path`` (if any), then every option the user gave
    (the ``None`` values are options left out), built with ``build`` into a settings object;
    an error names the file."""
    data = read_mapping(path) if path else {}
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return build(data)
    except AbmHeteroError as exc:
        raise AbmHeteroError(f"{path}: {exc}" if path else str(exc)) from None


def market_settings(args: argparse.Namespace, **overrides):
    """A market's settings from ``--settings`` or ``--population`` and ``--traders``, with
    the other options applied on top."""
    if args.settings:
        if args.traders is not None:
            raise AbmHeteroError("--traders cannot be combined with --settings (edit the file)")
        return with_overrides(args.settings, overrides, Settings.from_dict)
    base = scenario(args.population, traders=args.traders or TRADERS)
    return base.replace(**{k: v for k, v in overrides.items() if v is not None})


def use_policy(settings, policy: str | None, option: str = "--policy") -> None:
    """Give the learning traders of ``settings`` the policy ``policy`` (if given)."""
    learners = [g for g in settings.traders if g.kind == "learning"]
    if not learners:
        raise AbmHeteroError(f"{option}: population {settings.name!r} has no learning traders")
    if policy is not None:
        for group in learners:
            group.params.policy = policy
