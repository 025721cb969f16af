"""``abm-hetero bench``: measure simulation and training speed on this machine."""

from __future__ import annotations

import argparse
import contextlib
import json

from ..bench import run_all
from ..output import reserve_file


def run(args: argparse.Namespace) -> int:
    with contextlib.ExitStack() as stack:
        target = None
        if args.json is not None:  # an earlier bench result may be replaced, nothing else
            target = stack.enter_context(reserve_file(args.json, is_bench_result, "--json"))
        results = run_all(quick=args.quick, runs=args.runs, compare=args.compare)
        if target is not None:
            target.write_text(json.dumps(results, indent=2))
            print(f"wrote {args.json}")
    return 0


def is_bench_result(content: bytes) -> bool:
    """Whether a file holds the figures of an earlier ``bench --json`` (it may be replaced)."""
    try:
        data = json.loads(content)
    except ValueError:
        return False
    return isinstance(data, dict) and "sim_decisions_per_s_batched" in data
