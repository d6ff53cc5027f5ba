"""Hensel lifting of a scheme over Z_p to a scheme over Z or Q.

The Brent equations B(U, V, W) = T are polynomial. A solution mod p lifts to a p-adic
solution by Newton's method: with E the scheme's sum over Z at precision p^k,

    J · x ≡ (T - E) / p^k  (mod p),      (U, V, W) += p^k · x,

where J is the Jacobian of B at the mod-p solution. J mod p never changes, so it is
brought to column echelon form once (``echelon``: bit-packed over GF(2)) and every
step only reduces its right-hand side. Which columns are pivots decides the lift:
the free variables (columns dependent on earlier ones) keep their starting value
(the symmetric residue), and given those the p-adic solution is unique. Columns are
visited non-zero coefficients first, so that free variables are zeros of the mod-p
scheme wherever possible (and stay 0), and a zero becomes a pivot (and may turn
non-zero) only when a step's right-hand side needs it. Coefficients are kept as
symmetric residues; as soon as they satisfy the equations over Z the lift is done.
Otherwise each is turned into a fraction by rational reconstruction at p^steps and
the scheme is verified exactly over Q; terms are rescaled so that integral schemes
come out over Z.

``attempts`` shuffles the order within the two groups and keeps the best lift: over
Z before Q, then the smallest max |coefficient|, then the fewest non-zeros. It stops
early at an integral lift with coefficients in {-1, 0, 1}: nothing is better (its
non-zeros are the mod-p scheme's). An inconsistent system at the first step proves
that no scheme over Z (or over Q with denominators prime to p) reduces to the given
one, so no other order is tried.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from tensorgame.errors import RingError
from tensorgame.search.lifting.echelon import MAX_SOLVER_BYTES, Echelon, solver_bytes
from tensorgame.search.lifting.jacobian import exact_residual_is_zero, scaled_residual
from tensorgame.tensors.rings import Q, Z
from tensorgame.tensors.scheme import Scheme

__all__ = ["DEFAULT_ATTEMPTS", "MAX_SOLVER_BYTES", "LiftResult", "can_lift", "hensel_lift", "lift_quality",
           "solver_bytes"]

_MAX_MODULUS = 2**31
#: Orders tried by default: cheap now (a <5,5,5> attempt takes a fraction of a second),
#: and on flip-graph <4,4,4> schemes 16 turned lifts over Q with 5s into lifts over Z with 2s.
DEFAULT_ATTEMPTS = 16


@dataclass(frozen=True)
class LiftResult:
    """A verified lifted scheme (ring Z or Q), or None with the reason it failed;
    ``steps``: Newton steps the kept lift took, ``attempts``: choices tried."""

    scheme: Scheme | None
    reason: str
    steps: int
    attempts: int

    @property
    def ok(self) -> bool:
        return self.scheme is not None


class _NoLift(Exception):
    """This attempt found no lift (``why``, a short phrase); ``proof``: no attempt can."""

    def __init__(self, why: str, proof: bool = False) -> None:
        super().__init__(why)
        self.why, self.proof = why, proof


def lift_quality(scheme: Scheme) -> tuple[bool, int, int]:
    """Sort key of lifts, smaller is better: over Q, max |coefficient| (numerators and
    denominators), non-zeros."""
    biggest = max(int(np.abs(x).max(initial=0)) for x in (scheme.u, scheme.v, scheme.w))
    if scheme.denominators is not None:
        biggest = max(biggest, int(scheme.denominators.max()))
    return scheme.ring != Z, biggest, scheme.nnz


def hensel_lift(scheme: Scheme, *, steps: int | None = None, attempts: int = DEFAULT_ATTEMPTS,
                seed: int = 0) -> LiftResult:
    """Lift a scheme over Z_p (p = 2, 3, ...) to a verified scheme over Z or Q, the best
    of ``attempts`` choices of free variables (module docstring)."""
    p = scheme.ring.modulus
    if p is None:
        raise RingError(f"Hensel lifting starts from a scheme over Z_p, not over {scheme.ring}")
    if not scheme.verify().ok:
        raise RingError(f"the scheme is not correct over {scheme.ring}; nothing to lift")
    max_steps = int(math.log(_MAX_MODULUS) / math.log(p)) - 1
    steps = max_steps if steps is None else max(1, min(int(steps), max_steps))
    # symmetric representatives: mod 3 a 2 starts as -1, the likelier integer value
    start = [_symmetric(x, p) for x in (scheme.u, scheme.v, scheme.w)]
    mod_p = [np.mod(x, p).astype(np.int64) for x in start]
    tensor = np.ascontiguousarray(scheme.target.tensor, dtype=np.int64)
    rng = np.random.default_rng(seed)
    best: tuple[tuple[bool, int, int], Scheme, int] | None = None  # (key, scheme, steps)
    failures: Counter[str] = Counter()
    tried = 0
    for attempt in range(1, attempts + 1):
        tried = attempt
        solver = Echelon(*mod_p, p, _visit_order(start, rng if attempt > 1 else None))
        try:
            lifted, taken, exact = _newton(start, tensor, solver, p, steps)
            result = _integral(scheme, lifted) if exact else _reconstruct(scheme, lifted, p, steps)
        except _NoLift as failed:
            if failed.proof:
                return LiftResult(None, failed.why, 0, attempt)
            failures[failed.why] += 1
            continue
        key = lift_quality(result)
        if best is None or key < best[0]:
            best = (key, result, taken)
        if key == (False, 1, scheme.nnz):
            break
    if best is None:
        found = ", ".join(f"{n} x {why}" for why, n in failures.most_common())
        note = ("; a system inconsistent at step k > 1 has no correction for the free variables the earlier "
                "steps chose, another choice may lift") if any("inconsistent" in why for why in failures) else ""
        return LiftResult(None, f"the scheme does not lift with the {tried} choice(s) of free variables "
                          f"tried ({found}){note}", steps, tried)
    return LiftResult(best[1], "lifted", best[2], tried)


def can_lift(scheme: Scheme) -> bool:
    """Whether the first Newton step of a correct mod-p scheme is solvable: False
    proves that no scheme over Z (or over Q with denominators prime to p) reduces to
    it. One echelon form and no lift, so a search can afford it on every improvement;
    True where the solver would be too large to say."""
    p = scheme.ring.modulus
    if p is None:
        raise RingError(f"only a scheme over Z_p can be lifted, not one over {scheme.ring}")
    if solver_bytes(scheme.rank, scheme.target.dims, p) > MAX_SOLVER_BYTES:
        return True
    start = [_symmetric(x, p) for x in (scheme.u, scheme.v, scheme.w)]
    tensor = np.ascontiguousarray(scheme.target.tensor, dtype=np.int64)
    solver = Echelon(*(np.mod(x, p).astype(np.int64) for x in start), p, _visit_order(start, None))
    try:
        _newton(start, tensor, solver, p, steps=2)  # the first step only
    except _NoLift:
        return False
    return True


def _symmetric(x: np.ndarray, q: int) -> np.ndarray:
    r = np.mod(x, q).astype(np.int64)
    return np.where(r > q // 2, r - q, r)


def _visit_order(start: list[np.ndarray], rng: np.random.Generator | None) -> np.ndarray:
    """Columns with a non-zero coefficient first, then the zeros; each group in index
    order (``rng`` None) or shuffled."""
    flat = np.concatenate([x.ravel() for x in start])
    keys = np.arange(flat.size, dtype=np.float64) if rng is None else rng.random(flat.size)
    return np.lexsort((keys, flat == 0)).astype(np.int64)


def _newton(values: list[np.ndarray], tensor: np.ndarray, solver: Echelon, p: int, steps: int
            ) -> tuple[list[np.ndarray], int, bool]:
    """Newton steps 1..steps-1 (step k fixes the p^k digit): the coefficients, the steps
    taken, and whether they are exact integers (early stop) rather than residues mod
    p^steps."""
    u, v, w = (x.copy() for x in values)
    sizes = np.cumsum([u.size, v.size])
    pk = 1
    for k in range(1, steps):
        if _exact(u, v, w, tensor):
            return [u, v, w], k - 1, True
        pk *= p
        x = solver.solve(scaled_residual(u, v, w, tensor, pk * p, pk, p))
        if x is None:
            if k == 1:
                raise _NoLift(f"the scheme does not lift: at the first step (mod {p}^2) the linear system "
                              f"is inconsistent for every correction, so no scheme over Z (or over Q with "
                              f"denominators prime to {p}) reduces to it mod {p}", proof=True)
            raise _NoLift(f"inconsistent at step {k} (mod {p}^{k + 1})")
        du, dv, dw = np.split(x, sizes)
        u = _symmetric(u + pk * du.reshape(u.shape), pk * p)
        v = _symmetric(v + pk * dv.reshape(v.shape), pk * p)
        w = _symmetric(w + pk * dw.reshape(w.shape), pk * p)
    return [u, v, w], steps - 1, _exact(u, v, w, tensor)


def _exact(u: np.ndarray, v: np.ndarray, w: np.ndarray, tensor: np.ndarray) -> bool:
    """The coefficients satisfy the equations over Z (checked only where int64 is exact)."""
    biggest = max(int(np.abs(x).max(initial=0)) for x in (u, v, w))
    if biggest**3 * u.shape[0] + int(np.abs(tensor).max(initial=0)) >= 2**62:
        return False
    return bool(exact_residual_is_zero(u, v, w, tensor))


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
    denominators = np.ones((rank, 3), dtype=object)
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


def _integral(scheme: Scheme, lifted: list[np.ndarray]) -> Scheme:
    """The lift when Newton stopped at exact integers (verified again as a Scheme)."""
    result = Scheme(scheme.target, Z, *lifted)
    if not result.verify().ok:  # cannot happen: exact_residual_is_zero checked the same equations
        raise _NoLift("the integral scheme reached does not verify")
    return result


def _reconstruct(scheme: Scheme, lifted: list[np.ndarray], p: int, steps: int) -> Scheme:
    """The verified scheme over Z or Q whose coefficients are ``lifted`` mod p^steps."""
    modulus = p**steps
    nums, dens = [], []
    for x in lifted:
        num = np.empty(x.shape, dtype=object)
        den = np.empty(x.shape, dtype=object)
        for idx, val in np.ndenumerate(x):
            frac = _rational(int(val), modulus)
            if frac is None:
                raise _NoLift(f"a lift mod {p}^{steps} with a coefficient that is no small fraction")
            num[idx], den[idx] = frac
        nums.append(num)
        dens.append(den)
    factors, denominators = _primitive_terms(nums, dens)
    try:
        factors = [np.asarray(f.tolist(), dtype=np.int64) for f in factors]
        denominators = np.asarray(denominators.tolist(), dtype=np.int64)
    except OverflowError:
        raise _NoLift("reconstructed coefficients too large") from None
    integral = bool(np.all(denominators == 1))
    lifted_scheme = Scheme(scheme.target, Z if integral else Q, *factors,
                           denominators=None if integral else denominators)
    if not lifted_scheme.verify().ok:
        raise _NoLift("the reconstructed rational scheme does not verify")
    return lifted_scheme
