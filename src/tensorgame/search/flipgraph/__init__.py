"""Flip-graph search: random walks on schemes that lower the rank (Kauers–Moosbauer).

A walk applies random *flips* (rank-preserving rewrites of two terms sharing a
factor), takes every *reduction* that appears (rank −1), and escapes plateaus with
*plus transitions* and, optionally, *splits* (rank +1). The hot loop is compiled with
numba on bit-packed factors; see ``_structure`` for the flip-candidate structure and
``_ring_ops`` for the ring arithmetic. Factors of up to 64 entries are one uint64 word
(``_kernel``); longer ones, up to 256 (matmul sides up to 16), take ``_wide``'s kernels.
Everything returned is verified exactly.

Search rings: ``"Z2"`` (results hold mod 2 only), ``"Z3"`` (mod 3 only; Hensel
lifting may carry them to Z or Q) and ``"ZT"`` (coefficients in {-1, 0, 1}; results
hold over Z, hence in every ring).

Beyond this module: ``drivers`` runs many walks over all cores (pool and copy-best
strategies, checkpoints, catalogue), ``symmetric`` walks schemes invariant under the
cyclic symmetry of square matrix multiplication.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from tensorgame.errors import TargetError, VerificationError
from tensorgame.machine import physical_memory_bytes
from tensorgame.search.flipgraph import _structure, _wide
from tensorgame.search.flipgraph._kernel import walk_kernel
from tensorgame.search.flipgraph._structure import META, RANK, ROWS, allocate, load_terms, terms
from tensorgame.search.flipgraph.packing import (
    PackedScheme,
    check_lengths,
    pack,
    ring_code,
    search_ring,
    unpack,
)
from tensorgame.tensors.scheme import Scheme, naive_scheme
from tensorgame.tensors.targets import Target, matmul_target

__all__ = [
    "PackedScheme", "WalkResult", "check_memory", "checked_pack", "pack", "search", "search_ring", "unpack",
    "walk", "walker_bytes", "warmup",
]

#: Flip attempts per compiled call in :func:`search` (a fixed size keeps the walk's
#: trajectory independent of timing; only where it stops depends on the clock).
_CHUNK = 1 << 16
#: Defaults of :func:`search`. Plateau lengths, from seeded scans (8-10 seeds, flips
#: to the reference rank from naive): over Z2 3,000 beat 300-50,000 on <3,3,3> and
#: <3,3,4>; over ZT (fewer legal moves) 20,000 beat 3,000-100,000 on <3,3,3>; over Z3
#: (3 seeds, <3,3,3> to 23 within 5 s) 30,000 reached it in 0.2-1.1 s, 3,000 once.
_SEARCH_PLATEAU = {"Z2": 3_000, "ZT": 20_000, "Z3": 30_000}
_SEARCH_RESET = 10_000_000
#: Improvements that a reset may return to.
_HISTORY = 10


class _Engine(NamedTuple):
    """The compiled walk for one factor width: one word (``_structure``, ``_kernel``)
    or several (``_wide``); same signatures."""

    build: Callable
    walk: Callable


_ONE_WORD = _Engine(_structure.build, walk_kernel)
_WIDE = _Engine(_wide.build, _wide.walk_kernel)


def walker_bytes(capacity: int, words: int) -> int:
    """Memory of one walker able to hold ``capacity`` terms of ``words``-word factors
    (the group table is 3·RMAX² ids: it dominates for large ranks)."""
    rmax = capacity + 6  # the walker adds plus_diff + 2 (plus_diff 4 by default)
    width = _structure.table_width(rmax)
    ids = 4 if words > 1 else 8
    return 8 * width * (ROWS + 12 * words) + 3 * rmax * rmax * ids + 8 * rmax * (6 * words + 1)


def check_memory(capacity: int, words: int, walkers: int) -> None:
    """Refuse a search whose ``walkers`` walkers would not fit in half of this
    machine's memory (TargetError: a smaller start or fewer workers is the remedy)."""
    need = walkers * walker_bytes(capacity, words)
    have = physical_memory_bytes()
    if need > have // 2:
        raise TargetError(
            f"{walkers} walks from a rank-{capacity} start need about {need / 2**30:.1f} GiB, more than "
            f"half of this machine's {have / 2**30:.0f} GiB: use fewer --workers or --runners, "
            "or a start of lower rank (--start meta:...)"
        )


