"""AlphaTensor factorization files (``factorizations_r.npz`` / ``_f2.npz``).

Two layouts are read, both documented in ``shared/alphatensor/README.md``:

* upstream: one member ``"n,m,p"`` per format, either a plain (3, n·m, R) array
  (square formats) or a pickled length-3 object array [u, v, w];
* ``_nopickle``: members ``"n,m,p/u"``, ``/v``, ``/w`` (int64) and ``/scale`` (true
  factor = stored / scale), which is also the layout we write.

Factors are (dim, R) and the third one indexes C transposed (``k*n + i``); we convert
to (R, dim) and our ``i*p + k``. The zip members are parsed here rather than with
``np.load`` so that object members can be unpickled by an unpickler that only knows
numpy's array reconstruction: an npz from the internet must not run code.
"""

from __future__ import annotations

import io
import pickle
import re
import zipfile
import zlib
from pathlib import Path
from typing import IO

import numpy as np

from tensorgame.errors import FormatError, TensorGameError
from tensorgame.fileio import (
    atomic_write,
    error_context,
    open_zip,
    read_bytes,
    read_npy_data,
    read_npy_header,
)
from tensorgame.tensors.rings import Z2, Q, Ring, Z
from tensorgame.tensors.scheme import Scheme
from tensorgame.tensors.targets import matmul_target

#: Largest decompressed member, and all members together, that we agree to read
#: (zip bombs); AlphaTensor's factorizations_r holds 69 MB in members of at most 1.2 MB.
MAX_MEMBER_BYTES = 1 << 28
MAX_TOTAL_BYTES = 1 << 29
#: Largest ``scale`` entry accepted (real files use 1, 2 and 8).
MAX_SCALE = 2**31
#: Largest power of two accepted as the denominator of a float entry.
MAX_DYADIC_EXPONENT = 30

_KEY_RE = re.compile(r"^(\d{1,4}),(\d{1,4}),(\d{1,4})$")
_PARTS = ("u", "v", "w", "scale")

