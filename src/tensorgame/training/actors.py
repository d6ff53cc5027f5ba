"""Self-play actors: one worker class, three ways to run it.

:class:`SelfPlayWorker` owns a copy of the network, the environment and the basis
pools; :meth:`SelfPlayWorker.play` plays one batch of games with the tree search (each
game a random target, ring and basis of the run), returns every decomposition found
(mapped back to the canonical basis and verified exactly by the game) with the
positions and their training targets, and stores in the catalogue (which verifies
again) those that :func:`~tensorgame.training.agent.worth_storing` admits: below the
target's naive rank and no worse than the run's best for that target and ring. The
worker knows the run's best from the learner's last weight publication and its own
finds since; with several actor processes, another actor's better find reaches it at
the next publication (every ``publish_every_steps`` learner steps), so a scheme it
stores in between may already have been beaten.

How it runs (the same worker code each time):

* :class:`InlineActors` (``num_actors = 0``): in the learner's process, between
  learner steps. On two cores this is the fastest arrangement for <2,2,2>: there is
  no second idle core to gain, and no weights or positions cross a process boundary.
* :class:`ProcessActors`: ``num_actors`` local processes (``multiprocessing`` spawn,
  no cluster). The learner publishes weights by writing a small checkpoint file
  atomically; a worker reloads it when its version changes. Results come back through
  a bounded queue, so actors never run far ahead of the learner.
* :class:`RayActors` (optional ``ray`` extra, ``--ray ADDRESS|auto``): the worker as a
  Ray actor. Each new weight version is put into the object store once
  (``ray.put`` of the state dict) and every actor receives the reference. Ray workers
  may run on machines without the catalogue file, so they return the schemes they found
  and the learner stores those worth storing on arrival.

With ``actors.runtime_reward`` a game that ends with a scheme over Z gains the
runtime term (:mod:`tensorgame.training.runtime_reward`) in its return: in every
position's value target and in the logged return; classes timed for the first time
come back in :attr:`ActorOutput.timings`.

Provenance of a stored scheme: method "agent"; seed = the game batch's seed; source = a
compact JSON object with the run id, the learner step of the weights that played,
the actor, game index, target, ring and basis index, and ``"expert": "flip"`` when the
run imitated flip-graph schemes (``learner.expert_flip_s``).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import queue
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from tensorgame.game import BasisPool, TensorGame
from tensorgame.game.blocks import Box, box_shape, complement_box, embed_blocks
from tensorgame.tensors.rings import Ring
from tensorgame.tensors.scheme import Scheme
from tensorgame.tensors.targets import Target, matmul_target
from tensorgame.training.agent import METHOD, worth_storing
from tensorgame.training.config import (
    TrainConfig,
    config_from_dict,
    game_config,
    mcts_config,
    network_config,
    rings_of,
    targets_of,
)
from tensorgame.training.curriculum import NaivePrefixes, best_prefixes
from tensorgame.training.replay import Positions, episodes_to_positions
from tensorgame.training.runtime_reward import RuntimeReward, Timer


def basis_pools(cfg: TrainConfig) -> dict[tuple[int, int, int], BasisPool]:
    """One pool per distinct target shape (none for targets played with cyclic moves,
    which stay in their canonical basis); basis i is a pure function of (seed, i), so
    learner and actors in any process share the pools by the seed alone."""
    a = cfg.actors
    game = game_config(cfg)
    pools: dict[tuple[int, int, int], BasisPool] = {}
    for t in targets_of(cfg):
        if t.dims not in pools and not game.plays_cyclic(t):
            pools[t.dims] = BasisPool(t.dims, a.basis_pool_size, seed=cfg.run.seed + 7919,
                                      tied=a.tied, max_entry=a.basis_max_entry)
    return pools


def batch_seed(run_seed: int, actor: int, counter: int) -> int:
    """Seed of an actor's ``counter``-th game batch (distinct per actor and batch)."""
    return int(np.random.SeedSequence([run_seed, 1 + actor, counter]).generate_state(1, np.uint32)[0])


