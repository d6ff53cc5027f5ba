"""Sharded on-disk format for large sets of synthetic demonstrations.

One shard is one ``.npz`` file (``np.savez_compressed``; plain numeric and unicode
arrays only, readable with ``np.load(path, allow_pickle=False)``):

* ``format``: the string "tensorgame-demos", ``version``: 1;
* ``side`` (S) and ``pad_rank`` (R): the padded layout of the batch it holds;
* ``tensor_dtype``: "int16", "int32" or "int64", the type of the recomposed tensors;
* ``ranks`` (N,), ``dims`` (N, 3), ``modulus`` (N,), ``params`` (N, 3): int64;
* ``terms`` (Σ ranks, 3, S) int8: the factor lists back to back (no rank padding).

Tensors are not stored: a pair is defined by its factor list, and recomposing it on
load (compiled, exact) is cheaper than reading the cube and cannot disagree with the
factors. Everything is validated on load; a damaged or foreign file raises a one-line
:class:`tensorgame.errors.FormatError`.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from tensorgame.errors import FormatError
from tensorgame.game.config import MAX_SIDE_LIMIT
from tensorgame.game.synthetic import DemoBatch, compose

FORMAT = "tensorgame-demos"
VERSION = 1
_KEYS = {"format", "version", "side", "pad_rank", "tensor_dtype", "ranks", "dims", "modulus",
         "params", "terms"}
_TENSOR_DTYPES = ("int16", "int32", "int64")


def save_shard(path: str | Path, batch: DemoBatch) -> Path:
    """Write ``batch`` to ``path`` (a ``.npz`` file); returns the path written."""
    path = Path(path)
    r = np.arange(batch.pad_rank)[None, :] < batch.ranks[:, None]
    terms = batch.factors[r]  # (Σ ranks, 3, S), pair order then term order
    try:
        with open(path, "wb") as fh:
            np.savez_compressed(
                fh, format=np.array(FORMAT), version=np.array(VERSION, dtype=np.int64),
                side=np.array(batch.side, dtype=np.int64),
                pad_rank=np.array(batch.pad_rank, dtype=np.int64),
                tensor_dtype=np.array(batch.tensors.dtype.name),
                ranks=batch.ranks.astype(np.int64), dims=batch.dims.astype(np.int64),
                modulus=batch.modulus.astype(np.int64), params=batch.params.astype(np.int64),
                terms=np.ascontiguousarray(terms, dtype=np.int8),
            )
    except OSError as exc:
        raise FormatError(f"{path}: cannot write shard ({exc.strerror or exc})") from None
    return path


def _fail(path: Path, why: str) -> FormatError:
    return FormatError(f"{path}: not a tensorgame demonstration shard ({why})")


def _int_array(data: dict[str, np.ndarray], key: str, path: Path, ndim: int) -> np.ndarray:
    arr = data[key]
    if arr.dtype.kind not in "iu" or arr.ndim != ndim:
        raise _fail(path, f"'{key}' must be a {ndim}-D integer array")
    return arr.astype(np.int64)


def load_shard(path: str | Path) -> DemoBatch:
    """Read and validate a shard written by :func:`save_shard` (no pickle)."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            magic = fh.read(6)
        if magic.startswith(b"\x93NUMPY"):
            raise _fail(path, "a single array, not an .npz archive")
        if not magic.startswith(b"PK"):
            raise _fail(path, "not an .npz (zip) archive")
        with np.load(path, allow_pickle=False) as npz:
            keys = set(npz.files)
            if keys != _KEYS:
                missing, extra = sorted(_KEYS - keys), sorted(keys - _KEYS)
                raise _fail(path, f"missing {missing}" if missing else f"unexpected {extra}")
            data = {k: npz[k] for k in _KEYS}
    except FormatError:
        raise
    except OSError as exc:
        raise FormatError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (ValueError, EOFError, zipfile.BadZipFile, zlib.error, KeyError, RuntimeError) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _fail(path, why) from None
    fmt = data["format"]
    if fmt.dtype.kind != "U" or fmt.shape != () or str(fmt) != FORMAT:
        raise _fail(path, "wrong 'format' marker")
    version = _int_array(data, "version", path, 0)
    if int(version) != VERSION:
        raise FormatError(f"{path}: shard version {int(version)} is not supported (expected {VERSION})")
    side = int(_int_array(data, "side", path, 0))
    pad = int(_int_array(data, "pad_rank", path, 0))
    if not 1 <= side <= MAX_SIDE_LIMIT or pad < 0:
        raise _fail(path, f"bad side {side} or pad_rank {pad}")
    ranks = _int_array(data, "ranks", path, 1)
    n = len(ranks)
    dims = _int_array(data, "dims", path, 2)
    modulus = _int_array(data, "modulus", path, 1)
    params = _int_array(data, "params", path, 2)
    if dims.shape != (n, 3) or modulus.shape != (n,) or params.shape != (n, 3):
        raise _fail(path, "per-pair arrays disagree in length")
    if (ranks < 0).any() or (ranks > pad).any():
        raise _fail(path, "a rank is outside 0..pad_rank")
    if (dims < 1).any() or (dims > side).any():
        raise _fail(path, "a side is outside 1..side")
    if ((modulus != 0) & ((modulus < 2) | (modulus > 127))).any():
        raise _fail(path, "a modulus is not 0 (Z) or a small prime")
    terms = data["terms"]
    if terms.dtype != np.int8 or terms.shape != (int(ranks.sum()), 3, side):
        raise _fail(path, f"'terms' must be int8 of shape ({int(ranks.sum())}, 3, {side})")
    factors = np.zeros((n, pad, 3, side), dtype=np.int8)
    live = np.arange(pad)[None, :] < ranks[:, None]
    factors[live] = terms
    x = np.arange(side)[None, None, None, :]
    if np.any((factors != 0) & (x >= dims[:, None, :, None])):
        raise _fail(path, "a factor is non-zero past its side")
    mod = modulus[:, None, None, None]
    if np.any((mod > 0) & ((factors < 0) | (factors >= np.maximum(mod, 1)))):
        raise _fail(path, "a modular factor is not reduced")
    tdt = data["tensor_dtype"]
    if tdt.dtype.kind != "U" or tdt.shape != () or str(tdt) not in _TENSOR_DTYPES:
        raise _fail(path, "bad 'tensor_dtype'")
    tensors = compose(factors, ranks, dims, modulus, np.int64)
    info = np.iinfo(np.dtype(str(tdt)))
    if tensors.size and (tensors.min() < info.min or tensors.max() > info.max):
        raise _fail(path, f"tensor entries do not fit {tdt}")
    tensors = tensors.astype(str(tdt))
    return DemoBatch(tensors, factors, ranks, dims, modulus, params)


def write_shards(directory: str | Path, batches: Iterable[DemoBatch], prefix: str = "demos") -> list[Path]:
    """Write each batch as ``<prefix>-00000.npz``, ``-00001`` ... in ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return [save_shard(directory / f"{prefix}-{k:05d}.npz", b) for k, b in enumerate(batches)]


def iter_shards(directory: str | Path, prefix: str = "demos") -> Iterator[DemoBatch]:
    """Read back the shards of :func:`write_shards`, in order."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FormatError(f"{directory}: not a directory of shards")
    for path in sorted(directory.glob(f"{prefix}-*.npz")):
        yield load_shard(path)
