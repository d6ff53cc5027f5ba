"""Maple-style nested lists (``.m``), one ``{A, B, C}`` triple of matrices per product.

    {{{{0, 0}, {-1, 0}}, {{-1, 0, 1}, {0, 0, 0}}, {{0, 1}, {0, 0}, {0, 0}}},
     ...}

A is n×m and B m×p as written; the third matrix is p×n, the cyclic convention of the
flip-graph tools (entry (k, i) is our C[i][k]). Coefficients are integers, fractions
(``-1/2``) or decimals. ``[...]`` may stand for ``{...}``, an assignment ``name :=``
and a final ``;`` or ``:`` are allowed, ``#`` starts a comment, and a comment
``# ring Z2`` (which the writer emits) states the ring; otherwise it is Z, or Q when
a coefficient is fractional.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tensorgame.errors import FormatError
from tensorgame.fileio import atomic_write, error_context, read_text
from tensorgame.formats.coefficients import (
    Value,
    cyclic_c_order,
    factor_values,
    parse_number_text,
    scheme_from_values,
)
from tensorgame.tensors.rings import Ring, parse_ring
from tensorgame.tensors.scheme import Scheme
from tensorgame.tensors.targets import matmul_target

_TOKEN_RE = re.compile(
    r"\s*(?:(?P<num>[+-]?\s*\d+(?:\s*/\s*\d+|\.\d+)?)|(?P<open>[{\[])|(?P<close>[}\]])|(?P<comma>,))"
)
_ASSIGNMENT_RE = re.compile(r"^\s*[A-Za-z_][A-Za-z0-9_]*\s*:=")
_RING_RE = re.compile(r"^\s*#\s*ring\s*[:=]?\s*(\S+)\s*$", re.IGNORECASE)
#: products, the triple, a matrix, a row: deeper nesting is not this format.
_DEPTH = 4
_CLOSING = {"{": "}", "[": "]"}


def parse_maple(text: str, ring: Ring | str | None = None) -> Scheme:
    """A scheme from the text of a ``.m`` file; ``ring`` overrides the ``# ring`` comment."""
    header_ring = None
    body = []
    for raw in text.splitlines():
        code, hash_, comment = raw.partition("#")
        if hash_ and (m := _RING_RE.match("#" + comment)) and not code.strip():
            header_ring = parse_ring(m.group(1))
        body.append(code)
    products = _nested(" ".join(body))
    if not products:
        raise FormatError("no products found")
    return _scheme(products, parse_ring(ring) if ring is not None else header_ring)


def read_maple(path: str | Path, ring: Ring | None = None) -> list[Scheme]:
    """The single scheme of a ``.m`` file, as a one-element list."""
    text = read_text(path)
    with error_context(str(path)):
        return [parse_maple(text, ring)]


def maple_text(scheme: Scheme, **meta: Any) -> str:
    """The scheme as a Maple list, after a header of comments (ring, metadata)."""
    target = scheme.target
    if not target.is_matmul:
        raise FormatError(f"the Maple list format holds only matmul schemes, not {target.name}")
    n, m, p = target.params
    u, v, w = factor_values(scheme)
    order = cyclic_c_order(n, p)  # our w index -> entry of the p×n third matrix
    lines = [
        f"# {target.name} rank {scheme.rank} over {scheme.ring} (tensorgame Maple list)",
        "# one {A, B, C} triple per product; the third matrix is p x n: entry (k, i) is C[i][k]",
        f"# ring {scheme.ring}",
    ]
    lines += [f"# {key}: {' '.join(str(value).split())}" for key, value in meta.items()]
    products = []
    for r in range(scheme.rank):
        c_t = [0] * (n * p)
        for ours, theirs in enumerate(order):
            c_t[theirs] = w[r][ours]
        products.append("{" + ", ".join(
            _matrix(values, rows, cols) for values, rows, cols in ((u[r], n, m), (v[r], m, p), (c_t, p, n))
        ) + "}")
    return "\n".join(lines) + "\n{" + ", \n ".join(products) + "}\n"


