"""Workers as Ray actors (optional ``ray`` extra): the same worker loop as a local
process, on every node of a cluster.

An actor walks in a thread of its own and answers two calls meanwhile: ``post`` (an
order) and ``take`` (the reports so far, waiting briefly for one). The coordinator
keeps one ``take`` in flight per actor, so reports arrive without polling in a busy
loop. Ray workers may run on machines without the catalogue or the run directory:
they only walk, and the coordinator verifies and stores every improvement. A dead
actor (a lost node, ``ray.kill``) costs only its own walks.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from tensorgame.cluster import connect_ray
from tensorgame.search.flipgraph.drivers.messages import Order, Report
from tensorgame.search.flipgraph.drivers.space import SearchSpace
from tensorgame.search.flipgraph.drivers.transport import STOP_GRACE_S
from tensorgame.search.flipgraph.drivers.worker import run_worker, take_orders

#: Longest a ``take`` waits for a report (the coordinator's latency when idle).
_TAKE_WAIT_S = 0.2


class _ThreadChannel:
    """The channel between an actor's walking thread and its Ray calls."""

    def __init__(self) -> None:
        self.inbox: queue.Queue[Order] = queue.Queue()
        self.reports: list[Report] = []
        self.ready = threading.Condition()
        self.stop = threading.Event()

    def orders(self, timeout: float) -> list[Order]:
        return take_orders(self.inbox, timeout)

    def send(self, report: Report) -> None:
        with self.ready:
            self.reports.append(report)
            self.ready.notify_all()

    def stopped(self) -> bool:
        return self.stop.is_set()

    def take(self, wait_s: float) -> list[Report]:
        with self.ready:
            if not self.reports:
                self.ready.wait(wait_s)
            got, self.reports = self.reports, []
        return got


class FlipActor:
    """One worker as a Ray actor (made remote by :class:`RayTransport`)."""

    def __init__(self, space: SearchSpace, wid: int, seed: int) -> None:
        self.channel = _ThreadChannel()
        self.thread = threading.Thread(target=run_worker, args=(space, wid, seed, self.channel), daemon=True)
        self.thread.start()

    def post(self, order: Order) -> None:
        self.channel.inbox.put(order)

    def take(self) -> list[Report]:
        return self.channel.take(_TAKE_WAIT_S)

    def stop(self, grace_s: float) -> list[Report]:
        """Stop walking; the reports not yet taken, the final counters last (those of
        the round in progress only if it ends within ``grace_s``)."""
        self.channel.stop.set()
        self.thread.join(timeout=grace_s)
        return self.channel.take(0)


class RayTransport:
    """Workers as Ray actors of a cluster: ``address`` is "auto" (the running
    cluster), a cluster address, or "local" (start a local instance). If Ray is
    already initialised (e.g. ``ray.init(num_cpus=2)`` in a test) that instance is
    used as it is."""

    def __init__(self, address: str) -> None:
        self.ray = connect_ray(address)
        self.actors: list[Any] = []
        self.pending: dict[Any, int] = {}  # the take in flight, per actor
        self.dead: set[int] = set()

    def cpus(self) -> int:
        """CPUs of the cluster: the default number of workers."""
        return max(1, int(self.ray.cluster_resources().get("CPU", 1)))

    def start(self, space: SearchSpace, seeds: list[int]) -> None:
        cls = self.ray.remote(num_cpus=1, max_concurrency=2)(FlipActor)
        self.actors = [cls.remote(space, w, seed) for w, seed in enumerate(seeds)]
        self.pending = {a.take.remote(): w for w, a in enumerate(self.actors)}

    def send(self, wid: int, order: Order) -> None:
        if self.actors and wid not in self.dead:  # (nothing once stopped)
            self.actors[wid].post.remote(order)

    def receive(self, timeout: float) -> list[Report]:
        if not self.pending:
            return []
        refs = list(self.pending)
        ready, _ = self.ray.wait(refs, num_returns=1, timeout=timeout)
        if ready:  # and whatever else is ready by now
            ready, _ = self.ray.wait(refs, num_returns=len(refs), timeout=0)
        got: list[Report] = []
        for ref in ready:
            w = self.pending.pop(ref)
            try:
                got += self.ray.get(ref)
            except self.ray.exceptions.RayActorError:
                self.dead.add(w)
                continue
            self.pending[self.actors[w].take.remote()] = w
        return got

    def lost(self) -> set[int]:
        return set(self.dead)

    def stop(self, grace_s: float = STOP_GRACE_S) -> list[Report]:
        """Stop the live actors; the reports of the takes in flight come first, each
        actor's final counters last."""
        finals = {self.actors[w].stop.remote(grace_s): w for w in range(len(self.actors)) if w not in self.dead}
        owners = {**self.pending, **finals}
        refs = list(owners)
        ready, _ = self.ray.wait(refs, num_returns=len(refs), timeout=grace_s + 1)
        done = set(ready)
        got: list[Report] = []
        for ref in refs:
            if ref in done:
                try:
                    got += self.ray.get(ref)
                except self.ray.exceptions.RayActorError:
                    self.dead.add(owners[ref])
        for a in self.actors:
            self.ray.kill(a)
        self.actors, self.pending = [], {}
        return got
