"""Exact linear algebra over prime fields and Q, compiled.

Shared by the canonical hash (ranks of factor matrices), Hensel lifting (inverses
mod p) and the game's terminal penalty (slice ranks).

Exactness over Z without big integers: rank_Q(M) equals the maximum of rank_p(M)
over primes p whose product exceeds the Hadamard bound H of M (product of the non-zero
row norms, or column norms, whichever is smaller). Indeed rank_p ≤ rank_Q always, and
a non-zero r×r minor D of M has |D| ≤ H < Π p, so some p in the list does not divide
D. The primes are just below 2^31 (products fit in int64), and the loop stops as soon
as the rank reaches min(non-zero rows, non-zero columns), which is the usual case, so
one prime almost always suffices. Over GF(2) rows are bit masks and elimination is a
few XORs per row.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: Primes just below 2^31, largest first; each contributes at least 30 bits.
PRIMES = np.array(
    [
        2147483647, 2147483629, 2147483587, 2147483579, 2147483563, 2147483549,
        2147483543, 2147483497, 2147483489, 2147483477, 2147483423, 2147483399,
        2147483353, 2147483323, 2147483269, 2147483249, 2147483237, 2147483179,
        2147483171, 2147483137, 2147483123, 2147483077, 2147483069, 2147483059,
        2147483053, 2147483033, 2147483029, 2147482951, 2147482949, 2147482943,
        2147482937, 2147482921, 2147482877, 2147482873, 2147482867, 2147482859,
        2147482819, 2147482817, 2147482811, 2147482801,
    ],
    dtype=np.int64,
)
P0 = 2147483647  # PRIMES[0] = 2^31 - 1
PRIME_BITS = 30.0  # floor(log2 p) for every prime above (all exceed 2^30)


@njit(cache=True)
def inv_mod(a, p):  # pragma: no cover - compiled
    """Inverse of a (0 < a < p) modulo the prime p by the extended Euclidean algorithm."""
    t, new_t = 0, 1
    r, new_r = p, a
    while new_r != 0:
        q = r // new_r
        t, new_t = new_t, t - q * new_t
        r, new_r = new_r, r - q * new_r
    if t < 0:
        t += p
    return t


@njit(cache=True)
def _rank_gf2(src, rows, cols, masks):  # pragma: no cover - compiled
    """Rank over GF(2) of src[:rows, :cols] (parity of the entries); cols <= 64."""
    n = 0
    for r in range(rows):
        m = np.uint64(0)
        for c in range(cols):
            if src[r, c] & 1:
                m |= np.uint64(1) << np.uint64(c)
        if m != 0:
            masks[n] = m
            n += 1
    rank = 0
    for c in range(cols):
        if rank == n:
            break
        bit = np.uint64(1) << np.uint64(c)
        piv = -1
        for r in range(rank, n):
            if masks[r] & bit:
                piv = r
                break
        if piv < 0:
            continue
        tmp = masks[rank]
        masks[rank] = masks[piv]
        masks[piv] = tmp
        for r in range(rank + 1, n):
            if masks[r] & bit:
                masks[r] ^= masks[rank]
        rank += 1
    return rank


@njit(cache=True, inline="always")
def _rank_mod_p_body(src, rows, cols, p, work):  # pragma: no cover - compiled
    """Rank of src[:rows, :cols] over the prime field Z_p (p < 2^31)."""
    for r in range(rows):
        for c in range(cols):
            work[r, c] = src[r, c] % p
    rank = 0
    for c in range(cols):
        if rank == rows:
            break
        piv = -1
        for r in range(rank, rows):
            if work[r, c] != 0:
                piv = r
                break
        if piv < 0:
            continue
        if piv != rank:
            for j in range(c, cols):
                tmp = work[rank, j]
                work[rank, j] = work[piv, j]
                work[piv, j] = tmp
        inv = inv_mod(work[rank, c], p)
        for j in range(c, cols):
            work[rank, j] = work[rank, j] * inv % p
        for r in range(rank + 1, rows):
            f = work[r, c]
            if f != 0:
                nf = p - f
                for j in range(c, cols):
                    work[r, j] = (work[r, j] + nf * work[rank, j]) % p
        rank += 1
    return rank


@njit(cache=True)
def rank_mod_p(src, rows, cols, p, work):  # pragma: no cover - compiled
    return _rank_mod_p_body(src, rows, cols, p, work)


@njit(cache=True)
def _rank_mod_p0(src, rows, cols, work):  # pragma: no cover - compiled
    """Same for the first prime, a compile-time constant: LLVM replaces % by a
    multiply-shift, ~1.5x faster on the usual one-prime path."""
    return _rank_mod_p_body(src, rows, cols, P0, work)


@njit(cache=True)
def _rank_rational(src, rows, cols, work, primes, prime_bits):  # pragma: no cover - compiled
    """Exact rank over Q of an integer matrix by the multi-prime argument (module doc)."""
    nz_rows = 0
    bits_rows = 0.0
    for r in range(rows):
        s = 0.0
        for c in range(cols):
            x = float(src[r, c])
            s += x * x
        if s > 0.0:
            nz_rows += 1
            bits_rows += 0.5 * np.log2(s)
    nz_cols = 0
    bits_cols = 0.0
    for c in range(cols):
        s = 0.0
        for r in range(rows):
            x = float(src[r, c])
            s += x * x
        if s > 0.0:
            nz_cols += 1
            bits_cols += 0.5 * np.log2(s)
    full = min(nz_rows, nz_cols)
    if full == 0:
        return 0
    need = min(bits_rows, bits_cols) + 1e-6
    best = 0
    have = 0.0
    for k in range(primes.shape[0]):
        if k == 0 and primes[0] == P0:
            rk = _rank_mod_p0(src, rows, cols, work)
        else:
            rk = rank_mod_p(src, rows, cols, primes[k], work)
        if rk > best:
            best = rk
        if best == full:
            return best
        have += prime_bits
        if have > need:
            return best
    return full  # not certified: fall back to the trivial (still correct) upper bound


@njit(cache=True)
def matrix_rank_kernel(src, rows, cols, p, work, masks, primes, prime_bits):  # pragma: no cover
    if p == 0:
        return _rank_rational(src, rows, cols, work, primes, prime_bits)
    if p == 2 and cols <= 64:
        return _rank_gf2(src, rows, cols, masks)
    return rank_mod_p(src, rows, cols, p, work)
