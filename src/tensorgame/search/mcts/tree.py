"""A search forest in flat, preallocated numpy arrays, and re-rooting for tree reuse.

Nodes: one entry per (parent, distinct sampled move); the node arrays are described
in :mod:`._kernels`. Children are contiguous, so a node's move index in its parent is
``node - first_child[parent]`` and is not stored. Several trees (one per root game)
share the arrays, so one compiled call selects or backs up leaves of all of them.

Node states are stored whole: an expanded node owns one row of ``states``, a
:class:`GameState` batch used as a row store (grown by ``take``, written by ``put``).
A row holds the residual, history and played moves of the game at that node, so
expanding a leaf is one ``take`` of its parent's row plus one batched ``env.step``,
and a node's observation for the evaluator is read straight from its row. The
residual is most of a row (8 KB of ≈ 11.5 KB for <4,4,4> over Z at S = 16), so
keeping residuals only and replaying the parent chain for history and step counts
would save about a third of the memory and cost a replay per expansion. Unexpanded
children (the other K - 1 samples of a node, mostly) cost only their node entries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tensorgame.game.state import GameState
from tensorgame.search.mcts._kernels import subtree_kernel

#: Per-node arrays and their dtypes (``moves`` is (N, 3, S) int8 besides these).
NODE_FIELDS: dict[str, type] = {
    "parent": np.int64,
    "first_child": np.int64,
    "num_children": np.int64,
    "visits": np.int64,
    "pending": np.int64,
    "value_sum": np.float64,
    "reward": np.float64,
    "prior": np.float64,
    "terminal": np.bool_,
    "state_row": np.int64,
}


@dataclass(eq=False)
class Tree:
    """A forest of search trees, one per root game (see the module doc).

    ``size`` nodes and ``num_states`` state rows are in use; the arrays beyond are
    spare capacity. ``roots`` (R,) are the root node ids, ``qmin``/``qmax`` (R,) the
    range of Q values seen in each tree (for pUCT's min-max normalisation).
    """

    parent: np.ndarray
    first_child: np.ndarray
    num_children: np.ndarray
    visits: np.ndarray
    pending: np.ndarray
    value_sum: np.ndarray
    reward: np.ndarray
    prior: np.ndarray
    terminal: np.ndarray
    state_row: np.ndarray
    moves: np.ndarray
    roots: np.ndarray
    qmin: np.ndarray
    qmax: np.ndarray
    states: GameState | None = None
    size: int = 0
    num_states: int = 0

    @classmethod
    def new(cls, num_roots: int, side: int, capacity: int = 0) -> Tree:
        """A forest of ``num_roots`` unexpanded roots (their states come with the first
        search)."""
        cap = max(capacity, num_roots)
        arrays = {name: np.zeros(cap, dtype=dt) for name, dt in NODE_FIELDS.items()}
        arrays["parent"][:num_roots] = -1
        arrays["state_row"][:] = -1
        tree = cls(**arrays, moves=np.zeros((cap, 3, side), dtype=np.int8),
                   roots=np.arange(num_roots, dtype=np.int64),
                   qmin=np.full(num_roots, np.inf), qmax=np.full(num_roots, -np.inf))
        tree.size = num_roots
        return tree

    # --- sizes ---------------------------------------------------------------------------
    @property
    def num_roots(self) -> int:
        return int(self.roots.shape[0])

    @property
    def capacity(self) -> int:
        return int(self.parent.shape[0])

    def children(self, node: int) -> np.ndarray:
        """Node ids of the children of ``node`` (empty if unexpanded or terminal)."""
        start = int(self.first_child[node])
        return np.arange(start, start + int(self.num_children[node]))

    def node_arrays(self) -> tuple[np.ndarray, ...]:
        """The node arrays in :data:`NODE_FIELDS` order (kernel arguments)."""
        return tuple(getattr(self, name) for name in NODE_FIELDS)

    # --- growth --------------------------------------------------------------------------
    def reserve(self, nodes: int, states: int, template: GameState) -> None:
        """Make room for ``nodes`` more nodes and ``states`` more state rows, growing
        geometrically so repeated searches on a reused tree copy rarely. ``template``
        (any state of the same games) creates the row store on first use."""
        need = self.size + nodes
        if need > self.capacity:
            cap = max(need, 2 * self.capacity)
            for name, dt in NODE_FIELDS.items():
                grown = np.zeros(cap, dtype=dt)
                grown[: self.size] = getattr(self, name)[: self.size]
                setattr(self, name, grown)
            moves = np.zeros((cap,) + self.moves.shape[1:], dtype=np.int8)
            moves[: self.size] = self.moves[: self.size]
            self.moves = moves
        need = self.num_states + states
        if self.states is None:
            self.states = template.take(np.zeros(max(need, 1), dtype=np.int64))
        elif need > self.states.batch_size:
            cap = max(need, 2 * self.states.batch_size)
            rows = np.zeros(cap, dtype=np.int64)
            rows[: self.num_states] = np.arange(self.num_states)
            self.states = self.states.take(rows)

    def add_states(self, source: GameState) -> np.ndarray:
        """Append the games of ``source`` to the row store; returns their rows."""
        assert self.states is not None, "reserve() creates the store"
        rows = np.arange(self.num_states, self.num_states + source.batch_size)
        self.states.put(rows, source)
        self.num_states += source.batch_size
        return rows


def advance(tree: Tree, move_index: int | np.ndarray) -> Tree:
    """Re-root every tree at its chosen child, keeping the child's subtree statistics.

    ``move_index`` gives, per root, the position of the chosen move among the root's
    children (as in :class:`~.search.SearchOutput`), or -1 to drop that tree (its game
    is over). Returns a new, compact forest (the old one is left as it was): nodes and
    state rows outside the kept subtrees are discarded, and each tree's Q range is
    recomputed from what it keeps.
    """
    index = np.atleast_1d(np.asarray(move_index, dtype=np.int64))
    if index.shape != (tree.num_roots,):
        raise ValueError(f"need one move index per root ({tree.num_roots}), got {index.shape}")
    keep = index >= 0
    roots = tree.roots[keep]
    if np.any(index[keep] >= tree.num_children[roots]):
        raise ValueError("a move index is past its root's children (is the root expanded?)")
    new_roots = tree.first_child[roots] + index[keep]
    order = np.empty(tree.size, dtype=np.int64)
    new_parent = np.empty(tree.size, dtype=np.int64)
    new_first = np.empty(tree.size, dtype=np.int64)
    tree_start = np.empty(len(new_roots) + 1, dtype=np.int64)
    size = subtree_kernel(new_roots, tree.first_child, tree.num_children, order, new_parent,
                          new_first, tree_start)
    tree_start[-1] = size
    order = order[:size]
    arrays = {name: getattr(tree, name)[order] for name in NODE_FIELDS}
    arrays["parent"] = new_parent[:size]
    arrays["first_child"] = new_first[:size]
    old_rows = arrays["state_row"]
    expanded = old_rows >= 0
    new_rows = np.full(size, -1, dtype=np.int64)
    new_rows[expanded] = np.arange(int(expanded.sum()))
    arrays["state_row"] = new_rows
    states = tree.states.take(old_rows[expanded]) if tree.states is not None and expanded.any() else None
    # Q range of each kept tree: over its visited non-root nodes.
    visited = arrays["visits"] > 0
    q = arrays["reward"] + arrays["value_sum"] / np.maximum(arrays["visits"], 1)
    counted = visited & (arrays["parent"] >= 0)
    qmin = np.full(len(new_roots), np.inf)
    qmax = np.full(len(new_roots), -np.inf)
    for t in range(len(new_roots)):
        part = q[tree_start[t]: tree_start[t + 1]][counted[tree_start[t]: tree_start[t + 1]]]
        if part.size:
            qmin[t], qmax[t] = part.min(), part.max()
    out = Tree(**arrays, moves=tree.moves[order], roots=tree_start[:-1].copy(),
               qmin=qmin, qmax=qmax, states=states)
    out.size = size
    out.num_states = int(expanded.sum())
    return out
