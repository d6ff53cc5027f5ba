"""Exact coefficients shared by the exchange formats that write numbers as text or
JSON values: integers, fractions (``"1/2"``, ``-3/4``) or decimals (``0.5``).

A scheme stores integer factors and, over Q, one positive denominator per factor
row; these helpers convert between that layout and rows of exact values, and decide
the ring a file claims when it says nothing: Z when every coefficient is an integer,
Q otherwise.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Any

import numpy as np

from tensorgame.errors import FormatError
from tensorgame.tensors.rings import Q, Ring, Z
from tensorgame.tensors.scheme import Scheme
from tensorgame.tensors.targets import Target

Value = int | Fraction
#: Numerators and denominators stay well inside int64 after rows are brought to a
#: common denominator (the verifier switches to Python integers above 2^62 anyway).
_LIMIT = 2**62
_NUMBER_RE = re.compile(r"^\s*([+-]?)\s*(\d{1,19})(?:\s*/\s*(\d{1,19})|\.(\d{1,19}))?\s*$")


def parse_coefficient(value: Any) -> Value:
    """An exact coefficient from a JSON number or a string like ``"-3/4"`` or ``"0.25"``."""
    if isinstance(value, bool):
        raise FormatError(f"coefficient {value!r} is not a number")
    if isinstance(value, int):
        return bounded(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FormatError(f"coefficient {value!r} is not finite")
        return bounded(Fraction(repr(value)))  # 0.1 is 1/10, not its binary expansion
    if isinstance(value, str):
        return parse_number_text(value)
    raise FormatError(f"coefficient {str(value)[:40]!r} is not a number")


def parse_row(row: list[Any]) -> list[Value]:
    """:func:`parse_coefficient` of every entry (fast when they are all small integers)."""
    if all(type(x) is int for x in row) and (not row or max(map(abs, row)) < _LIMIT):
        return row
    return [parse_coefficient(x) for x in row]


def parse_number_text(text: str) -> Value:
    """``3``, ``-1/2`` or ``0.25`` as an exact value (the textual formats' numbers)."""
    match = _NUMBER_RE.match(text)
    if not match:
        raise FormatError(f"coefficient {text[:40]!r} is not an integer, fraction or decimal")
    sign, whole, denominator, decimals = match.groups()
    if denominator is not None:
        if int(denominator) == 0:
            raise FormatError(f"coefficient {text.strip()!r} divides by zero")
        value = Fraction(int(whole), int(denominator))
    elif decimals is not None:
        value = Fraction(f"{whole}.{decimals}")
    else:
        value = Fraction(int(whole))
    return bounded(-value if sign == "-" else value)


def bounded(value: int | Fraction) -> Value:
    """``value`` as an int when integral; a numerator or denominator of 2^62 or more is
    refused (it could not be stored in the int64 factors)."""
    if isinstance(value, int):
        if abs(value) >= _LIMIT:
            raise FormatError(f"coefficient {str(value)[:40]} is too large (limit 2^62)")
        return value
    if abs(value.numerator) >= _LIMIT or value.denominator >= _LIMIT:
        raise FormatError(f"coefficient {str(value)[:40]} is too large (limit 2^62)")
    return int(value) if value.denominator == 1 else value


def _integer_rows(rows: list[list[Value]], width: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Integer numerators and the per-row denominator (lcm of the row's denominators)."""
    for r, row in enumerate(rows):
        if len(row) != width:
            raise FormatError(f"{name} row {r + 1} has {len(row)} entries, expected {width}")
    den = np.ones(len(rows), dtype=np.int64)
    if all(type(x) is int for row in rows for x in row):  # the common case, no fractions
        return np.asarray(rows, dtype=np.int64).reshape(len(rows), width), den
    out = np.zeros((len(rows), width), dtype=np.int64)
    for r, row in enumerate(rows):
        d = math.lcm(*(Fraction(x).denominator for x in row)) if row else 1
        scaled = [int(Fraction(x) * d) for x in row]
        if d >= _LIMIT or any(abs(x) >= _LIMIT for x in scaled):
            raise FormatError(f"{name} row {r + 1}: coefficients too large over a common denominator")
        out[r] = scaled
        den[r] = d
    return out, den


def scheme_from_values(target: Target, rows: tuple[list[list[Value]], list[list[Value]], list[list[Value]]],
                       ring: Ring | None = None) -> Scheme:
    """A scheme from exact factor rows (u, v, w in our convention), not verified.

    ``ring`` is the ring the file claims; without one, Z when every coefficient is an
    integer and Q otherwise. Fractions in a Z or Z_p scheme are refused.
    """
    widths = target.dims
    factors, dens = zip(*(_integer_rows(r, width, name) for r, width, name in zip(rows, widths, "uvw")))
    denominators = np.stack(dens, axis=1) if len(rows[0]) else np.ones((0, 3), np.int64)
    fractional = bool(np.any(denominators != 1))
    if ring is None:
        ring = Q if fractional else Z
    if fractional and ring != Q:
        raise FormatError(f"the scheme has fractional coefficients but claims ring {ring}")
    return Scheme(target, ring, *factors, denominators=denominators if fractional else None).with_ring(ring)


def factor_values(scheme: Scheme) -> tuple[list[list[Value]], ...]:
    """The exact coefficients of u, v, w row by row (numerator over the row's denominator)."""
    out = []
    for slot, factor in enumerate((scheme.u, scheme.v, scheme.w)):
        rows = factor.tolist()
        if scheme.denominators is not None:
            dens = scheme.denominators[:, slot].tolist()
            rows = [[bounded(Fraction(x, d)) for x in row] for row, d in zip(rows, dens)]
        out.append(rows)
    return tuple(out)


def json_value(value: Value) -> int | str:
    """An integer as a JSON number, a fraction as a string ``"a/b"`` (JSON has no exact
    rationals; the collection writes them this way)."""
    return value if isinstance(value, int) else str(value)


def cyclic_c_order(n: int, p: int) -> list[int]:
    """For each of our w indices i*p+k, the index k*n+i of the same entry of C
    transposed, where the cyclic convention (flip-graph tools, the collection) puts it."""
    return [k * n + i for i in range(n) for k in range(p)]
