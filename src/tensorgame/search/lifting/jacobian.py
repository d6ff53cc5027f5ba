"""The Brent equations' residual and the columns of their Jacobian, compiled.

Row (a, b, c) of the Jacobian is the equation for T[a, b, c]; column u_r[a'] holds
δ(a, a')·v_r[b]·w_r[c] (likewise for v and w), so it has nnz(v_r)·nnz(w_r) non-zeros.
Columns are generated one at a time from the factors: the solvers never hold the
whole matrix.
"""

from __future__ import annotations

import numpy as np
from numba import njit


def jacobian_shape(rank: int, dims: tuple[int, int, int]) -> tuple[int, int]:
    """(equations, unknowns) of the Jacobian of a rank-``rank`` scheme."""
    ni, nj, nk = dims
    return ni * nj * nk, rank * (ni + nj + nk)


@njit(cache=True)
def column_entries(u, v, w, j, p, rows_out, vals_out):  # pragma: no cover - compiled
    """Write column ``j``'s non-zero entries mod p (row, value) into the buffers
    (each at least max(nj·nk, ni·nk, ni·nj) long); returns how many."""
    rank, ni = u.shape
    nj, nk = v.shape[1], w.shape[1]
    n = 0
    if j < rank * ni:
        r, a = j // ni, j % ni
        for b in range(nj):
            if v[r, b] != 0:
                for c in range(nk):
                    x = v[r, b] * w[r, c] % p
                    if x != 0:
                        rows_out[n] = (a * nj + b) * nk + c
                        vals_out[n] = x
                        n += 1
    elif j < rank * (ni + nj):
        r, b = (j - rank * ni) // nj, (j - rank * ni) % nj
        for a in range(ni):
            if u[r, a] != 0:
                for c in range(nk):
                    x = u[r, a] * w[r, c] % p
                    if x != 0:
                        rows_out[n] = (a * nj + b) * nk + c
                        vals_out[n] = x
                        n += 1
    else:
        r, c = (j - rank * (ni + nj)) // nk, (j - rank * (ni + nj)) % nk
        for a in range(ni):
            if u[r, a] != 0:
                for b in range(nj):
                    x = u[r, a] * v[r, b] % p
                    if x != 0:
                        rows_out[n] = (a * nj + b) * nk + c
                        vals_out[n] = x
                        n += 1
    return n


@njit(cache=True)
def scaled_residual(u, v, w, tensor, q, pk, p):  # pragma: no cover - compiled
    """((T - Σ u⊗v⊗w) / p^k) mod p, computed mod q = p^(k+1) without overflow."""
    rank, ni = u.shape
    nj, nk = v.shape[1], w.shape[1]
    acc = np.zeros((ni, nj, nk), dtype=np.int64)
    for r in range(rank):
        for a in range(ni):
            ua = u[r, a]
            if ua == 0:
                continue
            for b in range(nj):
                uv = ua * v[r, b] % q
                if uv == 0:
                    continue
                for c in range(nk):
                    acc[a, b, c] = (acc[a, b, c] + uv * w[r, c]) % q
    out = np.empty(ni * nj * nk, dtype=np.int64)
    for a in range(ni):
        for b in range(nj):
            for c in range(nk):
                d = (tensor[a, b, c] - acc[a, b, c]) % q
                out[(a * nj + b) * nk + c] = (d // pk) % p
    return out


@njit(cache=True)
def exact_residual_is_zero(u, v, w, tensor):  # pragma: no cover - compiled
    """Σ u⊗v⊗w == T over Z; the caller bounds the coefficients so int64 cannot overflow."""
    rank, ni = u.shape
    nj, nk = v.shape[1], w.shape[1]
    acc = np.zeros((ni, nj, nk), dtype=np.int64)
    for r in range(rank):
        for a in range(ni):
            if u[r, a] != 0:
                for b in range(nj):
                    uv = u[r, a] * v[r, b]
                    if uv != 0:
                        for c in range(nk):
                            acc[a, b, c] += uv * w[r, c]
    for a in range(ni):
        for b in range(nj):
            for c in range(nk):
                if acc[a, b, c] != tensor[a, b, c]:
                    return False
    return True
