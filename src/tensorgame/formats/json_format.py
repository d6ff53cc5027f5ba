"""The project's own JSON scheme documents.

One document per scheme (a file may hold a list of them). The factor matrices are
written one term per line so that a diff of two files is readable, and the index
convention is stated in every document because the most common mistake when
exchanging schemes is a third factor that indexes C transposed. The header is
optional when reading, and a document of the FastMatrixMultiplication collection
(``n``, ``m``, ``u`` ... see :mod:`.fmm_json`) in the same file is read as well.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from tensorgame.errors import FormatError
from tensorgame.fileio import atomic_write, error_context, load_json, read_text
from tensorgame.formats.fmm_json import (
    COLLECTION,
    collection_document,
    is_collection_document,
    scheme_from_collection,
)
from tensorgame.tensors.rings import Q, Ring, parse_ring
from tensorgame.tensors.scheme import Scheme
from tensorgame.tensors.targets import Target, target_from_json

FORMAT_NAME = "tensorgame-scheme"
VERSION = 1
CONVENTION = "row-major vec(A), vec(B), vec(C); T[i*m+j, j*p+k, i*p+k] = 1 (C not transposed)"

#: Keys that describe the scheme itself; everything else is metadata.
STRUCTURAL_KEYS = frozenset(
    {"format", "version", "convention", "shape", "target", "ring", "rank", "u", "v", "w",
     "denominators"}
)
#: Informational keys recomputed on every write and ignored on read.
DERIVED_KEYS = ("additions", "nnz")
_MATRIX_KEYS = ("u", "v", "w", "denominators")
_TRANSPOSED_MARKERS = ("cyclic", "c^t", "c^{t}", "trace", "k*n+i", "(ab)^t")


def scheme_to_json(scheme: Scheme, **meta: Any) -> dict[str, Any]:
    """The JSON document of ``scheme``; ``meta`` (method, seed, source ...) is stored
    alongside. ``additions``/``nnz`` in ``meta`` are replaced by the scheme's own."""
    reserved = sorted(STRUCTURAL_KEYS.intersection(meta))
    if reserved:
        raise FormatError(f"metadata key {reserved[0]!r} is reserved for the scheme itself")
    doc: dict[str, Any] = {"format": FORMAT_NAME, "version": VERSION, "convention": CONVENTION}
    target = scheme.target
    if target.is_matmul:
        doc["shape"] = list(target.params)
    else:
        doc["target"] = target.to_json()
    doc["ring"] = scheme.ring.name
    doc["rank"] = scheme.rank
    doc["u"], doc["v"], doc["w"] = scheme.u.tolist(), scheme.v.tolist(), scheme.w.tolist()
    if scheme.denominators is not None:
        doc["denominators"] = scheme.denominators.tolist()
    doc.update(meta)
    doc["additions"], doc["nnz"] = scheme.additions, scheme.nnz
    return doc