@dataclass(frozen=True)
class Found:
    """A decomposition found in self-play, canonical basis, already verified."""

    scheme: Scheme
    target: int  # index into the run's targets
    seed: int
    source: str  # provenance JSON
    elapsed_s: float
    catalog_id: int | None = None  # set when the worker stored it (reachable catalogue, worth storing)
    new: bool = False  # not in the catalogue before

    @property
    def stored(self) -> bool:
        return self.catalog_id is not None


@dataclass
class ActorOutput:
    """One batch of games: positions for the replay buffer, schemes found, and per
    game played from the target itself (not from a naive prefix: the run's solve rate
    and mean return measure what ``discover`` plays) its source index into the run's
    (target, ring) pairs, whether it was solved, and its total return with the runtime
    term; ``timings``: classes timed in this batch for the runtime
    term (target, ring, rank, kernel/library time ratio)."""

    positions: Positions | None
    found: list[Found]
    version: int
    games: int
    moves: int
    seconds: float
    actor: int
    log: list[tuple[int, bool, float]] = field(default_factory=list)
    timings: list[tuple[str, str, int, float]] = field(default_factory=list)


@dataclass(frozen=True)
class ActorSpec:
    """Everything a worker needs, picklable (it crosses process boundaries)."""

    config: dict[str, Any]
    run_id: str
    catalog_path: str | None


