"""Bit-packed schemes: the walk's representation, and conversion from/to :class:`Scheme`.

Search rings: ``"Z2"`` (coefficients mod 2; results are schemes over Z2), ``"ZT"``
(coefficients in {-1, 0, 1}; results are schemes over Z, hence valid in every ring) and
``"Z3"`` (coefficients mod 3, held as -1, 0, 1; results are schemes over Z3, which
Hensel lifting may carry to Z or Q).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tensorgame.errors import RingError, TargetError
from tensorgame.search.flipgraph._ring_ops import RING_Z2, RING_Z3, RING_ZT
from tensorgame.tensors.rings import Z, Z2, Z3, parse_ring
from tensorgame.tensors.scheme import Scheme
from tensorgame.tensors.targets import Target

#: Bits of one mask word.
WORD = 64
#: Longest factor the search packs: sides up to 16 for matmul (<16,16,16> has factors
#: of 256 entries, four words a mask).
MAX_FACTOR_LENGTH = 256

_RING_CODES = {"Z2": RING_Z2, "ZT": RING_ZT, "Z3": RING_Z3}
#: The ring of the schemes a search ring produces.
RESULT_RING = {"Z2": Z2, "ZT": Z, "Z3": Z3}


def search_ring(ring: str) -> str:
    """Normalise a search-ring name: ``"Z2"`` (also F2, GF2), ``"Z3"`` (F3, GF3) or
    ``"ZT"`` (ternary)."""
    text = str(ring).strip().upper()
    if text in ("ZT", "TERNARY"):
        return "ZT"
    try:
        parsed = parse_ring(text)
    except RingError:
        parsed = None
    for name, result in RESULT_RING.items():
        if parsed is not None and parsed == result and result.modulus is not None:
            return name
    raise RingError(
        f"unknown search ring {ring!r}: use 'Z2', 'Z3' or 'ZT' (coefficients in {{-1,0,1}})"
    )


def ring_code(ring: str) -> int:
    """The compiled kernels' code for a search ring."""
    return _RING_CODES[search_ring(ring)]


@dataclass(frozen=True, eq=False)
class PackedScheme:
    """Terms ``sc[r] · u_r ⊗ v_r ⊗ w_r`` as masks: ``nz[p, r]`` (non-zero coordinates of
    factor p of term r) and ``sg[p, r]`` (negative ones), with every factor canonical
    (first non-zero coordinate +1). Over Z2, ``sg`` is 0 and ``sc`` is 1.

    Factors of at most 64 entries are one uint64 each, (3, R) arrays (the one-word
    kernels); longer ones are W words, (3, R, W) arrays, coordinate i in bit i % 64 of
    word i // 64."""

    ring: str
    nz: np.ndarray  # (3, R) or (3, R, W) uint64
    sg: np.ndarray  # like nz
    sc: np.ndarray  # (R,) int64

    @property
    def rank(self) -> int:
        return int(self.nz.shape[1])

    @property
    def words(self) -> int:
        """Mask words a factor takes."""
        return 1 if self.nz.ndim == 2 else int(self.nz.shape[2])


