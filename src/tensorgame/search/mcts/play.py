"""Self-play: whole games driven by the search, with the AlphaZero training targets.

Several games are played together (one tree each, searched in one forest so every
evaluator call serves all of them); after each move every tree is re-rooted at the
move played, keeping its statistics. A game that ends leaves the forest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tensorgame.game.basis import Basis
from tensorgame.game.env import TensorGame
from tensorgame.game.state import GameState, Observation
from tensorgame.search.mcts.config import MCTSConfig
from tensorgame.search.mcts.search import run_search
from tensorgame.search.mcts.tree import Tree, advance
from tensorgame.search.mcts.types import Evaluator
from tensorgame.tensors.rings import Ring
from tensorgame.tensors.scheme import Scheme
from tensorgame.tensors.targets import Target


@dataclass(frozen=True)
class EpisodeResult:
    """One finished game, T moves long, and its per-step training targets.

    ``observations``: the observation before each move (T rows, copies);
    ``dims`` (3,) and ``modulus``: what a sampler needs to stay legal;
    ``candidates`` (T, C, 3, S) int8 and ``num_candidates`` (T,): each root's distinct
    candidate moves (padded); ``policies`` (T, C) float32: the improved policy (visit
    distribution) over them, the policy target; ``actions`` (T, 3, S) int8: the moves
    played; ``rewards`` (T,); ``returns_to_go`` (T,): Σ of rewards from step t on, the
    value target; ``root_values`` (T,) float32: the search's value of each root;
    ``total_return`` (the whole game's, moves made before the search included);
    ``scheme``: the decomposition in the canonical basis, verified,
    when the residual reached zero (else None); ``completed``: for a game over Z_p
    that ran out of moves, its moves plus the slice decomposition of the residual
    (see :meth:`TensorGame.completed_scheme`), verified; else None.
    """

    observations: Observation
    dims: np.ndarray
    modulus: int
    candidates: np.ndarray
    num_candidates: np.ndarray
    policies: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    returns_to_go: np.ndarray
    root_values: np.ndarray
    total_return: int
    scheme: Scheme | None
    completed: Scheme | None = None

    @property
    def num_moves(self) -> int:
        return int(self.actions.shape[0])

    @property
    def solved(self) -> bool:
        return self.scheme is not None


@dataclass
class _Record:
    """Per-game lists filled move by move."""

    residual: list[np.ndarray] = field(default_factory=list)
    history: list[np.ndarray] = field(default_factory=list)
    step: list[int] = field(default_factory=list)
    remaining: list[int] = field(default_factory=list)
    candidates: list[np.ndarray] = field(default_factory=list)
    policies: list[np.ndarray] = field(default_factory=list)
    actions: list[np.ndarray] = field(default_factory=list)
    rewards: list[int] = field(default_factory=list)
    root_values: list[float] = field(default_factory=list)


def _finish(env: TensorGame, state: GameState, game: int, rec: _Record, width: int,
            complete: bool) -> EpisodeResult:
    steps = len(rec.actions)
    side = state.side
    candidates = np.zeros((steps, width, 3, side), dtype=np.int8)
    policies = np.zeros((steps, width), dtype=np.float32)
    counts = np.zeros(steps, dtype=np.int64)
    for t, (c, p) in enumerate(zip(rec.candidates, rec.policies)):
        candidates[t, : len(c)] = c
        policies[t, : len(p)] = p
        counts[t] = len(c)
    rewards = np.asarray(rec.rewards, dtype=np.int64)
    modulus = int(state.modulus[game])
    obs = Observation(
        residual=np.stack(rec.residual) if steps else state.residual[:0].copy(),
        history=np.stack(rec.history) if steps else state.history[:0].copy(),
        step=np.asarray(rec.step, dtype=np.int64),
        remaining=np.asarray(rec.remaining, dtype=np.int64),
        modulus=np.full(steps, modulus, dtype=np.int64),
    )
    solved = bool(state.solved[game]) and steps > 0
    return EpisodeResult(
        observations=obs, dims=state.dims[game].copy(), modulus=modulus,
        candidates=candidates, num_candidates=counts, policies=policies,
        actions=np.stack(rec.actions) if steps else np.zeros((0, 3, side), dtype=np.int8),
        rewards=rewards, returns_to_go=np.cumsum(rewards[::-1])[::-1].copy(),
        root_values=np.asarray(rec.root_values, dtype=np.float32),
        total_return=int(state.returns[game]),
        scheme=env.scheme(state, game) if solved else None,
        completed=env.completed_scheme(state, game) if complete and modulus and not solved else None,
    )


def play_games(env: TensorGame, state: GameState, evaluator: Evaluator, config: MCTSConfig,
               rng: np.random.Generator, *, reuse_tree: bool = True,
               complete_unsolved: bool = False) -> list[EpisodeResult]:
    """Play every game of ``state`` (left unchanged) to its end, one search per move;
    returns one result per game, in order. ``complete_unsolved`` also builds each
    unsolved Z_p game's completed scheme (for evaluation; self-play does not need it)."""
    state = state.clone()
    records = [_Record() for _ in range(state.batch_size)]
    active = np.flatnonzero(~state.done)
    tree: Tree | None = None
    while active.size:
        roots = state.take(active)
        out = run_search(env, roots, evaluator, config, rng, tree)
        moves = np.zeros((state.batch_size, 3, state.side), dtype=np.int8)
        moves[active] = out.chosen_move
        rewards = env.step(state, moves)
        for i, g in enumerate(active):
            rec = records[g]
            c = int(out.num_children[i])
            rec.residual.append(roots.residual[i])
            rec.history.append(roots.history[i])
            rec.step.append(int(roots.step[i]))
            rec.remaining.append(int(roots.limit[i] - roots.step[i]))
            rec.candidates.append(out.root_moves[i, :c])
            rec.policies.append(out.improved_policy[i, :c])
            rec.actions.append(out.chosen_move[i])
            rec.rewards.append(int(rewards[g]))
            rec.root_values.append(float(out.root_value[i]))
        going = ~state.done[active]
        tree = advance(out.tree, np.where(going, out.chosen, -1)) if reuse_tree and going.any() else None
        active = active[going]
    width = max((len(c) for rec in records for c in rec.candidates), default=0)
    return [_finish(env, state, g, rec, width, complete_unsolved) for g, rec in enumerate(records)]


def play_episode(env: TensorGame,
                 targets: Target | np.ndarray | Sequence[Target | np.ndarray],
                 rings: Ring | str | Sequence[Ring | str] = "Z",
                 bases: Basis | None | Sequence[Basis | None] = None, *,
                 evaluator: Evaluator, config: MCTSConfig, rng: np.random.Generator,
                 batch: int | None = None, reuse_tree: bool = True,
                 complete_unsolved: bool = False,
                 prefixes: Sequence[np.ndarray | None] | None = None) -> list[EpisodeResult]:
    """Start games as :meth:`TensorGame.reset` does (one value or one per game for
    targets, rings and bases; ``batch`` repeats), play each game's ``prefixes`` entry
    (moves made before the search takes over; None: none) and then every game
    together; returns one :class:`EpisodeResult` per game (see :func:`play_games`)."""
    state = env.reset(targets, rings, bases, batch=batch)
    if prefixes is not None:
        games = [g for g, p in enumerate(prefixes) if p is not None and len(p)]
        env.advance(state, games, [prefixes[g] for g in games])
    return play_games(env, state, evaluator, config, rng, reuse_tree=reuse_tree,
                      complete_unsolved=complete_unsolved)
