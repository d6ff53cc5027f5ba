"""Linear straight-line programs: the representation that code generation optimises.

One level of a bilinear scheme is three linear maps joined by R block products: the
A-side forms s_r (linear in A's blocks), the B-side forms t_r, the products
m_r = s_r·t_r, and the output sums C_k = Σ_r c_kr·m_r. Each map is a
:class:`LinearProgram`: binary operations ``node = a·x + b·y`` over earlier nodes, then
every output as ``coefficient·node``. One binary operation is one block addition or
subtraction, so :attr:`LinearProgram.additions` is exactly what the generated code
performs; coefficients other than ±1 are multiplications by constants (``scalings``).

All coefficients are integers, also for schemes over Q: a denominator of u or v (and
any factor left on an A- or B-side output) is moved onto the product, which only
rescales C-side coefficients; each output's rationals are put over their least common
denominator (its ``divisor``), which the generated code divides out once at the end.
Integer inputs therefore stay exact.

Signs are free in most places (a form may be computed negated if its consumers
compensate), so every node also gets a *stored sign* (:func:`assign_signs`): the sign
choice that avoids operations of the form ``-x - y``, which would cost an extra
negation pass. Additions and scalings do not depend on signs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from tensorgame.tensors.scheme import Scheme

#: A linear form: node id -> non-zero integer coefficient.
Form = dict[int, int]
#: Stored sign (+1 or -1) of every node of the A-, B- and C-side programs.
Signs = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]


@dataclass(frozen=True)
class LinOp:
    """``node = a·x + b·y`` with x, y earlier nodes and a, b non-zero integers."""

    a: int
    x: int
    b: int
    y: int


@dataclass(frozen=True)
class LinearProgram:
    """Evaluates y = M·x: inputs are nodes 0..n_inputs-1, op i defines node n_inputs+i,
    output j is ``outputs[j][0] · node outputs[j][1]``."""

    n_inputs: int
    ops: tuple[LinOp, ...]
    outputs: tuple[tuple[int, int], ...]

    @property
    def n_nodes(self) -> int:
        return self.n_inputs + len(self.ops)

    @property
    def additions(self) -> int:
        """Binary operations: each is one addition or subtraction of blocks."""
        return len(self.ops)

    @property
    def op_scalings(self) -> int:
        """Operand coefficients other than ±1 (a multiplication by a constant each)."""
        return sum((abs(op.a) != 1) + (abs(op.b) != 1) for op in self.ops)

    @property
    def output_scalings(self) -> int:
        """Outputs that are a multiple (other than ±1) of their node."""
        return sum(abs(c) != 1 for c, _ in self.outputs)

    def users(self) -> list[list[int]]:
        """For every node, the op nodes that read it (for liveness and sign choice)."""
        out: list[list[int]] = [[] for _ in range(self.n_nodes)]
        for i, op in enumerate(self.ops):
            node = self.n_inputs + i
            out[op.x].append(node)
            if op.y != op.x:
                out[op.y].append(node)
        return out

    def node_values(self) -> list[np.ndarray]:
        """Every node as exact integer coefficients over the inputs (object dtype)."""
        values = list(np.eye(self.n_inputs, dtype=object).astype(int).astype(object))
        for op in self.ops:
            values.append(op.a * values[op.x] + op.b * values[op.y])
        return values

    def matrix(self, with_coefficients: bool = True) -> np.ndarray:
        """The integer matrix M this program computes (outputs × inputs), by evaluating
        it on unit vectors; used to check that an optimised program is still exact.
        Without coefficients, row j is output j's node itself."""
        values = self.node_values()
        rows = [(c if with_coefficients else 1) * values[node] for c, node in self.outputs]
        return np.stack(rows) if rows else np.zeros((0, self.n_inputs), dtype=object)


def forms_of(matrix: np.ndarray) -> list[Form]:
    """The rows of an integer matrix as sparse forms over its columns."""
    return [{int(j): int(row[j]) for j in np.flatnonzero(row)} for row in np.asarray(matrix)]