# numpy's pickle of an ndarray calls its reconstruction function; taking it from an
# array's own __reduce__ gives the real object on numpy 1.x and 2.x without importing
# a module by name.
_RECONSTRUCT = np.empty(0).__reduce__()[0]
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Resolves only the globals needed to rebuild numpy arrays; anything else (the
    way a malicious pickle reaches ``os.system`` or ``eval``) is refused."""

    def __init__(self, file: IO[bytes], member: str) -> None:
        super().__init__(file)
        self._member = member

    def find_class(self, module: str, name: str) -> object:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise FormatError(
                f"npz member {self._member} needs pickle class {module}.{name}, which is not allowed"
            ) from None


def read_alphatensor(path: str | Path, ring: Ring | None = None) -> list[Scheme]:
    """All schemes of an AlphaTensor npz (either layout), in file order, unverified.

    Without ``ring`` it is Z2 when the file name contains ``f2``, else Z (Q for
    entries that need denominators); a given ``ring`` reads the stored integers as
    they are (so a mod-2 file can be checked, and refused, over Z).
    """
    members = _read_members(path)
    default = Z2 if "f2" in Path(path).stem.lower() else None
    with error_context(str(path)):
        if not members:
            raise FormatError("the npz holds no arrays")
        nopickle = any("/" in name for name in members)
        factors = _nopickle_factors(members) if nopickle else _upstream_factors(members)
        schemes = []
        for key, (u, v, w, scale) in factors.items():
            with error_context(f"npz member {key}"):
                schemes.append(_scheme(key, u, v, w, scale, ring or default))
        return schemes


def write_alphatensor(schemes: list[Scheme], path: str | Path) -> None:
    """Write matmul schemes in the ``_nopickle`` layout (int64 factors plus scale).

    The layout has no ring field, readers take it from the file name: Z2 schemes need
    ``f2`` in the name, rational ones must not have it, other rings cannot be written.
    """
    f2_file = "f2" in Path(path).stem.lower()
    arrays: dict[str, np.ndarray] = {}
    for scheme in schemes:
        if not scheme.target.is_matmul:
            raise FormatError(f"{path}: the AlphaTensor layout holds only matmul schemes, not {scheme.target.name}")
        _check_writable_ring(scheme.ring, f2_file, path)
        n, m, p = scheme.target.params
        key = f"{n},{m},{p}"
        if f"{key}/u" in arrays:
            raise FormatError(f"{path}: two schemes for {scheme.target.name}; the layout holds one per format")
        den = scheme.denominators if scheme.denominators is not None else np.ones((scheme.rank, 3), np.int64)
        scale = np.lcm.reduce(den, axis=0) if scheme.rank else np.ones(3, np.int64)
        u, v, w = (f * (scale[i] // den[:, i])[:, None] for i, f in enumerate((scheme.u, scheme.v, scheme.w)))
        w_transposed_c = w.reshape(-1, n, p).transpose(0, 2, 1).reshape(-1, p * n)
        arrays[f"{key}/u"] = np.ascontiguousarray(u.T, dtype=np.int64)
        arrays[f"{key}/v"] = np.ascontiguousarray(v.T, dtype=np.int64)
        arrays[f"{key}/w"] = np.ascontiguousarray(w_transposed_c.T, dtype=np.int64)
        arrays[f"{key}/scale"] = np.asarray(scale, dtype=np.int64)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write(path, buffer.getvalue())


def _check_writable_ring(ring: Ring, f2_file: bool, path: str | Path) -> None:
    if ring == Z2 and not f2_file:
        raise FormatError(f"{path}: a Z2 scheme needs 'f2' in the file name (the layout has no ring field)")
    if ring == Q and f2_file:
        raise FormatError(f"{path}: a file named 'f2' is read mod 2 and cannot hold a scheme over Q")
    if ring not in (Z, Q, Z2):
        raise FormatError(f"{path}: the AlphaTensor layout records only Z, Q and Z2, not {ring}")


def _read_members(path: str | Path) -> dict[str, np.ndarray]:
    """Every ``.npy`` member of the zip as an array, keyed by name without ``.npy``.

    Sizes are checked before anything is decompressed: the central directory's
    declared sizes against :data:`MAX_MEMBER_BYTES` and :data:`MAX_TOTAL_BYTES`
    (:func:`~tensorgame.fileio.open_zip`), then each member's ``.npy`` header (the first
    bytes of its stream) against the size the zip declares for it.
    """
    data = read_bytes(path)
    with error_context(str(path)):
        archive, infos = open_zip(data, max_member=MAX_MEMBER_BYTES, max_total=MAX_TOTAL_BYTES)
        for info in infos:
            if not info.filename.endswith(".npy"):
                raise FormatError(f"npz member {info.filename!r} is not a .npy array")
        members: dict[str, np.ndarray] = {}
        for info in infos:
            key = info.filename[: -len(".npy")]
            try:
                with archive.open(info) as fh:
                    members[key] = _member_array(fh, info, key)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError,
                    ValueError, OSError):
                raise FormatError(f"npz member {info.filename!r} is corrupt or uses an unsupported "
                                  "compression") from None
        return members


def _member_array(fh: IO[bytes], info: zipfile.ZipInfo, key: str) -> np.ndarray:
    """One member: its header first (size agreed with the zip's), then its data; plain
    dtypes straight from the bytes, object dtypes through the restricted unpickler."""
    name = f"npz member {key}"
    header = read_npy_header(fh, name)
    if header.nbytes is not None and header.offset + header.nbytes != info.file_size:
        raise FormatError(f"{name}: the array header announces {header.offset + header.nbytes:,} "
                          f"bytes but the zip declares {info.file_size:,}")
    return read_npy_data(fh, header, name, lambda stream: _unpickle_array(stream, key))


def _unpickle_array(fh: IO[bytes], member: str) -> np.ndarray:
    try:
        value = _ArrayOnlyUnpickler(fh, member).load()
    except TensorGameError:
        raise
    except Exception as exc:  # noqa: BLE001 - any malformed pickle: it is input, not a bug of ours
        raise FormatError(f"npz member {member}: unreadable pickled array ({type(exc).__name__})") from None
    if not isinstance(value, np.ndarray):
        raise FormatError(f"npz member {member}: the pickle holds a {type(value).__name__}, not an array")
    return value


def _upstream_factors(members: dict[str, np.ndarray]) -> dict[str, tuple]:
    """Upstream layout: a (3, d, R) array or an object array [u, v, w] per format."""
    factors = {}
    for key, arr in members.items():
        with error_context(f"npz member {key}"):
            if arr.dtype.hasobject:
                if arr.shape != (3,) or not all(isinstance(f, np.ndarray) for f in arr):
                    raise FormatError(f"expected an object array of 3 factor arrays, got shape {arr.shape}")
                u, v, w = arr
            elif arr.ndim == 3 and arr.shape[0] == 3:
                u, v, w = arr
            else:
                raise FormatError(f"expected shape (3, n*m, R) or 3 factor arrays, got {arr.shape}")
        factors[key] = (u, v, w, np.ones(3, np.int64))
    return factors


def _nopickle_factors(members: dict[str, np.ndarray]) -> dict[str, tuple]:
    """``_nopickle`` layout: ``key/u``, ``key/v``, ``key/w`` and an optional ``key/scale``."""
    groups: dict[str, dict[str, np.ndarray]] = {}
    for name, arr in members.items():
        key, _, part = name.rpartition("/")
        if part not in _PARTS:
            raise FormatError(f"npz member {name!r}: expected a name 'n,m,p/u' (or /v, /w, /scale)")
        groups.setdefault(key, {})[part] = arr
    factors = {}
    for key, parts in groups.items():
        missing = [p for p in ("u", "v", "w") if p not in parts]
        if missing:
            raise FormatError(f"npz member {key}/{missing[0]} is missing")
        scale = parts.get("scale", np.ones(3, np.int64))
        if (scale.shape != (3,) or scale.dtype.kind not in "iu"
                or bool(np.any(scale < 1)) or bool(np.any(scale > MAX_SCALE))):
            raise FormatError(f"npz member {key}/scale must be three integers from 1 to {MAX_SCALE}")
        factors[key] = (parts["u"], parts["v"], parts["w"], scale.astype(np.int64))
    return factors


def _scheme(key: str, u: np.ndarray, v: np.ndarray, w: np.ndarray, scale: np.ndarray,
            ring: Ring | None) -> Scheme:
    match = _KEY_RE.match(key)
    if not match:
        raise FormatError("the member name is not of the form 'n,m,p'")
    n, m, p = (int(x) for x in match.groups())
    target = matmul_target(n, m, p)
    expected = {"u": n * m, "v": m * p, "w": p * n}
    for name, f in zip("uvw", (u, v, w)):
        if f.ndim != 2 or f.shape[0] != expected[name]:
            raise FormatError(f"factor {name} has shape {f.shape}, expected ({expected[name]}, R)")
    if not u.shape[1] == v.shape[1] == w.shape[1]:
        raise FormatError(f"factors have different ranks: {u.shape[1]}, {v.shape[1]}, {w.shape[1]}")
    (uu, du), (vv, dv), (ww, dw) = (
        _rational_rows(f.T, int(s), name) for f, s, name in zip((u, v, w), scale, "uvw")
    )
    ww = ww.reshape(-1, p, n).transpose(0, 2, 1).reshape(-1, n * p)  # C^T index -> C index
    den = np.stack([du, dv, dw], axis=1)
    base = Scheme(target, Q if bool(np.any(den != 1)) else Z, uu, vv, ww, den)
    return base if ring is None else base.with_ring(ring)


def _rational_rows(factor: np.ndarray, scale: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Integer numerators and the smallest denominator per row for ``factor / scale``.

    Float factors must be dyadic (upstream stores ±1/2, ±1/8 as float64): they are first
    scaled by the smallest power of two making the whole factor integral.
    """
    kind = factor.dtype.kind
    if kind == "f":
        if not bool(np.all(np.isfinite(factor))):
            raise FormatError(f"factor {name} has non-finite entries")
        for exponent in range(MAX_DYADIC_EXPONENT + 1):
            scaled = factor * float(2**exponent)
            if np.array_equal(scaled, np.round(scaled)):
                break
        else:
            raise FormatError(f"factor {name} has entries that are not fractions k/2^e with e <= {MAX_DYADIC_EXPONENT}")
        if scaled.size and np.abs(scaled).max() >= 2**53:
            raise FormatError(f"factor {name} has entries too large to be exact")
        numerators, scale = scaled.astype(np.int64), scale * 2**exponent
    elif kind in "iub":
        if kind == "u" and factor.size and int(factor.max()) >= 2**63:
            raise FormatError(f"factor {name} has entries of 2^63 or more")
        numerators = factor.astype(np.int64)
    else:
        raise FormatError(f"factor {name} has dtype {factor.dtype}, expected integers or floats")
    common = np.gcd(np.gcd.reduce(numerators, axis=1), np.int64(scale))
    return numerators // common[:, None], np.int64(scale) // common
