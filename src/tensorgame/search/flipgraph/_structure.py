"""The walk's mutable state: terms plus the flip-candidate structure, kept incrementally.

For each position p (u, v, w) the terms are partitioned into *groups* of equal
(canonical) factors. A group is found from a factor value through an open-addressing
hash table (linear probing, backward-shift deletion), so moving a term between groups
costs O(1) expected instead of a scan of all R terms. Flip partners are the pairs
inside a group. To sample one uniformly we keep

* the *dup list*: every (term, position) slot whose group has >= 2 members;
* ``HIST`` and ``MAXSIZE``: the number of groups of each size and the largest size
  (sizes change by one at a time, so the maximum is exact).

A pair is drawn by picking a slot from the dup list and an index j < MAXSIZE - 1,
rejecting j >= (group size - 1): every ordered pair then has the same probability.

Reductions rely on an invariant: no two terms share two factors. After any change the
changed (term, position) slots go on a worklist; only their groups are searched for
merge partners, comparing group ids rather than factor values.

Layout. The state is three arrays ``S = (I, K, G)`` whose rows are the fields named
below (``I[TGRP + p, i]`` is the group of term i at position p):

* ``I`` int64 (ROWS, width): scalars (row META), term units, groups, hash values, dup
  list, size histogram, worklist;
* ``K`` uint64 (12, width): factor masks and hash keys (``_wide``: (12, width, words));
* ``G`` int64 (3·RMAX, RMAX): members of group g at position p in row p·RMAX + g.

Few arrays matter: numba passes each array as ~10 scalars to every call. All compiled
functions are built without numba's reference counting (``_nrt=False``): the arrays
are owned by Python, and refcount traffic on every array access was 13x slower.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tensorgame.search.flipgraph._ring_ops import HOT, NJIT, RING_Z2, RING_Z3, add, canon, hash_slot

# Rows of I.
META, SC, TGRP, TPOS, GSIZE, GFREE, HGRP, DUPIDX, DUPLIST, HIST, WL_TERM, WL_POS = (
    0, 1, 2, 5, 8, 11, 14, 17, 20, 21, 22, 23
)
ROWS = 24
# Rows of K.
NZ, SG, HNZ, HSG = 0, 3, 6, 9
# Columns of I[META].
RANK, RMAX, NDUP, MAXSIZE, SHIFT, HMASK, NFREE, RING, NWL = 0, 1, 2, 3, 4, 5, 6, 9, 10


def table_width(rmax: int) -> int:
    """Columns of I and K: the hash slots (load below 1/4), which also fit the worklist
    (4·rmax + 16 entries)."""
    return 1 << max(6, int(4 * rmax + 15).bit_length())


def allocate(ring: int, nz: np.ndarray, sg: np.ndarray, sc: np.ndarray, rmax: int) -> tuple:
    """State arrays for a walk over at most ``rmax`` terms, holding the given terms:
    (3, R) masks for these kernels, (3, R, W) for those of ``_wide`` (whose K has a
    third axis of W words and whose G holds int32 ids: it is 3·RMAX² entries).

    Call :func:`build` before walking.
    """
    width = table_width(rmax)
    I = np.zeros((ROWS, width), dtype=np.int64)
    I[META, RMAX], I[META, RING] = rmax, ring
    I[META, SHIFT], I[META, HMASK] = 65 - width.bit_length(), width - 1
    ids = np.int32 if nz.ndim == 3 else np.int64
    S = (I, np.zeros((12, width) + nz.shape[2:], dtype=np.uint64), np.zeros((3 * rmax, rmax), dtype=ids))
    load_terms(S, nz, sg, sc)
    return S


def load_terms(S: tuple, nz: np.ndarray, sg: np.ndarray, sc: np.ndarray) -> None:
    """Replace the terms (the structure is stale until :func:`build`)."""
    I, K, _ = S
    rank = nz.shape[1]
    if rank > I[META, RMAX]:
        raise ValueError(f"rank {rank} exceeds the capacity {I[META, RMAX]}")
    I[META, RANK] = rank
    I[SC, :rank] = sc
    K[NZ : NZ + 3, :rank] = nz
    K[SG : SG + 3, :rank] = sg


def terms(S: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Copies of the current terms: (nz, sg, sc) (masks as in :func:`allocate`)."""
    I, K, _ = S
    r = int(I[META, RANK])
    return K[NZ : NZ + 3, :r].copy(), K[SG : SG + 3, :r].copy(), I[SC, :r].copy()


@njit(**NJIT)
def _lookup(I, K, p: int, knz, ksg):
    """Slot holding the key at position p, or the empty slot for it: ``(slot, found)``."""
    mask = I[META, HMASK]
    h = hash_slot(knz, ksg, np.uint64(I[META, SHIFT]))
    while I[HGRP + p, h] >= 0:
        if K[HNZ + p, h] == knz and K[HSG + p, h] == ksg:
            return h, True
        h = (h + 1) & mask
    return h, False


