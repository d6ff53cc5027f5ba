"""Training positions and the replay buffer of self-play positions.

A :class:`TrainBatch` is what one learner step consumes, whatever its origin: a
position (residual, history, step, remaining moves, ring, real sides), policy targets
as K candidate moves with weights (a demonstration: its next term with weight 1; a
self-play position: the root's candidates with the search's visit distribution), and
a value target (the observed return from that position on).

The :class:`ReplayBuffer` is a ring buffer of self-play positions in preallocated
numpy arrays (one row per position), so adding a game is a few slice assignments and
sampling a batch is fancy indexing. Its width K is the search's ``num_samples`` (a
root never has more distinct children than samples).

Persistence: :meth:`ReplayBuffer.to_bytes` writes an ``.npz`` archive of plain
numeric arrays (no pickle, read back with ``allow_pickle=False``), in chronological
order, so a resumed run continues with the same positions. A missing or unreadable
file is not fatal: the run says so and refills the buffer by playing.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from tensorgame.errors import FormatError
from tensorgame.game.state import Observation

FORMAT = "tensorgame-replay"
VERSION = 1


@dataclass(frozen=True)
class TrainBatch:
    """B training positions (see the module doc).

    ``residual`` (B, S, S, S) integer; ``history`` (B, h, 3, S) int8; ``step``,
    ``remaining``, ``modulus`` (B,) int64; ``dims`` (B, 3) int64; ``moves``
    (B, K, 3, S) int8 and ``weights`` (B, K) float32 (rows sum to 1; weight-0 entries
    are padding); ``value`` (B,) float32 target return; ``value_mask`` (B,) bool:
    whether the value target is trusted enough to train on.
    """

    residual: np.ndarray
    history: np.ndarray
    step: np.ndarray
    remaining: np.ndarray
    modulus: np.ndarray
    dims: np.ndarray
    moves: np.ndarray
    weights: np.ndarray
    value: np.ndarray
    value_mask: np.ndarray

    def __len__(self) -> int:
        return int(self.residual.shape[0])

    def observation(self) -> Observation:
        return Observation(self.residual, self.history, self.step, self.remaining, self.modulus)

    def take(self, rows: np.ndarray) -> TrainBatch:
        """The positions ``rows``, in that order."""
        return TrainBatch(*(getattr(self, f.name)[rows] for f in fields(self)))


def _pad_k(moves: np.ndarray, weights: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    if moves.shape[1] == k:
        return moves, weights
    m = np.zeros((moves.shape[0], k) + moves.shape[2:], dtype=moves.dtype)
    w = np.zeros((weights.shape[0], k), dtype=weights.dtype)
    m[:, : moves.shape[1]] = moves
    w[:, : weights.shape[1]] = weights
    return m, w


def concat_batches(batches: list[TrainBatch]) -> TrainBatch:
    """One batch from several (candidate widths padded to the widest)."""
    batches = [b for b in batches if len(b)]
    if len(batches) == 1:
        return batches[0]
    k = max(b.moves.shape[1] for b in batches)
    padded = [_pad_k(b.moves, b.weights, k) for b in batches]
    res_dtype = np.result_type(*(b.residual.dtype for b in batches))
    return TrainBatch(
        residual=np.concatenate([b.residual.astype(res_dtype, copy=False) for b in batches]),
        history=np.concatenate([b.history for b in batches]),
        step=np.concatenate([b.step for b in batches]),
        remaining=np.concatenate([b.remaining for b in batches]),
        modulus=np.concatenate([b.modulus for b in batches]),
        dims=np.concatenate([b.dims for b in batches]),
        moves=np.concatenate([m for m, _ in padded]),
        weights=np.concatenate([w for _, w in padded]),
        value=np.concatenate([b.value for b in batches]),
        value_mask=np.concatenate([b.value_mask for b in batches]),
    )


@dataclass(frozen=True)
class Positions:
    """Self-play positions in the replay layout (what an actor sends back): the
    fields of :class:`TrainBatch` minus ``value_mask``, plus ``source`` (B,) int64,
    the index of the (target, ring) pair the game was played for (for statistics)."""

    residual: np.ndarray
    history: np.ndarray
    step: np.ndarray
    remaining: np.ndarray
    modulus: np.ndarray
    dims: np.ndarray
    moves: np.ndarray
    weights: np.ndarray
    value: np.ndarray
    source: np.ndarray

    def __len__(self) -> int:
        return int(self.residual.shape[0])


_FIELDS = tuple(f.name for f in fields(Positions))


def episodes_to_positions(results: list[Any], width: int, sources: list[int],
                          final: list[float] | None = None) -> Positions:
    """Flatten :class:`~tensorgame.search.mcts.EpisodeResult` objects into positions:
    one per move, its policy target the search's visit distribution over the root's
    candidates (padded to ``width``), its value target the return-to-go. ``final``:
    per game, a reward paid when it ends (the runtime term), so part of every one of
    its positions' return-to-go."""
    final = [0.0] * len(results) if final is None else final
    rows = [r for r in results if r.num_moves > 0]
    src = [s for r, s in zip(results, sources) if r.num_moves > 0]
    extra = [x for r, x in zip(results, final, strict=True) if r.num_moves > 0]
    if not rows:
        raise ValueError("no moves were played")
    side = rows[0].actions.shape[-1]
    n = sum(r.num_moves for r in rows)
    moves = np.zeros((n, width, 3, side), dtype=np.int8)
    weights = np.zeros((n, width), dtype=np.float32)
    at = 0
    for r in rows:
        c = min(width, r.candidates.shape[1])
        moves[at: at + r.num_moves, :c] = r.candidates[:, :c]
        w = r.policies[:, :c].astype(np.float32)
        weights[at: at + r.num_moves, :c] = w / np.maximum(w.sum(axis=1, keepdims=True), 1e-12)
        at += r.num_moves
    cat = np.concatenate
    return Positions(
        residual=cat([r.observations.residual for r in rows]).astype(np.int16),
        history=cat([r.observations.history for r in rows]).astype(np.int8),
        step=cat([r.observations.step for r in rows]).astype(np.int64),
        remaining=cat([r.observations.remaining for r in rows]).astype(np.int64),
        modulus=cat([r.observations.modulus for r in rows]).astype(np.int64),
        dims=cat([np.repeat(r.dims[None].astype(np.int64), r.num_moves, axis=0) for r in rows]),
        moves=moves, weights=weights,
        value=cat([r.returns_to_go + x for r, x in zip(rows, extra)]).astype(np.float32),
        source=cat([np.full(r.num_moves, s, dtype=np.int64) for r, s in zip(rows, src)]),
    )


