"""Schemes: rank decompositions of a target tensor in a given ring.

A scheme is three integer factor matrices U (R×I), V (R×J), W (R×K) plus its target
and ring; over Q each factor additionally carries a positive integer denominator, so
term r is (U[r]/d[r,0]) ⊗ (V[r]/d[r,1]) ⊗ (W[r]/d[r,2]). Schemes are immutable; every
transformation returns a new one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from tensorgame.errors import FormatError, RingError
from tensorgame.tensors.rings import Q, Ring, parse_ring
from tensorgame.tensors.targets import Target
from tensorgame.tensors.verify import Verification, verify_factors


def _as_factor(values: object, width: int, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values)
    except (ValueError, OverflowError):
        raise FormatError(f"factor {name}: not a rectangular array of integers") from None
    if arr.size == 0:
        arr = arr.reshape(0, width)
    if arr.ndim != 2:
        raise FormatError(f"factor {name}: expected a 2-D array (terms × {width}), got {arr.ndim}-D")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.array_equal(arr, np.round(arr)):
            raise FormatError(f"factor {name}: coefficients must be integers")
        if arr.size and np.abs(arr).max() >= 2**62:
            raise FormatError(f"factor {name}: coefficient too large")
    elif arr.dtype.kind == "O":
        try:
            arr = np.asarray(arr.tolist(), dtype=np.int64)
        except (TypeError, ValueError, OverflowError):
            raise FormatError(f"factor {name}: coefficients must be integers below 2^63") from None
    elif arr.dtype.kind not in "iub":
        raise FormatError(f"factor {name}: coefficients must be integers, got {arr.dtype}")
    if arr.shape[1] != width:
        raise FormatError(f"factor {name}: rows have {arr.shape[1]} entries, the target needs {width}")
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class Scheme:
    """A decomposition of ``target`` into ``rank`` rank-one terms over ``ring``."""

    target: Target
    ring: Ring
    u: np.ndarray = field(repr=False)
    v: np.ndarray = field(repr=False)
    w: np.ndarray = field(repr=False)
    denominators: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        ring = parse_ring(self.ring)
        object.__setattr__(self, "ring", ring)
        ni, nj, nk = self.target.dims
        u = _as_factor(self.u, ni, "u")
        v = _as_factor(self.v, nj, "v")
        w = _as_factor(self.w, nk, "w")
        if not (u.shape[0] == v.shape[0] == w.shape[0]):
            raise FormatError(
                f"factors have different numbers of terms: u {u.shape[0]}, v {v.shape[0]}, w {w.shape[0]}"
            )
        object.__setattr__(self, "u", u)
        object.__setattr__(self, "v", v)
        object.__setattr__(self, "w", w)
        d = self.denominators
        if d is not None:
            d = np.asarray(d, dtype=np.int64).reshape(-1, 3) if np.size(d) else np.ones((0, 3), np.int64)
            if d.shape != (u.shape[0], 3):
                raise FormatError(f"denominators must have shape ({u.shape[0]}, 3), got {d.shape}")
            if bool(np.any(d <= 0)):
                raise FormatError("denominators must be positive integers")
            if bool(np.all(d == 1)):
                d = None
            elif ring != Q:
                raise RingError(f"a scheme over {ring} cannot have denominators (use ring Q)")
            else:
                d = np.ascontiguousarray(d)
                d.setflags(write=False)
        object.__setattr__(self, "denominators", d)

    # --- sizes and costs -------------------------------------------------------------
    @property
    def rank(self) -> int:
        """Number of rank-one terms (multiplications)."""
        return int(self.u.shape[0])

    @property
    def nnz(self) -> int:
        """Non-zero coefficients over the three factor matrices."""
        return int(np.count_nonzero(self.u) + np.count_nonzero(self.v) + np.count_nonzero(self.w))

    @property
    def additions(self) -> int:
        """Additions of the straightforward evaluation (no common subexpressions):
        forming each product's two linear forms, then summing products per output."""
        def linear_forms(x: np.ndarray, axis: int) -> int:
            return int(np.maximum(np.count_nonzero(x, axis=axis) - 1, 0).sum())

        return linear_forms(self.u, 1) + linear_forms(self.v, 1) + linear_forms(self.w, 0)

    @property
    def coefficients(self) -> list[int]:
        """Sorted distinct coefficient values of the integer factors."""
        vals = np.unique(np.concatenate([self.u.ravel(), self.v.ravel(), self.w.ravel()]))
        return [int(x) for x in vals]

    # --- correctness -------------------------------------------------------------------
    def verify(self, ring: Ring | str | None = None, max_report: int = 20) -> Verification:
        """Exact check of the Brent equations in ``ring`` (default: the scheme's ring)."""
        check_ring = self.ring if ring is None else parse_ring(ring)
        if self.denominators is not None and check_ring.modulus is None and check_ring != Q:
            raise RingError(f"a scheme with denominators cannot hold over {check_ring}")
        return verify_factors(
            self.target.tensor, self.u, self.v, self.w, check_ring, self.denominators, max_report
        )

    @cached_property
    def is_valid(self) -> bool:
        """Verified in the scheme's own ring (cached: the scheme is immutable)."""
        return self.verify().ok

    # --- simple derived schemes ------------------------------------------------------
    def with_ring(self, ring: Ring | str) -> Scheme:
        """The same factors read in another ring (reduced mod p for Z_p); not verified."""
        ring = parse_ring(ring)
        if ring.modulus is not None:
            if self.denominators is not None:
                raise RingError("reduce a rational scheme with reduce_mod, which inverts denominators")
            u, v, w = (ring.reduce(x) for x in (self.u, self.v, self.w))
            return Scheme(self.target, ring, u, v, w)
        return Scheme(self.target, ring, self.u, self.v, self.w, self.denominators)

    def terms_matrices(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For matmul targets: factors reshaped to (R, n, m), (R, m, p), (R, n, p)."""
        shapes = self.target.factor_shapes
        if shapes is None:
            raise ValueError(f"{self.target.name} is not a matrix multiplication target")
        return tuple(x.reshape(-1, *s) for x, s in zip((self.u, self.v, self.w), shapes))  # type: ignore[return-value]

    def without_zero_terms(self) -> Scheme:
        """Drop terms with a zero factor (they contribute nothing)."""
        keep = np.any(self.u != 0, axis=1) & np.any(self.v != 0, axis=1) & np.any(self.w != 0, axis=1)
        d = None if self.denominators is None else self.denominators[keep]
        return Scheme(self.target, self.ring, self.u[keep], self.v[keep], self.w[keep], d)

    def __repr__(self) -> str:
        return f"Scheme({self.target.name}, ring={self.ring}, rank={self.rank})"


def naive_scheme(target: Target, ring: Ring | str = "Z") -> Scheme:
    """The definition as a scheme: one term e_a ⊗ e_b ⊗ T[a,b,:] per non-zero (a, b) slice.

    For matmul this is the n·m·p-term schoolbook algorithm.
    """
    ni, nj, nk = target.dims
    t = target.tensor
    pairs = np.argwhere(np.any(t != 0, axis=2))
    rank = len(pairs)
    u = np.zeros((rank, ni), dtype=np.int64)
    v = np.zeros((rank, nj), dtype=np.int64)
    u[np.arange(rank), pairs[:, 0]] = 1
    v[np.arange(rank), pairs[:, 1]] = 1
    w = t[pairs[:, 0], pairs[:, 1], :].astype(np.int64)
    ring = parse_ring(ring)
    return Scheme(target, ring, u, v, ring.reduce(w))
