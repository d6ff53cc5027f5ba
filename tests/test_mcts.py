"""Sampled MCTS: priors and duplicates, visit accounting, tree reuse, batched roots,
determinism, a bandit, and Strassen's <2,2,2> found with an oracle-ish policy."""

import hashlib

import numpy as np
import pytest

import tensorgame as tg
from tensorgame.game import GameConfig, GameError, IllegalMoveError, TensorGame
from tensorgame.search.mcts import (
    Evaluation,
    MCTSConfig,
    UniformEvaluator,
    advance,
    play_episode,
    play_games,
    run_search,
)

from .conftest import STRASSEN_U, STRASSEN_V, STRASSEN_W

SIDE = 4
ENV = TensorGame(GameConfig(max_side=SIDE))
STRASSEN = np.stack([STRASSEN_U, STRASSEN_V, STRASSEN_W], axis=1).astype(np.int8)  # (7, 3, 4)
EVAL = dict(dirichlet_fraction=0.0, temperature=0.0)


def _move(u, v, w, side=SIDE):
    out = np.zeros((3, side), dtype=np.int8)
    for f, x in enumerate((u, v, w)):
        out[f, : len(x)] = x
    return out


class ScriptedEvaluator:
    """Returns the same candidate list (and log-probs) for every observation."""

    def __init__(self, moves, log_probs=None, value=0.0):
        self.moves = np.asarray(moves, dtype=np.int8)
        k = len(self.moves)
        self.log_probs = np.full(k, -np.log(k), np.float32) if log_probs is None else np.asarray(log_probs, np.float32)
        self.value = value

    def __call__(self, obs, num_samples, dims):
        b = len(dims)
        return Evaluation(np.broadcast_to(self.moves, (b,) + self.moves.shape).copy(),
                          np.broadcast_to(self.log_probs, (b, num_samples)).copy(),
                          np.full(b, self.value, np.float32))


class HashEvaluator:
    """Uniform legal samples seeded by the observation itself: the same position always
    gets the same candidates, whatever else is in the batch or was evaluated before."""

    def __init__(self, config):
        self.uniform = UniformEvaluator(config)

    def __call__(self, obs, num_samples, dims):
        moves, logp = [], []
        for b in range(len(dims)):
            key = obs.residual[b].tobytes() + obs.history[b].tobytes() + bytes([int(obs.step[b])])
            self.uniform.rng = np.random.default_rng(int.from_bytes(hashlib.blake2b(key).digest()[:8], "little"))
            m, lp = self.uniform.sample(num_samples, dims[b: b + 1], obs.modulus[b: b + 1])
            moves.append(m[0])
            logp.append(lp[0])
        return Evaluation(np.stack(moves), np.stack(logp), np.full(len(dims), -1.0, np.float32))


class StrassenOracle:
    """Puts ``mass`` of each sample's probability on the Strassen moves not yet played
    (read from the history) and the rest on uniform legal moves (``mass`` 0: uniform).

    Value: minus the moves left before the step limit (what playing on to the limit
    costs), which differs from the true value along any line by a constant, so Q does
    not depend on how deep a subtree was explored. A value of 0 would not do: it
    ignores the -1 every further move is sure to cost, so a node's mean return falls
    with the depth of its visits, and nodes with a concentrated policy (repeated
    samples, fewer distinct children: the Strassen nodes) get deeper visits and look
    worse; measured, more simulations then lose the solution (0 of 48 at 256).
    """

    def __init__(self, config, seed, mass=0.3):
        self.uniform = UniformEvaluator(config, seed)
        self.rng = self.uniform.rng
        self.mass = mass

    def __call__(self, obs, num_samples, dims):
        moves, logp = self.uniform.sample(num_samples, np.asarray(dims), np.asarray(obs.modulus))
        for b in range(len(dims)):
            p = int(obs.modulus[b])
            terms = np.zeros((7, 3, SIDE), np.int8)
            terms[..., :4] = np.mod(STRASSEN, p) if p else STRASSEN
            played = obs.history[b, : int(obs.step[b])]
            left = [t for t in terms if not any(np.array_equal(t, h) for h in played)]
            if not left or self.mass == 0:
                continue
            pick = self.rng.random(num_samples) < self.mass
            which = self.rng.integers(len(left), size=num_samples)
            moves[b, pick] = np.stack(left)[which[pick]]
            logp[b] = np.where(pick, np.log(self.mass / len(left)), logp[b] + np.log1p(-self.mass))
        return Evaluation(moves, logp, -np.asarray(obs.remaining, np.float32))


