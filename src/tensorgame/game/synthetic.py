"""Synthetic demonstrations: <tensor, factor list> pairs built from random factors.

Decomposing a tensor is hard, composing one is trivial: draw R random terms
(u_r, v_r, w_r) and sum their outer products; the terms are then a correct
decomposition (a "demonstration" a policy can imitate) of the tensor.

Distribution of a pair (all configurable in :class:`SyntheticConfig`):

* shape: one of the configured targets (uniform, or ``target_probs``); the pair has
  that target's sides (I, J, K) and, for matmul targets, remembers (n, m, p);
* ring: one of ``rings`` (uniform over Z and Z2 by default, or ``ring_probs``);
* rank R: uniform in [min_rank, cap] where cap is the target's naive rank (n·m·p for
  matmul), optionally lowered by ``max_rank``;
* coefficients: every entry of every factor inside the real sides is drawn i.i.d.
  from ``values`` with probabilities ``probs``; default P(0) = 0.5, P(±1) = 0.2 each,
  P(±2) = 0.05 each. In a Z_p pair the drawn values are reduced mod p (over Z2 with
  the default: P(1) = 0.4, P(0) = 0.6), matching the game's legal moves there;
* blocks: a share ``block_fraction`` of the matrix-product pairs (0 by default) have
  every factor supported on a random sub-box of the index ranges
  (:mod:`tensorgame.game.blocks`), and a rank of at most that block's naive count:
  decompositions of tensors that live on a smaller product embedded in the target,
  the residuals the block curriculum leaves;
* a factor that came out all zero is redrawn (every term is a genuine rank-one
  tensor, hence a legal game move), and a pair whose sum is the zero tensor is
  redrawn whole.

The stream is seeded and reproducible: batch k is a pure function of (seed, k),
drawn from ``np.random.default_rng([seed, k])``, so workers can produce disjoint
batches independently and a stream restarts anywhere.

Cyclic pairs (``SyntheticConfig.cyclic``, square matmul shapes): the drawn terms are
moves of a cyclic game (:mod:`tensorgame.game.cyclic`), the tensor sums their orbits,
the rank cap is the naive scheme's move count, and a share ``FIXED_SHARE`` of the
moves is made fixed (V = U, W = Uᵀ), the only kind of move that places one term, so
that the network sees both kinds.

Arrays use the game's padded layout: tensors (N, S, S, S), factors (N, R_max, 3, S)
int8 with zero padding past each pair's rank and sides, so factor r of pair i is
exactly a legal move of the game started on tensor i.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from tensorgame.game.blocks import box_shape, box_support, random_box
from tensorgame.game.config import MAX_SIDE_LIMIT
from tensorgame.game.cyclic import (
    applies,
    expand,
    naive_moves,
    orbit_terms,
    side_of,
    transpose_index,
)
from tensorgame.game.errors import GameError
from tensorgame.tensors.rings import Ring, parse_ring
from tensorgame.tensors.scheme import Scheme, naive_scheme
from tensorgame.tensors.targets import Target, matmul_target, tensor_target

#: Share of the moves of cyclic pairs that are fixed terms (a σ-invariant rank 23 for
#: <3,3,3> has 2 of 9, the naive scheme 3 of 11).
FIXED_SHARE = 0.2
DEFAULT_VALUES = (-2, -1, 0, 1, 2)
DEFAULT_PROBS = (0.05, 0.2, 0.5, 0.2, 0.05)


def alphabet_distribution(coefficients: Sequence[int]) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Factor-entry values and weights for a game's move alphabet: the default weights
    restricted to the alphabet (values outside the default set weigh like ±2), so that
    every demonstration can be spelled as moves of that game."""
    default = dict(zip(DEFAULT_VALUES, DEFAULT_PROBS))
    values = tuple(sorted({int(c) for c in coefficients}))
    return values, tuple(default.get(v, DEFAULT_PROBS[0]) for v in values)


def matmul_formats(max_dim: int, max_side: int) -> tuple[Target, ...]:
    """All <n,m,p> with n, m, p <= max_dim whose three sides fit in max_side."""
    out = []
    for n in range(1, max_dim + 1):
        for m in range(1, max_dim + 1):
            for p in range(1, max_dim + 1):
                if max(n * m, m * p, n * p) <= max_side:
                    out.append(matmul_target(n, m, p))
    return tuple(out)


