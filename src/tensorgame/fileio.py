"""File plumbing shared by every layer that reads or writes user files: reading with
one-line errors, atomic writes (a crash never leaves a half-written file), and error
messages that say which file (and which part of it) was wrong."""

from __future__ import annotations

import copy
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tensorgame.errors import FormatError, TensorGameError

def read_bytes(path: str | Path) -> bytes:
    """The whole file; an unreadable path is a user mistake, not a crash."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise FormatError(f"{path}: cannot read ({exc.strerror or exc})") from None


def read_text(path: str | Path) -> str:
    """The file decoded as UTF-8 (the only encoding our text formats use)."""
    data = read_bytes(path)
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