def _tree_invariants(tree):
    """Visits = own evaluation + children's visits; no virtual visit left behind."""
    assert not tree.pending[: tree.size].any()
    for node in range(tree.size):
        kids = tree.children(node)
        if len(kids):
            assert tree.visits[node] == 1 + tree.visits[kids].sum()
            assert np.isclose(tree.prior[kids].sum(), 1.0)


# --- priors ------------------------------------------------------------------------------
def test_duplicates_merged_and_priors_are_frequencies():
    a, b, c = _move([1], [1], [1]), _move([0, 1], [1], [1]), _move([1], [0, 1], [1])
    ev = ScriptedEvaluator([a, b, a, c, a, b])
    state = ENV.reset(tg.matmul_target(2, 2, 2), "Z")
    out = run_search(ENV, state, ev, MCTSConfig(num_simulations=10, num_samples=6, **EVAL),
                     np.random.default_rng(0))
    assert out.num_children[0] == 3
    assert np.array_equal(out.root_moves[0, :3], np.stack([a, b, c]))
    np.testing.assert_allclose(out.priors[0, :3], [3 / 6, 2 / 6, 1 / 6], rtol=1e-6)


def test_tempered_sampling_prior_correction():
    """Samples from β ∝ π^(1/τ): prior ∝ β̂·β^(τ-1) recovers π's ordering."""
    a, b = _move([1], [1], [1]), _move([0, 1], [1], [1])
    log_beta = np.log([0.8, 0.8, 0.8, 0.2])
    ev = ScriptedEvaluator([a, a, a, b], log_probs=log_beta)
    cfg = MCTSConfig(num_simulations=0, num_samples=4, sampling_temperature=0.5, **EVAL)
    out = run_search(ENV, ENV.reset(tg.matmul_target(2, 2, 2), "Z"), ev, cfg, np.random.default_rng(0))
    want = np.array([0.75 * 0.8 ** -0.5, 0.25 * 0.2 ** -0.5])
    np.testing.assert_allclose(out.priors[0, :2], want / want.sum(), rtol=1e-6)


# --- visits, batching, reuse -------------------------------------------------------------
@pytest.mark.parametrize("leaf_batch", [1, 5])
def test_visit_counts_policy_and_invariants(leaf_batch):
    cfg = MCTSConfig(num_simulations=50, num_samples=8, leaf_batch=leaf_batch)
    state = ENV.reset([tg.matmul_target(2, 2, 2), tg.matmul_target(1, 2, 2)], ["Z2", "Z"])
    out = run_search(ENV, state, UniformEvaluator(ENV.config, 1), cfg, np.random.default_rng(1))
    assert out.visit_counts.sum(axis=1).tolist() == [50, 50]
    np.testing.assert_allclose(out.improved_policy.sum(axis=1), 1.0, rtol=1e-6)
    assert (out.num_children <= 8).all()
    for r in range(2):
        c = out.num_children[r]
        moves = {out.root_moves[r, i].tobytes() for i in range(c)}
        assert len(moves) == c  # distinct children
        assert ENV.legal(state.take([r] * c), out.root_moves[r, :c]).all()
        assert not out.visit_counts[r, c:].any()
    _tree_invariants(out.tree)


