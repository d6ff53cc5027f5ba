"""Where self-play games start: the naive-prefix curriculum.

A share of the canonical-basis games start with part of the naive scheme already
played, so that games too long to finish from the target end solved and the agent has
finds of its own to imitate. It is from scratch: the naive scheme is the definition of
the product, no other scheme enters. Two shapes of prefix:

- **random**: a random 1 to N - 1 of the N naive moves;
- **block** (matrix products only): every naive move whose index triple (i, j, k)
  lies outside a random sub-box I' × J' × K' of the index ranges. What is left is
  the product of a smaller format embedded in the target (<2,2,2> inside <3,3,3>),
  so one network learns the smaller formats inside the big board, and a scheme for
  the block below its naive rank is, with the naive moves around it, a scheme for
  the whole target below its naive rank (Strassen on a 2×2 block of <3,3,3>: 26).
  In a cyclic game the box is I' = J' = K', which the cyclic shift keeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Prefix:
    """Moves a game starts with, (k, 3, S) int8, and the block left to play (its
    sides, as a format) when the prefix is a block prefix."""

    moves: np.ndarray
    block: tuple[int, int, int] | None = None


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
            block = None
            if triples is not None and rng.random() < self.block_fraction:
                block = self._block(t, triples, rng)
            if block is not None:
                sides, inside = block
                outside = np.flatnonzero(~inside)
                out[g] = Prefix(naive[rng.permutation(outside)], sides)
            else:
                out[g] = Prefix(naive[rng.permutation(len(naive))[: int(rng.integers(1, len(naive)))]])
        return out

    def _naive_of(self, target: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """The naive moves of a target and, for a matrix product, each move's (i, j, k)
        (N, 3) read off its factors: u = e_(i,j), v = e_(j,k)."""
        got = self._naive.get(target.name)
        if got is None:
            moves = self.env.naive_moves(target)
            triples = None
            if target.is_matmul:
                _, m, p = target.params
                a = np.argmax(moves[:, 0] != 0, axis=1)
                b = np.argmax(moves[:, 1] != 0, axis=1)
                triples = np.stack([a // m, a % m, b % p], axis=1)
            got = self._naive[target.name] = (moves, triples)
        return got

    def _block(self, target: Any, triples: np.ndarray, rng: np.random.Generator
               ) -> tuple[tuple[int, int, int], np.ndarray] | None:
        """A random proper sub-box (sides of at least 2 where the side is 3 or more)
        and which naive moves lie inside it; None when the target has none."""
        sides = tuple(int(d) for d in target.params)
        cyclic = self.env.config.plays_cyclic(target)
        for _ in range(32):
            if cyclic:
                n = sides[0]
                if n < 2:
                    return None
                size = int(rng.integers(_smallest(n), n))
                chosen = rng.choice(n, size=size, replace=False)
                boxes = [chosen] * 3
            else:
                boxes = [rng.choice(d, size=int(rng.integers(_smallest(d), d + 1)), replace=False)
                         for d in sides]
                if all(len(b) == d for b, d in zip(boxes, sides)):
                    if all(d == 1 for d in sides):
                        return None
                    continue
            inside = np.ones(len(triples), dtype=bool)
            for axis, box in enumerate(boxes):
                inside &= np.isin(triples[:, axis], box)
            return (len(boxes[0]), len(boxes[1]), len(boxes[2])), inside
        return None


def _smallest(side: int) -> int:
    """Smallest side a block may have along an axis of ``side``: 2 from side 3 up
    (a side-1 block is a naive product already), else 1."""
    return max(1, min(2, side - 1))