class SelfPlayWorker:
    """Plays games with the current weights (see the module doc)."""

    def __init__(self, spec: ActorSpec, actor: int, timer: Timer | None = None) -> None:
        """``timer``: the runtime term's (default bench's ``time_calls``; tests fake it)."""
        from tensorgame.network import AlphaTensorNet
        from tensorgame.training.learner import single_thread

        single_thread()
        self.spec = spec
        self.actor = int(actor)
        self.cfg = config_from_dict(spec.config)
        self.env = TensorGame(game_config(self.cfg))
        self.targets = targets_of(self.cfg)
        self.rings = rings_of(self.cfg)
        self.sources = [(ti, ri) for ti in range(len(self.targets)) for ri in range(len(self.rings))]
        self.naive = [t.naive_rank for t in self.targets]
        self.prefixes = NaivePrefixes(self.env, self.cfg.actors.naive_prefix_fraction,
                                      self.cfg.actors.prefix_block_fraction)
        self.best: dict[str, int] = {}  # "target/ring" -> the run's best rank as far as known here
        # (format key, ring) -> the lowest-rank scheme this actor's games finished: the
        # other half of a block game whose box leaves a box of that format outside it
        self.own_best: dict[tuple[str, str], Scheme] = {}
        self.pools = basis_pools(self.cfg)
        self.mcts = mcts_config(self.cfg)
        self.model = AlphaTensorNet(network_config(self.cfg))
        self.model.eval()
        self.version = -1
        self.counter = 0
        self._catalog: Any = None
        a = self.cfg.actors
        self.runtime = RuntimeReward(a.runtime_weight, a.runtime_size, a.runtime_dtype, timer=timer,
                                     seed=self.cfg.run.seed) if a.runtime_reward else None

    def set_weights(self, state_dict: dict[str, Any], version: int,
                    best: dict[str, int | None] | None = None) -> int:
        """New weights, with the run's best ranks ("target/ring" -> rank or None) that
        decide what is worth storing."""
        self.model.load_state_dict(state_dict)
        self.version = int(version)
        for key, rank in (best or {}).items():
            self._note_best(key, rank)
        return self.version

    def _note_best(self, key: str, rank: int | None) -> None:
        if rank is not None and (key not in self.best or int(rank) < self.best[key]):
            self.best[key] = int(rank)

    def set_counter(self, counter: int) -> None:
        """Continue the batch-seed sequence at ``counter`` (a resumed run)."""
        self.counter = int(counter)

    def _store(self, found: Found) -> Found:
        """Store at once when the catalogue is reachable and the scheme is worth it (see
        the module doc); otherwise the learner decides on arrival."""
        key = f"{self.targets[found.target].name}/{found.scheme.ring}"
        keep = worth_storing(found.scheme.rank, self.naive[found.target], self.best.get(key))
        self._note_best(key, found.scheme.rank)
        if self.spec.catalog_path is None or not keep:
            return found
        if self._catalog is None:
            from tensorgame.catalog import Catalog

            self._catalog = Catalog(self.spec.catalog_path)
        added = self._catalog.add(found.scheme, method=METHOD, seed=found.seed, source=found.source,
                                  elapsed_s=found.elapsed_s)
        return replace(found, catalog_id=added.id, new=added.inserted)

    def play(self, num_games: int | None = None, seed: int | None = None) -> ActorOutput:
        """Play one batch of games together with the current weights."""
        from tensorgame.network import NetworkEvaluator
        from tensorgame.search.mcts import play_episode

        cfg = self.cfg
        n = int(num_games or cfg.actors.games_per_batch)
        if seed is None:
            seed = batch_seed(cfg.run.seed, self.actor, self.counter)
        self.counter += 1
        rng = np.random.default_rng(seed)
        src = rng.integers(len(self.sources), size=n)
        targets, rings, bases, basis_ids = [], [], [], []
        for s in src:
            ti, ri = self.sources[int(s)]
            t = self.targets[ti]
            targets.append(t)
            rings.append(self.rings[ri])
            pool = self.pools.get(t.dims)
            if pool is None or rng.random() < cfg.actors.canonical_fraction:
                idx = 0
            else:
                idx = int(rng.integers(1, pool.size)) if pool.size > 1 else 0
            basis_ids.append(idx)
            bases.append(None if idx == 0 else pool[idx])
        prefixes = best_prefixes(basis_ids, lambda g: self._best_moves(targets[g], rings[g]),
                                 cfg.actors.best_prefix_fraction, rng)
        naive = self.prefixes.draw(targets, [-1 if p is not None else b for p, b in zip(prefixes, basis_ids)], rng)
        prefixes = [p if p is not None else q for p, q in zip(prefixes, naive)]
        own_board = [cfg.actors.block_own_board and p is not None and p.box is not None for p in prefixes]
        played = [matmul_target(*p.block) if own else t for t, p, own in zip(targets, prefixes, own_board)]
        evaluator = NetworkEvaluator(self.model, temperature=self.mcts.sampling_temperature,
                                     seed=int(seed))
        start = time.perf_counter()
        results = play_episode(self.env, played, rings, bases, evaluator=evaluator,
                               config=self.mcts, rng=rng,
                               prefixes=[None if p is None or own else p.moves
                                         for p, own in zip(prefixes, own_board)])
        seconds = time.perf_counter() - start
        for r in results:
            if r.scheme is not None:
                self._note_own(r.scheme)
        found: list[Found] = []
        final, timings = self._runtime_terms(results)
        log = [(int(s), r.scheme is not None, r.total_return + x)
               for r, s, x, p in zip(results, src, final, prefixes) if p is None]
        for g, (r, s) in enumerate(zip(results, src)):
            if r.scheme is None:
                continue
            ti, ri = self.sources[int(s)]
            prov = {"run": self.spec.run_id, "step": self.version, "seed": int(seed), "game": g,
                    "actor": self.actor, "target": self.targets[ti].name, "ring": str(self.rings[ri]),
                    "basis": basis_ids[g]}
            prefix = prefixes[g]
            if prefix is not None and prefix.best:
                prov["best_prefix"] = len(prefix.moves)  # terms of this actor's best scheme played first
            elif prefix is not None:
                prov["naive_prefix"] = len(prefix.moves)  # naive moves played before the agent
                if prefix.block is not None:
                    prov["block"] = prefix.block_name  # the sub-format left to play
            if self.cfg.learner.expert_flip_s > 0:
                prov["expert"] = "flip"  # a hybrid find: the network imitated flip-graph schemes
            scheme = r.scheme
            if own_board[g]:
                prov["block_own_board"] = True  # the block played as its own format, then embedded
                blocks = [(scheme, prefix.box)]
                other = self._other_half(self.targets[ti], prefix.box, scheme.ring)
                if other is not None:
                    blocks.append(other)
                    prov["other_block"] = f"{other[0].target.name} {other[0].rank}"  # this actor's own find
                scheme = embed_blocks(self.targets[ti], blocks)
                if not scheme.verify().ok:
                    raise AssertionError(f"embedding a {prefix.block_name} block broke exactness")
                self._note_own(scheme)
            source = json.dumps(prov, separators=(",", ":"))
            found.append(self._store(Found(scheme, ti, int(seed), source, seconds)))
        positions = None
        if any(r.num_moves for r in results):
            positions = episodes_to_positions(results, self.mcts.num_samples, [int(s) for s in src], final)
        return ActorOutput(positions, found, self.version, n, sum(r.num_moves for r in results),
                           seconds, self.actor, log, timings)

    def _note_own(self, scheme: Scheme) -> None:
        key = (scheme.target.key, str(scheme.ring))
        if key not in self.own_best or scheme.rank < self.own_best[key].rank:
            self.own_best[key] = scheme

    def _best_moves(self, target: Target, ring: Ring) -> np.ndarray | None:
        """This actor's best scheme of ``target`` over ``ring`` as moves of the game, if
        below the naive rank (a best prefix is drawn from it)."""
        best = self.own_best.get((target.key, str(ring)))
        if best is None or best.rank >= target.naive_rank:
            return None
        moves = self.env.config.moves_of(best)
        return None if moves is None else moves.astype(np.int8)

    def _other_half(self, target: Target, box: Box, ring: Ring) -> tuple[Scheme, Box] | None:
        """Where the naive terms outside ``box`` form a box (<2,2,4> around a <2,2,2>),
        this actor's best scheme of its format, if below the naive rank, with that box."""
        other = complement_box(target, box)
        if other is None:
            return None
        best = self.own_best.get((matmul_target(*box_shape(other)).key, str(ring)))
        if best is None or best.rank >= best.target.naive_rank:
            return None
        return best, other

    def _runtime_terms(self, results: list[Any]) -> tuple[list[float], list[tuple[str, str, int, float]]]:
        """Per game the runtime term of its return (0 when off, unsolved or mod p), and
        the classes timed for the first time."""
        final = [0.0] * len(results)
        timings: list[tuple[str, str, int, float]] = []
        if self.runtime is None:
            return final, timings
        for g, r in enumerate(results):
            got = None if r.scheme is None else self.runtime.ratio(r.scheme)
            if got is None:
                continue
            final[g] = -self.runtime.weight * got[0]
            if got[1]:
                timings.append((r.scheme.target.name, str(r.scheme.ring), r.scheme.rank, got[0]))
        return final, timings

    def close(self) -> None:
        if self._catalog is not None:
            self._catalog.close()
            self._catalog = None


