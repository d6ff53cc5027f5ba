"""Compiled kernels of the batched step and the legal-move check.

One call handles the whole batch; per game the update visits only the (a, b) pairs
where u[a]·v[b] != 0 and, for those, the real w range, so sparse moves are cheap. The
count of non-zero residual entries is updated in the same pass, so "is the residual
zero?" costs nothing extra.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def legal_kernel(moves, dims, modulus, table, done, out):  # pragma: no cover - compiled
    """out[g] = move g uses only legal values, is zero in the padding and has three
    non-zero factors (finished games accept anything: their move is ignored)."""
    side = moves.shape[2]
    for g in range(moves.shape[0]):
        if done[g]:
            out[g] = True
            continue
        p = modulus[g]
        ok = True
        for f in range(3):
            d = dims[g, f]
            nonzero = False
            for x in range(side):
                val = moves[g, f, x]
                if x >= d:
                    if val != 0:
                        ok = False
                elif val != 0:
                    nonzero = True
                    if not table[val + 128]:
                        ok = False
                    elif p > 0 and (val < 0 or val >= p):
                        ok = False
            if not nonzero:
                ok = False
        out[g] = ok


@njit(cache=True, inline="always")
def _subtract(residual, g, ni, nj, nk, p, u, v, w):  # pragma: no cover - compiled
    """residual[g] -= u⊗v⊗w in the game's ring; returns the change of its non-zero count."""
    delta = 0
    for a in range(ni):
        ua = np.int64(u[a])
        if ua == 0:
            continue
        for b in range(nj):
            uv = ua * np.int64(v[b])
            if uv == 0:
                continue
            if p == 0:
                for c in range(nk):
                    old = residual[g, a, b, c]
                    new = np.int64(old) - uv * np.int64(w[c])
                    residual[g, a, b, c] = new
                    delta += np.int64(new != 0) - np.int64(old != 0)
            elif p == 2:
                for c in range(nk):
                    old = residual[g, a, b, c]
                    new = (np.int64(old) - uv * np.int64(w[c])) & 1
                    residual[g, a, b, c] = new
                    delta += np.int64(new != 0) - np.int64(old != 0)
            else:
                for c in range(nk):
                    old = residual[g, a, b, c]
                    new = (np.int64(old) - uv * np.int64(w[c])) % p
                    residual[g, a, b, c] = new
                    delta += np.int64(new != 0) - np.int64(old != 0)
    return delta


@njit(cache=True)
def subtract_kernel(residual, nnz, dims, modulus, games, terms):  # pragma: no cover - compiled
    """Subtract terms[i] (3, S) from game games[i] (the extra terms of cyclic moves)."""
    for i in range(games.shape[0]):
        g = games[i]
        nnz[g] += _subtract(residual, g, dims[g, 0], dims[g, 1], dims[g, 2], modulus[g],
                            terms[i, 0], terms[i, 1], terms[i, 2])


@njit(cache=True)
def step_kernel(residual, nnz, history, played, step, limit, done, dims, modulus, moves,
                rewards, hit_limit):  # pragma: no cover - compiled
    """Subtract u⊗v⊗w from every unfinished game, record the move, update done."""
    h = history.shape[1]
    for g in range(residual.shape[0]):
        rewards[g] = 0
        hit_limit[g] = False
        if done[g]:
            continue
        nnz[g] += _subtract(residual, g, dims[g, 0], dims[g, 1], dims[g, 2], modulus[g],
                            moves[g, 0], moves[g, 1], moves[g, 2])
        for k in range(h - 1, 0, -1):
            for f in range(3):
                for x in range(moves.shape[2]):
                    history[g, k, f, x] = history[g, k - 1, f, x]
        s = step[g]
        for f in range(3):
            for x in range(moves.shape[2]):
                if h > 0:
                    history[g, 0, f, x] = moves[g, f, x]
                played[g, s, f, x] = moves[g, f, x]
        step[g] = s + 1
        rewards[g] = -1
        if nnz[g] == 0:
            done[g] = True
        elif s + 1 >= limit[g]:
            done[g] = True
            hit_limit[g] = True
