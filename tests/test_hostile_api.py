"""Hostile use of the Python entry points: MarketModel's keywords, the environments' actions,
and requests to the page from other hosts and origins. Every wrong input is an error that names
what was wrong; nothing is coerced or repaired."""

import base64
import http.client
import os
import socket
import subprocess
import sys
import uuid

import numpy as np
import pytest
from processes import serving_page

from abm_hetero import MarketModel
from abm_hetero.errors import SettingsError
from abm_hetero.scenarios import scenario

# ------------------------------------------------------------------ MarketModel's keywords


class TestModelKeywords:
    @pytest.mark.parametrize("keywords, error, words", [
        ({"traders": 10.5}, TypeError, "traders must be a whole number"),
        ({"traders": 10.0}, TypeError, "traders must be a whole number"),
        ({"traders": True}, TypeError, "traders must be a whole number"),
        ({"traders": "10"}, TypeError, "traders must be a whole number"),
        ({"traders": 0}, ValueError, "traders must be"),
        ({"ticks": 2.5}, TypeError, "ticks must be a whole number"),
        ({"ticks": np.int64(0)}, ValueError, "ticks must be"),
        ({"seed": 1.5}, TypeError, "seed must be a whole number"),
        ({"seed": np.float64(1.0)}, TypeError, "seed must be a whole number"),
        ({"seed": False}, TypeError, "seed must be a whole number"),
        ({"seed": -1}, ValueError, "seed must be"),
        ({"seed": 2 ** 63}, ValueError, "seed must be"),
        ({"population": 3}, TypeError, "population must be text"),
        ({"population": "robots"}, ValueError, "population must be one of"),
        ({"gamma_low": 0.9, "gamma_high": 0.8}, ValueError, "gamma_low must be below gamma_high"),
        ({"gamma_low": 0.9, "gamma_high": 0.9}, ValueError, "gamma_low must be below gamma_high"),
        ({"gamma_low": 0.0}, ValueError, "gamma_low must be"),
        ({"gamma_low": 0.999}, ValueError, "gamma_low must be"),
        ({"gamma_high": 1.2}, ValueError, "gamma_high must be"),
        ({"gamma_high": np.float32(1.0)}, ValueError, "gamma_high must be"),
        ({"sigma_sd": -0.001}, ValueError, "sigma_sd must be"),
        ({"sigma_mean": 2.0}, ValueError, "sigma_mean must be"),
        ({"alpha_sd": float("inf")}, ValueError, "alpha_sd must be"),
        ({"alpha_mean": float("nan")}, ValueError, "alpha_mean must be"),
        ({"alpha_mean": -1.0}, ValueError, "alpha_mean must be"),
        ({"alpha_mean": "2"}, TypeError, "alpha_mean must be a real number"),
        ({"alpha_mean": True}, TypeError, "alpha_mean must be a real number"),
        ({"fundamental_volatility": -0.01}, ValueError, "fundamental_volatility must be"),
        ({"fundamental_volatility": 1j}, TypeError, "fundamental_volatility must be a real"),
    ])
    def test_a_wrong_keyword_is_an_error_naming_it(self, keywords, error, words):
        with pytest.raises(error, match=words):
            MarketModel(**{"traders": 10, "ticks": 5, **keywords})

    def test_value_errors_are_settings_errors(self):
        with pytest.raises(SettingsError):
            MarketModel(traders=10, ticks=5, sigma_sd=-1.0)

    @pytest.mark.parametrize("keywords, error, words", [
        ({"policy": "heterogeneous"}, TypeError, "policy must be a Policy"),
        ({"recorder": []}, TypeError, "recorder must be a RolloutBuffer"),
        ({"audit": object()}, TypeError, "audit must be a DecisionAudit"),
        ({"seed": 2.5}, TypeError, "seed must be a whole number"),
    ])
    def test_the_other_arguments_are_checked_too(self, keywords, error, words):
        with pytest.raises(error, match=words):
            MarketModel(scenario("fcn", traders=10, ticks=5), **keywords)
        with pytest.raises(TypeError, match="settings must be a Settings"):
            MarketModel("fcn")

    def test_numpy_numbers_are_numbers_and_values_are_kept_as_given(self):
        model = MarketModel(traders=np.int32(12), ticks=np.int64(4), seed=np.uint16(3),
                            alpha_mean=np.float32(1.5), alpha_sd=0, gamma_low=0.5,
                            gamma_high=0.5005)
        assert model.settings.seed == 3 and model.settings.n_traders == 12
        gamma = model.groups[0].traits.gamma
        assert (gamma >= 0.5).all() and (gamma < 0.5005).all()  # not widened
        assert (model.groups[0].traits.alpha == 1.5).all()