# --- in the learner's process -----------------------------------------------------------
class InlineActors:
    """``num_actors = 0``: play in the learner's process when the learner asks."""

    blocking = True

    def __init__(self, spec: ActorSpec) -> None:
        self.worker = SelfPlayWorker(spec, 0)

    def publish(self, state_dict: dict[str, Any], version: int, model: Any = None,
                best: dict[str, int | None] | None = None) -> None:
        self.worker.set_weights(state_dict, version, best)

    def collect(self, wait: bool) -> list[ActorOutput]:
        return [self.worker.play()] if wait else []

    def counters(self) -> list[int]:
        return [self.worker.counter]

    def close(self) -> None:
        self.worker.close()


# --- local processes --------------------------------------------------------------------
def _process_main(spec: ActorSpec, actor: int, weights_path: str, counter: int,
                  results: Any, stop: Any) -> None:
    """Body of one actor process: reload published weights when they change, play,
    send the batch back; exits when ``stop`` is set."""
    import signal

    from tensorgame.network import load_checkpoint

    # Ctrl-C reaches the whole process group; the learner decides when actors stop
    # (it sets ``stop`` after writing its checkpoint), so actors ignore SIGINT.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    worker = SelfPlayWorker(spec, actor)
    worker.counter = counter
    seen = None
    try:
        while not stop.is_set():
            try:
                stamp = os.stat(weights_path).st_mtime_ns
            except FileNotFoundError:
                time.sleep(0.1)
                continue
            if stamp != seen:
                try:
                    model, _, version, extra = load_checkpoint(weights_path)
                except Exception:  # noqa: BLE001 - being replaced right now: retry shortly
                    time.sleep(0.1)
                    continue
                worker.set_weights(model.state_dict(), version, extra.get("best"))
                seen = stamp
            out = worker.play()
            while not stop.is_set():
                try:
                    results.put(out, timeout=0.5)
                    break
                except queue.Full:
                    continue
    finally:
        worker.close()


