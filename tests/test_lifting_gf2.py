"""Bit-packed GF(2) and bit-sliced GF(3) lifting: the solvers against a dense
reference, lifts of larger formats, small coefficients, and the reasons a scheme does
not lift."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tensorgame as tg
from tensorgame.formats import read_schemes, write_scheme
from tensorgame.search import lifting
from tensorgame.search.lifting import echelon, hensel_lift, lift_quality
from tensorgame.tensors.symmetry import change_basis, random_unimodular
from tests.conftest import SHARED, assert_user_error

FMM = SHARED / "fmm" / "schemes"


def _dense_jacobian(u, v, w, p):
    """Reference Jacobian straight from the formula (rows (a, b, c), columns u|v|w by term)."""
    ni, nj, nk = u.shape[1], v.shape[1], w.shape[1]
    eye = [np.eye(n, dtype=np.int64) for n in (ni, nj, nk)]
    blocks = [np.einsum("ax,rb,rc->abcrx", eye[0], v, w), np.einsum("ra,by,rc->abcry", u, eye[1], w),
              np.einsum("ra,rb,cz->abcrz", u, v, eye[2])]
    return np.concatenate([b.reshape(ni * nj * nk, -1) for b in blocks], axis=1) % p


@st.composite
def systems(draw):
    dims = [draw(st.integers(1, 5)) for _ in range(3)]  # up to 125 rows: several words
    rank = draw(st.integers(1, 8))
    seed = draw(st.integers(0, 2**32 - 1))
    p = draw(st.sampled_from([2, 3]))
    return dims, rank, seed, p


@settings(max_examples=120, deadline=None, derandomize=True, database=None)
@given(systems())
def test_bitpacked_echelon_agrees_with_dense(system):
    (ni, nj, nk), rank, seed, p = system
    rng = np.random.default_rng(seed)
    u, v, w = (rng.integers(0, p, size=(rank, n)).astype(np.int64) for n in (ni, nj, nk))
    jac = _dense_jacobian(u, v, w, p)
    order = rng.permutation(jac.shape[1]).astype(np.int64)
    packed = echelon.Echelon(u, v, w, p, order)
    dense = echelon._echelon_gfp(u, v, w, order, p)
    assert np.array_equal(packed.pivot_cols, dense[3])
    for _ in range(3):
        x0 = rng.integers(0, p, size=jac.shape[1])
        rhs = jac @ x0 % p
        x = packed.solve(rhs)
        x_dense, ok = echelon._solve_gfp(*dense[:3], rhs.copy(), p)
        assert ok and x is not None and np.array_equal(x, x_dense)
        assert np.array_equal(jac @ x % p, rhs)
        free = np.setdiff1d(np.arange(jac.shape[1]), packed.pivot_cols)
        assert not np.any(x[free])
        noise = rhs.copy()
        noise[rng.integers(rhs.size)] += 1
        consistent = echelon._solve_gfp(*dense[:3], noise % p, p)[1]
        assert (packed.solve(noise) is not None) == consistent


def _rank_gf2(m):
    m = m.copy() % 2
    rank = 0
    for c in range(m.shape[1]):
        rows = np.nonzero(m[rank:, c])[0]
        if rows.size == 0:
            continue
        m[[rank, rank + rows[0]]] = m[[rank + rows[0], rank]]
        others = np.nonzero(m[:, c])[0]
        m[others[others != rank]] ^= m[rank]
        rank += 1
        if rank == m.shape[0]:
            break
    return rank


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(systems())
def test_pivots_are_a_basis_of_the_columns(system):
    (ni, nj, nk), rank, seed, _ = system  # over GF(2); GF(3) pivots match the dense solver above
    rng = np.random.default_rng(seed)
    u, v, w = (rng.integers(0, 2, size=(rank, n)).astype(np.int64) for n in (ni, nj, nk))
    jac = _dense_jacobian(u, v, w, 2)
    packed = echelon.Echelon(u, v, w, 2, rng.permutation(jac.shape[1]).astype(np.int64))
    assert packed.rank == _rank_gf2(jac) == _rank_gf2(jac[:, packed.pivot_cols])


def _fmm(name: str) -> tg.Scheme:
    path = next(FMM.glob(f"*/{name}"), None)
    if path is None:
        pytest.skip("../shared/fmm is not beside this checkout")
    return read_schemes(path)[0]


@pytest.mark.parametrize("name", ["3x3x3_m23_c88_ZT.json", "4x4x4_m49_ZT.json", "5x5x5_m93_c843_ZT.json"])
def test_ternary_schemes_reduced_mod2_lift_back_to_ternary(name):
    mod2 = _fmm(name).with_ring("Z2")
    result = hensel_lift(mod2)
    assert result.ok and result.scheme.verify().ok
    # a {-1, 0, 1} lift exists, and the first order finds one: nothing better to try
    assert lift_quality(result.scheme) == (False, 1, mod2.nnz) and result.attempts == 1
    assert np.array_equal(np.mod(result.scheme.u, 2), mod2.u)


def test_attempts_keep_the_best_lift():
    rng = np.random.default_rng(3)
    moved = change_basis(_fmm("3x3x3_m23_c88_ZT.json"), *(random_unimodular(3, rng) for _ in range(3))).with_ring("Z2")
    one = hensel_lift(moved, attempts=1)
    several = hensel_lift(moved, attempts=6, seed=1)
    assert one.ok and several.ok and several.scheme.verify().ok
    assert lift_quality(several.scheme) <= lift_quality(one.scheme)
    assert hensel_lift(moved, attempts=6, seed=1).scheme.u.tolist() == several.scheme.u.tolist()


def test_first_step_inconsistency_is_a_proof(alphatensor_dir):
    schemes = {s.target.params: s for s in read_schemes(alphatensor_dir / "factorizations_f2_nopickle.npz")}
    result = hensel_lift(schemes[(4, 4, 4)], attempts=4)
    assert not result.ok and result.attempts == 1  # no other choice can help: stops at once
    assert "first step" in result.reason and "no scheme over Z" in result.reason


def test_dense_path_refuses_past_the_memory_bound(monkeypatch, run, tmp_path):
    scheme = tg.naive_scheme(tg.matmul_target(2, 2, 3)).with_ring("Z5")
    need = lifting.solver_bytes(scheme.rank, scheme.target.dims, 5)
    monkeypatch.setattr(echelon, "MAX_SOLVER_BYTES", need - 1)
    with pytest.raises(tg.TensorGameError, match="GiB"):
        hensel_lift(scheme)
    write_scheme(scheme, tmp_path / "z5.json")
    assert_user_error(run("lift", tmp_path / "z5.json", "--no-store"))
    # mod 2 and mod 3 the same format is bit-packed, 32 times smaller or more, and lifts
    for p in (2, 3):
        assert lifting.solver_bytes(scheme.rank, scheme.target.dims, p) < need // 16
        assert hensel_lift(scheme.with_ring(f"Z{p}")).ok
