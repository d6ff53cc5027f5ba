"""Sampled MCTS over one or several roots at once.

One search runs ``num_simulations`` simulations for every root. A round selects up
to ``leaf_batch`` leaves in every tree (compiled pUCT descent with virtual loss),
plays their moves in one ``take`` + one batched ``env.step`` from their parents'
stored states, evaluates all non-terminal leaves of all trees in **one** evaluator
call, creates their children from the samples (duplicates merged, priors = corrected
empirical frequencies) and backs the values up (compiled). Leaves that end the game
back up 0 after their reward, which already holds the terminal penalty if the step
limit was hit with a non-zero residual.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tensorgame.game.env import TensorGame
from tensorgame.game.errors import GameError
from tensorgame.game.state import GameState
from tensorgame.search.mcts._kernels import backup_kernel, expand_kernel, select_kernel
from tensorgame.search.mcts.config import MCTSConfig
from tensorgame.search.mcts.tree import Tree
from tensorgame.search.mcts.types import Evaluation, Evaluator


@dataclass(frozen=True)
class SearchOutput:
    """Result of a search over R roots; per-root candidate arrays are padded to the
    largest child count C (entries past ``num_children[r]`` are zero).

    ``root_moves`` (R, C, 3, S) int8: the distinct candidate moves of each root;
    ``visit_counts`` (R, C); ``improved_policy`` (R, C) float32: visit distribution,
    the policy training target (the priors if no simulation ran); ``priors`` (R, C) float32: the priors used (with root
    noise); ``chosen`` (R,) index of the move picked (per ``temperature``) and
    ``chosen_move`` (R, 3, S) the move itself; ``root_value`` (R,) float32: the
    root's mean backed-up return; ``tree``: the forest, for :func:`~.tree.advance`.
    """

    root_moves: np.ndarray
    num_children: np.ndarray
    visit_counts: np.ndarray
    improved_policy: np.ndarray
    priors: np.ndarray
    chosen: np.ndarray
    chosen_move: np.ndarray
    root_value: np.ndarray
    tree: Tree


def _check_evaluation(ev: Evaluation, batch: int, k: int, side: int) -> Evaluation:
    """Shapes and dtypes of an evaluator's answer (an evaluator bug should fail here,
    loudly, not deep inside a compiled kernel)."""
    moves = np.asarray(ev.moves)
    if moves.shape != (batch, k, 3, side):
        raise ValueError(f"evaluator moves: expected shape {(batch, k, 3, side)}, got {moves.shape}")
    if moves.dtype != np.int8:
        if moves.dtype.kind not in "iu" or moves.min() < -127 or moves.max() > 127:
            raise ValueError(f"evaluator moves must be int8 coefficients, got {moves.dtype}")
        moves = moves.astype(np.int8)
    log_probs = np.asarray(ev.log_probs, dtype=np.float64)
    if log_probs.shape != (batch, k):
        raise ValueError(f"evaluator log_probs: expected shape {(batch, k)}, got {log_probs.shape}")
    values = np.asarray(ev.values, dtype=np.float64)
    if values.shape != (batch,):
        raise ValueError(f"evaluator values: expected shape {(batch,)}, got {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError("evaluator returned a non-finite value")
    return Evaluation(np.ascontiguousarray(moves), np.ascontiguousarray(log_probs), values)


def _evaluate_and_expand(tree: Tree, nodes: np.ndarray, states: GameState, evaluator: Evaluator,
                         config: MCTSConfig) -> np.ndarray:
    """Evaluate the (non-terminal) ``nodes`` whose states are ``states``, create their
    children from the samples; returns the values."""
    k = config.num_samples
    ev = _check_evaluation(evaluator(states.observation(), k, states.dims), len(nodes), k,
                           states.side)
    tree.size = int(expand_kernel(nodes, ev.moves, ev.log_probs, config.sampling_temperature - 1.0,
                                  tree.size, *tree.node_arrays(), tree.moves))
    return ev.values


def _expand_roots(tree: Tree, state: GameState, evaluator: Evaluator, config: MCTSConfig) -> None:
    """Store, evaluate and expand the roots whose state the tree does not hold yet."""
    fresh = np.flatnonzero(tree.state_row[tree.roots] < 0)
    if fresh.size == 0:
        return
    nodes = tree.roots[fresh]
    sub = state.take(fresh)
    tree.state_row[nodes] = tree.add_states(sub)
    tree.reward[nodes] = 0.0
    tree.terminal[nodes] = False
    values = _evaluate_and_expand(tree, nodes, sub, evaluator, config)
    backup_kernel(nodes, fresh.astype(np.int64), values, False, tree.parent, tree.visits,
                  tree.pending, tree.value_sum, tree.reward, tree.qmin, tree.qmax)


def _check_roots(tree: Tree, state: GameState) -> None:
    """A reused forest must hold these very games at its roots (one per game)."""
    if tree.num_roots != state.batch_size:
        raise ValueError(f"tree has {tree.num_roots} roots for {state.batch_size} games")
    rows = tree.state_row[tree.roots]
    held = np.flatnonzero(rows >= 0)
    if held.size and tree.states is not None:
        stored = tree.states.take(rows[held])
        if not (np.array_equal(stored.residual, state.residual[held])
                and np.array_equal(stored.step, state.step[held])
                and np.array_equal(stored.spec, state.spec[held])):
            raise ValueError("the reused tree's roots are not the given games' states")


def _add_root_noise(tree: Tree, config: MCTSConfig, rng: np.random.Generator) -> None:
    """Mix Dirichlet noise into each root's children priors, in place: a root's priors
    only matter while it is a root, and advance discards it (searching the same root
    twice without advancing mixes noise in twice)."""
    for root in tree.roots:
        kids = tree.children(int(root))
        noise = rng.dirichlet(np.full(len(kids), config.dirichlet_alpha))
        tree.prior[kids] = (1.0 - config.dirichlet_fraction) * tree.prior[kids] + \
            config.dirichlet_fraction * noise


def _simulate(env: TensorGame, tree: Tree, evaluator: Evaluator, config: MCTSConfig) -> None:
    """Run every tree's simulations, ``leaf_batch`` leaves per tree and round."""
    num_roots = tree.num_roots
    budget = np.full(num_roots, config.num_simulations, dtype=np.int64)
    leaves = np.empty(num_roots * config.leaf_batch, dtype=np.int64)
    leaf_tree = np.empty_like(leaves)
    store = tree.states
    while budget.any():
        n = select_kernel(tree.roots, budget, config.leaf_batch, tree.parent, tree.first_child,
                          tree.num_children, tree.visits, tree.pending, tree.value_sum,
                          tree.reward, tree.prior, tree.terminal, tree.state_row, tree.qmin,
                          tree.qmax, config.c1, config.c2, leaves, leaf_tree)
        if n == 0:
            continue  # every descent of the round ended at a terminal node
        nodes, trees = leaves[:n].copy(), leaf_tree[:n].copy()
        children = store.take(tree.state_row[tree.parent[nodes]])
        rewards = env.step(children, tree.moves[nodes])
        tree.state_row[nodes] = tree.add_states(children)
        tree.reward[nodes] = rewards
        tree.terminal[nodes] = children.done
        values = np.zeros(n, dtype=np.float64)
        live = np.flatnonzero(~children.done)
        if live.size:
            sub = children if live.size == n else children.take(live)
            values[live] = _evaluate_and_expand(tree, nodes[live], sub, evaluator, config)
        backup_kernel(nodes, trees, values, True, tree.parent, tree.visits, tree.pending,
                      tree.value_sum, tree.reward, tree.qmin, tree.qmax)


