"""Many inequivalent schemes of one rank, for choosing among them by something other
than rank (runtime on this machine, accuracy).

The flip search stores only improvements, but flips preserve the rank and move
between inequivalent schemes, so a walk that has reached the best rank keeps
producing alternatives. :func:`equal_rank_schemes` reaches the rank with
:func:`~tensorgame.search.flipgraph.search`, keeps walking (plus transitions allowed
one rank up: some schemes, Strassen's among them, admit no flip at all), and every
``stride`` attempts takes the walk's current scheme when it is at the rank and of a
symmetry class not seen yet (:func:`~tensorgame.tensors.canonical.canonical_hash`,
the catalogue's notion of "the same scheme").

Rings are :func:`~tensorgame.search.flipgraph.session.flip_rings`'s: Z2, Z3 and ZT
walk and keep what they find; ``Z`` walks mod 2 and Hensel-lifts each new mod-2 class
(:func:`~tensorgame.search.lifting.hensel_lift`, the lifter of ``flip --ring Z``),
keeping only the lifts that hold over Z. Mod 2 reaches ranks the ternary walk does not
(<4,4,4>: 49 in seconds, where ZT stalls in the fifties), and not every mod-2 scheme
lifts, so the lifted classes are counted, not the walked ones. Should the walk find a
lower rank that is kept (over Z: that lifts), the collection starts over there; a
lower mod-2 rank that does not lift (<4,4,4> at 47) sends the walk back to the rank.
Every scheme returned is verified exactly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from tensorgame.errors import TensorGameError
from tensorgame.search.flipgraph import _SEARCH_PLATEAU, _start, search
from tensorgame.search.flipgraph.packing import unpack
from tensorgame.search.flipgraph.session import flip_rings
from tensorgame.search.lifting import MAX_SOLVER_BYTES, hensel_lift, solver_bytes
from tensorgame.tensors.canonical import canonical_hash
from tensorgame.tensors.rings import Z
from tensorgame.tensors.scheme import Scheme
from tensorgame.tensors.targets import Target

#: Flip attempts between two looks at the walk (consecutive looks of a shorter
#: stride mostly see the same class again).
DEFAULT_STRIDE = 2_000
#: Looks in a row without a new class of the rank after which the walk is taken as
#: exhausted (<2,2,2> has a single class of rank 7, for instance).
PATIENCE = 500


@dataclass(frozen=True)
class EqualRankSample:
    """Distinct (inequivalent) verified schemes of the best rank reached, in the order
    found, and what the walk cost; ``walked``: classes of the rank the walk visited
    (with lifting: mod-2 classes tried), ``lifted`` of them lifted over Z (None
    without lifting)."""

    rank: int
    schemes: list[Scheme]
    flips: int
    seconds: float
    stopped: str  # "count", "time" or "exhausted"
    walked: int = 0
    lifted: int | None = None


class _Keeper:
    """What a walked scheme becomes in the sample: itself (verified), or over Z its
    Hensel lift when it lifts (None otherwise)."""

    def __init__(self, lift: bool) -> None:
        self.lift = lift
        self.lifted = 0

    def __call__(self, scheme: Scheme) -> Scheme | None:
        if not scheme.verify().ok:
            raise RuntimeError(f"flip-graph engine bug: an incorrect rank-{scheme.rank} scheme over {scheme.ring}")
        if not self.lift:
            return scheme
        got = hensel_lift(scheme).scheme
        if got is None or got.ring != Z or not got.verify().ok:
            return None
        self.lifted += 1
        return got


def equal_rank_schemes(
    target: Target,
    count: int,
    goal: int,
    *,
    ring: str = "ZT",
    start: Scheme | None = None,
    seed: int = 0,
    time_limit: float = 60.0,
    stride: int = DEFAULT_STRIDE,
) -> EqualRankSample:
    """Walk from ``start`` (default: the naive scheme) down to rank ``goal``, then
    collect up to ``count`` inequivalent schemes of the lowest rank reached, within
    ``time_limit`` seconds in all; ``ring``: ZT, Z2, Z3, or Z (walk mod 2, keep the
    lifts over Z). Seeded: the same arguments give the same schemes unless the clock
    stops the walk first. A goal not reached in time is an error (more time, ring Z,
    or a start scheme closer to it, is the remedy)."""
    if count < 1:
        raise TensorGameError(f"the number of schemes must be at least 1, got {count}")
    if stride < 1:
        raise TensorGameError(f"the stride must be at least 1, got {stride}")
    walk_ring, lift = flip_rings(ring)
    if lift:  # the walk is mod 2, every candidate of rank <= goal: one bound for all, before walking
        need = solver_bytes(goal, target.dims, 2)
        if need > MAX_SOLVER_BYTES:
            raise TensorGameError(f"lifting rank-{goal} schemes of {target.name} could need {need / 2**30:,.1f} GiB "
                                  f"(above the {MAX_SOLVER_BYTES / 2**30:g} GiB allowed); use ring ZT")
    t0 = time.perf_counter()
    reached = search(target, ring=walk_ring, time_limit=time_limit, target_rank=goal, seed=seed, start=start)
    if reached.rank > goal:
        raise TensorGameError(f"the {walk_ring} walk reached rank {reached.rank} of {target.name} in "
                              f"{reached.seconds:.1f} s, not the goal {goal}; give more time"
                              f"{'' if lift else ', ring Z (a mod-2 walk, lifted)'} or a start scheme of "
                              f"rank {goal}")
    keep = _Keeper(lift)
    walker = _start(reached.scheme, walk_ring, plus_diff=1, seed=seed + 1)
    rank, anchor = walker.best_rank, walker.best()
    seen = {canonical_hash(reached.scheme)}  # classes of the walk tried at this rank
    first = keep(reached.scheme)
    found = {} if first is None else {canonical_hash(first): first}
    stale = 0
    stopped = "count"
    while len(found) < count:
        if time.perf_counter() - t0 >= time_limit:
            stopped = "time"
            break
        if stale >= PATIENCE:
            stopped = "exhausted"
            break
        walker.run(stride, _SEARCH_PLATEAU[walk_ring], rank - 1)
        if walker.best_rank < rank:  # a lower rank: its schemes are the ones worth having, if kept
            lower = keep(unpack(walker.best(), target))
            if lower is None:
                walker.reset(anchor)
                stale += 1
                continue
            rank, anchor, stale = walker.best_rank, walker.best(), 0
            seen, found = {canonical_hash(unpack(anchor, target))}, {canonical_hash(lower): lower}
            continue
        if walker.rank != rank:
            stale += 1
            continue
        state = walker.current()
        scheme = unpack(state, target)
        key = canonical_hash(scheme)
        if key in seen:
            stale += 1
            continue
        seen.add(key)
        kept = keep(scheme)
        if kept is None:  # a new class that does not lift: the walk still moves on
            continue
        kept_key = canonical_hash(kept)
        if kept_key in found:
            stale += 1
            continue
        found[kept_key], anchor, stale = kept, state, 0
    if not found:
        raise TensorGameError(f"none of the {len(seen)} rank-{rank} classes of {target.name} the mod-2 walk "
                              f"visited in {time.perf_counter() - t0:.1f} s lifted to Z; give more time")
    return EqualRankSample(rank, list(found.values()), reached.flips + walker.flips,
                           time.perf_counter() - t0, stopped, len(seen), keep.lifted if lift else None)
