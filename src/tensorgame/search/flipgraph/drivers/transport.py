"""How orders reach the workers and reports come back: the one part of a run that
differs between local processes and Ray actors (``ray_transport``)."""

from __future__ import annotations

import multiprocessing as mp
import queue
import time
from typing import Any, Protocol

from tensorgame.search.flipgraph.drivers.messages import Order, Report
from tensorgame.search.flipgraph.drivers.space import SearchSpace
from tensorgame.search.flipgraph.drivers.worker import worker_process

#: Seconds the workers get to send their last reports once asked to stop at the end of
#: the time budget (a run that reached its goal does not wait: see FlipRun._shutdown).
STOP_GRACE_S = 5.0


class Transport(Protocol):
    """Workers somewhere, seen from the coordinator."""

    def start(self, space: SearchSpace, seeds: list[int]) -> None:
        """Start one worker per seed (worker ids are the seeds' indices)."""

    def send(self, wid: int, order: Order) -> None:
        """Deliver an order to one worker (nothing once stopped)."""

    def receive(self, timeout: float) -> list[Report]:
        """Reports that arrived, waiting up to ``timeout`` s for the first one."""

    def lost(self) -> set[int]:
        """Workers that died (their walks are lost; the others go on)."""

    def stop(self, grace_s: float = STOP_GRACE_S) -> list[Report]:
        """Stop every worker and return the reports they sent while finishing, waiting
        up to ``grace_s`` for them (0: only those already sent)."""


class ProcessTransport:
    """Workers as spawned local processes (spawn, not fork: numba and SQLite state
    must not be shared) talking through multiprocessing queues."""

    def __init__(self) -> None:
        self.procs: list[Any] = []
        self.inboxes: list[Any] = []

    def start(self, space: SearchSpace, seeds: list[int]) -> None:
        ctx = mp.get_context("spawn")
        self.stop_event = ctx.Event()
        self.outbox = ctx.Queue()
        self.inboxes = [ctx.Queue() for _ in seeds]
        self.procs = [
            ctx.Process(target=worker_process, args=(space, w, seed, self.inboxes[w], self.outbox, self.stop_event),
                        daemon=True, name=f"tensorgame-flip-{w}")
            for w, seed in enumerate(seeds)
        ]
        for p in self.procs:
            p.start()

    def send(self, wid: int, order: Order) -> None:
        if self.inboxes:  # (nothing once stopped)
            self.inboxes[wid].put(order)

    def receive(self, timeout: float) -> list[Report]:
        got = []
        try:
            got.append(self.outbox.get(timeout=timeout))
            while True:
                got.append(self.outbox.get_nowait())
        except queue.Empty:
            return got

    def lost(self) -> set[int]:
        return {w for w, p in enumerate(self.procs) if not p.is_alive()}

    def stop(self, grace_s: float = STOP_GRACE_S) -> list[Report]:
        inboxes, self.inboxes = self.inboxes, []  # nothing more to send
        if not self.procs:
            return []
        self.stop_event.set()
        got: list[Report] = []
        deadline = time.monotonic() + grace_s
        # read while the workers finish: a worker exits only once its reports are
        # flushed, and improvements found in the last moments count
        while any(p.is_alive() for p in self.procs) and time.monotonic() < deadline:
            got += self.receive(timeout=0.05)
        got += self.receive(timeout=0)
        for p in self.procs:
            if p.is_alive():
                p.terminate()
                p.join(timeout=1)
        for q in inboxes:
            q.cancel_join_thread()  # unread orders must not block the exit
        return got
