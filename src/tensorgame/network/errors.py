"""Errors of the network layer.

Both derive from :class:`tensorgame.errors.TensorGameError`, so the CLI prints them as
one-line messages: a bad network setting, a move that the network's alphabet cannot
spell, an observation that does not fit the network, or an unreadable checkpoint are
all things a user (or a config file) can cause, not bugs.
"""

from __future__ import annotations

from tensorgame.errors import TensorGameError


class NetworkError(TensorGameError):
    """A network was configured or fed in a way it cannot honour."""


class CheckpointError(NetworkError):
    """A checkpoint file is missing, damaged, foreign or does not fit the network."""
