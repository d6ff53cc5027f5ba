"""Parallel flip-graph search: many walks over all cores, two strategies, checkpoints.

One coordinator (the caller) and ``workers`` workers that only walk; the coordinator
verifies every improvement exactly, stores it in the catalogue as it happens, lifts
mod-p results to Z in a separate process, writes ``--out`` and checkpoints the run to
a directory, so that Ctrl-C or ``kill -9`` loses at most the last few seconds of
walking and never a catalogued improvement. A local run and a Ray run share
everything but the transport. The modules, from the bottom of the import graph up:

* ``settings``: :class:`FlipSettings`, the strategies;
* ``space``: :class:`SearchSpace`, plain or symmetric walks;
* ``messages``: the typed orders and reports between coordinator and workers;
* ``worker``: a worker's loops, behind a ``Channel``;
* ``lifting``: which mod-p schemes to Hensel-lift, one at a time;
* ``checkpoint``: the run's state file;
* ``sink``: where results go (catalogue, ``--out``, state file);
* ``transport``: local worker processes; ``ray_transport``: Ray actors;
* ``coordinator``: :class:`FlipRun`, the session.

Strategies (see ``/shared/brief/flipgraph.md``):

* ``runners`` (tfg's default): each worker hosts a few independent runners doing
  rounds of flips; an improvement is reported, verified and broadcast, and every
  runner adopts a new global best with probability ½. A runner that has gone its *path
  limit* of attempts without improving restarts from the global best or (½ each) one
  of the last 10 improvements. Runners alternate between two kinds (a portfolio,
  because no single setting suits every format): *adaptive* runners (below), which
  follow the best, and *steady* ones, which sample descents: base plateau, plus
  transitions only, a path of 10^7 attempts, and restarts from the run's start scheme;
  a steady runner turns adaptive once such fresh descents keep ending far above the
  best rank. Steady runners take <4,4,4> over Z2 to 49 in about 1 s and to 47 (which
  no walk continued from a 49 reached); adaptive ones are what moves wide formats
  (<2,5,5>).
* ``lineages``: the runners above without the copy-best rule. Every runner is adaptive
  and follows only its own improvements (its lineage); one that has gone its longest
  path without improving starts over from the start scheme, as a new lineage (the
  run's best is kept by the coordinator). Improvements are still reported, verified
  and broadcast (for the goal and the display), never adopted. It trades the copy-best
  rule's concentration for independent restarts: a run of several lineages is a
  series of runs from the start, which is what a plateau that traps every runner
  following one stalled lineage (<4,5,5>) calls for.
* ``pool`` (flip-cpd, level by level): a pool P_R of distinct schemes (deduplicated
  by canonical hash); a task walks a random member of P_R for at most the path limit
  until the rank drops below R; successes go to the pool of their rank. The search
  moves down (to the highest non-empty level) when the pools below R hold
  ``pool_size`` schemes or the level's ``pool_attempts`` run out.

Adaptive limits (adaptive runners and the pool). Walks diffuse: away from a sparse
scheme, random factor sums rarely coincide and reductions dry up (from the naive
<4,4,5> a 10^4-attempt path drops the rank in 4.5% of tries, a 10^5 one in 13%, and
one walk of 2.6·10^7 attempts never did). So paths start short (``path_min``) and
restart often; a stalled level doubles them (a runner after each fruitless restart,
the pool after a level's attempts), up to ``path_max``, since the last ranks need long
walks (<4,4,4> at 49); an improvement resets a runner's path. A runner's restart first
tries ``local_tries`` local descents (``local``: a small neighbourhood of terms walked
as a scheme of its own), which is what gets wide formats such as <2,5,5> off the naive
scheme at all, as long as they have taken at most a quarter of the runner's time.

Each restart also multiplies the runner's plateau limit by 4, cycling back to the
base value past 64×: the best plateau length differs per format and per rank.

Searches over Z walk mod p and lift; there a descent is kept (reported, adopted, a
pool task's success) only if its scheme can lift (``lifting.can_lift``, one echelon
form): whether a mod-2 scheme lifts barely changes along a walk, so a walk past a
scheme that cannot lift would be lost to the result over Z.

Walks are plain (``search/flipgraph``) or symmetric (``symmetric``: square formats,
Z2, orbit-wise moves); a :class:`SearchSpace` hides the difference.
"""

from tensorgame.search.flipgraph.drivers.coordinator import (
    FlipOutcome,
    FlipRun,
    Progress,
    run_flip,
)
from tensorgame.search.flipgraph.drivers.settings import STRATEGIES, FlipSettings
from tensorgame.search.flipgraph.drivers.space import SearchSpace

__all__ = ["STRATEGIES", "FlipOutcome", "FlipRun", "FlipSettings", "Progress", "SearchSpace", "run_flip"]