@njit(**HOT)
def _hash_delete(I, K, p: int, knz, ksg) -> None:
    """Remove a key, shifting later entries of its probe run back into the hole."""
    mask = I[META, HMASK]
    shift = np.uint64(I[META, SHIFT])
    hole, _ = _lookup(I, K, p, knz, ksg)
    j = hole
    while True:
        j = (j + 1) & mask
        if I[HGRP + p, j] < 0:
            break
        home = hash_slot(K[HNZ + p, j], K[HSG + p, j], shift)
        if ((j - home) & mask) >= ((j - hole) & mask):
            K[HNZ + p, hole] = K[HNZ + p, j]
            K[HSG + p, hole] = K[HSG + p, j]
            I[HGRP + p, hole] = I[HGRP + p, j]
            hole = j
    I[HGRP + p, hole] = -1


@njit(**NJIT)
def _dup_add(I, p: int, i: int) -> None:
    k = I[META, NDUP]
    I[DUPLIST, k] = (i << 2) | p
    I[DUPIDX + p, i] = k
    I[META, NDUP] = k + 1


@njit(**NJIT)
def _dup_remove(I, p: int, i: int) -> None:
    k = I[DUPIDX + p, i]
    last = I[META, NDUP] - 1
    e = I[DUPLIST, last]
    I[DUPLIST, k] = e
    I[DUPIDX + (e & 3), e >> 2] = k
    I[DUPIDX + p, i] = -1
    I[META, NDUP] = last


@njit(**NJIT)
def new_group(I, p: int) -> int:
    """A free group id at position p, emptied."""
    nf = I[META, NFREE + p] - 1
    I[META, NFREE + p] = nf
    g = I[GFREE + p, nf]
    I[GSIZE + p, g] = 0
    return g


@njit(**NJIT)
def enter(I, G, p: int, i: int, g: int) -> None:
    """Add term i to group g at position p (sizes, histogram, dup list); the factor
    bookkeeping (hash table) is the caller's."""
    n = I[GSIZE + p, g]
    row = p * I[META, RMAX] + g
    G[row, n] = i
    I[TPOS + p, i] = n
    I[TGRP + p, i] = g
    I[GSIZE + p, g] = n + 1
    I[HIST, n] -= 1
    I[HIST, n + 1] += 1
    if n + 1 > I[META, MAXSIZE]:
        I[META, MAXSIZE] = n + 1
    if n == 1:
        _dup_add(I, p, G[row, 0])
    if n >= 1:
        _dup_add(I, p, i)


@njit(**NJIT)
def exit_group(I, G, p: int, i: int) -> int:
    """Take term i out of its group's members (sizes, histogram, dup list); returns
    the group's old size. The caller frees an emptied group (:func:`free_group`)."""
    g = I[TGRP + p, i]
    row = p * I[META, RMAX] + g
    n = I[GSIZE + p, g]
    k = I[TPOS + p, i]
    last = G[row, n - 1]
    G[row, k] = last
    I[TPOS + p, last] = k
    I[GSIZE + p, g] = n - 1
    I[HIST, n] -= 1
    I[HIST, n - 1] += 1
    if n == I[META, MAXSIZE] and I[HIST, n] == 0 and n > 1:
        I[META, MAXSIZE] = n - 1
    if n >= 2:
        _dup_remove(I, p, i)
    if n == 2:
        _dup_remove(I, p, G[row, 0])
    return n


@njit(**NJIT)
def free_group(I, p: int, g: int) -> None:
    I[GFREE + p, I[META, NFREE + p]] = g
    I[META, NFREE + p] += 1


@njit(**HOT)
def join(S, p: int, i: int) -> None:
    """Enter term i's current factor at position p into its group."""
    I, K, G = S
    knz, ksg = K[NZ + p, i], K[SG + p, i]
    h, found = _lookup(I, K, p, knz, ksg)
    if found:
        g = I[HGRP + p, h]
    else:
        g = new_group(I, p)
        K[HNZ + p, h], K[HSG + p, h], I[HGRP + p, h] = knz, ksg, g
    enter(I, G, p, i, g)


@njit(**HOT)
def leave(S, p: int, i: int) -> None:
    """Take term i out of its group at position p (its factor must still be the old one)."""
    I, K, G = S
    if exit_group(I, G, p, i) == 1:
        _hash_delete(I, K, p, K[NZ + p, i], K[SG + p, i])
        free_group(I, p, I[TGRP + p, i])
    I[TGRP + p, i] = -1


@njit(**HOT)
def set_factor(S, p: int, i: int, nz, sg) -> None:
    """Replace term i's factor at position p, moving it between groups.

    The common case of a walk, a term alone in its group taking a factor no other
    term has, only re-keys the group's hash entry: sizes, histogram and dup list stay.
    """
    I, K, G = S
    g = I[TGRP + p, i]
    if I[GSIZE + p, g] > 1:
        leave(S, p, i)
        K[NZ + p, i] = nz
        K[SG + p, i] = sg
        join(S, p, i)
        return
    _hash_delete(I, K, p, K[NZ + p, i], K[SG + p, i])
    K[NZ + p, i] = nz
    K[SG + p, i] = sg
    h, found = _lookup(I, K, p, nz, sg)
    if not found:
        K[HNZ + p, h], K[HSG + p, h], I[HGRP + p, h] = nz, sg, g
        return
    exit_group(I, G, p, i)
    free_group(I, p, g)
    enter(I, G, p, i, I[HGRP + p, h])