# ------------------------------------------------------------------ the environments


def parallel_env():
    from abm_hetero.envs.parallel import MarketParallelEnv

    env = MarketParallelEnv(traders=30, ticks=50)
    _, infos = env.reset(seed=0)
    active = next(a for a in env.agents if infos[a]["active"])
    idle = next(a for a in env.agents if not infos[a]["active"])
    return env, active, idle


def single_env():
    from abm_hetero.envs.single import TraderEnv

    env = TraderEnv(traders=20, ticks=60)
    env.reset(seed=0)
    return env


BAD_ACTIONS = [
    ("buy", "expected 2 numbers"), (["0.1", "0.2"], "expected 2 numbers"),
    ([True, False], "expected 2 numbers"), ([1 + 2j, 0], "expected 2 numbers"),
    (None, "expected 2 numbers"), ({"price": 0.1}, "expected 2 numbers"),
    ([[0.1], [0.1, 0.2]], "expected 2 numbers"), (0.5, r"expected shape \(2,\)"),
    (np.zeros(3), r"expected shape \(2,\)"), (np.zeros((1, 2)), r"expected shape \(2,\)"),
    ([], r"expected shape \(2,\)"),
    (np.array([np.nan, 0.0]), "expected finite"), ([0.0, -np.inf], "expected finite"),
    (np.ma.masked_array([0.1, 0.2], mask=[True, False]), "expected 2 numbers"),
]


