"""Acting with a trained agent: load a checkpoint, play episodes with network + MCTS.

Shared by ``tensorgame discover --method agent`` and ``benchmarks/agent_ranks.py``.
Nothing but the network and the search decides a move: no catalogue lookups, no
heuristics. Every solved episode's decomposition is mapped back to the canonical basis
by the game and verified exactly; when a catalogue is given, the ones that
:func:`worth_storing` admits are stored with their provenance (method "agent", seed,
and a JSON source naming the checkpoint, its training step, the episode and the basis).

Search settings for evaluation: the checkpoint's training MCTS settings (when it
came from ``tensorgame train``) with the simulations/samples asked for, no root noise,
and moves picked by visit count (temperature 0) unless a temperature is given;
diversity between episodes then comes from the network's sampling of candidates
(seeded per batch of episodes).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tensorgame.game import BasisPool, GameConfig, TensorGame
from tensorgame.game.basis import DEFAULT_BASIS_MAX_ENTRY
from tensorgame.network import AlphaTensorNet, NetworkConfig, NetworkEvaluator, load_checkpoint
from tensorgame.network.errors import CheckpointError
from tensorgame.search.mcts import MCTSConfig, play_episode
from tensorgame.tensors.rings import Ring, parse_ring
from tensorgame.tensors.scheme import Scheme
from tensorgame.tensors.targets import Target
from tensorgame.training.config import WARMUP, phase
from tensorgame.training.learner import single_thread

#: What every scheme the agent stores is tagged with (discover and training alike).
METHOD = "agent"
#: ``discover --method agent`` without ``--checkpoint``, and ``train --init bundled``:
#: a network that ships with the package (weights only; how each was trained is in its
#: ``extra["bundled"]`` record and in docs/agent.md). ``bundled:NAME`` names one of
#: :data:`BUNDLES`; plain ``bundled`` is the first, or, where a target and ring are known,
#: the one whose training run reached the lowest rank for them.
BUNDLED = "bundled"
#: The bundled networks by name, in order of preference: <2,2,2> over Z and Z2
#: (``configs/strassen_2x2x2.toml``), and <2,2,2>, <2,2,3>, <2,2,4> over Z2 on the region
#: board (``configs/blocks_224_z2_region.toml``, then ``configs/ladder_z2_grow_best.toml``),
#: and that network signed and trained on the same targets over Z beside Z2
#: (``configs/ladder_z_from_z2.toml``).
BUNDLES = {"2x2x2": "agent.pt", "2x2xn-z2": "agent_2x2xn_z2.pt", "2x2xn-z": "agent_2x2xn_z.pt"}


def bundled_checkpoint(name: str = "2x2x2") -> Path:
    """Path of the bundled network ``name`` (see :data:`BUNDLES`)."""
    from importlib.resources import files

    from tensorgame.errors import TensorGameError

    if name not in BUNDLES:
        raise TensorGameError(f"no bundled network {name!r}: the package ships "
                              + ", ".join(f"bundled:{n}" for n in BUNDLES))
    return Path(str(files("tensorgame.data").joinpath(BUNDLES[name])))


def bundled_for(target: Target, ring: Ring | str) -> Path:
    """The bundled network whose training run reached the lowest rank for ``target``
    over ``ring`` (its checkpoint's ``best`` record), the first one when none played it."""
    key = f"{target.name}/{parse_ring(ring)}"
    reached = []
    for name in BUNDLES:
        path = bundled_checkpoint(name)
        best = load_checkpoint(path)[3].get("best", {})
        rank = best.get(key) if isinstance(best, dict) else None
        if isinstance(rank, int):
            reached.append((rank, len(reached), path))
    return min(reached)[2] if reached else bundled_checkpoint()


def checkpoint_path(spec: str | Path, target: Target | None = None, ring: Ring | str | None = None) -> Path:
    """A checkpoint file, or a bundled network: ``bundled:NAME``, or ``bundled`` (for
    ``target`` over ``ring`` when both are given: :func:`bundled_for`)."""
    spec = str(spec)
    if spec.startswith(BUNDLED + ":"):
        return bundled_checkpoint(spec.split(":", 1)[1])
    if spec != BUNDLED:
        return Path(spec)
    return bundled_checkpoint() if target is None or ring is None else bundled_for(target, ring)


def worth_storing(rank: int, naive_rank: int, best: int | None) -> bool:
    """Whether a found scheme goes into the catalogue: only below the target's naive
    rank (the obvious algorithm needs no search; storing it filled the catalogue with
    dozens of rank-8 <2,2,2>) and no worse than ``best``, the best rank found so far for
    its (target, ring) in this training run or discover session. A scheme of exactly
    that rank is stored too: distinct schemes of the best rank are what a
    hardware-aware choice picks from, and the catalogue drops equivalent ones."""
    return rank < naive_rank and (best is None or rank <= best)


@dataclass
class Agent:
    """A network with the game and search settings it was trained with."""

    model: AlphaTensorNet
    game: GameConfig
    mcts: dict[str, Any]
    step: int
    origin: str  # checkpoint path, or "untrained"
    games: int | None = None  # self-play games played (None: not a training run's checkpoint)
    warmup_steps: int | None = None  # the run's supervised warm-up (None: not recorded)
    expert: str | None = None  # "flip": trained on flip-graph schemes too (a hybrid, labelled so)

    @property
    def config(self) -> NetworkConfig:
        return self.model.config

    @property
    def unplayed_note(self) -> str | None:
        """A one-line note when this network has never played a self-play game (its
        moves then come from supervised demonstrations alone), else None."""
        where = Path(self.origin).name
        if self.games is None:  # a bare network checkpoint: only step 0 says "never trained"
            return None if self.step else f"{where} is an untrained network: it has not played yet"
        if self.games:
            return None
        if self.warmup_steps is not None and phase(self.step, self.warmup_steps) == WARMUP:
            return (f"{where} is still in supervised warm-up (step {self.step} of {self.warmup_steps}): "
                    "it has not played a self-play game yet")
        return f"{where} has trained {self.step} supervised steps but has not played a self-play game yet"


def load_agent(path: str | Path = BUNDLED) -> Agent:
    """An agent from a checkpoint of ``tensorgame train`` (or any network checkpoint:
    game settings then default to the network's side, history and alphabet); the
    bundled network by default."""
    single_thread()
    path = checkpoint_path(path)
    model, _, step, extra = load_checkpoint(path)
    cfg = model.config
    game_extra = extra.get("game", {}) if isinstance(extra.get("game", {}), dict) else {}
    try:
        max_steps = game_extra.get("max_steps")
        game = GameConfig(max_side=cfg.max_side, history=cfg.history, coefficients=cfg.coefficients,
                          max_steps=None if max_steps in (None, 0) else int(max_steps),
                          penalty_scale=int(game_extra.get("penalty_scale", 1)),
                          cyclic=bool(game_extra.get("cyclic", False)))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: bad game settings in the checkpoint ({exc})") from None
    mcts = extra.get("mcts", {}) if isinstance(extra.get("mcts", {}), dict) else {}
    try:
        games = None if extra.get("games") is None else int(extra["games"])
        warmup = None if extra.get("warmup_steps") is None else int(extra["warmup_steps"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: bad training progress in the checkpoint ({exc})") from None
    model.eval()
    expert = extra.get("expert")
    return Agent(model, game, dict(mcts), int(step), str(path), games, warmup,
                 expert if isinstance(expert, str) else None)


def untrained_agent(like: Agent, seed: int = 0) -> Agent:
    """A freshly initialised network of the same shape and settings (the baseline
    that shows whether training taught anything)."""
    import torch

    torch.manual_seed(int(seed))
    model = AlphaTensorNet(like.config)
    model.eval()
    return Agent(model, like.game, dict(like.mcts), 0, "untrained")


def search_config(agent: Agent, *, simulations: int | None = None, samples: int | None = None,
                  temperature: float = 0.0) -> MCTSConfig:
    """Evaluation settings (see the module doc)."""
    known = {"num_simulations", "num_samples", "c1", "c2", "dirichlet_alpha", "temperature",
             "sampling_temperature", "leaf_batch", "dirichlet_fraction"}
    values = {k: v for k, v in agent.mcts.items() if k in known}
    values.update(dirichlet_fraction=0.0, temperature=float(temperature))
    if simulations is not None:
        values["num_simulations"] = int(simulations)
    if samples is not None:
        values["num_samples"] = int(samples)
    try:
        return MCTSConfig(**values)
    except (TypeError, ValueError) as exc:
        from tensorgame.errors import TensorGameError

        raise TensorGameError(f"bad search settings: {exc}") from None


@dataclass
class DiscoverResult:
    """What a discovery session achieved."""

    target: str
    ring: str
    episodes: int
    solved: int
    best_rank: int | None
    best_count: int  # episodes that reached the best rank
    rank_counts: dict[int, int]
    seconds: float
    simulations: int
    samples: int
    best_scheme: Scheme | None = None
    stored: list[int] = field(default_factory=list)  # catalogue ids of the schemes stored
    new_in_catalog: int = 0
    # unsolved games over Z_p completed by the slice decomposition of their residual
    # (agent moves + an algebraic tail; reported apart from the agent-alone results)
    best_completed: Scheme | None = None

    @property
    def best_completed_rank(self) -> int | None:
        return None if self.best_completed is None else self.best_completed.rank

    def count_at_most(self, rank: int) -> int:
        return sum(c for r, c in self.rank_counts.items() if r <= rank)

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "ring": self.ring, "episodes": self.episodes,
                "solved": self.solved, "best_rank": self.best_rank, "best_count": self.best_count,
                "rank_counts": {str(k): v for k, v in sorted(self.rank_counts.items())},
                "seconds": round(self.seconds, 3), "simulations": self.simulations,
                "samples": self.samples, "catalog_ids": sorted(set(self.stored)),
                "new_in_catalog": self.new_in_catalog,
                "best_completed_rank": self.best_completed_rank}


def discover(agent: Agent, target: Target, ring: Ring | str, *, episodes: int = 32,
             simulations: int | None = None, samples: int | None = None,
             time_limit_s: float | None = None, seed: int = 0, batch: int = 16,
             bases: int = 0, temperature: float = 0.0, catalog: Any = None,
             on_progress: Callable[[dict[str, Any]], None] | None = None) -> DiscoverResult:
    """Play up to ``episodes`` games of ``target`` over ``ring`` (``batch`` at a time)
    within ``time_limit_s``; ``bases`` > 0 plays each game in a random basis of a pool
    of that many (0: the canonical basis). Into ``catalog`` go only the schemes that
    :func:`worth_storing` admits against this session's best so far. ``on_progress``
    sees the counts after each batch. Returns counts and the best scheme."""
    single_thread()
    ring = parse_ring(ring)
    if max(target.dims) > agent.game.max_side:
        from tensorgame.errors import TensorGameError

        raise TensorGameError(f"{target.name} has sides {target.dims}; the checkpoint's network "
                              f"plays sides up to {agent.game.max_side}")
    if bases > 0 and agent.game.plays_cyclic(target):
        from tensorgame.errors import TensorGameError

        raise TensorGameError(f"this network plays {target.name} with cyclic moves, in the "
                              "canonical basis only: drop --bases")
    env = TensorGame(agent.game)
    config = search_config(agent, simulations=simulations, samples=samples, temperature=temperature)
    pool = (BasisPool(target.dims, bases + 1, seed=seed + 104729, max_entry=DEFAULT_BASIS_MAX_ENTRY)
            if bases > 0 else None)
    naive = target.naive_rank
    start = time.perf_counter()
    played = solved = 0
    counts: Counter[int] = Counter()
    best: Scheme | None = None
    stored: list[int] = []
    new = 0
    completed: Scheme | None = None
    round_ = 0
    while played < episodes:
        if time_limit_s is not None and time.perf_counter() - start >= time_limit_s:
            break
        n = min(batch, episodes - played)
        batch_seed = int(np.random.SeedSequence([seed, round_]).generate_state(1, np.uint32)[0])
        rng = np.random.default_rng(batch_seed)
        ids = [int(rng.integers(0, pool.size)) if pool is not None else 0 for _ in range(n)]
        basis_list = [None if i == 0 or pool is None else pool[i] for i in ids]
        evaluator = NetworkEvaluator(agent.model, temperature=config.sampling_temperature, seed=batch_seed)
        results = play_episode(env, target, ring, basis_list, evaluator=evaluator, config=config,
                               rng=rng, batch=n, complete_unsolved=True)
        for g, r in enumerate(results):
            if r.completed is not None and (completed is None or r.completed.rank < completed.rank):
                completed = r.completed
            if r.scheme is None:
                continue
            solved += 1
            counts[r.scheme.rank] += 1
            keep = worth_storing(r.scheme.rank, naive, None if best is None else best.rank)
            if best is None or r.scheme.rank < best.rank:
                best = r.scheme
            if catalog is not None and keep:
                prov = {"checkpoint": Path(agent.origin).name, "step": agent.step,
                        "seed": seed, "episode": played + g, "basis": ids[g]}
                if agent.expert:
                    prov["expert"] = agent.expert
                source = json.dumps(prov, separators=(",", ":"))
                added = catalog.add(r.scheme, method=METHOD, seed=batch_seed, source=source,
                                    elapsed_s=time.perf_counter() - start)
                stored.append(added.id)
                new += int(added.inserted)
        played += n
        round_ += 1
        if on_progress is not None:
            on_progress({"played": played, "solved": solved, "best_rank": None if best is None else best.rank,
                         "seconds": time.perf_counter() - start})
    best_rank = None if best is None else best.rank
    return DiscoverResult(target.name, str(ring), played, solved, best_rank,
                          counts.get(best_rank, 0) if best_rank is not None else 0, dict(counts),
                          time.perf_counter() - start, config.num_simulations, config.num_samples,
                          best, stored, new, completed)


#: Games the agent plays for a flip start (``flip --start agent``).
START_EPISODES = 32


def agent_start(target: Target, ring: Ring | str, checkpoint: str | Path = BUNDLED, *,
                episodes: int = START_EPISODES, seed: int = 0) -> tuple[Scheme, str]:
    """A start scheme for the flip graph from the agent's own games (the hybrid of issue
    12, point 4a): the best of ``episodes`` games of ``target`` over ``ring``, a solved
    game or, over Z_p, an unsolved one completed by its residual's slice decomposition;
    with the provenance line its descendants are labelled with in the catalogue."""
    from tensorgame.errors import TensorGameError

    ring = parse_ring(ring)
    agent = load_agent(checkpoint_path(checkpoint, target, ring))
    res = discover(agent, target, ring, episodes=episodes, seed=seed)
    candidates = [s for s in (res.best_scheme, res.best_completed) if s is not None]
    if not candidates:
        raise TensorGameError(f"the agent ({Path(agent.origin).name}) solved none of {res.episodes} games of "
                              f"{target.name} over {ring}, and unsolved games are completed only over Z_p: "
                              "no start scheme (try --ring Z2)")
    best = min(candidates, key=lambda s: s.rank)
    how = "a solved game" if best is res.best_scheme else "an unsolved game completed by slice decomposition"
    note = (f"agent start: {Path(agent.origin).name} step {agent.step}, best of {res.episodes} games over "
            f"{ring} ({how}, rank {best.rank})")
    return best, note
