"""Coefficient rings in which a scheme can hold.

A scheme is always stored with integer factor matrices; the ring says how the Brent
equations are read: over Z exactly, over Q with per-factor denominators, over Z_p
modulo p. Users often confuse mod-2-only results (the rank-47 <4,4,4>) with results
over the integers, so every scheme carries its ring explicitly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from tensorgame.errors import RingError

_MAX_PRIME = 2**31 - 1


def _is_prime(p: int) -> bool:
    if p < 2:
        return False
    if p % 2 == 0:
        return p == 2
    f = 3
    while f * f <= p:
        if p % f == 0:
            return False
        f += 2
    return True


@dataclass(frozen=True)
class Ring:
    """A coefficient ring: ``Z``, ``Q`` or the prime field ``Z<p>``."""

    name: str
    modulus: int | None = None

    @property
    def is_modular(self) -> bool:
        return self.modulus is not None

    @property
    def allows_denominators(self) -> bool:
        return self.name == "Q"

    def reduce(self, values: np.ndarray) -> np.ndarray:
        """Canonical representatives: in [0, p) for Z_p, unchanged otherwise."""
        if self.modulus is None:
            return values
        return np.mod(values, self.modulus)

    def implies(self, other: Ring) -> bool:
        """True when a scheme valid over ``self`` is valid over ``other`` as stored.

        A Z scheme holds over Q and reduces to every Z_p; a Q or Z_p scheme holds only
        in its own ring (a Q scheme may hold mod p for p not dividing its denominators,
        but that needs a check, not an implication).
        """
        if self == other:
            return True
        return self.name == "Z"

    @property
    def scope(self) -> str:
        """Where a scheme over this ring holds, in words (for reports)."""
        if self.modulus is not None:
            return f"holds mod {self.modulus} only"
        return "rational coefficients" if self.name == "Q" else "holds over every ring"

    def __str__(self) -> str:
        return self.name


Z = Ring("Z")
Q = Ring("Q")
Z2 = Ring("Z2", 2)
Z3 = Ring("Z3", 3)

_RING_RE = re.compile(r"^(?:Z|F|GF|Z/)(\d+)(?:Z)?$")


def parse_ring(name: str | Ring) -> Ring:
    """Parse ``Z``, ``Q``, ``Z2``, ``F3``, ``GF5``, ``Z/7`` ... into a :class:`Ring`."""
    if isinstance(name, Ring):
        return name
    text = str(name).strip().upper().replace(" ", "")
    if len(text) > 16:
        raise RingError(f"unknown ring {text[:16]!r}... (expected Z, Q, Z2, Z3 or Z<p> for a prime p)")
    if text in ("Z", "INT", "INTEGERS"):
        return Z
    if text in ("Q", "RATIONALS"):
        return Q
    m = _RING_RE.match(text)
    if m:
        p = int(m.group(1))
        if p > _MAX_PRIME or not _is_prime(p):
            raise RingError(f"ring {name!r}: {p} is not a prime below 2^31")
        return Ring(f"Z{p}", p)
    raise RingError(f"unknown ring {name!r} (expected Z, Q, Z2, Z3 or Z<p> for a prime p)")
