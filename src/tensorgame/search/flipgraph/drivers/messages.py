"""What the coordinator and its workers say to each other, whatever carries it.

Orders go to a worker; reports come back. Every report carries the worker's
cumulative flips and attempts, so the coordinator sums the latest of each worker and
a lost message or a lost worker costs no count twice. All are small frozen
dataclasses that pickle as they are (multiprocessing queues, Ray calls).
"""

from __future__ import annotations

from dataclasses import dataclass

from tensorgame.search.flipgraph.drivers.settings import FlipSettings
from tensorgame.search.flipgraph.drivers.space import Payload


# --- orders: coordinator -> worker -------------------------------------------------------------
@dataclass(frozen=True)
class RunRunners:
    """Runners strategy: walk ``starts`` (one runner each) until stopped or ``goal``;
    ``origin`` is the run's start scheme, ``history`` its recent improvements, and
    ``settings`` has its defaults resolved (plateau, path_min)."""

    starts: list[Payload]
    origin: Payload
    history: list[Payload]
    capacity: int
    settings: FlipSettings
    goal: int


@dataclass(frozen=True)
class RunTask:
    """Pool strategy: walk ``start`` until its rank drops to ``goal`` or ``path_limit``
    attempts are spent; with ``lift``, a success counts only if it can lift."""

    task: int
    start: Payload
    capacity: int
    path_limit: int
    plateau: int
    goal: int
    lift: bool = False


@dataclass(frozen=True)
class NewBest:
    """A verified global best, for runners to adopt."""

    payload: Payload


Order = RunRunners | RunTask | NewBest


# --- reports: worker -> coordinator -------------------------------------------------------------
@dataclass(frozen=True)
class Report:
    """What every report says: who, and its cumulative counters."""

    wid: int
    flips: int
    attempts: int


@dataclass(frozen=True)
class Stats(Report):
    """Periodic counters and the current rank of each of the worker's walkers."""

    ranks: list[int]


@dataclass(frozen=True)
class Improved(Report):
    """A scheme below the worker's best (or, when lifting, another at the best rank)."""

    payload: Payload


@dataclass(frozen=True)
class TaskDone(Report):
    """A pool task ended: ``found`` is the scheme that reached the task's goal, if any."""

    task: int
    found: Payload | None