def _probs(values: Sequence[float] | None, n: int, what: str) -> np.ndarray:
    if values is None:
        return np.full(n, 1.0 / n)
    p = np.asarray(values, dtype=np.float64)
    if p.shape != (n,) or not np.all(np.isfinite(p)) or (p < 0).any() or p.sum() <= 0:
        raise GameError(f"{what} must be {n} non-negative weights with a positive sum")
    return p / p.sum()


@dataclass(frozen=True)
class SyntheticConfig:
    """What the generator draws (see the module doc for the distribution)."""

    targets: tuple[Target | tuple[int, int, int], ...]
    max_side: int = 16
    rings: tuple[Ring | str, ...] = ("Z", "Z2")
    ring_probs: tuple[float, ...] | None = None
    target_probs: tuple[float, ...] | None = None
    values: tuple[int, ...] = DEFAULT_VALUES
    probs: tuple[float, ...] = DEFAULT_PROBS
    min_rank: int = 1
    max_rank: int | None = None
    cyclic: bool = False
    block_fraction: float = 0.0
    _targets: tuple[Target, ...] = field(init=False, repr=False, compare=False)
    _rings: tuple[Ring, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        targets = []
        for t in self.targets:
            if not isinstance(t, Target):
                try:
                    t = matmul_target(*t)
                except TypeError:
                    raise GameError(f"a synthetic shape must be a Target or (n, m, p), got {t!r}") from None
            targets.append(t)
        if not targets:
            raise GameError("synthetic demonstrations need at least one target shape")
        if not 1 <= int(self.max_side) <= MAX_SIDE_LIMIT:
            raise GameError(f"max_side must be in 1..{MAX_SIDE_LIMIT}, got {self.max_side}")
        for t in targets:
            if max(t.dims) > self.max_side:
                raise GameError(f"{t.name} has sides {t.dims}, above max_side {self.max_side}")
        rings = tuple(parse_ring(r) for r in self.rings)
        if not rings:
            raise GameError("synthetic demonstrations need at least one ring")
        for r in rings:
            if r.allows_denominators:
                raise GameError("synthetic demonstrations are over Z or Z_p, not Q")
        vals = tuple(int(v) for v in self.values)
        if len(vals) != len(self.probs) or any(not -127 <= v <= 127 for v in vals):
            raise GameError("values must be int8 coefficients, one probability each")
        p = _probs(self.probs, len(vals), "probs")
        if not any(v != 0 and q > 0 for v, q in zip(vals, p)):
            raise GameError("the coefficient distribution must give weight to a non-zero value")
        for r in rings:
            if r.modulus and not any(v % r.modulus and q > 0 for v, q in zip(vals, p)):
                raise GameError(f"every coefficient drawn is zero over {r}")
        _probs(self.ring_probs, len(rings), "ring_probs")
        _probs(self.target_probs, len(targets), "target_probs")
        if not 0 <= float(self.block_fraction) <= 1:
            raise GameError(f"block_fraction must be in [0, 1], got {self.block_fraction}")
        if int(self.min_rank) < 1:
            raise GameError(f"min_rank must be >= 1, got {self.min_rank}")
        if self.max_rank is not None and int(self.max_rank) < int(self.min_rank):
            raise GameError("max_rank must be >= min_rank")
        if int(self.min_rank) > min(t.naive_rank for t in targets):
            raise GameError("min_rank exceeds the naive rank of a target")
        object.__setattr__(self, "values", vals)
        object.__setattr__(self, "_targets", tuple(targets))
        object.__setattr__(self, "_rings", rings)

    @property
    def target_list(self) -> tuple[Target, ...]:
        return self._targets

    @property
    def ring_list(self) -> tuple[Ring, ...]:
        return self._rings

    def cyclic_targets(self) -> np.ndarray:
        """bool per target: its pairs are cyclic (square matmul shapes, ``cyclic`` on)."""
        return np.asarray([bool(self.cyclic) and applies(t) for t in self._targets], dtype=bool)

    def rank_caps(self) -> np.ndarray:
        """Largest rank (moves, for a cyclic shape) drawn per target: its naive
        scheme's, lowered by ``max_rank``."""
        caps = [naive_moves(t.params[0]) if c else t.naive_rank
                for t, c in zip(self._targets, self.cyclic_targets())]
        if self.max_rank is not None:
            caps = [min(c, int(self.max_rank)) for c in caps]
        return np.asarray(caps, dtype=np.int64)

    @property
    def pad_rank(self) -> int:
        return int(self.rank_caps().max())


def tensor_dtype(max_rank: int, max_abs_coefficient: int) -> np.dtype:
    """Smallest integer type holding any sum of max_rank terms of such coefficients."""
    bound = max(1, max_rank) * max(1, max_abs_coefficient) ** 3
    for dt in (np.int16, np.int32, np.int64):
        if bound <= np.iinfo(dt).max:
            return np.dtype(dt)
    raise GameError("synthetic tensors would overflow 64-bit integers")


@njit(cache=True)
def _compose_kernel(factors, ranks, dims, modulus, out):  # pragma: no cover - compiled
    """out[n] = Σ_{r < ranks[n]} u⊗v⊗w (mod p when modulus[n] = p > 0); sparse loops."""
    for n in range(factors.shape[0]):
        ni, nj, nk = dims[n, 0], dims[n, 1], dims[n, 2]
        for r in range(ranks[n]):
            for a in range(ni):
                ua = np.int64(factors[n, r, 0, a])
                if ua == 0:
                    continue
                for b in range(nj):
                    uv = ua * np.int64(factors[n, r, 1, b])
                    if uv == 0:
                        continue
                    for c in range(nk):
                        out[n, a, b, c] += uv * np.int64(factors[n, r, 2, c])
        p = modulus[n]
        if p > 0:
            for a in range(ni):
                for b in range(nj):
                    for c in range(nk):
                        out[n, a, b, c] = out[n, a, b, c] % p


@njit(cache=True)
def _categorical_kernel(uniform, cdf, ring_ids, ring_values, out):  # pragma: no cover - compiled
    """out[i] = ring_values[ring_ids[i], k] for the first k with uniform[i] < cdf[k]."""
    last = cdf.shape[0] - 1
    for i in range(uniform.shape[0]):
        u = uniform[i]
        k = 0
        while k < last and u >= cdf[k]:
            k += 1
        out[i] = ring_values[ring_ids[i], k]


def compose(factors: np.ndarray, ranks: np.ndarray, dims: np.ndarray, modulus: np.ndarray,
            dtype: np.dtype | type | None = None, cyclic: np.ndarray | None = None) -> np.ndarray:
    """Tensors (N, S, S, S) of a padded batch of factor lists (exact, in each ring);
    rows flagged ``cyclic`` hold moves of a cyclic game, whose orbits are summed."""
    if cyclic is not None and np.any(cyclic):
        factors, ranks = expand(np.asarray(factors), ranks, dims, cyclic)
    factors = np.ascontiguousarray(factors, dtype=np.int8)
    n, pad, _, side = factors.shape
    if dtype is None:
        dtype = tensor_dtype(pad, int(np.abs(factors.astype(np.int16)).max(initial=0)))
    out = np.zeros((n, side, side, side), dtype=dtype)
    _compose_kernel(factors, np.ascontiguousarray(ranks, dtype=np.int64),
                    np.ascontiguousarray(dims, dtype=np.int64),
                    np.ascontiguousarray(modulus, dtype=np.int64), out)
    return out


def _ring_of(modulus: int) -> Ring:
    return parse_ring("Z" if modulus == 0 else f"Z{modulus}")


@dataclass(frozen=True, eq=False)
class DemoBatch:
    """N demonstrations in the game's padded layout (see the module doc)."""

    tensors: np.ndarray  # (N, S, S, S)
    factors: np.ndarray  # (N, R, 3, S) int8
    ranks: np.ndarray  # (N,) int64
    dims: np.ndarray  # (N, 3) int64
    modulus: np.ndarray  # (N,) int64, 0 = Z
    params: np.ndarray  # (N, 3) int64, (n, m, p) of a matmul shape, zeros otherwise
    cyclic: np.ndarray | None = None  # (N,) bool, moves of a cyclic game; None = none

    def __post_init__(self) -> None:
        flags = np.zeros(len(self.ranks), dtype=bool) if self.cyclic is None else self.cyclic
        object.__setattr__(self, "cyclic", np.asarray(flags, dtype=bool))

    def __len__(self) -> int:
        return int(self.ranks.shape[0])

    @property
    def side(self) -> int:
        return int(self.factors.shape[3])

    @property
    def pad_rank(self) -> int:
        return int(self.factors.shape[1])

    def select(self, index: np.ndarray | Sequence[int]) -> DemoBatch:
        idx = np.asarray(index, dtype=np.int64)
        return DemoBatch(self.tensors[idx], self.factors[idx], self.ranks[idx], self.dims[idx],
                         self.modulus[idx], self.params[idx], self.cyclic[idx])

    def ring(self, i: int) -> Ring:
        return _ring_of(int(self.modulus[i]))

    def tensor(self, i: int) -> np.ndarray:
        """Pair i's tensor at its real sides."""
        ni, nj, nk = (int(x) for x in self.dims[i])
        return self.tensors[i, :ni, :nj, :nk]

    def moves(self, i: int) -> np.ndarray:
        """Pair i's terms as game moves, (rank, 3, S) int8."""
        return self.factors[i, : int(self.ranks[i])]

    def scheme(self, i: int) -> Scheme:
        """Pair i as a Scheme of its tensor (a user tensor target), for exact checks;
        a cyclic pair's moves are expanded into their orbits."""
        ni, nj, nk = (int(x) for x in self.dims[i])
        mv = self.moves(i)
        if self.cyclic[i]:
            mv = orbit_terms(mv, side_of(ni))
        mv = mv.astype(np.int64)
        return Scheme(tensor_target(self.tensor(i)), self.ring(i), mv[:, 0, :ni], mv[:, 1, :nj],
                      mv[:, 2, :nk])

    def check(self) -> np.ndarray:
        """bool (N,): tensor equals the exact sum of its factors in its ring, and the
        padding (terms past the rank, entries past the sides) is zero."""
        again = compose(self.factors, self.ranks, self.dims, self.modulus, np.int64, self.cyclic)
        ok = np.all((again == self.tensors).reshape(len(self), -1), axis=1)
        r = np.arange(self.pad_rank)[None, :, None, None]
        x = np.arange(self.side)[None, None, None, :]
        outside = (r >= self.ranks[:, None, None, None]) | (x >= self.dims[:, None, :, None])
        ok &= ~np.any((self.factors != 0) & outside, axis=(1, 2, 3))
        return ok

    def equals(self, other: DemoBatch) -> bool:
        names = ("tensors", "factors", "ranks", "dims", "modulus", "params", "cyclic")
        return all(getattr(self, n).shape == getattr(other, n).shape
                   and np.array_equal(getattr(self, n), getattr(other, n)) for n in names)


class SyntheticGenerator:
    """Seeded stream of :class:`DemoBatch` (batch k depends only on (seed, k))."""

    def __init__(self, config: SyntheticConfig, seed: int) -> None:
        self.config = config
        self.seed = int(seed)
        cfg = config
        self._dims = np.asarray([t.dims for t in cfg.target_list], dtype=np.int64)
        self._params = np.asarray(
            [t.params if t.is_matmul else (0, 0, 0) for t in cfg.target_list], dtype=np.int64)
        self._caps = cfg.rank_caps()
        self._cyclic = cfg.cyclic_targets()
        self._moduli = np.asarray([r.modulus or 0 for r in cfg.ring_list], dtype=np.int64)
        self._tprobs = _probs(cfg.target_probs, len(cfg.target_list), "target_probs")
        self._rprobs = _probs(cfg.ring_probs, len(cfg.ring_list), "ring_probs")
        self._values = np.asarray(cfg.values, dtype=np.int8)
        self._vprobs = _probs(cfg.probs, len(cfg.values), "probs")
        self._pad = cfg.pad_rank
        self._vcdf = np.cumsum(self._vprobs)
        self._vcdf[-1] = 1.0
        self._ring_values = np.stack([
            np.mod(self._values.astype(np.int64), m).astype(np.int8) if m else self._values
            for m in self._moduli])
        self._supports: dict[tuple, tuple[np.ndarray, ...]] = {}  # (target, box) -> factor supports
        self._dtype = tensor_dtype(self._pad, int(np.abs(self._values.astype(np.int16)).max()))

    def _coefficients(self, rng: np.random.Generator, ring_ids: np.ndarray) -> np.ndarray:
        """One coefficient per entry of ``ring_ids`` (the ring of the pair it belongs
        to): an inverse-CDF draw from ``values``/``probs``, reduced in that ring."""
        out = np.empty(len(ring_ids), dtype=np.int8)
        _categorical_kernel(rng.random(len(ring_ids)), self._vcdf,
                            np.ascontiguousarray(ring_ids, dtype=np.int64), self._ring_values, out)
        return out

    def _draw(self, rng: np.random.Generator, size: int):
        cfg = self.config
        side = cfg.max_side
        tid = rng.choice(len(self._dims), size=size, p=self._tprobs)
        rid = rng.choice(len(self._moduli), size=size, p=self._rprobs)
        ranks = rng.integers(cfg.min_rank, self._caps[tid] + 1)
        dims = self._dims[tid]
        modulus = self._moduli[rid]
        support = np.arange(side)[None, None, :] < dims[:, :, None]  # (size, 3, side)
        if cfg.block_fraction > 0:
            self._block_supports(rng, tid, ranks, support)
        inside = (np.arange(self._pad)[None, :, None, None] < ranks[:, None, None, None]) & support[:, None]
        factors = np.zeros((size, self._pad, 3, side), dtype=np.int8)
        # boolean indexing walks pair by pair: pair n owns ranks[n]·(its support) entries
        factors[inside] = self._coefficients(rng, np.repeat(rid, ranks * support.sum(axis=(1, 2))))
        live = (np.arange(self._pad)[None, :] < ranks[:, None])[:, :, None]
        n_idx, r_idx, f_idx = np.nonzero(live & ~np.any(factors != 0, axis=3))
        while len(n_idx):  # redraw the factors that came out all zero, until none is
            mask = support[n_idx, f_idx]
            fresh = np.zeros((len(n_idx), side), dtype=np.int8)
            fresh[mask] = self._coefficients(rng, np.repeat(rid[n_idx], mask.sum(axis=1)))
            factors[n_idx, r_idx, f_idx] = fresh
            still = ~np.any(fresh != 0, axis=1)
            n_idx, r_idx, f_idx = n_idx[still], r_idx[still], f_idx[still]
        cyclic = self._cyclic[tid]
        if cyclic.any():
            self._fix_some(rng, factors, ranks, dims, cyclic)
        tensors = compose(factors, ranks, dims, modulus, self._dtype, cyclic)
        return (tensors, factors, ranks.astype(np.int64), dims.copy(), modulus.copy(),
                self._params[tid], cyclic)

    def _block_supports(self, rng: np.random.Generator, tid: np.ndarray, ranks: np.ndarray,
                        support: np.ndarray) -> None:
        """Confine a share ``block_fraction`` of the matrix-product pairs to a random
        sub-box (:mod:`tensorgame.game.blocks`), in place: their factors' supports
        become the box's, and their ranks at most the block's naive count."""
        targets = self.config.target_list
        for n in np.flatnonzero(rng.random(len(tid)) < self.config.block_fraction):
            t = targets[int(tid[n])]
            box = random_box(t, bool(self._cyclic[tid[n]]), rng)
            if box is None:
                continue
            key = (t.name, *(tuple(int(i) for i in chosen) for chosen in box))
            masks = self._supports.get(key)
            if masks is None:
                masks = self._supports[key] = box_support(naive_scheme(t), box)
            for f, mask in enumerate(masks):
                support[n, f, : len(mask)] = mask
            a, b, c = box_shape(box)
            cap = min(naive_moves(a) if self._cyclic[tid[n]] else a * b * c, int(self._caps[tid[n]]))
            low = self.config.min_rank
            ranks[n] = rng.integers(low, max(cap, low) + 1)

    @staticmethod
    def _fix_some(rng: np.random.Generator, factors: np.ndarray, ranks: np.ndarray,
                  dims: np.ndarray, cyclic: np.ndarray) -> None:
        """Turn a share FIXED_SHARE of the live moves of cyclic pairs into fixed terms
        (V = U, W = Uᵀ), in place."""
        live = np.arange(factors.shape[1])[None, :] < ranks[:, None]
        pick = live & cyclic[:, None] & (rng.random(live.shape) < FIXED_SHARE)
        for length in np.unique(dims[cyclic, 0]):
            n = side_of(int(length))
            rows, terms = np.nonzero(pick & (dims[:, 0] == length)[:, None])
            u = factors[rows, terms, 0, :length]
            factors[rows, terms, 1, :length] = u
            factors[rows, terms, 2, :length] = u[:, transpose_index(n, n)]

    def batch(self, index: int, size: int) -> DemoBatch:
        """Batch ``index`` of the stream, ``size`` pairs."""
        if int(size) < 1:
            raise GameError(f"a batch needs at least one pair, got {size}")
        rng = np.random.default_rng([self.seed, int(index)])
        parts = list(self._draw(rng, int(size)))
        while True:  # redraw pairs whose terms cancelled to the zero tensor
            empty = np.flatnonzero(~parts[0].reshape(size, -1).any(axis=1))
            if len(empty) == 0:
                break
            fresh = self._draw(rng, len(empty))
            for arr, new in zip(parts, fresh):
                arr[empty] = new
        return DemoBatch(*parts)

    def stream(self, batch_size: int, start: int = 0, count: int | None = None) -> Iterator[DemoBatch]:
        """Batches start, start+1, ... (``count`` of them, or forever)."""
        k = int(start)
        while count is None or k < start + count:
            yield self.batch(k, batch_size)
            k += 1
