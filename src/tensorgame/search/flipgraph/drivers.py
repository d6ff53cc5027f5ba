"""Parallel flip-graph search: many walks over all cores, two strategies, checkpoints.

One coordinator process (the caller) and ``workers`` spawned processes (spawn, not
fork: numba and SQLite state must not be shared; no threads). Workers only walk;
the coordinator verifies every improvement exactly, stores it in the catalogue as it
happens, lifts mod-p results to Z in a separate process, writes ``--out`` and
checkpoints the run to a directory, so that Ctrl-C or ``kill -9`` loses at most the
last few seconds of walking and never a catalogued improvement.

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

Walks are plain (``search/flipgraph``) or symmetric (``symmetric``: square formats,
Z2, orbit-wise moves); a :class:`SearchSpace` hides the difference.
"""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
import queue
import signal
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from tensorgame.errors import TensorGameError
from tensorgame.fileio import atomic_write, read_text
from tensorgame.formats import write_scheme
from tensorgame.formats.json_format import scheme_from_json, scheme_to_json
from tensorgame.search.flipgraph import _SEARCH_PLATEAU, _Walker, checked_pack, unpack
from tensorgame.search.flipgraph.local import descend
from tensorgame.search.flipgraph.packing import RESULT_RING, PackedScheme, search_ring
from tensorgame.search.flipgraph.symmetric import (
    OrbitScheme,
    SymmetricWalker,
    is_cyclic_symmetric,
    orbit_unpack,
    symmetric_start,
)
from tensorgame.search.lifting import hensel_lift
from tensorgame.tensors.canonical import canonical_hash
from tensorgame.tensors.rings import Z
from tensorgame.tensors.scheme import Scheme
from tensorgame.tensors.targets import Target, target_from_json

if TYPE_CHECKING:
    from tensorgame.catalog import Catalog

Payload = Union[PackedScheme, OrbitScheme]
Walker = Union[_Walker, SymmetricWalker]

STRATEGIES = ("runners", "pool")
#: Plateau limit of the symmetric walk (a flip there moves three terms at once).
_SYMMETRIC_PLATEAU = 1_000
#: Shortest paths (attempts): symmetric attempts often draw a pair that is no move
#: (two virtual terms of one orbit), and on <4,4,4> paths from 2^20 reached 50 in
#: 100 s where 2^15 stayed at 52 after 150 s.
_PATH_MIN = 1 << 15
_SYMMETRIC_PATH_MIN = 1 << 20
#: Path of a steady runner: one long walk at the base plateau, restarted only after
#: this many attempts without an improvement.
_STEADY_PATH = 10_000_000
#: Steady runners restart from the run's start scheme (a fresh descent) until
#: _FRESH_MISSES descents in a row end more than _FRESH_SLACK ranks above the best;
#: then they turn adaptive. Where a descent ends varies: of 105 descents of 4 s from
#: the naive <4,4,4> over Z2, 3 ended at 47 and most at 49-52 (3% above 52), while
#: walks continued from a 49 never went below it (2 core-hours). On wide formats
#: (<4,5,5>) descents end far above what adaptive runners reach.
_FRESH_SLACK = 3
_FRESH_MISSES = 2
#: Largest Jacobian (entries) the lifter builds: it is a dense int64 matrix.
MAX_LIFT_ENTRIES = 60_000_000
_STATE_FILE = "state.json"
_STATE_FORMAT = "tensorgame-flip-run"
_HISTORY = 10
#: Flip attempts per compiled call of the sprint (a few milliseconds on <3,3,3>).
_SPRINT_CHUNK = 1 << 14
#: Attempts per compiled call inside a pool task (the stop flag is polled between).
_TASK_CHUNK = 1 << 18
#: Most of a runner's time that local descents may take: without a cap they crowd out
#: the global walks (<4,4,4> stayed at 53 for 20 s instead of reaching 49 in 1-7 s).
_LOCAL_SHARE = 0.25


