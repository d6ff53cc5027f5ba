"""Meta moves between matmul formats: every move keeps the scheme exact."""

import numpy as np
import pytest

import tensorgame as tg
from tensorgame.errors import TargetError
from tensorgame.tensors.meta import adapt, extend, product, project
from tensorgame.tensors.symmetry import change_basis, random_unimodular


def _mixed(scheme: tg.Scheme, seed: int) -> tg.Scheme:
    """An equivalent scheme with dense factors (a random unimodular basis change), so
    that projections meet non-trivial coefficients."""
    rng = np.random.default_rng(seed)
    n, m, p = scheme.target.params
    return change_basis(scheme, *(random_unimodular(k, rng) for k in (n, m, p)))


@pytest.mark.parametrize("ring", ["Z", "Z2"])
def test_extend_and_project_keep_exactness(strassen, ring):
    base = _mixed(strassen, 1).with_ring(ring)
    assert base.verify().ok
    for axis in range(3):
        big = extend(base, axis)
        dims = list(base.target.params)
        dims[axis] += 1
        assert big.target.params == tuple(dims)
        assert big.verify().ok and big.rank == base.rank + int(np.prod(base.target.params)) // base.target.params[axis]
        for index in range(dims[axis]):
            small = project(big, axis, index)
            assert small.target.params == base.target.params and small.verify().ok
        # dropping the new index gives back exactly the old terms
        assert project(big, axis, dims[axis] - 1).rank == base.rank
        assert project(big, axis).rank == base.rank


def test_project_drops_vanishing_terms():
    naive = tg.naive_scheme(tg.matmul_target(3, 4, 5))
    for axis, size in enumerate((3, 4, 5)):
        smaller = project(naive, axis, 0)
        assert smaller.verify().ok and smaller.rank == 60 // size * (size - 1)


def test_product_and_adapt(strassen):
    s49 = product(strassen, strassen)
    assert s49.target.params == (4, 4, 4) and s49.rank == 49 and s49.verify().ok
    for dims in ((3, 4, 4), (4, 3, 4), (4, 4, 3), (4, 4, 5), (3, 3, 3), (2, 5, 4)):
        adapted = adapt(s49, dims)
        assert adapted.target.params == dims and adapted.verify().ok
    # a rotation is free: <2,2,3> from <3,2,2> needs no extension
    tall = extend(strassen, 0)
    assert adapt(tall, (2, 2, 3)).rank == tall.rank
    assert adapt(tall.with_ring("Z2"), (2, 3, 2)).verify().ok


def test_meta_refusals(strassen):
    with pytest.raises(TargetError):
        extend(strassen, 3)
    with pytest.raises(TargetError):
        project(tg.naive_scheme(tg.matmul_target(1, 2, 2)), 0)
    with pytest.raises(TargetError):
        project(strassen, 1, 5)
    with pytest.raises(TargetError):
        adapt(tg.naive_scheme(tg.skew_matvec_target(3)), (2, 2, 2))
