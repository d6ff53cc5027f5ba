"""Hensel lifting of a scheme over Z_p to a scheme over Z or Q.

The Brent equations B(U, V, W) = T are polynomial. A solution mod p lifts to a p-adic
solution by Newton's method: with E the scheme's sum over Z at precision p^k,

    J · x ≡ (T - E) / p^k  (mod p),      (U, V, W) += p^k · x,

where J is the Jacobian of B at the mod-p solution (row (a, b, c), column u_r[a'] holds
δ(a, a')·v_r[b]·w_r[c], and likewise for v and w). J mod p never changes, so it is
reduced once (Gauss-Jordan over GF(p), compiled) and its row operations are replayed
on every right-hand side. The system has a large kernel; free variables keep their
mod-p value (symmetric representative) (pivots are chosen among the non-zero coefficients first, so zeros stay
zero and the result stays sparse). Each coefficient mod p^K is then turned into a
fraction by rational reconstruction and the scheme is verified exactly over Q; terms
are rescaled so that integral schemes come out over Z. A system that becomes
inconsistent, or coefficients that do not reconstruct, mean the scheme does not lift
(with these choices of free variables: ``attempts`` retries with other choices).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from tensorgame.errors import RingError
from tensorgame.tensors.modular import inv_mod
from tensorgame.tensors.rings import Q, Z
from tensorgame.tensors.scheme import Scheme

_MAX_MODULUS = 2**31


@dataclass(frozen=True)
class LiftResult:
    """A verified lifted scheme (ring Z or Q), or None with the reason it failed."""

    scheme: Scheme | None
    reason: str
    steps: int
    attempts: int

    @property
    def ok(self) -> bool:
        return self.scheme is not None


@njit(cache=True)
def _jacobian(u, v, w, p):  # pragma: no cover - compiled
    rank, ni = u.shape
    nj, nk = v.shape[1], w.shape[1]
    jac = np.zeros((ni * nj * nk, rank * (ni + nj + nk)), dtype=np.int64)
    for r in range(rank):
        base_u = r * ni
        base_v = rank * ni + r * nj
        base_w = rank * (ni + nj) + r * nk
        for a in range(ni):
            for b in range(nj):
                for c in range(nk):
                    row = (a * nj + b) * nk + c
                    jac[row, base_u + a] = v[r, b] * w[r, c] % p
                    jac[row, base_v + b] = u[r, a] * w[r, c] % p
                    jac[row, base_w + c] = u[r, a] * v[r, b] % p
    return jac


@njit(cache=True)
def _gauss_jordan(jac, order, p):  # pragma: no cover - compiled
    """Reduce ``jac`` in place over GF(p), visiting columns in ``order``.

    Returns the rank, the pivot column of each pivot row, and the row operations as
    (kind, target, source, factor) with kind 0 = swap, 1 = scale, 2 = target -= f·source,
    so that they can be replayed on right-hand sides.
    """
    rows, cols = jac.shape
    pivots = np.empty(min(rows, cols), dtype=np.int64)
    ops = np.empty((1024, 4), dtype=np.int64)
    n_ops = 0
    rank = 0
    for c in order:
        if rank == rows:
            break
        piv = -1
        for r in range(rank, rows):
            if jac[r, c] != 0:
                piv = r
                break
        if piv < 0:
            continue
        needed = n_ops + 2 + rows
        if needed > ops.shape[0]:
            grown = np.empty((max(2 * ops.shape[0], needed), 4), dtype=np.int64)
            grown[:n_ops] = ops[:n_ops]
            ops = grown
        if piv != rank:
            for k in range(cols):
                jac[rank, k], jac[piv, k] = jac[piv, k], jac[rank, k]
            ops[n_ops, 0], ops[n_ops, 1], ops[n_ops, 2], ops[n_ops, 3] = 0, rank, piv, 0
            n_ops += 1
        inv = inv_mod(jac[rank, c], p)
        if inv != 1:
            for k in range(cols):
                jac[rank, k] = jac[rank, k] * inv % p
            ops[n_ops, 0], ops[n_ops, 1], ops[n_ops, 2], ops[n_ops, 3] = 1, rank, 0, inv
            n_ops += 1
        for r in range(rows):
            f = jac[r, c]
            if r != rank and f != 0:
                for k in range(cols):
                    if jac[rank, k] != 0:
                        jac[r, k] = (jac[r, k] - f * jac[rank, k]) % p
                ops[n_ops, 0], ops[n_ops, 1], ops[n_ops, 2], ops[n_ops, 3] = 2, r, rank, f
                n_ops += 1
        pivots[rank] = c
        rank += 1
    return rank, pivots[:rank].copy(), ops[:n_ops].copy()


@njit(cache=True)
def _replay(ops, rhs, p):  # pragma: no cover - compiled
    for i in range(ops.shape[0]):
        kind, t, s, f = ops[i, 0], ops[i, 1], ops[i, 2], ops[i, 3]
        if kind == 0:
            rhs[t], rhs[s] = rhs[s], rhs[t]
        elif kind == 1:
            rhs[t] = rhs[t] * f % p
        else:
            rhs[t] = (rhs[t] - f * rhs[s]) % p


@njit(cache=True)
def _scaled_residual(u, v, w, tensor, q, pk, p):  # pragma: no cover - compiled
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


def _symmetric(x: np.ndarray, p: int) -> np.ndarray:
    r = np.mod(x, p).astype(np.int64)
    return np.where(r > p // 2, r - p, r)


def _rational(x: int, modulus: int) -> tuple[int, int] | None:
    """a/b ≡ x (mod modulus) with |a|, b <= sqrt(modulus/2), or None."""
    bound = math.isqrt(modulus // 2)
    r0, r1, t0, t1 = modulus, x % modulus, 0, 1
    while r1 > bound:
        q = r0 // r1
        r0, r1, t0, t1 = r1, r0 - q * r1, t1, t0 - q * t1
    if t1 == 0 or abs(t1) > bound or math.gcd(r1, abs(t1)) != 1:
        return None
    return (r1, t1) if t1 > 0 else (-r1, -t1)


def _primitive_terms(nums: list[np.ndarray], dens: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
    """Rescale every term so each factor is a primitive integer vector and the whole
    rational scalar sits on w: integral schemes come out with denominator 1."""
    rank = nums[0].shape[0]
    out = [np.zeros_like(x, dtype=object) for x in nums]
    denominators = np.ones((rank, 3), dtype=np.int64)
    for r in range(rank):
        scalar_num, scalar_den = 1, 1
        for f in range(3):
            row_num = [int(x) for x in nums[f][r]]
            row_den = [int(x) for x in dens[f][r]]
            lcm = math.lcm(*row_den)
            ints = [n * (lcm // d) for n, d in zip(row_num, row_den)]
            g = math.gcd(*ints) or 1
            out[f][r] = [x // g for x in ints]
            scalar_num *= g
            scalar_den *= lcm
        g = math.gcd(scalar_num, scalar_den)
        scalar_num, scalar_den = scalar_num // g, scalar_den // g
        out[2][r] = [x * scalar_num for x in out[2][r]]
        denominators[r, 2] = scalar_den
    return out, denominators


def hensel_lift(scheme: Scheme, *, steps: int | None = None, attempts: int = 4, seed: int = 0) -> LiftResult:
    """Lift a scheme over Z_p (p = 2, 3, ...) to a verified scheme over Z or Q."""
    p = scheme.ring.modulus
    if p is None:
        raise RingError(f"Hensel lifting starts from a scheme over Z_p, not over {scheme.ring}")
    check = scheme.verify()
    if not check.ok:
        raise RingError(f"the scheme is not correct over {scheme.ring}; nothing to lift")
    max_steps = int(math.log(_MAX_MODULUS) / math.log(p)) - 1
    steps = max_steps if steps is None else min(int(steps), max_steps)
    # symmetric representatives: mod 3 a 2 starts as -1, the likelier integer value
    u0, v0, w0 = (_symmetric(x, p) for x in (scheme.u, scheme.v, scheme.w))
    tensor = np.ascontiguousarray(scheme.target.tensor, dtype=np.int64)
    jac0 = _jacobian(np.mod(u0, p), np.mod(v0, p), np.mod(w0, p), p)
    values = np.concatenate([u0.ravel(), v0.ravel(), w0.ravel()])
    rng = np.random.default_rng(seed)
    reason = "no attempt"
    for attempt in range(1, attempts + 1):
        # non-zero coefficients first, so that free variables are the zeros (and stay 0)
        keys = rng.random(values.size) if attempt > 1 else np.arange(values.size, dtype=np.float64)
        order = np.lexsort((keys, values == 0)).astype(np.int64)
        rank, pivots, ops = _gauss_jordan(jac0.copy(), order, p)
        lifted, reason = _lift_with(u0, v0, w0, tensor, pivots, rank, ops, p, steps)
        if lifted is None:
            continue
        result, reason = _reconstruct(scheme, lifted, p ** steps)
        if result is not None:
            return LiftResult(result, "lifted", steps, attempt)
    return LiftResult(None, reason, steps, attempts)


def _lift_with(u, v, w, tensor, pivots, rank, ops, p, steps):
    u, v, w = u.copy(), v.copy(), w.copy()
    sizes = (u.size, v.size, w.size)
    pk = 1
    for k in range(1, steps):
        pk *= p
        rhs = _scaled_residual(u, v, w, tensor, pk * p, pk, p)
        _replay(ops, rhs, p)
        if np.any(rhs[rank:] != 0):
            return None, f"the linear system at precision {p}^{k} is inconsistent: the scheme does not lift"
        x = np.zeros(sum(sizes), dtype=np.int64)
        x[pivots] = rhs[:rank]
        du, dv, dw = np.split(x, [sizes[0], sizes[0] + sizes[1]])
        u += pk * du.reshape(u.shape)
        v += pk * dv.reshape(v.shape)
        w += pk * dw.reshape(w.shape)
    return (u, v, w), "ok"


def _reconstruct(scheme: Scheme, lifted, modulus: int) -> tuple[Scheme | None, str]:
    nums, dens = [], []
    for x in lifted:
        num = np.empty(x.shape, dtype=object)
        den = np.empty(x.shape, dtype=object)
        for idx, val in np.ndenumerate(x):
            frac = _rational(int(val), modulus)
            if frac is None:
                return None, "a coefficient has no small rational reconstruction"
            num[idx], den[idx] = frac
        nums.append(num)
        dens.append(den)
    factors, denominators = _primitive_terms(nums, dens)
    try:
        factors = [np.asarray(f.tolist(), dtype=np.int64) for f in factors]
    except OverflowError:
        return None, "reconstructed coefficients are too large"
    integral = bool(np.all(denominators == 1))
    lifted_scheme = Scheme(scheme.target, Z if integral else Q, *factors,
                           denominators=None if integral else denominators)
    if not lifted_scheme.verify().ok:
        return None, "the reconstructed rational scheme does not verify"
    return lifted_scheme, "lifted"