# --- search space: plain or symmetric walks ---------------------------------------------------
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

    def walker(self, payload: Payload, seed: int, capacity: int) -> Walker:
        """A walker starting at ``payload`` able to hold schemes up to rank ``capacity``."""
        if self.symmetric:
            return SymmetricWalker(payload, self.target, self.plus_diff, seed, self.split,
                                   capacity=capacity)
        return _Walker(payload, self.target, self.plus_diff, seed, self.split, capacity=capacity)

    def encode(self, payload: Payload) -> dict[str, Any]:
        """Compact JSON form of a payload (bit masks as integers) for checkpoints."""
        if self.symmetric:
            return {"nz": payload.nz.tolist(), "fixed": payload.fixed.tolist()}
        return {"nz": payload.nz.tolist(), "sg": payload.sg.tolist(), "sc": payload.sc.tolist()}

    def decode(self, doc: dict[str, Any]) -> Payload:
        """Inverse of :meth:`encode`; the scheme is re-verified (a checkpoint is input)."""
        try:
            nz = np.asarray(doc["nz"], dtype=np.uint64).reshape(3, -1)
            if self.symmetric:
                payload: Payload = OrbitScheme(nz, np.asarray(doc["fixed"], dtype=bool))
            else:
                payload = PackedScheme(self.ring, nz, np.asarray(doc["sg"], dtype=np.uint64).reshape(3, -1),
                                       np.asarray(doc["sc"], dtype=np.int64))
            scheme = orbit_unpack(payload, self.target) if self.symmetric else unpack(payload, self.target)
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise TensorGameError(f"damaged checkpoint: unreadable scheme ({exc})") from None
        if not scheme.verify().ok:
            raise TensorGameError("damaged checkpoint: a stored scheme does not verify")
        return payload


# --- settings and results --------------------------------------------------------------------------
@dataclass(frozen=True)
class FlipSettings:
    """Knobs of a parallel search (defaults: see the module doc and docs of each)."""

    strategy: str = "runners"
    workers: int = 1
    time_s: float = 60.0
    seed: int = 0
    goal: int | None = None  # stop at this rank in the ring asked for (with ``lift``: over Z)
    lift: bool = False  # Hensel-lift Z2/Z3 improvements to Z (or Q)
    plateau: int | None = None  # default: per ring and mode (SearchSpace)
    runners_per_worker: int = 2
    round_flips: int = 1 << 20  # attempts per compiled call of a runner, at most
    path_min: int | None = None  # default: per mode (SearchSpace)
    path_max: int = 1 << 25
    pool_size: int = 20  # flip-cpd uses 200 on many cores; small pools move down sooner
    pool_attempts: int = 1_000
    checkpoint_s: float = 5.0
    local_tries: int = 8  # runners: local descents (search/flipgraph/local) per restart; 0 = off
    sprint_s: float = 0.3  # an in-process walk before the workers start (see FlipRun._sprint)

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise TensorGameError(f"unknown strategy {self.strategy!r}: use {' or '.join(STRATEGIES)}")
        if self.workers < 1:
            raise TensorGameError(f"--workers must be at least 1, got {self.workers}")
        if not self.time_s > 0 or not math.isfinite(self.time_s):
            raise TensorGameError(f"the time budget must be a positive number of seconds, got {self.time_s}")
        if not 0 <= self.sprint_s < math.inf:
            raise TensorGameError(f"the sprint must last 0 or more seconds, got {self.sprint_s}")


@dataclass
class Progress:
    """A snapshot for live displays."""

    elapsed_s: float
    time_s: float
    best_rank: int
    best_ring: str
    lifted_rank: int | None
    lifted_ring: str | None
    flips: int
    flips_per_s: float
    histogram: dict[int, int]
    histogram_label: str
    level: int | None
    path_limit: int | None
    lifts_tried: int
    lifts_ok: int
    lift_note: str | None
    improvements: list[dict[str, Any]]


@dataclass
class FlipOutcome:
    """What a run produced; ``best`` holds in ``best.ring`` (the search ring's), and
    ``lifted`` (if any) is the best scheme found that holds over Z or Q."""

    target: Target
    search_ring: str
    strategy: str
    symmetric: bool
    best: Scheme
    best_catalog_id: int | None
    lifted: Scheme | None
    lifted_catalog_id: int | None
    elapsed_s: float
    total_elapsed_s: float
    flips: int  # this session's
    total_flips: int  # every session's
    stopped: str
    run_dir: Path
    resumed: bool
    lift_note: str | None = None
    improvements: list[dict[str, Any]] = field(default_factory=list)

    @property
    def flips_per_s(self) -> float:
        return self.flips / self.elapsed_s if self.elapsed_s > 0 else 0.0


# --- workers -----------------------------------------------------------------------------------
class _Orphaned(Exception):
    """The coordinator died (e.g. kill -9): a worker must not walk on forever."""


def _drain(inbox: Any) -> list[tuple]:
    got = []
    while True:
        try:
            got.append(inbox.get_nowait())
        except queue.Empty:
            return got


class _WorkerContext:
    """A worker's connections and counters; every report carries the cumulative
    flips and attempts so the coordinator can sum them."""

    def __init__(self, wid: int, inbox: Any, outbox: Any, stop: Any) -> None:
        self.wid, self.inbox, self.outbox, self.stop = wid, inbox, outbox, stop
        self.parent = os.getppid()
        self.walkers: list[Walker] = []
        self.ranks: list[int] = []
        self.last_stats = time.monotonic()

    def counters(self) -> tuple[int, int]:
        return sum(w.flips for w in self.walkers), sum(w.attempts for w in self.walkers)

    def alive(self) -> bool:
        if os.getppid() != self.parent:
            raise _Orphaned
        return not self.stop.is_set()

    def send(self, kind: str, *body: Any) -> None:
        self.outbox.put((kind, self.wid, *self.counters(), *body))

    def maybe_stats(self, ranks: list[int]) -> None:
        self.ranks = ranks
        now = time.monotonic()
        if now - self.last_stats >= 0.5:
            self.last_stats = now
            self.send("stats", ranks)


