"""What a flip search walks: plain schemes (``search/flipgraph``) or orbit
representatives of cyclic-symmetric ones (``symmetric``: square formats, Z2, orbit-wise
moves); :class:`SearchSpace` hides the difference from the workers and the coordinator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tensorgame.errors import TensorGameError
from tensorgame.search.flipgraph import _SEARCH_PLATEAU, _Walker, checked_pack, unpack
from tensorgame.search.flipgraph.packing import (
    RESULT_RING,
    PackedScheme,
    ints_to_masks,
    masks_to_ints,
    search_ring,
    words,
)
from tensorgame.search.flipgraph.symmetric import (
    OrbitScheme,
    SymmetricWalker,
    is_cyclic_symmetric,
    orbit_unpack,
    square_side,
    symmetric_start,
)
from tensorgame.search.lifting import can_lift
from tensorgame.tensors.scheme import Scheme
from tensorgame.tensors.targets import Target

Payload = PackedScheme | OrbitScheme
Walker = _Walker | SymmetricWalker

#: Plateau limit of the symmetric walk (a flip there moves three terms at once).
_SYMMETRIC_PLATEAU = 1_000
#: Shortest paths (attempts): symmetric attempts often draw a pair that is no move
#: (two virtual terms of one orbit), and on <4,4,4> paths from 2^20 reached 50 in
#: 100 s where 2^15 stayed at 52 after 150 s.
_PATH_MIN = 1 << 15
_SYMMETRIC_PATH_MIN = 1 << 20


@dataclass(frozen=True)
class SearchSpace:
    """What is searched and how schemes become walker payloads and back.

    ``ring`` is the search ring (Z2, Z3, ZT); ``symmetric`` walks orbit
    representatives of σ-invariant schemes (Z2 only).
    """

    target: Target
    ring: str
    symmetric: bool = False
    plus_diff: int = 4
    split: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "ring", search_ring(self.ring))
        if self.symmetric and self.ring != "Z2":
            raise TensorGameError(
                "the symmetric flip graph searches over Z2 only (use --ring Z2, or --ring Z to lift)"
            )
        if self.symmetric:
            square_side(self.target)

    @property
    def result_ring(self) -> str:
        """Ring of the schemes the walks produce."""
        return str(RESULT_RING[self.ring])

    @property
    def default_plateau(self) -> int:
        return _SYMMETRIC_PLATEAU if self.symmetric else _SEARCH_PLATEAU[self.ring]

    @property
    def default_path_min(self) -> int:
        return _SYMMETRIC_PATH_MIN if self.symmetric else _PATH_MIN

    def payload(self, scheme: Scheme) -> Payload:
        """A start scheme for the walks (proved correct in the search ring first)."""
        if scheme.target.key != self.target.key:
            raise TensorGameError(f"start scheme is for {scheme.target.name}, not {self.target.name}")
        return symmetric_start(scheme) if self.symmetric else checked_pack(scheme, self.ring)

    def scheme(self, payload: Payload) -> Scheme:
        """The scheme of a payload, verified exactly (and symmetric in that mode); a
        failure means an engine bug, never a user mistake."""
        if self.symmetric:
            scheme = orbit_unpack(payload, self.target)
            ok = scheme.verify().ok and is_cyclic_symmetric(scheme)
        else:
            scheme = unpack(payload, self.target)
            ok = scheme.verify().ok
        if not ok:
            raise RuntimeError(f"flip-graph engine bug: a rank-{scheme.rank} result does not verify")
        return scheme

    def can_lift(self, payload: Payload) -> bool:
        """Whether some scheme over Z (or Q) may reduce to the payload's; False is a
        proof that none does (``lifting.can_lift``)."""
        return can_lift(self.scheme(payload))

    def walker(self, payload: Payload, seed: int, capacity: int) -> Walker:
        """A walker starting at ``payload`` able to hold schemes up to rank ``capacity``."""
        if self.symmetric:
            return SymmetricWalker(payload, self.target, self.plus_diff, seed, self.split,
                                   capacity=capacity)
        return _Walker(payload, self.target, self.plus_diff, seed, self.split, capacity=capacity)

    def encode(self, payload: Payload) -> dict[str, Any]:
        """Compact JSON form of a payload (bit masks as integers, one per factor of any
        width) for checkpoints."""
        if self.symmetric:
            return {"nz": payload.nz.tolist(), "fixed": payload.fixed.tolist()}
        return {"nz": masks_to_ints(payload.nz), "sg": masks_to_ints(payload.sg), "sc": payload.sc.tolist()}

    def decode(self, doc: dict[str, Any]) -> Payload:
        """Inverse of :meth:`encode`; the scheme is re-verified (a checkpoint is input)."""
        try:
            if self.symmetric:
                nz = np.asarray(doc["nz"], dtype=np.uint64).reshape(3, -1)
                payload: Payload = OrbitScheme(nz, np.asarray(doc["fixed"], dtype=bool))
            else:
                nwords = words(self.target.dims)
                payload = PackedScheme(self.ring, ints_to_masks(doc["nz"], nwords),
                                       ints_to_masks(doc["sg"], nwords), np.asarray(doc["sc"], dtype=np.int64))
            scheme = orbit_unpack(payload, self.target) if self.symmetric else unpack(payload, self.target)
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise TensorGameError(f"damaged checkpoint: unreadable scheme ({exc})") from None
        if not scheme.verify().ok:
            raise TensorGameError("damaged checkpoint: a stored scheme does not verify")
        return payload
