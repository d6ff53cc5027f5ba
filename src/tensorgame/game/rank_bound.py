"""A cheap, exact upper bound on the rank of a residual tensor (the terminal penalty).

Bound used: the smallest, over the three modes, of the sum of the ranks of the slice
matrices of that mode,

    bound(R) = min( Σ_a rank R[a,:,:],  Σ_b rank R[:,b,:],  Σ_c rank R[:,:,c] ),

with matrix ranks taken in the game's ring. Why it is an upper bound on the tensor
rank: a slice matrix M_a of rank r is a sum of r rank-one matrices x_i y_iᵀ, and then
e_a ⊗ x_i ⊗ y_i are rank-one tensors summing to the slice; doing this for every slice
of one mode decomposes R. The factors stay in the ring:

* over Z2 (and Z_p) Gaussian elimination over the field gives the r rank-one terms;
* over Z the rank is the rank over Q, and the Smith normal form M = P·D·Q (P, Q
  unimodular, D diagonal with r non-zero entries) writes M as r *integer* rank-one
  matrices d_i p_i q_iᵀ, so the bound holds for integer decompositions too.

It is never larger than the number of non-zero fibres (the naive algorithm), equals
n·m·p for the matmul tensor <n,m,p>, and is zero exactly for the zero tensor.
(Flattening ranks, by contrast, are *lower* bounds on the tensor rank and so cannot
serve as a penalty that a finished game must at least pay.)

Ranks are exact in the game's ring (see :mod:`tensorgame.tensors.modular`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tensorgame.tensors.modular import PRIME_BITS, PRIMES, matrix_rank_kernel


@njit(cache=True)
def _mode_sums_kernel(residual, dims, modulus, primes, prime_bits, out, stop_early):  # pragma: no cover
    """out[g, mode] = Σ slice ranks of game g in that mode (partial sums may stop at the
    running minimum when stop_early, which is all the bound needs)."""
    side = residual.shape[1]
    src = np.zeros((side, side), dtype=np.int64)
    work = np.zeros((side, side), dtype=np.int64)
    masks = np.zeros(side, dtype=np.uint64)
    for g in range(residual.shape[0]):
        ni, nj, nk = dims[g, 0], dims[g, 1], dims[g, 2]
        p = modulus[g]
        best = ni * nj * nk + 1
        for mode in range(3):
            if mode == 0:
                n_slices, rows, cols = ni, nj, nk
            elif mode == 1:
                n_slices, rows, cols = nj, ni, nk
            else:
                n_slices, rows, cols = nk, ni, nj
            total = 0
            for s in range(n_slices):
                for r in range(rows):
                    for c in range(cols):
                        if mode == 0:
                            src[r, c] = residual[g, s, r, c]
                        elif mode == 1:
                            src[r, c] = residual[g, r, s, c]
                        else:
                            src[r, c] = residual[g, r, c, s]
                total += matrix_rank_kernel(src, rows, cols, p, work, masks, primes, prime_bits)
                if stop_early and total >= best:
                    break
            out[g, mode] = total
            if total < best:
                best = total


def _as_batch(residual: np.ndarray, dims, modulus) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    arr = np.asarray(residual)
    single = arr.ndim == 3
    if single:
        arr = arr[None]
    if arr.ndim != 4:
        raise ValueError(f"expected a tensor (I,J,K) or a batch (N,S,S,S), got shape {arr.shape}")
    if arr.dtype.kind not in "iub":
        raise ValueError(f"residuals must be integer arrays, got {arr.dtype}")
    n = arr.shape[0]
    if dims is None:
        d = np.broadcast_to(np.asarray(arr.shape[1:], dtype=np.int64), (n, 3))
    else:
        d = np.asarray(dims, dtype=np.int64).reshape(-1, 3)
        d = np.broadcast_to(d, (n, 3))
        if (d > np.asarray(arr.shape[1:])).any() or (d < 0).any():
            raise ValueError("dims exceed the residual's shape")
    side = max(arr.shape[1:]) if arr.size else 0
    if arr.shape[1:] != (side, side, side):
        padded = np.zeros((n, side, side, side), dtype=arr.dtype)
        padded[:, : arr.shape[1], : arr.shape[2], : arr.shape[3]] = arr
        arr = padded
    mod = np.broadcast_to(np.asarray(modulus, dtype=np.int64).reshape(-1), (n,))
    return np.ascontiguousarray(arr), np.ascontiguousarray(d), np.ascontiguousarray(mod), single


def mode_slice_rank_sums(residual: np.ndarray, dims=None, modulus=0) -> np.ndarray:
    """Σ of slice ranks for each of the three modes: shape (3,) or (N, 3) for a batch.

    ``modulus`` is 0 for Z (ranks over Q) or a prime p (ranks over Z_p), per game or
    shared; ``dims`` (N, 3) restricts each game to its real (unpadded) sides.
    """
    arr, d, mod, single = _as_batch(residual, dims, modulus)
    out = np.zeros((arr.shape[0], 3), dtype=np.int64)
    _mode_sums_kernel(arr, d, mod, PRIMES, PRIME_BITS, out, False)
    return out[0] if single else out


def rank_upper_bound(residual: np.ndarray, dims=None, modulus=0) -> np.ndarray | int:
    """Upper bound on the rank of each residual in its ring (see the module doc).

    Accepts one tensor (I, J, K) -> int, or a padded batch (N, S, S, S) with per-game
    ``dims`` (N, 3) and ``modulus`` (N,) (0 = Z, p = Z_p) -> int64 array (N,).
    """
    arr, d, mod, single = _as_batch(residual, dims, modulus)
    out = np.zeros((arr.shape[0], 3), dtype=np.int64)
    _mode_sums_kernel(arr, d, mod, PRIMES, PRIME_BITS, out, True)
    bound = out.min(axis=1)
    return int(bound[0]) if single else bound


def matrix_rank(matrix: np.ndarray, modulus: int = 0) -> int:
    """Exact rank of an integer matrix over Q (modulus 0) or over Z_p (modulus p)."""
    m = np.asarray(matrix)
    if m.ndim != 2 or m.dtype.kind not in "iub":
        raise ValueError("matrix_rank expects a 2-D integer array")
    rows, cols = m.shape
    side = max(rows, cols, 1)
    src = np.zeros((side, side), dtype=np.int64)
    src[:rows, :cols] = m
    work = np.zeros((side, side), dtype=np.int64)
    masks = np.zeros(side, dtype=np.uint64)
    return int(matrix_rank_kernel(src, rows, cols, int(modulus), work, masks, PRIMES, PRIME_BITS))


def _gf_rank_factors(matrix: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
    """M = C·R over GF(p) with r = rank M columns in C and rows in R: R is the reduced
    row echelon form's non-zero rows and C the pivot columns of M."""
    m = np.mod(matrix.astype(np.int64), p)
    rref = m.copy()
    pivots: list[int] = []
    row = 0
    for col in range(rref.shape[1]):
        hits = np.flatnonzero(rref[row:, col]) + row if row < rref.shape[0] else np.empty(0, int)
        if hits.size == 0:
            continue
        rref[[row, hits[0]]] = rref[[hits[0], row]]
        rref[row] = rref[row] * pow(int(rref[row, col]), -1, p) % p
        others = np.flatnonzero(rref[:, col])
        others = others[others != row]
        rref[others] = (rref[others] - np.outer(rref[others, col], rref[row])) % p
        pivots.append(col)
        row += 1
    return m[:, pivots], rref[: len(pivots)]