def worker_main(space: SearchSpace, wid: int, seed: int, inbox: Any, outbox: Any, stop: Any) -> None:
    """Entry point of a worker process: wait for its orders, then walk until stopped."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's business
    ctx = _WorkerContext(wid, inbox, outbox, stop)
    try:
        while ctx.alive():
            try:
                msg = inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            if msg[0] == "runners":
                _run_runners(space, ctx, seed, *msg[1:])
            elif msg[0] == "task":
                _run_task(space, ctx, seed, *msg[1:])
        ctx.send("stats", ctx.ranks)  # the final counters
    except _Orphaned:
        return


@dataclass
class _Runner:
    walker: Walker
    plateau: int
    path: int
    steady: bool = False  # a long-path runner with a fixed plateau (see the module doc)
    stale: int = 0
    fresh: bool = False  # the current path started from the run's start scheme
    misses: int = 0  # fresh descents in a row that ended far above the best


def _next_plateau(plateau: int, base: int) -> int:
    """The adaptive plateau: ×4 after a stall, back to the base value past 64×."""
    return plateau * 4 if plateau * 4 <= base * 64 else base


def _run_runners(space: SearchSpace, ctx: _WorkerContext, seed: int, starts: list[Payload], origin: Payload,
                 history: list[Payload], capacity: int, settings: FlipSettings, goal: int) -> None:
    """Copy-best runners (see the module doc) until stopped or ``goal`` is reached;
    ``origin`` is the run's start scheme, ``settings`` has its defaults resolved
    (plateau, path_min)."""
    rng = np.random.default_rng([seed, ctx.wid])
    plateau = settings.plateau
    runners = [
        _Runner(space.walker(p, int(rng.integers(2**63)), capacity), plateau,
                _STEADY_PATH if k % 2 else settings.path_min, steady=k % 2 == 1)
        for k, p in enumerate(starts)
    ]
    for r in runners:
        if r.steady:
            r.walker.split = False  # plus transitions only: splits slowed these descents
    ctx.walkers = [r.walker for r in runners]
    recent = deque(history, maxlen=_HISTORY)
    best = min(recent, key=lambda p: p.rank)
    began, local_s = time.perf_counter(), 0.0
    while ctx.alive():
        for msg in _drain(ctx.inbox):
            if msg[0] == "best" and msg[1].rank <= best.rank:
                best = msg[1]
                recent.append(best)
                for r in runners:  # (steady runners sample descents of their own)
                    if not r.steady and r.walker.best_rank > best.rank and rng.random() < 0.5:
                        r.walker.reset(best)
                        r.stale, r.path = 0, settings.path_min
        for r in runners:
            before = r.walker.best_rank
            step = min(settings.round_flips, r.path - r.stale)
            r.walker.run(step, r.plateau, goal)
            if r.walker.best_rank < before:
                r.stale = 0
                if not r.steady:
                    r.path = settings.path_min
                if r.walker.best_rank < best.rank:
                    best = r.walker.best()
                    recent.append(best)
                    ctx.send("improved", best)
                elif settings.lift and r.walker.best_rank == best.rank:
                    ctx.send("improved", r.walker.best())  # another candidate for the lifter
            else:
                r.stale += step
                if r.stale >= r.path:
                    if r.fresh:
                        r.misses = 0 if r.walker.best_rank <= best.rank + _FRESH_SLACK else r.misses + 1
                        if r.misses >= _FRESH_MISSES:  # descents no longer pay: follow the best
                            r.steady, r.walker.split, r.path = False, space.split, settings.path_min
                    r.fresh = r.steady
                    if r.fresh:
                        start = origin
                    elif rng.random() < 0.5:
                        start = best
                    else:
                        start = recent[int(rng.integers(len(recent)))]
                    local_due = local_s <= _LOCAL_SHARE * (time.perf_counter() - began)
                    if settings.local_tries and not space.symmetric and not r.fresh and local_due:
                        t = time.perf_counter()
                        start = _local_phase(space, start, rng, settings.local_tries)
                        local_s += time.perf_counter() - t
                        if start.rank < best.rank:
                            best = start
                            recent.append(best)
                            ctx.send("improved", best)
                    r.walker.reset(start)
                    if not r.steady:
                        r.plateau = _next_plateau(r.plateau, plateau)
                        r.path = min(2 * r.path, settings.path_max)
                    r.stale = 0
            if best.rank <= goal or not ctx.alive():
                break
        ctx.maybe_stats([r.walker.rank for r in runners])
        if best.rank <= goal:
            return


def _local_phase(space: SearchSpace, start: Payload, rng: np.random.Generator, tries: int) -> Payload:
    """Local descents (module ``local``) on a restart scheme: the cheap way down from
    sparse schemes whose global walks diffuse before they reduce."""
    scheme = unpack(start, space.target)
    better = descend(scheme, space.ring, rng, tries)
    return start if better.rank >= scheme.rank else space.payload(better)


def _run_task(space: SearchSpace, ctx: _WorkerContext, seed: int, task: int, start: Payload,
              capacity: int, path_limit: int, plateau: int, goal: int) -> None:
    """One pool task: walk ``start`` until its rank drops to ``goal`` or the path
    limit is spent; report the success (or failure) to the coordinator."""
    task_seed = int(np.random.default_rng([seed, ctx.wid, task]).integers(2**63))
    if not ctx.walkers:
        ctx.walkers = [space.walker(start, task_seed, capacity)]
    walker = ctx.walkers[0]
    walker.reset(start)
    walker.rng[0] = np.uint64(task_seed)
    spent = 0
    while spent < path_limit and walker.best_rank > goal and ctx.alive():
        step = min(_TASK_CHUNK, path_limit - spent)
        walker.run(step, plateau, goal)
        spent += step
        ctx.maybe_stats([walker.rank])
    ctx.send("done", task, walker.best() if walker.best_rank <= goal else None)


# --- lifting (in its own process: it is memory- and CPU-heavy) ------------------------------------
def _lift_key(scheme: Scheme) -> tuple[int, bool]:
    """Order of lifted schemes: lower rank first, then Z before Q."""
    return scheme.rank, scheme.ring != Z


def lift_size(scheme: Scheme) -> int:
    """Entries of the Jacobian Hensel lifting builds for this scheme."""
    ni, nj, nk = scheme.target.dims
    return ni * nj * nk * scheme.rank * (ni + nj + nk)


def lift_job(scheme: Scheme) -> tuple[Scheme | None, str]:
    """Hensel-lift a mod-p scheme; (lifted scheme over Z or Q, or None, reason)."""
    result = hensel_lift(scheme)
    return result.scheme, result.reason


class _InlineLifts:
    """Lifting done at once in this process, for the sprint (no process started yet)."""

    def submit(self, job: Callable[[Scheme], tuple[Scheme | None, str]], scheme: Scheme) -> Future:
        done: Future = Future()
        done.set_result(job(scheme))
        return done

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        """Nothing runs in the background."""


# --- the coordinator ---------------------------------------------------------------------------------
class FlipRun:
    """One parallel search session (fresh or resumed); call :meth:`run` once."""

    def __init__(
        self,
        space: SearchSpace,
        settings: FlipSettings,
        start: Scheme,
        *,
        run_dir: Path,
        catalog: Catalog | None = None,
        out: Path | None = None,
        resume: bool = False,
        on_progress: Callable[[Progress], None] | None = None,
        source: str | None = None,
    ) -> None:
        settings = replace(settings, plateau=settings.plateau or space.default_plateau,
                           path_min=settings.path_min or space.default_path_min)
        self.space, self.settings = space, settings
        self.catalog, self.out, self.on_progress = catalog, out, on_progress
        self.run_dir = Path(run_dir)
        self.source = source or (
            f"flip {settings.strategy} over {space.ring}" + (" (symmetric)" if space.symmetric else "")
        )
        self.resumed = resume
        self.session = 0
        self.elapsed_before = 0.0
        self.flips_before = 0
        self.improvements: list[dict[str, Any]] = []
        self.best_id: int | None = None
        # the best scheme valid over Z (or Q), tracked when that is what is asked for
        wants_z = settings.lift or space.result_ring == "Z"
        self.lifted: Scheme | None = start if wants_z and start.ring.name == "Z" else None
        self.lifted_id: int | None = None
        self.lift_seen: dict[int, Payload] = {}  # by id(); holding each keeps its id unique
        self.lift_note: str | None = None
        self.lifts_tried = self.lifts_ok = self.lift_rank = self.lift_turn = 0
        self.pools: dict[int, list[Payload]] = {}
        self.hashes: dict[int, set[str]] = {}
        self.level_attempts = 0
        self.path_limit = settings.path_min
        self.capacity = 0
        first = space.payload(start)
        self.origin = first  # where steady runners start their fresh descents
        self.best, self.best_scheme = first, space.scheme(first)
        self.history: deque[Payload] = deque([first], maxlen=_HISTORY)
        if resume:
            self._load_checkpoint()
        elif self._state_path().exists():
            raise TensorGameError(
                f"{self.run_dir} holds a saved run; continue it with --resume (resume=True) "
                "or choose another run directory (a run's state is never overwritten)"
            )
        self.capacity = max(self.capacity, self.best.rank, *(p.rank for p in self.history))
        self.level = self.best.rank
        self._pool_add(self.best)
        self.worker_counts: dict[int, tuple[int, int]] = {}
        self.sprint_flips = 0
        self.worker_ranks: dict[int, list[int]] = {}
        self.samples: deque[tuple[float, int]] = deque(maxlen=64)

    # --- bookkeeping ---------------------------------------------------------------------
    @property
    def flips(self) -> int:
        return self.flips_before + self.sprint_flips + sum(f for f, _ in self.worker_counts.values())

    def _elapsed(self) -> float:
        return time.monotonic() - self.t0

    def _pool_add(self, payload: Payload, scheme: Scheme | None = None) -> bool:
        digest = canonical_hash(scheme or self.space.scheme(payload))
        seen = self.hashes.setdefault(payload.rank, set())
        if digest in seen:
            return False
        seen.add(digest)
        self.pools.setdefault(payload.rank, []).append(payload)
        return True

    def _consider(self, payload: Payload) -> None:
        """A reported scheme: verified, pooled, and if it is a new best, recorded
        everywhere (catalogue first: it is the durable record)."""
        scheme = self.space.scheme(payload)
        if self.settings.strategy == "pool" or (self._lifting and payload.rank <= self.best.rank):
            self._pool_add(payload, scheme)  # (lifting: the lifter tries the pool's other members)
        if payload.rank >= self.best.rank:
            return
        self.best, self.best_scheme = payload, scheme
        self.history.append(payload)
        elapsed = self.elapsed_before + self._elapsed()
        if self.catalog is not None:
            self.best_id = self.catalog.add(scheme, method="flip", seed=self.settings.seed,
                                            source=self.source, elapsed_s=round(elapsed, 3)).id
        self.improvements.append({"rank": scheme.rank, "ring": str(scheme.ring),
                                  "elapsed_s": round(elapsed, 3), "catalog_id": self.best_id})
        if self.space.result_ring == "Z" or not self.settings.lift:
            self._write_out(scheme)
        if self.space.result_ring == "Z":
            self.lifted, self.lifted_id = scheme, self.best_id
        if self.settings.strategy == "runners":
            for inbox in self.inboxes:
                inbox.put(("best", payload))
        self._checkpoint()

    def _write_out(self, scheme: Scheme) -> None:
        if self.out is not None:
            write_scheme(scheme, self.out, method="flip", seed=self.settings.seed, source=self.source)

    # --- lifting -----------------------------------------------------------------------------
    def _lift_next(self) -> None:
        """Start lifting an untried pooled scheme that would improve the best lifted
        one (lower rank, or the same rank over Z instead of Q). Not every mod-2 scheme
        lifts (<4,4,4> at 47 never does), and the deeper a descent went the less
        likely its schemes lift, so turns alternate between the lowest-rank candidate
        and the median one (a bisection: lifting the lowest alone starved <4,5,5>)."""
        if self.lift_future is not None or self.lift_pool is None:
            return
        ceiling = math.inf if self.lifted is None else self.lifted.rank + (self.lifted.ring != Z)
        candidates = [p for r in sorted(self.pools) if r < ceiling for p in self.pools[r]
                      if id(p) not in self.lift_seen]
        if self.lift_turn % 2:
            candidates = candidates[len(candidates) // 2:]
        for payload in candidates:
            self.lift_seen[id(payload)] = payload
            scheme = self.space.scheme(payload)
            size = lift_size(scheme)
            if size > MAX_LIFT_ENTRIES:
                self.lift_note = f"rank {scheme.rank} not lifted: its Jacobian ({size:,} entries) is too large here"
                continue
            self.lifts_tried += 1
            self.lift_turn += 1
            self.lift_rank = scheme.rank
            self.lift_future = self.lift_pool.submit(lift_job, scheme)
            return

    def _lift_poll(self, wait: bool = False) -> None:
        future: Future | None = self.lift_future
        if future is None or (not wait and not future.done()):
            return
        self.lift_future = None
        lifted, reason = future.result()
        if lifted is None:
            self.lift_note = f"a rank-{self.lift_rank} scheme did not lift: {reason}"
        if lifted is not None and (self.lifted is None or _lift_key(lifted) < _lift_key(self.lifted)):
            self.lifts_ok += 1
            self.lifted = lifted
            if self.catalog is not None:
                self.lifted_id = self.catalog.add(
                    lifted, method="flip", seed=self.settings.seed,
                    source=f"{self.source}, Hensel-lifted to {lifted.ring}",
                    elapsed_s=round(self.elapsed_before + self._elapsed(), 3),
                ).id
            self.improvements.append({"rank": lifted.rank, "ring": str(lifted.ring),
                                      "elapsed_s": round(self.elapsed_before + self._elapsed(), 3),
                                      "catalog_id": self.lifted_id, "lifted": True})
            self._write_out(lifted)

    # --- checkpoints --------------------------------------------------------------------------
    def _state_path(self) -> Path:
        return self.run_dir / _STATE_FILE

    def _checkpoint(self) -> None:
        enc = self.space.encode
        levels = {str(r): [enc(p) for p in self.pools.get(r, [])[: self.settings.pool_size]]
                  for r in sorted(self.pools) if r <= self.level}
        doc = {
            "format": _STATE_FORMAT, "version": 1,
            "target": self.space.target.to_json(), "ring": self.space.ring,
            "symmetric": self.space.symmetric, "strategy": self.settings.strategy,
            "seed": self.settings.seed, "session": self.session,
            "elapsed_s": self.elapsed_before + self._elapsed(), "flips": self.flips,
            "capacity": self.capacity,
            "best": scheme_to_json(self.best_scheme), "best_catalog_id": self.best_id,
            "lifted": None if self.lifted is None else scheme_to_json(self.lifted),
            "lifted_catalog_id": self.lifted_id,
            "history": [enc(p) for p in self.history],
            "pool": {"level": self.level, "path_limit": self.path_limit,
                     "attempts": self.level_attempts, "levels": levels},
            "improvements": self.improvements,
        }
        self.run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(self._state_path(), json.dumps(doc).encode())
        self.last_checkpoint = time.monotonic()

    def _load_checkpoint(self) -> None:
        path = self._state_path()
        if not path.exists():
            raise TensorGameError(f"no run to resume in {self.run_dir} (start one without --resume)")
        try:
            doc = json.loads(read_text(path))
            if doc.get("format") != _STATE_FORMAT:
                raise ValueError("not a flip run state")
            target = target_from_json(doc["target"])
        except (ValueError, KeyError, TypeError) as exc:
            raise TensorGameError(f"{path}: damaged run state ({exc})") from None
        space = self.space
        if (target.key, doc["ring"], doc["symmetric"]) != (space.target.key, space.ring, space.symmetric):
            sym = " symmetric" if doc["symmetric"] else ""
            raise TensorGameError(
                f"{self.run_dir} holds a{sym} {doc['ring']} run for {target.name}, not this one; "
                "use another --run-dir or drop --resume"
            )
        self.session = int(doc["session"]) + 1
        self.elapsed_before, self.flips_before = float(doc["elapsed_s"]), int(doc["flips"])
        self.capacity = int(doc.get("capacity", 0))
        self.history = deque((space.decode(d) for d in doc["history"]), maxlen=_HISTORY)
        self.best = min(self.history, key=lambda p: p.rank)
        self.best_scheme, self.best_id = space.scheme(self.best), doc.get("best_catalog_id")
        if doc.get("lifted") is not None:
            lifted = scheme_from_json(doc["lifted"])
            if lifted.verify().ok:
                self.lifted, self.lifted_id = lifted, doc.get("lifted_catalog_id")
        self.improvements = list(doc.get("improvements", []))
        pool = doc.get("pool", {})
        self.path_limit = int(pool.get("path_limit", self.path_limit))
        if self.settings.strategy == "pool" and doc["strategy"] == "pool":
            for r, payloads in pool.get("levels", {}).items():
                for d in payloads:
                    self._pool_add(space.decode(d))
            self.level_attempts = int(pool.get("attempts", 0))
        self._adopt_catalog_best()

    def _adopt_catalog_best(self) -> None:
        """A kill between a catalogue write and the next checkpoint leaves the
        catalogue ahead of the checkpoint: continue from this search's best stored
        improvement then (other methods' schemes are not adopted unasked)."""
        if self.catalog is None:
            return
        stored = self.catalog.list(target_key=self.space.target.key, ring=self.space.result_ring, method="flip")
        entry = next((e for e in stored if e.source == self.source), None)
        if entry is None or entry.rank >= self.best.rank:
            return
        try:
            payload = self.space.payload(entry.scheme)
        except TensorGameError:
            return  # e.g. not symmetric: not a start for this space
        self.best, self.best_scheme, self.best_id = payload, entry.scheme, entry.id
        self.history.append(payload)

    # --- the session ---------------------------------------------------------------------------
    def _progress(self) -> Progress:
        now = self._elapsed()
        self.samples.append((now, self.flips))
        t_old, f_old = self.samples[0]
        rate = (self.flips - f_old) / (now - t_old) if now - t_old > 0.2 else 0.0
        if self.settings.strategy == "pool":
            hist, label = {r: len(p) for r, p in self.pools.items() if r <= self.level + 1}, "pool sizes"
        else:
            ranks = [r for rs in self.worker_ranks.values() for r in rs]
            hist, label = {r: ranks.count(r) for r in sorted(set(ranks))}, "runner ranks"
        pool = self.settings.strategy == "pool"
        return Progress(
            elapsed_s=self.elapsed_before + now, time_s=self.elapsed_before + self.settings.time_s,
            best_rank=self.best.rank, best_ring=self.space.result_ring,
            lifted_rank=None if self.lifted is None else self.lifted.rank,
            lifted_ring=None if self.lifted is None else str(self.lifted.ring),
            flips=self.flips, flips_per_s=rate, histogram=hist, histogram_label=label,
            level=self.level if pool else None, path_limit=self.path_limit if pool else None,
            lifts_tried=self.lifts_tried, lifts_ok=self.lifts_ok, lift_note=self.lift_note,
            improvements=self.improvements,
        )

    @property
    def _lifting(self) -> bool:
        """Whether results are wanted over Z but the walks run mod p."""
        return self.settings.lift and self.space.result_ring != "Z"

    def _goal_reached(self) -> bool:
        """The goal is a rank in the ring asked for: lifted schemes when lifting."""
        goal = self.settings.goal
        if goal is None:
            return False
        if self._lifting:
            return self.lifted is not None and self.lifted.ring == Z and self.lifted.rank <= goal
        return self.best.rank <= goal

    def _sprint(self) -> None:
        """Walk in this process for ``sprint_s`` before any worker starts (lifting, if
        asked, inline): small formats reach their goal here in a fraction of a second,
        long before spawned workers would have imported the package and loaded the
        compiled kernels; a longer search loses at most that fraction of a second."""
        s = self.settings
        budget = min(s.sprint_s, s.time_s)
        if budget <= 0:
            return
        if self._lifting:
            self.lift_pool = _InlineLifts()
        goal = s.goal if s.goal is not None and not self._lifting else 0
        seed = int(np.random.default_rng([s.seed, self.session, 2]).integers(2**62))
        walker = self.space.walker(self.best, seed, max(self.capacity, self.best.rank))
        deadline = math.inf  # counted from the first chunk's end: loading the kernels is not walking
        while time.monotonic() < deadline and not self._goal_reached():
            walker.run(_SPRINT_CHUNK, s.plateau, goal)
            deadline = min(deadline, time.monotonic() + budget)
            self.sprint_flips = walker.flips
            if walker.best_rank < self.best.rank:
                self._consider(walker.best())
            self._lift_next()
            self._lift_poll()
        self.lift_pool = None

    def _start_workers(self) -> None:
        ctx = mp.get_context("spawn")
        self.stop = ctx.Event()
        self.outbox = ctx.Queue()
        self.inboxes = [ctx.Queue() for _ in range(self.settings.workers)]
        base = int(np.random.default_rng([self.settings.seed, self.session]).integers(2**62))
        self.procs = [
            ctx.Process(target=worker_main, args=(self.space, w, base + w, self.inboxes[w], self.outbox, self.stop),
                        daemon=True, name=f"tensorgame-flip-{w}")
            for w in range(self.settings.workers)
        ]
        for p in self.procs:
            p.start()
        self.idle = set(range(self.settings.workers))
        self.tasks = 0
        if self.settings.lift and self.space.result_ring != "Z":
            self.lift_pool = ProcessPoolExecutor(max_workers=1, mp_context=ctx)

    def _launch_runners(self) -> None:
        s = self.settings
        # when lifting, walks go on past the goal: a mod-p scheme of that rank may not lift
        goal = s.goal if s.goal is not None and not self._lifting else 0
        starts = [self.best] * s.runners_per_worker
        for inbox in self.inboxes:
            inbox.put(("runners", starts, self.origin, list(self.history), self.capacity, s, goal))

    def _dispatch(self) -> None:
        """Pool strategy: move down a level when due, and give idle workers a task."""
        s = self.settings
        below = [r for r, p in self.pools.items() if r < self.level and p]
        # (symmetric moves drop the rank by 1, 2 or 3: count every level below)
        if below and (sum(len(self.pools[r]) for r in below) >= s.pool_size
                      or self.level_attempts >= s.pool_attempts):
            self.level = max(below)
            self.level_attempts = 0
        elif self.level_attempts >= s.pool_attempts:
            self.path_limit = min(2 * self.path_limit, s.path_max)  # the level stalls
            self.level_attempts = 0
        pool = self.pools[self.level]
        for w in sorted(self.idle):
            start = pool[int(self.rng.integers(len(pool)))]
            self.tasks += 1
            self.inboxes[w].put(("task", self.tasks, start, self.capacity, self.path_limit,
                                 s.plateau, self.level - 1))
        self.idle.clear()

    def _handle(self, msg: tuple) -> None:
        kind, wid, flips, attempts, *body = msg
        self.worker_counts[wid] = (flips, attempts)
        if kind == "stats":
            self.worker_ranks[wid] = body[0]
        elif kind == "improved":
            self._consider(body[0])
        elif kind == "done":
            self.idle.add(wid)
            self.level_attempts += 1
            if body[1] is not None:
                self._consider(body[1])

    def run(self) -> FlipOutcome:
        """Search until the time budget, the goal or Ctrl-C (re-raised after the
        final checkpoint; the outcome is then in :attr:`outcome`)."""
        self.t0 = time.monotonic()
        self.rng = np.random.default_rng([self.settings.seed, self.session, 1])
        self.inboxes: list[Any] = []
        self.procs: list[Any] = []
        self.lift_pool: Any = None
        self.lift_future: Future | None = None
        stopped = "time"
        self._checkpoint()
        try:
            self._sprint()
            if not self._goal_reached() and self._elapsed() < self.settings.time_s:
                self._start_workers()
                if self.settings.strategy == "runners":
                    self._launch_runners()
            last_report = 0.0
            while self._elapsed() < self.settings.time_s and not self._goal_reached():
                if self.settings.strategy == "pool" and self.idle:
                    self._dispatch()
                try:
                    self._handle(self.outbox.get(timeout=0.1))
                    for msg in _drain(self.outbox):
                        self._handle(msg)
                except queue.Empty:
                    pass
                if not any(p.is_alive() for p in self.procs):
                    raise RuntimeError("every flip-graph worker process died")
                self._lift_poll()
                self._lift_next()
                if time.monotonic() - self.last_checkpoint >= self.settings.checkpoint_s:
                    self._checkpoint()
                if self.on_progress is not None and self._elapsed() - last_report >= 0.25:
                    last_report = self._elapsed()
                    self.on_progress(self._progress())
            if self._goal_reached():
                stopped = "goal"
        except KeyboardInterrupt:
            stopped = "interrupted"
            raise
        finally:
            self._shutdown(stopped)
        return self.outcome

    def _shutdown(self, stopped: str) -> None:
        """Stop the workers, take their last reports, finish the lifting of the final
        best, checkpoint, and record the outcome."""
        inboxes, self.inboxes = self.inboxes, []  # nothing more to broadcast
        if self.procs:  # (none when the sprint reached the goal)
            self.stop.set()
            deadline = time.monotonic() + 5
            # read while the workers finish: a worker exits only once its reports are
            # flushed, and improvements found in the last moments count
            while any(p.is_alive() for p in self.procs) and time.monotonic() < deadline:
                try:
                    self._handle(self.outbox.get(timeout=0.05))
                except queue.Empty:
                    pass
            for msg in _drain(self.outbox):
                self._handle(msg)
        for p in self.procs:
            if p.is_alive():
                p.terminate()
                p.join(timeout=1)
        for q in inboxes:
            q.cancel_join_thread()  # unread orders must not block the exit
        if self.lift_pool is not None:
            if stopped != "interrupted":
                self._lift_poll(wait=True)
                self._lift_next()
                self._lift_poll(wait=True)
            self.lift_pool.shutdown(wait=stopped != "interrupted", cancel_futures=True)
        elapsed = self._elapsed()
        final = self.lifted if self._lifting else self.best_scheme
        if final is not None:
            self._write_out(final)
        self._checkpoint()
        if self.on_progress is not None:
            self.on_progress(self._progress())
        self.outcome = FlipOutcome(
            target=self.space.target, search_ring=self.space.ring, strategy=self.settings.strategy,
            symmetric=self.space.symmetric, best=self.best_scheme, best_catalog_id=self.best_id,
            lifted=self.lifted, lifted_catalog_id=self.lifted_id, elapsed_s=elapsed,
            total_elapsed_s=self.elapsed_before + elapsed, flips=self.flips - self.flips_before,
            total_flips=self.flips, stopped=stopped,
            run_dir=self.run_dir, resumed=self.resumed, lift_note=self.lift_note,
            improvements=self.improvements,
        )


def run_flip(
    space: SearchSpace,
    settings: FlipSettings,
    start: Scheme,
    *,
    run_dir: Path,
    catalog: Catalog | None = None,
    out: Path | None = None,
    resume: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
) -> FlipOutcome:
    """Run a parallel flip-graph search (see :class:`FlipRun`)."""
    return FlipRun(space, settings, start, run_dir=run_dir, catalog=catalog, out=out, resume=resume,
                   on_progress=on_progress).run()