def _choose(visits: np.ndarray, priors: np.ndarray, temperature: float,
            rng: np.random.Generator) -> int:
    if temperature == 0.0 or visits.sum() == 0:
        best = np.flatnonzero(visits == visits.max())
        return int(best[np.argmax(priors[best])])
    weights = (visits / visits.max()) ** (1.0 / temperature)
    return int(rng.choice(len(visits), p=weights / weights.sum()))


def run_search(env: TensorGame, state: GameState, evaluator: Evaluator, config: MCTSConfig,
               rng: np.random.Generator, tree: Tree | None = None) -> SearchOutput:
    """Search from every game of ``state`` (R unfinished games, one tree each).

    ``tree``: a forest from :func:`~.tree.advance` whose roots are these games (their
    statistics are kept; ``num_simulations`` more are run on top), or None to start
    afresh. ``rng`` draws the root noise and the final move choice; the evaluator's own
    sampling is its business (seed it for reproducible searches).
    """
    if state.batch_size == 0:
        raise ValueError("nothing to search: the state holds no games")
    if state.done.any():
        raise GameError(f"games {np.flatnonzero(state.done).tolist()} are finished: nothing to search")
    if tree is None:
        tree = Tree.new(state.batch_size, state.side)
    else:
        _check_roots(tree, state)
    r, k = state.batch_size, config.num_samples
    expansions = r * (config.num_simulations + 1)
    tree.reserve(nodes=expansions * k, states=expansions, template=state)
    _expand_roots(tree, state, evaluator, config)
    if config.dirichlet_fraction > 0:
        _add_root_noise(tree, config, rng)
    _simulate(env, tree, evaluator, config)

    counts = tree.num_children[tree.roots]
    width = int(counts.max())
    side = state.side
    root_moves = np.zeros((r, width, 3, side), dtype=np.int8)
    visit_counts = np.zeros((r, width), dtype=np.int64)
    priors = np.zeros((r, width), dtype=np.float32)
    chosen = np.empty(r, dtype=np.int64)
    for i, root in enumerate(tree.roots):
        kids = tree.children(int(root))
        c = len(kids)
        root_moves[i, :c] = tree.moves[kids]
        visit_counts[i, :c] = tree.visits[kids]
        priors[i, :c] = tree.prior[kids]
        chosen[i] = _choose(visit_counts[i, :c], priors[i, :c], config.temperature, rng)
    total = visit_counts.sum(axis=1, keepdims=True)
    policy = np.where(total > 0, visit_counts / np.maximum(total, 1), priors).astype(np.float32)
    root_value = (tree.value_sum[tree.roots] / tree.visits[tree.roots]).astype(np.float32)
    return SearchOutput(root_moves=root_moves, num_children=counts.copy(), visit_counts=visit_counts,
                        improved_policy=policy, priors=priors, chosen=chosen,
                        chosen_move=root_moves[np.arange(r), chosen].copy(), root_value=root_value,
                        tree=tree)
