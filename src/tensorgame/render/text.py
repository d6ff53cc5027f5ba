"""The algorithm of a scheme written out the way papers list it (AlphaTensor, Fig. 3):

    <2,2,2> over Z: rank 7, 18 additions
    m1 = (a11 + a22) * (b11 + b22)
    ...
    c11 = m1 + m4 - m5 + m7

so a person can read, check or transcribe it without knowing the tensor layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from tensorgame.render.coefficients import display_factors, format_value
from tensorgame.tensors.scheme import Scheme


def linear_form(coefficients: Sequence[int | Fraction], names: Sequence[str]) -> str:
    """``a11 - 2 a12 + (1/2) a21``; ``0`` when every coefficient is zero."""
    parts: list[str] = []
    for coef, name in zip(coefficients, names):
        if coef == 0:
            continue
        size = abs(Fraction(coef))
        if size == 1:
            term = name
        elif size.denominator == 1:
            term = f"{size} {name}"
        else:
            term = f"({format_value(size)}) {name}"
        sign = "-" if coef < 0 else "+"
        if parts:
            parts.append(f" {sign} {term}")
        else:
            parts.append(f"-{term}" if coef < 0 else term)
    return "".join(parts) or "0"


def _factor(coefficients: Sequence[int | Fraction], names: Sequence[str]) -> str:
    """A product operand: bare for a single unit term, parenthesised otherwise."""
    nonzero = [c for c in coefficients if c != 0]
    text = linear_form(coefficients, names)
    return text if len(nonzero) == 1 and nonzero[0] == 1 else f"({text})"


def header(scheme: Scheme) -> str:
    """One line naming the target, the ring (and that arithmetic is modular) and the costs."""
    ring = str(scheme.ring)
    if scheme.ring.modulus is not None:
        ring += f" (mod {scheme.ring.modulus})"
    return (f"{scheme.target.name} over {ring}: rank {scheme.rank}, "
            f"{scheme.additions} additions")


def algorithm_text(scheme: Scheme) -> str:
    """Header, one line per product m_r, one line per output coordinate."""
    x_names, y_names, z_names = scheme.target.labels()
    u, v, w = display_factors(scheme)
    products = [f"m{r + 1}" for r in range(scheme.rank)]
    lines = [header(scheme)]
    lines += [
        f"{m} = {_factor(u[r], x_names)} * {_factor(v[r], y_names)}"
        for r, m in enumerate(products)
    ]
    lines += [f"{z} = {linear_form(w[:, k], products)}" for k, z in enumerate(z_names)]
    return "\n".join(lines) + "\n"
