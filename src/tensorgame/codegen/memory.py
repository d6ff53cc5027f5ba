"""Scheduling and buffer assignment for one level of a scheme.

The level program is lowered to single-pass steps -- ``add``, ``sub``, ``scale``,
``neg``, ``copy`` on blocks, and ``product`` (the recursive block product) -- in an
order that computes each product's operands just before it and folds every product
into the outputs as soon as it can (so products die young). Then every value gets a
storage, like register allocation by liveness:

* the blocks of A and B are views of the caller's arrays and are only ever read;
* each output C_k lives in C's own block k, and before it is defined that block is
  free scratch space: a C-sized temporary whose life ends by then may live there
  (this is how ``m + ...`` chains become ``C_k += ...`` accumulations);
* everything else goes to a small pool of A-, B- and C-block buffers; a buffer is
  reused as soon as its value is dead, and an elementwise step may overwrite an
  operand that dies at that step (``x += y``, ``np.add(x, y, out=x)``).

The pool sizes are the extra memory of one level; the generated module allocates one
pool per recursion level once per call (levels run one inside another, never side by
side), so the whole product needs Σ_levels (pool sizes × block sizes) extra elements.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tensorgame.codegen.program import LevelProgram, LinearProgram, LinOp

#: Random reorderings of the products tried by :func:`plan_level`, at most; large
#: levels get fewer (about _ORDER_BUDGET steps scheduled in all).
DEFAULT_ORDER_TRIES = 200
_ORDER_BUDGET = 30_000
ELEMENTWISE = frozenset({"add", "sub", "scale", "neg", "copy"})


@dataclass(frozen=True)
class Value:
    """A block-sized quantity: its readable name and its shape class (A, B or C block)."""

    name: str
    cls: str


@dataclass(frozen=True)
class Step:
    """One pass over blocks: ``dst = op(srcs)`` (``const`` is the factor of ``scale``)."""

    kind: str
    dst: int
    srcs: tuple[int, ...]
    const: int = 1


@dataclass(frozen=True)
class LevelPlan:
    """A scheduled, storage-assigned level: ``storage[v]`` names where value v lives
    (an input block, an output block, or pool buffer ``ta<i>``/``tb<i>``/``tc<i>``)."""

    program: LevelProgram
    values: tuple[Value, ...]
    steps: tuple[Step, ...]
    storage: tuple[str, ...]
    temps: tuple[int, int, int]
    a_blocks: tuple[str, ...]
    b_blocks: tuple[str, ...]
    c_blocks: tuple[str, ...]

    def describe(self, step: Step) -> str:
        """The step with logical names, e.g. ``s2 = s1 - a11`` (for comments)."""
        d = self.values[step.dst].name
        s = [self.values[v].name for v in step.srcs]
        if step.kind == "scale" and d == f"{step.const}*{s[0]}":
            return d  # a scaled operand, named by what it holds
        forms = {
            "add": f"{d} = {s[0]} + {s[-1]}",
            "sub": f"{d} = {s[0]} - {s[-1]}",
            "scale": f"{d} = {step.const}*{s[0]}",
            "neg": f"{d} = -{s[0]}",
            "copy": f"{d} = {s[0]}",
            "product": f"{d} = {s[0]} * {s[-1]}",
        }
        return forms[step.kind]


class _Lowering:
    """Emits steps for one product order; nodes are computed once, on first need."""

    def __init__(self, lp: LevelProgram) -> None:
        self.lp = lp
        xs, ys, zs = lp.scheme.target.labels()
        self.values: list[Value] = []
        self.steps: list[Step] = []
        self.pinned: dict[int, str] = {}
        self.made: dict[tuple[int, int], int] = {}
        for side, labels in ((0, xs), (1, ys)):
            for node, label in enumerate(labels):
                self.made[(side, node)] = self._value(label, "AB"[side])
                self.pinned[self.made[(side, node)]] = label
        self.labels = zs
        self.names = {
            (side, lp_.n_inputs + i): f"{letter}{i + 1}"
            for side, (lp_, letter) in enumerate(((lp.a, "s"), (lp.b, "t"), (lp.c, "u")))
            for i in range(len(lp_.ops))
        }
        for r in range(lp.rank):
            self.names[(2, r)] = f"m{r + 1}"
        self.finished: set[int] = set()

    def _value(self, name: str, cls: str) -> int:
        self.values.append(Value(name, cls))
        return len(self.values) - 1

    def _step(self, kind: str, name: str, cls: str, srcs: tuple[int, ...], const: int = 1) -> int:
        dst = self._value(name, cls)
        self.steps.append(Step(kind, dst, srcs, const))
        return dst

    def node(self, side: int, node: int) -> int:
        """The value of (side, node), emitting its steps (and its operands') if needed."""
        if (side, node) in self.made:
            return self.made[(side, node)]
        prog = (self.lp.a, self.lp.b, self.lp.c)[side]
        op = prog.ops[node - prog.n_inputs]
        x, y = self.node(side, op.x), self.node(side, op.y)
        value = self._binary(side, node, op, x, y)
        self.made[(side, node)] = value
        return value

    def _binary(self, side: int, node: int, op: LinOp, x: int, y: int) -> int:
        signs = self.lp.signs[side]
        s = signs[node]
        p, q = s * signs[op.x] * op.a, s * signs[op.y] * op.b  # coefficients of the stored values
        cls, name = "ABC"[side], self.names[(side, node)]
        if abs(p) != 1:
            x = self._step("scale", f"{abs(p)}*{self.values[x].name}", cls, (x,), abs(p))
        if abs(q) != 1:
            y = self._step("scale", f"{abs(q)}*{self.values[y].name}", cls, (y,), abs(q))
        if p > 0 and q > 0:
            return self._step("add", name, cls, (x, y))
        if p > 0:
            return self._step("sub", name, cls, (x, y))
        if q > 0:
            return self._step("sub", name, cls, (y, x))
        negated = self._step("add", f"-{name}", cls, (x, y))
        return self._step("neg", name, cls, (negated,))

    def product(self, r: int) -> None:
        x = self.node(0, self.lp.a.outputs[r][1])
        y = self.node(1, self.lp.b.outputs[r][1])
        self.made[(2, r)] = self._step("product", self.names[(2, r)], "C", (x, y))

    def ready_c_work(self) -> None:
        """Every C-side op whose operands exist, and every output whose node exists."""
        c = self.lp.c
        progress = True
        while progress:
            progress = False
            for i, op in enumerate(c.ops):
                node = c.n_inputs + i
                if (2, node) not in self.made and (2, op.x) in self.made and (2, op.y) in self.made:
                    self.node(2, node)
                    progress = True
            for k, (coef, node) in enumerate(c.outputs):
                if k not in self.finished and (2, node) in self.made:
                    self._finish(k, coef, node)
                    self.finished.add(k)

    def _finish(self, k: int, coef: int, node: int) -> None:
        """Make output k: the node itself when it is stored as exactly C_k, else one
        more pass (scale, negate or copy) into C's block."""
        value, factor, label = self.made[(2, node)], coef * self.lp.signs[2][node], self.labels[k]
        if factor == 1 and value not in self.pinned:
            self.pinned[value] = label
            return
        if factor == 1:
            out = self._step("copy", label, "C", (value,))
        elif factor == -1:
            out = self._step("neg", label, "C", (value,))
        else:
            out = self._step("scale", label, "C", (value,), factor)
        self.pinned[out] = label


def _lower(lp: LevelProgram, order: list[int]) -> _Lowering:
    low = _Lowering(lp)
    for r in order:
        low.product(r)
        low.ready_c_work()
    return low


def _needed(prog: LinearProgram, node: int, done: set[int]) -> set[int]:
    """Op nodes of ``prog`` that computing ``node`` requires beyond ``done``."""
    need: set[int] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if n >= prog.n_inputs and n not in done and n not in need:
            need.add(n)
            op = prog.ops[n - prog.n_inputs]
            stack += [op.x, op.y]
    return need


def _greedy_order(lp: LevelProgram) -> list[int]:
    """Products ordered so that each next one needs few new A/B-side nodes and lets
    many C-side operations run (a cheap proxy for short lifetimes)."""
    c_users = lp.c.users()
    done_a: set[int] = set()
    done_b: set[int] = set()
    done_products: set[int] = set()
    order: list[int] = []
    remaining = list(range(lp.rank))

    def score(r: int) -> tuple[int, int]:
        new = len(_needed(lp.a, lp.a.outputs[r][1], done_a)) + len(_needed(lp.b, lp.b.outputs[r][1], done_b))
        ready = done_products | {r}
        completes = sum(
            all(o in ready or o >= lp.c.n_inputs for o in (op.x, op.y))
            for op in (lp.c.ops[u - lp.c.n_inputs] for u in c_users[r])
        )
        return (new - completes, r)

    while remaining:
        r = min(remaining, key=score)
        remaining.remove(r)
        order.append(r)
        done_a |= _needed(lp.a, lp.a.outputs[r][1], done_a)
        done_b |= _needed(lp.b, lp.b.outputs[r][1], done_b)
        done_products.add(r)
    return order


def _allocate(low: _Lowering) -> tuple[list[str], tuple[int, int, int]]:
    """Storage of every value by linear scan over the steps (see the module doc)."""
    steps, values = low.steps, low.values
    defined = [-1] * len(values)
    last_use = [-1] * len(values)
    for i, step in enumerate(steps):
        defined[step.dst] = i
        for v in step.srcs:
            last_use[v] = i
    outputs = {v for v in low.pinned if values[v].cls == "C"}
    reserved_at = {low.pinned[v]: defined[v] for v in outputs}
    forever = len(steps)
    busy = dict.fromkeys(reserved_at, -1)  # storage -> last step its occupant is read in
    pools: dict[str, list[str]] = {"A": [], "B": [], "C": []}
    storage = [low.pinned.get(v, "") for v in range(len(values))]
    for i, step in enumerate(steps):
        v, cls = step.dst, values[step.dst].cls
        if v in outputs:
            if busy[storage[v]] > i:
                raise AssertionError(f"scratch value still alive in {storage[v]}")  # a planner bug
            busy[storage[v]] = forever
            continue
        end = max(last_use[v], i)
        # A storage is free when its occupant is dead, or dies at this very step and
        # the step is elementwise (writing over an operand as it is read is fine).
        free_from = i + 1 if step.kind in ELEMENTWISE else i
        operands = {storage[s] for s in step.srcs}
        blocks = [] if cls != "C" else sorted(
            (name not in operands, reserved_at[name], name)
            for name in reserved_at if busy[name] < free_from and end <= reserved_at[name]
        )
        pool = sorted((name not in operands, name) for name in pools[cls] if busy[name] < free_from)
        if blocks:
            choice = blocks[0][2]
        elif pool:
            choice = pool[0][1]
        else:
            choice = f"t{cls.lower()}{len(pools[cls])}"
            pools[cls].append(choice)
            busy[choice] = -1
        storage[v] = choice
        busy[choice] = end
    return storage, (len(pools["A"]), len(pools["B"]), len(pools["C"]))


def _plan(lp: LevelProgram, order: list[int]) -> LevelPlan:
    low = _lower(lp, order)
    storage, temps = _allocate(low)
    xs, ys, zs = lp.scheme.target.labels()
    return LevelPlan(lp, tuple(low.values), tuple(low.steps), tuple(storage), temps,
                     tuple(xs), tuple(ys), tuple(zs))


def plan_level(lp: LevelProgram, tries: int = DEFAULT_ORDER_TRIES, seed: int = 0) -> LevelPlan:
    """Schedule and allocate one level with the product order that needs the fewest
    pool buffers: the better of scheme order and a greedy order, improved by up to
    ``tries`` random moves of one product to another place (kept when not worse)."""
    rng = np.random.default_rng(seed)
    orders = [list(range(lp.rank)), _greedy_order(lp)]
    plans = [_plan(lp, order) for order in orders]
    pick = int(sum(plans[1].temps) < sum(plans[0].temps))
    best, best_order = plans[pick], orders[pick]
    tries = min(tries, _ORDER_BUDGET // max(1, len(best.steps))) if lp.rank > 1 else 0
    for _ in range(tries):
        order = list(best_order)
        r = order.pop(int(rng.integers(len(order))))
        order.insert(int(rng.integers(len(order) + 1)), r)
        plan = _plan(lp, order)
        if sum(plan.temps) <= sum(best.temps):
            best, best_order = plan, order
    return best


# --- fused passes ----------------------------------------------------------------------------
#: Most operands of one fused pass (bounds the compiled kernels, see codegen.kernels).
MAX_PASS_TERMS = 8


@dataclass(frozen=True)
class Pass:
    """One fused elementwise pass ``dst = Σ coef·value`` over ``terms`` that performs the
    plan's ``steps``; their intermediate values are never stored. A term stored where
    ``dst`` goes comes first (the kernel reads it before writing over it)."""

    dst: int
    terms: tuple[tuple[int, int], ...]
    steps: tuple[Step, ...]

    @property
    def transfers(self) -> int:
        """Blocks read and written: each operand once, the result once."""
        return len(self.terms) + 1


def _step_form(step: Step) -> dict[int, int]:
    """The elementwise step as a linear form over values."""
    coefs = {"add": (1, 1), "sub": (1, -1), "scale": (step.const,), "neg": (-1,), "copy": (1,)}[step.kind]
    form: dict[int, int] = {}
    for value, coef in zip(step.srcs, coefs, strict=True):
        form[value] = form.get(value, 0) + coef
    return {v: c for v, c in form.items() if c}


def fused_schedule(plan: LevelPlan, max_terms: int = MAX_PASS_TERMS) -> list[Step | Pass]:
    """The plan's steps with chains of elementwise steps fused into single passes.

    A value made by an elementwise step is folded into its consumer (not stored) when
    that consumer is its only reader, is elementwise too, and no step in between
    overwrites the storage of anything it reads; the result has at most ``max_terms``
    operands. Values read by a product or by several steps (the program's shared
    subexpressions) and C's outputs are stored as planned, so storage and pool sizes
    are the plan's own.
    """
    steps, storage = plan.steps, plan.storage
    readers: dict[int, list[int]] = {}
    for i, step in enumerate(steps):
        for v in dict.fromkeys(step.srcs):
            readers.setdefault(v, []).append(i)
    final = {storage[step.dst]: step.dst for step in steps if storage[step.dst] in plan.c_blocks}

    def foldable(i: int, terms: dict[int, int]) -> bool:
        dst = steps[i].dst
        users = readers.get(dst, [])
        if final.get(storage[dst]) == dst or len(users) != 1 or steps[users[0]].kind not in ELEMENTWISE:
            return False
        read = {storage[v] for v in terms}
        return all(storage[steps[j].dst] not in read for j in range(i + 1, users[0]))

    out: list[Step | Pass | None] = []
    pending: dict[int, int] = {}  # folded value -> index of its pass in ``out``
    for i, step in enumerate(steps):
        if step.kind not in ELEMENTWISE:
            out.append(step)
            continue
        terms, covered = _step_form(step), [step]
        for v in [v for v in terms if v in pending]:
            at = pending.pop(v)
            folded = out[at]
            assert isinstance(folded, Pass)
            merged = {u: c for u, c in terms.items() if u != v}
            for u, c in folded.terms:
                merged[u] = merged.get(u, 0) + terms[v] * c
            merged = {u: c for u, c in merged.items() if c}
            if merged and len(merged) <= max_terms:
                terms, covered = merged, [*folded.steps, *covered]
                out[at] = None
        first = [v for v in terms if storage[v] == storage[step.dst]]
        ordered = tuple((v, terms[v]) for v in first + [v for v in terms if v not in first])
        out.append(Pass(step.dst, ordered, tuple(covered)))
        if foldable(i, terms):
            pending[step.dst] = len(out) - 1
    return [item for item in out if item is not None]
