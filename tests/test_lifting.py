"""Hensel lifting from Z_p to Z / Q."""

import numpy as np
import pytest

import tensorgame as tg
from tensorgame.formats import read_schemes
from tensorgame.search.lifting import can_lift, hensel_lift
from tensorgame.tensors.symmetry import change_basis, random_unimodular


@pytest.mark.parametrize("ring", ["Z2", "Z3"])
def test_strassen_lifts_to_integers(strassen, ring):
    result = hensel_lift(strassen.with_ring(ring))
    assert result.ok and result.scheme.ring == tg.Z
    assert result.scheme.verify().ok and result.scheme.rank == 7


def test_mod2_schemes_in_random_bases_lift():
    rng = np.random.default_rng(5)
    naive = tg.naive_scheme(tg.matmul_target(2, 3, 2))
    for _ in range(3):
        moved = change_basis(naive, *(random_unimodular(k, rng) for k in (2, 3, 2))).with_ring("Z2")
        result = hensel_lift(moved)
        assert result.ok and result.scheme.verify().ok
        # the lift reduces back to the scheme we started from
        assert np.array_equal(np.mod(result.scheme.u, 2), moved.u)


def test_alphatensor_mod2_schemes(alphatensor_dir):
    schemes = {s.target.params: s for s in read_schemes(alphatensor_dir / "factorizations_f2_nopickle.npz")}
    lifted = hensel_lift(schemes[(3, 3, 3)])
    assert lifted.ok and lifted.scheme.rank == 23 and lifted.scheme.verify().ok
    # the rank-47 <4,4,4> exists only in characteristic 2
    refused = hensel_lift(schemes[(4, 4, 4)], attempts=1)
    assert not refused.ok and "does not lift" in refused.reason
    # the cheap test agrees: its False is the same proof
    assert can_lift(schemes[(3, 3, 3)]) and not can_lift(schemes[(4, 4, 4)])
    assert all(can_lift(s) == hensel_lift(s).ok for s in schemes.values() if max(s.target.params) <= 4)


def test_wrong_inputs(strassen):
    with pytest.raises(tg.TensorGameError):
        hensel_lift(strassen)  # already over Z
    with pytest.raises(tg.TensorGameError):
        can_lift(strassen)
    u = np.array(strassen.with_ring("Z2").u)
    u[0, 0] ^= 1
    with pytest.raises(tg.TensorGameError):
        hensel_lift(tg.Scheme(strassen.target, "Z2", u, strassen.with_ring("Z2").v, strassen.with_ring("Z2").w))
