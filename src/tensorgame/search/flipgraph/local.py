"""Local descents: walk a small neighbourhood of terms as a scheme of its own.

Why: from a sparse start such as the naive scheme of a wide format, a walk over all
terms diffuses before any reduction appears (measured: 10^6 flips from the naive
<2,5,5>, <2,4,5> or <3,5,5> without a plus transition found no reduction at all, and
the parallel search never left rank 50 of <2,5,5> in 60 s). The terms of a
neighbourhood S sum to some tensor T_S; a walk over S alone is a walk in the small
flip graph of T_S, where reductions come quickly, and a lower-rank scheme for T_S
replaces S while the whole scheme stays exact. (Arai et al. 2024 restrict the search
range of large formats for the same reason.)

Neighbourhoods grow from a random term by adding, again and again, a term that shares
a factor with the neighbourhood at the most positions (ties at random): in a naive
scheme that closes 2×2×2 blocks, where Strassen-like reductions live. Measured from
the naive schemes over Z2 (local descents alone, seeded): <10,10,10> 1000 -> 932 in
15 s where growing breadth-first (one random partner per position) found nothing in
145 descents; <2,5,5> 46 vs 45 and <4,4,4> 58 vs 58 in 5 s.
"""

from __future__ import annotations

import numpy as np

from tensorgame.search.flipgraph import walk
from tensorgame.search.flipgraph.packing import RESULT_RING, search_ring
from tensorgame.tensors.scheme import Scheme
from tensorgame.tensors.targets import tensor_target

#: Defaults measured on the naive <2,5,5> over Z2 (30 s each): neighbourhoods of
#: 8-16 terms reached rank 45-46 within 0.4-1.4 s; 2^14 attempts per local walk.
LOCAL_SIZE = 12
LOCAL_FLIPS = 1 << 14
LOCAL_PLATEAU = 1_000


def neighbourhood(scheme: Scheme, rng: np.random.Generator, size: int) -> np.ndarray:
    """Sorted indices of at most ``size`` terms grown from a random term (module doc)."""
    rank = scheme.rank
    classes = np.stack([np.unique(f, axis=0, return_inverse=True)[1].reshape(-1)
                        for f in (scheme.u, scheme.v, scheme.w)], axis=1)
    taken = np.zeros(rank, dtype=bool)
    taken[int(rng.integers(rank))] = True
    present = np.zeros(rank, dtype=np.int64)
    for _ in range(size - 1):
        score = np.zeros(rank, dtype=np.int64)
        for p in range(3):  # positions at which a term shares a factor with the neighbourhood
            present[:] = 0
            present[classes[taken, p]] = 1
            score += present[classes[:, p]]
        score[taken] = 0
        best = int(score.max())
        if best == 0:
            break
        ties = np.flatnonzero(score == best)
        taken[ties[rng.integers(ties.size)]] = True
    return np.flatnonzero(taken)


def local_descent(scheme: Scheme, ring: str, rng: np.random.Generator, *, size: int = LOCAL_SIZE,
                  flips: int = LOCAL_FLIPS, plateau: int = LOCAL_PLATEAU) -> Scheme | None:
    """One local descent on ``scheme`` (over the result ring of search ring ``ring``):
    the whole scheme with a neighbourhood replaced by fewer terms, verified against the
    full target, or None when the neighbourhood's walk found no reduction."""
    ring = search_ring(ring)
    result_ring = RESULT_RING[ring]
    part = neighbourhood(scheme, rng, size)
    u, v, w = scheme.u[part], scheme.v[part], scheme.w[part]
    rest = np.setdiff1d(np.arange(scheme.rank), part)
    piece = result_ring.reduce(np.einsum("ri,rj,rk->ijk", u, v, w))
    if not piece.any():  # the terms cancel: drop them all
        better = Scheme(scheme.target, scheme.ring, scheme.u[rest], scheme.v[rest], scheme.w[rest])
    else:
        sub = Scheme(tensor_target(piece), result_ring, u, v, w)
        found = walk(sub, ring=ring, max_flips=flips, target_rank=len(part) - 1,
                     plateau_limit=plateau, seed=int(rng.integers(2**62)), split=True)
        if found.rank >= len(part):
            return None
        s = found.scheme
        better = Scheme(scheme.target, scheme.ring, np.vstack([scheme.u[rest], s.u]),
                        np.vstack([scheme.v[rest], s.v]), np.vstack([scheme.w[rest], s.w]))
    if not better.verify().ok:  # a bug, never a user error: every piece was verified
        raise AssertionError("a local descent produced a wrong scheme")
    return better


def descend(scheme: Scheme, ring: str, rng: np.random.Generator, tries: int) -> Scheme:
    """``tries`` local descents, each on the best scheme so far; returns that best."""
    for _ in range(tries):
        better = local_descent(scheme, ring, rng)
        if better is not None and better.rank < scheme.rank:
            scheme = better
    return scheme