def write_maple(schemes: list[Scheme], path: str | Path, **meta: Any) -> None:
    """Write one scheme (the format has no separator between schemes)."""
    if len(schemes) != 1:
        raise FormatError(f"{path}: a Maple list file holds one scheme, got {len(schemes)}")
    atomic_write(path, maple_text(schemes[0], **meta).encode("utf-8"))


def _matrix(values: list[Value], rows: int, cols: int) -> str:
    return "{" + ", ".join(
        "{" + ", ".join(str(x) for x in values[r * cols:(r + 1) * cols]) + "}" for r in range(rows)
    ) + "}"


def _nested(text: str) -> list:
    """The nested lists of ``text`` (numbers exact), built with an explicit stack."""
    text = _ASSIGNMENT_RE.sub("", text, count=1).rstrip().rstrip(";:").rstrip()
    stack: list[tuple[str, list]] = []
    result: list | None = None
    pos, expect_item = 0, True
    while pos < len(text):
        if not text[pos:].strip():
            break
        match = _TOKEN_RE.match(text, pos)
        if not match or result is not None:
            raise FormatError(f"unexpected {text[pos:].lstrip()[:20]!r} at character {pos + 1}")
        pos = match.end()
        if match["open"]:
            if (stack and not expect_item) or len(stack) == _DEPTH:
                raise FormatError(f"unexpected {match['open']!r} at character {pos}: nested too deeply "
                                  "or a missing comma")
            stack.append((_CLOSING[match["open"]], []))
            expect_item = True
        elif match["close"]:
            if not stack or stack[-1][0] != match["close"]:
                raise FormatError(f"unbalanced {match['close']!r} at character {pos}")
            if expect_item and stack[-1][1]:
                raise FormatError(f"a list ends with a comma at character {pos}")
            _, items = stack.pop()
            if stack:
                stack[-1][1].append(items)
            else:
                result = items
            expect_item = False
        elif match["comma"]:
            if not stack or expect_item:
                raise FormatError(f"unexpected ',' at character {pos}")
            expect_item = True
        else:
            if not stack or not expect_item:
                raise FormatError(f"unexpected number at character {pos}")
            stack[-1][1].append(parse_number_text(match["num"].replace(" ", "")))
            expect_item = False
    if stack or result is None:
        raise FormatError("the list is not closed" if stack else "no list found")
    return result


def _scheme(products: list, ring: Ring | None) -> Scheme:
    """Check every product is an {A, B, C} triple of consistent matrices, then build."""
    shapes = None
    rows: tuple[list, list, list] = ([], [], [])
    for r, product in enumerate(products):
        with error_context(f"product {r + 1}"):
            if not (isinstance(product, list) and len(product) == 3):
                raise FormatError("expected a triple {A, B, C} of matrices")
            got = tuple(_shape(x, name) for x, name in zip(product, "ABC"))
            if shapes is None:
                (n, m), (m2, p), c_shape = got
                if m2 != m or c_shape != (p, n):
                    raise FormatError(f"matrices {got} are not n×m, m×p and p×n")
                shapes = got
            elif got != shapes:
                raise FormatError(f"matrix shapes {got} differ from the first product's {shapes}")
            for slot, matrix in enumerate(product):
                rows[slot].append([x for row in matrix for x in row])
    (n, m), (_, p), _ = shapes  # type: ignore[misc]
    order = cyclic_c_order(n, p)
    w = [[row[c] for c in order] for row in rows[2]]
    return scheme_from_values(matmul_target(n, m, p), (rows[0], rows[1], w), ring)


def _shape(matrix: Any, name: str) -> tuple[int, int]:
    if not (isinstance(matrix, list) and matrix and all(isinstance(row, list) for row in matrix)):
        raise FormatError(f"{name} is not a matrix (a list of rows)")
    widths = {len(row) for row in matrix}
    if len(widths) != 1 or 0 in widths or any(isinstance(x, list) for row in matrix for x in row):
        raise FormatError(f"{name} is not a matrix of numbers with rows of equal length")
    return len(matrix), widths.pop()
