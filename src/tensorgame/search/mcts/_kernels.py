"""Compiled hot paths of the search over the flat node arrays of a :class:`~.tree.Tree`.

Per simulation the interpreted code does nothing per node: selection down the tree
(pUCT with virtual loss), backup up the path, the creation of a node's children from
the evaluator's samples (merging duplicates, computing priors) and the re-rooting
copy of a subtree all run here, over whole batches of leaves per call.

Node arrays (indexed by node): ``parent`` (-1 for a root), ``first_child`` and
``num_children`` (children are contiguous), ``visits``, ``pending`` (virtual visits
of leaves in flight), ``value_sum`` (sum of returns from the node's state on),
``reward`` (of the move into the node), ``prior``, ``terminal``, ``state_row`` (row of
the node's state in the state store, -1 until its move has been played) and ``moves``
(N, 3, S). Per tree: ``qmin``/``qmax``, the range of the Q values seen.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _best_child(node, t, first_child, num_children, visits, pending, value_sum, reward,
                prior, qmin, qmax, c1, c2):  # pragma: no cover - compiled
    """The pUCT argmax among the children of an expanded node of tree t.

    Pending (virtual) visits count as visits with the tree's worst Q, so leaves already
    chosen this round look worse and the next descent tends to go elsewhere.
    """
    n_parent = visits[node] + pending[node]
    explore = np.sqrt(n_parent) * (c1 + np.log((n_parent + c2 + 1.0) / c2))
    lo = qmin[t]
    span = qmax[t] - lo
    v_parent = value_sum[node] / visits[node]
    best = -1
    best_score = -np.inf
    start = first_child[node]
    for c in range(start, start + num_children[node]):
        n = visits[c]
        p = pending[c]
        qn = 0.0
        if span > 0.0:
            if n + p == 0:
                q = v_parent
            else:
                q = (n * reward[c] + value_sum[c] + p * lo) / (n + p)
            qn = min(max((q - lo) / span, 0.0), 1.0)
        score = qn + prior[c] * explore / (1.0 + n + p)
        if score > best_score:
            best_score = score
            best = c
    return best


@njit(cache=True)
def _backup(leaf, t, value, release, parent, visits, pending, value_sum, reward, qmin,
            qmax):  # pragma: no cover - compiled
    """Add one visit with return ``value`` from ``leaf`` on, up to the root; each step
    up adds the reward of the move into the node just left. ``release`` removes the
    virtual visit the selection put on the path."""
    g = value
    node = leaf
    while node >= 0:
        visits[node] += 1
        value_sum[node] += g
        if release:
            pending[node] -= 1
        up = parent[node]
        if up >= 0:
            q = reward[node] + value_sum[node] / visits[node]
            if q < qmin[t]:
                qmin[t] = q
            if q > qmax[t]:
                qmax[t] = q
        g += reward[node]
        node = up


@njit(cache=True)
def backup_kernel(leaves, trees, values, release, parent, visits, pending, value_sum, reward,
                  qmin, qmax):  # pragma: no cover - compiled
    """Back up a batch of evaluated leaves (see :func:`_backup`)."""
    for i in range(leaves.shape[0]):
        _backup(leaves[i], trees[i], values[i], release, parent, visits, pending, value_sum,
                reward, qmin, qmax)


@njit(cache=True)
def select_kernel(roots, budget, leaf_batch, parent, first_child, num_children, visits, pending,
                  value_sum, reward, prior, terminal, state_row, qmin, qmax, c1, c2, leaves,
                  leaf_tree):  # pragma: no cover - compiled
    """Select up to ``leaf_batch`` new leaves per tree; returns how many were written.

    A descent ends at a child whose move has not been played yet (a leaf: it gets a
    virtual visit on its whole path) or at a terminal node (its exact value, 0, is
    backed up at once). Each descent spends one unit of the tree's ``budget``. A
    descent that reaches a leaf already in flight ends the tree's round without
    spending anything: that leaf's evaluation is needed first.
    """
    n = 0
    for t in range(roots.shape[0]):
        for _ in range(min(leaf_batch, budget[t])):
            node = roots[t]
            while True:
                child = _best_child(node, t, first_child, num_children, visits, pending,
                                    value_sum, reward, prior, qmin, qmax, c1, c2)
                if state_row[child] < 0 or terminal[child]:
                    break
                node = child
            if state_row[child] >= 0:
                _backup(child, t, 0.0, False, parent, visits, pending, value_sum, reward,
                        qmin, qmax)
            elif pending[child] > 0:
                break
            else:
                x = child
                while x >= 0:
                    pending[x] += 1
                    x = parent[x]
                leaves[n] = child
                leaf_tree[n] = t
                n += 1
            budget[t] -= 1
    return n


@njit(cache=True)
def expand_kernel(nodes, samples, log_probs, power, size, parent, first_child, num_children,
                  visits, pending, value_sum, reward, prior, terminal, state_row,
                  moves):  # pragma: no cover - compiled
    """Give each node its children: the distinct moves among its K samples, in order of
    first appearance, with prior ∝ count·β^power (power = τ - 1; see MCTSConfig).
    New nodes are written from index ``size`` on; returns the new size."""
    k_samples = samples.shape[1]
    side = samples.shape[3]
    logp = np.empty(k_samples, dtype=np.float64)
    for m in range(nodes.shape[0]):
        start = size
        for k in range(k_samples):
            found = -1
            for j in range(start, size):
                same = True
                for f in range(3):
                    for x in range(side):
                        if moves[j, f, x] != samples[m, k, f, x]:
                            same = False
                            break
                    if not same:
                        break
                if same:
                    found = j
                    break
            if found >= 0:
                prior[found] += 1.0
                continue
            j = size
            size += 1
            for f in range(3):
                for x in range(side):
                    moves[j, f, x] = samples[m, k, f, x]
            parent[j] = nodes[m]
            first_child[j] = 0
            num_children[j] = 0
            visits[j] = 0
            pending[j] = 0
            value_sum[j] = 0.0
            reward[j] = 0.0
            terminal[j] = False
            state_row[j] = -1
            prior[j] = 1.0
            logp[j - start] = log_probs[m, k]
        if power != 0.0:
            top = -np.inf
            for j in range(start, size):
                top = max(top, logp[j - start])
            for j in range(start, size):
                prior[j] *= np.exp(power * (logp[j - start] - top))
        total = 0.0
        for j in range(start, size):
            total += prior[j]
        for j in range(start, size):
            prior[j] /= total
        first_child[nodes[m]] = start
        num_children[nodes[m]] = size - start
    return size


@njit(cache=True)
def subtree_kernel(new_roots, first_child, num_children, order, new_parent, new_first,
                   tree_start):  # pragma: no cover - compiled
    """Breadth-first renumbering of the subtrees under ``new_roots`` (one tree after the
    other): ``order[i]`` is the old id of new node i; children stay contiguous. Writes
    the new parent/first-child links and where each tree starts; returns the count."""
    size = 0
    for t in range(new_roots.shape[0]):
        tree_start[t] = size
        head = size
        order[size] = new_roots[t]
        new_parent[size] = -1
        size += 1
        while head < size:
            old = order[head]
            count = num_children[old]
            new_first[head] = size if count > 0 else 0
            for c in range(first_child[old], first_child[old] + count):
                order[size] = c
                new_parent[size] = head
                size += 1
            head += 1
    return size
