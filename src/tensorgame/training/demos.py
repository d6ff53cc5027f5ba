"""Demonstrations for the supervised part of the loss.

Two sources, both turned into game positions the same way:

* **synthetic** pairs (:class:`~tensorgame.game.SyntheticGenerator`): random factors
  summed into a tensor, for the training targets' shapes and rings; a share of them
  re-expressed in a random basis of the run's :class:`~tensorgame.game.BasisPool`
  (factors U·Aᵀ, V·Bᵀ, W·Cᵀ: the same pair seen the way an actor playing in that basis
  sees its tensors);
* **solutions**: schemes the agent itself found (AlphaTensor fed high-scoring games
  back as training data), mapped into a random pool basis (or kept canonical), so one
  lucky game in one basis teaches the policy the whole family of equivalent
  decompositions in every basis, the canonical one included; each pair in a fresh
  random term order, so that its positions cover every subset of terms played, not
  only the prefixes of the order the scheme was stored in.

Both are augmented (:func:`tensorgame.game.augment`: random symmetry of square
matmul shapes, sign patterns, a random term swapped with the last).

From pair to position (a demonstration is a whole winning game, not only its first
move): with R terms, draw t uniformly in 0..R-1 and take the position after the first
t terms were played: residual = Σ of terms t..R-1, history = the played terms (most
recent first), step = t + o with o uniform in 0..L-R for the shape's step limit L (a
game that can still finish with the remaining terms; were o always L-R, "moves left"
would equal the value target and the value head would read it instead of the
residual). The policy target is the *last* term (the augmentation swapped a random
term there), the value target is minus the terms still to play (in a cyclic pair,
their orbits' terms): an upper bound of the residual's rank, which gives a fresh
value head the scale of the returns long before self-play has produced any (a value
of 0 misleads the search).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tensorgame.game import (
    BasisPool,
    DemoBatch,
    GameConfig,
    SyntheticConfig,
    SyntheticGenerator,
)
from tensorgame.game.augment import augment, permute_terms
from tensorgame.game.cyclic import orbit_sizes, side_of
from tensorgame.game.synthetic import alphabet_distribution, compose
from tensorgame.tensors.rings import Ring
from tensorgame.tensors.scheme import Scheme
from tensorgame.tensors.targets import Target
from tensorgame.training.replay import TrainBatch


def pairs_to_positions(batch: DemoBatch, limits: np.ndarray, history: int,
                       rng: np.random.Generator) -> TrainBatch:
    """Positions along the pairs' own games (see the module doc); ``limits`` (N,) is
    each pair's step limit L."""
    n, pad, _, side = batch.factors.shape
    ranks = batch.ranks.astype(np.int64)
    t = np.floor(rng.random(n) * ranks).astype(np.int64)  # terms already played, 0..R-1
    # remaining terms first: rem[i, j] = factors[i, t_i + j] for j < R - t
    j = np.arange(pad)[None, :]
    src = np.minimum(t[:, None] + j, pad - 1)
    rem = np.take_along_axis(batch.factors, src[:, :, None, None], axis=1)
    rem[j >= (ranks - t)[:, None]] = 0
    residual = compose(rem, ranks - t, batch.dims, batch.modulus, np.int64, batch.cyclic)
    hist = np.zeros((n, history, 3, side), dtype=np.int8)
    for k in range(history):  # history[k] = term t-1-k
        idx = t - 1 - k
        ok = idx >= 0
        if ok.any():
            rows = np.flatnonzero(ok)
            hist[rows, k] = batch.factors[rows, idx[rows]]
    last = batch.factors[np.arange(n), ranks - 1]
    left = _terms_left(batch, rem)
    # the game may be anywhere that still leaves room for the remaining terms, so that
    # the value head has to read the rank off the residual, not off "moves left"
    slack = np.maximum(limits - ranks, 0)
    step = np.floor(rng.random(n) * (slack + 1)).astype(np.int64) + t
    return TrainBatch(
        residual=residual.astype(np.int16) if np.abs(residual).max(initial=0) < 2**15 else residual,
        history=hist, step=step.astype(np.int64),
        remaining=np.maximum(limits - step, 1).astype(np.int64),
        modulus=batch.modulus.astype(np.int64), dims=batch.dims.astype(np.int64),
        moves=last[:, None].copy(), weights=np.ones((n, 1), dtype=np.float32),
        value=(-left).astype(np.float32), value_mask=np.ones(n, dtype=bool))


def _terms_left(batch: DemoBatch, rem: np.ndarray) -> np.ndarray:
    """Terms the remaining moves ``rem`` (N, R, 3, S) place: one per move, or per orbit
    in a cyclic pair (zero padding moves count none)."""
    live = np.any(rem != 0, axis=(2, 3))
    sizes = live.astype(np.int64)
    for length in np.unique(batch.dims[batch.cyclic, 0]):
        rows = np.flatnonzero(batch.cyclic & (batch.dims[:, 0] == length))
        sizes[rows] = np.where(live[rows], orbit_sizes(rem[rows], side_of(int(length))), 0)
    return sizes.sum(axis=1)


