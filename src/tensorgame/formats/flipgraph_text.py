"""Plain-text schemes as written by Kauers–Moosbauer's flip-graph tools.

One product per line, e.g. ``(a11+a22)*(b11+b22)*(c11+c22)`` or, as in Kauers–Moosbauer's
expression files (``.exp``), ``(a11 + a22) (b11 + b22) (c11 + c22)``: three signed integer
combinations of ``a<i><j>``, ``b<j><k>``, ``c<k><i>`` (1-based; ``a1_10`` with an
underscore once a side reaches 10). These tools use the cyclic convention
T = Σ a_ij b_jk c_ki, so ``c<k><i>`` is entry (k, i) of C transposed, i.e. our C[i][k]
at w index i·p + k. Comment lines start with ``#``; ``# format n m p`` and
``# ring Z2`` (which the writer emits) fix what would otherwise be inferred.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from tensorgame.errors import FormatError
from tensorgame.fileio import atomic_write, error_context, read_text
from tensorgame.tensors.rings import Ring, Z, parse_ring
from tensorgame.tensors.scheme import Scheme
from tensorgame.tensors.targets import Target, matmul_target

_TOKEN_RE = re.compile(
    r"\s*(?:(?P<var>[abc])(?:(?P<wide1>\d{1,4})_(?P<wide2>\d{1,4})|(?P<narrow>\d+))"
    r"|(?P<int>\d+)|(?P<op>[-+*()]))"
)
_FORMAT_RE = re.compile(r"^#\s*format\s*[:=]?\s*(\d{1,4})[\s,x]+(\d{1,4})[\s,x]+(\d{1,4})\s*$", re.IGNORECASE)
_RING_RE = re.compile(r"^#\s*ring\s*[:=]?\s*(\S+)\s*$", re.IGNORECASE)
_MAX_COEFFICIENT_DIGITS = 18
#: Coefficients stay far below int64 overflow even when a variable is repeated.
_MAX_COEFFICIENT = 2**31
#: Most products and variable occurrences read (each costs ~100 bytes of Python objects
#: while parsing); the largest matmul target we build has naive rank 8192.
MAX_PRODUCTS = 1 << 16
MAX_TERMS = 1 << 22
#: Longest line tokenised (a dense <16,16,16> product takes about 6 kB).
MAX_LINE_CHARS = 1 << 20

#: letter -> (which factor, which side of (n, m, p) bounds each of its two indices)
_LETTERS = {"a": (0, (0, 1)), "b": (1, (1, 2)), "c": (2, (2, 0))}


class _Line:
    """Recursive-descent parser of one product line into (letter, r1, r2, coef) terms."""

    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, Any]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            match = _TOKEN_RE.match(text, pos)
            if not match:
                raise FormatError(f"unexpected character {text[pos:].lstrip()[0]!r} at column {pos + 1}")
            pos = match.end()
            if match["var"]:
                self.tokens.append(("var", (match["var"], *_indices(match))))
            elif match["int"]:
                if len(match["int"]) > _MAX_COEFFICIENT_DIGITS:
                    raise FormatError(f"coefficient {match['int'][:20]}... is too large")
                self.tokens.append(("int", int(match["int"])))
            else:
                self.tokens.append((match["op"], None))
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos][0] if self.pos < len(self.tokens) else None

    def take(self, kind: str) -> Any:
        if self.peek() != kind:
            found = self.peek() or "end of line"
            raise FormatError(f"expected {kind!r}, found {found!r}")
        self.pos += 1
        return self.tokens[self.pos - 1][1]

    def product(self) -> list[list[tuple[str, int, int, int]]]:
        """product := factor ['*'] factor ['*'] factor (juxtaposed factors multiply)"""
        factors = [self.factor()]
        while self.peek() in ("*", "(", "var"):
            if self.peek() == "*":
                self.take("*")
            factors.append(self.factor())
        if self.peek() is not None:
            raise FormatError(f"unexpected {self.peek()!r} after the product")
        if len(factors) != 3:
            raise FormatError(f"a product needs 3 factors, found {len(factors)}")
        return factors

    def factor(self) -> list[tuple[str, int, int, int]]:
        """factor := [sign] [int '*'] ( '(' sum ')' | var )"""
        scale = self.sign() * self.multiplier()
        if self.peek() == "(":
            self.take("(")
            terms = self.sum()
            self.take(")")
        else:
            terms = [self.variable(1)]
        terms = [(letter, i, j, scale * c) for letter, i, j, c in terms]
        if any(abs(t[3]) >= _MAX_COEFFICIENT for t in terms):
            raise FormatError(f"a coefficient reaches 2^31 or more (limit {_MAX_COEFFICIENT - 1})")
        return terms

    def sum(self) -> list[tuple[str, int, int, int]]:
        """sum := [sign] term { sign term }, term := int ['*' var] | var"""
        terms = []
        sign = self.sign()
        while True:
            if self.peek() == "int":
                coef = self.take("int")
                if self.peek() == "*":
                    self.take("*")
                    terms.append(self.variable(sign * coef))
                elif coef != 0:
                    raise FormatError(f"constant {coef} inside a factor (only 0 is allowed)")
            else:
                terms.append(self.variable(sign))
            if self.peek() not in ("+", "-"):
                return terms
            sign = self.sign()

    def sign(self) -> int:
        sign = 1
        while self.peek() in ("+", "-"):
            if self.peek() == "-":
                sign = -sign
            self.pos += 1
        return sign

    def multiplier(self) -> int:
        if self.peek() == "int" and self.pos + 1 < len(self.tokens) and self.tokens[self.pos + 1][0] == "*":
            coef = self.take("int")
            self.take("*")
            return coef
        return 1

    def variable(self, coef: int) -> tuple[str, int, int, int]:
        letter, i, j = self.take("var")
        return letter, i, j, coef


def _indices(match: re.Match) -> tuple[int, int]:
    """Both 1-based indices of a variable; two digits run together only below 10."""
    if match["narrow"] is not None:
        digits = match["narrow"]
        if len(digits) != 2:
            raise FormatError(
                f"variable {match['var']}{digits} is ambiguous: write two digits, or "
                f"{match['var']}<i>_<j> with an underscore"
            )
        first, second = int(digits[0]), int(digits[1])
    else:
        first, second = int(match["wide1"]), int(match["wide2"])
    if first < 1 or second < 1:
        raise FormatError(f"variable {match.group().strip()}: indices start at 1")
    return first, second


def parse_flipgraph(text: str, ring: Ring | str | None = None, target: Target | None = None) -> Scheme:
    """A scheme from flip-graph text; ``target``/``ring`` take precedence over the header,
    which takes precedence over inference from the largest indices."""
    header_shape, header_ring = None, None
    products = []
    terms = 0
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        with error_context(f"line {lineno}"):
            if len(line) > MAX_LINE_CHARS:
                raise FormatError(f"longer than {MAX_LINE_CHARS:,} characters")
            if line.startswith("#"):
                if (m := _FORMAT_RE.match(line)):
                    header_shape = tuple(int(x) for x in m.groups())
                elif (m := _RING_RE.match(line)):
                    header_ring = parse_ring(m.group(1))
                continue
            factors = _Line(line).product()
            products.append(_ordered(factors))
            terms += sum(map(len, factors))
            if len(products) > MAX_PRODUCTS or terms > MAX_TERMS:
                raise FormatError(f"more than {MAX_PRODUCTS:,} products or {MAX_TERMS:,} variables; "
                                  "refusing a scheme this large")
    if not products:
        raise FormatError("no products found")
    shape = _shape(products, header_shape, target)
    target = matmul_target(*shape)
    ring = parse_ring(ring) if ring is not None else (header_ring or Z)
    n, m, p = shape
    rank = len(products)
    mats = [np.zeros((rank, n * m), np.int64), np.zeros((rank, m * p), np.int64),
            np.zeros((rank, n * p), np.int64)]
    for letter, (slot, _) in _LETTERS.items():
        rows, first, second, coefs = _columns(products, slot)
        if letter == "a":
            cols = (first - 1) * m + (second - 1)
        elif letter == "b":
            cols = (first - 1) * p + (second - 1)
        else:  # c<k><i> is C[i][k]
            cols = (second - 1) * p + (first - 1)
        np.add.at(mats[slot], (rows, cols), coefs)
    return Scheme(target, ring, *mats).with_ring(ring)


def read_flipgraph(path: str | Path, ring: Ring | None = None, target: Target | None = None) -> list[Scheme]:
    """The single scheme of a flip-graph text file, as a one-element list."""
    text = read_text(path)
    with error_context(str(path)):
        return [parse_flipgraph(text, ring, target)]


def flipgraph_lines(scheme: Scheme, **meta: Any) -> list[str]:
    """The scheme as flip-graph text lines: a header of comments, then one product per line."""
    target = scheme.target
    if not target.is_matmul:
        raise FormatError(f"the flip-graph format holds only matmul schemes, not {target.name}")
    if scheme.denominators is not None:
        raise FormatError("the flip-graph format has integer coefficients only; this scheme needs denominators")
    n, m, p = target.params
    wide = max(n, m, p) >= 10
    sep = "_" if wide else ""
    a_names = [f"a{i + 1}{sep}{j + 1}" for i in range(n) for j in range(m)]
    b_names = [f"b{j + 1}{sep}{k + 1}" for j in range(m) for k in range(p)]
    c_names = [f"c{k + 1}{sep}{i + 1}" for i in range(n) for k in range(p)]  # our index i*p+k
    lines = [
        f"# {target.name} rank {scheme.rank} over {scheme.ring} (tensorgame flip-graph text)",
        "# cyclic convention: sum of products = sum a_ij*b_jk*c_ki; c<k><i> stands for C[i][k]",
        f"# format {n} {m} {p}",
        f"# ring {scheme.ring}",
    ]
    lines += [f"# {key}: {value}" for key, value in meta.items()]
    for r in range(scheme.rank):
        parts = (linear_form(x[r], names) for x, names in
                 ((scheme.u, a_names), (scheme.v, b_names), (scheme.w, c_names)))
        lines.append("*".join(f"({part})" for part in parts))
    return lines


def write_flipgraph(schemes: list[Scheme], path: str | Path, **meta: Any) -> None:
    """Write one scheme (the format has no separator between schemes)."""
    if len(schemes) != 1:
        raise FormatError(f"{path}: a flip-graph file holds one scheme, got {len(schemes)}")
    atomic_write(path, ("\n".join(flipgraph_lines(schemes[0], **meta)) + "\n").encode("utf-8"))


def linear_form(coefs: np.ndarray, names: list[str], sep: str = "") -> str:
    """``a11-a12+2*a21`` for the given coefficients (``0`` when all vanish).

    ``sep`` goes around the + and - between terms (the listing of slp uses a space).
    """
    out = []
    for idx in np.flatnonzero(coefs):
        c = int(coefs[idx])
        body = names[idx] if abs(c) == 1 else f"{abs(c)}*{names[idx]}"
        if not out:
            out.append(body if c > 0 else f"-{body}")
        else:
            out.append(f"{sep}{'+' if c > 0 else '-'}{sep}{body}")
    return "".join(out) or "0"


def _ordered(factors: list[list[tuple[str, int, int, int]]]) -> list[list[tuple[str, int, int, int]]]:
    """Factors in a, b, c order. Each factor uses a single letter; a zero factor
    (written ``(0)``) takes whichever place is left."""
    slots: list[list | None] = [None, None, None]
    for terms in factors:
        letters = {t[0] for t in terms}
        if not letters:
            continue
        if len(letters) > 1:
            raise FormatError(f"a factor mixes the variables {'/'.join(sorted(letters))}")
        slot = _LETTERS[letters.pop()][0]
        if slots[slot] is not None:
            raise FormatError("a product needs one factor each in a, b and c variables")
        slots[slot] = terms
    return [terms if terms is not None else [] for terms in slots]


def _columns(products: list, slot: int) -> tuple[np.ndarray, ...]:
    """(row, first index, second index, coefficient) arrays for one factor of all products."""
    flat = [(r, i, j, c) for r, factors in enumerate(products) for (_, i, j, c) in factors[slot]]
    return tuple(np.asarray([t[k] for t in flat], dtype=np.int64) for k in range(4))


def _shape(products: list, header: tuple[int, int, int] | None, target: Target | None) -> tuple[int, int, int]:
    """(n, m, p) from the target, else the header, else the largest indices; checked
    against every index used."""
    used = [0, 0, 0]
    for slot, (_, sides) in enumerate(_LETTERS.values()):
        _, first, second, _ = _columns(products, slot)
        for side, values in zip(sides, (first, second)):
            if values.size:
                used[side] = max(used[side], int(values.max()))
    if target is not None:
        if not target.is_matmul:
            raise FormatError(f"the flip-graph format holds only matmul schemes, not {target.name}")
        shape = target.params
        if header is not None and tuple(header) != tuple(shape):
            raise FormatError(f"the header says format {header}, the requested target is {target.name}")
    else:
        shape = header or tuple(used)
    if any(u > s for u, s in zip(used, shape)):
        raise FormatError(f"indices up to {tuple(used)} do not fit the format <{shape[0]},{shape[1]},{shape[2]}>")
    return tuple(shape)  # type: ignore[return-value]