class TestEnvActions:
    @pytest.fixture(autouse=True)
    def rl_extra(self):
        pytest.importorskip("pettingzoo")
        pytest.importorskip("gymnasium")

    @pytest.mark.parametrize("bad, words", BAD_ACTIONS)
    def test_a_wrong_action_of_any_agent_is_an_error_naming_it(self, bad, words):
        env, active, idle = parallel_env()
        for who in (active, idle):  # an inactive agent's action is checked too
            actions = {a: np.zeros(2, np.float32) for a in env.agents}
            actions[who] = bad
            with pytest.raises(ValueError, match=f"action of {who}: {words}"):
                env.step(actions)

    @pytest.mark.parametrize("bad, words", BAD_ACTIONS)
    def test_a_wrong_action_of_the_gymnasium_trader_is_an_error(self, bad, words):
        env = single_env()
        with pytest.raises(ValueError, match=f"action: {words}"):
            env.step(bad)

    def test_a_tensor_that_needs_gradients_is_an_error_not_a_crash(self):
        torch = pytest.importorskip("torch")
        with pytest.raises(ValueError, match="expected 2 numbers"):
            single_env().step(torch.tensor([0.1, 0.2], requires_grad=True))

    @pytest.mark.parametrize("space", ["action_space", "observation_space"])
    def test_the_spaces_of_an_unknown_agent_are_an_error(self, space):
        env, _, _ = parallel_env()
        with pytest.raises(ValueError, match="unknown agent 'trader_999'"):
            getattr(env, space)("trader_999")
        assert getattr(env, space)(env.possible_agents[0]).shape

    def test_reset_options_and_seeds_are_checked_in_both_environments(self):
        """(the PettingZoo environment ignores a dict of options, as its API test expects)"""
        env, _, _ = parallel_env()
        with pytest.raises(TypeError, match="options must be a dict"):
            env.reset(options=[1])
        with pytest.raises(TypeError, match="seed"):
            single_env().reset(seed=True)

    def test_a_failed_step_changes_nothing(self):
        env, active, idle = parallel_env()
        before = env.market.model.steps
        with pytest.raises(ValueError):
            env.step({active: np.zeros(2), idle: "sell"})
        assert env.market.model.steps == before
        env.step({active: np.zeros(2)})  # the episode goes on

    @pytest.mark.parametrize("name", ["trader_999", "trader_x", 3, ("trader_0",)])
    def test_an_unknown_agent_is_an_error_naming_it(self, name):
        env, active, _ = parallel_env()
        with pytest.raises(ValueError, match=f"unknown agent.*{name!r}"):
            env.step({active: np.zeros(2), name: np.zeros(2)})

    def test_missing_and_malformed_action_dicts(self):
        env, active, idle = parallel_env()
        with pytest.raises(ValueError, match=f"no action for the active agent.*{active}"):
            env.step({idle: np.zeros(2)})
        with pytest.raises(TypeError, match="actions must be a dict"):
            env.step([np.zeros(2)] * len(env.agents))

    def test_list_actions_and_out_of_box_values_are_accepted(self):
        env, active, _ = parallel_env()
        env.step({active: [5.0, -5]})  # clipped, as Gymnasium's continuous envs clip
        single_env().step((0, 1))

    @pytest.mark.parametrize("seed, error", [(1.5, TypeError), (-1, ValueError),
                                             ("1", TypeError), (True, TypeError)])
    def test_a_wrong_seed_is_an_error(self, seed, error):
        from abm_hetero.envs.parallel import MarketParallelEnv

        with pytest.raises(error, match="seed"):
            MarketParallelEnv(traders=30, ticks=50).reset(seed=seed)

    @pytest.mark.parametrize("keywords, error, words", [
        ({"traders": 20.0}, TypeError, "traders must be a whole number"),
        ({"traders": 1}, ValueError, "traders must be at least 2"),
        ({"ticks": "60"}, TypeError, "ticks must be a whole number"),
        ({"activity_rate": 0.0}, ValueError, "activity_rate must be"),
        ({"activity_rate": "0.1"}, TypeError, "activity_rate must be a real number"),
        ({"alpha": "2"}, TypeError, "alpha must be a real number"),
        ({"gamma": 1.0}, ValueError, "gamma"),
        ({"background": ["fcn"]}, ValueError, "background must be one of"),
        ({"render_mode": "human"}, ValueError, "render_mode must be None"),
    ])
    def test_the_gymnasium_trader_checks_its_arguments(self, keywords, error, words):
        from abm_hetero.envs.single import TraderEnv

        with pytest.raises(error, match=words):
            TraderEnv(**{"traders": 20, "ticks": 60, **keywords})

    def test_reset_options_are_checked_all_or_nothing(self):
        env = single_env()
        with pytest.raises(ValueError, match="sigma"):
            env.reset(seed=1, options={"gamma": 0.5, "sigma": -1.0})
        assert env.traits["gamma"] == 0.9
        with pytest.raises(TypeError, match="options must be a dict"):
            env.reset(options=[("gamma", 0.5)])

    @pytest.mark.parametrize("keywords, error, words", [
        ({"background": (5,)}, ValueError, "not indices of learning groups"),
        ({"traders": 30.5}, TypeError, "traders must be a whole number"),
        ({"render_mode": "human"}, ValueError, "render_mode must be None"),
        ({"settings": {"traders": []}}, TypeError, "settings must be a Settings"),
    ])
    def test_the_pettingzoo_market_checks_its_arguments(self, keywords, error, words):
        from abm_hetero.envs.parallel import MarketParallelEnv

        with pytest.raises(error, match=words):
            MarketParallelEnv(**keywords)


# ------------------------------------------------------------------ the page's hosts


