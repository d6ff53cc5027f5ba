"""The runtime term of the agent's return (actors.runtime_reward): strict settings, one
timing per class, and a finished game's value targets with and without it. A fake
timer makes every ratio exact and the tests deterministic."""

from __future__ import annotations

import json
from itertools import pairwise

import numpy as np
import pytest

from tensorgame.tensors.scheme import Scheme, naive_scheme
from tensorgame.tensors.targets import matmul_target
from tensorgame.training.actors import ActorSpec, SelfPlayWorker
from tensorgame.training.config import ConfigError, config_from_dict, load_config
from tensorgame.training.runtime_reward import RuntimeReward
from tests.conftest import STRASSEN_U, STRASSEN_V, STRASSEN_W

#: <1,1,1> over Z in the canonical basis: a fresh network with a small search solves
#: about two games in three (a matrix multiplication with a kernel; one class).
SOLVABLE = {
    "game": {"targets": ["1,1,1"], "rings": ["Z"], "max_side": 2, "coefficients": [-1, 0, 1]},
    "network": {"d_model": 16, "heads": 2, "torso_layers": 1, "policy_layers": 1},
    "mcts": {"num_simulations": 8, "num_samples": 4},
    "actors": {"games_per_batch": 6, "basis_pool_size": 64, "canonical_fraction": 1.0},
    "run": {"seed": 2},
}


class FakeTimer:
    """bench.time_calls' signature: the library takes 1 s, the kernel ``ratio`` s."""

    def __init__(self, ratio: float) -> None:
        self.ratio, self.calls = ratio, 0

    def __call__(self, calls, repeats):
        self.calls += 1
        assert len(calls) == 2
        wall = [[1.0] * repeats, [self.ratio] * repeats]
        return wall, wall


def _with_runtime(**actors) -> dict:
    return {**SOLVABLE, "actors": {**SOLVABLE["actors"], **actors}}


@pytest.mark.parametrize("actors, game, message", [
    ({"runtime_weight": 0}, None, "actors.runtime_weight must be > 0"),
    ({"runtime_size": 8}, None, "actors.runtime_size must be in 16..4096"),
    ({"runtime_size": 8192}, None, "actors.runtime_size must be in 16..4096"),
    ({"runtime_dtype": "float16"}, None, "actors.runtime_dtype must be float32 or float64"),
    ({"runtime_reward": "yes"}, None, "actors.runtime_reward must be true or false"),
    ({"runtime_reward": True}, {"targets": ["2,2,2"], "rings": ["Z2"]}, "needs Z among game.rings"),
    ({"runtime_reward": True}, {"targets": ["2,2,2", "complex"], "rings": ["Z"]},
     "game.targets[1] must be a matrix multiplication"),
])
def test_bad_runtime_settings_are_one_line(tmp_path, actors, game, message):
    doc = _with_runtime(**actors)
    if game is not None:
        doc["game"] = game
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_off_by_default_and_on_in_a_config():
    assert config_from_dict(SOLVABLE).actors.runtime_reward is False
    on = config_from_dict(_with_runtime(runtime_reward=True, runtime_weight=0.5, runtime_size=64))
    assert (on.actors.runtime_reward, on.actors.runtime_weight, on.actors.runtime_size) == (True, 0.5, 64)
    assert on.actors.runtime_dtype == "float32"


def test_each_class_is_timed_once():
    timer = FakeTimer(0.75)
    reward = RuntimeReward(2.0, 16, "float64", timer=timer)
    strassen = Scheme(matmul_target(2, 2, 2), "Z", STRASSEN_U, STRASSEN_V, STRASSEN_W)
    assert reward.ratio(strassen) == (0.75, True)
    order = np.arange(7)[::-1]  # the same class: terms in another order
    again = Scheme(strassen.target, "Z", strassen.u[order], strassen.v[order], strassen.w[order])
    assert reward.ratio(again) == (0.75, False) and timer.calls == 1
    assert reward.ratio(naive_scheme(matmul_target(2, 2, 2))) == (0.75, True) and timer.calls == 2
    assert reward.ratio(naive_scheme(matmul_target(2, 2, 2), "Z2")) is None and timer.calls == 2


def _games(out):
    """Each game's slice of the positions (a game's first position is at step 0)."""
    starts = list(np.flatnonzero(out.positions.step == 0)) + [len(out.positions)]
    return [slice(a, b) for a, b in pairwise(starts)]


def test_value_targets_gain_the_term_only_when_on():
    off_worker = SelfPlayWorker(ActorSpec(config_from_dict(SOLVABLE).to_dict(), "off", None), 0)
    off_worker.set_weights(off_worker.model.state_dict(), 0)
    on_cfg = config_from_dict(_with_runtime(runtime_reward=True, runtime_weight=2.0, runtime_size=16))
    timer = FakeTimer(0.5)
    on_worker = SelfPlayWorker(ActorSpec(on_cfg.to_dict(), "on", None), 0, timer=timer)
    on_worker.set_weights(off_worker.model.state_dict(), 0)
    off, on = off_worker.play(seed=5), on_worker.play(seed=5)
    assert len(on.positions) == len(off.positions) and np.array_equal(on.positions.step, off.positions.step)
    games = _games(off)
    assert len(games) == len(off.log) == len(on.log)
    solved = [s for _, s, _ in off.log]
    assert any(solved) and not all(solved)  # otherwise the test shows less
    for part, won, (_, _, ret_off), (_, _, ret_on) in zip(games, solved, off.log, on.log):
        term = -2.0 * 0.5 if won else 0.0
        assert np.allclose(on.positions.value[part], off.positions.value[part] + term)
        assert ret_on == pytest.approx(ret_off + term)
    assert timer.calls == 1 and [t[2:] for t in on.timings] == [(1, 0.5)] and off.timings == []
    assert on_worker.play(seed=6).timings == [] and timer.calls == 1  # the class is known now
