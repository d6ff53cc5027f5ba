"""The coordinator: one search session (fresh or resumed) over any transport.

It walks alone first (the sprint), then starts the workers, hands out orders,
verifies every reported scheme exactly, records improvements through the sink as they
happen, schedules lifts and checkpoints, so that Ctrl-C or ``kill -9`` loses at most
the last few seconds of walking and never a catalogued improvement.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tensorgame.errors import TensorGameError
from tensorgame.search.flipgraph.drivers.checkpoint import RunState
from tensorgame.search.flipgraph.drivers.lifting import InlineLifts, Lifter
from tensorgame.search.flipgraph.drivers.messages import (
    Improved,
    NewBest,
    Report,
    RunRunners,
    RunTask,
    Stats,
    TaskDone,
)
from tensorgame.search.flipgraph.drivers.settings import HISTORY, FlipSettings
from tensorgame.search.flipgraph.drivers.sink import RunSink
from tensorgame.search.flipgraph.drivers.space import Payload, SearchSpace
from tensorgame.search.flipgraph.drivers.transport import (
    STOP_GRACE_S,
    ProcessTransport,
    Transport,
)
from tensorgame.tensors.canonical import canonical_hash
from tensorgame.tensors.rings import Z
from tensorgame.tensors.scheme import Scheme
from tensorgame.tensors.targets import Target

if TYPE_CHECKING:
    from tensorgame.catalog import Catalog

#: Flip attempts per compiled call of the sprint (a few milliseconds on <3,3,3>).
_SPRINT_CHUNK = 1 << 14


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
    workers_lost: int = 0


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
    workers: int = 1
    workers_lost: int = 0

    @property
    def flips_per_s(self) -> float:
        return self.flips / self.elapsed_s if self.elapsed_s > 0 else 0.0


class FlipRun:
    """One parallel search session (fresh or resumed); call :meth:`run` once.
    ``transport`` carries the workers (default: local processes);
    ``start_provenance`` (e.g. an agent's games) is appended to the catalogue source of
    every scheme the run stores."""

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
        start_provenance: str | None = None,
        transport: Transport | None = None,
    ) -> None:
        settings = replace(settings, plateau=settings.plateau or space.default_plateau,
                           path_min=settings.path_min or space.default_path_min)
        assert settings.path_min is not None
        self.space, self.settings, self.on_progress = space, settings, on_progress
        self.run_dir = Path(run_dir)
        self.start_provenance = start_provenance
        self.source = (f"flip {settings.strategy} over {space.ring}" + (" (symmetric)" if space.symmetric else "")
                       + (f" from {start_provenance}" if start_provenance else ""))
        self.sink = RunSink(space, self.run_dir, catalog=catalog, out=out, source=self.source, seed=settings.seed)
        self.transport: Transport = transport or ProcessTransport()
        self.started = False  # whether the transport's workers were started
        self.resumed = resume
        self.session = 0
        self.elapsed_before = 0.0
        self.flips_before = 0
        self.best_id: int | None = None
        # the best scheme valid over Z (or Q), tracked when that is what is asked for
        wants_z = settings.lift or space.result_ring == "Z"
        self.lifted: Scheme | None = start if wants_z and start.ring.name == "Z" else None
        self.lifted_id: int | None = None
        self.lifter = Lifter(space)
        self.pools: dict[int, list[Payload]] = {}
        self.hashes: dict[int, set[str]] = {}
        self.level_attempts = 0
        self.path_limit = settings.path_min
        self.capacity = 0
        first = space.payload(start)
        self.origin = first  # where steady runners start their fresh descents
        self.best, self.best_scheme = first, space.scheme(first)
        self.history: deque[Payload] = deque([first], maxlen=HISTORY)
        if resume:
            self._resume(self.sink.load())
        elif self.sink.has_state():
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
        self.lost: set[int] = set()
        self.samples: deque[tuple[float, int]] = deque(maxlen=64)

    # --- bookkeeping ---------------------------------------------------------------------
    @property
    def improvements(self) -> list[dict[str, Any]]:
        return self.sink.improvements

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
        (by the sink) and broadcast."""
        scheme = self.space.scheme(payload)
        if self.settings.strategy == "pool" or (self._lifting and payload.rank <= self.best.rank):
            self._pool_add(payload, scheme)  # (lifting: the lifter tries the pool's other members)
        if payload.rank >= self.best.rank:
            return
        self.best, self.best_scheme = payload, scheme
        self.history.append(payload)
        self.best_id = self.sink.improvement(scheme, self.elapsed_before + self._elapsed(),
                                             write_out=self.space.result_ring == "Z" or not self.settings.lift)
        if self.space.result_ring == "Z":
            self.lifted, self.lifted_id = scheme, self.best_id
        if self.settings.runs_runners and self.started:
            for w in self._live_workers():
                self.transport.send(w, NewBest(payload))
        self._checkpoint()

    def _live_workers(self) -> list[int]:
        return [w for w in range(self.settings.workers) if w not in self.lost]

    # --- lifting -----------------------------------------------------------------------------
    def _lift_next(self) -> None:
        self.lifter.next(self.pools, self.lifted)

    def _lift_poll(self, wait: bool = False) -> None:
        """Record a finished lift that beats the lifted best."""
        got = self.lifter.poll(self.lifted, wait=wait)
        if got is not None:
            self.lifted = got
            self.lifted_id = self.sink.improvement(got, self.elapsed_before + self._elapsed(), lifted=True)

    # --- checkpoints --------------------------------------------------------------------------
    def _checkpoint(self) -> None:
        levels = {r: self.pools.get(r, [])[: self.settings.pool_size] for r in sorted(self.pools) if r <= self.level}
        self.sink.checkpoint(RunState(
            strategy=self.settings.strategy, seed=self.settings.seed, session=self.session,
            elapsed_s=self.elapsed_before + self._elapsed(), flips=self.flips, capacity=self.capacity,
            best=self.best_scheme, best_catalog_id=self.best_id,
            lifted=self.lifted, lifted_catalog_id=self.lifted_id, history=list(self.history),
            level=self.level, path_limit=self.path_limit, level_attempts=self.level_attempts, levels=levels,
            origin=self.origin, start_provenance=self.start_provenance,
        ))
        self.last_checkpoint = time.monotonic()

    def _resume(self, state: RunState) -> None:
        if state.origin is not None:
            self.origin = state.origin
        self.session = state.session + 1
        self.elapsed_before, self.flips_before = state.elapsed_s, state.flips
        self.capacity = state.capacity
        self.history = deque(state.history, maxlen=HISTORY)
        self.best = min(self.history, key=lambda p: p.rank)
        self.best_scheme, self.best_id = state.best, state.best_catalog_id
        if state.lifted is not None:
            self.lifted, self.lifted_id = state.lifted, state.lifted_catalog_id
        if state.path_limit is not None:
            self.path_limit = state.path_limit
        if self.settings.strategy == "pool" and state.strategy == "pool":
            for payloads in state.levels.values():
                for p in payloads:
                    self._pool_add(p)
            self.level_attempts = state.level_attempts
        self._adopt_catalog_best()

    def _adopt_catalog_best(self) -> None:
        """Continue from this search's best stored improvement when the catalogue is
        ahead of the checkpoint (see :meth:`RunSink.stored_best`)."""
        entry = self.sink.stored_best()
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
            lifts_tried=self.lifter.tried, lifts_ok=self.lifter.ok, lift_note=self.lifter.note,
            improvements=self.improvements, workers_lost=len(self.lost),
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
            self.lifter.executor = InlineLifts()
        goal = s.goal if s.goal is not None and not self._lifting else 0
        seed = int(np.random.default_rng([s.seed, self.session, 2]).integers(2**62))
        walker = self.space.walker(self.best, seed, max(self.capacity, self.best.rank))
        deadline = math.inf  # counted from the first chunk's end: loading the kernels is not walking
        while time.monotonic() < deadline and not self._goal_reached():
            walker.run(_SPRINT_CHUNK, s.plateau, goal)
            deadline = min(deadline, time.monotonic() + budget)
            self.sprint_flips = walker.flips
            if walker.best_rank < self.best.rank:
                if self._lifting and not self.space.can_lift(walker.best()):
                    walker.reset(self.best)  # (see worker._LIFTABLE)
                    continue
                self._consider(walker.best())
            self._lift_next()
            self._lift_poll()
        self.lifter.close(wait=True)

    def _start_workers(self) -> None:
        base = int(np.random.default_rng([self.settings.seed, self.session]).integers(2**62))
        self.transport.start(self.space, [base + w for w in range(self.settings.workers)])
        self.started = True
        self.idle = set(range(self.settings.workers))
        self.tasks = 0
        if self._lifting:
            self.lifter.executor = ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"))

    def _launch_runners(self) -> None:
        s = self.settings
        # when lifting, walks go on past the goal: a mod-p scheme of that rank may not lift
        goal = s.goal if s.goal is not None and not self._lifting else 0
        order = RunRunners([self.best] * s.runners_per_worker, self.origin, list(self.history), self.capacity,
                           s, goal)
        for w in range(s.workers):
            self.transport.send(w, order)

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
        assert s.plateau is not None
        for w in sorted(self.idle):
            start = pool[int(self.rng.integers(len(pool)))]
            self.tasks += 1
            self.transport.send(w, RunTask(self.tasks, start, self.capacity, self.path_limit, s.plateau,
                                           self.level - 1, self._lifting))
        self.idle.clear()

    def _handle(self, report: Report) -> None:
        if report.wid in self.lost:
            return  # a late word from a worker already written off
        self.worker_counts[report.wid] = (report.flips, report.attempts)
        if isinstance(report, Stats):
            self.worker_ranks[report.wid] = report.ranks
        elif isinstance(report, Improved):
            self._consider(report.payload)
        elif isinstance(report, TaskDone):
            self.idle.add(report.wid)
            self.level_attempts += 1
            if report.found is not None:
                self._consider(report.found)

    def _check_workers(self) -> None:
        """A lost worker costs only its own walks: its last counters stay counted, the
        others go on; a run with no worker left ends with an error."""
        lost = self.transport.lost() - self.lost
        if not lost:
            return
        self.lost |= lost
        self.idle -= lost
        self.worker_ranks = {w: r for w, r in self.worker_ranks.items() if w not in self.lost}
        if len(self.lost) >= self.settings.workers:
            raise RuntimeError("every flip-graph worker died")

    def run(self) -> FlipOutcome:
        """Search until the time budget, the goal or Ctrl-C (re-raised after the
        final checkpoint; the outcome is then in :attr:`outcome`)."""
        self.t0 = time.monotonic()
        self.rng = np.random.default_rng([self.settings.seed, self.session, 1])
        stopped = "time"
        self._checkpoint()
        try:
            self._sprint()
            if not self._goal_reached() and self._elapsed() < self.settings.time_s:
                self._start_workers()
                if self.settings.runs_runners:
                    self._launch_runners()
            last_report = 0.0
            while self._elapsed() < self.settings.time_s and not self._goal_reached():
                if self.settings.strategy == "pool" and self.idle:
                    self._dispatch()
                for report in self.transport.receive(timeout=0.1):
                    self._handle(report)
                self._check_workers()
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
        if self.started:  # (not when the sprint reached the goal)
            # at the goal nothing the workers' current rounds find can matter, and waiting
            # for those rounds to end (up to 2^20 attempts a runner) would delay the result
            grace = 0.0 if stopped == "goal" else STOP_GRACE_S
            for report in self.transport.stop(grace):
                self._handle(report)
        if self.lifter.executor is not None:
            if stopped != "interrupted":
                self._lift_poll(wait=True)
                self._lift_next()
                self._lift_poll(wait=True)
            self.lifter.close(wait=stopped != "interrupted")
        elapsed = self._elapsed()
        final = self.lifted if self._lifting else self.best_scheme
        if final is not None:
            self.sink.write_out(final)
        self._checkpoint()
        if self.on_progress is not None:
            self.on_progress(self._progress())
        self.outcome = FlipOutcome(
            target=self.space.target, search_ring=self.space.ring, strategy=self.settings.strategy,
            symmetric=self.space.symmetric, best=self.best_scheme, best_catalog_id=self.best_id,
            lifted=self.lifted, lifted_catalog_id=self.lifted_id, elapsed_s=elapsed,
            total_elapsed_s=self.elapsed_before + elapsed, flips=self.flips - self.flips_before,
            total_flips=self.flips, stopped=stopped,
            run_dir=self.run_dir, resumed=self.resumed, lift_note=self.lifter.note,
            improvements=self.improvements, workers=self.settings.workers, workers_lost=len(self.lost),
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
    transport: Transport | None = None,
) -> FlipOutcome:
    """Run a parallel flip-graph search (see :class:`FlipRun`)."""
    return FlipRun(space, settings, start, run_dir=run_dir, catalog=catalog, out=out, resume=resume,
                   on_progress=on_progress, transport=transport).run()