def pair_coefficients(ci: int, cj: int) -> tuple[int, int]:
    """(ci, cj) divided by their gcd, first entry positive: the shape of the subexpression
    ``a·x_i + b·x_j`` of which ``ci·x_i + cj·x_j`` is a multiple."""
    g = math.gcd(ci, cj)
    a, b = ci // g, cj // g
    return (a, b) if a > 0 else (-a, -b)


def program_from_forms(n_inputs: int, ops: list[LinOp], forms: list[Form]) -> LinearProgram:
    """Finish a program: each remaining form with several terms becomes a chain of
    binary operations (no sharing left to exploit); one-term forms are outputs as they are.

    Raises ValueError for an empty form (an output that is identically zero cannot occur
    in a scheme without zero terms).
    """
    ops = list(ops)
    outputs = [append_form(n_inputs, ops, form) for form in forms]
    return LinearProgram(n_inputs, tuple(ops), tuple(outputs))


def append_form(n_inputs: int, ops: list[LinOp], form: Form) -> tuple[int, int]:
    """Append a chain of binary operations computing ``form`` (len(form) - 1 of them)
    to ``ops``; returns (coefficient, node) with form = coefficient·node.

    Raises ValueError for an empty form.
    """
    if not form:
        raise ValueError("a linear form of the program is identically zero")
    items = sorted(form.items())
    node, coef = items[0]
    for other, c in items[1:]:
        a, b = pair_coefficients(coef, c)
        ops.append(LinOp(a, node, b, other))
        coef = coef // a
        node = n_inputs + len(ops) - 1
    return coef, node


def naive_program(matrix: np.ndarray) -> LinearProgram:
    """Straightforward evaluation: every form on its own (Scheme.additions counts these)."""
    matrix = np.asarray(matrix)
    return program_from_forms(matrix.shape[1], [], forms_of(matrix))


@dataclass(frozen=True)
class LevelProgram:
    """One recursion level of a scheme as three linear programs plus stored signs.

    ``a`` maps vec(A)'s blocks to R outputs, ``b`` vec(B)'s blocks to R outputs;
    product r is (stored A-output r)·(stored B-output r); ``c`` maps those R products
    to vec(C)'s blocks, output k then divided by ``divisors[k]``. ``signs`` holds the
    stored sign of every node of a, b and c (C's inputs, the products, carry the product
    of their operands' signs);
    ``negations`` is the number of negation passes those signs still need.
    """

    scheme: Scheme
    a: LinearProgram
    b: LinearProgram
    c: LinearProgram
    divisors: tuple[int, ...]
    signs: Signs
    negations: int

    @property
    def rank(self) -> int:
        return len(self.a.outputs)

    @property
    def additions(self) -> int:
        return self.a.additions + self.b.additions + self.c.additions

    @property
    def scalings(self) -> int:
        """Multiplications by constants: operand coefficients, scaled outputs of C and
        the final division of each output that has a divisor (schemes over Q)."""
        divide = sum(d != 1 for d in self.divisors)
        return self.a.op_scalings + self.b.op_scalings + self.c.op_scalings + self.c.output_scalings + divide

    def bilinear_tensor(self) -> np.ndarray:
        """The tensor this program computes with output k multiplied by divisors[k], as
        exact integers (object dtype)."""
        ma, mb = self.a.matrix(with_coefficients=False), self.b.matrix(with_coefficients=False)
        mc = self.c.matrix()
        return np.einsum("ri,rj,kr->ijk", ma, mb, mc)

    def is_exact(self) -> bool:
        """Whether the program computes the scheme's target exactly (independent check
        of CSE, sign choice and the C-side rescaling)."""
        expected = self.scheme.target.tensor.astype(object) * np.asarray(self.divisors, dtype=object)
        return bool(np.array_equal(self.bilinear_tensor(), expected))


