"""Property tests: symmetries keep schemes correct and keep the canonical hash."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tensorgame as tg
from tensorgame.tensors import symmetry as sym
from tensorgame.tensors.canonical import batched_rank, canonical_hash

from .conftest import STRASSEN_U, STRASSEN_V, STRASSEN_W

STRASSEN = tg.Scheme(tg.matmul_target(2, 2, 2), "Z", STRASSEN_U, STRASSEN_V, STRASSEN_W)
seeds = st.integers(min_value=0, max_value=2**32 - 1)


def _random_basis_change(scheme, rng):
    n, m, p = scheme.target.params
    mats = [sym.random_unimodular(k, rng) for k in (n, m, p)]
    return sym.change_basis(scheme, *mats)


def _base_schemes():
    return [STRASSEN, STRASSEN.with_ring("Z2"), tg.naive_scheme(tg.matmul_target(2, 3, 2)),
            tg.naive_scheme(tg.matmul_target(3, 3, 3), "Z3")]


@settings(max_examples=40, deadline=None)
@given(seed=seeds, which=st.integers(0, 3))
def test_basis_change_keeps_correctness_and_hash(seed, which):
    base = _base_schemes()[which]
    rng = np.random.default_rng(seed)
    moved = _random_basis_change(base, rng)
    assert moved.verify().ok
    assert canonical_hash(moved) == canonical_hash(base)
    # term order and signs are irrelevant too
    moved = sym.permute_terms(moved, rng.permutation(moved.rank))
    moved = sym.negate_terms(moved, rng.integers(0, 2, moved.rank).astype(bool))
    assert moved.verify().ok and canonical_hash(moved) == canonical_hash(base)


@settings(max_examples=25, deadline=None)
@given(seed=seeds)
def test_cyclic_and_transpose(seed):
    rng = np.random.default_rng(seed)
    s = _random_basis_change(STRASSEN, rng)
    for moved in (sym.cyclic_rotation(s), sym.transpose(s), sym.cyclic_rotation(sym.cyclic_rotation(s))):
        assert moved.verify().ok and canonical_hash(moved) == canonical_hash(STRASSEN)
    rect = _random_basis_change(tg.naive_scheme(tg.matmul_target(2, 3, 4)), rng)
    assert sym.cyclic_rotation(rect).target.params == (3, 4, 2)
    assert sym.transpose(rect).target.params == (4, 3, 2)
    assert sym.cyclic_rotation(rect).verify().ok and sym.transpose(rect).verify().ok


@settings(max_examples=20, deadline=None)
@given(seed=seeds)
def test_rational_basis_change_and_reduction(seed):
    rng = np.random.default_rng(seed)
    mats = []
    for _ in range(3):
        while True:
            m = rng.integers(-2, 3, (2, 2))
            if round(np.linalg.det(m)) not in (0,) and round(np.linalg.det(m)) % 5:
                break
        mats.append(m)
    moved = sym.change_basis(STRASSEN.with_ring("Q"), *mats)
    assert moved.verify().ok
    assert canonical_hash(moved) == canonical_hash(STRASSEN.with_ring("Q"))
    assert sym.reduce_mod(moved, 5).verify().ok


def test_non_unimodular_basis_refused_over_z():
    with pytest.raises(tg.TensorGameError):
        sym.change_basis(STRASSEN, np.array([[2, 0], [0, 1]]), np.eye(2, dtype=int), np.eye(2, dtype=int))


def test_hash_separates_inequivalent_schemes():
    assert canonical_hash(STRASSEN) != canonical_hash(tg.naive_scheme(tg.matmul_target(2, 2, 2)))
    # a flip of the naive scheme: a11(x)b11(x)c11 + a11(x)b12(x)c12
    #   -> a11(x)(b11 + b12)(x)c11 + a11(x)b12(x)(c12 - c11): still rank 8, not equivalent
    naive = tg.naive_scheme(tg.matmul_target(2, 2, 2))
    v, w = np.array(naive.v), np.array(naive.w)
    v[0] += v[1]
    w[1] -= w[0]
    flipped = tg.Scheme(naive.target, "Z", naive.u, v, w)
    assert flipped.verify().ok
    assert canonical_hash(flipped) != canonical_hash(naive)


def test_hash_for_other_targets_is_order_and_sign_invariant():
    s = tg.naive_scheme(tg.polymul_target(3, 3))
    rng = np.random.default_rng(0)
    moved = sym.negate_terms(sym.permute_terms(s, rng.permutation(s.rank)), np.ones(s.rank, bool))
    assert canonical_hash(moved) == canonical_hash(s)
    swapped = tg.Scheme(s.target, "Z", s.v, s.u, s.w)
    assert canonical_hash(swapped) == canonical_hash(s)  # polymul(3,3) is commutative


def test_batched_rank_matches_numpy():
    rng = np.random.default_rng(3)
    mats = rng.integers(-2, 3, (200, 4, 5))
    mats[:50, 3] = mats[:50, 0] + mats[:50, 1]
    assert np.array_equal(batched_rank(mats, 2**31 - 1), np.linalg.matrix_rank(mats.astype(float)))


def test_kronecker_product_of_schemes():
    from tensorgame.tensors.compose import kron_scheme

    squared = kron_scheme(STRASSEN, STRASSEN)
    assert squared.target.params == (4, 4, 4) and squared.rank == 49 and squared.verify().ok
    rect = tg.naive_scheme(tg.matmul_target(1, 2, 3))
    for a, b in ((STRASSEN, rect), (rect, STRASSEN)):
        k = kron_scheme(a, b)
        assert k.rank == a.rank * b.rank and k.verify().ok
    assert kron_scheme(STRASSEN.with_ring("Z2"), STRASSEN.with_ring("Z2")).verify().ok
