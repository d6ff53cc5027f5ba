"""Cyclic-symmetric moves for square matrix multiplication <n,n,n>.

σ maps a term (U, V, W) (n×n matrices, row-major vectors of length n²) to
(V, Wᵀ, Uᵀ); σ³ = 1 and σ maps the <n,n,n> tensor to itself (the same rotation as
:func:`tensorgame.tensors.symmetry.cyclic_rotation` and
:mod:`tensorgame.search.flipgraph.symmetric`). In a cyclic game a move is an orbit
*representative* t: it places t + σt + σ²t (three terms), or t alone when σt = t (a
*fixed* term, U = V = Wᵀ). Such games are a third as long: a σ-invariant rank-23
scheme of <3,3,3> (such schemes exist) is 7 orbits and 2 fixed terms (9 moves), the
naive 27 is 8 orbits and 3 fixed terms (11 moves); a network needs to learn 9 good
moves, not 23.

The orbit size does not depend on the ring (a fixed term counts once over Z and over
Z_p), so a game's rank is Σ over moves of 1 or 3, and a move's reward is minus that.
"""

from __future__ import annotations

import math

import numpy as np

from tensorgame.tensors.targets import Target


def applies(target: Target) -> bool:
    """Whether ``target`` has the cyclic symmetry moves rely on: square matmul <n,n,n>."""
    return target.is_matmul and len(set(target.params)) == 1


def transpose_index(rows: int, cols: int) -> np.ndarray:
    """idx with vec(Xᵀ) = vec(X)[idx] for a row-major rows×cols matrix X."""
    return np.arange(rows * cols).reshape(rows, cols).T.ravel()


def rotation_maps(n: int, m: int, p: int) -> tuple[tuple[int, np.ndarray], ...]:
    """σ of an <n,m,p> term (an <m,p,n> term (V, Wᵀ, Uᵀ)) as, per new factor, the
    source factor and the gather index into it."""
    return (1, np.arange(m * p)), (2, transpose_index(n, p)), (0, transpose_index(n, m))


def side_of(length: int) -> int:
    """n for factors of length n² (the sides of <n,n,n> are n²)."""
    n = math.isqrt(int(length))
    if n * n != int(length):
        raise ValueError(f"a factor of length {length} is not an n×n matrix")
    return n


def rotate(moves: np.ndarray, n: int) -> np.ndarray:
    """σ of moves (..., 3, S) of an <n,n,n> game: (V, Wᵀ, Uᵀ), padding kept zero."""
    out = np.zeros_like(moves)
    for f, (source, index) in enumerate(rotation_maps(n, n, n)):
        out[..., f, : n * n] = moves[..., source, index]
    return out


def is_fixed(moves: np.ndarray, n: int) -> np.ndarray:
    """bool (...): σt = t, so the move places one term instead of three."""
    return np.all(rotate(moves, n) == moves, axis=(-2, -1))


def orbit_sizes(moves: np.ndarray, n: int) -> np.ndarray:
    """Terms each move places: 1 (fixed) or 3; (...) int64."""
    return np.where(is_fixed(moves, n), 1, 3).astype(np.int64)


def naive_moves(n: int) -> int:
    """Moves of the naive symmetric scheme of <n,n,n>: the n³ - n terms
    e_ij⊗e_jk⊗e_ik with i, j, k not all equal form orbits of 3, the n terms with
    i = j = k are fixed (the step limit of a cyclic game)."""
    return (n ** 3 - n) // 3 + n


def orbit_terms(moves: np.ndarray, n: int) -> np.ndarray:
    """Every term the moves (R, 3, S) place: the moves, then σ and σ² of the
    non-fixed ones, (R', 3, S)."""
    moving = moves[~is_fixed(moves, n)]
    once = rotate(moving, n)
    return np.concatenate([moves, once, rotate(once, n)])


def expand(factors: np.ndarray, ranks: np.ndarray, dims: np.ndarray, cyclic: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """A padded batch of move lists (N, R, 3, S) as term lists (N, 3R, 3, S) with term
    counts (N,): rows flagged ``cyclic`` (sides ``dims`` = (n², n², n²)) get σ and σ² of
    every non-fixed move (zero terms elsewhere, which a sum ignores); other rows are
    kept as they are."""
    n_rows, pad, _, side = factors.shape
    out = np.zeros((n_rows, 3 * pad, 3, side), dtype=factors.dtype)
    out[:, :pad] = factors
    counts = np.asarray(ranks, dtype=np.int64).copy()
    flags = np.asarray(cyclic, dtype=bool)
    lengths = np.asarray(dims, dtype=np.int64)[:, 0]
    for length in np.unique(lengths[flags]):
        sel = np.flatnonzero(flags & (lengths == length))
        n = side_of(int(length))
        reps = factors[sel]
        fixed = is_fixed(reps, n)
        once = rotate(reps, n)
        twice = rotate(once, n)
        once[fixed] = 0
        twice[fixed] = 0
        out[sel, pad:2 * pad] = once
        out[sel, 2 * pad:] = twice
        counts[sel] = 3 * pad
    return out, counts


def representatives(u: np.ndarray, v: np.ndarray, w: np.ndarray, n: int) -> np.ndarray | None:
    """The moves (R, 3, n²) of a σ-invariant scheme of <n,n,n> given by its terms
    (one per orbit), or None when its terms are not a union of orbits."""
    terms = np.stack([u, v, w], axis=1).astype(np.int64)
    left: dict[bytes, int] = {}
    for t in terms:
        left[t.tobytes()] = left.get(t.tobytes(), 0) + 1
    reps = []
    for t in terms:
        key = t.tobytes()
        if left.get(key, 0) == 0:
            continue
        left[key] -= 1
        once = rotate(t, n)
        if np.array_equal(once, t):
            reps.append(t)
            continue
        for image in (once, rotate(once, n)):
            k = image.tobytes()
            if left.get(k, 0) == 0:
                return None
            left[k] -= 1
        reps.append(t)
    return np.asarray(reps, dtype=np.int64).reshape(-1, 3, n * n)