def scheme_from_json(doc: Any) -> Scheme:
    """Rebuild a scheme from its document (metadata keys are ignored; not verified).

    The header (``format``, ``version``, ``convention``) is optional, so a hand-written
    ``{"shape": [2, 2, 2], "ring": "Z", "u": ..., "v": ..., "w": ...}`` reads too.
    """
    if not isinstance(doc, dict):
        raise FormatError(f"expected a JSON object for a scheme, got {type(doc).__name__}")
    if "format" in doc and doc["format"] != FORMAT_NAME:
        raise FormatError(
            f"not a tensorgame scheme document ('format' is {_brief(doc['format'])}, "
            f"expected {FORMAT_NAME!r})"
        )
    if not any(key in doc for key in ("format", "shape", "target")):
        raise FormatError(
            "not a scheme document: expected our keys ('shape' or 'target', 'ring', 'u', 'v', "
            f"'w') or the {COLLECTION} collection's ('n', 'm', 'u', 'v', 'w')"
        )
    version = doc.get("version", VERSION)
    if version != VERSION or isinstance(version, bool):
        raise FormatError(f"unsupported document version {_brief(version)} (this reader knows {VERSION})")
    _check_convention(doc.get("convention"))
    if ("shape" in doc) == ("target" in doc):
        raise FormatError("a scheme document needs exactly one of 'shape' [n, m, p] or 'target'")
    target = _target(doc)
    ring = _ring(_require(doc, "ring"))
    u = _require(doc, "u")
    rank = len(u) if isinstance(u, list) else 0
    if "rank" in doc:
        stated = doc["rank"]
        if isinstance(stated, bool) or not isinstance(stated, int):
            raise FormatError(f"'rank' must be an integer, got {_brief(stated)}")
        if stated != rank:
            raise FormatError(f"'rank' is {stated} but 'u' has {rank} rows")
    ni, nj, nk = target.dims
    factors = [
        _int_matrix(_require(doc, key), rank, width, key)
        for key, width in (("u", ni), ("v", nj), ("w", nk))
    ]
    denominators = None
    if "denominators" in doc:
        if ring != Q:
            raise FormatError(f"'denominators' are only allowed for ring Q, this scheme is over {ring}")
        denominators = _int_matrix(doc["denominators"], rank, 3, "denominators")
    return Scheme(target, ring, *factors, denominators=denominators)


def read_json_documents(path: str | Path) -> list[tuple[Scheme, dict[str, Any]]]:
    """Every scheme in the file with its metadata (all non-structural keys), unverified.

    Documents of the FastMatrixMultiplication collection are recognised by their keys
    and converted; their metadata is ``{"collection": ...}`` only. The catalogue
    importer keeps the metadata (method, seed, found_at, source ...).
    """
    text = read_text(path)
    with error_context(str(path)):
        data = load_json(text)
        docs = data if isinstance(data, list) else [data]
        if not docs:
            raise FormatError("the file holds an empty list, no scheme")
        out = []
        for index, doc in enumerate(docs):
            with error_context(f"document {index + 1}") if isinstance(data, list) else nullcontext():
                if is_collection_document(doc):
                    out.append((scheme_from_collection(doc), {"collection": COLLECTION}))
                    continue
                scheme = scheme_from_json(doc)
            out.append((scheme, {k: v for k, v in doc.items() if k not in STRUCTURAL_KEYS}))
        return out


def read_json(path: str | Path, ring: Ring | None = None) -> list[Scheme]:
    """The schemes of a JSON file, read in ``ring`` when given (reduced mod p)."""
    schemes = [scheme for scheme, _ in read_json_documents(path)]
    return schemes if ring is None else [s.with_ring(ring) for s in schemes]


def write_json(schemes: list[Scheme], path: str | Path, metas: list[dict[str, Any]]) -> None:
    """One document, or a list of documents when there are several schemes; ``metas``
    holds each scheme's metadata."""
    _write_documents([scheme_to_json(s, **meta) for s, meta in zip(schemes, metas, strict=True)], path)


def write_collection_json(schemes: list[Scheme], path: str | Path) -> None:
    """The schemes as FastMatrixMultiplication documents (a list when there are several)."""
    _write_documents([collection_document(s) for s in schemes], path)


def _write_documents(docs: list[dict[str, Any]], path: str | Path) -> None:
    parts = [_dump_document(doc) for doc in docs]
    text = parts[0] if len(parts) == 1 else "[\n" + ",\n".join(parts) + "\n]"
    atomic_write(path, (text + "\n").encode("utf-8"))


def _dump_document(doc: dict[str, Any]) -> str:
    """Indented JSON with each factor row on its own line (compact yet diffable)."""
    lines = []
    for key, value in doc.items():
        if key in _MATRIX_KEYS:
            rows = ",\n".join("    " + _dumps(row) for row in value)
            body = "[\n" + rows + "\n  ]" if rows else "[]"
        else:
            body = _dumps(value)
        lines.append(f"  {json.dumps(key)}: {body}")
    return "{\n" + ",\n".join(lines) + "\n}"


