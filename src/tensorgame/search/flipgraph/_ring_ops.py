"""Compiled arithmetic on bit-packed factors, and the walk's random numbers.

Every factor is a pair of uint64 masks ``(nz, sg)``: the non-zero coordinates, and
among them the negative ones. Over Z2 ``sg`` is always 0 and a sum is an XOR; over
the ternary ring ZT (coefficients in {-1, 0, 1}, valid over every ring) a sum exists
only when no coordinate reaches ±2. Over Z3 the same two masks hold the field's
elements {0, 1, 2 = -1}; every sum exists (1 + 1 = -1, -1 + -1 = 1), so the ternary
legality checks simply never fail there.

Terms are stored as ``sc · u ⊗ v ⊗ w`` with all three factors *canonical* (first
non-zero coordinate +1) and a unit ``sc`` (±1; always 1 over Z2), so "equal up to
sign" — the test that decides flip partners and merges — is a plain mask compare in
every position.

The ring code is a runtime argument; its branch is perfectly predicted, which costs
far less than maintaining one compiled copy of the walk per ring.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: Options of every compiled function of the engine: cached, and without numba's
#: reference counting (the arrays are owned by Python; see ``_structure``).
NJIT = {"cache": True, "_nrt": False}
#: The same, inlined into every caller: a call between compiled functions passes each
#: array as about ten scalars, which in the flip's hot path cost twice the flip's own
#: work (<4,4,4> over Z2 walked 2.5× faster with the path inlined). Inlining costs
#: compile time, so the paths off the flip keep calls.
HOT = {**NJIT, "inline": "always"}

RING_Z2 = 0
RING_ZT = 1
RING_Z3 = 2

ZERO = np.uint64(0)
ONE = np.uint64(1)
_SH27 = np.uint64(27)
_SH30 = np.uint64(30)
_SH31 = np.uint64(31)
_SH32 = np.uint64(32)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_LOW32 = np.uint64(0xFFFFFFFF)


@njit(**NJIT)
def add(ring: int, xnz, xsg, ynz, ysg, negate: bool):
    """``x + y`` (``x - y`` when ``negate``): ``(legal, nz, sg)``.

    Illegal only in ZT, when some coordinate would leave {-1, 0, 1}.
    """
    if ring == RING_Z2:
        return True, xnz ^ ynz, ZERO
    if negate:
        ysg = ysg ^ ynz
    same = xnz & ynz & ~(xsg ^ ysg)  # coordinates where the sum is ±2
    if ring == RING_Z3:
        # ±2 = ∓1 mod 3: non-zero with the sign flipped; opposite signs cancel
        nz = (xnz ^ ynz) | same
        return True, nz, ((xsg & ~ynz) | (ysg & ~xnz) | (same & ~xsg)) & nz
    if same:
        return False, ZERO, ZERO
    nz = xnz ^ ynz
    return True, nz, (xsg | ysg) & nz


@njit(**NJIT)
def canon(ring: int, nz, sg):
    """Scale a factor so its first non-zero coordinate is +1: ``(sg, unit)``."""
    if ring == RING_Z2:
        return sg, 1
    if sg & nz & (~nz + ONE):
        return sg ^ nz, -1
    return sg, 1


@njit(**NJIT)
def hash_slot(nz, sg, shift) -> int:
    """Home slot of a factor in a table of 2**(64 - shift) slots (Fibonacci hashing)."""
    return np.int64(((nz ^ (sg * _MIX2)) * _GOLDEN) >> shift)


@njit(**NJIT)
def next_u64(rng) -> np.uint64:
    """splitmix64 step. Our own generator (not numba's global np.random) keeps walks
    reproducible from their own state, so a walk can be resumed chunk by chunk."""
    z = rng[0] + _GOLDEN
    rng[0] = z
    z = (z ^ (z >> _SH30)) * _MIX1
    z = (z ^ (z >> _SH27)) * _MIX2
    return z ^ (z >> _SH31)


@njit(**NJIT)
def scale32(bits32, n: int) -> int:
    """Map 32 random bits to [0, n) by a multiply-shift (bias below n / 2**32)."""
    return np.int64((bits32 * np.uint64(n)) >> _SH32)


@njit(**NJIT)
def rand_below(rng, n: int) -> int:
    """Uniform integer in [0, n), n < 2**32."""
    return scale32(next_u64(rng) >> _SH32, n)


@njit(**NJIT)
def low32(x) -> np.uint64:
    return x & _LOW32


@njit(**NJIT)
def high32(x) -> np.uint64:
    return x >> _SH32