@pytest.fixture(scope="module")
def port():
    """The port of the real server (``abm-hetero viz``, allowing one more host), started once
    for the module."""
    pytest.importorskip("solara")
    with serving_page("--allow-host", "Page.Example.Test") as port:
        yield port


class TestPageHosts:
    """Requests to the real server from other hosts and origins."""

    @pytest.mark.parametrize("host, status", [
        ("127.0.0.1:{port}", 200), ("localhost:{port}", 200), ("[::1]:{port}", 200),
        ("LocalHost", 200), ("page.example.test:{port}", 200),
        ("attacker.example:{port}", 400), ("attacker.example", 400),
        ("127.0.0.1.attacker.example:{port}", 400), ("localhost:abc", 400), ("", 400),
    ])
    def test_only_local_and_allowed_hosts_are_answered(self, port, host, status):
        assert get(port, host.format(port=port)) == status

    @pytest.mark.parametrize("origin, status", [
        ("http://127.0.0.1:{port}", 200), ("http://attacker.example", 403),
        ("http://127.0.0.1:1", 403), ("null", 403),
    ])
    def test_only_same_origin_requests_are_answered(self, port, origin, status):
        assert get(port, f"127.0.0.1:{port}", origin=origin.format(port=port)) == status

    @pytest.mark.parametrize("host, origin, status", [
        ("127.0.0.1:{port}", "http://127.0.0.1:{port}", 101),
        ("localhost:{port}", "http://localhost:{port}", 101),
        ("127.0.0.1:{port}", None, 101),  # not a browser: no Origin
        ("127.0.0.1:{port}", "http://attacker.example", 403),
        ("127.0.0.1:{port}", "http://localhost:{port}", 403),  # another origin, same machine
        ("attacker.example:{port}", "http://attacker.example:{port}", 400),  # DNS rebinding
    ])
    def test_websockets_open_only_from_the_page_itself(self, port, host, origin, status):
        host = host.format(port=port)
        origin = origin and origin.format(port=port)
        assert websocket_handshake(port, host, origin) == status

    def test_a_bad_allowed_host_is_refused_by_the_command_line(self):
        from abm_hetero.viz.hosts import allowed_host

        for bad in ("*", "name:80", "http://name", "a b"):
            with pytest.raises(ValueError, match="not a host name"):
                allowed_host(bad)
        assert allowed_host("::1") == "[::1]" and allowed_host("Name.Test") == "name.test"
        run = subprocess.run([sys.executable, "-m", "abm_hetero.cli", "viz", "--allow-host",
                              "*"], capture_output=True, text=True, timeout=120)
        assert run.returncode == 2 and "not a host name" in run.stderr


def get(port: int, host: str, origin: str | None = None) -> int | None:
    """The status of ``GET /`` sent with these headers, or None if nothing answers."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"Host": host, **({"Origin": origin} if origin else {})}
        conn.request("GET", "/", headers=headers)
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def websocket_handshake(port: int, host: str, origin: str | None) -> int:
    """The status of a websocket handshake with Solara's kernel channel (101: opened)."""
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [f"GET /jupyter/api/kernels/{uuid.uuid4()}/channels?session_id={uuid.uuid4()} "
             "HTTP/1.1", f"Host: {host}", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13",
             *([f"Origin: {origin}"] if origin else [])]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return int(s.recv(4096).split(b" ", 2)[1])


def test_the_page_refuses_a_request_with_two_hosts_or_two_origins():
    pytest.importorskip("starlette")
    from starlette.datastructures import Headers

    from abm_hetero.viz.hosts import HostGuard

    guard = HostGuard(app=None)
    for raw in ([(b"host", b"localhost"), (b"host", b"evil.com")],
                [(b"host", b"localhost"), (b"origin", b"http://localhost"),
                 (b"origin", b"http://evil.com")]):
        assert guard.refusal(Headers(raw=raw))[0] == 400
    assert guard.refusal(Headers(raw=[(b"host", b"localhost:8765")])) is None