def _dumps(value: Any) -> str:
    try:
        return json.dumps(value, separators=(", ", ": "), default=_numpy_default)
    except (TypeError, ValueError) as exc:
        raise FormatError(f"metadata is not JSON-serialisable ({_first_line(exc)})") from None


def _numpy_default(value: Any) -> Any:
    """Let metadata hold numpy scalars and arrays (a seed is often an np.int64)."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _check_convention(convention: Any) -> None:
    """Accept our convention (or none); refuse a transposed-C one with a useful hint."""
    if convention is None:
        return
    if not isinstance(convention, str):
        raise FormatError(f"'convention' must be a string, got {_brief(convention)}")
    norm = " ".join(convention.lower().split())
    if norm.replace(" ", "") == CONVENTION.lower().replace(" ", ""):
        return
    flat = norm.replace(" ", "")
    transposed = any(mark in flat for mark in _TRANSPOSED_MARKERS) or (
        "transpos" in norm and "not transpos" not in norm
    )
    if transposed:
        raise FormatError(
            f"convention {_brief(convention)} indexes C transposed (cyclic/trace form); this format "
            "needs w over C itself (index i*p+k): permute w's columns k*n+i -> i*p+k first"
        )
    raise FormatError(f"unknown convention {_brief(convention)}; expected {CONVENTION!r}")


def _target(doc: dict[str, Any]) -> Target:
    if "shape" in doc:
        shape = doc["shape"]
        if not (isinstance(shape, list) and len(shape) == 3
                and all(isinstance(x, int) and not isinstance(x, bool) for x in shape)):
            raise FormatError(f"'shape' must be a list of three integers [n, m, p], got {_brief(shape)}")
        return target_from_json(shape)
    try:
        return target_from_json(doc["target"])
    except TypeError:  # an unhashable parameter reaches the cached target constructors
        raise FormatError(f"malformed 'target' {_brief(doc['target'])}") from None


def _require(doc: dict[str, Any], key: str) -> Any:
    if key not in doc:
        raise FormatError(f"missing key {key!r}")
    return doc[key]


def _ring(value: Any) -> Ring:
    if not isinstance(value, str):
        raise FormatError(f"'ring' must be a string such as \"Z\", got {_brief(value)}")
    return parse_ring(value)


def _int_matrix(value: Any, rows: int, width: int, name: str) -> np.ndarray:
    """A list of ``rows`` lists of ``width`` integers as int64 (integral floats accepted)."""
    if not isinstance(value, list):
        raise FormatError(f"{name!r} must be a list of rows, got {type(value).__name__}")
    if len(value) != rows:
        raise FormatError(f"{name!r} has {len(value)} rows, expected {rows} (one per term)")
    kinds: set[type] = set()
    for r, row in enumerate(value):
        if not isinstance(row, list):
            raise FormatError(f"{name!r} row {r + 1} is not a list")
        if len(row) != width:
            raise FormatError(f"{name!r} row {r + 1} has {len(row)} entries, expected {width}")
        kinds.update(map(type, row))
    bad = kinds - {int, float}
    if bad:
        raise FormatError(f"{name!r} must hold integers, found {sorted(t.__name__ for t in bad)[0]}")
    if not value:
        return np.zeros((0, width), dtype=np.int64)
    if float in kinds:
        arr = np.asarray(value, dtype=np.float64)
        if not np.all(np.isfinite(arr)) or not np.array_equal(arr, np.round(arr)):
            raise FormatError(f"{name!r} must hold integers, found a fractional number")
        if np.abs(arr).max() >= 2**53:
            raise FormatError(f"{name!r} has a coefficient too large to be exact")
        return arr.astype(np.int64)
    try:
        return np.asarray(value, dtype=np.int64)
    except OverflowError:
        raise FormatError(f"{name!r} has a coefficient of 2^63 or more") from None


def _brief(value: Any, limit: int = 60) -> str:
    """repr of a user value, shortened so an error message stays readable."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
