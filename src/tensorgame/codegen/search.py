"""Search over equivalent forms of a scheme for the one that needs the fewest additions.

A matmul scheme can be rewritten without changing what it computes: substituting
A -> P A Q⁻¹, B -> Q B S⁻¹ (and C -> P C S⁻¹) for unimodular P, Q, S gives another
scheme for the same target (:func:`tensorgame.tensors.symmetry.change_basis`), and for
square targets so do the cyclic rotation and the transposition. The rank stays, the
linear forms change, and so does what common-subexpression elimination can share:
Strassen's original form needs 18 additions, Winograd's equivalent one 15.

The search is a seeded random walk over elementary moves: one transvection
``row_i += ±row_j`` applied to one of P, Q, S (also on one Kronecker factor of a
composite side, so that Strassen ⊗ Strassen can become Winograd ⊗ Winograd), or a
rotation/transposition. A move is kept when the CSE cost does not increase and the
coefficients stay within a bound (by default the largest magnitude of the original,
at least 1: small coefficients keep scalings out of the program). Sideways moves let
it cross plateaus; after a run of moves without progress it restarts from the best
form found.

Term sign flips, (u, v, w) -> (-u, -v, w) or (-u, v, -w), are not searched: the
signed pair CSE is invariant under them (additions and scalings do not change), and
:func:`~tensorgame.codegen.program.assign_signs` chooses the stored sign of every
intermediate, which is what a flip changes, so as to avoid negation passes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tensorgame.codegen.cse import best_cse, greedy_cse
from tensorgame.codegen.program import LevelProgram, LinearProgram, build_level, c_side_matrix
from tensorgame.tensors.scheme import Scheme
from tensorgame.tensors.symmetry import change_basis, cyclic_rotation, transpose

#: Moves tried by default; enough for <2,2,2> to reach Winograd's 15 additions.
DEFAULT_ITERATIONS = 300
#: Randomly tie-broken CSE passes per map when compiling the chosen form.
DEFAULT_CSE_RESTARTS = 16
#: Moves without a new best form before the walk goes back to the best one.
_PATIENCE = 60

Move = Callable[[Scheme], Scheme]


@dataclass(frozen=True)
class FormSearch:
    """The outcome of :func:`optimise_scheme`, with before/after addition counts."""

    original: Scheme
    scheme: Scheme
    program: LevelProgram
    naive_additions: int
    cse_additions: int
    evaluated: int

    @property
    def additions(self) -> int:
        return self.program.additions

    def summary(self) -> dict[str, object]:
        """JSON-ready counts for reports."""
        return {
            "target": self.original.target.name,
            "ring": str(self.original.ring),
            "rank": self.original.rank,
            "additions_naive": self.naive_additions,
            "additions_cse": self.cse_additions,
            "additions_optimised": self.additions,
            "scalings": self.program.scalings,
            "negations": self.program.negations,
            "forms_evaluated": self.evaluated,
        }


class _Costs:
    """Greedy CSE cost of a scheme's three maps, memoised per map (a move changes two)."""

    def __init__(self) -> None:
        self.cache: dict[bytes, LinearProgram] = {}

    def program(self, matrix: np.ndarray) -> LinearProgram:
        matrix = np.ascontiguousarray(matrix, dtype=np.int64)
        key = np.asarray(matrix.shape, np.int64).tobytes() + matrix.tobytes()
        prog = self.cache.get(key)
        if prog is None:
            prog = self.cache[key] = greedy_cse(matrix)
        return prog

    def cost(self, scheme: Scheme) -> tuple[int, int]:
        a, b = self.program(scheme.u), self.program(scheme.v)
        c_matrix, divisors = c_side_matrix(scheme, a, b)
        c = self.program(c_matrix)
        scalings = a.op_scalings + b.op_scalings + c.op_scalings + c.output_scalings
        return (a.additions + b.additions + c.additions, scalings + sum(d != 1 for d in divisors))


def _transvection(size: int, i: int, j: int, sign: int) -> np.ndarray:
    mat = np.eye(size, dtype=np.int64)
    mat[i, j] = sign
    return mat


def _side_moves(size: int) -> list[np.ndarray]:
    """Transvections of one side; for a composite size d1·d2 also those acting on one
    factor of the Kronecker structure (E ⊗ I, I ⊗ E), so that a product scheme such as
    Strassen ⊗ Strassen can move towards Winograd ⊗ Winograd in single steps."""
    mats = [_transvection(size, i, j, s) for i in range(size) for j in range(size) if i != j for s in (1, -1)]
    for d1 in range(2, size):
        if size % d1 == 0 and size // d1 >= 2:
            d2 = size // d1
            mats += [np.kron(_transvection(d1, i, j, s), np.eye(d2, dtype=np.int64))
                     for i in range(d1) for j in range(d1) if i != j for s in (1, -1)]
            mats += [np.kron(np.eye(d1, dtype=np.int64), _transvection(d2, i, j, s))
                     for i in range(d2) for j in range(d2) if i != j for s in (1, -1)]
    return mats


def _moves(scheme: Scheme) -> list[Move]:
    """Elementary basis changes of each side, plus the symmetries of square targets."""
    dims = scheme.target.params
    moves: list[Move] = []
    for side, size in enumerate(dims):
        for mat in _side_moves(size):
            mats = [np.eye(d, dtype=np.int64) for d in dims]
            mats[side] = mat
            moves.append(lambda s, mats=mats: change_basis(s, *mats))
    n, m, p = dims
    if n == m == p:
        moves.append(cyclic_rotation)
    if n == p:
        moves.append(transpose)
    return moves


def _max_coefficient(scheme: Scheme) -> int:
    return int(max(np.abs(x).max(initial=0) for x in (scheme.u, scheme.v, scheme.w)))


def optimise_scheme(
    scheme: Scheme,
    *,
    iterations: int = DEFAULT_ITERATIONS,
    seed: int = 0,
    max_coefficient: int | None = None,
    cse_restarts: int = DEFAULT_CSE_RESTARTS,
) -> FormSearch:
    """An equivalent form of ``scheme`` (same target, ring and rank) whose CSE program
    has the fewest additions found in ``iterations`` moves; deterministic for a seed.

    Forms are compared by the deterministic greedy CSE; the chosen one is compiled
    with ``cse_restarts`` extra randomly tie-broken passes per map, which often saves a
    few more additions. Over Q, basis changes keep the denominators (unimodular).
    """
    start = scheme.without_zero_terms()
    costs = _Costs()
    bound = max(1, _max_coefficient(start)) if max_coefficient is None else max_coefficient
    rng = np.random.default_rng(seed)
    moves = _moves(start) if iterations > 0 else []
    current = best = start
    current_cost = best_cost = start_cost = costs.cost(start)
    evaluated, since_best = 1, 0
    for _ in range(iterations if moves else 0):  # a <1,1,1> scheme has no moves
        candidate = moves[int(rng.integers(len(moves)))](current)
        since_best += 1
        if _max_coefficient(candidate) <= bound:
            cost = costs.cost(candidate)
            evaluated += 1
            if cost <= current_cost:
                current, current_cost = candidate, cost
                if cost < best_cost:
                    best, best_cost, since_best = candidate, cost, 0
        if since_best >= _PATIENCE:
            current, current_cost, since_best = best, best_cost, 0
    program = build_level(best, lambda matrix: best_cse(matrix, cse_restarts, seed))
    if not (best.verify().ok and program.is_exact()):
        raise AssertionError("form search produced an incorrect program")  # a bug, never user input
    return FormSearch(scheme, best, program, scheme.additions, start_cost[0], evaluated)