def _to_basis(factors: np.ndarray, rank: int, dims: np.ndarray, modulus: int, basis: Any,
              coefficients: tuple[int, ...]) -> np.ndarray | None:
    """Factors (R, 3, S) of a pair re-expressed in ``basis``; None when a coefficient
    leaves the alphabet (over Z) so the pair cannot be spelled as game moves."""
    ni, nj, nk = (int(x) for x in dims)
    f = factors[:rank].astype(np.int64)
    u, v, w = basis.factors_from_canonical(f[:, 0, :ni], f[:, 1, :nj], f[:, 2, :nk])
    out = np.zeros_like(factors)
    parts = []
    for x in (u, v, w):
        if modulus:
            x = np.mod(x, modulus)
        parts.append(x)
    lo, hi = min(coefficients), max(coefficients)
    if any(x.size and (x.min() < lo or x.max() > hi) for x in parts):
        return None
    out[:rank, 0, :ni], out[:rank, 1, :nj], out[:rank, 2, :nk] = parts
    return out


@dataclass
class Solution:
    """A scheme the agent found: target index into the run's targets, ring modulus,
    factors (R, 3, S) int8 in the canonical basis, padded to the run's side (the moves
    of a cyclic game: one per orbit), and its rank."""

    target: int
    modulus: int
    factors: np.ndarray
    rank: int


