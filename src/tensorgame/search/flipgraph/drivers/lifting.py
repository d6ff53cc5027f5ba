"""Lift scheduling: which mod-p results to Hensel-lift to Z, one at a time, in a
process of their own (lifting is memory- and CPU-heavy) or inline during the sprint."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any

from tensorgame.search.flipgraph.drivers.space import Payload, SearchSpace
from tensorgame.search.lifting import MAX_SOLVER_BYTES, hensel_lift, solver_bytes
from tensorgame.tensors.rings import Z
from tensorgame.tensors.scheme import Scheme


def lift_key(scheme: Scheme) -> tuple[int, bool]:
    """Order of lifted schemes: lower rank first, then Z before Q."""
    return scheme.rank, scheme.ring != Z


def lift_job(scheme: Scheme) -> tuple[Scheme | None, str]:
    """Hensel-lift a mod-p scheme; (lifted scheme over Z or Q, or None, reason)."""
    result = hensel_lift(scheme)
    return result.scheme, result.reason


class InlineLifts:
    """Lifting done at once in this process, for the sprint (no process started yet)."""

    def submit(self, job: Callable[[Scheme], tuple[Scheme | None, str]], scheme: Scheme) -> Future:
        done: Future = Future()
        done.set_result(job(scheme))
        return done

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        """Nothing runs in the background."""


class Lifter:
    """One lift at a time on ``executor`` (None: lifting is off), over the candidates
    of the coordinator's pools; counts and notes what happened for the display."""

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self.executor: Any = None  # an InlineLifts or a one-process pool
        self.future: Future | None = None
        self.seen: dict[int, Payload] = {}  # by id(); holding each keeps its id unique
        self.note: str | None = None
        self.tried = self.ok = self.rank = self.turn = 0

    def next(self, pools: Mapping[int, Sequence[Payload]], lifted: Scheme | None) -> None:
        """Start lifting an untried pooled scheme that would improve ``lifted`` (lower
        rank, or the same rank over Z instead of Q). Not every mod-2 scheme lifts
        (<4,4,4> at 47 never does), and the deeper a descent went the less likely its
        schemes lift, so turns alternate between the lowest-rank candidate and the
        median one (a bisection: lifting the lowest alone starved <4,5,5>)."""
        if self.future is not None or self.executor is None:
            return
        ceiling = math.inf if lifted is None else lifted.rank + (lifted.ring != Z)
        candidates = [p for r in sorted(pools) if r < ceiling for p in pools[r] if id(p) not in self.seen]
        if self.turn % 2:
            candidates = candidates[len(candidates) // 2:]
        for payload in candidates:
            self.seen[id(payload)] = payload
            scheme = self.space.scheme(payload)
            size = solver_bytes(scheme.rank, scheme.target.dims, scheme.ring.modulus)
            if size > MAX_SOLVER_BYTES:
                self.note = (f"rank {scheme.rank} not lifted: its Jacobian's echelon form could need "
                             f"{size / 2**30:,.1f} GiB, above the {MAX_SOLVER_BYTES / 2**30:g} GiB allowed")
                continue
            self.tried += 1
            self.turn += 1
            self.rank = scheme.rank
            self.future = self.executor.submit(lift_job, scheme)
            return

    def poll(self, lifted: Scheme | None, wait: bool = False) -> Scheme | None:
        """The finished lift's scheme if it beats ``lifted``, else None."""
        future = self.future
        if future is None or (not wait and not future.done()):
            return None
        self.future = None
        got, reason = future.result()
        if got is None:
            self.note = f"a rank-{self.rank} scheme did not lift: {reason}"
            return None
        if lifted is not None and lift_key(got) >= lift_key(lifted):
            return None
        self.ok += 1
        return got

    def close(self, wait: bool) -> None:
        """Stop the executor (``wait``: let a lift in progress finish first)."""
        if self.executor is not None:
            self.executor.shutdown(wait=wait, cancel_futures=True)
        self.executor, self.future = None, None
