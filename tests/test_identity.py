"""Each reproducibility promise of docs/guarantees.md, tested exactly as it is made.

* Rule-based scenarios: byte for byte on every machine, against fingerprints recorded once.
* Learned scenarios and training: byte for byte on one machine, so each runs twice (training in
  tests/test_parallel_training.py, on every backend); a hash recorded on another CPU would test
  that CPU's kernels, not the package.
* Learned runs on any machine: summaries within a recorded tolerance.
* All of it again in a process whose math libraries are held to older instruction sets, so that
  any one machine checks two sets of kernels (tests/golden/identity.py says how).
"""

import json
import os
import subprocess
import sys

import pytest
from golden import identity

RECORDED = json.loads(identity.GOLDEN.read_text())


@pytest.mark.parametrize("name", identity.RULE_BASED)
def test_rule_based_scenarios_are_byte_identical_on_every_machine(name):
    assert identity.scenario_fingerprint(name) == RECORDED["portable"][name]


@pytest.mark.parametrize("name", identity.LEARNED)
def test_learned_scenarios_repeat_byte_for_byte_on_one_machine(name):
    assert identity.scenario_fingerprint(name) == identity.scenario_fingerprint(name)


def test_learned_runs_match_their_recorded_summaries_within_tolerance():
    assert identity.within(identity.summaries(), RECORDED) == []


def test_every_promise_holds_with_older_kernels():
    env = {**os.environ, **identity.older_cpu()}
    done = subprocess.run([sys.executable, str(identity.__file__), "--check"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result == {
        "portable": {name: True for name in identity.RULE_BASED},
        "learned_repeat": {name: True for name in identity.LEARNED},
        "training_backends": True,
        "summary_misses": [],
    }