class DemoSource:
    """Synthetic and solution demonstrations for one run (see the module doc).

    ``index`` counts synthetic batches drawn (batch k of the generator's stream is a
    pure function of (seed, k)), so a resumed run continues the stream instead of
    repeating it; it is saved in the checkpoint.
    """

    def __init__(self, targets: list[Target], rings: list[Ring], game: GameConfig,
                 pools: dict[tuple[int, int, int], BasisPool], *, seed: int, max_rank: int = 0,
                 basis_fraction: float = 0.5, canonical_fraction: float = 0.25,
                 block_fraction: float = 0.0) -> None:
        self.targets = targets
        self.rings = rings
        self.game = game
        self.pools = pools
        self.basis_fraction = float(basis_fraction)
        self.canonical_fraction = float(canonical_fraction)
        values, probs = alphabet_distribution(game.coefficients)
        self.generator = SyntheticGenerator(
            SyntheticConfig(targets=tuple(targets), max_side=game.max_side, rings=tuple(rings),
                            values=values, probs=probs, max_rank=max_rank or None,
                            cyclic=game.cyclic, block_fraction=block_fraction), seed)
        self.index = 0
        self.solutions: list[Solution] = []
        self._keys: set[bytes] = set()

    def limit_of(self, dims: np.ndarray) -> np.ndarray:
        """Step limit per pair (the game's for a target shape, else I·J·K; the
        generator caps ranks at the same naive counts)."""
        if self.game.max_steps is not None:
            return np.full(len(dims), int(self.game.max_steps), dtype=np.int64)
        table = {t.dims: self.game.step_limit(t) for t in self.targets}
        return np.asarray([table.get(tuple(int(x) for x in d), int(np.prod(d))) for d in dims],
                          dtype=np.int64)

    # --- synthetic -----------------------------------------------------------------------
    def synthetic(self, n: int, rng: np.random.Generator) -> TrainBatch:
        batch = self.generator.batch(self.index, n)
        self.index += 1
        if self.basis_fraction > 0 and self.pools:
            batch = self._rebase(batch, rng)
        batch = augment(batch, rng)
        return pairs_to_positions(batch, self.limit_of(batch.dims), self.game.history, rng)

    def _rebase(self, batch: DemoBatch, rng: np.random.Generator) -> DemoBatch:
        factors = batch.factors.copy()
        changed = []
        for i in np.flatnonzero(rng.random(len(batch)) < self.basis_fraction):
            pool = self.pools.get(tuple(int(x) for x in batch.dims[i]))
            if pool is None:
                continue
            _, basis = pool.draw(rng)
            new = _to_basis(factors[i], int(batch.ranks[i]), batch.dims[i], int(batch.modulus[i]),
                            basis, self.game.coefficients)
            if new is not None:
                factors[i] = new
                changed.append(i)
        if not changed:
            return batch
        tensors = compose(factors, batch.ranks, batch.dims, batch.modulus, np.int64, batch.cyclic)
        return DemoBatch(tensors, factors, batch.ranks, batch.dims, batch.modulus, batch.params,
                         batch.cyclic)

    # --- solutions -----------------------------------------------------------------------
    def cyclic(self, target: int) -> bool:
        """Whether target ``target`` is played (and its solutions kept) as cyclic moves."""
        return self.game.plays_cyclic(self.targets[target])

    def add_scheme(self, target: int, scheme: Scheme) -> bool:
        """Bank a found scheme of target ``target`` as the game's moves
        (:meth:`GameConfig.moves_of`: for a cyclic target its orbit representatives;
        False when its terms are no union of orbits)."""
        moves = self.game.moves_of(scheme)
        return moves is not None and self.add_solution(target, int(scheme.ring.modulus or 0), moves)

    def add_solution(self, target: int, modulus: int, factors: np.ndarray) -> bool:
        """Remember a found scheme (canonical basis; a cyclic target's as its moves, one
        per orbit); False if already known or its coefficients cannot be spelled in
        the game's alphabet."""
        f = np.asarray(factors)
        if f.size and (f.min() < min(self.game.coefficients) or f.max() > max(self.game.coefficients)):
            return False
        key = bytes([target % 256, modulus % 256]) + np.ascontiguousarray(f, dtype=np.int8).tobytes()
        if key in self._keys:
            return False
        self._keys.add(key)
        rank = f.shape[0]
        if self.cyclic(target):
            rank = int(orbit_sizes(f, self.targets[target].params[0]).sum())
        self.solutions.append(Solution(int(target), int(modulus), f.astype(np.int8), rank))
        return True

    def solution_demos(self, n: int, rng: np.random.Generator) -> TrainBatch | None:
        """``n`` positions from found schemes in random bases (None if none found)."""
        if not self.solutions or n <= 0:
            return None
        # only the best schemes known per (target, ring): once a better one is found, the
        # worse ones stop being imitated
        best: dict[tuple[int, int], int] = {}
        for s in self.solutions:
            key = (s.target, s.modulus)
            best[key] = min(best.get(key, s.rank), s.rank)
        pool = [s for s in self.solutions if s.rank == best[(s.target, s.modulus)]]
        # every (target, ring) gets the same share, however many schemes it has: one
        # rare better scheme must not drown among dozens of schemes of another ring
        sizes: dict[tuple[int, int], int] = {}
        for sol in pool:
            sizes[(sol.target, sol.modulus)] = sizes.get((sol.target, sol.modulus), 0) + 1
        group = np.asarray([sizes[(sol.target, sol.modulus)] for sol in pool], dtype=np.float64)
        side = self.game.max_side
        picks = rng.choice(len(pool), size=n, p=(1.0 / group) / (1.0 / group).sum())
        pad = max(s.factors.shape[0] for s in pool)
        factors = np.zeros((n, pad, 3, side), dtype=np.int8)
        ranks = np.zeros(n, dtype=np.int64)
        dims = np.zeros((n, 3), dtype=np.int64)
        modulus = np.zeros(n, dtype=np.int64)
        params = np.zeros((n, 3), dtype=np.int64)
        cyclic = np.zeros(n, dtype=bool)
        for row, k in enumerate(picks):
            sol = pool[int(k)]
            t = self.targets[sol.target]
            r = sol.factors.shape[0]
            f = sol.factors
            bases = self.pools.get(t.dims)
            if bases is not None and rng.random() >= self.canonical_fraction:
                for _ in range(4):  # a basis whose image of the scheme stays in the alphabet
                    _, basis = bases.draw(rng)
                    new = _to_basis(f, r, np.asarray(t.dims),
                                    sol.modulus, basis, self.game.coefficients)
                    if new is not None:
                        f = new
                        break
            factors[row, :r] = f
            ranks[row], dims[row], modulus[row] = r, t.dims, sol.modulus
            params[row] = t.params if t.is_matmul else (0, 0, 0)
            cyclic[row] = self.cyclic(sol.target)
        tensors = compose(factors, ranks, dims, modulus, np.int64, cyclic)
        # a found scheme is stored in one term order; without a fresh order per pair the
        # positions would only be prefixes of that order, while the policy target (the
        # last term after augment's swap) is spread over every remaining term, so a search
        # that plays another term first reaches residuals never shown (docs/agent.md)
        batch = permute_terms(DemoBatch(tensors, factors, ranks, dims, modulus, params, cyclic), rng)
        batch = augment(batch, rng)
        return pairs_to_positions(batch, self.limit_of(dims), self.game.history, rng)

    def bank_arrays(self) -> dict[str, np.ndarray]:
        """The solutions as plain arrays (saved beside the replay buffer)."""
        if not self.solutions:
            return {"solution_meta": np.zeros((0, 3), dtype=np.int64),
                    "solution_terms": np.zeros((0, 3, self.game.max_side), dtype=np.int8)}
        meta = np.asarray([[s.target, s.modulus, s.factors.shape[0]] for s in self.solutions], dtype=np.int64)
        return {"solution_meta": meta, "solution_terms": np.concatenate([s.factors for s in self.solutions])}

    def load_bank(self, arrays: dict[str, np.ndarray]) -> None:
        meta, terms = arrays.get("solution_meta"), arrays.get("solution_terms")
        if meta is None or terms is None or meta.ndim != 2 or meta.shape[1] != 3:
            return
        at = 0
        for target, modulus, rank in meta.tolist():
            f = terms[at: at + rank]
            at += rank
            if 0 <= target < len(self.targets) and f.shape[1:] == (3, self.game.max_side):
                self.add_solution(target, modulus, f)
