"""Exact verification of the Brent equations  sum_r u_r (x) v_r (x) w_r = T.

Everything is integer arithmetic. An a-priori bound on every entry of the sum picks
the arithmetic: below 2^62 a compiled int64 kernel that visits only the non-zero
coefficients (schemes are sparse, so this beats a dense BLAS product and needs no
threads); above it Python integers (object arrays), slow but exact for any size.

Rational schemes (ring Q) carry a positive denominator per factor; they are checked as
sum_r (L/d_r) u_r (x) v_r (x) w_r = L·T with L the lcm of the term denominators d_r.
Modular rings reduce the residual mod p (denominators are inverted mod p).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from numba import njit

from tensorgame.tensors.rings import Ring

_INT64_SAFE = float(2**62)


@dataclass(frozen=True)
class WrongEntry:
    """One coordinate (a, b, c) where the scheme's sum differs from the target."""

    index: tuple[int, int, int]
    expected: int
    got: str  # exact value as text: an integer, a fraction, or a residue mod p


@dataclass(frozen=True)
class Verification:
    """Outcome of checking a scheme against its target in a ring."""

    ok: bool
    ring: Ring
    n_wrong: int
    wrong: tuple[WrongEntry, ...] = ()

    def __bool__(self) -> bool:
        return self.ok


def _term_scales(denominators: np.ndarray | None, rank: int) -> tuple[list[int] | None, int]:
    """Per-term multipliers L/d_r and the common denominator L (None, 1 when integral)."""
    if denominators is None or rank == 0 or bool(np.all(denominators == 1)):
        return None, 1
    d = [int(a) * int(b) * int(c) for a, b, c in denominators.tolist()]
    lcm = math.lcm(*d)
    return [lcm // x for x in d], lcm


@njit(cache=True)
def _accumulate_sparse(u, v, w, scales, out):  # pragma: no cover - compiled
    """out[a, b, c] += scales[r]·u[r, a]·v[r, b]·w[r, c] over the non-zeros only."""
    rank = u.shape[0]
    iu = np.empty(u.shape[1], dtype=np.int64)
    iv = np.empty(v.shape[1], dtype=np.int64)
    iw = np.empty(w.shape[1], dtype=np.int64)
    for r in range(rank):
        nu = 0
        for a in range(u.shape[1]):
            if u[r, a] != 0:
                iu[nu] = a
                nu += 1
        nv = 0
        for b in range(v.shape[1]):
            if v[r, b] != 0:
                iv[nv] = b
                nv += 1
        nw = 0
        for c in range(w.shape[1]):
            if w[r, c] != 0:
                iw[nw] = c
                nw += 1
        for x in range(nu):
            a = iu[x]
            cu = scales[r] * u[r, a]
            for y in range(nv):
                b = iv[y]
                cuv = cu * v[r, b]
                for z in range(nw):
                    c = iw[z]
                    out[a, b, c] += cuv * w[r, c]


def reconstruct(
    u: np.ndarray, v: np.ndarray, w: np.ndarray, scales: list[int] | None = None
) -> np.ndarray:
    """Exact sum_r scales[r]·u_r (x) v_r (x) w_r as an int64 or object array (I, J, K).

    int64 (compiled, sparse: cost is the sum over terms of nnz(u)·nnz(v)·nnz(w)) when an
    a-priori bound on every partial sum stays below 2^62; Python integers otherwise.
    """
    rank, ni, nj, nk = u.shape[0], u.shape[1], v.shape[1], w.shape[1]
    if rank == 0:
        return np.zeros((ni, nj, nk), dtype=np.int64)
    per_term = (
        np.abs(u).max(axis=1).astype(np.float64)
        * np.abs(v).max(axis=1).astype(np.float64)
        * np.abs(w).max(axis=1).astype(np.float64)
    )
    if scales is not None:
        per_term = per_term * np.asarray([float(s) for s in scales])
    if float(per_term.sum()) < _INT64_SAFE:
        out = np.zeros((ni, nj, nk), dtype=np.int64)
        sc = np.ones(rank, dtype=np.int64) if scales is None else np.asarray(scales, dtype=np.int64)
        _accumulate_sparse(
            np.ascontiguousarray(u, dtype=np.int64), np.ascontiguousarray(v, dtype=np.int64),
            np.ascontiguousarray(w, dtype=np.int64), sc, out,
        )
        return out
    uo = u.astype(object)
    if scales is not None:
        uo = uo * np.asarray(scales, dtype=object)[:, None]
    kr = (uo[:, :, None] * v.astype(object)[:, None, :]).reshape(rank, ni * nj)
    return kr.T.dot(w.astype(object)).reshape(ni, nj, nk)


def _modular_factors(
    u: np.ndarray, v: np.ndarray, w: np.ndarray, denominators: np.ndarray | None, p: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Factors reduced to [0, p), denominators folded in; None if one is not invertible."""
    u, v, w = (np.mod(x.astype(np.int64), p) for x in (u, v, w))
    if denominators is not None and not bool(np.all(denominators == 1)):
        if bool(np.any(np.mod(denominators, p) == 0)):
            return None
        inv = np.asarray(
            [[pow(int(d), -1, p) for d in row] for row in denominators.tolist()], dtype=np.int64
        )
        u, v, w = (np.mod(x * inv[:, i : i + 1], p) for i, x in enumerate((u, v, w)))
    return u, v, w


def verify_factors(
    tensor: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    w: np.ndarray,
    ring: Ring,
    denominators: np.ndarray | None = None,
    max_report: int = 20,
) -> Verification:
    """Check the Brent equations exactly in ``ring``; report up to ``max_report`` wrong entries."""
    if ring.modulus is not None:
        p = ring.modulus
        reduced = _modular_factors(u, v, w, denominators, p)
        if reduced is None:
            n = int(np.count_nonzero(tensor))
            return Verification(False, ring, max(n, 1), ())
        got = reconstruct(*reduced)
        residual = np.mod(got - tensor, p)
        bad = np.argwhere(residual != 0)
        wrong = tuple(
            WrongEntry(tuple(int(x) for x in idx), int(tensor[tuple(idx)]),
                       f"{int(got[tuple(idx)] % p)} (mod {p})")
            for idx in bad[:max_report]
        )
        return Verification(len(bad) == 0, ring, len(bad), wrong)

    scales, lcm = _term_scales(denominators, u.shape[0])
    got = reconstruct(u, v, w, scales)
    expected = tensor.astype(np.int64) if lcm == 1 else tensor.astype(object) * lcm
    bad = np.argwhere(got != expected)
    wrong = tuple(
        WrongEntry(tuple(int(x) for x in idx), int(tensor[tuple(idx)]),
                   str(Fraction(int(got[tuple(idx)]), lcm)))
        for idx in bad[:max_report]
    )
    return Verification(len(bad) == 0, ring, len(bad), wrong)
