"""A worker: walks as the coordinator orders, whatever transport carries the orders.

:func:`run_worker` is the whole of a worker's life; a :class:`Channel` is its only tie
to the coordinator (local processes: :class:`QueueChannel`; Ray actors: their own).
The two strategies' loops (see the package doc) are :func:`_run_runners` and
:func:`_run_task`.
"""

from __future__ import annotations

import os
import queue
import signal
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from tensorgame.search.flipgraph import unpack
from tensorgame.search.flipgraph.drivers.messages import (
    Improved,
    NewBest,
    Order,
    Report,
    RunRunners,
    RunTask,
    Stats,
    TaskDone,
)
from tensorgame.search.flipgraph.drivers.settings import HISTORY, FlipSettings
from tensorgame.search.flipgraph.drivers.space import Payload, SearchSpace, Walker
from tensorgame.search.flipgraph.local import descend

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
#: Attempts per compiled call inside a pool task (the stop flag is polled between).
_TASK_CHUNK = 1 << 18
#: Most of a runner's time that local descents may take: without a cap they crowd out
#: the global walks (<4,4,4> stayed at 53 for 20 s instead of reaching 49 in 1-7 s).
_LOCAL_SHARE = 0.25
#: Seconds between two Stats reports of a worker.
_STATS_S = 0.5
# _LIFTABLE: when lifting, a descent is kept only if its scheme can lift (one echelon
# form, milliseconds). Whether a mod-2 scheme lifts barely changes along a plateau: of
# 300 <3,4,5> schemes walked from a 48 that lifted all lifted, of 1,500 walked from a
# 47 that did not none did. So a walk that passes a scheme that cannot lift is lost
# to the Z result for good, however long it goes on.


class Orphaned(Exception):
    """The coordinator is gone (e.g. kill -9): a worker must not walk on forever."""


class Channel(Protocol):
    """A worker's tie to its coordinator."""

    def orders(self, timeout: float) -> list[Order]:
        """Orders that have arrived, waiting up to ``timeout`` s for the first one."""

    def send(self, report: Report) -> None:
        """Deliver a report (never blocks for long)."""

    def stopped(self) -> bool:
        """Whether the coordinator asked the worker to stop; raises :class:`Orphaned`
        when it is gone."""


def take_orders(inbox: Any, timeout: float) -> list[Order]:
    """Every order waiting in a queue (``multiprocessing`` or ``queue``), after waiting
    up to ``timeout`` seconds for the first."""
    got = []
    try:
        if timeout > 0:
            got.append(inbox.get(timeout=timeout))
        while True:
            got.append(inbox.get_nowait())
    except queue.Empty:
        return got


class QueueChannel:
    """Multiprocessing queues and a stop event; the parent process is the coordinator."""

    def __init__(self, inbox: Any, outbox: Any, stop: Any) -> None:
        self.inbox, self.outbox, self.stop = inbox, outbox, stop
        self.parent = os.getppid()

    def orders(self, timeout: float) -> list[Order]:
        return take_orders(self.inbox, timeout)

    def send(self, report: Report) -> None:
        self.outbox.put(report)

    def stopped(self) -> bool:
        if os.getppid() != self.parent:
            raise Orphaned
        return bool(self.stop.is_set())


class _WorkerContext:
    """A worker's channel, walkers and counters; every report carries the cumulative
    flips and attempts so the coordinator can sum them."""

    def __init__(self, wid: int, channel: Channel) -> None:
        self.wid, self.channel = wid, channel
        self.walkers: list[Walker] = []
        self.ranks: list[int] = []
        self.last_stats = time.monotonic()

    def counters(self) -> tuple[int, int]:
        return sum(w.flips for w in self.walkers), sum(w.attempts for w in self.walkers)

    def alive(self) -> bool:
        return not self.channel.stopped()

    def improved(self, payload: Payload) -> None:
        self.channel.send(Improved(self.wid, *self.counters(), payload))

    def done(self, task: int, found: Payload | None) -> None:
        self.channel.send(TaskDone(self.wid, *self.counters(), task, found))

    def stats(self) -> None:
        self.channel.send(Stats(self.wid, *self.counters(), self.ranks))

    def maybe_stats(self, ranks: list[int]) -> None:
        self.ranks = ranks
        now = time.monotonic()
        if now - self.last_stats >= _STATS_S:
            self.last_stats = now
            self.stats()