def words(dims: tuple[int, ...]) -> int:
    """Mask words a factor of a target with these factor lengths takes."""
    return max(1, -(-max(dims) // WORD))


def check_lengths(dims: tuple[int, ...]) -> None:
    """Refuse targets whose factors are longer than the search packs."""
    if max(dims) > MAX_FACTOR_LENGTH:
        raise TargetError(
            f"flip-graph search handles factors of at most {MAX_FACTOR_LENGTH} entries (sides up to 16 "
            f"for matmul, <16,16,16>); this target has factors of length {tuple(dims)}"
        )


def _bits(mask: np.ndarray, nwords: int) -> np.ndarray:
    """Rows of a boolean (R, L) matrix as masks (coordinate i -> bit i % 64 of word
    i // 64): (R,) uint64 for one word, else (R, nwords)."""
    rows = mask.shape[0]
    padded = np.zeros((rows, nwords * WORD), dtype=np.uint64)
    padded[:, : mask.shape[1]] = mask
    weights = np.left_shift(np.uint64(1), np.arange(WORD, dtype=np.uint64))
    packed = (padded.reshape(rows, nwords, WORD) * weights).sum(axis=2, dtype=np.uint64)
    return packed[:, 0] if nwords == 1 else packed


def _unbits(nz: np.ndarray, sg: np.ndarray, length: int) -> np.ndarray:
    """Masks ((R,) or (R, W)) back to an (R, length) int64 matrix with entries in {-1, 0, 1}."""
    shifts = np.arange(WORD, dtype=np.uint64)

    def coordinates(x: np.ndarray) -> np.ndarray:
        x = x[:, None] if x.ndim == 1 else x
        bits = (x[:, :, None] >> shifts) & np.uint64(1)
        return bits.reshape(x.shape[0], x.shape[1] * WORD)[:, :length].astype(np.int64)

    return coordinates(nz) * (1 - 2 * coordinates(sg))


def masks_to_ints(masks: np.ndarray) -> list:
    """(3, R) or (3, R, W) masks as nested lists of Python integers, one per factor
    (word k holds bits 64k..64k+63): the checkpoint form, identical to the one-word
    one for factors of at most 64 entries."""
    if masks.ndim == 2:
        return masks.tolist()
    return [[sum(int(x) << (WORD * k) for k, x in enumerate(f)) for f in row] for row in masks.tolist()]


def ints_to_masks(values: list, nwords: int) -> np.ndarray:
    """Inverse of :func:`masks_to_ints` for factors of ``nwords`` words (ValueError or
    OverflowError on a value that does not fit)."""
    if nwords == 1:
        return np.asarray(values, dtype=np.uint64).reshape(3, -1)
    flat = [int(x) for row in values for x in row]
    if any(x < 0 or x >> (WORD * nwords) for x in flat):
        raise ValueError(f"a mask does not fit {nwords} words")
    low = (1 << WORD) - 1
    words_ = [[(x >> (WORD * k)) & low for k in range(nwords)] for x in flat]
    return np.asarray(words_, dtype=np.uint64).reshape(3, -1, nwords)


def _balanced(x: np.ndarray, modulus: int) -> np.ndarray:
    """Residues as the representatives nearest zero (mod 2: {0, 1}; mod 3: {-1, 0, 1})."""
    r = np.mod(x, modulus)
    return np.where(r > modulus // 2, r - modulus, r)


def pack(scheme: Scheme, ring: str = "Z2") -> PackedScheme:
    """Pack a scheme for the search ring; terms with a zero factor are dropped.

    Z2 and Z3 read the coefficients mod 2 or 3 (the scheme must be over Z or that
    field; mod 3 a 2 is held as -1); ZT needs every coefficient in {-1, 0, 1} and a
    scheme over Z.
    """
    ring = search_ring(ring)
    check_lengths(scheme.target.dims)
    if scheme.denominators is not None:
        raise RingError("flip-graph search needs integer coefficients (no denominators)")
    factors = [scheme.u, scheme.v, scheme.w]
    field = RESULT_RING[ring]
    if field.modulus is not None:
        if scheme.ring not in (Z, field):
            raise RingError(f"a scheme over {scheme.ring} cannot be read mod {field.modulus}")
        factors = [_balanced(f, field.modulus) for f in factors]
    else:
        if scheme.ring != Z:
            raise RingError(f"ternary search needs a scheme over Z, got one over {scheme.ring}")
        if any(f.size and np.abs(f).max() > 1 for f in factors):
            raise RingError("ternary search needs coefficients in {-1, 0, 1}")
    keep = np.all([np.any(f != 0, axis=1) for f in factors], axis=0)
    factors = [f[keep] for f in factors]
    nwords = words(scheme.target.dims)
    nz = np.stack([_bits(f != 0, nwords) for f in factors])
    sg = np.stack([_bits(f < 0, nwords) for f in factors])
    sc = np.ones(nz.shape[1], dtype=np.int64)
    for p, f in enumerate(factors):  # canonical: first non-zero coordinate +1
        first = f[np.arange(len(f)), np.argmax(f != 0, axis=1)] if len(f) else np.zeros(0, np.int64)
        flip = first < 0
        sg[p, flip] ^= nz[p, flip]
        sc[flip] *= -1
    return PackedScheme(ring, nz, sg, sc)


def unpack(state: PackedScheme, target: Target, ring: str | None = None) -> Scheme:
    """The scheme of a packed state over :data:`RESULT_RING` of its ring (not verified)."""
    ring = state.ring if ring is None else search_ring(ring)
    if ring != state.ring:
        raise RingError(f"state was packed for {state.ring}, not {ring}")
    u, v, w = (_unbits(state.nz[p], state.sg[p], d) for p, d in enumerate(target.dims))
    w = w * state.sc[:, None]
    field = RESULT_RING[ring]
    return Scheme(target, field, *(field.reduce(x) for x in (u, v, w)))