@njit(**NJIT)
def set_factor_call(S, p: int, i: int, nz, sg) -> None:
    """:func:`set_factor` as a call, for the paths off the flip (plus transitions,
    splits, merges), where inlining it would cost compile time, not speed."""
    set_factor(S, p, i, nz, sg)


@njit(**NJIT)
def join_call(S, p: int, i: int) -> None:
    """:func:`join` as a call, likewise."""
    join(S, p, i)


@njit(**NJIT)
def factor_sum(S, p: int, i: int, j: int, negate: bool):
    """Factor p of term i plus (``negate``: minus) factor p of term j: (legal, nz, sg)."""
    I, K, _ = S
    return add(I[META, RING], K[NZ + p, i], K[SG + p, i], K[NZ + p, j], K[SG + p, j], negate)


@njit(**NJIT)
def push(I, i: int, p: int) -> None:
    """Schedule a reduction check of term i, whose factor at position p changed."""
    k = I[META, NWL]
    I[WL_TERM, k] = i
    I[WL_POS, k] = p
    I[META, NWL] = k + 1


@njit(**NJIT)
def move_last(I, G, i: int, last: int) -> None:
    """Term ``last`` takes slot i in the groups, the dup list and the scalars (its
    factors are the caller's to move)."""
    rmax = I[META, RMAX]
    for p in range(3):
        g, k = I[TGRP + p, last], I[TPOS + p, last]
        G[p * rmax + g, k] = i
        I[TGRP + p, i], I[TPOS + p, i] = g, k
        I[TGRP + p, last] = -1
        d = I[DUPIDX + p, last]
        if d >= 0:
            I[DUPLIST, d] = (i << 2) | p
            I[DUPIDX + p, i] = d
            I[DUPIDX + p, last] = -1
    I[SC, i] = I[SC, last]


@njit(**NJIT)
def drop_last(I, i: int, last: int) -> None:
    """The rank shrinks to ``last``; worklist entries of i die, those of ``last`` follow it to i."""
    I[META, RANK] = last
    for k in range(I[META, NWL]):
        if I[WL_TERM, k] == i:
            I[WL_TERM, k] = -1
        elif I[WL_TERM, k] == last:
            I[WL_TERM, k] = i


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
            K[NZ + p, i], K[SG + p, i] = K[NZ + p, last], K[SG + p, last]
    drop_last(I, i, last)


@njit(**NJIT)
def _merge(S, i: int, x: int, p: int, third: int) -> int:
    """Terms i and x share every position but ``third``: replace them by their sum.

    Returns the rank drop (0 when the sum leaves the ternary range, 2 when the two
    terms cancel).
    """
    I, K, _ = S
    ring = I[META, RING]
    if I[TGRP + third, i] == I[TGRP + third, x]:
        if ring != RING_Z2 and I[SC, i] == I[SC, x]:
            if ring != RING_Z3:
                return 0  # 2·term: not ternary
            I[SC, i] = -I[SC, i]  # 2·term = -term mod 3
            remove_term(S, x)
            return 1
        remove_term(S, max(i, x))
        remove_term(S, min(i, x))
        return 2
    # sc_i z_i + sc_x z_x = sc_i (z_i + sc_i sc_x z_x)
    ok, znz, zsg = factor_sum(S, third, i, x, I[SC, i] != I[SC, x])
    if not ok:
        return 0
    zsg, unit = canon(ring, znz, zsg)
    set_factor_call(S, third, i, znz, zsg)
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
    """Run the worklist: drop terms with a zero factor, merge pairs sharing two
    factors (repeatedly, as a merge changes a factor). Returns the rank drop."""
    I, K, _ = S
    drop = 0
    while I[META, NWL] > 0:
        k = I[META, NWL] - 1
        I[META, NWL] = k
        i, p = I[WL_TERM, k], I[WL_POS, k]
        if i < 0:
            continue
        if K[NZ + p, i] == 0:
            remove_term(S, i)
            drop += 1
        elif I[GSIZE + p, I[TGRP + p, i]] > 1:
            drop += _try_merge(S, i, p)
    return drop


@njit(**NJIT)
def clear_groups(S) -> None:
    """Empty the candidate structure (no term in any group, empty worklist)."""
    I = S[0]
    rmax = I[META, RMAX]
    width = I.shape[1]
    for c in range(width):
        I[HIST, c] = 0
        for p in range(3):
            I[HGRP + p, c] = -1
            I[TGRP + p, c] = -1
            I[DUPIDX + p, c] = -1
    I[META, NDUP] = 0
    I[META, MAXSIZE] = 1
    I[META, NWL] = 0
    for p in range(3):
        I[META, NFREE + p] = rmax
        for g in range(rmax):
            I[GFREE + p, g] = rmax - 1 - g


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
