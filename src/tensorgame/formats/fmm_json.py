"""Documents of the FastMatrixMultiplication collection (A. Perminov, MIT licence).

A document holds ``n`` (the format [n, m, p]), ``m`` (the rank), ``z2`` (true when
the scheme holds only mod 2) and the factor rows ``u`` (A, row-major), ``v`` (B) and
``w`` (C *transposed*: the cyclic convention T[i*m+j, j*p+k, k*n+i] = 1).
Coefficients are integers, or fractions written as strings (``"1/2"``) or decimals.

The addition-reduced kinds store straight-line programs instead: rows are sparse
lists of ``{"index", "value"}``; ``u_fresh`` / ``v_fresh`` / ``w_fresh`` define
intermediate sums, and an index past the inputs (n·m for A, m·p for B, the rank for
the products) names the intermediates in order. There ``w`` has one row per entry of
C (transposed order) over the products. Such programs are expanded back into plain
factor rows here; :mod:`.fmm_program` reads them as programs (with their additions)
and writes them.
"""

from __future__ import annotations

from typing import Any

from tensorgame.errors import FormatError
from tensorgame.fileio import error_context
from tensorgame.formats.coefficients import (
    Value,
    bounded,
    cyclic_c_order,
    factor_values,
    json_value,
    parse_coefficient,
    parse_row,
    scheme_from_values,
)
from tensorgame.tensors.rings import Z2, Q, Z
from tensorgame.tensors.scheme import Scheme
from tensorgame.tensors.targets import MAX_TENSOR_ENTRIES, matmul_target

COLLECTION = "FastMatrixMultiplication"
_OUR_KEYS = ("format", "shape", "target")
_FRESH_KEYS = ("u_fresh", "v_fresh", "w_fresh")
#: Largest straight-line program expanded: intermediates × inputs (as dense entries).
_MAX_PROGRAM_ENTRIES = MAX_TENSOR_ENTRIES // 4


def is_collection_document(doc: Any) -> bool:
    """True for the collection's keys (``n``, ``u`` ...) and none of our own."""
    return isinstance(doc, dict) and "n" in doc and "u" in doc and not any(k in doc for k in _OUR_KEYS)


def scheme_from_collection(doc: dict[str, Any]) -> Scheme:
    """The scheme of a collection document in our convention (not verified)."""
    shape = doc["n"]
    if not (isinstance(shape, list) and len(shape) == 3
            and all(isinstance(x, int) and not isinstance(x, bool) for x in shape)):
        raise FormatError(f"'n' must be the format [n, m, p], got {str(shape)[:60]}")
    target = matmul_target(*shape)
    n, m, p = shape
    z2 = doc.get("z2", False)
    if not isinstance(z2, bool):
        raise FormatError(f"'z2' must be true or false, got {str(z2)[:20]}")
    rows = _require_rows(doc, "u")
    rank = len(rows)
    stated = doc.get("m", rank)
    if isinstance(stated, bool) or not isinstance(stated, int) or stated != rank:
        raise FormatError(f"'m' (the rank) is {str(stated)[:20]} but 'u' has {rank} rows")
    if is_program_document(doc):
        u = _dense(_program(doc, "u", n * m), n * m)
        v = _dense(_program(doc, "v", m * p), m * p)
        per_entry = _program(doc, "w", rank)  # one row per entry of C transposed
        if len(per_entry) != n * p:
            raise FormatError(f"'w' has {len(per_entry)} rows, expected one per entry of C ({n * p})")
        w_t = [[per_entry[c].get(r, 0) for c in range(n * p)] for r in range(rank)]
    else:
        u, v, w_t = (_dense_rows(_require_rows(doc, key), rank, width, key)
                     for key, width in (("u", n * m), ("v", m * p), ("w", n * p)))
    order = cyclic_c_order(n, p)
    w = [[row[c] for c in order] for row in w_t]
    return scheme_from_values(target, (u, v, w), Z2 if z2 else None)


def collection_document(scheme: Scheme) -> dict[str, Any]:
    """The plain (dense) collection document of a matmul scheme over Z, Q or Z2."""
    target = scheme.target
    if not target.is_matmul:
        raise FormatError(f"the collection's JSON holds only matmul schemes, not {target.name}")
    if scheme.ring not in (Z, Q, Z2):
        raise FormatError(f"the collection's JSON records schemes over Z, Q or Z2, not {scheme.ring}")
    n, m, p = target.params
    u, v, w = factor_values(scheme)
    inverse = [0] * (n * p)
    for ours, theirs in enumerate(cyclic_c_order(n, p)):
        inverse[theirs] = ours
    w_t = [[row[c] for c in inverse] for row in w]
    return {
        "n": [n, m, p], "m": scheme.rank, "z2": scheme.ring == Z2, "complexity": scheme.additions,
        "u": [[json_value(x) for x in row] for row in u],
        "v": [[json_value(x) for x in row] for row in v],
        "w": [[json_value(x) for x in row] for row in w_t],
    }


