"""File plumbing shared by every layer that reads or writes user files: reading with
one-line errors and size limits, guarded JSON and ``.npy`` parsing (the one place
that knows how hostile input breaks them), atomic writes (a crash never leaves a
half-written file), and error messages that say which file (and which part of it)
was wrong."""

from __future__ import annotations

import copy
import io
import json
import math
import os
import secrets
import sys
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.lib import format as npy_format

from tensorgame.errors import FormatError, TensorGameError

#: Largest file read whole. Our largest real inputs are a few MB (AlphaTensor's npz
#: 0.8 MB, the FMM collection's status.json 2 MB); parsed JSON costs ~10x its size.
MAX_FILE_BYTES = 256 << 20
#: Deepest JSON nesting accepted; our documents nest at most 4 levels, and a bound far
#: below Python's recursion limit keeps every later walk (repr, numpy) safe.
MAX_JSON_DEPTH = 32
#: Element kinds of a plain ``.npy`` array: bool, signed and unsigned integers, floats.
_NPY_KINDS = "biuf"


def read_bytes(path: str | Path, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The whole file, at most ``max_bytes`` (read bounded, so a device such as
    /dev/zero or a file growing meanwhile cannot exhaust memory); an unreadable path
    is a user mistake, not a crash."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise FormatError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise FormatError(f"{path}: larger than {max_bytes:,} bytes, refusing to read it")
    return data


def read_text(path: str | Path, max_bytes: int = MAX_FILE_BYTES) -> str:
    """The file decoded as UTF-8 (the only encoding our text formats use)."""
    data = read_bytes(path, max_bytes)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(f"{path}: not UTF-8 text (bad byte at offset {exc.start})") from None


def atomic_write(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers never see a half-written file.

    The bytes go to a temporary file in the same directory (same file system, so the
    final ``os.replace`` is atomic); it is created with ``os.open`` so the usual umask
    applies to the result.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise FormatError(f"{path}: cannot write ({exc.strerror or exc})") from None


@contextmanager
def error_context(prefix: str) -> Iterator[None]:
    """Prefix any TensorGameError raised inside with ``prefix: `` (same class, same
    attributes), so a message names the file, document or member at fault."""
    try:
        yield
    except TensorGameError as exc:
        new = copy.copy(exc)
        new.args = (f"{prefix}: {exc}",)
        raise new from None


# --- JSON -----------------------------------------------------------------------------------
def load_json(text: str) -> Any:
    """``json.loads`` for untrusted text: syntax errors, nesting past
    :data:`MAX_JSON_DEPTH` and integers with more digits than Python converts all
    raise a one-line :class:`FormatError`."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise FormatError("not valid JSON (nested too deeply)") from None
    except ValueError as exc:  # JSONDecodeError, or an integer with too many digits
        if not isinstance(exc, json.JSONDecodeError):
            raise FormatError(f"not valid JSON for us (a number has more than "
                              f"{sys.get_int_max_str_digits()} digits)") from None
        raise FormatError(f"not valid JSON ({_first_line(exc)})") from None
    stack = [(data, 1)]
    while stack:  # iterative: the depth check itself must not recurse
        value, depth = stack.pop()
        if isinstance(value, (list, dict)):
            if depth > MAX_JSON_DEPTH:
                raise FormatError(f"not valid JSON for us (nested deeper than {MAX_JSON_DEPTH} levels)")
            items = value.values() if isinstance(value, dict) else value
            stack.extend((item, depth + 1) for item in items if isinstance(item, (list, dict)))
    return data


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


# --- .npy -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class NpyHeader:
    """What a ``.npy`` header declares, read before any data so that a caller can
    refuse a shape or size without allocating it."""

    shape: tuple[int, ...]
    fortran: bool
    dtype: np.dtype
    offset: int  # bytes of magic and header, where the data starts

    @property
    def count(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int | None:
        """Bytes of data the header promises (None for pickled object arrays)."""
        return None if self.dtype.hasobject else self.count * self.dtype.itemsize


def read_npy_header(fh: IO[bytes], name: str) -> NpyHeader:
    """The validated header of the ``.npy`` stream ``fh`` (left at the first data byte):
    versions 1 and 2, non-negative sides, plain numeric or object element types."""
    try:
        version = npy_format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = npy_format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, fortran, dtype = npy_format.read_array_header_2_0(fh)
        else:
            raise FormatError(f"{name}: unsupported .npy version {version}")
    except TensorGameError:
        raise
    except Exception:  # noqa: BLE001 - numpy parses the header text with its own tokenizer
        raise FormatError(f"{name}: not a valid .npy array header") from None
    if any(side < 0 for side in shape):
        raise FormatError(f"{name}: negative size in shape {shape}")
    if not dtype.hasobject and (dtype.kind not in _NPY_KINDS or dtype.fields is not None
                                or dtype.subdtype is not None):
        raise FormatError(f"{name}: element type {dtype} is not a plain number (bool, integer or float)")
    return NpyHeader(tuple(int(s) for s in shape), bool(fortran), dtype, fh.tell())


def read_npy_data(fh: IO[bytes], header: NpyHeader, name: str,
                  object_loader: Callable[[IO[bytes]], np.ndarray] | None = None) -> np.ndarray:
    """The array that ``header`` announced, read from ``fh``. Object arrays are pickles:
    they need ``object_loader`` (a restricted unpickler); without one they are refused."""
    if header.dtype.hasobject:
        if object_loader is None:
            raise FormatError(f"{name}: holds Python objects (a pickle); only plain numeric arrays are read")
        return object_loader(fh)
    nbytes = header.nbytes or 0
    payload = fh.read(nbytes)
    if len(payload) < nbytes:
        raise FormatError(f"{name}: truncated data ({len(payload):,} bytes for shape {header.shape})")
    flat = np.frombuffer(payload, dtype=header.dtype, count=header.count)
    return flat.reshape(header.shape, order="F" if header.fortran else "C")


# --- zip ------------------------------------------------------------------------------------
def open_zip(data: bytes, *, max_member: int, max_total: int) -> tuple[zipfile.ZipFile, list[zipfile.ZipInfo]]:
    """The zip archive ``data`` and its file members, refused when its central directory
    declares a member above ``max_member`` or members above ``max_total`` bytes once
    decompressed: checked before anything is decompressed (zip bombs). zipfile stops
    each member's stream at its declared size and checks the CRC there, so a member
    that lies about its size cannot inflate past the check either."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = [info for info in archive.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        raise FormatError("not a valid zip archive") from None
    for info in infos:
        if info.file_size > max_member:
            raise FormatError(f"member {info.filename!r} declares {info.file_size:,} bytes, "
                              f"above the {max_member:,} allowed per member")
    total = sum(info.file_size for info in infos)
    if total > max_total:
        raise FormatError(f"the archive declares {total:,} bytes once decompressed, above the "
                          f"{max_total:,} allowed")
    return archive, infos