def slice_completion(residual: np.ndarray, modulus: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The decomposition behind :func:`rank_upper_bound`, made explicit over Z_p:
    factors (u, v, w), each (bound, side), whose rank-one terms sum to ``residual``
    (I, J, K) mod p, taken from the mode with the smallest sum of slice ranks.

    This turns an unfinished game into a complete scheme (its moves plus these terms),
    the scheme the terminal penalty stands for. Over Z the bound rests on the Smith
    normal form, which is not built here: ``modulus`` must be a prime.
    """
    if modulus < 2:
        raise ValueError("slice_completion works over Z_p (a prime modulus)")
    res = np.mod(np.asarray(residual, dtype=np.int64), modulus)
    sums = mode_slice_rank_sums(res, modulus=modulus)
    mode = int(np.argmin(sums))
    moved = np.moveaxis(res, mode, 0)  # slices along axis 0; the other two keep their order
    order = [1, 2]  # factor of each of (u, v, w): axis 0 of `moved` is the residual's `mode`
    order.insert(mode, 0)
    parts: list[list[np.ndarray]] = [[], [], []]
    for a in range(moved.shape[0]):
        cols, rows = _gf_rank_factors(moved[a], modulus)
        for i in range(rows.shape[0]):
            unit = np.zeros(moved.shape[0], dtype=np.int64)
            unit[a] = 1
            factors = [unit, cols[:, i], rows[i]]
            for axis in range(3):
                parts[axis].append(factors[order[axis]])
    sizes = res.shape
    return tuple(np.array(parts[axis], dtype=np.int64).reshape(-1, sizes[axis]) for axis in range(3))
