"""The walk over factors wider than one word: W = ceil(length / 64) uint64 words a mask.

Why a second path next to ``_structure`` / ``_kernel``: there a factor is a pair of
uint64 scalars that lives in registers. This path run at W = 1 walks exactly the same
trajectory (a test checks it) at a third of the speed (<4,4,4> over Z2, seeded, 10^7
attempts, CPU time: 3.9 vs 10-12 M/s), so the one-word kernels stay and this path serves W > 1 (any W:
written once, generic). It shares everything that does not touch factor values:
the group bookkeeping, dup list, histogram and worklist of ``_structure``, pair
sampling of ``_kernel``, the ring arithmetic of ``_ring_ops`` (applied word by word)
and the generator.

Layout: ``S = (I, K, G)`` from ``_structure.allocate`` given (3, R, W) masks: K is
(12, width, W) with the rows of ``_structure`` and G holds int32 term ids (it is
3·RMAX² entries: 200 MB for the naive <16,16,16>). A factor is addressed by a row and a column: its non-zero words are
``K[row, col]`` and its sign words ``K[row + 3, col]`` (NZ/SG and HNZ/HSG are 3 rows
apart). Sums are computed into scratch columns RMAX + t of the factor rows.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tensorgame.search.flipgraph._kernel import _PLUS_TRIES, other_pair, sample_pair
from tensorgame.search.flipgraph._ring_ops import (
    _GOLDEN,
    _MIX2,
    HOT,
    NJIT,
    ONE,
    RING_Z2,
    RING_Z3,
    RING_ZT,
    ZERO,
    add,
    next_u64,
)
from tensorgame.search.flipgraph._structure import (
    GSIZE,
    HGRP,
    HMASK,
    HNZ,
    META,
    NDUP,
    NWL,
    NZ,
    RANK,
    RING,
    RMAX,
    SC,
    SHIFT,
    TGRP,
    WL_POS,
    WL_TERM,
    clear_groups,
    drop_last,
    enter,
    exit_group,
    free_group,
    move_last,
    new_group,
    push,
)

#: Scratch columns (beyond RMAX) for sums in progress.
_T0, _T1, _T2 = 0, 1, 2


# --- factors as (row, column) in K --------------------------------------------------------------
@njit(**NJIT)
def _eq(K, a: int, ca: int, b: int, cb: int) -> bool:
    for w in range(K.shape[2]):
        if K[a, ca, w] != K[b, cb, w] or K[a + 3, ca, w] != K[b + 3, cb, w]:
            return False
    return True


@njit(**NJIT)
def _copy(K, d: int, cd: int, s: int, cs: int) -> None:
    for w in range(K.shape[2]):
        K[d, cd, w] = K[s, cs, w]
        K[d + 3, cd, w] = K[s + 3, cs, w]


@njit(**NJIT)
def _is_zero(K, a: int, ca: int) -> bool:
    for w in range(K.shape[2]):
        if K[a, ca, w]:
            return False
    return True


@njit(**NJIT)
def _hash(K, a: int, ca: int, shift) -> int:
    """Home slot of a factor (one word: the one-word engine's Fibonacci hash)."""
    h = ZERO
    for w in range(K.shape[2]):
        h = (h ^ K[a, ca, w] ^ (K[a + 3, ca, w] * _MIX2)) * _GOLDEN
    return np.int64(h >> shift)


@njit(**NJIT)
def _add(ring: int, K, d: int, cd: int, x: int, cx: int, y: int, cy: int, negate: bool) -> bool:
    """Factor (d, cd) = x + y (x − y when ``negate``), word by word; False when the sum
    leaves the ternary range (ZT only; (d, cd), a scratch column, is then undefined)."""
    for w in range(K.shape[2]):
        ok, nz, sg = add(ring, K[x, cx, w], K[x + 3, cx, w], K[y, cy, w], K[y + 3, cy, w], negate)
        if not ok:
            return False
        K[d, cd, w] = nz
        K[d + 3, cd, w] = sg
    return True


@njit(**NJIT)
def _canon(ring: int, K, a: int, ca: int) -> int:
    """Scale a factor in place so its first non-zero coordinate is +1; returns the unit."""
    if ring == RING_Z2:
        return 1
    for w in range(K.shape[2]):
        nz = K[a, ca, w]
        if nz:
            if K[a + 3, ca, w] & nz & (~nz + ONE):
                for v in range(w, K.shape[2]):
                    K[a + 3, ca, v] ^= K[a, ca, v]
                return -1
            return 1
    return 1


# --- the candidate structure (``_structure``, with factors by address) -------------------------------
@njit(**NJIT)
def _lookup(I, K, p: int, a: int, ca: int):
    """Slot holding factor (a, ca) at position p, or the empty slot for it: ``(slot, found)``."""
    mask = I[META, HMASK]
    h = _hash(K, a, ca, np.uint64(I[META, SHIFT]))
    while I[HGRP + p, h] >= 0:
        if _eq(K, HNZ + p, h, a, ca):
            return h, True
        h = (h + 1) & mask
    return h, False


@njit(**HOT)
def _hash_delete(I, K, p: int, a: int, ca: int) -> None:
    """Remove a key, shifting later entries of its probe run back into the hole."""
    mask = I[META, HMASK]
    shift = np.uint64(I[META, SHIFT])
    hole, _ = _lookup(I, K, p, a, ca)
    j = hole
    while True:
        j = (j + 1) & mask
        if I[HGRP + p, j] < 0:
            break
        home = _hash(K, HNZ + p, j, shift)
        if ((j - home) & mask) >= ((j - hole) & mask):
            _copy(K, HNZ + p, hole, HNZ + p, j)
            I[HGRP + p, hole] = I[HGRP + p, j]
            hole = j
    I[HGRP + p, hole] = -1


@njit(**HOT)
def join(S, p: int, i: int) -> None:
    """Enter term i's current factor at position p into its group."""
    I, K, G = S
    h, found = _lookup(I, K, p, NZ + p, i)
    if found:
        g = I[HGRP + p, h]
    else:
        g = new_group(I, p)
        _copy(K, HNZ + p, h, NZ + p, i)
        I[HGRP + p, h] = g
    enter(I, G, p, i, g)


@njit(**HOT)
def leave(S, p: int, i: int) -> None:
    """Take term i out of its group at position p (its factor must still be the old one)."""
    I, K, G = S
    if exit_group(I, G, p, i) == 1:
        _hash_delete(I, K, p, NZ + p, i)
        free_group(I, p, I[TGRP + p, i])
    I[TGRP + p, i] = -1


@njit(**HOT)
def set_factor(S, p: int, i: int, a: int, ca: int) -> None:
    """Term i's factor at position p becomes factor (a, ca), moving between groups
    (a term alone in its group that takes a new factor re-keys the group, as in
    ``_structure.set_factor``)."""
    I, K, G = S
    g = I[TGRP + p, i]
    if I[GSIZE + p, g] > 1:
        leave(S, p, i)
        _copy(K, NZ + p, i, a, ca)
        join(S, p, i)
        return
    _hash_delete(I, K, p, NZ + p, i)
    _copy(K, NZ + p, i, a, ca)
    h, found = _lookup(I, K, p, NZ + p, i)
    if not found:
        _copy(K, HNZ + p, h, NZ + p, i)
        I[HGRP + p, h] = g
        return
    exit_group(I, G, p, i)
    free_group(I, p, g)
    enter(I, G, p, i, I[HGRP + p, h])


@njit(**HOT)
def _sum_into(S, t: int, p: int, i: int, j: int, negate: bool) -> bool:
    """Scratch t = factor p of term i plus (``negate``: minus) factor p of term j."""
    I, K, _ = S
    return _add(I[META, RING], K, NZ + p, I[META, RMAX] + t, NZ + p, i, NZ + p, j, negate)


@njit(**HOT)
def _canon_tmp(S, t: int, p: int) -> int:
    I, K, _ = S
    return _canon(I[META, RING], K, NZ + p, I[META, RMAX] + t)


@njit(**HOT)
def _set_from_tmp(S, p: int, i: int, t: int) -> None:
    set_factor(S, p, i, NZ + p, S[0][META, RMAX] + t)


@njit(**NJIT)
def _set_from_tmp_call(S, p: int, i: int, t: int) -> None:
    """:func:`_set_from_tmp` as a call, for the paths off the flip (``_structure.set_factor_call``)."""
    _set_from_tmp(S, p, i, t)


@njit(**NJIT)
def _join_call(S, p: int, i: int) -> None:
    """:func:`join` as a call, likewise."""
    join(S, p, i)


@njit(**NJIT)
def remove_term(S, i: int) -> None:
    """Delete term i; the last term moves into its slot (worklist entries follow it)."""
    I, K, G = S
    for p in range(3):
        leave(S, p, i)
    last = I[META, RANK] - 1
    if i != last:
        move_last(I, G, i, last)
        for p in range(3):
            _copy(K, NZ + p, i, NZ + p, last)
    drop_last(I, i, last)


@njit(**NJIT)
def _merge(S, i: int, x: int, p: int, third: int) -> int:
    """Terms i and x share every position but ``third``: replace them by their sum
    (``_structure._merge``); returns the rank drop."""
    I = S[0]
    ring = I[META, RING]
    if I[TGRP + third, i] == I[TGRP + third, x]:
        if ring != RING_Z2 and I[SC, i] == I[SC, x]:
            if ring != RING_Z3:
                return 0
            I[SC, i] = -I[SC, i]
            remove_term(S, x)
            return 1
        remove_term(S, max(i, x))
        remove_term(S, min(i, x))
        return 2
    if not _sum_into(S, _T0, third, i, x, I[SC, i] != I[SC, x]):
        return 0
    unit = _canon_tmp(S, _T0, third)
    _set_from_tmp_call(S, third, i, _T0)
    I[SC, i] *= unit
    push(I, i, p)
    push(I, i, third)
    remove_term(S, x)
    return 1


@njit(**NJIT)
def _try_merge(S, i: int, p: int) -> int:
    """Merge term i with a term sharing its factor at p and one more factor."""
    I, _, G = S
    p1 = (p + 1) % 3
    p2 = (p + 2) % 3
    g = I[TGRP + p, i]
    row = p * I[META, RMAX] + g
    for k in range(I[GSIZE + p, g]):
        x = G[row, k]
        if x == i:
            continue
        if I[TGRP + p1, x] == I[TGRP + p1, i]:
            drop = _merge(S, i, x, p, p2)
            if drop:
                return drop
        if I[TGRP + p2, x] == I[TGRP + p2, i]:
            drop = _merge(S, i, x, p, p1)
            if drop:
                return drop
    return 0


@njit(**HOT)
def reduce_pending(S) -> int:
    """Run the worklist (``_structure.reduce_pending``); returns the rank drop."""
    I, K, _ = S
    drop = 0
    while I[META, NWL] > 0:
        k = I[META, NWL] - 1
        I[META, NWL] = k
        i, p = I[WL_TERM, k], I[WL_POS, k]
        if i < 0:
            continue
        if _is_zero(K, NZ + p, i):
            remove_term(S, i)
            drop += 1
        elif I[GSIZE + p, I[TGRP + p, i]] > 1:
            drop += _try_merge(S, i, p)
    return drop


@njit(**NJIT)
def build(S) -> int:
    """(Re)build the candidate structure from the terms and reduce; returns the rank drop."""
    I = S[0]
    clear_groups(S)
    for i in range(I[META, RANK]):
        for p in range(3):
            join(S, p, i)
            push(I, i, p)
    return reduce_pending(S)


# --- moves (``_kernel``, with sums in scratch columns) ----------------------------------------------
@njit(**HOT)
def _flip(S, rng) -> bool:
    """One random flip (``_kernel._flip``)."""
    I = S[0]
    ring = I[META, RING]
    p, r, s = sample_pair(S, rng)
    bits = next_u64(rng)
    q = (p + 1 + np.int64(bits & np.uint64(1))) % 3
    t = 3 - p - q
    neg = (bits & np.uint64(2)) != 0
    for _ in range(2 if ring == RING_ZT else 1):
        ok1 = _sum_into(S, _T0, q, r, s, neg)
        mu_pos = neg == (I[SC, r] != I[SC, s])
        ok2 = ok1 and _sum_into(S, _T1, t, s, r, mu_pos)
        if ok2:
            ur = _canon_tmp(S, _T0, q)
            us = _canon_tmp(S, _T1, t)
            _set_from_tmp(S, q, r, _T0)
            _set_from_tmp(S, t, s, _T1)
            I[SC, r] *= ur
            I[SC, s] *= us
            push(I, r, q)
            push(I, s, t)
            return True
        neg = not neg
    return False


@njit(**NJIT)
def _plus(S, rng) -> bool:
    """Plus transition (rank +1, ``_kernel._plus``)."""
    I, K, _ = S
    rank = I[META, RANK]
    if rank < 2 or rank >= I[META, RMAX]:
        return False
    for _ in range(_PLUS_TRIES):
        r, s = other_pair(rng, rank)
        if (
            I[TGRP, r] == I[TGRP, s]
            or I[TGRP + 1, r] == I[TGRP + 1, s]
            or I[TGRP + 2, r] == I[TGRP + 2, s]
        ):
            continue
        bits = next_u64(rng)
        pa = np.int64(bits % np.uint64(3))
        pb = (pa + 1 + np.int64((bits >> np.uint64(2)) & np.uint64(1))) % 3
        pc = 3 - pa - pb
        mu_neg = (bits & np.uint64(8)) != 0
        nu_neg = (bits & np.uint64(16)) != 0
        kappa_pos = (mu_neg == nu_neg) == (I[SC, r] == I[SC, s])
        if not (_sum_into(S, _T0, pb, r, s, nu_neg) and _sum_into(S, _T1, pa, s, r, not mu_neg)
                and _sum_into(S, _T2, pc, r, s, kappa_pos)):
            continue
        n = rank
        u3 = _canon_tmp(S, _T2, pc)
        _copy(K, NZ + pa, n, NZ + pa, r)
        _copy(K, NZ + pb, n, NZ + pb, s)
        _copy(K, NZ + pc, n, NZ + pc, I[META, RMAX] + _T2)
        I[SC, n] = I[SC, r] * u3 * (1 if nu_neg else -1)
        u1 = _canon_tmp(S, _T0, pb)
        u2 = _canon_tmp(S, _T1, pa)
        _set_from_tmp_call(S, pb, r, _T0)
        _set_from_tmp_call(S, pa, s, _T1)
        I[SC, r] *= u1
        I[SC, s] *= u2
        I[META, RANK] = n + 1
        for p in range(3):
            _join_call(S, p, n)
            push(I, n, p)
        push(I, r, pb)
        push(I, s, pa)
        return True
    return False


@njit(**NJIT)
def _split(S, rng) -> bool:
    """Split (rank +1, ``_kernel._split``)."""
    I, K, _ = S
    ring = I[META, RING]
    rank = I[META, RANK]
    if rank < 2 or rank >= I[META, RMAX]:
        return False
    for _ in range(_PLUS_TRIES):
        r, s = other_pair(rng, rank)
        bits = next_u64(rng)
        p = np.int64(bits % np.uint64(3))
        if I[TGRP + p, r] == I[TGRP + p, s]:
            continue
        sigma_neg = ring != RING_Z2 and (bits & np.uint64(4)) != 0
        ok = _sum_into(S, _T0, p, r, s, not sigma_neg)
        if not ok:
            sigma_neg = not sigma_neg
            ok = _sum_into(S, _T0, p, r, s, not sigma_neg)
        if not ok:
            continue
        n = rank
        unit = _canon_tmp(S, _T0, p)
        for q in range(3):
            _copy(K, NZ + q, n, NZ + q, r)
        _copy(K, NZ + p, n, NZ + p, I[META, RMAX] + _T0)
        I[SC, n] = I[SC, r] * unit
        set_factor(S, p, r, NZ + p, s)
        if sigma_neg:
            I[SC, r] = -I[SC, r]
        I[META, RANK] = n + 1
        for q in range(3):
            _join_call(S, q, n)
        push(I, r, p)
        push(I, n, p)
        return True
    return False


@njit(**NJIT)
def _save(S, best_nz, best_sg, best_sc) -> None:
    I, K, _ = S
    for r in range(I[META, RANK]):
        for p in range(3):
            for w in range(K.shape[2]):
                best_nz[p, r, w] = K[NZ + p, r, w]
                best_sg[p, r, w] = K[NZ + 3 + p, r, w]
        best_sc[r] = I[SC, r]


@njit(**NJIT)
def _restore(S, best_nz, best_sg, best_sc, best_rank: int) -> None:
    I, K, _ = S
    I[META, RANK] = best_rank
    for r in range(best_rank):
        for p in range(3):
            for w in range(K.shape[2]):
                K[NZ + p, r, w] = best_nz[p, r, w]
                K[NZ + 3 + p, r, w] = best_sg[p, r, w]
        I[SC, r] = best_sc[r]
    build(S)


@njit(**NJIT)
def walk_kernel(S, rng, best_nz, best_sg, best_sc, best_rank: int, max_attempts: int,
                plateau_limit: int, plus_diff: int, target_rank: int, since: int, split: bool):
    """``_kernel.walk_kernel`` over wide factors (same arguments and results; ``best_*``
    masks are (3, RMAX, W))."""
    I = S[0]
    attempts = flips = drops = pluses = 0
    if I[META, RANK] < best_rank:
        best_rank = I[META, RANK]
        _save(S, best_nz, best_sg, best_sc)
    while attempts < max_attempts and best_rank > target_rank:
        attempts += 1
        stuck = I[META, NDUP] == 0
        if stuck or since >= plateau_limit:
            if I[META, RANK] < best_rank + plus_diff:
                if split and next_u64(rng) & np.uint64(1):
                    pluses += _split(S, rng)
                else:
                    pluses += _plus(S, rng)
                since = 0
            elif stuck:
                _restore(S, best_nz, best_sg, best_sc, best_rank)
                since = 0
                continue
        if I[META, NDUP] > 0:
            flips += _flip(S, rng)
            since += 1
        drop = reduce_pending(S)
        if drop:
            drops += drop
            since = 0
            if I[META, RANK] < best_rank:
                best_rank = I[META, RANK]
                _save(S, best_nz, best_sg, best_sc)
    return best_rank, attempts, flips, drops, pluses, since
