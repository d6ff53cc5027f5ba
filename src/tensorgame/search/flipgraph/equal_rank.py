"""Many inequivalent schemes of one rank, for choosing among them by something other
than rank (runtime on this machine, accuracy).

The flip search stores only improvements, but flips preserve the rank and move
between inequivalent schemes, so a walk that has reached the best rank keeps
producing alternatives. :func:`equal_rank_schemes` reaches the rank with
:func:`~tensorgame.search.flipgraph.search`, keeps walking (plus transitions allowed
one rank up: some schemes, Strassen's among them, admit no flip at all), and every
``stride`` attempts takes the walk's current scheme when it is at the rank and of a
symmetry class not seen yet (:func:`~tensorgame.tensors.canonical.canonical_hash`,
the catalogue's notion of "the same scheme"). Should the walk find a lower rank, the
collection starts over there. Every scheme returned is verified exactly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from tensorgame.errors import TensorGameError
from tensorgame.search.flipgraph import _SEARCH_PLATEAU, _start, search
from tensorgame.search.flipgraph.packing import search_ring, unpack
from tensorgame.tensors.canonical import canonical_hash
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
    found, and what the walk cost."""

    rank: int
    schemes: list[Scheme]
    flips: int
    seconds: float
    stopped: str  # "count", "time" or "exhausted"


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
    ``time_limit`` seconds in all. Seeded: the same arguments give the same schemes
    unless the clock stops the walk first. A goal not reached in time is an error
    (more time, or a start scheme closer to it, is the remedy)."""
    if count < 1:
        raise TensorGameError(f"the number of schemes must be at least 1, got {count}")
    if stride < 1:
        raise TensorGameError(f"the stride must be at least 1, got {stride}")
    ring = search_ring(ring)
    t0 = time.perf_counter()
    reached = search(target, ring=ring, time_limit=time_limit, target_rank=goal, seed=seed, start=start)
    if reached.rank > goal:
        raise TensorGameError(f"the walk reached rank {reached.rank} of {target.name} in {reached.seconds:.1f} s, "
                              f"not the goal {goal}; give more time or a start scheme of rank {goal}")
    walker = _start(reached.scheme, ring, plus_diff=1, seed=seed + 1)
    rank = walker.best_rank
    found = {canonical_hash(reached.scheme): reached.scheme}
    stale = 0
    stopped = "count"
    while len(found) < count:
        if time.perf_counter() - t0 >= time_limit:
            stopped = "time"
            break
        if stale >= PATIENCE:
            stopped = "exhausted"
            break
        walker.run(stride, _SEARCH_PLATEAU[ring], rank - 1)
        if walker.best_rank < rank:  # a lower rank: its schemes are the ones worth having
            rank, found, stale = walker.best_rank, {}, 0
        if walker.rank != rank:
            stale += 1
            continue
        scheme = unpack(walker.current(), target)
        key = canonical_hash(scheme)
        if key in found:
            stale += 1
            continue
        if not scheme.verify().ok:
            raise RuntimeError(f"flip-graph engine bug: an incorrect rank-{rank} scheme over {scheme.ring}")
        found[key], stale = scheme, 0
    return EqualRankSample(rank, list(found.values()), reached.flips + walker.flips,
                           time.perf_counter() - t0, stopped)
