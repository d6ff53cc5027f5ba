"""Where self-play games start: the naive-prefix curriculum, and restarts inside the
agent's own best schemes.

A share of the canonical-basis games start with part of the naive scheme already
played, so that games too long to finish from the target end solved and the agent has
finds of its own to imitate. It is from scratch: the naive scheme is the definition of
the product, no other scheme enters. Two shapes of prefix:

- **random**: a random 1 to N - 1 of the N naive moves;
- **block** (matrix products only): every naive move whose index triple (i, j, k)
  lies outside a random sub-box I' × J' × K' of the index ranges
  (:mod:`tensorgame.game.blocks`). What is left is
  the product of a smaller format embedded in the target (<2,2,2> inside <3,3,3>),
  so one network learns the smaller formats inside the big board, and a scheme for
  the block below its naive rank is, with the naive moves around it, a scheme for
  the whole target below its naive rank (Strassen on a 2×2 block of <3,3,3>: 26).
  In a cyclic game the box is I' = J' = K', which the cyclic shift keeps.

**Best prefixes** (:func:`best_prefixes`) start a game with a random 1 to R - 1 of the
R terms of the actor's own best scheme of the target: the agent then plays only the
residual of the others, and a shorter way to finish it is a scheme below the best
(a restart from inside the best game found, as in Go-Explore; still from scratch: the
scheme is the agent's own find).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tensorgame.game.blocks import Box, box_shape, in_box, random_box, term_triples


@dataclass(frozen=True)
class Prefix:
    """Moves a game starts with, (k, 3, S) int8, the box left to play when the prefix
    is a block prefix, and whether the moves are the actor's best scheme's."""

    moves: np.ndarray
    box: Box | None = None
    best: bool = False  # moves of the actor's own best scheme, not naive ones

    @property
    def block(self) -> tuple[int, int, int] | None:
        """The block left to play, as a format (None for a random prefix)."""
        return None if self.box is None else box_shape(self.box)

    @property
    def block_name(self) -> str | None:
        """The block as a label, e.g. ``"2x2x2"`` (None for a random prefix)."""
        return None if self.block is None else "x".join(map(str, self.block))


class NaivePrefixes:
    """Draws the prefixes of one actor's games (``fraction`` of the canonical-basis
    games get one; ``block_fraction`` of those a block prefix where the target is a
    matrix product, the others a random one)."""

    def __init__(self, env: Any, fraction: float, block_fraction: float = 0.0) -> None:
        self.env = env
        self.fraction = float(fraction)
        self.block_fraction = float(block_fraction)
        self._naive: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}

    def draw(self, targets: list[Any], basis_ids: list[int],
             rng: np.random.Generator) -> list[Prefix | None]:
        """One entry per game: its prefix, or None (a changed basis has no naive
        moves, and a game outside the share starts from the target itself)."""
        out: list[Prefix | None] = [None] * len(targets)
        if self.fraction <= 0:
            return out
        for g, (t, idx) in enumerate(zip(targets, basis_ids)):
            if idx != 0 or rng.random() >= self.fraction:
                continue
            naive, triples = self._naive_of(t)
            if len(naive) < 2:
                continue
            box = None
            if triples is not None and rng.random() < self.block_fraction:
                box = random_box(t, self.env.config.plays_cyclic(t), rng)
            if box is not None:
                outside = np.flatnonzero(~in_box(triples, box))
                out[g] = Prefix(naive[rng.permutation(outside)], box)
            else:
                out[g] = Prefix(_random_part(naive, rng))
        return out

    def _naive_of(self, target: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """The naive moves of a target and, for a matrix product, each move's (i, j, k)."""
        got = self._naive.get(target.name)
        if got is None:
            moves = self.env.naive_moves(target)
            triples = term_triples(target, moves[:, 0], moves[:, 1]) if target.is_matmul else None
            got = self._naive[target.name] = (moves, triples)
        return got


def best_prefixes(basis_ids: list[int], best_moves: Callable[[int], np.ndarray | None],
                  fraction: float, rng: np.random.Generator) -> list[Prefix | None]:
    """Per game a best prefix (see the module doc) for ``fraction`` of the
    canonical-basis games, else None; ``best_moves(g)`` is game g's best scheme as
    moves, or None where the actor has none below the target's naive rank."""
    out: list[Prefix | None] = [None] * len(basis_ids)
    if fraction <= 0:
        return out
    for g, idx in enumerate(basis_ids):
        if idx != 0 or rng.random() >= fraction:
            continue
        moves = best_moves(g)
        if moves is not None and len(moves) >= 2:
            out[g] = Prefix(_random_part(moves, rng), best=True)
    return out


def _random_part(moves: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random 1 to N - 1 of the N moves, in random order."""
    return moves[rng.permutation(len(moves))[: int(rng.integers(1, len(moves)))]]