def c_side_matrix(scheme: Scheme, a: LinearProgram, b: LinearProgram) -> tuple[np.ndarray, tuple[int, ...]]:
    """The C-side map as an integer matrix (outputs × products) and each output's divisor.

    Product r is the plain product of the A- and B-side output *nodes*, so the true term
    carries the output coefficients of a and b and the scheme's denominators: output k
    gets w[r, k]·ca_r·cb_r / (du_r·dv_r·dw_r) times product r; each output (row) is put
    over the least common denominator of its coefficients.
    """
    rank = scheme.rank
    den = scheme.denominators if scheme.denominators is not None else np.ones((rank, 3), np.int64)
    scale = [
        Fraction(a.outputs[r][0] * b.outputs[r][0], int(den[r, 0] * den[r, 1] * den[r, 2]))
        for r in range(rank)
    ]
    entries = [[Fraction(int(scheme.w[r, k])) * scale[r] for r in range(rank)] for k in range(scheme.w.shape[1])]
    divisors = tuple(math.lcm(1, *(x.denominator for x in row)) for row in entries)
    matrix = [[int(x * d) for x in row] for row, d in zip(entries, divisors, strict=True)]
    return np.asarray(matrix, dtype=np.int64).reshape(scheme.w.shape[1], rank), divisors


def build_level(scheme: Scheme, cse: Callable[[np.ndarray], LinearProgram]) -> LevelProgram:
    """The level program of ``scheme`` with each linear map compiled by ``cse`` (pass
    :func:`naive_program` for no common-subexpression elimination)."""
    scheme = scheme.without_zero_terms()
    a = cse(scheme.u)
    b = cse(scheme.v)
    c_matrix, divisors = c_side_matrix(scheme, a, b)
    return level_from_programs(scheme, a, b, cse(c_matrix), divisors)


def level_from_programs(scheme: Scheme, a: LinearProgram, b: LinearProgram, c: LinearProgram,
                        divisors: tuple[int, ...]) -> LevelProgram:
    """A level from its three programs (C's inputs are the plain products of a's and b's
    output nodes), with stored signs chosen; not checked (see :meth:`LevelProgram.is_exact`)."""
    signs, negations = assign_signs(a, b, c)
    return LevelProgram(scheme, a, b, c, tuple(divisors), signs, negations)


def scale_inputs(prog: LinearProgram, scales: Sequence[int]) -> LinearProgram:
    """The program of M·diag(scales) for ``prog``'s M: every direct use of input i takes
    the factor scales[i], so additions stay the same. Re-expresses a C side when the
    products it reads are rescaled (another A- or B-side program for the same map may
    leave a different factor on an output)."""
    def scaled(coef: int, node: int) -> int:
        return coef * int(scales[node]) if node < prog.n_inputs else coef

    ops = tuple(LinOp(scaled(op.a, op.x), op.x, scaled(op.b, op.y), op.y) for op in prog.ops)
    return LinearProgram(prog.n_inputs, ops, tuple((scaled(c, node), node) for c, node in prog.outputs))


# --- sign choice -------------------------------------------------------------------------
# Variables are the stored signs of op nodes of a, b and c (inputs of A and B are the
# caller's blocks and stay positive; products inherit the product of their operands'
# signs; C's outputs must come out positive). An op costs a negation when both of its
# effective coefficients are negative, an output when its node is stored with the wrong
# sign. Local search over single and paired flips, with costs updated only where a
# flip matters, finds an assignment with few such passes.