class ReplayBuffer:
    """Ring buffer of the last ``capacity`` self-play positions (see the module doc)."""

    def __init__(self, capacity: int, side: int, history: int, width: int) -> None:
        self.capacity = int(capacity)
        self.side, self.history, self.width = int(side), int(history), int(width)
        c, s = self.capacity, self.side
        self._data: dict[str, np.ndarray] = {
            "residual": np.zeros((c, s, s, s), dtype=np.int16),
            "history": np.zeros((c, history, 3, s), dtype=np.int8),
            "step": np.zeros(c, dtype=np.int64),
            "remaining": np.zeros(c, dtype=np.int64),
            "modulus": np.zeros(c, dtype=np.int64),
            "dims": np.ones((c, 3), dtype=np.int64),
            "moves": np.zeros((c, width, 3, s), dtype=np.int8),
            "weights": np.zeros((c, width), dtype=np.float32),
            "value": np.zeros(c, dtype=np.float32),
            "source": np.zeros(c, dtype=np.int64),
        }
        self.size = 0  # rows in use
        self.head = 0  # next row to write
        self.added = 0  # positions ever added (statistics)

    def __len__(self) -> int:
        return self.size

    def add(self, pos: Positions) -> None:
        """Append positions, overwriting the oldest when full."""
        n = len(pos)
        if n == 0:
            return
        if pos.residual.shape[1:] != (self.side,) * 3 or pos.history.shape[1] != self.history:
            raise ValueError("positions do not fit the buffer's layout")
        if pos.residual.size and np.abs(pos.residual).max() > np.iinfo(np.int16).max:
            raise ValueError("a residual entry does not fit int16 storage")
        moves, weights = _pad_k(pos.moves, pos.weights, self.width)
        if moves.shape[1] > self.width:  # more candidates than the buffer's width: keep the heaviest
            order = np.argsort(-weights, axis=1)[:, : self.width]
            moves = np.take_along_axis(moves, order[:, :, None, None], axis=1)
            weights = np.take_along_axis(weights, order, axis=1)
            weights = weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)
        values = {**{k: getattr(pos, k) for k in _FIELDS}, "moves": moves, "weights": weights}
        if n >= self.capacity:
            values = {k: v[-self.capacity:] for k, v in values.items()}
            n = self.capacity
        idx = (self.head + np.arange(n)) % self.capacity
        for k, v in values.items():
            self._data[k][idx] = v
        self.head = int((self.head + n) % self.capacity)
        self.size = min(self.capacity, self.size + n)
        self.added += len(pos)

    def sample(self, n: int, rng: np.random.Generator) -> TrainBatch:
        """``n`` positions drawn uniformly (with replacement)."""
        if self.size == 0:
            raise ValueError("the replay buffer is empty")
        idx = rng.integers(self.size, size=int(n))
        d = self._data
        return TrainBatch(
            residual=d["residual"][idx], history=d["history"][idx], step=d["step"][idx],
            remaining=d["remaining"][idx], modulus=d["modulus"][idx], dims=d["dims"][idx],
            moves=d["moves"][idx], weights=d["weights"][idx], value=d["value"][idx],
            value_mask=np.ones(len(idx), dtype=bool))

    def _ordered(self) -> np.ndarray:
        """Row indices in chronological order."""
        if self.size < self.capacity:
            return np.arange(self.size)
        return (self.head + np.arange(self.capacity)) % self.capacity

    # --- persistence -------------------------------------------------------------------
    def to_bytes(self, extra: dict[str, np.ndarray] | None = None) -> bytes:
        """The buffer as an uncompressed ``.npz`` archive (see the module doc);
        ``extra`` arrays (e.g. the solution bank) are stored under ``extra/<name>``."""
        order = self._ordered()
        arrays: dict[str, np.ndarray] = {k: v[order] for k, v in self._data.items()}
        arrays["format"] = np.array(FORMAT)
        arrays["version"] = np.array(VERSION, dtype=np.int64)
        arrays["layout"] = np.array([self.capacity, self.side, self.history, self.width, self.added],
                                    dtype=np.int64)
        for k, v in (extra or {}).items():
            arrays[f"extra/{k}"] = np.asarray(v)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        return buffer.getvalue()

    def load_bytes(self, data: bytes, origin: str) -> dict[str, np.ndarray]:
        """Replace the contents with an archive from :meth:`to_bytes` (positions beyond
        this buffer's capacity: the newest are kept); returns the ``extra`` arrays.
        A foreign or damaged archive raises a one-line FormatError."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, KeyError) as exc:
            raise FormatError(f"{origin}: not a replay buffer ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
        if str(arrays.get("format", "")) != FORMAT or int(arrays.get("version", -1)) != VERSION:
            raise FormatError(f"{origin}: not a version-{VERSION} replay buffer")
        layout = arrays.get("layout")
        if layout is None or layout.shape != (5,):
            raise FormatError(f"{origin}: replay buffer without a layout")
        _, side, history, width, added = (int(x) for x in layout)
        if (side, history) != (self.side, self.history):
            raise FormatError(f"{origin}: replay positions of side {side}/history {history} do not "
                              f"fit this run (side {self.side}, history {self.history})")
        missing = [k for k in self._data if k not in arrays]
        if missing:
            raise FormatError(f"{origin}: replay buffer lacks {missing[0]!r}")
        n = int(arrays["value"].shape[0])
        if any(arrays[k].shape[0] != n for k in self._data):
            raise FormatError(f"{origin}: replay arrays disagree in length")
        pos = Positions(**{k: arrays[k] for k in _FIELDS})
        self.size = self.head = self.added = 0
        self.add(pos)
        self.added = max(added, self.added)
        return {k[len("extra/"):]: v for k, v in arrays.items() if k.startswith("extra/")}
