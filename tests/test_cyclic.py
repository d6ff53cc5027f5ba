"""Cyclic-symmetric moves (game.cyclic): the game, demonstrations and the solution bank."""

from __future__ import annotations

import numpy as np
import pytest

from tensorgame.game import (
    GameConfig,
    GameError,
    SyntheticConfig,
    SyntheticGenerator,
    TensorGame,
    augment,
)
from tensorgame.game.basis import BasisPool
from tensorgame.game.cyclic import (
    expand,
    is_fixed,
    naive_moves,
    orbit_sizes,
    orbit_terms,
    representatives,
    rotate,
)
from tensorgame.tensors.rings import parse_ring
from tensorgame.tensors.scheme import Scheme
from tensorgame.tensors.targets import matmul_target
from tensorgame.training.demos import DemoSource, pairs_to_positions

#: Strassen's <2,2,2> over Z2 as a fixed term (I, I, I) and two orbits (7 = 1 + 3 + 3).
STRASSEN_Z2_MOVES = np.array([
    [[1, 0, 0, 1], [1, 0, 0, 1], [1, 0, 0, 1]],
    [[0, 0, 0, 1], [1, 0, 1, 0], [1, 0, 1, 0]],
    [[0, 0, 1, 1], [1, 0, 0, 0], [0, 0, 1, 1]],
], dtype=np.int8)


def naive_terms(n: int) -> np.ndarray:
    """The naive scheme's terms e_ij ⊗ e_jk ⊗ e_ik, (n³, 3, n²)."""
    out = np.zeros((n ** 3, 3, n * n), dtype=np.int64)
    for r, (i, j, k) in enumerate(np.ndindex(n, n, n)):
        out[r, 0, i * n + j] = out[r, 1, j * n + k] = out[r, 2, i * n + k] = 1
    return out


def test_rotation_has_order_three_and_maps_the_tensor_to_itself():
    rng = np.random.default_rng(0)
    moves = rng.integers(-1, 2, size=(20, 3, 9)).astype(np.int8)
    assert np.array_equal(rotate(rotate(rotate(moves, 3), 3), 3), moves)
    terms = orbit_terms(naive_terms(3), 3)
    scheme = Scheme(matmul_target(3, 3, 3), parse_ring("Z"), terms[:27, 0], terms[:27, 1], terms[:27, 2])
    assert scheme.verify().ok


@pytest.mark.parametrize("n", [2, 3, 4])
def test_naive_scheme_is_a_union_of_orbits(n):
    terms = naive_terms(n)
    reps = representatives(terms[:, 0], terms[:, 1], terms[:, 2], n)
    assert reps is not None and len(reps) == naive_moves(n)
    assert int(orbit_sizes(reps, n).sum()) == n ** 3
    assert int(is_fixed(reps, n).sum()) == n  # the terms with i = j = k
    # without one term of an orbit (e_00 ⊗ e_01 ⊗ e_01), the rest is not σ-invariant
    rest = np.delete(terms, 1, axis=0)
    assert representatives(rest[:, 0], rest[:, 1], rest[:, 2], n) is None


@pytest.mark.parametrize("ring", ["Z", "Z2"])
def test_cyclic_game_plays_the_naive_orbits_to_rank_27(ring):
    n = 3
    terms = naive_terms(n)
    reps = representatives(terms[:, 0], terms[:, 1], terms[:, 2], n).astype(np.int8)
    env = TensorGame(GameConfig(max_side=9, cyclic=True))
    state = env.reset(matmul_target(3, 3, 3), ring)
    assert int(state.limit[0]) == naive_moves(n) == 11
    rewards = [int(env.step(state, move[None])[0]) for move in reps]
    assert sorted(rewards) == [-3] * 8 + [-1] * 3
    assert state.solved[0] and int(state.returns[0]) == -27
    scheme = env.scheme(state, 0)
    assert scheme.rank == 27 and scheme.verify().ok


