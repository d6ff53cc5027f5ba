"""The naive-prefix curriculum: naive moves as game moves, prefixes played into chosen
games only, self-play games that start part-way, and which games an actor gives one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tensorgame.formats import read_scheme
from tensorgame.game import GameConfig, TensorGame
from tensorgame.search.mcts import MCTSConfig, UniformEvaluator, play_episode
from tensorgame.tensors.targets import matmul_target
from tensorgame.training.actors import ActorSpec, SelfPlayWorker
from tensorgame.training.config import ConfigError, config_from_dict
from tensorgame.training.curriculum import NaivePrefixes, best_prefixes

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("dims, cyclic, ring, moves, rank", [
    ((2, 2, 3), False, "Z", 12, 12),
    ((3, 3, 3), True, "Z2", 11, 27),
    ((2, 2, 2), True, "Z", 4, 8),
])
def test_the_naive_moves_solve_the_game_at_the_naive_rank(dims, cyclic, ring, moves, rank):
    env = TensorGame(GameConfig(max_side=9, cyclic=cyclic))
    target = matmul_target(*dims)
    naive = env.naive_moves(target)
    assert naive.shape == (moves, 3, 9) and naive.dtype == np.int8
    state = env.reset(target, ring)
    env.advance(state, [0], [naive])
    assert state.solved[0] and int(state.returns[0]) == -rank
    assert env.scheme(state, 0).rank == rank


def test_advance_moves_only_the_chosen_games():
    env = TensorGame(GameConfig(max_side=9, cyclic=True))
    target = matmul_target(3, 3, 3)
    naive = env.naive_moves(target)
    state = env.reset(target, "Z2", batch=3)
    env.advance(state, [2, 1], [naive[:4], naive[4:5]])
    assert state.step.tolist() == [0, 1, 4]
    assert np.array_equal(state.residual[0], env.reset(target, "Z2").residual[0])
    assert int(state.returns[2]) == -sum(1 if np.array_equal(m[0], m[1]) else 3 for m in naive[:4])
    assert not state.done.any()


def test_a_game_with_a_prefix_records_only_the_searched_moves():
    config = GameConfig(max_side=9, cyclic=True)
    env = TensorGame(config)
    target = matmul_target(3, 3, 3)
    naive = env.naive_moves(target)
    mcts = MCTSConfig(num_simulations=4, num_samples=4, dirichlet_fraction=0.0, temperature=0.0)
    prefix = naive[:10]  # one naive move left to play: the residual is its orbit (or fixed term)
    results = play_episode(env, [target, target], "Z2", evaluator=UniformEvaluator(config, 0),
                           config=mcts, rng=np.random.default_rng(0), prefixes=[None, prefix])
    plain, started = results
    assert plain.observations.step[0] == 0 and plain.num_moves == 11
    assert started.observations.step[0] == 10 and started.num_moves == 1
    assert started.observations.remaining[0] == 1
    placed = -sum(3 if not np.array_equal(m[0], m[1]) else 1 for m in prefix)
    assert started.total_return == placed + int(started.rewards.sum())
    assert plain.total_return == int(plain.rewards.sum())


def _worker(share: float, canonical: float, blocks: float = 0.0, own_board: bool = False,
            target: str = "3,3,3", best: float = 0.0, cyclic: bool = True) -> SelfPlayWorker:
    cfg = config_from_dict({
        "game": {"targets": [target], "rings": ["Z2"], "cyclic": cyclic, "coefficients": [0, 1]},
        "network": {"d_model": 16, "heads": 2, "torso_layers": 1, "policy_layers": 1},
        "mcts": {"num_simulations": 2, "num_samples": 2},
        "actors": {"games_per_batch": 4, "naive_prefix_fraction": share, "canonical_fraction": canonical,
                   "prefix_block_fraction": blocks, "block_own_board": own_board,
                   "best_prefix_fraction": best},
    })
    worker = SelfPlayWorker(ActorSpec(cfg.to_dict(), "prefix-test", None), 0)
    worker.set_weights(worker.model.state_dict(), 0)
    return worker


def test_an_actor_gives_canonical_games_a_prefix_of_1_to_n_minus_1_naive_moves():
    worker = _worker(1.0, 1.0)
    target = worker.targets[0]
    rng = np.random.default_rng(3)
    lengths = []
    for _ in range(50):
        got = worker.prefixes.draw([target] * 4, [0, 0, 0, 5], rng)
        assert got[3] is None  # a game in a changed basis: no naive moves there
        assert all(p.block is None for p in got[:3])  # random prefixes only by default
        lengths += [len(p.moves) for p in got[:3]]
    assert min(lengths) >= 1 and max(lengths) <= 10 and len(set(lengths)) > 5
    naive = {m.tobytes() for m in worker.env.naive_moves(target)}
    assert all(m.tobytes() in naive for p in got[:3] for m in p.moves)
    assert _worker(0.0, 1.0).prefixes.draw([target] * 4, [0] * 4, rng) == [None] * 4


@pytest.mark.parametrize("blocks", [0.0, 1.0])
def test_self_play_with_prefixes_labels_its_finds(blocks):
    out = _worker(1.0, 1.0, blocks).play(seed=1)
    assert out.positions is not None and out.positions.step.min() >= 1  # every game began part-way
    assert out.log == []  # the run's solve rate counts games from the target itself only
    for found in out.found:
        source = json.loads(found.source)
        assert source["naive_prefix"] >= 1 and ("block" in source) == (blocks == 1.0)
        assert found.scheme.verify().ok


def test_best_prefixes_restart_inside_the_actors_own_best_scheme():
    worker = _worker(0.0, 1.0, target="2,2,2", best=1.0, cyclic=False)
    before = worker.play(seed=2)  # no own scheme below the naive rank yet: from the target
    assert before.positions.step.min() == 0 and len(before.log) == 4
    strassen = read_scheme(EXAMPLES / "strassen.json").with_ring("Z2")
    worker.own_best[(strassen.target.key, "Z2")] = strassen
    terms = {m.tobytes() for m in worker.env.config.moves_of(strassen).astype(np.int8)}
    got = best_prefixes([0, 0, 0, 3], lambda g: worker._best_moves(strassen.target, worker.rings[0]), 1.0,
                        np.random.default_rng(0))
    assert got[3] is None and all(p.best and 1 <= len(p.moves) <= 6 for p in got[:3])
    assert all(m.tobytes() in terms for p in got[:3] for m in p.moves)
    env, prefix = worker.env, got[0]
    state = env.reset(strassen.target, "Z2")  # the prefix, then the other terms: Strassen's 7
    env.advance(state, [0], [prefix.moves])
    played = {m.tobytes() for m in prefix.moves}
    rest = np.stack([m for m in env.config.moves_of(strassen).astype(np.int8) if m.tobytes() not in played])
    env.advance(state, [0], [rest])
    assert state.solved[0] and int(state.returns[0]) == -7
    out = worker.play(seed=2)
    assert out.positions is not None and out.positions.step.min() >= 1  # every game began part-way
    assert out.log == []  # not a game from the target itself


def test_the_shares_must_be_fractions():
    with pytest.raises(ConfigError, match="naive_prefix_fraction"):
        config_from_dict({"game": {"targets": ["2,2,2"]}, "actors": {"naive_prefix_fraction": 1.5}})
    with pytest.raises(ConfigError, match="best_prefix_fraction"):
        config_from_dict({"game": {"targets": ["2,2,2"]}, "actors": {"best_prefix_fraction": 2}})
    with pytest.raises(ConfigError, match="prefix_block_fraction"):
        config_from_dict({"game": {"targets": ["2,2,2"]}, "actors": {"prefix_block_fraction": -0.1}})


@pytest.mark.parametrize("dims, cyclic, shapes_seen", [((3, 3, 3), True, 1), ((3, 3, 3), False, 3),
                                                       ((2, 3, 4), False, 3), ((2, 2, 3), False, 1)])
def test_a_block_prefix_leaves_a_smaller_product_embedded_in_the_target(dims, cyclic, shapes_seen):
    env = TensorGame(GameConfig(max_side=12, cyclic=cyclic))
    target = matmul_target(*dims)
    naive = env.naive_moves(target)
    prefixes = NaivePrefixes(env, 1.0, 1.0)
    rng = np.random.default_rng(5)
    shapes, boxes = set(), set()
    for _ in range(40):
        (prefix,) = prefixes.draw([target], [0], rng)
        a, b, c = prefix.block
        shapes.add(prefix.block)
        boxes.add(frozenset(m.tobytes() for m in prefix.moves))
        assert all(min(2, d) <= x <= d for x, d in zip(prefix.block, dims)) and prefix.block != dims
        if cyclic:
            assert a == b == c == 2  # a box the cyclic shift keeps: I' = J' = K'
        state = env.reset(target, "Z")
        env.advance(state, [0], [prefix.moves])
        left = state.residual[0]
        assert int(np.count_nonzero(left)) == a * b * c  # one entry per product a_ij b_jk left
        played = {m.tobytes() for m in prefix.moves}
        rest = np.stack([m for m in naive if m.tobytes() not in played])
        env.advance(state, [0], [rest])
        assert state.solved[0] and int(state.returns[0]) == -target.naive_rank
    assert len(boxes) >= 3 and len(shapes) >= shapes_seen


def test_a_block_on_its_own_board_is_played_as_its_format_and_embedded(monkeypatch):
    """With ``block_own_board`` a block prefix's game is the block's own format (no
    prefix played); a finished block comes back as a scheme for the target, the
    naive moves around the box added, verified and labelled. The search is replaced
    by one that answers each game with its naive scheme (a real, verified solution
    of the game it was given)."""
    import types

    from tensorgame.search import mcts
    from tensorgame.tensors.scheme import naive_scheme

    given = []

    def solve_naively(env, targets, rings, bases, **kwargs):
        given.append((list(targets), kwargs["prefixes"]))
        return [types.SimpleNamespace(scheme=naive_scheme(t, r), num_moves=0, total_return=0)
                for t, r in zip(targets, rings)]

    monkeypatch.setattr(mcts, "play_episode", solve_naively)
    out = _worker(1.0, 1.0, 1.0, own_board=True, target="4,4,4").play(seed=2)
    [(targets, prefixes)] = given
    assert all(t.params in ((2, 2, 2), (3, 3, 3)) for t in targets) and prefixes == [None] * 4
    assert len(out.found) == 4
    for found in out.found:
        source = json.loads(found.source)
        assert source["block_own_board"] and source["block"] in ("2x2x2", "3x3x3")
        assert found.scheme.target.params == (4, 4, 4) and found.scheme.verify().ok and found.scheme.rank == 64


def test_a_block_beside_a_box_of_a_format_already_solved_gets_that_scheme_too(monkeypatch, strassen):
    """Inside <2,2,4> a 2×2×2 block leaves a 2×2×2 box outside it: once the actor's
    games have a <2,2,2> scheme below the naive rank (here the fake search answers every
    <2,2,2> game with Strassen), that box gets it instead of the naive moves, so two
    Strassens side by side make 14; a 2×2×3 block leaves a 2×2×1, naive."""
    import types

    from tensorgame.search import mcts
    from tensorgame.tensors.scheme import naive_scheme

    def answer(env, targets, rings, bases, **kwargs):
        return [types.SimpleNamespace(scheme=strassen.with_ring(r) if t.params == (2, 2, 2) else naive_scheme(t, r),
                                      num_moves=0, total_return=0) for t, r in zip(targets, rings)]

    monkeypatch.setattr(mcts, "play_episode", answer)
    worker = _worker(1.0, 1.0, 1.0, own_board=True, target="2,2,4")
    ranks = set()
    for seed in range(4):
        for found in worker.play(seed=seed).found:
            source = json.loads(found.source)
            assert found.scheme.target.params == (2, 2, 4) and found.scheme.verify().ok
            assert (found.scheme.rank == 14) == (source["block"] == "2x2x2")
            assert source.get("other_block") == ("<2,2,2> 7" if source["block"] == "2x2x2" else None)
            ranks.add(found.scheme.rank)
    assert ranks == {14, 16}