def run_worker(space: SearchSpace, wid: int, seed: int, channel: Channel) -> None:
    """A worker's life: wait for its orders, walk until stopped, send the final counters."""
    ctx = _WorkerContext(wid, channel)
    try:
        while ctx.alive():
            for order in channel.orders(timeout=0.2):
                if isinstance(order, RunRunners):
                    _run_runners(space, ctx, seed, order)
                elif isinstance(order, RunTask):
                    _run_task(space, ctx, seed, order)
        ctx.stats()  # the final counters
    except Orphaned:
        return


def worker_process(space: SearchSpace, wid: int, seed: int, inbox: Any, outbox: Any, stop: Any) -> None:
    """Entry point of a local worker process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's business
    run_worker(space, wid, seed, QueueChannel(inbox, outbox, stop))


@dataclass
class _Runner:
    walker: Walker
    plateau: int
    path: int
    steady: bool = False  # a long-path runner with a fixed plateau (see the package doc)
    stale: int = 0
    fresh: bool = False  # the current path started from the run's start scheme
    misses: int = 0  # fresh descents in a row that ended far above the best
    lineage: deque[Payload] | None = None  # lineages strategy: this runner's own improvements


def _next_plateau(plateau: int, base: int) -> int:
    """The adaptive plateau: ×4 after a stall, back to the base value past 64×."""
    return plateau * 4 if plateau * 4 <= base * 64 else base


def _run_runners(space: SearchSpace, ctx: _WorkerContext, seed: int, order: RunRunners) -> None:
    """Copy-best runners (see the package doc) until stopped or the order's goal is reached."""
    settings, origin, goal = order.settings, order.origin, order.goal
    assert settings.plateau is not None and settings.path_min is not None  # resolved by the coordinator
    rng = np.random.default_rng([seed, ctx.wid])
    plateau = settings.plateau
    lineages = settings.strategy == "lineages"  # (their restarts from the start replace steady runners)
    steady = [k % 2 == 1 and not lineages for k in range(len(order.starts))]
    runners = [
        _Runner(space.walker(p, int(rng.integers(2**63)), order.capacity), plateau,
                _STEADY_PATH if st else settings.path_min, steady=st)
        for p, st in zip(order.starts, steady)
    ]
    for r, p in zip(runners, order.starts):
        if r.steady:
            r.walker.split = False  # plus transitions only: splits slowed these descents
        if lineages:
            r.lineage = deque([p], maxlen=HISTORY)
    ctx.walkers = [r.walker for r in runners]
    recent = deque(order.history, maxlen=HISTORY)
    best = min(recent, key=lambda p: p.rank)
    began, local_s = time.perf_counter(), 0.0
    while ctx.alive():
        for msg in ctx.channel.orders(timeout=0):
            if isinstance(msg, NewBest) and msg.payload.rank <= best.rank:
                best = msg.payload
                recent.append(best)
                if lineages:
                    continue  # each runner follows its own lineage
                for r in runners:  # (steady runners sample descents of their own)
                    if not r.steady and r.walker.best_rank > best.rank and rng.random() < 0.5:
                        r.walker.reset(best)
                        r.stale, r.path = 0, settings.path_min
        for r in runners:
            before = r.walker.best_rank
            kept = r.walker.best() if settings.lift else None
            step = min(settings.round_flips, r.path - r.stale)
            r.walker.run(step, r.plateau, goal)
            if kept is not None and r.walker.best_rank < before and not space.can_lift(r.walker.best()):
                r.walker.reset(kept)  # a descent that cannot lift (see _LIFTABLE): walk on from before it
            if r.walker.best_rank < before:
                r.stale = 0
                if not r.steady:
                    r.path = settings.path_min
                if r.lineage is not None:
                    r.lineage.append(r.walker.best())
                if r.walker.best_rank < best.rank:
                    best = r.walker.best()
                    recent.append(best)
                    ctx.improved(best)
                elif settings.lift and r.walker.best_rank == best.rank:
                    ctx.improved(r.walker.best())  # another candidate for the lifter
            else:
                r.stale += step
                if r.stale >= r.path:
                    start = _restart_point(r, best, recent, origin, settings, space.split, rng)
                    local_due = local_s <= _LOCAL_SHARE * (time.perf_counter() - began)
                    if settings.local_tries and not space.symmetric and not r.fresh and local_due:
                        t = time.perf_counter()
                        lower = _local_phase(space, start, rng, settings.local_tries, settings.lift)
                        local_s += time.perf_counter() - t
                        if r.lineage is not None and lower.rank < start.rank:
                            r.lineage.append(lower)
                        start = lower
                        if start.rank < best.rank:
                            best = start
                            recent.append(best)
                            ctx.improved(best)
                    r.walker.reset(start)
                    r.stale = 0
            if best.rank <= goal or not ctx.alive():
                break
        ctx.maybe_stats([r.walker.rank for r in runners])
        if best.rank <= goal:
            return


