"""The knobs of a parallel flip-graph search: the bottom of the drivers' import graph
(every other drivers module may import it; it imports nothing of theirs)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tensorgame.errors import TensorGameError

STRATEGIES = ("runners", "lineages", "pool")
#: Recent improvements a restart may start from (workers) and a checkpoint keeps.
HISTORY = 10


@dataclass(frozen=True)
class FlipSettings:
    """Knobs of a parallel search (defaults: see the package doc and docs of each)."""

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

    @property
    def runs_runners(self) -> bool:
        """Whether workers host runners (``runners``, ``lineages``), not pool tasks."""
        return self.strategy != "pool"

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise TensorGameError(f"unknown strategy {self.strategy!r}: use {', '.join(STRATEGIES)}")
        if self.workers < 1:
            raise TensorGameError(f"--workers must be at least 1, got {self.workers}")
        if not self.time_s > 0 or not math.isfinite(self.time_s):
            raise TensorGameError(f"the time budget must be a positive number of seconds, got {self.time_s}")
        if not 0 <= self.sprint_s < math.inf:
            raise TensorGameError(f"the sprint must last 0 or more seconds, got {self.sprint_s}")