@dataclass(frozen=True)
class WalkResult:
    """Best scheme of a walk (verified) and what it cost."""

    scheme: Scheme
    rank: int
    flips: int
    seconds: float
    reductions: int
    plus_transitions: int


class _Walker:
    """A resumable compiled walk: the state arrays, the generator and the best so far."""

    def __init__(
        self, start: PackedScheme, target: Target, plus_diff: int, seed: int, split: bool = False,
        capacity: int | None = None,
    ) -> None:
        """``capacity``: the largest rank of a scheme later given to :meth:`reset` or
        :meth:`restart` (default: the start's)."""
        self.target = target
        self.ring = start.ring
        self.plus_diff = plus_diff
        self.split = split
        self.engine = _WIDE if start.nz.ndim == 3 else _ONE_WORD  # (3, R, 1) masks: the wide path at W = 1
        rmax = max(start.rank, capacity or 0) + plus_diff + 2
        self.state = allocate(ring_code(start.ring), start.nz, start.sg, start.sc, rmax)
        self.rng = np.array([seed & (2**64 - 1)], dtype=np.uint64)
        self.best_nz = np.zeros((3, rmax) + start.nz.shape[2:], dtype=np.uint64)
        self.best_sg = np.zeros_like(self.best_nz)
        self.best_sc = np.ones(rmax, dtype=np.int64)
        self.reductions = int(self.engine.build(self.state))  # the start may hold mergeable terms
        self._take_best()
        self.since = 0
        self.attempts = 0
        self.flips = 0
        self.pluses = 0

    def run(self, attempts: int, plateau_limit: int, target_rank: int) -> None:
        best, done, flips, drops, pluses, self.since = self.engine.walk(
            self.state, self.rng, self.best_nz, self.best_sg, self.best_sc, self.best_rank,
            attempts, plateau_limit, self.plus_diff, target_rank, self.since, self.split,
        )
        self.best_rank = int(best)
        self.attempts += int(done)
        self.flips += int(flips)
        self.reductions += int(drops)
        self.pluses += int(pluses)

    def best(self) -> PackedScheme:
        """A copy of the best scheme so far."""
        r = self.best_rank
        return PackedScheme(
            self.ring, self.best_nz[:, :r].copy(), self.best_sg[:, :r].copy(), self.best_sc[:r].copy()
        )

    def current(self) -> PackedScheme:
        """A copy of the walk's current scheme."""
        return PackedScheme(self.ring, *terms(self.state))

    def _take_best(self) -> None:
        """The current scheme becomes the best so far."""
        nz, sg, sc = terms(self.state)
        self.best_rank = nz.shape[1]
        self.best_nz[:, : self.best_rank], self.best_sg[:, : self.best_rank] = nz, sg
        self.best_sc[: self.best_rank] = sc

    def restart(self, start: PackedScheme) -> None:
        """Continue from another scheme (the best so far is kept)."""
        load_terms(self.state, start.nz, start.sg, start.sc)
        self.reductions += int(self.engine.build(self.state))
        self.since = 0

    def reset(self, start: PackedScheme) -> None:
        """Start over from another scheme, which becomes the best so far (a pool task:
        its success is measured against its own start)."""
        self.restart(start)
        self._take_best()

    @property
    def rank(self) -> int:
        """Rank of the walk's current point (up to best + plus_diff)."""
        return int(self.state[0][META, RANK])

    def best_scheme(self) -> Scheme:
        """The best scheme, verified exactly; an incorrect one is an engine bug."""
        scheme = unpack(self.best(), self.target)
        if not scheme.verify().ok:
            raise RuntimeError(
                f"flip-graph engine bug: produced an incorrect rank-{self.best_rank} scheme "
                f"over {scheme.ring}"
            )
        return scheme

    def result(self, seconds: float) -> WalkResult:
        return WalkResult(
            self.best_scheme(), self.best_rank, self.flips, seconds, self.reductions, self.pluses
        )


def _check_limits(max_flips: int, plateau_limit: int) -> None:
    if max_flips < 0:
        raise ValueError(f"max_flips must be >= 0, got {max_flips}")
    if plateau_limit < 1:
        raise ValueError(f"plateau_limit must be >= 1, got {plateau_limit}")


