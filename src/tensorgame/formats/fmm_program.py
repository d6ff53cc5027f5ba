"""The FastMatrixMultiplication collection's addition-reduced programs, as programs.

A reduced document (``schemes/addition_reduced_ZT`` there) is a straight-line program
for one level: ``u_fresh`` / ``v_fresh`` / ``w_fresh`` rows define intermediate sums,
``u`` / ``v`` give each product's left and right factor, ``w`` each entry of C (in
transposed order) over the products; an index past the inputs (n·m for A, m·p for B,
the rank for the products) names the intermediates in order. Its additions,
``complexity.reduced``, are the sum over all rows and intermediates of (terms - 1).

:func:`level_from_collection` turns such a document into our
:class:`~tensorgame.codegen.program.LevelProgram` operation for operation (a row of t
terms becomes t - 1 binary operations), so both count additions on the same basis;
:func:`collection_program_document` writes a level back (each intermediate one fresh
row; an intermediate that only one row reads is written into that row). Plain
schemes of such files are read by :mod:`.fmm_json` as before. Programs with
fractional coefficients are not read as programs (their schemes still are).
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

from tensorgame.codegen.program import (
    Form,
    LevelProgram,
    LinearProgram,
    LinOp,
    append_form,
    level_from_programs,
    scale_inputs,
)
from tensorgame.errors import FormatError
from tensorgame.fileio import atomic_write, error_context, load_json, read_text
from tensorgame.formats.coefficients import Value, bounded, cyclic_c_order, json_value
from tensorgame.formats.fmm_json import (
    is_collection_document,
    is_program_document,
    program_rows,
    scheme_from_collection,
)
from tensorgame.tensors.rings import Q, Z

_KEY_ORDER = ("u", "v", "w")


def level_from_collection(doc: dict[str, Any]) -> LevelProgram:
    """The level program of a reduced collection document (not checked: call
    ``is_exact()``; the expanded scheme is ``.scheme``, also unverified)."""
    if not is_program_document(doc):
        raise FormatError("not an addition-reduced program (no 'u_fresh', 'v_fresh', 'w_fresh' or sparse rows)")
    scheme = scheme_from_collection(doc)
    n, m, p = scheme.target.params
    rank = len(doc["u"])
    a = _program(doc, "u", n * m)
    b = _program(doc, "v", m * p)
    w = _program(doc, "w", rank)  # over the products as the document defines them
    if len(w.outputs) != n * p:
        raise FormatError(f"'w' has {len(w.outputs)} rows, expected one per entry of C ({n * p})")
    ours = LinearProgram(w.n_inputs, w.ops, tuple(w.outputs[c] for c in cyclic_c_order(n, p)))
    # our C side reads the products of a's and b's output nodes, without their factors
    c = scale_inputs(ours, [ca * cb for (ca, _), (cb, _) in zip(a.outputs, b.outputs, strict=True)])
    return level_from_programs(scheme, a, b, c, (1,) * (n * p))


def _program(doc: dict[str, Any], key: str, inputs: int) -> LinearProgram:
    """One side as a program: each fresh row, then each row, appended as a chain."""
    fresh, rows = program_rows(doc, key, inputs)
    ops: list[LinOp] = []
    value_of: list[tuple[int, int]] = [(1, i) for i in range(inputs)]  # their index -> coef·node

    def form_of(terms: list[tuple[int, Value]], where: str) -> Form:
        form: Form = {}
        for index, value in terms:
            if isinstance(value, Fraction):
                raise FormatError(f"{where}: fractional coefficient {value}; programs are read with "
                                  "integer coefficients only")
            if index >= len(value_of):
                raise FormatError(f"{where}: index {index} names an intermediate defined later")
            coef, node = value_of[index]
            form[node] = form.get(node, 0) + value * coef
        form = {k: c for k, c in form.items() if c}
        if not form:
            raise FormatError(f"{where} is identically zero")
        return form

    for j, terms in enumerate(fresh):
        value_of.append(append_form(inputs, ops, form_of(terms, f"'{key}_fresh' row {j + 1}")))
    outputs = [append_form(inputs, ops, form_of(terms, f"{key!r} row {r + 1}")) for r, terms in enumerate(rows)]
    return LinearProgram(inputs, tuple(ops), tuple(outputs))


def collection_program_document(level: LevelProgram) -> dict[str, Any]:
    """A level as a reduced collection document; ``complexity.reduced`` equals
    ``level.additions`` and ``complexity.naive`` the additions of its scheme as written."""
    scheme = level.scheme
    if not scheme.target.is_matmul or scheme.ring not in (Z, Q):
        raise FormatError(f"the collection's programs are matmul schemes over Z or Q, not "
                          f"{scheme.target.name} over {scheme.ring}")
    n, m, p = scheme.target.params
    doc: dict[str, Any] = {"n": [n, m, p], "m": level.rank, "z2": False,
                           "complexity": {"naive": scheme.additions, "reduced": level.additions}}
    unit: list[Value] = [1] * level.rank  # products are the plain products of the output nodes
    per_entry: list[Value] = [Fraction(c, d) for (c, _), d in zip(level.c.outputs, level.divisors, strict=True)]
    order = cyclic_c_order(n, p)
    for key, prog, factors in (("u", level.a, unit), ("v", level.b, unit), ("w", level.c, per_entry)):
        fresh, rows = _rows(prog, factors)
        if key == "w":  # their rows follow C transposed
            theirs = [rows[0]] * len(rows)
            for ours, index in enumerate(order):
                theirs[index] = rows[ours]
            rows = theirs
        doc[f"{key}_fresh"], doc[key] = fresh, rows
    return doc


def _rows(prog: LinearProgram, factors: list[Value]) -> tuple[list[list], list[list]]:
    """Fresh rows and output rows of one side; output j is factors[j]·(its node). An
    operation read by exactly one output and nothing else becomes that output's row."""
    n_in = prog.n_inputs
    reads = [0] * prog.n_nodes
    for op in prog.ops:
        reads[op.x] += 1
        reads[op.y] += 1
    for _, node in prog.outputs:
        reads[node] += 1
    inline = {node for _, node in prog.outputs if node >= n_in and reads[node] == 1}
    index = list(range(n_in)) + [0] * len(prog.ops)
    fresh = []
    for i, op in enumerate(prog.ops):
        if n_in + i not in inline:
            index[n_in + i] = n_in + len(fresh)
            fresh.append(_entries([(index[op.x], op.a), (index[op.y], op.b)]))
    rows = []
    for factor, (_, node) in zip(factors, prog.outputs, strict=True):
        if node in inline:
            op = prog.ops[node - n_in]
            rows.append(_entries([(index[op.x], factor * op.a), (index[op.y], factor * op.b)]))
        else:
            rows.append(_entries([(index[node], factor)]))
    return fresh, rows


