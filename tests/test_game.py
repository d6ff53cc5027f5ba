"""TensorGame environment: moves, terminal penalty, bases, clone/restore, batching."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tensorgame as tg
from tensorgame.catalog import Catalog
from tensorgame.errors import TensorGameError
from tensorgame.game import (
    Basis,
    BasisPool,
    GameConfig,
    GameError,
    IllegalMoveError,
    TensorGame,
    matrix_rank,
    mode_slice_rank_sums,
    rank_upper_bound,
    unimodular_inverse,
)
from tensorgame.game.rank_bound import PRIMES, slice_completion

from .conftest import STRASSEN_U, STRASSEN_V, STRASSEN_W

SEEDS = st.integers(min_value=0, max_value=2**32 - 1)
FAST = settings(max_examples=25, deadline=None, derandomize=True)
WIDE = GameConfig(max_side=8, coefficients=tuple(range(-127, 128)), max_steps=64)


def _moves(u, v, w, side):
    """Factor rows -> (R, 3, side) int8 move array."""
    u, v, w = (np.asarray(x, dtype=np.int64) for x in (u, v, w))
    out = np.zeros((len(u), 3, side), dtype=np.int8)
    out[:, 0, : u.shape[1]] = u
    out[:, 1, : v.shape[1]] = v
    out[:, 2, : w.shape[1]] = w
    return out


def _play(env, state, moves):
    """Play move list (R, 3, S) in a one-game state; returns the rewards."""
    return [int(env.step(state, m[None])[0]) for m in moves]


def _ref_rank(mat, p):
    """Rank by textbook elimination over Q (p = 0, Fractions) or GF(p)."""
    rows = [[Fraction(int(x)) if p == 0 else int(x) % p for x in row] for row in np.asarray(mat).tolist()]
    rank, ncols = 0, len(rows[0]) if rows else 0
    for c in range(ncols):
        piv = next((r for r in range(rank, len(rows)) if rows[r][c] != 0), None)
        if piv is None:
            continue
        rows[rank], rows[piv] = rows[piv], rows[rank]
        for r in range(len(rows)):
            if r != rank and rows[r][c] != 0:
                if p == 0:
                    f = rows[r][c] / rows[rank][c]
                    rows[r] = [a - f * b for a, b in zip(rows[r], rows[rank])]
                else:
                    f = rows[r][c] * pow(rows[rank][c], -1, p) % p
                    rows[r] = [(a - f * b) % p for a, b in zip(rows[r], rows[rank])]
        rank += 1
    return rank


def _ref_bound(t, p):
    sums = [sum(_ref_rank(np.moveaxis(t, mode, 0)[s], p) for s in range(t.shape[mode])) for mode in range(3)]
    return min(sums), sums


STRASSEN = _moves(STRASSEN_U, STRASSEN_V, STRASSEN_W, 4)


# --- playing known schemes -------------------------------------------------------------
@pytest.mark.parametrize("ring", ["Z", "Z2", "Z3"])
def test_strassen_reaches_zero_and_is_stored(ring, tmp_path):
    env = TensorGame(GameConfig(max_side=4))
    state = env.reset(tg.matmul_target(2, 2, 2), ring)
    p = tg.parse_ring(ring).modulus
    moves = STRASSEN % p if p else STRASSEN  # over Z_p the legal coefficients are 0..p-1
    assert _play(env, state, moves) == [-1] * 7
    assert state.solved[0] and state.returns[0] == -7 and state.penalty[0] == 0
    scheme = env.scheme(state, 0)
    assert scheme.rank == 7 and scheme.verify().ok and str(scheme.ring) == ring
    assert np.array_equal(scheme.u, moves[:, 0])
    with Catalog(tmp_path / "cat.sqlite") as cat:
        res = env.store(state, 0, cat, method="test", seed=1, source="test_game")
        assert cat.count() == 1 and res.inserted


@settings(max_examples=20, deadline=None, derandomize=True)
@given(seed=SEEDS, ring=st.sampled_from(["Z", "Z2"]))
def test_naive_moves_in_any_order_reach_zero(seed, ring):
    target = tg.matmul_target(2, 2, 2)
    naive = tg.naive_scheme(target)
    moves = _moves(naive.u, naive.v, naive.w, 4)[np.random.default_rng(seed).permutation(8)]
    env = TensorGame(GameConfig(max_side=4))
    state = env.reset(target, ring)
    assert state.limit[0] == 8  # default limit: the naive rank
    _play(env, state, moves)
    assert state.solved[0] and state.returns[0] == -8
    assert env.scheme(state, 0).verify().ok


@pytest.mark.parametrize("ring", ["Z", "Z2"])
def test_wrong_moves_end_with_the_rank_bound_penalty(ring):
    env = TensorGame(GameConfig(max_side=4, max_steps=7))
    state = env.reset(tg.matmul_target(2, 2, 2), ring)
    moves = STRASSEN.copy()
    moves[6, 2] = [1, 1, 0, 0]  # last term's w is wrong
    if ring == "Z2":
        moves %= 2
    rewards = _play(env, state, moves)
    assert state.done[0] and not state.solved[0]
    p = 2 if ring == "Z2" else 0
    residual = state.residual[0].astype(np.int64)
    expected, _ = _ref_bound(residual, p)
    assert expected > 0
    assert state.penalty[0] == expected == rank_upper_bound(residual, modulus=p)
    assert rewards[:6] == [-1] * 6 and rewards[6] == -1 - expected
    assert state.returns[0] == -7 - expected
    with pytest.raises(GameError):
        env.scheme(state, 0)
    completed = env.completed_scheme(state, 0)  # moves + the penalty's decomposition
    if ring == "Z2":
        assert completed.rank == 7 + expected and completed.verify().ok
    else:
        assert completed is None  # over Z the Smith-form completion is not built
    # the game is over: further moves are ignored
    before = state.clone()
    assert env.step(state, moves[:1])[0] == 0 and state.equals(before)


# --- the rank bound ------------------------------------------------------------------------
@FAST
@given(seed=SEEDS, p=st.sampled_from([2, 3, 5]))
def test_slice_completion_sums_to_the_residual_with_bound_terms(seed, p):
    rng = np.random.default_rng(seed)
    shape = tuple(int(x) for x in rng.integers(1, 6, size=3))
    t = rng.integers(0, p, size=shape) * (rng.random(shape) < 0.5)
    u, v, w = slice_completion(t, p)
    assert np.array_equal(np.einsum("ri,rj,rk->ijk", u, v, w) % p, t)
    assert len(u) == rank_upper_bound(t, modulus=p)


def test_rank_bound_known_values():
    assert rank_upper_bound(np.zeros((2, 3, 4), dtype=np.int8)) == 0
    # a rank-one tensor: the bound is its fewest non-zero slices (here 1 along mode 0)
    assert rank_upper_bound(np.einsum("i,j,k->ijk", [0, 2], [0, 3, -1], [5, 1, 1, 2])) == 1
    assert rank_upper_bound(np.einsum("i,j,k->ijk", [1, 2], [0, 3, -1], [5, 1, 1, 2])) == 2
    for n, m, p in [(2, 2, 2), (2, 3, 4), (3, 3, 3), (4, 4, 4)]:
        t = tg.matmul_tensor(n, m, p)
        assert rank_upper_bound(t) == n * m * p == rank_upper_bound(t, modulus=2)
    assert list(mode_slice_rank_sums(tg.matmul_tensor(2, 3, 4))) == [24, 24, 24]


def test_rational_rank_needs_more_than_one_prime():
    p0, p1 = int(PRIMES[0]), int(PRIMES[1])
    assert matrix_rank(np.array([[p0, 0], [0, 1]])) == 2  # singular mod p0
    assert matrix_rank(np.array([[p0, 0], [0, p1]])) == 2  # singular mod p0 and mod p1
    assert matrix_rank(np.array([[p0, 0], [0, 1]]), modulus=p0) == 1
    assert matrix_rank(np.array([[2, 4], [1, 2]])) == 1
    assert matrix_rank(np.array([[1, 1], [1, -1]]), modulus=2) == 1


@FAST
@given(seed=SEEDS, p=st.sampled_from([0, 2, 3]), big=st.booleans())
def test_rank_bound_matches_reference(seed, p, big):
    rng = np.random.default_rng(seed)
    dims = tuple(int(x) for x in rng.integers(1, 5, size=3))
    hi = 30000 if big else 3
    t = rng.integers(-hi, hi + 1, size=dims) * (rng.random(dims) < 0.6)
    if p == 0 and not big:  # low-rank tensors exercise the non-full-rank path
        r = int(rng.integers(1, 4))
        t = np.einsum("ri,rj,rk->ijk", *(rng.integers(-2, 3, size=(r, d)) for d in dims))
    expected, sums = _ref_bound(t, p)
    assert rank_upper_bound(t, modulus=p) == expected
    assert list(mode_slice_rank_sums(t, modulus=p)) == sums
    # padded batch with per-game dims gives the same
    batch = np.zeros((2, 6, 6, 6), dtype=np.int64)
    batch[1, : dims[0], : dims[1], : dims[2]] = t
    assert list(rank_upper_bound(batch, dims=[(1, 1, 1), dims], modulus=[p, p])) == [0, expected]


# --- change of basis -----------------------------------------------------------------------
def _random_target(rng):
    if rng.random() < 0.5:
        n, m, p = (int(x) for x in rng.integers(1, 3, size=3))
        return tg.matmul_target(n, m, p)
    dims = tuple(int(x) for x in rng.integers(1, 4, size=3))
    t = rng.integers(-1, 2, size=dims)
    t[0, 0, 0] = 1
    return tg.tensor_target(t)


@FAST
@given(seed=SEEDS, ring=st.sampled_from(["Z", "Z2"]), tied=st.booleans())
def test_naive_scheme_played_in_a_random_basis_maps_back(seed, ring, tied):
    rng = np.random.default_rng(seed)
    target = _random_target(rng)
    basis = Basis.random(target.dims, rng, tied=tied, max_entry=3)
    assert np.array_equal(basis.a @ basis.a_inv, np.eye(target.dims[0], dtype=np.int64))
    if tied and len(set(target.dims)) == 1:
        assert np.array_equal(basis.a, basis.b) and np.array_equal(basis.b, basis.c)
    moved = tg.parse_ring(ring).reduce(basis.transform_tensor(target.tensor))
    naive = tg.naive_scheme(tg.tensor_target(moved), ring)
    if naive.rank == 0 or np.abs(naive.w).max() > 127:
        return
    env = TensorGame(WIDE)
    state = env.reset(target, ring, basis)
    assert np.array_equal(state.residual[0][tuple(slice(0, d) for d in target.dims)], moved)
    _play(env, state, _moves(naive.u, naive.v, naive.w, 8))
    assert state.solved[0]
    scheme = env.scheme(state, 0)
    assert scheme.target is target and scheme.verify().ok
    assert env.scheme(state, 0, canonical=False).verify().ok
    # the maps are mutually inverse
    back = basis.factors_from_canonical(*basis.factors_to_canonical(naive.u, naive.v, naive.w))
    assert all(np.array_equal(x, y) for x, y in zip(back, (naive.u, naive.v, naive.w)))


@FAST
@given(seed=SEEDS, ring=st.sampled_from(["Z", "Z2"]), tied=st.booleans())
def test_transformed_strassen_maps_back_to_strassen(seed, ring, tied):
    strassen = tg.Scheme(tg.matmul_target(2, 2, 2), "Z", STRASSEN_U, STRASSEN_V, STRASSEN_W).with_ring(ring)
    basis = Basis.random((4, 4, 4), np.random.default_rng(seed), tied=tied, max_entry=3)
    moved = basis.scheme_from_canonical(strassen)
    assert moved.verify().ok
    if max(np.abs(x).max() for x in (moved.u, moved.v, moved.w)) > 127:
        return
    env = TensorGame(WIDE)
    state = env.reset(strassen.target, ring, basis)
    _play(env, state, _moves(moved.u, moved.v, moved.w, 8))
    assert state.solved[0] and state.step[0] == 7
    back = env.scheme(state, 0)
    assert back.verify().ok
    for x, y in zip((back.u, back.v, back.w), (strassen.u, strassen.v, strassen.w)):
        assert np.array_equal(x, y)


def test_basis_pool_is_reproducible():
    a = BasisPool(tg.matmul_target(2, 2, 2), size=50, seed=7)
    b = BasisPool((4, 4, 4), size=50, seed=7, cache_bytes=2 * 768)  # two bases: evictions
    assert a[0].is_identity and len(a) == 50
    for i in (1, 17, 49, 17):
        assert all(np.array_equal(x, y) for x, y in zip((a[i].a, a[i].a_inv), (b[i].a, b[i].a_inv)))
        assert np.array_equal(a[i].a, a[i].b) and np.array_equal(a[i].a, a[i].c)  # tied
        assert abs(round(np.linalg.det(a[i].a))) == 1
    untied = BasisPool((4, 4, 4), size=50, seed=7, tied=False, include_canonical=False)
    assert any(not np.array_equal(untied[i].a, untied[i].b) for i in range(5))
    i1, _ = a.draw(np.random.default_rng(3))
    i2, _ = b.draw(np.random.default_rng(3))
    assert i1 == i2
    assert len(a.draw_many(4, np.random.default_rng(0))) == 4
    with pytest.raises(IndexError):
        a[50]


def test_bounded_bases_of_three_sides_are_drawn_per_side():
    # <2,3,4>'s sides 6, 12, 8: entry 172 of this pool found no whole basis within the
    # bound in 100 draws when all three matrices were redrawn together
    pool = BasisPool((6, 12, 8), size=200, seed=7920, max_entry=1)
    basis = pool[172]
    assert basis.dims == (6, 12, 8) and basis.max_entry == 1
    for m, inv in ((basis.a, basis.a_inv), (basis.b, basis.b_inv), (basis.c, basis.c_inv)):
        assert np.array_equal(m @ inv, np.eye(m.shape[0], dtype=np.int64))
    with pytest.raises(GameError, match="no 6×6 basis matrix"):
        Basis.random((6, 12, 8), np.random.default_rng(0), max_entry=0)


def test_basis_validation():
    with pytest.raises(GameError):
        unimodular_inverse(np.array([[2, 0], [0, 1]]))
    with pytest.raises(GameError):
        unimodular_inverse(np.array([[1, 1], [1, 1]]))
    assert np.array_equal(unimodular_inverse(np.array([[2, 1], [1, 1]])), [[1, -1], [-1, 2]])
    with pytest.raises(GameError):
        TensorGame().reset(tg.matmul_target(2, 2, 2), "Z", Basis.identity((3, 3, 3)))


# --- search interface ----------------------------------------------------------------------
def _random_legal(env, state, rng, density=0.5):
    """Random moves that are legal for every game of the batch."""
    side = state.side
    vals = np.asarray(env.config.coefficients)
    shape = (state.batch_size, 3, side)
    mv = rng.choice(vals, size=shape) * (rng.random(shape) < density)
    mv[:, :, 0] = np.where(mv[:, :, 0] == 0, 1, mv[:, :, 0])
    mod = state.modulus[:, None, None]
    mv = np.where(mod > 0, np.mod(mv, np.maximum(mod, 1)), mv)
    mv[:, :, 0] = np.where(mv[:, :, 0] == 0, 1, mv[:, :, 0])
    x = np.arange(side)[None, None, :]
    mv[x >= state.dims[:, :, None]] = 0
    return mv.astype(np.int8)


def _mixed_reset(env, rng):
    targets = [tg.matmul_target(2, 2, 2), tg.matmul_target(2, 3, 2), tg.matmul_target(1, 2, 3),
               tg.complex_target(), tg.polymul_target(2, 3)]
    pool = BasisPool((4, 4, 4), 10, seed=1)
    games = [targets[i % len(targets)] for i in range(12)]
    rings = ["Z", "Z2", "Z2", "Z"] * 3
    bases = [pool[1 + (i % 9)] if t.dims == (4, 4, 4) and i % 2 else None for i, t in enumerate(games)]
    return env.reset(games, rings, bases)


def test_batched_step_equals_sequential_step():
    env = TensorGame(GameConfig(max_side=6, max_steps=9))
    rng = np.random.default_rng(5)
    batch = _mixed_reset(env, rng)
    singles = [batch.take(i) for i in range(batch.batch_size)]
    for _ in range(10):
        moves = _random_legal(env, batch, rng)
        rewards = env.step(batch, moves)
        for i, single in enumerate(singles):
            assert env.step(single, moves[i : i + 1])[0] == rewards[i]
    for i, single in enumerate(singles):
        assert single.equals(batch.take(i))
    assert batch.done.all() and (batch.penalty[~batch.solved] > 0).all()
    assert np.array_equal(batch.returns, -batch.step - batch.penalty)


def test_clone_restore_take_put():
    env = TensorGame(GameConfig(max_side=6))
    rng = np.random.default_rng(0)
    state = _mixed_reset(env, rng)
    env.step(state, _random_legal(env, state, rng))
    snap = state.clone()
    env.step(state, _random_legal(env, state, rng))
    assert not state.equals(snap)
    state.restore(snap)
    assert state.equals(snap)
    env.step(snap, _random_legal(env, snap, rng))  # the clone is independent
    assert not state.equals(snap)
    row3 = state.take([3])
    kids = state.take([3, 3, 3])  # expand one game into three children
    assert not np.shares_memory(kids.residual, state.residual)
    env.step(kids, _random_legal(env, kids, rng))
    state.put([0, 1, 2], kids)
    assert state.take([0, 1, 2]).equals(kids) and state.take([3]).equals(row3)
    with pytest.raises(GameError):
        state.restore(env.reset(tg.matmul_target(2, 2, 2), batch=12))


def test_legal_move_check():
    env = TensorGame(GameConfig(max_side=6))
    state = env.reset([tg.matmul_target(2, 2, 2), tg.matmul_target(2, 2, 2), tg.matmul_target(1, 2, 3)],
                      ["Z", "Z2", "Z"])
    good = np.zeros((3, 3, 6), dtype=np.int8)
    good[:, :, 0] = 1
    assert env.legal(state, good).all()
    # out of the set, padding, Z2 needs reduced 0/1, past a short side, out of the set
    for game, f, x, val in [(0, 0, 1, 3), (0, 1, 4, 1), (1, 2, 1, -1), (1, 0, 2, 2),
                            (2, 0, 2, 1), (2, 2, 3, 1), (2, 1, 5, -3)]:
        bad = good.copy()
        bad[game, f, x] = val
        ok = env.legal(state, bad)
        assert not ok[game] and ok.sum() == 2, (game, f, x, val)
        assert env.explain_illegal(state, bad, game)
        with pytest.raises(IllegalMoveError) as info:
            env.step(state.clone(), bad)
        assert "\n" not in str(info.value) and f"game {game}" in str(info.value)
    zero = good.copy()
    zero[1, 2] = 0  # zero factor: a wasted move
    assert not env.legal(state, zero)[1]
    with pytest.raises(IllegalMoveError):
        env.step(state, good.astype(np.int64) * 200)
    with pytest.raises(GameError):
        env.step(state, good[:2])
    assert isinstance(IllegalMoveError("x"), TensorGameError)


def test_history_observation_and_storage_types():
    env = TensorGame(GameConfig(max_side=16, history=3))
    state = env.reset(tg.matmul_target(4, 4, 4), ["Z", "Z2"])
    assert state.residual.dtype == np.int16  # Z: 1 + 64 steps · 2³ needs int16
    assert env.reset(tg.matmul_target(4, 4, 4), "Z2").residual.dtype == np.int8
    rng = np.random.default_rng(1)
    played = []
    for _ in range(4):
        mv = _random_legal(env, state, rng)
        env.step(state, mv)
        played.append(mv)
    assert np.array_equal(state.history[:, 0], played[-1]) and np.array_equal(state.history[:, 2], played[-3])
    assert np.array_equal(env.moves(state, 1), np.stack(played)[:, 1])
    obs = env.observe(state)
    assert obs.residual.shape == (2, 16, 16, 16) and obs.history.shape == (2, 3, 3, 16)
    assert list(obs.remaining) == [60, 60] and list(obs.modulus) == [0, 2]
    assert list(env.terminal(state)) == [False, False]


def test_config_and_reset_errors():
    for bad in (dict(max_side=0), dict(coefficients=(1, 2)), dict(coefficients=(0, 300)),
                dict(history=-1), dict(max_steps=0)):
        with pytest.raises(GameError):
            GameConfig(**bad)
    env = TensorGame(GameConfig(max_side=4))
    with pytest.raises(GameError):
        env.reset(tg.matmul_target(2, 3, 2))  # side 6 > 4
    with pytest.raises(GameError):
        env.reset(tg.matmul_target(2, 2, 2), "Q")
    with pytest.raises(GameError):
        env.reset([tg.matmul_target(2, 2, 2)] * 2, ["Z"] * 3)