class ProcessActors:
    """``num_actors`` local spawn processes (see the module doc)."""

    blocking = False

    def __init__(self, spec: ActorSpec, num_actors: int, weights_path: Path,
                 counters: list[int] | None = None) -> None:
        ctx = mp.get_context("spawn")
        self.weights_path = Path(weights_path)
        self.results = ctx.Queue(maxsize=max(2, num_actors))
        self.stop = ctx.Event()
        self._counters = list(counters or [0] * num_actors) + [0] * num_actors
        self._seen = list(self._counters[:num_actors])
        self.procs = [ctx.Process(target=_process_main, daemon=True, name=f"tensorgame-actor-{i}",
                                  args=(spec, i, str(self.weights_path), self._counters[i],
                                        self.results, self.stop))
                      for i in range(num_actors)]
        for p in self.procs:
            p.start()

    def publish(self, state_dict: dict[str, Any], version: int, model: Any = None,
                best: dict[str, int | None] | None = None) -> None:
        from tensorgame.network import save_checkpoint

        save_checkpoint(self.weights_path, model, step=version, extra={"best": dict(best or {})})

    def collect(self, wait: bool) -> list[ActorOutput]:
        out = []
        try:
            out.append(self.results.get(timeout=1.0) if wait else self.results.get_nowait())
            while True:
                out.append(self.results.get_nowait())
        except queue.Empty:
            pass
        for o in out:
            self._seen[o.actor] += 1
        if wait and not out and not any(p.is_alive() for p in self.procs):
            raise RuntimeError("every actor process has died")
        return out

    def counters(self) -> list[int]:
        return list(self._seen)

    def close(self) -> None:
        self.stop.set()
        for p in self.procs:
            p.join(timeout=10)
        for p in self.procs:
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
        self.results.close()


# --- Ray --------------------------------------------------------------------------------
class RayActors:
    """Workers as Ray actors (optional ``ray`` extra; see the module doc).

    ``address``: "auto" (a running cluster), a cluster address, or "local" (start a
    local instance). If Ray is already initialised (e.g. ``ray.init(num_cpus=2)`` in a
    test) that instance is used as it is.
    """

    blocking = False

    def __init__(self, spec: ActorSpec, num_actors: int, address: str,
                 counters: list[int] | None = None) -> None:
        from tensorgame.cluster import connect_ray

        self.ray = ray = connect_ray(address, local_cpus=max(1, num_actors))
        remote_spec = ActorSpec(spec.config, spec.run_id, None)  # results come back; the learner stores
        cls = ray.remote(num_cpus=1)(SelfPlayWorker)
        counters = list(counters or []) + [0] * num_actors
        self.actors = [cls.remote(remote_spec, i) for i in range(num_actors)]
        for i, a in enumerate(self.actors):
            a.set_counter.remote(counters[i])
        self._seen = counters[:num_actors]
        self.pending: dict[Any, int] = {}
        self.version = -1
        self._acks: list[Any] = []

    def publish(self, state_dict: dict[str, Any], version: int, model: Any = None,
                best: dict[str, int | None] | None = None) -> None:
        """``best`` is not sent: Ray workers store nothing, the learner decides."""
        ref = self.ray.put(state_dict)  # one copy in the object store per version
        self._acks = [a.set_weights.remote(ref, version) for a in self.actors]
        self.version = version
        for i, a in enumerate(self.actors):  # an idle actor starts playing once it has weights
            if i not in self.pending.values():
                self.pending[a.play.remote()] = i

    def collect(self, wait: bool) -> list[ActorOutput]:
        if not self.pending:
            return []
        ready, _ = self.ray.wait(list(self.pending), num_returns=1, timeout=1.0 if wait else 0.0)
        out = []
        for ref in ready:
            i = self.pending.pop(ref)
            out.append(self.ray.get(ref))
            self._seen[i] += 1
            self.pending[self.actors[i].play.remote()] = i
        return out

    def counters(self) -> list[int]:
        return list(self._seen)

    def close(self) -> None:
        for a in self.actors:
            try:
                self.ray.kill(a)
            except Exception:  # noqa: BLE001 - shutting down anyway
                pass
        self.actors = []
        self.pending = {}

