"""Additive complexity: the fewest block additions found for one level of a scheme.

Counting basis (the FastMatrixMultiplication collection's ``complexity.reduced``):
one level is three linear maps (A's blocks -> the R left factors, B's blocks -> the R
right factors, the R products -> C's blocks); a map evaluated as a straight-line
program costs the sum over its rows and intermediates of (terms - 1), which is
exactly the number of binary operations of our :class:`LinearProgram`
(:attr:`LevelProgram.additions`). Multiplications by constants and negations are
not additions and are counted separately.

The minimiser starts from the equivalent-form search that code generation uses
(:func:`~tensorgame.codegen.search.optimise_scheme`; with a time budget it is rerun
with further seeds) and from a given starting program, e.g. the collection's, keeps
the better, then improves that program map by map with a destroy-and-repair search:
remove a few random intermediates (and what depends on them), rebuild the rest of the
map with randomly tie-broken greedy pair elimination (:func:`complete_program`), keep
the result when it needs no more additions. Every program returned is checked exact.
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from tensorgame.codegen.cse import complete_program
from tensorgame.codegen.generate import check_scheme
from tensorgame.codegen.program import (
    Form,
    LevelProgram,
    LinearProgram,
    LinOp,
    level_from_programs,
    scale_inputs,
)
from tensorgame.codegen.search import DEFAULT_ITERATIONS, optimise_scheme
from tensorgame.errors import TensorGameError
from tensorgame.tensors.scheme import Scheme

#: Destroy-and-repair rounds per call when no time budget is given (deterministic).
DEFAULT_ROUNDS = 600
#: At most this share of a map's intermediates is removed in one round.
_DESTROY_SHARE = 0.25


@dataclass(frozen=True)
class AdditionSearch:
    """The best program found for one level, with the counts along the way."""

    program: LevelProgram
    naive_additions: int
    cse_additions: int
    form_additions: int
    start_additions: int | None
    source: str
    rounds: int
    seed: int
    elapsed_s: float

    @property
    def additions(self) -> int:
        return self.program.additions

    def summary(self) -> dict[str, object]:
        """JSON-ready counts for reports."""
        target = self.program.scheme.target
        return {
            "target": target.name, "ring": str(self.program.scheme.ring), "rank": self.program.rank,
            "additions_naive": self.naive_additions, "additions_cse": self.cse_additions,
            "additions_form_search": self.form_additions, "additions_start": self.start_additions,
            "additions": self.additions, "scalings": self.program.scalings,
            "source": self.source, "rounds": self.rounds, "seed": self.seed,
            "elapsed_s": round(self.elapsed_s, 3),
        }


def prune(prog: LinearProgram) -> LinearProgram:
    """``prog`` without the operations no output depends on (renumbered)."""
    live = [False] * prog.n_nodes
    for _, node in prog.outputs:
        live[node] = True
    for i in range(len(prog.ops) - 1, -1, -1):
        if live[prog.n_inputs + i]:
            live[prog.ops[i].x] = live[prog.ops[i].y] = True
    new_id = list(range(prog.n_inputs)) + [0] * len(prog.ops)
    ops: list[LinOp] = []
    for i, op in enumerate(prog.ops):
        if live[prog.n_inputs + i]:
            new_id[prog.n_inputs + i] = prog.n_inputs + len(ops)
            ops.append(LinOp(op.a, new_id[op.x], op.b, new_id[op.y]))
    return LinearProgram(prog.n_inputs, tuple(ops), tuple((c, new_id[node]) for c, node in prog.outputs))


def rebuild(prog: LinearProgram, rng: np.random.Generator) -> LinearProgram:
    """One destroy-and-repair step: drop a random few operations and every operation
    that reads a dropped node, write the outputs over the nodes that remain, and compile
    them again by randomly tie-broken greedy pair elimination. The map is unchanged."""
    n_in = prog.n_inputs
    if not prog.ops:
        return prog
    size = int(rng.integers(1, max(2, int(len(prog.ops) * _DESTROY_SHARE) + 1)))
    dropped = set((n_in + rng.choice(len(prog.ops), size=size, replace=False)).tolist())
    forms: list[Form] = [{i: 1} for i in range(n_in)]
    kept: list[LinOp] = []
    for i, op in enumerate(prog.ops):
        node = n_in + i
        if node in dropped or op.x in dropped or op.y in dropped:
            dropped.add(node)
            form = {k: op.a * c for k, c in forms[op.x].items()}
            for k, c in forms[op.y].items():
                form[k] = form.get(k, 0) + op.b * c
            forms.append({k: c for k, c in form.items() if c})
        else:  # both operands are inputs or kept nodes: forms {new id: 1}
            kept.append(LinOp(op.a, next(iter(forms[op.x])), op.b, next(iter(forms[op.y]))))
            forms.append({n_in + len(kept) - 1: 1})
    outputs = []
    for coef, node in prog.outputs:
        form = {k: coef * c for k, c in forms[node].items()}
        if not form:
            return prog  # an identically zero output cannot be rebuilt; keep the program
        outputs.append(form)
    return prune(complete_program(n_in, kept, outputs, rng))


def _cost(prog: LinearProgram) -> tuple[int, int]:
    return prog.additions, prog.op_scalings + prog.output_scalings


def _product_scales(old: LinearProgram, new: LinearProgram) -> list[int] | None:
    """Factors that re-express the C side when one of A's or B's programs changes
    ``old`` -> ``new``: a product keeps its value when the factors left on its output
    nodes change, so its C-side coefficient is scaled; None where that is not integral."""
    scales = []
    for (c_old, _), (c_new, _) in zip(old.outputs, new.outputs, strict=True):
        ratio = Fraction(c_new, c_old)
        if ratio.denominator != 1:
            return None
        scales.append(int(ratio))
    return scales


def improve_level(level: LevelProgram, rounds: int, rng: np.random.Generator,
                  deadline: float | None = None) -> tuple[LevelProgram, int]:
    """Destroy-and-repair on each map of ``level`` in turn (``rounds`` in all, or until
    ``deadline`` on the monotonic clock); a change is kept when that map's program needs
    no more additions (ties: no more scalings). Returns the level and the rounds run."""
    a, b, c = level.a, level.b, level.c
    done = 0
    for done in range(1, rounds + 1):
        side = done % 3
        current = (a, b, c)[side]
        candidate = rebuild(current, rng)
        if _cost(candidate) <= _cost(current):
            if side == 2:
                c = candidate
            else:
                scales = _product_scales(current, candidate)
                if scales is not None:
                    c = scale_inputs(c, scales)
                    a, b = (candidate, b) if side == 0 else (a, candidate)
        if deadline is not None and _time.monotonic() >= deadline:
            break
    return level_from_programs(level.scheme, a, b, c, level.divisors), done


def minimise_additions(
    scheme: Scheme,
    *,
    start: LevelProgram | None = None,
    seconds: float | None = None,
    iterations: int = DEFAULT_ITERATIONS,
    rounds: int = DEFAULT_ROUNDS,
    seed: int = 0,
) -> AdditionSearch:
    """The program with the fewest additions found for one level of ``scheme`` (a
    verified matmul scheme over Z or Q).

    Candidates: codegen's equivalent-form search (``iterations`` moves, seed ``seed``)
    and ``start`` (an exact program for the same target and rank, e.g. the collection's
    addition-reduced one); the better is improved by ``rounds`` destroy-and-repair
    rounds. Deterministic for a seed without ``seconds``; with ``seconds`` the form
    search is repeated with further seeds for up to half of it and the rounds go on
    until it is spent. Never returns more additions than ``start``.
    """
    began = _time.monotonic()
    check_scheme(scheme)
    if start is not None:
        if start.scheme.target.key != scheme.target.key or start.rank != scheme.without_zero_terms().rank:
            raise TensorGameError(
                f"the starting program is for {start.scheme.target.name} with {start.rank} products, "
                f"not {scheme.target.name} with {scheme.rank}")
        if not start.is_exact():
            raise TensorGameError("the starting program does not compute the matrix product")
    deadline = None if seconds is None else began + seconds
    found = optimise_scheme(scheme, iterations=iterations, seed=seed)
    best, source = found.program, "form search"
    extra_seed, took = seed, _time.monotonic() - began
    while deadline is not None and _time.monotonic() + took < began + seconds / 2:  # type: ignore[operator]
        extra_seed += 1
        again = optimise_scheme(scheme, iterations=iterations, seed=extra_seed)
        if again.additions < best.additions:
            best = again.program
    form_additions = best.additions
    if start is not None and (start.additions, start.scalings) <= (best.additions, best.scalings):
        best, source = start, "start"
    rng = np.random.default_rng(seed)
    improved, done = improve_level(best, rounds if deadline is None else 2**62, rng, deadline)
    if improved.additions < best.additions:
        best, source = improved, f"{source} + rebuilding"
    if not best.is_exact():
        raise AssertionError("additions search produced an incorrect program")  # a bug, never user input
    return AdditionSearch(best, scheme.additions, found.cse_additions, form_additions,
                          None if start is None else start.additions, source, done, seed,
                          _time.monotonic() - began)