class _SignProblem:
    """Costs of one sign assignment, item by item, with the items each sign touches."""

    def __init__(self, a: LinearProgram, b: LinearProgram, c: LinearProgram) -> None:
        self.progs = (a, b, c)
        self.signs = [[1] * a.n_nodes, [1] * b.n_nodes, [1] * c.n_nodes]
        self.operands = [(na, nb) for (_, na), (_, nb) in zip(a.outputs, b.outputs, strict=True)]
        users = [prog.users() for prog in self.progs]
        readers_of_product: list[list[tuple[str, int, int]]] = [
            [("op", 2, u) for u in users[2][r]] for r in range(c.n_inputs)
        ]
        for k, (_, node) in enumerate(c.outputs):
            if node < c.n_inputs:
                readers_of_product[node].append(("out", 2, k))
        self.items: dict[tuple[int, int], list[tuple[str, int, int]]] = {}
        for side, prog in enumerate(self.progs):
            for node in range(prog.n_inputs, prog.n_nodes):
                touched = [("op", side, node)] + [("op", side, u) for u in users[side][node]]
                if side == 2:
                    touched += [("out", 2, k) for k, (_, n) in enumerate(c.outputs) if n == node]
                else:
                    for r, pair in enumerate(self.operands):
                        if pair[side] == node:
                            touched += readers_of_product[r]
                self.items[(side, node)] = list(dict.fromkeys(touched))

    def sign(self, side: int, node: int) -> int:
        if side == 2 and node < self.progs[2].n_inputs:
            na, nb = self.operands[node]
            return self.signs[0][na] * self.signs[1][nb]
        return self.signs[side][node]

    def item_cost(self, item: tuple[str, int, int]) -> int:
        kind, side, index = item
        if kind == "out":
            coef, node = self.progs[2].outputs[index]
            return int(coef * self.sign(2, node) < 0)
        prog = self.progs[side]
        op = prog.ops[index - prog.n_inputs]
        s = self.sign(side, index)
        return int(s * self.sign(side, op.x) * op.a < 0 and s * self.sign(side, op.y) * op.b < 0)

    def total(self) -> int:
        ops = sum(
            self.item_cost(("op", side, node))
            for side, prog in enumerate(self.progs)
            for node in range(prog.n_inputs, prog.n_nodes)
        )
        return ops + sum(self.item_cost(("out", 2, k)) for k in range(len(self.progs[2].outputs)))

    def moves(self) -> list[tuple[tuple[int, int], ...]]:
        """Single flips, and each op node flipped together with one of its operands (or
        with the A- or B-side operand of a product it reads): a pair move is what turns
        ``-(x + y)`` into ``(-x) + y`` where no single flip helps."""
        moves: list[tuple[tuple[int, int], ...]] = [(var,) for var in self.items]
        for side, prog in enumerate(self.progs):
            for i, op in enumerate(prog.ops):
                node = (side, prog.n_inputs + i)
                for operand in {op.x, op.y}:
                    if operand >= prog.n_inputs:
                        moves.append((node, (side, operand)))
                    elif side == 2:
                        na, nb = self.operands[operand]
                        moves += [(node, var) for var in ((0, na), (1, nb)) if var in self.items]
        return moves

    def flip_gain(self, move: tuple[tuple[int, int], ...]) -> int:
        """Cost decrease if the signs in ``move`` were flipped."""
        items = list(dict.fromkeys(it for var in move for it in self.items[var]))
        before = sum(self.item_cost(it) for it in items)
        self.flip(move)
        after = sum(self.item_cost(it) for it in items)
        self.flip(move)
        return before - after

    def flip(self, move: tuple[tuple[int, int], ...]) -> None:
        for side, node in move:
            self.signs[side][node] *= -1

    def result(self) -> Signs:
        sa, sb, sc = (list(s) for s in self.signs)
        for r in range(self.progs[2].n_inputs):
            sc[r] = self.sign(2, r)
        return tuple(sa), tuple(sb), tuple(sc)


def assign_signs(a: LinearProgram, b: LinearProgram, c: LinearProgram) -> tuple[Signs, int]:
    """Stored signs with few negation passes (all-positive start, then improving single
    and paired flips), and the number of negation passes that remain."""
    problem = _SignProblem(a, b, c)
    moves = problem.moves()
    improved = True
    while improved:
        improved = False
        for move in moves:
            if problem.flip_gain(move) > 0:
                problem.flip(move)
                improved = True
    return problem.result(), problem.total()