def test_tree_reuse_keeps_chosen_child_statistics():
    cfg = MCTSConfig(num_simulations=40, num_samples=8, dirichlet_fraction=0.0)
    rng = np.random.default_rng(3)
    ev = UniformEvaluator(ENV.config, 3)
    state = ENV.reset(tg.matmul_target(2, 2, 2), "Z", batch=2)
    out = run_search(ENV, state, ev, cfg, rng)
    kept = out.visit_counts[np.arange(2), out.chosen]
    child_moves = [out.tree.moves[out.tree.children(out.tree.first_child[out.tree.roots[r]] + out.chosen[r])]
                   for r in range(2)]
    sub = advance(out.tree, out.chosen)
    assert sub.visits[sub.roots].tolist() == kept.tolist()
    for r in range(2):
        assert np.array_equal(sub.moves[sub.children(sub.roots[r])], child_moves[r])
    _tree_invariants(sub)
    ENV.step(state, out.chosen_move)
    again = run_search(ENV, state, ev, cfg, rng, tree=sub)
    assert again.visit_counts.sum(axis=1).tolist() == (40 + kept - 1).tolist()
    _tree_invariants(again.tree)
    # -1 drops a tree; a mismatched state is refused
    one = advance(out.tree, [out.chosen[0], -1])
    assert one.num_roots == 1 and one.visits[one.roots[0]] == kept[0]
    with pytest.raises(ValueError):
        run_search(ENV, ENV.reset(tg.matmul_target(2, 2, 2), "Z", batch=2), ev, cfg, rng, tree=sub)


def test_roots_searched_together_match_searched_alone():
    """Trees in one forest do not interact: only the evaluator calls are shared."""
    cfg = MCTSConfig(num_simulations=30, num_samples=6, leaf_batch=3, **EVAL)
    ev = HashEvaluator(ENV.config)
    state = ENV.reset([tg.matmul_target(2, 2, 2), tg.matmul_target(2, 1, 2), tg.matmul_target(2, 2, 2)],
                      ["Z", "Z2", "Z2"])
    together = run_search(ENV, state, ev, cfg, np.random.default_rng(0))
    for r in range(3):
        alone = run_search(ENV, state.take([r]), ev, cfg, np.random.default_rng(0))
        c = alone.num_children[0]
        assert together.num_children[r] == c
        assert np.array_equal(together.visit_counts[r, :c], alone.visit_counts[0, :c])
        assert np.array_equal(together.root_moves[r, :c], alone.root_moves[0, :c])
        assert together.root_value[r] == alone.root_value[0]


def test_determinism():
    cfg = MCTSConfig(num_simulations=24, num_samples=8, leaf_batch=2)  # noise and T=1 on

    def episode():
        return play_episode(ENV, tg.matmul_target(2, 2, 2), ["Z", "Z2"], evaluator=UniformEvaluator(ENV.config, 7),
                            config=cfg, rng=np.random.default_rng(7))

    first, second = episode(), episode()
    for x, y in zip(first, second):
        assert np.array_equal(x.actions, y.actions)
        assert np.array_equal(x.policies, y.policies)
        assert np.array_equal(x.root_values, y.root_values)


# --- values ------------------------------------------------------------------------------
def test_bandit_prefers_the_move_that_solves():
    """Rank-one residual, one step allowed: only one candidate avoids the penalty."""
    good = _move([1, 0, 1], [0, 1], [1, 1, 0])
    tensor = np.einsum("i,j,k->ijk", good[0, :3], good[1, :2], good[2, :3]).astype(np.int64)
    env = TensorGame(GameConfig(max_side=SIDE, max_steps=1))
    state = env.reset(tensor, "Z", batch=1)
    others, _ = UniformEvaluator(env.config, 5).sample(7, state.dims, state.modulus)
    candidates = np.concatenate([others[0, :4], good[None], others[0, 4:]])
    out = run_search(env, state, ScriptedEvaluator(candidates, value=-3.0),
                     MCTSConfig(num_simulations=64, num_samples=8, leaf_batch=4, **EVAL), np.random.default_rng(0))
    assert out.chosen[0] == 4 and np.array_equal(out.chosen_move[0], good)
    assert out.visit_counts[0, 4] > out.visit_counts[0].sum() / 2
    assert out.root_value[0] > -2.0  # mostly the -1 of the solving move


