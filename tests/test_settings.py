import json

import pytest

from abm_hetero import Settings, scenario
from abm_hetero.errors import SettingsError


@pytest.mark.parametrize("suffix", [".json", ".toml", ".yaml"])
def test_settings_round_trip_through_files(tmp_path, suffix):
    s = scenario("fcn", traders=30, ticks=50, seed=7)
    path = tmp_path / f"s{suffix}"
    s.save(path)
    again = Settings.load(path)
    assert again.to_dict() == s.to_dict()


def test_unknown_key_is_named(tmp_path):
    data = scenario("fcn").to_dict()
    data["market"]["tick"] = 0.01
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SettingsError, match="unknown key.*'tick'"):
        Settings.load(path)


def test_out_of_range_trait_is_reported(tmp_path):
    data = scenario("fcn").to_dict()
    data["traders"][0]["traits"]["gamma"] = {"kind": "constant", "value": 1.5}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SettingsError, match="gamma"):
        Settings.load(path)


@pytest.mark.parametrize(
    "change, text",
    [
        (lambda d: d.update(ticks=-5), r"ticks must be a finite number in \[1, "),
        (lambda d: d.update(seed="x"), "seed must be a whole number"),
        (lambda d: d["market"].update(clearing="pro-rata"), "clearing"),
        (lambda d: d["traders"][0].update(kind="robot"), "unknown kind 'robot'"),
        (lambda d: d["traders"][0].update(count=0), r"count must be a finite number in \[1, "),
        (lambda d: d["traders"][0].update(activity_rate=2.0), "activity_rate"),
        (lambda d: d["traders"][0]["params"].update(order_rule="vwap"), "order_rule"),
        (lambda d: d["traders"][0]["params"].update(horizon=3), "unknown key"),
        (lambda d: d.update(traders=[]), "at least one group"),
    ],
)
def test_bad_values_are_reported(change, text):
    data = scenario("fcn").to_dict()
    change(data)
    with pytest.raises(SettingsError, match=text):
        Settings.from_dict(data)


def test_unreadable_files(tmp_path):
    with pytest.raises(SettingsError, match="no such settings file"):
        Settings.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.toml"
    bad.write_text("ticks = = 3")
    with pytest.raises(SettingsError, match="not valid TOML"):
        Settings.load(bad)
    with pytest.raises(SettingsError, match="must end in"):
        Settings.load(tmp_path / "s.ini")


def test_preset_name_for_traits():
    data = scenario("fcn").to_dict()
    data["traders"][0]["traits"] = "homogeneous"
    s = Settings.from_dict(data)
    assert s.traders[0].traits.alpha.kind == "constant"
