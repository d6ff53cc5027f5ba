"""The compiled random walk: flips, reductions, plus transitions and splits.

Scalars are folded as in :mod:`._ring_ops`: term r is ``sc_r · u_r ⊗ v_r ⊗ w_r`` with
canonical factors. Every move below is an identity of sums of rank-one tensors, so the
scheme stays exact; the Python wrapper still re-verifies what it returns.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tensorgame.search.flipgraph._ring_ops import (
    HOT,
    NJIT,
    RING_Z2,
    RING_ZT,
    canon,
    high32,
    low32,
    next_u64,
    rand_below,
    scale32,
)
from tensorgame.search.flipgraph._structure import (
    DUPLIST,
    GSIZE,
    MAXSIZE,
    META,
    NDUP,
    NZ,
    RANK,
    RING,
    RMAX,
    SC,
    SG,
    TGRP,
    TPOS,
    build,
    factor_sum,
    join_call,
    push,
    reduce_pending,
    set_factor,
    set_factor_call,
)

#: Pairs drawn per plus transition before giving up (a ZT sum may be illegal).
_PLUS_TRIES = 64


@njit(**NJIT)
def sample_pair(S, rng):
    """A uniformly random ordered pair (r, s) of terms with equal factors at position p."""
    I, _, G = S
    rmax = I[META, RMAX]
    ndup = I[META, NDUP]
    others = I[META, MAXSIZE] - 1
    while True:
        bits = next_u64(rng)
        e = I[DUPLIST, scale32(low32(bits), ndup)]
        j = scale32(high32(bits), others)
        p = e & 3
        r = e >> 2
        g = I[TGRP + p, r]
        if j < I[GSIZE + p, g] - 1:
            if j >= I[TPOS + p, r]:
                j += 1
            return p, r, G[p * rmax + g, j]


@njit(**NJIT)
def other_pair(rng, rank: int):
    """Two distinct random terms."""
    r = rand_below(rng, rank)
    s = rand_below(rng, rank - 1)
    if s >= r:
        s += 1
    return r, s


@njit(**HOT)
def _flip(S, rng) -> bool:
    """One random flip:
    a⊗x_r⊗y_r + a⊗x_s⊗y_s -> a⊗(x_r + λx_s)⊗y_r + a⊗x_s⊗(y_s − λy_r).

    In ZT both signs of λ are tried (random order); False when neither stays ternary.
    Over Z3 λ ∈ {1, 2} = {1, -1} is drawn at random and every flip is legal.
    """
    I, K, _ = S
    ring = I[META, RING]
    p, r, s = sample_pair(S, rng)
    bits = next_u64(rng)
    q = (p + 1 + np.int64(bits & np.uint64(1))) % 3  # position that receives the "+"
    t = 3 - p - q
    neg = (bits & np.uint64(2)) != 0  # λ = -1
    for _ in range(2 if ring == RING_ZT else 1):
        ok1, xnz, xsg = factor_sum(S, q, r, s, neg)
        # scalars folded into y: sc_s y_s − λ sc_r y_r = sc_s (y_s − μ y_r), μ = λ sc_r sc_s
        mu_pos = neg == (I[SC, r] != I[SC, s])
        ok2, ynz, ysg = factor_sum(S, t, s, r, mu_pos)
        if ok1 and ok2:
            xsg, ur = canon(ring, xnz, xsg)
            ysg, us = canon(ring, ynz, ysg)
            set_factor(S, q, r, xnz, xsg)
            set_factor(S, t, s, ynz, ysg)
            I[SC, r] *= ur
            I[SC, s] *= us
            push(I, r, q)
            push(I, s, t)
            return True
        neg = not neg
    return False


@njit(**NJIT)
def _plus(S, rng) -> bool:
    """Plus transition (rank +1) on two terms sharing no factor:

    (a,b,C) + (a',b',C') = (a, b+b', C) + (a'−a, b', C') + (a, b', C'−C),

    with the roles of the positions, and the signs μ, ν of a', b' in ZT, drawn at random.
    """
    I, K, _ = S
    ring = I[META, RING]
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
        # b + νb',  a' − μa,  c − κc' with κ = μν·sc_r·sc_s
        ok1, bnz, bsg = factor_sum(S, pb, r, s, nu_neg)
        ok2, anz, asg = factor_sum(S, pa, s, r, not mu_neg)
        kappa_pos = (mu_neg == nu_neg) == (I[SC, r] == I[SC, s])
        ok3, cnz, csg = factor_sum(S, pc, r, s, kappa_pos)
        if not (ok1 and ok2 and ok3):
            continue
        # new term n: −ν·sc_r · a ⊗ b' ⊗ canon(c − κc')
        n = rank
        csg, u3 = canon(ring, cnz, csg)
        K[NZ + pa, n], K[SG + pa, n] = K[NZ + pa, r], K[SG + pa, r]
        K[NZ + pb, n], K[SG + pb, n] = K[NZ + pb, s], K[SG + pb, s]
        K[NZ + pc, n], K[SG + pc, n] = cnz, csg
        I[SC, n] = I[SC, r] * u3 * (1 if nu_neg else -1)
        # r: (a, canon(b + νb'), c);  s: (canon(a' − μa), b', c')
        bsg, u1 = canon(ring, bnz, bsg)
        asg, u2 = canon(ring, anz, asg)
        set_factor_call(S, pb, r, bnz, bsg)
        set_factor_call(S, pa, s, anz, asg)
        I[SC, r] *= u1
        I[SC, s] *= u2
        I[META, RANK] = n + 1
        for p in range(3):
            join_call(S, p, n)
            push(I, n, p)
        push(I, r, pb)
        push(I, s, pa)
        return True
    return False


@njit(**NJIT)
def _split(S, rng) -> bool:
    """Split (rank +1) of term r along a factor of another term s at position p:

    sc_r·a_r⊗b⊗c = sc_r·(σa_s)⊗b⊗c + sc_r·(a_r − σa_s)⊗b⊗c,  σ = ±1,

    so that r now shares its factor at p with s (new flips). The new term shares its
    other two factors with r; that pair is deliberately not merged back here (a later
    flip between them may reduce it), which is why only position p is queued.
    """
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
        ok, dnz, dsg = factor_sum(S, p, r, s, not sigma_neg)  # a_r − σ a_s
        if not ok:  # ZT only: the other sign may stay ternary
            sigma_neg = not sigma_neg
            ok, dnz, dsg = factor_sum(S, p, r, s, not sigma_neg)
        if not ok:
            continue
        n = rank
        dsg, unit = canon(ring, dnz, dsg)
        for q in range(3):
            K[NZ + q, n], K[SG + q, n] = K[NZ + q, r], K[SG + q, r]
        K[NZ + p, n], K[SG + p, n] = dnz, dsg
        I[SC, n] = I[SC, r] * unit
        set_factor_call(S, p, r, K[NZ + p, s], K[SG + p, s])
        if sigma_neg:
            I[SC, r] = -I[SC, r]
        I[META, RANK] = n + 1
        for q in range(3):
            join_call(S, q, n)
        push(I, r, p)
        push(I, n, p)
        return True
    return False


@njit(**NJIT)
def copy_terms(src_nz, src_sg, src_sc, dst_nz, dst_sg, dst_sc, rank: int) -> None:
    """Copy the first ``rank`` terms (an explicit loop: slice copies need numba's NRT)."""
    for r in range(rank):
        for p in range(3):
            dst_nz[p, r] = src_nz[p, r]
            dst_sg[p, r] = src_sg[p, r]
        dst_sc[r] = src_sc[r]


@njit(**NJIT)
def _save(S, best_nz, best_sg, best_sc) -> None:
    I, K, _ = S
    copy_terms(K[NZ:], K[SG:], I[SC], best_nz, best_sg, best_sc, I[META, RANK])


@njit(**NJIT)
def _restore(S, best_nz, best_sg, best_sc, best_rank: int) -> None:
    """Go back to the best scheme (for a walk stuck above it with no flip left)."""
    I, K, _ = S
    I[META, RANK] = best_rank
    copy_terms(best_nz, best_sg, best_sc, K[NZ:], K[SG:], I[SC], best_rank)
    build(S)


@njit(**NJIT)
def walk_kernel(
    S,
    rng,
    best_nz,
    best_sg,
    best_sc,
    best_rank: int,
    max_attempts: int,
    plateau_limit: int,
    plus_diff: int,
    target_rank: int,
    since: int,
    split: bool,
):
    """Walk from the state S (built and reduced) for up to ``max_attempts`` flip
    attempts or until ``best_rank <= target_rank``.

    A plateau escape is a plus transition, or with ``split`` a plus transition or a
    split with probability ½ each (as tfg does); both raise the rank by one and both
    count in the returned plus-transition total.

    ``best_*`` hold the best scheme so far (rank ``best_rank``) and are updated in
    place; S is left at the walk's current point, so a later call continues the same
    walk (``since``: attempts since the last rank drop, carried over).
    Returns (best_rank, attempts, flips, rank drops, plus transitions, since).
    """
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