def test_episode_targets():
    cfg = MCTSConfig(num_simulations=16, num_samples=8)
    env = TensorGame(GameConfig(max_side=SIDE, max_steps=5))
    results = play_episode(env, [tg.matmul_target(2, 2, 2), tg.matmul_target(1, 1, 2)], "Z",
                           evaluator=UniformEvaluator(env.config, 2), config=cfg, rng=np.random.default_rng(2))
    for res in results:
        t = res.num_moves
        assert 1 <= t <= 5
        assert res.observations.residual.shape == (t, SIDE, SIDE, SIDE)
        assert res.observations.step.tolist() == list(range(t))
        assert res.returns_to_go[0] == res.total_return == res.rewards.sum()
        assert (res.rewards[:-1] == -1).all()
        np.testing.assert_allclose(res.policies.sum(axis=1), 1.0, rtol=1e-6)
        for k in range(t):  # the action played is one of the candidates
            c = res.num_candidates[k]
            assert any(np.array_equal(res.actions[k], m) for m in res.candidates[k, :c])
        if res.solved:
            assert res.scheme.verify().ok and res.scheme.rank == t
        else:
            assert t == 5 and res.rewards[-1] < -1  # the step limit's penalty


# --- errors ------------------------------------------------------------------------------
def test_errors():
    state = ENV.reset(tg.matmul_target(2, 2, 2), "Z")
    cfg = MCTSConfig(num_simulations=4, num_samples=2)
    bad = ScriptedEvaluator([_move([1], [1], [0]), _move([1], [1], [1])])  # zero factor w
    with pytest.raises(IllegalMoveError):
        run_search(ENV, state, bad, MCTSConfig(num_simulations=8, num_samples=2, **EVAL), np.random.default_rng(0))
    with pytest.raises(ValueError):
        run_search(ENV, state, ScriptedEvaluator([_move([1], [1], [1])]), cfg, np.random.default_rng(0))
    done = ENV.reset(np.zeros((2, 2, 2), dtype=np.int64), "Z")  # the zero tensor is solved at once
    with pytest.raises(GameError):
        run_search(ENV, done, UniformEvaluator(ENV.config), cfg, np.random.default_rng(0))
    with pytest.raises(ValueError):
        MCTSConfig(num_samples=0)


# --- a known answer ----------------------------------------------------------------------
@pytest.mark.parametrize("ring", ["Z2", "Z"])
def test_finds_strassen_with_an_oracle_policy_not_with_a_uniform_one(ring):
    """30 % of the policy on the Strassen terms still to play: the search finds the
    7-move scheme in most games; uniform sampling with the same budget does not."""
    cfg = MCTSConfig(num_simulations=64, num_samples=32, leaf_batch=4, **EVAL)

    def solved_in_7(mass):
        results = play_episode(ENV, tg.matmul_target(2, 2, 2), ring, evaluator=StrassenOracle(ENV.config, 1, mass),
                               config=cfg, rng=np.random.default_rng(0), batch=12)
        wins = [r for r in results if r.solved and r.num_moves == 7]
        for r in wins:
            assert r.scheme.verify().ok and r.scheme.rank == 7 and str(r.scheme.ring) == ring
            assert r.total_return == -7 and r.returns_to_go.tolist() == list(range(-7, 0))
        return len(wins)

    assert solved_in_7(0.3) >= 9
    assert solved_in_7(0.0) <= 1


def test_search_beats_the_raw_policy_near_the_end():
    """Four Strassen terms played, three to go, 20 % policy mass on them: the finish is
    within the search's reach, so searching wins clearly more often than playing the
    most frequent sample (0 simulations)."""
    start = ENV.reset(tg.matmul_target(2, 2, 2), "Z2", batch=36)
    for term in np.mod(STRASSEN[:4], 2):
        ENV.step(start, np.repeat(term[None], 36, axis=0))

    def wins(sims):
        cfg = MCTSConfig(num_simulations=sims, num_samples=16, leaf_batch=4, **EVAL)
        results = play_games(ENV, start, StrassenOracle(ENV.config, 0, 0.2), cfg, np.random.default_rng(0))
        return sum(r.solved and r.num_moves == 3 for r in results)

    raw, searched = wins(0), wins(128)
    assert searched >= raw + 6, (raw, searched)