def test_cyclic_game_finds_strassen_in_three_moves_and_plain_games_are_unchanged():
    env = TensorGame(GameConfig(max_side=4, cyclic=True, coefficients=(-1, 0, 1)))
    state = env.reset([matmul_target(2, 2, 2), matmul_target(2, 2, 1)], "Z2")
    plain = np.zeros((3, 4), dtype=np.int8)
    plain[:, 0] = 1
    rewards = [[int(x) for x in env.step(state, np.stack([move, plain]))] for move in STRASSEN_Z2_MOVES]
    assert rewards == [[-1, -1], [-3, -1], [-3, -1]]  # a fixed move, then two orbits
    assert state.solved[0] and int(state.returns[0]) == -7
    scheme = env.scheme(state, 0)
    assert scheme.rank == 7 and scheme.verify().ok
    assert not state.solved[1] and int(state.step[1]) == 3


def test_cyclic_game_refuses_a_changed_basis():
    env = TensorGame(GameConfig(max_side=4, cyclic=True))
    basis = BasisPool((4, 4, 4), 3, seed=0)[1]
    with pytest.raises(GameError, match="canonical basis"):
        env.reset(matmul_target(2, 2, 2), "Z2", basis)


def test_cyclic_demonstrations_are_exact_after_augmentation():
    cfg = SyntheticConfig(targets=((3, 3, 3), (2, 2, 3)), max_side=9, rings=("Z", "Z2"),
                          values=(-1, 0, 1), probs=(0.25, 0.5, 0.25), cyclic=True)
    assert list(cfg.rank_caps()) == [11, 12]
    gen = SyntheticGenerator(cfg, seed=3)
    rng = np.random.default_rng(0)
    batch = augment(gen.batch(0, 48), rng)
    assert batch.cyclic.any() and not batch.cyclic.all()
    assert batch.check().all()
    assert all(batch.scheme(i).verify().ok for i in range(len(batch)))
    live = np.arange(batch.pad_rank)[None] < batch.ranks[:, None]
    assert is_fixed(batch.factors[batch.cyclic], 3)[live[batch.cyclic]].any()  # fixed moves drawn
    # a position's value target counts terms, not moves
    positions = pairs_to_positions(batch, np.full(len(batch), 12), 2, np.random.default_rng(1))
    cyc = np.flatnonzero(batch.cyclic)
    assert (-positions.value[cyc] > 0).all()
    full, counts = expand(batch.factors, batch.ranks, batch.dims, batch.cyclic)
    terms = np.any(full != 0, axis=(2, 3)).sum(axis=1)
    assert (terms[cyc] >= batch.ranks[cyc]).all() and (counts[cyc] == 3 * batch.pad_rank).all()


def test_solution_bank_ranks_cyclic_moves_by_their_terms():
    target = matmul_target(2, 2, 2)
    game = GameConfig(max_side=4, cyclic=True, coefficients=(-1, 0, 1))
    demos = DemoSource([target], [parse_ring("Z2")], game, {}, seed=0)
    assert demos.add_solution(0, 2, STRASSEN_Z2_MOVES)
    assert demos.solutions[0].rank == 7
    batch = demos.solution_demos(16, np.random.default_rng(0))
    assert batch is not None and (-batch.value <= 7).all() and (-batch.value >= 1).all()


def test_found_schemes_are_banked_as_orbits_when_they_are_unions_of_orbits():
    target = matmul_target(2, 2, 2)
    demos = DemoSource([target], [parse_ring("Z2")], GameConfig(max_side=4, cyclic=True), {}, seed=0)
    terms = orbit_terms(STRASSEN_Z2_MOVES, 2).astype(np.int64)
    scheme = Scheme(target, parse_ring("Z2"), terms[:, 0], terms[:, 1], terms[:, 2])
    assert scheme.rank == 7 and scheme.verify().ok
    assert demos.add_scheme(0, scheme)
    banked = demos.solutions[0]
    assert banked.rank == 7 and len(banked.factors) == 3
    # a correct scheme over Z whose terms, as written, are no union of orbits (one
    # term spelled (-u, -v, w)): not a cyclic game's moves, so not banked
    naive = naive_terms(2)
    naive[1, :2] *= -1
    plain = Scheme(target, parse_ring("Z"), naive[:, 0], naive[:, 1], naive[:, 2])
    assert plain.verify().ok
    assert not demos.add_scheme(0, plain) and len(demos.solutions) == 1
