"""Errors of the game layer.

Both derive from :class:`tensorgame.errors.TensorGameError`, so the CLI reports them
as one-line messages. An illegal move is a caller's mistake (a network proposing a
coefficient outside the game's set, a non-zero coefficient in the padding), not a
bug of the environment, hence a user error rather than an assertion.
"""

from __future__ import annotations

from tensorgame.errors import TensorGameError


class GameError(TensorGameError):
    """A game was configured or queried in a way it cannot honour."""


class IllegalMoveError(GameError):
    """A move is outside the game's coefficient set, non-zero in the padding, or has
    a zero factor."""
