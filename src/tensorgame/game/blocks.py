"""Sub-boxes of a matrix product: the smaller products embedded in it.

A sub-box I' × J' × K' of the index ranges of <n,m,p> picks the naive terms
a_ij b_jk → c_ik with i ∈ I', j ∈ J', k ∈ K'; their sum is the product <|I'|,|J'|,|K'|>
embedded in the target, supported on the rows and columns the box names. The block
curriculum (:mod:`tensorgame.training.curriculum`) leaves such a block to play, and
block demonstrations (:mod:`tensorgame.game.synthetic`) are random decompositions
supported on one; both draw their boxes here.
"""

from __future__ import annotations

import numpy as np

from tensorgame.tensors.scheme import Scheme, naive_scheme
from tensorgame.tensors.targets import Target

Box = tuple[np.ndarray, np.ndarray, np.ndarray]


def smallest_side(side: int) -> int:
    """Smallest side a block may have along an axis of ``side``: 2 where the axis
    has it, because a product with a side of 1 has no scheme below its naive rank
    (a block of it has nothing to teach)."""
    return min(2, side)


def random_box(target: Target, cyclic: bool, rng: np.random.Generator) -> Box | None:
    """A random proper sub-box of a matrix product's index ranges (each side drawn
    uniformly from :func:`smallest_side` to the full side, the whole box excluded);
    with ``cyclic``, I' = J' = K', which the cyclic shift keeps. None when the target
    has none (not a matrix product, or no side of 3 or more: <2,2,2> holds no
    smaller product worth playing)."""
    if not target.is_matmul:
        return None
    sides = tuple(int(d) for d in target.params)
    if max(sides) < 3:
        return None
    if cyclic:
        n = sides[0]
        chosen = np.sort(rng.choice(n, size=int(rng.integers(smallest_side(n), n)), replace=False))
        return chosen, chosen, chosen
    while True:
        box = tuple(np.sort(rng.choice(d, size=int(rng.integers(smallest_side(d), d + 1)), replace=False))
                    for d in sides)
        if any(len(b) < d for b, d in zip(box, sides)):
            return box  # type: ignore[return-value]


def box_shape(box: Box) -> tuple[int, int, int]:
    """The format the box embeds."""
    return len(box[0]), len(box[1]), len(box[2])


def term_triples(target: Target, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(i, j, k) of naive-like terms e_(i,j) ⊗ e_(j,k) ⊗ ·, read off their first two
    factors (rows of u and v, zero-padded past the target's sides allowed), (R, 3)."""
    _, m, p = target.params
    a = np.argmax(np.asarray(u) != 0, axis=1)
    b = np.argmax(np.asarray(v) != 0, axis=1)
    return np.stack([a // m, a % m, b % p], axis=1)


def in_box(triples: np.ndarray, box: Box) -> np.ndarray:
    """bool per triple: whether it lies inside the box."""
    inside = np.ones(len(triples), dtype=bool)
    for axis, chosen in enumerate(box):
        inside &= np.isin(triples[:, axis], chosen)
    return inside


def box_support(naive: Scheme, box: Box) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per factor, which entries the embedded product touches (bool, the target's
    sides): the union of the supports of the target's naive terms (``naive``, its
    :func:`naive_scheme`) inside the box."""
    inside = in_box(term_triples(naive.target, naive.u, naive.v), box)
    return tuple(np.any(np.asarray(x)[inside] != 0, axis=0)  # type: ignore[return-value]
                 for x in (naive.u, naive.v, naive.w))


def complement_box(target: Target, box: Box) -> Box | None:
    """The naive terms outside ``box`` as a box of their own, where they form one: the
    box spans two of the three index ranges and part of the third (<2,2,4> is two
    <2,2,2> side by side); None otherwise."""
    sides = tuple(int(d) for d in target.params)
    partial = [axis for axis, (chosen, d) in enumerate(zip(box, sides)) if len(chosen) < d]
    if len(partial) != 1:
        return None
    axis = partial[0]
    rest = np.setdiff1d(np.arange(sides[axis]), box[axis])
    return tuple(rest if a == axis else np.asarray(box[a]) for a in range(3))  # type: ignore[return-value]


def embed_blocks(target: Target, blocks: list[tuple[Scheme, Box]]) -> Scheme:
    """A scheme for the target from schemes of the products disjoint boxes embed (each
    played on its own board, its own sides): each term's entries moved to its box's
    rows and columns, plus the target's naive terms outside every box. Exact when the
    blocks are (the caller verifies it all the same)."""
    n, m, p = (int(d) for d in target.params)
    ring = blocks[0][0].ring
    parts: list[list[np.ndarray]] = [[], [], []]
    naive = naive_scheme(target, ring)
    outside = np.ones(naive.rank, dtype=bool)
    triples = term_triples(target, naive.u, naive.v)
    for block, box in blocks:
        rows = [(box[0], box[1], n, m), (box[1], box[2], m, p), (box[0], box[2], n, p)]
        for f, (x, (ri, ci, height, width)) in enumerate(zip(block.terms_matrices(), rows)):
            big = np.zeros((block.rank, height, width), dtype=np.int64)
            big[:, np.asarray(ri)[:, None], np.asarray(ci)[None, :]] = x
            parts[f].append(big.reshape(block.rank, -1))
        outside &= ~in_box(triples, box)
    for f, x in enumerate((naive.u, naive.v, naive.w)):
        parts[f].append(np.asarray(x)[outside])
    return Scheme(target, ring, *(np.concatenate(part) for part in parts))
