"""Canonical invariant of a scheme: equal for equivalent schemes.

Two schemes of one target are equivalent when one maps to the other by permuting
terms, rescaling factors inside a term, and the target's symmetries. For matmul that
is the basis-change group GL(n)×GL(m)×GL(p) together with transposition (n = p) and
cyclic rotation (n = m = p). A full canonical form under GL is expensive, so for
matmul we hash invariants of the orbit instead (as the flip-graph literature does):

* per term, the matrix ranks of its three factors (n×m, m×p, n×p matrices);
* per pair of terms and per factor, the ranks of [X_r | X_s] and [X_r ; X_s],
  which basis changes and rescaling preserve (skipped above ``PAIR_LIMIT`` terms);

canonicalised over the finite group of role permutations/transpositions and sorted
over terms. Equivalent schemes always collide; inequivalent ones almost never do.
Ranks are taken over GF(p) for Z_p schemes and modulo the prime 2^31 - 1 for Z and Q
(invariant under every basis change invertible modulo that prime).

For other targets the hash is an exact canonical form under term permutation and
per-term scaling (plus swapping the inputs where the map is commutative).
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
from numba import njit

from tensorgame.tensors.modular import rank_mod_p
from tensorgame.tensors.scheme import Scheme

#: Above this rank the O(R²) pair invariants are skipped (per-term ranks only).
PAIR_LIMIT = 256
_BIG_PRIME = 2**31 - 1

# A role map: for each new role (u, v, w), the (source role, transposed) it comes from.
_Element = tuple[tuple[int, bool], tuple[int, bool], tuple[int, bool]]
_IDENTITY: _Element = ((0, False), (1, False), (2, False))
_TRANSPOSE: _Element = ((1, True), (0, True), (2, True))
_CYCLIC: _Element = ((1, False), (2, True), (0, True))


def _compose(h: _Element, g: _Element) -> _Element:
    """Role map of applying g, then h."""
    return tuple((g[src][0], g[src][1] ^ t) for src, t in h)  # type: ignore[return-value]


def _role_group(generators: list[_Element]) -> list[_Element]:
    group = {_IDENTITY}
    frontier = [_IDENTITY]
    while frontier:
        nxt = []
        for x in frontier:
            for g in generators:
                y = _compose(g, x)
                if y not in group:
                    group.add(y)
                    nxt.append(y)
        frontier = nxt
    return sorted(group)


@njit(cache=True)
def _single_ranks(x, p):  # pragma: no cover - compiled
    count, rows, cols = x.shape
    out = np.empty(count, dtype=np.int64)
    work = np.empty((rows, cols), dtype=np.int64)
    for t in range(count):
        out[t] = rank_mod_p(x[t], rows, cols, p, work)
    return out


@njit(cache=True)
def _pair_ranks(x, p):  # pragma: no cover - compiled
    """Symmetric (R, R) tables of rank[X_r | X_s] and rank[X_r ; X_s]."""
    count, rows, cols = x.shape
    horiz = np.zeros((count, count), dtype=np.int64)
    vert = np.zeros((count, count), dtype=np.int64)
    side = np.empty((rows, 2 * cols), dtype=np.int64)
    stack = np.empty((2 * rows, cols), dtype=np.int64)
    work_side = np.empty((rows, 2 * cols), dtype=np.int64)
    work_stack = np.empty((2 * rows, cols), dtype=np.int64)
    for i in range(count):
        for j in range(i + 1, count):
            side[:, :cols] = x[i]
            side[:, cols:] = x[j]
            stack[:rows] = x[i]
            stack[rows:] = x[j]
            horiz[i, j] = horiz[j, i] = rank_mod_p(side, rows, 2 * cols, p, work_side)
            vert[i, j] = vert[j, i] = rank_mod_p(stack, 2 * rows, cols, p, work_stack)
    return horiz, vert


def batched_rank(mats: np.ndarray, p: int) -> np.ndarray:
    """Ranks over GF(p) of a stack of integer matrices (B, r, c)."""
    return _single_ranks(np.mod(np.asarray(mats, dtype=np.int64), p), p)


def _matmul_signature(scheme: Scheme) -> bytes:
    n, m, p_side = scheme.target.params
    p = scheme.ring.modulus or _BIG_PRIME
    mats = scheme.terms_matrices()
    rank = scheme.rank
    mats = [np.mod(x.astype(np.int64), p) for x in mats]
    single = [_single_ranks(x, p) for x in mats]
    use_pairs = 1 < rank <= PAIR_LIMIT
    pairs = [_pair_ranks(x, p) for x in mats] if use_pairs else []
    gens = []
    if n == p_side:
        gens.append(_TRANSPOSE)
    if n == m == p_side:
        gens.append(_CYCLIC)
    base = 64  # every rank is at most 64 (MAX_MATMUL_SIDE)
    best: bytes | None = None
    for element in _role_group(gens):
        term_code = np.zeros(rank, dtype=np.int64)
        for src, _ in element:
            term_code = term_code * base + single[src]
        rows = [term_code[:, None]]
        if use_pairs:
            pair_code = np.zeros((rank, rank), dtype=np.int64)
            for src, transposed in element:
                h, v = pairs[src]
                first, second = (v, h) if transposed else (h, v)
                pair_code = (pair_code * base + first) * base + second
            np.fill_diagonal(pair_code, -1)
            rows.append(np.sort(pair_code, axis=1)[:, 1:])
        table = np.concatenate(rows, axis=1)
        table = table[np.lexsort(table.T[::-1])]
        blob = table.tobytes()
        if best is None or blob < best:
            best = blob
    return best or b""


def _normalised_terms(scheme: Scheme) -> np.ndarray:
    """Terms rescaled to a unique representative, as rows (u | v | w | denominator)."""
    u, v, w = (x.astype(object) for x in (scheme.u, scheme.v, scheme.w))
    rows = []
    p = scheme.ring.modulus
    den = scheme.denominators
    for r in range(scheme.rank):
        ur, vr, wr = list(u[r]), list(v[r]), list(w[r])
        if p is not None:
            lu = next((x for x in ur if x % p), 1)
            lv = next((x for x in vr if x % p), 1)
            iu, iv = pow(int(lu), -1, p), pow(int(lv), -1, p)
            rows.append([x * iu % p for x in ur] + [x * iv % p for x in vr]
                        + [x * lu * lv % p for x in wr] + [1])
            continue
        gu = (math.gcd(*ur) or 1) * (1 if next((x for x in ur if x), 1) > 0 else -1)
        gv = (math.gcd(*vr) or 1) * (1 if next((x for x in vr if x), 1) > 0 else -1)
        d = 1 if den is None else int(den[r, 0] * den[r, 1] * den[r, 2])
        wn = [x * gu * gv for x in wr]
        g = math.gcd(*wn, d) or 1
        rows.append([x // gu for x in ur] + [x // gv for x in vr] + [x // g for x in wn] + [d // g])
    width = sum(scheme.target.dims) + 1
    return np.asarray(rows, dtype=object).reshape(scheme.rank, width)


def _exact_signature(scheme: Scheme) -> bytes:
    variants = [_normalised_terms(scheme)]
    if "swap_inputs" in scheme.target.symmetries:
        swapped = Scheme(scheme.target, scheme.ring, scheme.v, scheme.u, scheme.w, scheme.denominators)
        variants.append(_normalised_terms(swapped))
    blobs = [repr(sorted(tuple(int(x) for x in row) for row in t)).encode() for t in variants]
    return min(blobs)


def canonical_hash(scheme: Scheme) -> str:
    """Hex digest identifying the scheme's equivalence class (see module doc)."""
    sig = _matmul_signature(scheme) if scheme.target.is_matmul else _exact_signature(scheme)
    h = hashlib.sha256()
    h.update(f"{scheme.target.key}|{scheme.ring.name}|{scheme.rank}|".encode())
    h.update(sig)
    return h.hexdigest()
