"""Common-subexpression elimination for the linear maps of a scheme.

Greedy pair elimination (the usual baseline, e.g. for Strassen-like schemes): find the
pair of operands that occurs, with proportional coefficients, in the most linear forms;
compute it once as a new node ``a·x + b·y`` and substitute it everywhere; repeat while
some pair occurs at least twice. Signs are part of the pair (``x - y`` and ``y - x`` are
the same subexpression up to sign, ``x + y`` is another), so subtractions are shared
as well as additions. Every substitution saves (occurrences - 1) additions.

Pair occurrences are kept up to date incrementally (only the forms that change are
recounted), which keeps the pass fast enough to run inside the form search.
Ties between equally frequent pairs are broken by the smallest pair, or at random with
an ``rng``; :func:`best_cse` tries several random tie-breaks and keeps the cheapest.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import combinations

import numpy as np

from tensorgame.codegen.program import (
    Form,
    LinearProgram,
    LinOp,
    forms_of,
    pair_coefficients,
    program_from_forms,
)

#: A candidate subexpression: (x, a, y, b) for a·x + b·y with x < y, gcd(a, b) = 1, a > 0.
PairKey = tuple[int, int, int, int]


def _key(i: int, ci: int, j: int, cj: int) -> PairKey:
    if j < i:
        i, ci, j, cj = j, cj, i, ci
    a, b = pair_coefficients(ci, cj)
    return (i, a, j, b)


def greedy_cse(matrix: np.ndarray, rng: np.random.Generator | None = None) -> LinearProgram:
    """A program for y = matrix·x built by greedy pair elimination."""
    matrix = np.asarray(matrix)
    return complete_program(matrix.shape[1], [], forms_of(matrix), rng)


def complete_program(n_inputs: int, ops: list[LinOp], forms: list[Form],
                     rng: np.random.Generator | None = None) -> LinearProgram:
    """Greedy pair elimination continued from a partial program: ``ops`` are kept as
    they are and ``forms`` (the outputs, over inputs and those ops' nodes) are compiled
    on top of them; used to rebuild part of a program (:mod:`.additions`)."""
    ops = list(ops)
    forms = [dict(form) for form in forms]
    where: dict[PairKey, set[int]] = defaultdict(set)

    def index(f: int, sign: int) -> None:
        """Add (sign=+1) or remove (-1) form f's pairs from ``where``."""
        for (i, ci), (j, cj) in combinations(forms[f].items(), 2):
            key = _key(i, ci, j, cj)
            if sign > 0:
                where[key].add(f)
            else:
                where[key].discard(f)

    for f in range(len(forms)):
        index(f, +1)
    while True:
        best = max((len(fs) for fs in where.values()), default=0)
        if best < 2:
            break
        ties = sorted(k for k, fs in where.items() if len(fs) == best)
        x, a, y, b = ties[0] if rng is None else ties[int(rng.integers(len(ties)))]
        ops.append(LinOp(a, x, b, y))
        node = n_inputs + len(ops) - 1
        for f in sorted(where[(x, a, y, b)]):
            index(f, -1)
            form = forms[f]
            form[node] = form.pop(x) // a
            del form[y]
            index(f, +1)
        for key in [k for k, fs in where.items() if not fs]:
            del where[key]
    return program_from_forms(n_inputs, ops, forms)


def best_cse(matrix: np.ndarray, restarts: int = 0, seed: int = 0) -> LinearProgram:
    """The cheapest of the deterministic greedy pass and ``restarts`` randomly
    tie-broken ones (fewest additions, then fewest scalings)."""
    best = greedy_cse(matrix)
    rng = np.random.default_rng(seed)
    for _ in range(restarts):
        prog = greedy_cse(matrix, rng)
        if (prog.additions, prog.op_scalings) < (best.additions, best.op_scalings):
            best = prog
    return best
