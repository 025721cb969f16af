"""The same settings and seed give the same run, byte for byte, before and after any refactor:
every scenario and a short training are compared with fingerprints recorded on the project's
machine (tests/golden/identity.py explains how and when to record them)."""

import json

import pytest
from golden import identity

RECORDED = json.loads(identity.GOLDEN.read_text())


@pytest.fixture(scope="module", autouse=True)
def same_platform():
    here = identity.platform_id()
    if here != RECORDED["platform"]:
        pytest.skip(f"fingerprints were recorded on {RECORDED['platform']}, this is {here}")


@pytest.mark.parametrize("name", sorted(k for k in RECORDED["fingerprints"] if k != "training"))
def test_every_scenario_is_byte_identical(name):
    assert identity.scenario_fingerprint(name) == RECORDED["fingerprints"][name]


def test_a_short_training_is_byte_identical():
    assert identity.training_fingerprint() == RECORDED["fingerprints"]["training"]