def checked_pack(scheme: Scheme, ring: str) -> PackedScheme:
    """Pack a start scheme and prove it correct in the search ring (a scheme over Z
    may be read mod 2 or 3, but it must hold there)."""
    ring = search_ring(ring)
    check_lengths(scheme.target.dims)
    packed = pack(scheme, ring)
    check = unpack(packed, scheme.target).verify()
    if not check.ok:
        raise VerificationError(
            f"the start scheme is not a correct scheme over {check.ring}", check
        )
    return packed


def _start(scheme: Scheme, ring: str, plus_diff: int, seed: int, split: bool = False) -> _Walker:
    if plus_diff < 0:
        raise ValueError("plus_diff must be >= 0")
    return _Walker(checked_pack(scheme, ring), scheme.target, plus_diff, seed, split)


def walk(
    scheme: Scheme,
    *,
    ring: str = "Z2",
    max_flips: int = 10**7,
    target_rank: int | None = None,
    plateau_limit: int = 50_000,
    plus_diff: int = 4,
    seed: int = 0,
    split: bool = False,
) -> WalkResult:
    """One seeded random walk from ``scheme`` of at most ``max_flips`` flip attempts,
    stopping early at ``target_rank``; returns the best scheme seen.

    Plus transitions (with ``split``: a plus transition or a split, ½ each) fire after
    ``plateau_limit`` attempts without a rank drop (or when no flip exists) while the
    rank is below best + ``plus_diff``; a walk with neither
    a flip nor a plus transition left goes back to its best scheme. In ZT an attempt
    whose sums would leave {-1, 0, 1} changes nothing, so ``WalkResult.flips`` (flips
    performed) can be below the attempts made.
    """
    t0 = time.perf_counter()
    _check_limits(max_flips, plateau_limit)
    walker = _start(scheme, ring, plus_diff, seed, split)
    walker.run(max_flips, plateau_limit, target_rank or 0)
    return walker.result(time.perf_counter() - t0)


def search(
    target: Target,
    *,
    ring: str = "Z2",
    time_limit: float,
    target_rank: int | None = None,
    seed: int = 0,
    start: Scheme | None = None,
    max_flips: int | None = None,
    plateau_limit: int | None = None,
    plus_diff: int = 4,
    reset_limit: int | None = _SEARCH_RESET,
    split: bool = False,
) -> WalkResult:
    """Walk from ``start`` (default: the naive scheme) until ``target_rank``,
    ``time_limit`` seconds or ``max_flips`` flip attempts, in one process.
    ``plateau_limit`` defaults to a value tuned per ring.

    The walk continues across compiled chunks, with plus transitions capped relative
    to the best rank found. Walk lengths to a rank drop are heavy-tailed, so after
    ``reset_limit`` attempts without a new best rank the walk restarts from one of the
    last few improvements (as tfg's runners do); None disables restarts.
    """
    t0 = time.perf_counter()
    _check_limits(max_flips or 0, plateau_limit or 1)
    if start is None:
        start = naive_scheme(target, "Z")
    elif start.target.key != target.key:
        raise ValueError(f"start scheme is for {start.target.name}, not {target.name}")
    walker = _start(start, ring, plus_diff, seed, split)
    if plateau_limit is None:
        plateau_limit = _SEARCH_PLATEAU[walker.ring]
    goal = target_rank or 0
    budget = max_flips if max_flips is not None else np.iinfo(np.int64).max
    chooser = np.random.default_rng(seed & (2**64 - 1))
    history = [walker.best()]
    stale = 0
    while (
        walker.best_rank > goal
        and walker.attempts < budget
        and time.perf_counter() - t0 < time_limit
    ):
        before = walker.best_rank
        walker.run(min(_CHUNK, budget - walker.attempts), plateau_limit, goal)
        if walker.best_rank < before:
            history = (history + [walker.best()])[-_HISTORY:]
            stale = 0
        else:
            stale += _CHUNK
            if reset_limit is not None and stale >= reset_limit:
                walker.restart(history[int(chooser.integers(len(history)))])
                stale = 0
    return walker.result(time.perf_counter() - t0)


def warmup() -> None:
    """Compile (or load from cache) the kernels with a tiny walk, so timings exclude JIT."""
    naive = naive_scheme(matmul_target(2, 2, 2), "Z")
    for ring in ("Z2", "ZT", "Z3"):
        walk(naive, ring=ring, max_flips=1000, plateau_limit=100, split=True)
