"""Configuration of TensorGame: padding side, history length, move alphabet, limits.

The move alphabet is a set of integer coefficients (default {-2..2}, as in
AlphaTensor). In a game over Z_p the legal coefficients are those of the set that are
already reduced, 0 <= c < p ({0, 1} over Z2 with the default set): every rank-one
tensor mod p still has a legal representative, and each move has one spelling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tensorgame.game.cyclic import applies, naive_moves, representatives
from tensorgame.game.errors import GameError
from tensorgame.tensors.scheme import Scheme
from tensorgame.tensors.targets import Target

#: Largest padded side; rows of GF(2) slices are packed into one uint64 and moves
#: are small vectors, so 64 is ample (AlphaTensor used 25).
MAX_SIDE_LIMIT = 64


@dataclass(frozen=True)
class GameConfig:
    """Settings shared by every game of an environment.

    ``max_side``: S_max, the side every residual is zero-padded to (one network serves
    several targets). ``history``: h, how many past moves the state keeps for the
    network. ``coefficients``: the move alphabet. ``max_steps``: the step limit; None
    uses each target's naive rank (a longer game cannot beat the schoolbook
    algorithm). ``penalty_scale``: multiplier of the terminal rank-bound penalty.
    ``cyclic``: square matmul targets <n,n,n> are played with cyclic-symmetric moves
    (one move places a term and its two rotations, see :mod:`tensorgame.game.cyclic`),
    in their canonical basis; other targets are played as usual.
    """

    max_side: int = 16
    history: int = 7
    coefficients: tuple[int, ...] = (-2, -1, 0, 1, 2)
    max_steps: int | None = None
    penalty_scale: int = 1
    cyclic: bool = False

    def __post_init__(self) -> None:
        def whole(x: object, name: str) -> int:
            if isinstance(x, bool) or not isinstance(x, (int, np.integer)):
                raise GameError(f"{name} must be an integer, got {x!r}")
            return int(x)

        side = whole(self.max_side, "max_side")
        if not 1 <= side <= MAX_SIDE_LIMIT:
            raise GameError(f"max_side must be in 1..{MAX_SIDE_LIMIT}, got {side}")
        if whole(self.history, "history") < 0:
            raise GameError(f"history must be >= 0, got {self.history}")
        coefs = tuple(sorted({whole(c, "a coefficient") for c in self.coefficients}))
        if any(not -127 <= c <= 127 for c in coefs):
            raise GameError("coefficients must lie in -127..127 (moves are int8)")
        if 0 not in coefs or len(coefs) < 2:
            raise GameError("the coefficient set must contain 0 and a non-zero value")
        object.__setattr__(self, "coefficients", coefs)
        if self.max_steps is not None and whole(self.max_steps, "max_steps") < 1:
            raise GameError(f"max_steps must be >= 1, got {self.max_steps}")
        if whole(self.penalty_scale, "penalty_scale") < 0:
            raise GameError(f"penalty_scale must be >= 0, got {self.penalty_scale}")
        if not isinstance(self.cyclic, (bool, np.bool_)):
            raise GameError(f"cyclic must be true or false, got {self.cyclic!r}")

    def plays_cyclic(self, target: Target) -> bool:
        """Whether ``target`` is played with cyclic-symmetric moves."""
        return bool(self.cyclic) and applies(target)

    def moves_of(self, scheme: Scheme) -> np.ndarray | None:
        """A scheme of a target as this game's moves in the canonical basis, (R, 3, S)
        int64 zero-padded: its terms, or one per orbit when the target is played
        cyclic (None when its terms are no union of orbits)."""
        terms = (scheme.u, scheme.v, scheme.w)
        if self.plays_cyclic(scheme.target):
            reps = representatives(*terms, scheme.target.params[0])
            if reps is None:
                return None
            terms = (reps[:, 0], reps[:, 1], reps[:, 2])
        moves = np.zeros((len(terms[0]), 3, self.max_side), dtype=np.int64)
        for f, x in enumerate(terms):
            moves[:, f, : x.shape[1]] = x
        return moves

    def step_limit(self, target: Target) -> int:
        """Moves a game of ``target`` may make: ``max_steps``, else the naive scheme's
        (its rank, or its orbit count in a cyclic game)."""
        if self.max_steps is not None:
            return int(self.max_steps)
        if self.plays_cyclic(target):
            return naive_moves(target.params[0])
        return max(target.naive_rank, 1)

    @property
    def max_coefficient(self) -> int:
        return max(abs(c) for c in self.coefficients)

    def value_table(self) -> np.ndarray:
        """bool[256]: entry c + 128 tells whether coefficient c is in the set."""
        table = np.zeros(256, dtype=np.bool_)
        table[np.asarray(self.coefficients) + 128] = True
        return table

    def legal_values(self, modulus: int) -> tuple[int, ...]:
        """Coefficients legal in a game over Z (modulus 0) or Z_p."""
        if modulus == 0:
            return self.coefficients
        return tuple(c for c in self.coefficients if 0 <= c < modulus)
