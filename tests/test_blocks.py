"""Sub-boxes of a matrix product (game/blocks) and the block demonstrations built on
them: a box embeds a smaller product, its support is that product's, and block
demonstrations are exact decompositions living on one."""

from __future__ import annotations

import numpy as np
import pytest

from tensorgame.game.blocks import (
    box_shape,
    box_support,
    complement_box,
    embed_blocks,
    in_box,
    random_box,
    term_triples,
)
from tensorgame.game.errors import GameError
from tensorgame.game.synthetic import SyntheticConfig, SyntheticGenerator
from tensorgame.tensors.scheme import naive_scheme
from tensorgame.tensors.targets import matmul_target, tensor_target


@pytest.mark.parametrize("dims, cyclic, shapes_seen", [((3, 3, 3), True, 1), ((3, 3, 3), False, 2),
                                                       ((2, 3, 4), False, 2), ((2, 2, 3), False, 1),
                                                       ((4, 4, 4), True, 2)])
def test_a_random_box_embeds_a_smaller_product(dims, cyclic, shapes_seen):
    target = matmul_target(*dims)
    naive = naive_scheme(target)
    triples = term_triples(target, naive.u, naive.v)
    assert len({tuple(t) for t in triples}) == target.naive_rank  # every (i, j, k) once
    rng = np.random.default_rng(1)
    shapes = set()
    for _ in range(30):
        box = random_box(target, cyclic, rng)
        a, b, c = shape = box_shape(box)
        shapes.add(shape)
        assert shape != dims and all(min(2, d) <= x <= d for x, d in zip(shape, dims))  # no side-1 block
        if cyclic:
            assert all(np.array_equal(box[0], x) for x in box)
        inside = in_box(triples, box)
        assert inside.sum() == a * b * c
        # the naive terms inside sum to <a,b,c> on the box's rows and columns
        embedded = naive_scheme(matmul_target(a, b, c))
        assert sorted(map(tuple, triples[inside])) == sorted(
            (box[0][i], box[1][j], box[2][k]) for i, j, k in term_triples(embedded.target, embedded.u, embedded.v))
        su, sv, sw = box_support(naive, box)
        assert (su.sum(), sv.sum(), sw.sum()) == (a * b, b * c, a * c)
    assert len(shapes) >= shapes_seen


def test_only_matrix_products_have_boxes():
    rng = np.random.default_rng(0)
    assert random_box(matmul_target(1, 1, 1), False, rng) is None
    assert random_box(tensor_target(np.ones((2, 2, 2), dtype=np.int64)), False, rng) is None


@pytest.mark.parametrize("cyclic", [True, False])
def test_a_product_without_a_side_of_3_has_no_block(cyclic):
    """Every proper box of <2,2,2> has a side of 1: a product already at its naive optimum."""
    rng = np.random.default_rng(0)
    assert random_box(matmul_target(2, 2, 2), cyclic, rng) is None
    assert random_box(matmul_target(1, 2, 2), False, rng) is None
    assert {box_shape(random_box(matmul_target(2, 2, 3), False, rng)) for _ in range(20)} == {(2, 2, 2)}


@pytest.mark.parametrize("cyclic", [True, False])
def test_block_demonstrations_are_exact_and_live_on_a_block(cyclic):
    target = matmul_target(3, 3, 3)
    gen = SyntheticGenerator(SyntheticConfig(targets=(target,), max_side=9, rings=("Z2", "Z"), cyclic=cyclic,
                                             block_fraction=1.0), seed=3)
    batch = gen.batch(0, 64)
    assert batch.check().all()
    caps = []
    for i in range(len(batch)):
        t = np.abs(batch.tensors[i])
        used = sorted(int(np.count_nonzero(t.sum(axis=axes))) for axes in ((1, 2), (0, 2), (0, 1)))
        # a proper box leaves out a row or column index: two of A, B, C use at most 6
        # of their 9 entries (a 2×2 block of each when cyclic)
        assert used[1] <= (4 if cyclic else 6)
        caps.append(int(batch.ranks[i]))
    assert max(caps) <= (4 if cyclic else 18)
    plain = SyntheticGenerator(SyntheticConfig(targets=(target,), max_side=9, cyclic=cyclic), seed=3).batch(0, 64)
    assert max(int(np.count_nonzero(np.abs(t).sum(axis=(0, 1)))) for t in plain.tensors) == 9
    with pytest.raises(GameError, match="block_fraction"):
        SyntheticConfig(targets=(target,), block_fraction=2.0)


@pytest.mark.parametrize("dims, ring", [((2, 2, 3), "Z"), ((3, 3, 3), "Z2"), ((2, 3, 4), "Z"), ((4, 4, 4), "Z")])
def test_a_block_scheme_embeds_into_a_target_scheme(strassen, dims, ring):
    """A scheme of the box's own format, moved to the box's rows and columns with the
    naive terms outside it, is a scheme for the target: Strassen in a 2×2×2 box saves
    one product."""
    target = matmul_target(*dims)
    rng = np.random.default_rng(5)
    for _ in range(20):
        box = random_box(target, False, rng)
        shape = box_shape(box)
        block = strassen if shape == (2, 2, 2) else naive_scheme(matmul_target(*shape))
        embedded = embed_blocks(target, [(block.with_ring(ring), box)])
        assert embedded.target.key == target.key and embedded.verify().ok
        assert embedded.rank == target.naive_rank - (1 if shape == (2, 2, 2) else 0)


@pytest.mark.parametrize("ring", ["Z", "Z2"])
def test_two_strassens_side_by_side_make_14_for_2_2_4(strassen, ring):
    """<2,2,4> splits along its last side into two <2,2,2> boxes (any two columns and
    the other two): a Strassen in each is a scheme of rank 14."""
    target = matmul_target(2, 2, 4)
    full = np.arange(2)
    for cols in ([0, 1], [0, 2], [1, 3]):
        box = (full, full, np.array(cols))
        other = complement_box(target, box)
        assert other is not None and sorted(other[2].tolist()) == sorted(set(range(4)) - set(cols))
        scheme = embed_blocks(target, [(strassen.with_ring(ring), box), (strassen.with_ring(ring), other)])
        assert scheme.rank == 14 and scheme.verify().ok


def test_complement_is_a_box_only_when_the_box_spans_two_sides():
    target = matmul_target(3, 3, 3)
    assert complement_box(target, (np.arange(2), np.arange(2), np.arange(3))) is None
    got = complement_box(target, (np.arange(3), np.array([0, 2]), np.arange(3)))
    assert got is not None and [x.tolist() for x in got] == [[0, 1, 2], [1], [0, 1, 2]]
