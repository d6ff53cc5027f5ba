"""Hyper-parameters of :class:`~tensorgame.network.model.AlphaTensorNet`.

The first three fields must agree with the game the network plays
(:meth:`NetworkConfig.for_game` copies them from a
:class:`~tensorgame.game.config.GameConfig`); the others size the network. The
defaults give a network of well under a million parameters so that it trains on a
couple of CPU cores; the paper's network was two orders of magnitude larger.

A config is a frozen dataclass (hashable, safe to share between actors) and
round-trips through JSON via :meth:`NetworkConfig.to_dict` / :meth:`NetworkConfig.from_dict`,
which is how checkpoints store it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from tensorgame.game.config import MAX_SIDE_LIMIT
from tensorgame.machine import physical_memory_bytes
from tensorgame.network.errors import NetworkError

#: Largest token vocabulary (|coefficients| ** chunk) accepted: the policy's output
#: layer and the legality masks have one entry per token.
MAX_VOCABULARY = 1 << 16
#: Share of the machine's physical memory a network (or a training run, see
#: :mod:`tensorgame.training.config`) may plan to use; the rest is left to the search,
#: the operating system and other processes. Checked before anything is allocated: a
#: huge ``d_model`` once filled 24 GB before the kernel killed the process.
MEMORY_FRACTION = 0.5
#: How a game is laid on the network's S-board (see :class:`NetworkConfig`).
BOARDS = ("padded", "region")
#: float32 weights, their gradients and Adam's two moments.
TRAINING_BYTES_PER_PARAMETER = 16
def memory_budget_bytes() -> int:
    """What a network or a training run may plan to use: :data:`MEMORY_FRACTION` of
    the physical memory."""
    return int(physical_memory_bytes() * MEMORY_FRACTION)


def check_memory(need: int, what: str) -> None:
    """NetworkError unless ``need`` bytes fit in :func:`memory_budget_bytes`."""
    budget = memory_budget_bytes()
    if need > budget:
        raise NetworkError(
            f"{what} needs about {need / 2**30:,.1f} GiB, above the {budget / 2**30:,.1f} GiB allowed "
            f"({MEMORY_FRACTION:.0%} of this machine's memory); make it smaller")


def _integer(value: object, name: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise NetworkError(f"{name} must be an integer, got {value!r}")
    v = int(value)
    if v < low or (high is not None and v > high):
        bound = f">= {low}" if high is None else f"in {low}..{high}"
        raise NetworkError(f"{name} must be {bound}, got {v}")
    return v


def _real(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise NetworkError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise NetworkError(f"{name} must be finite, got {v}")
    return v


@dataclass(frozen=True)
class NetworkConfig:
    """Sizes of the network (see the module doc).

    ``max_side``/``history``/``coefficients``: the game's padded side S, number of past
    moves h in an observation and move alphabet. ``chunk``: coefficients per policy
    token (vocabulary |coefficients| ** chunk). ``d_model``/``heads``: width and
    attention heads of torso and policy head. ``torso_layers``: axial-attention layers
    (each is three grid-pair attention blocks). ``policy_layers``: decoder layers.
    ``ffn_ratio``: hidden width of every feed-forward block, in units of d_model.
    ``quantiles``: outputs of the value head. ``risk_quantile_fraction``: the top
    fraction of quantiles averaged into the risk-seeking value. ``value_scale``: the
    value head predicts returns in units of this many moves, so that a randomly
    initialised head reaches returns of tens of moves in a few hundred optimiser steps
    instead of thousands. ``dropout``: in attention and feed-forward blocks.
    ``board``: ``padded`` shows every game on the S-board; ``region`` shows each game
    only its own I×J×K region (attention masked to it, moves spelled over its real
    coefficients), so that a small format is played the same way inside a network
    built for larger ones (the padding cost <2,2,2>'s skill 50/50 → 11/50 inside
    <2,2,3>'s sides, docs/agent.md).
    """

    max_side: int = 16
    history: int = 7
    coefficients: tuple[int, ...] = (-2, -1, 0, 1, 2)
    chunk: int = 4
    d_model: int = 64
    heads: int = 4
    torso_layers: int = 2
    policy_layers: int = 2
    ffn_ratio: int = 2
    quantiles: int = 8
    risk_quantile_fraction: float = 0.25
    value_scale: float = 16.0
    dropout: float = 0.0
    board: str = "padded"

    def __post_init__(self) -> None:
        def set_(name: str, value: object) -> None:  # normalise a frozen field in place
            object.__setattr__(self, name, value)

        set_("max_side", _integer(self.max_side, "max_side", 1, MAX_SIDE_LIMIT))
        set_("history", _integer(self.history, "history", 0))
        if isinstance(self.coefficients, (str, bytes)) or not hasattr(self.coefficients, "__iter__"):
            raise NetworkError(f"coefficients must be a list of integers, got {self.coefficients!r}")
        coefs = tuple(sorted({_integer(c, "a coefficient", -127, 127) for c in self.coefficients}))
        if 0 not in coefs or len(coefs) < 2:
            raise NetworkError("the coefficient set must contain 0 and a non-zero value")
        set_("coefficients", coefs)
        set_("chunk", _integer(self.chunk, "chunk", 1))
        if len(coefs) ** self.chunk > MAX_VOCABULARY:
            raise NetworkError(f"{len(coefs)} coefficients in chunks of {self.chunk} make "
                               f"{len(coefs) ** self.chunk} tokens, above {MAX_VOCABULARY}")
        set_("d_model", _integer(self.d_model, "d_model", 1))
        set_("heads", _integer(self.heads, "heads", 1))
        if self.d_model % self.heads:
            raise NetworkError(f"d_model ({self.d_model}) must be a multiple of heads ({self.heads})")
        set_("torso_layers", _integer(self.torso_layers, "torso_layers", 1))
        set_("policy_layers", _integer(self.policy_layers, "policy_layers", 1))
        set_("ffn_ratio", _integer(self.ffn_ratio, "ffn_ratio", 1))
        set_("quantiles", _integer(self.quantiles, "quantiles", 1))
        frac = _real(self.risk_quantile_fraction, "risk_quantile_fraction")
        if not 0.0 < frac <= 1.0:
            raise NetworkError(f"risk_quantile_fraction must be in (0, 1], got {frac}")
        set_("risk_quantile_fraction", frac)
        scale = _real(self.value_scale, "value_scale")
        if scale <= 0.0:
            raise NetworkError(f"value_scale must be > 0, got {scale}")
        set_("value_scale", scale)
        drop = _real(self.dropout, "dropout")
        if not 0.0 <= drop < 1.0:
            raise NetworkError(f"dropout must be in [0, 1), got {drop}")
        set_("dropout", drop)
        if self.board not in BOARDS:
            raise NetworkError(f"board must be one of {list(BOARDS)}, got {self.board!r}")
        check_memory(self.parameter_count * TRAINING_BYTES_PER_PARAMETER,
                     f"a network of {self.parameter_count:,} parameters (to train)")

    # --- derived sizes -------------------------------------------------------------------
    @property
    def vocabulary(self) -> int:
        """Number of distinct policy tokens, |coefficients| ** chunk."""
        return len(self.coefficients) ** self.chunk

    @property
    def move_length(self) -> int:
        """Tokens per move: ceil(3·S / chunk)."""
        return -(-3 * self.max_side // self.chunk)

    @property
    def parameter_count(self) -> int:
        """Parameters of the :class:`~tensorgame.network.model.AlphaTensorNet` this
        config builds, counted from the sizes alone (nothing is allocated)."""
        d, f, s = self.d_model, self.ffn_ratio, self.max_side
        attention = 4 * d * d + 4 * d  # query, keys-values (2d) and output projections
        feed_forward = 2 * f * d * d + f * d + 3 * d  # layer norm, two linear layers
        torso_block = 2 * d + attention + feed_forward
        torso = (3 * (s * (self.history + 2) * d + d) + 3 * s * s * d + 5 * d + 8 * d
                 + 3 * self.torso_layers * torso_block + 2 * d)
        decoder_layer = 4 * d + 2 * attention + feed_forward
        policy = ((self.vocabulary + 1) * d + self.move_length * d
                  + self.policy_layers * decoder_layer + 2 * d + d * self.vocabulary + self.vocabulary)
        value = d * d + d + d * self.quantiles + self.quantiles
        return torso + policy + value

    @property
    def risk_quantile_count(self) -> int:
        """How many of the largest quantiles the risk-seeking value averages (>= 1)."""
        return max(1, math.ceil(self.risk_quantile_fraction * self.quantiles - 1e-9))

    # --- construction --------------------------------------------------------------------
    @classmethod
    def for_game(cls, game_config: Any, **overrides: Any) -> NetworkConfig:
        """A config whose side, history and alphabet are those of ``game_config`` (a
        :class:`~tensorgame.game.config.GameConfig`); ``overrides`` set other fields."""
        base = {"max_side": game_config.max_side, "history": game_config.history,
                "coefficients": tuple(game_config.coefficients)}
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise NetworkError(f"unknown network setting(s) {unknown}")
        clash = sorted(k for k in overrides if k in base and overrides[k] != base[k])
        if clash:
            raise NetworkError(f"{clash} must match the game's config")
        return cls(**{**base, **overrides})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (lists instead of tuples)."""
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["coefficients"] = list(self.coefficients)
        return out

    @classmethod
    def from_dict(cls, data: Any) -> NetworkConfig:
        """Inverse of :meth:`to_dict`; every key must be known and every value valid."""
        if not isinstance(data, dict):
            raise NetworkError(f"a network config must be a JSON object, got {type(data).__name__}")
        names = {f.name for f in fields(cls)}
        unknown = sorted(str(k) for k in data if k not in names)
        if unknown:
            raise NetworkError(f"unknown network setting(s) {unknown}")
        return cls(**data)
