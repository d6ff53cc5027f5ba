"""Change of basis: play a target in a random unimodular basis, map the result back.

For a 3-tensor T (I×J×K) and integer matrices A (I×I), B (J×J), C (K×K) define

    T'[a, b, c] = Σ_{a', b', c'} A[a, a'] · B[b, b'] · C[c, c'] · T[a', b', c'],

i.e. T' = (A, B, C)·T. A rank-one term maps as (A, B, C)·(u⊗v⊗w) = (Au)⊗(Bv)⊗(Cw),
so a decomposition T' = Σ_r u'_r ⊗ v'_r ⊗ w'_r gives, applying (A⁻¹, B⁻¹, C⁻¹),

    T = Σ_r (A⁻¹u'_r) ⊗ (B⁻¹v'_r) ⊗ (C⁻¹w'_r).

Schemes store terms as rows (U is R×I), so in matrix form U = U'·A⁻ᵀ, V = V'·B⁻ᵀ,
W = W'·C⁻ᵀ, and the forward map is U' = U·Aᵀ. With det A = ±1 the inverse is an
integer matrix, so schemes found in any basis map back to integer schemes; over Z_p
the same integer inverse works after reduction mod p.

"Tied" bases use one matrix for every mode of the same size (all three when
I = J = K, as in AlphaTensor); "untied" bases draw each mode independently. A
:class:`BasisPool` is a reproducible, lazily materialised set of bases per target:
basis i is a pure function of (seed, i), so actors share a pool by its seed alone.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from tensorgame.game.errors import GameError
from tensorgame.tensors.rings import Ring, parse_ring
from tensorgame.tensors.scheme import Scheme
from tensorgame.tensors.symmetry import integer_inverse, random_unimodular
from tensorgame.tensors.targets import Target, tensor_target

_INT64_SAFE = float(2**62)

#: Largest entry of a random basis matrix and of its inverse, for training games and
#: ``discover --bases`` alike. With 1, every random basis of <2,2,2> keeps Strassen's
#: image within the alphabet {-2..2} (1000 of 1000 drawn bases; with 2: 616), so a
#: rank-7 game is winnable over Z in every basis; over Z2 the bound changes nothing.
DEFAULT_BASIS_MAX_ENTRY = 1


def _frozen(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.int64)
    x.setflags(write=False)
    return x


def unimodular_inverse(matrix: np.ndarray) -> np.ndarray:
    """Exact integer inverse of a det ±1 matrix (GameError otherwise).

    A float inverse rounded to integers is tried first and accepted only if the exact
    integer product with ``matrix`` is the identity; otherwise (or for large entries)
    :func:`tensorgame.tensors.symmetry.integer_inverse` does exact rational elimination.
    """
    m = np.asarray(matrix, dtype=np.int64)
    n = m.shape[0]
    if m.ndim != 2 or m.shape != (n, n):
        raise GameError(f"a basis matrix must be square, got shape {m.shape}")
    eye = np.eye(n, dtype=np.int64)
    try:
        guess = np.rint(np.linalg.inv(m.astype(np.float64)))
        if np.all(np.abs(guess) < 2**31) and np.abs(m).max(initial=0) < 2**31:
            cand = guess.astype(np.int64)
            if np.array_equal(m @ cand, eye):
                return cand
    except np.linalg.LinAlgError:
        pass
    try:
        num, d = integer_inverse(m)
    except Exception as exc:  # RingError: singular
        raise GameError(f"basis matrix is singular ({exc})") from None
    if d != 1:
        raise GameError("basis matrix is not unimodular (det must be ±1)")
    return num


def _bounded_unimodular(size: int, rng: np.random.Generator, steps: int | None, max_entry: int | None,
                        max_tries: int) -> tuple[np.ndarray, np.ndarray]:
    """A random unimodular matrix and its inverse, redrawn until both have entries of at
    most ``max_entry`` in absolute value (None: the first draw)."""
    for _ in range(max_tries):
        m = random_unimodular(size, rng, steps)
        inv = unimodular_inverse(m)
        if max_entry is None or max(np.abs(m).max(), np.abs(inv).max()) <= max_entry:
            return m, inv
    raise GameError(f"no {size}×{size} basis matrix with entries <= {max_entry} in {max_tries} draws; "
                    "raise max_entry or lower steps")


@dataclass(frozen=True, eq=False)
class Basis:
    """Unimodular matrices (A, B, C) acting on the three modes, with exact inverses."""

    a: np.ndarray = field(repr=False)
    b: np.ndarray = field(repr=False)
    c: np.ndarray = field(repr=False)
    a_inv: np.ndarray = field(repr=False)
    b_inv: np.ndarray = field(repr=False)
    c_inv: np.ndarray = field(repr=False)

    @classmethod
    def from_matrices(cls, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> Basis:
        """Validate det ±1 and compute the integer inverses."""
        mats = [np.asarray(x, dtype=np.int64) for x in (a, b, c)]
        invs = [unimodular_inverse(x) for x in mats]
        return cls(*(_frozen(x) for x in mats), *(_frozen(x) for x in invs))

    @classmethod
    def identity(cls, dims: tuple[int, int, int]) -> Basis:
        eyes = [np.eye(d, dtype=np.int64) for d in dims]
        return cls(*(_frozen(x) for x in eyes), *(_frozen(x) for x in eyes))

    @classmethod
    def random(
        cls,
        dims: tuple[int, int, int],
        rng: np.random.Generator,
        *,
        tied: bool = True,
        steps: int | None = None,
        max_entry: int | None = None,
        max_tries: int = 100,
    ) -> Basis:
        """Random unimodular matrices per mode (see :func:`random_unimodular`).

        ``tied``: modes of equal size share one matrix. ``max_entry``: redraw a mode's
        matrix until every entry of it and of its inverse is at most this in absolute
        value (keeps transformed targets and mapped-back schemes small). Redrawn per
        mode, not per basis: about a third of the 12×12 draws fit the bound of 1, so with
        three sizes a whole basis fits in about one draw of 20 and 100 whole draws
        failed for some bases of <2,3,4>.
        """
        dims = tuple(int(d) for d in dims)
        drawn: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        modes = []
        for d in dims:
            if not (tied and d in drawn):
                drawn[d] = _bounded_unimodular(d, rng, steps, max_entry, max_tries)
            modes.append(drawn[d])
        mats, invs = zip(*modes)
        return cls(*(_frozen(x) for x in mats), *(_frozen(x) for x in invs))

    @property
    def dims(self) -> tuple[int, int, int]:
        return (self.a.shape[0], self.b.shape[0], self.c.shape[0])

    @property
    def max_entry(self) -> int:
        """Largest absolute entry of the matrices and their inverses."""
        return int(max(np.abs(x).max(initial=0) for x in
                       (self.a, self.b, self.c, self.a_inv, self.b_inv, self.c_inv)))

    @property
    def is_identity(self) -> bool:
        return all(np.array_equal(x, np.eye(x.shape[0], dtype=np.int64)) for x in (self.a, self.b, self.c))

    def _check_dims(self, dims: tuple[int, ...]) -> None:
        if tuple(dims) != self.dims:
            raise GameError(f"basis of sides {self.dims} does not fit a tensor of sides {tuple(dims)}")

    def transform_tensor(self, tensor: np.ndarray) -> np.ndarray:
        """T' = (A, B, C)·T as an int64 array (GameError if it could overflow)."""
        t = np.asarray(tensor)
        self._check_dims(t.shape)
        grow = [float(np.abs(x).sum(axis=1).max(initial=0)) for x in (self.a, self.b, self.c)]
        if float(np.abs(t).max(initial=0)) * grow[0] * grow[1] * grow[2] >= _INT64_SAFE:
            raise GameError("the transformed tensor would overflow 64-bit integers")
        t = t.astype(np.int64)
        t = np.tensordot(self.a, t, axes=([1], [0]))  # (a, b', c')
        t = np.tensordot(self.b, t, axes=([1], [1])).transpose(1, 0, 2)  # (a, b, c')
        t = np.tensordot(t, self.c, axes=([2], [1]))  # (a, b, c)
        return np.ascontiguousarray(t)

    def factors_to_canonical(self, u: np.ndarray, v: np.ndarray, w: np.ndarray):
        """Rows (U', V', W') of a decomposition of T' -> rows of one of T: U = U'·A⁻ᵀ."""
        return tuple(np.asarray(x, dtype=np.int64) @ inv.T
                     for x, inv in zip((u, v, w), (self.a_inv, self.b_inv, self.c_inv)))

    def factors_from_canonical(self, u: np.ndarray, v: np.ndarray, w: np.ndarray):
        """Rows (U, V, W) of a decomposition of T -> rows of one of T': U' = U·Aᵀ."""
        return tuple(np.asarray(x, dtype=np.int64) @ m.T
                     for x, m in zip((u, v, w), (self.a, self.b, self.c)))

    def transformed_target(self, target: Target, ring: Ring | str = "Z") -> Target:
        """T' as a user tensor target (entries reduced mod p over Z_p)."""
        ring = parse_ring(ring)
        return tensor_target(ring.reduce(self.transform_tensor(target.tensor)))

    def scheme_to_canonical(self, scheme: Scheme, target: Target) -> Scheme:
        """Map a scheme of T' (any target object with T's sides) to a scheme of ``target``."""
        if scheme.denominators is not None:
            raise GameError("only integer schemes can be mapped through a basis")
        u, v, w = self.factors_to_canonical(scheme.u, scheme.v, scheme.w)
        ring = scheme.ring
        return Scheme(target, ring, *(ring.reduce(x) for x in (u, v, w)))

    def scheme_from_canonical(self, scheme: Scheme) -> Scheme:
        """Map a scheme of T to a scheme of T' (its target is :meth:`transformed_target`)."""
        if scheme.denominators is not None:
            raise GameError("only integer schemes can be mapped through a basis")
        ring = scheme.ring
        u, v, w = self.factors_from_canonical(scheme.u, scheme.v, scheme.w)
        return Scheme(self.transformed_target(scheme.target, ring), ring,
                      *(ring.reduce(x) for x in (u, v, w)))