def _restart_point(r: _Runner, best: Payload, recent: deque[Payload], origin: Payload,
                   settings: FlipSettings, split: bool, rng: np.random.Generator) -> Payload:
    """Where a runner that has gone its path without improving walks next, with all
    of the runner's bookkeeping for the restart: a steady runner starts a fresh descent
    from the run's start (and turns adaptive once those keep ending far above the
    best); an adaptive one doubles its path, moves to the next plateau and goes on from
    the best or a recent improvement, ½ each: the run's, or with ``lineages`` its own,
    and a lineage that has stalled through its longest path starts over from the start
    scheme as a new lineage (the run keeps its best)."""
    if r.fresh and r.lineage is None:
        r.misses = 0 if r.walker.best_rank <= best.rank + _FRESH_SLACK else r.misses + 1
        if r.misses >= _FRESH_MISSES:  # descents no longer pay: follow the best
            r.steady, r.walker.split, r.path = False, split, settings.path_min
    r.fresh = r.steady
    if not r.steady:  # the adaptive limits: a longer path and the next plateau
        assert settings.plateau is not None
        r.plateau = _next_plateau(r.plateau, settings.plateau)
        if r.lineage is not None and r.path >= settings.path_max:
            r.lineage = deque([origin], maxlen=HISTORY)
            r.path, r.fresh = settings.path_min, True
        else:
            r.path = min(2 * r.path, settings.path_max)
    if r.fresh:
        return origin
    own, top = recent, best
    if r.lineage is not None:
        own, top = r.lineage, min(r.lineage, key=lambda p: p.rank)
    return top if rng.random() < 0.5 else own[int(rng.integers(len(own)))]


def _local_phase(space: SearchSpace, start: Payload, rng: np.random.Generator, tries: int,
                 lift: bool) -> Payload:
    """Local descents (module ``local``) on a restart scheme: the cheap way down from
    sparse schemes whose global walks diffuse before they reduce (with ``lift``, only
    descents that can lift)."""
    scheme = unpack(start, space.target)
    better = descend(scheme, space.ring, rng, tries)
    if better.rank >= scheme.rank:
        return start
    lower = space.payload(better)
    return start if lift and not space.can_lift(lower) else lower


def _run_task(space: SearchSpace, ctx: _WorkerContext, seed: int, order: RunTask) -> None:
    """One pool task: walk the order's start until its rank drops to the goal or the
    path limit is spent; report the success (or failure) to the coordinator."""
    task_seed = int(np.random.default_rng([seed, ctx.wid, order.task]).integers(2**63))
    if not ctx.walkers:
        ctx.walkers = [space.walker(order.start, task_seed, order.capacity)]
    walker = ctx.walkers[0]
    walker.reset(order.start)
    walker.rng[0] = np.uint64(task_seed)
    spent, goal = 0, order.goal
    while spent < order.path_limit and walker.best_rank > goal and ctx.alive():
        step = min(_TASK_CHUNK, order.path_limit - spent)
        walker.run(step, order.plateau, goal)
        spent += step
        ctx.maybe_stats([walker.rank])
    found = walker.best() if walker.best_rank <= goal else None
    if found is not None and order.lift and not space.can_lift(found):
        found = None  # (see _LIFTABLE)
    ctx.done(order.task, found)