def _entries(terms: list[tuple[int, Value]]) -> list[dict[str, Any]]:
    return [{"index": i, "value": json_value(bounded(Fraction(v)))} for i, v in terms]


def read_collection_program(path: str | Path) -> LevelProgram:
    """The level program of a reduced collection file holding one document (not
    checked; see :func:`level_from_collection`)."""
    program = program_in_file(path)
    if program is None:
        raise FormatError(f"{path}: not an addition-reduced program of the FastMatrixMultiplication collection")
    return program


def write_collection_program(level: LevelProgram, path: str | Path) -> None:
    """Write :func:`collection_program_document` atomically, one row a line."""
    doc = collection_program_document(level)
    lines = []
    for key, value in doc.items():
        if key.startswith(_KEY_ORDER) and isinstance(value, list) and key != "n":
            rows = ",\n".join("    " + _compact(row) for row in value)
            lines.append(f'  "{key}": ' + ("[\n" + rows + "\n  ]" if rows else "[]"))
        else:
            lines.append(f'  "{key}": {_compact(value)}')
    atomic_write(path, ("{\n" + ",\n".join(lines) + "\n}\n").encode("utf-8"))


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(", ", ": "))


def program_in_file(path: str | Path) -> LevelProgram | None:
    """The level program of ``path`` when it is a reduced collection document, else None
    (a plain scheme, another format); a malformed program raises FormatError."""
    if Path(path).suffix.lower() != ".json":
        return None
    with error_context(str(path)):
        doc = load_json(read_text(path))
        if isinstance(doc, list) and len(doc) == 1:
            doc = doc[0]
        if not (is_collection_document(doc) and is_program_document(doc)):
            return None
        return level_from_collection(doc)
