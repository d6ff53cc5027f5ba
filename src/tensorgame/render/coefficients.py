"""The coefficients a reader should see, shared by the text and the figure views.

Stored factors are integers; what they mean depends on the ring: over Q each factor
is divided by its denominator, over Z_p a residue reads best as its representative
of smallest magnitude (p - 1 is -1), except mod 2 where 1 is the only non-zero value.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from tensorgame.tensors.scheme import Scheme


def display_factors(scheme: Scheme) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """U, V, W (terms × coordinates) as the values they stand for in the scheme's ring.

    Entries are Python ``int`` or, for rational schemes, reduced ``Fraction`` objects
    (object arrays), so they compare, sort and print exactly.
    """
    factors = (scheme.u, scheme.v, scheme.w)
    p = scheme.ring.modulus
    if p is not None:
        reduced = (np.mod(x, p) for x in factors)
        if p > 2:
            reduced = (np.where(x > p // 2, x - p, x) for x in reduced)
        return tuple(x.astype(object) for x in reduced)  # type: ignore[return-value]
    d = scheme.denominators
    if d is None:
        return tuple(x.astype(object) for x in factors)  # type: ignore[return-value]
    return tuple(  # type: ignore[return-value]
        np.array(
            [[Fraction(int(c), int(den)) for c in row] for row, den in zip(x.tolist(), d[:, i].tolist())],
            dtype=object,
        ).reshape(x.shape)
        for i, x in enumerate(factors)
    )


def format_value(value: int | Fraction) -> str:
    """A coefficient as text: ``2``, ``-1``, ``1/2`` (integers stay plain)."""
    value = Fraction(value)
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"
