"""The batched game state: a struct of arrays, one row per game.

A tree search expands hundreds of nodes per move for every game, so a state is not a
Python object per game but a handful of arrays indexed by game; cloning is a few
``ndarray.copy`` calls and selecting/scattering games (``take``/``put``) is fancy
indexing. Everything a game needs that is not an array (its target, ring and basis)
lives in an immutable :class:`GameSpec` shared by reference and indexed by ``spec``.

Layout (B games, padded side S, history h, step limit L = max over games):

* ``residual`` (B, S, S, S): the tensor still to decompose, zero outside the game's
  real sides; int8/int16/int32, the smallest type that provably cannot overflow
  within the step limit (Z2 games hold 0/1);
* ``history`` (B, h, 3, S) int8: the last h moves, most recent first (zeros before
  the first move);
* ``played`` (B, L, 3, S) int8: every move so far (for scheme extraction);
* ``step``, ``limit`` (B,): moves made and step limit; ``done`` (B,) bool;
* ``returns``, ``penalty`` (B,): sum of rewards so far and the terminal penalty paid;
* ``nnz`` (B,): non-zero entries of the residual, kept up to date by the step kernel
  so the terminal test is O(1);
* ``dims`` (B, 3), ``modulus`` (B,) (0 = Z, p = Z_p), ``spec`` (B,) index into
  ``specs``.

A move is a (3, S) int8 array (u, v, w) in the game's basis, zero past each factor's
real length. This representation is independent of how a network tokenises moves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tensorgame.game.basis import Basis
from tensorgame.game.errors import GameError
from tensorgame.tensors.rings import Ring
from tensorgame.tensors.targets import Target

ARRAY_FIELDS = (
    "residual", "history", "played", "step", "limit", "done", "returns", "penalty",
    "nnz", "dims", "modulus", "spec",
)


@dataclass(frozen=True, eq=False)
class GameSpec:
    """What is fixed for a game: the canonical target, the ring, the basis it is
    played in (None = canonical), the start tensor T' = (A, B, C)·T (reduced), the step
    limit and whether moves are cyclic-symmetric (:mod:`tensorgame.game.cyclic`)."""

    target: Target
    ring: Ring
    basis: Basis | None
    tensor: np.ndarray = field(repr=False)
    limit: int
    cyclic: bool = False

    @property
    def dims(self) -> tuple[int, int, int]:
        return self.target.dims

    @property
    def modulus(self) -> int:
        return int(self.ring.modulus or 0)


@dataclass(frozen=True)
class Observation:
    """What a network sees (views into the state, not copies)."""

    residual: np.ndarray  # (B, S, S, S)
    history: np.ndarray  # (B, h, 3, S) int8, most recent first
    step: np.ndarray  # (B,) moves made
    remaining: np.ndarray  # (B,) moves left before the limit
    modulus: np.ndarray  # (B,) 0 for Z, p for Z_p


@dataclass(eq=False)
class GameState:
    """Batched state of B games; see the module doc for the meaning of each array."""

    residual: np.ndarray
    history: np.ndarray
    played: np.ndarray
    step: np.ndarray
    limit: np.ndarray
    done: np.ndarray
    returns: np.ndarray
    penalty: np.ndarray
    nnz: np.ndarray
    dims: np.ndarray
    modulus: np.ndarray
    spec: np.ndarray
    specs: tuple[GameSpec, ...]

    # --- sizes ---------------------------------------------------------------------------
    @property
    def batch_size(self) -> int:
        return int(self.residual.shape[0])

    def __len__(self) -> int:
        return self.batch_size

    @property
    def side(self) -> int:
        return int(self.residual.shape[1])

    @property
    def solved(self) -> np.ndarray:
        """Games whose residual reached zero (a correct scheme was played)."""
        return self.done & (self.nnz == 0)

    def spec_of(self, i: int) -> GameSpec:
        return self.specs[int(self.spec[i])]

    def observation(self) -> Observation:
        return Observation(self.residual, self.history, self.step, self.limit - self.step,
                           self.modulus)

    # --- cheap copies for tree search --------------------------------------------------
    def clone(self) -> GameState:
        """An independent copy (specs are immutable and shared)."""
        return GameState(**{name: getattr(self, name).copy() for name in ARRAY_FIELDS},
                         specs=self.specs)

    def restore(self, snapshot: GameState) -> None:
        """Overwrite this state in place with ``snapshot`` (same shapes), e.g. to rewind
        a search to its root without reallocating."""
        self._require_compatible(snapshot)
        for name in ARRAY_FIELDS:
            np.copyto(getattr(self, name), getattr(snapshot, name))

    def take(self, index: np.ndarray | list[int] | int) -> GameState:
        """A new state made of the selected games (repeats allowed: expand a root
        into many children)."""
        idx = np.atleast_1d(np.asarray(index, dtype=np.int64))
        return GameState(**{name: getattr(self, name)[idx] for name in ARRAY_FIELDS},
                         specs=self.specs)

    def put(self, index: np.ndarray | list[int] | int, source: GameState) -> None:
        """Write the games of ``source`` into rows ``index`` of this state."""
        self._require_compatible(source, same_batch=False)
        idx = np.atleast_1d(np.asarray(index, dtype=np.int64))
        if len(idx) != source.batch_size:
            raise GameError(f"put: {len(idx)} rows for {source.batch_size} games")
        for name in ARRAY_FIELDS:
            getattr(self, name)[idx] = getattr(source, name)

    def _require_compatible(self, other: GameState, same_batch: bool = True) -> None:
        if other.specs is not self.specs:
            raise GameError("states come from different resets (their game specs differ)")
        for name in ARRAY_FIELDS:
            a, b = getattr(self, name), getattr(other, name)
            shape_a = a.shape if same_batch else a.shape[1:]
            shape_b = b.shape if same_batch else b.shape[1:]
            if shape_a != shape_b or a.dtype != b.dtype:
                raise GameError(f"states differ in the layout of {name!r}")

    def equals(self, other: GameState) -> bool:
        """Same games in the same positions (array-wise equality)."""
        return other.specs is self.specs and all(
            np.array_equal(getattr(self, n), getattr(other, n)) for n in ARRAY_FIELDS)