def _require_rows(doc: dict[str, Any], key: str) -> list:
    if key not in doc:
        raise FormatError(f"missing key {key!r}")
    rows = doc[key]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise FormatError(f"{key!r} must be a list of rows")
    return rows


def _is_sparse(rows: list[list]) -> bool:
    return any(isinstance(x, dict) for row in rows for x in row)


def _dense_rows(rows: list[list], rank: int, width: int, name: str) -> list[list[Value]]:
    if len(rows) != rank:
        raise FormatError(f"{name!r} has {len(rows)} rows, expected {rank} (one per product)")
    out = []
    for r, row in enumerate(rows):
        if len(row) != width:
            raise FormatError(f"{name!r} row {r + 1} has {len(row)} entries, expected {width}")
        with error_context(f"{name!r} row {r + 1}"):
            out.append(parse_row(row))
    return out


def _dense(rows: list[dict[int, Value]], width: int) -> list[list[Value]]:
    return [[row.get(i, 0) for i in range(width)] for row in rows]


def _terms(entries: Any, size: int, where: str) -> list[tuple[int, Value]]:
    """A sparse row ``[{"index": i, "value": c}, ...]`` with every index below ``size``."""
    if not isinstance(entries, list):
        raise FormatError(f"{where} must be a list of {{'index', 'value'}} entries")
    out = []
    for entry in entries:
        if not (isinstance(entry, dict) and "index" in entry and "value" in entry):
            raise FormatError(f"{where}: every entry needs 'index' and 'value'")
        index = entry["index"]
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < size:
            raise FormatError(f"{where}: index {str(index)[:20]} is outside 0..{size - 1}")
        with error_context(where):
            out.append((index, parse_coefficient(entry["value"])))
    return out


def is_program_document(doc: dict[str, Any]) -> bool:
    """Whether a collection document is an addition-reduced program (fresh rows or
    sparse ``{"index", "value"}`` rows) rather than a plain scheme."""
    return any(key in doc for key in _FRESH_KEYS) or _is_sparse(_require_rows(doc, "u"))


def program_rows(doc: dict[str, Any], key: str, inputs: int) -> tuple[list[list[tuple[int, Value]]], ...]:
    """The terms of ``<key>_fresh`` and of ``key``, row by row, every index checked to
    name an input or an intermediate (``inputs + j``)."""
    fresh = doc.get(f"{key}_fresh", [])
    if not isinstance(fresh, list):
        raise FormatError(f"'{key}_fresh' must be a list of rows")
    if len(fresh) * inputs > _MAX_PROGRAM_ENTRIES:
        raise FormatError(f"'{key}_fresh' defines {len(fresh)} intermediates, too many to expand")
    size = inputs + len(fresh)
    defs = [_terms(row, size, f"'{key}_fresh' row {j + 1}") for j, row in enumerate(fresh)]
    rows = [_terms(row, size, f"{key!r} row {r + 1}") for r, row in enumerate(_require_rows(doc, key))]
    return defs, rows


def _program(doc: dict[str, Any], key: str, inputs: int) -> list[dict[int, Value]]:
    """The rows of ``key`` as sparse combinations of the inputs, with every intermediate
    of ``<key>_fresh`` (index ``inputs + j``) substituted; cycles are refused."""
    defs, rows = program_rows(doc, key, inputs)
    expanded: list[dict[int, Value] | None] = [None] * len(defs)
    for start in range(len(defs)):
        stack, open_ = [start], {start}
        while stack:  # depth-first, without recursion: chains of intermediates may be long
            j = stack[-1]
            if expanded[j] is not None:
                stack.pop()
                continue
            waiting = [i - inputs for i, _ in defs[j] if i >= inputs and expanded[i - inputs] is None]
            if not waiting:
                expanded[j] = _combine(defs[j], expanded, inputs, f"'{key}_fresh' row {j + 1}")
                open_.discard(stack.pop())
            elif waiting[0] in open_:
                raise FormatError(f"'{key}_fresh' row {j + 1} depends on itself")
            else:
                stack.append(waiting[0])
                open_.add(waiting[0])
    return [_combine(terms, expanded, inputs, f"{key!r} row {r + 1}") for r, terms in enumerate(rows)]


def _combine(terms: list[tuple[int, Value]], expanded: list[dict[int, Value] | None], inputs: int,
             where: str) -> dict[int, Value]:
    out: dict[int, Value] = {}
    for index, coef in terms:
        parts = {index: 1} if index < inputs else expanded[index - inputs]
        for i, c in parts.items():  # type: ignore[union-attr]
            out[i] = out.get(i, 0) + coef * c
    with error_context(where):
        return {i: bounded(c) for i, c in out.items() if c != 0}