class BasisPool:
    """A reproducible pool of ``size`` bases for tensors of sides ``dims``.

    Basis i is drawn from ``np.random.default_rng([seed, i])``, so it is the same in
    every process; bases are built on first use and kept in an LRU cache of at most
    ``cache_bytes`` (64 MiB: every basis of a 10^5 pool of 4×4 sides, the paper's pool
    size; building one costs ~0.35 ms, and a cache smaller than the pool made training
    rebuild bases for 9% of its time).
    With ``include_canonical`` basis 0 is the identity, so the canonical game is
    played too.
    """

    def __init__(
        self,
        dims: tuple[int, int, int] | Target,
        size: int,
        seed: int,
        *,
        tied: bool = True,
        steps: int | None = None,
        max_entry: int | None = None,
        include_canonical: bool = True,
        cache_bytes: int = 64 * 2**20,
    ) -> None:
        if isinstance(dims, Target):
            dims = dims.dims
        self.dims = tuple(int(d) for d in dims)
        if len(self.dims) != 3 or min(self.dims) < 1:
            raise GameError(f"a basis pool needs three positive sides, got {dims!r}")
        if int(size) < 1:
            raise GameError(f"a basis pool needs at least one basis, got size {size}")
        self.size = int(size)
        self.seed = int(seed)
        self.tied = bool(tied)
        self.steps = steps
        self.max_entry = max_entry
        self.include_canonical = bool(include_canonical)
        self._cache: OrderedDict[int, Basis] = OrderedDict()
        per_basis = 2 * 8 * sum(d * d for d in self.dims)  # matrices and inverses, int64
        self._cache_size = max(1, min(self.size, int(cache_bytes) // per_basis))

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> Basis:
        i = int(index)
        if not 0 <= i < self.size:
            raise IndexError(f"basis index {i} outside the pool of {self.size}")
        hit = self._cache.get(i)
        if hit is not None:
            self._cache.move_to_end(i)
            return hit
        if i == 0 and self.include_canonical:
            basis = Basis.identity(self.dims)  # type: ignore[arg-type]
        else:
            rng = np.random.default_rng([self.seed, i])
            basis = Basis.random(self.dims, rng, tied=self.tied, steps=self.steps,  # type: ignore[arg-type]
                                 max_entry=self.max_entry)
        self._cache[i] = basis
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return basis

    def draw(self, rng: np.random.Generator) -> tuple[int, Basis]:
        """A uniformly random (index, basis) of the pool."""
        i = int(rng.integers(self.size))
        return i, self[i]

    def draw_many(self, count: int, rng: np.random.Generator) -> list[Basis]:
        """``count`` independent uniform draws (for a batch of games)."""
        return [self[int(i)] for i in rng.integers(self.size, size=int(count))]
