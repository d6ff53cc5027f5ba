"""Meta moves between matmul formats: every move keeps the scheme exact."""

import numpy as np
import pytest

import tensorgame as tg
from tensorgame.errors import RingError, TargetError
from tensorgame.tensors.meta import (
    adapt,
    assemble,
    extend,
    join,
    join_to,
    product,
    project,
)
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


@pytest.mark.parametrize("ring", ["Z", "Z2"])
def test_join_along_each_axis_keeps_exactness(strassen, ring):
    left = _mixed(strassen, 2).with_ring(ring)
    right = _mixed(extend(strassen, 0), 3).with_ring(ring)  # <3,2,2>, rank 11
    for axis in range(3):
        first = adapt(left, (2, 2, 2))
        second = adapt(right, tuple(3 if k == axis else 2 for k in range(3)))
        joined = join(first, second, axis)
        assert joined.target.params == tuple(5 if k == axis else 2 for k in range(3))
        assert joined.rank == 7 + second.rank and joined.ring == left.ring and joined.verify().ok


def test_join_to_and_assemble_find_the_direct_sum(strassen):
    # <4,2,2> is two Strassens side by side along any of the three sides, once oriented
    for dims in ((4, 2, 2), (2, 4, 2), (2, 2, 4)):
        summed = join_to(strassen, strassen, dims)
        assert summed.target.params == dims and summed.rank == 14 and summed.verify().ok
    # a join that needs an extension after it: <2,2,2> + <2,2,2> -> <4,2,2> -> <4,2,3>
    assert join_to(strassen, strassen, (4, 2, 3)).rank == 14 + 8
    # <4,4,2> from Strassens alone: 4·7 = 28 as two 14-term <2,4,2> blocks
    built, how = assemble([strassen, join_to(strassen, strassen, (2, 4, 2))], (4, 4, 2))
    assert built.target.params == (4, 4, 2) and built.rank == 28 and built.verify().ok
    assert how == "<2,4,2> 14 + <2,4,2> 14"
    # no source: the naive scheme; a lower source wins over every join
    assert assemble([], (2, 3, 2))[0].rank == 12
    best, how = assemble([strassen.with_ring("Z2")], (2, 2, 3))
    assert best.rank == 11 and str(best.ring) == "Z2" and how == "<2,2,2> 7 adapted" and best.verify().ok
    # only smaller formats are sources: not the format itself, not a larger one
    assert assemble([strassen, extend(strassen, 0)], (2, 2, 2))[1] == "naive"


def test_meta_refusals(strassen):
    with pytest.raises(TargetError):
        extend(strassen, 3)
    with pytest.raises(TargetError):
        project(tg.naive_scheme(tg.matmul_target(1, 2, 2)), 0)
    with pytest.raises(TargetError):
        project(strassen, 1, 5)
    with pytest.raises(TargetError):
        adapt(tg.naive_scheme(tg.skew_matvec_target(3)), (2, 2, 2))
    with pytest.raises(TargetError):
        join(strassen, tg.naive_scheme(tg.matmul_target(2, 3, 3)), 0)
    with pytest.raises(TargetError):
        join_to(strassen, tg.naive_scheme(tg.matmul_target(3, 3, 3)), (5, 3, 3))
    with pytest.raises(RingError):
        join(strassen, strassen.with_ring("Z2"), 0)
