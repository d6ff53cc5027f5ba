"""Emission of a generated matmul module, shared by every backend.

The module text is the same for every backend except for a handful of names and
snippets -- which functions add, subtract, scale, negate and multiply blocks, how the
inputs are converted and how buffers are allocated -- collected in a :class:`Backend`
(see :mod:`~tensorgame.codegen.emit_numpy`, :mod:`~tensorgame.codegen.emit_torch` and
:mod:`~tensorgame.codegen.emit_numba`). A backend with a ``combine`` function gets the
plan's elementwise chains fused into single passes (:func:`~.memory.fused_schedule`).
Every block operation is one line with its logical meaning as a comment, so the code
can be read against the scheme's straight-line program.
"""

from __future__ import annotations

from dataclasses import dataclass

from tensorgame import __version__
from tensorgame.codegen.memory import ELEMENTWISE, LevelPlan, Pass, Step, fused_schedule


@dataclass(frozen=True)
class Backend:
    """The backend-specific names and snippets of a generated module."""

    name: str
    library: str  # what to call the library product in documentation, e.g. "numpy.matmul"
    imports: str
    add: str
    sub: str
    mul: str
    neg: str
    matmul: str
    prepare: str  # body lines of matmul() up to a common dtype, indented by 4
    empty: str  # expression allocating ``shape`` like the array ``like``
    numeric: str  # expression: array X has a dtype with subtraction
    integer: str  # expression: array X has an integer dtype (exact division by //)
    result: str  # statement creating C for A (n×m) and B (m×p), indented by 4
    device: str  # expression: where array X lives (part of the workspace's key)
    combine: str = ""  # function computing ``out = Σ c·src`` in one pass; "" emits plain steps


def _span(index: int, size: str) -> str:
    """Slice of block ``index`` along a side cut in blocks of ``size``."""
    start = "" if index == 0 else size if index == 1 else f"{index} * {size}"
    end = size if index == 0 else f"{index + 1} * {size}"
    return f"{start}:{end}"


def _statement(step: Step, plan: LevelPlan, backend: Backend) -> str:
    """The one line of code for a step, in place where its storage allows."""
    d = plan.storage[step.dst]
    s = [plan.storage[v] for v in step.srcs]
    if step.kind == "product":
        return f"_mul(level + 1, {s[0]}, {s[1]}, {d}, ws)"
    if step.kind == "add":
        if d in s:
            return f"{d} += {s[1] if s[0] == d else s[0]}"
        return f"{backend.add}({s[0]}, {s[1]}, out={d})"
    if step.kind == "sub":
        return f"{d} -= {s[1]}" if d == s[0] else f"{backend.sub}({s[0]}, {s[1]}, out={d})"
    if step.kind == "scale":
        return f"{d} *= {step.const}" if d == s[0] else f"{backend.mul}({s[0]}, {step.const}, out={d})"
    if step.kind == "neg":
        return f"{backend.neg}({s[0]}, out={d})"
    return f"{d}[...] = {s[0]}"


def _pass_statement(item: Pass, plan: LevelPlan, backend: Backend) -> str:
    """The call of the backend's combine function for a fused pass."""
    srcs = ", ".join(plan.storage[v] for v, _ in item.terms)
    coefs = ", ".join(str(c) for _, c in item.terms)
    comma = "," if len(item.terms) == 1 else ""
    return f"{backend.combine}({plan.storage[item.dst]}, ({srcs}{comma}), ({coefs}{comma}))"


def fusion_counts(plan: LevelPlan, schedule: list[Step | Pass]) -> dict[str, int]:
    """What fusing saves in one level: elementwise steps and fused passes, blocks read
    and written by each, and element additions per block position of the passes."""
    passes = [item for item in schedule if isinstance(item, Pass)]
    steps = [step for step in plan.steps if step.kind in ELEMENTWISE]
    return {"steps": len(steps), "passes": len(passes),
            "step_transfers": sum(len(step.srcs) + 1 for step in steps),
            "pass_transfers": sum(item.transfers for item in passes),
            "pass_additions": sum(len(item.terms) - 1 for item in passes)}


def _level_function(name: str, plan: LevelPlan, backend: Backend, description: str) -> list[str]:
    lp = plan.program
    scheme = lp.scheme
    gn, gm, gp = scheme.target.params
    ka, kb, kc = plan.temps
    lines = [
        f"def {name}(A, B, C, ws, level):",
        f'    """One level of {description}.',
        "",
        f"    {lp.rank} block products, {lp.additions} block additions ({lp.a.additions} on A's side, "
        f"{lp.b.additions} on B's, {lp.c.additions} on C's),",
        f"    {lp.scalings} multiplications by constants, {lp.negations} negations.",
        f"    Temporaries: {ka} A-block, {kb} B-block and {kc} C-block buffers from ``ws``;",
        "    C's own blocks serve as scratch until they are written.",
    ]
    if backend.combine:
        schedule = fused_schedule(plan)
        n = fusion_counts(plan, schedule)
        lines += [
            (f"    Fused: its {n['steps']} elementwise steps run as {n['passes']} passes of {backend.combine}, "
             f"{n['pass_transfers']} block"),
            (f"    reads and writes instead of {n['step_transfers']}, {n['pass_additions']} block additions "
             "(a shared sum is computed once)."),
        ]
        body = [(_pass_statement(item, plan, backend), "; ".join(plan.describe(s) for s in item.steps))
                if isinstance(item, Pass) else (_statement(item, plan, backend), plan.describe(item))
                for item in schedule]
    else:
        body = [(_statement(step, plan, backend), plan.describe(step)) for step in plan.steps]
    lines += [
        '    """',
        "    n, m = A.shape",
        "    p = B.shape[1]",
        f"    bn, bm, bp = n // {gn}, m // {gm}, p // {gp}",
    ]
    for labels, letter, rows, cols, (sr, sc) in (
        (plan.a_blocks, "A", gn, gm, ("bn", "bm")),
        (plan.b_blocks, "B", gm, gp, ("bm", "bp")),
        (plan.c_blocks, "C", gn, gp, ("bn", "bp")),
    ):
        lines += [f"    {labels[i * cols + j]} = {letter}[{_span(i, sr)}, {_span(j, sc)}]"
                  for i in range(rows) for j in range(cols)]
    groups = [f"ta{i}" for i in range(ka)], [f"tb{i}" for i in range(kb)], [f"tc{i}" for i in range(kc)]
    for index, names in enumerate(groups):
        if names:
            lines.append(f"    {', '.join(names)}, = ws[level][{index}]" if len(names) == 1
                         else f"    {', '.join(names)} = ws[level][{index}]")
    body += [(f"_divide_exactly({c}, {d})", f"{c} = {c}/{d} (its coefficients' denominator)")
             for c, d in zip(plan.c_blocks, lp.divisors, strict=True) if d != 1]
    width = max(len(code) for code, _ in body)
    lines += [f"    {code:<{width}}  # {text}" for code, text in body]
    lines.append(f"    _peel(A, B, C, ({gn}, {gm}, {gp}), ws[level][2])")
    return lines


def level_description(plan: LevelPlan) -> str:
    scheme = plan.program.scheme
    return f"{scheme.target.name} over {scheme.ring}, rank {scheme.rank}"


_COMMON = '''

def _plain(A, B):
    """Two 2-D numeric matrices of compatible shapes: the case the scheme handles."""
    return (A.ndim == 2 and B.ndim == 2 and A.shape[1] == B.shape[0]
            and {numeric_a} and {numeric_b})


def levels_used(n, m, p):
    """Sizes (n, m, p) of the product each level splits, for an n×m by m×p product
    (its length is the number of levels that run): a level runs only when every side
    is at least THRESHOLD and at least the side of its scheme's grid."""
    sizes = []
    for gn, gm, gp in _GRIDS:
        if min(n, m, p) < THRESHOLD or n < gn or m < gm or p < gp:
            break
        sizes.append((n, m, p))
        n, m, p = n // gn, m // gm, p // gp
    return sizes


def _pool_shapes(n, m, p):
    """Shapes of each running level's A-, B- and C-block temporaries; a level whose
    inner side does not divide gets one C-block buffer for peeling if it has none."""
    shapes = []
    for (ln, lm, lp), (gn, gm, gp), (ka, kb, kc) in zip(levels_used(n, m, p), _GRIDS, _TEMPS):
        bn, bm, bp = ln // gn, lm // gm, lp // gp
        kc = max(kc, 1) if lm % gm else kc
        shapes.append(([(bn, bm)] * ka, [(bm, bp)] * kb, [(bn, bp)] * kc))
    return shapes


def workspace_bytes(n, m, p, itemsize):
    """Extra memory, in bytes, that matmul needs for an n×m by m×p product beyond C:
    the temporaries of every level (allocated once per call and reused)."""
    return itemsize * sum(r * c for level in _pool_shapes(n, m, p) for group in level for r, c in group)


def _workspace(n, m, p, like):
    """The temporaries for an n×m by m×p product. The last workspace of each thread is
    kept for the next call with the same shapes and dtype: fresh memory costs a page
    fault per page on first touch, which is not negligible next to the additions
    (release_workspace() frees it)."""
    key = (n, m, p, like.dtype, {device})
    kept = getattr(_kept, "workspace", None)
    if kept is None or kept[0] != key:
        _kept.workspace = None  # free the old workspace before allocating the new one
        levels = [tuple([_empty(shape, like) for shape in group] for group in level)
                  for level in _pool_shapes(n, m, p)]
        kept = _kept.workspace = (key, levels)
    return kept[1]


def _empty(shape, like):
    return {empty}


def release_workspace():
    """Free the temporaries this thread keeps between calls."""
    _kept.workspace = None


def _mul(level, A, B, C, ws):
    """C = A @ B for a product at ``level``: the scheme while levels remain, else the library."""
    if level == len(ws):
        {matmul}(A, B, out=C)
    else:
        _LEVEL[level](A, B, C, ws, level)


def _peel(A, B, C, grid, temps):
    """Dynamic peeling: finish C = A @ B after the scheme filled the core C[:nc, :pc]
    from A[:nc, :mc] and B[:mc, :pc] (nc, mc, pc the largest multiples of the grid).
    The leftover inner strip adds A[:nc, mc:] @ B[mc:, :pc] block by block through one
    C-block temporary; leftover columns and rows are library products straight into C."""
    gn, gm, gp = grid
    n, m = A.shape
    p = B.shape[1]
    bn, bm, bp = n // gn, m // gm, p // gp
    nc, mc, pc = gn * bn, gm * bm, gp * bp
    if m > mc:
        tmp = temps[0]
        for i in range(0, nc, bn):
            for k in range(0, pc, bp):
                {matmul}(A[i:i + bn, mc:], B[mc:, k:k + bp], out=tmp)
                C[i:i + bn, k:k + bp] += tmp
    if p > pc:
        {matmul}(A[:nc], B[:, pc:], out=C[:nc, pc:])
    if n > nc:
        {matmul}(A[nc:], B, out=C[nc:])
'''

_DIVIDE = '''

def _divide_exactly(X, d):
    """Divide by the scheme's common denominator d (exact for integer inputs)."""
    if {integer}:
        X //= d
    else:
        X /= d
'''


def _tuple(items: list[tuple[int, int, int]]) -> str:
    return repr(tuple(items))


def emit_module(plans: list[LevelPlan], backend: Backend, *, threshold: int, notes: list[str]) -> str:
    """The source of a module whose ``matmul(A, B)`` runs ``plans[i]`` at level i;
    ``notes`` are extra lines for its docstring (such as addition counts)."""
    distinct: list[LevelPlan] = []
    for plan in plans:
        if not any(plan is other for other in distinct):
            distinct.append(plan)
    names = {id(plan): f"_level_{i + 1}" for i, plan in enumerate(distinct)}
    title = " then ".join(dict.fromkeys(level_description(p) for p in plans))
    doc = [
        f'"""Matrix multiplication by {title}, generated by tensorgame {__version__}.',
        "",
        f"Backend: {backend.name}. Do not edit: regenerate from the scheme instead.",
        "",
        *notes,
        "",
        "Products with a side below THRESHOLD, or smaller than a scheme's grid, use",
        f"{backend.library}. Sizes that do not divide are handled by dynamic peeling (no",
        "padding and no copies of A or B): each level applies its scheme to the largest",
        "core whose sides are multiples of the grid and finishes the leftover inner strip,",
        "columns and rows with library products. Blocks are views; temporaries come from",
        "one pool per level, allocated once per call (see workspace_bytes).",
        '"""',
        "",
        "import threading",
        "",
        backend.imports,
        "",
        f"LEVELS = {len(plans)}",
        f"THRESHOLD = {threshold}",
        "# Grid (n, m, p) of each level's scheme and its (A-, B-, C-block) temporaries.",
        f"_GRIDS = {_tuple([p.program.scheme.target.params for p in plans])}",
        f"_TEMPS = {_tuple([p.temps for p in plans])}",
        "_kept = threading.local()  # each thread's last workspace, see _workspace",
        "",
        "",
        "def matmul(A, B):",
        f'    """A @ B by the generated algorithm: same values, shape and dtype as {backend.library}.',
        "",
        "    Anything but two 2-D numeric matrices of compatible shapes (stacks, vectors,",
        f"    booleans, mismatched shapes) is passed to {backend.library} unchanged.",
        '    """',
        backend.prepare,
        backend.result,
        "    _mul(0, A, B, C, _workspace(A.shape[0], A.shape[1], B.shape[1], C))",
        "    return C",
        "",
    ]
    text = "\n".join(doc)
    text += _COMMON.format(
        numeric_a=backend.numeric.format(X="A"), numeric_b=backend.numeric.format(X="B"),
        empty=backend.empty.format(shape="shape", like="like"), matmul=backend.matmul,
        device=backend.device.format(X="like"),
    )
    if any(d != 1 for plan in plans for d in plan.program.divisors):
        text += _DIVIDE.format(integer=backend.integer.format(X="X"))
    for plan in distinct:
        text += "\n\n" + "\n".join(_level_function(names[id(plan)], plan, backend, level_description(plan))) + "\n"
    level_functions = ", ".join(names[id(plan)] for plan in plans)
    text += f"\n\n_LEVEL = ({level_functions}{',' if len(plans) == 1 else ''})  # the function of each level\n"
    return text


def _indented(text: str) -> list[str]:
    return [f"    {line}" if line.strip() else "" for line in text.splitlines()]


_DISPATCH = '''

def kernel_for(n, m, p, dtype):
    """Index into KERNELS of the kernel an n×m by m×p product of ``dtype`` uses (None:
    numpy.matmul): the winner at the largest tuned size not above min(n, m, p)."""
    chosen = None
    for size, kernel in TUNED.get(np.dtype(dtype).name, ()):
        if min(n, m, p) >= size:
            chosen = kernel
    return chosen


def matmul(A, B):
    """A @ B by the kernel tuned for its dtype and size: same values, shape and dtype as
    numpy.matmul, which gets everything but two 2-D numeric matrices of compatible
    shapes, dtypes not tuned and sizes below the smallest tuned one."""
    A = np.asarray(A)
    B = np.asarray(B)
    if A.ndim == 2 and B.ndim == 2 and A.shape[1] == B.shape[0] and A.dtype.kind in "iufc" \\
            and B.dtype.kind in "iufc":
        kernel = kernel_for(A.shape[0], A.shape[1], B.shape[1], np.result_type(A, B))
        if kernel is not None:
            return _KERNELS[kernel][0](A, B)
    return np.matmul(A, B)


def levels_used(n, m, p, dtype):
    """Sizes of the products each level of the chosen kernel splits ([] for the library)."""
    kernel = kernel_for(n, m, p, dtype)
    return [] if kernel is None else _KERNELS[kernel][1](n, m, p)


def release_workspace():
    """Free the temporaries every kernel keeps for this thread."""
    for kernel in _KERNELS:
        kernel[2]()
'''


def emit_dispatch_module(kernels: list[tuple[str, str, str]], table: dict[str, list[tuple[int, int | None]]], *,
                         notes: list[str]) -> str:
    """The source of one module whose ``matmul(A, B)`` dispatches by dtype and size:
    ``kernels`` are (label, backend, source of a generated module), each emitted as a
    factory function so that their names stay apart; ``table`` maps a dtype to (size,
    kernel index or None for numpy.matmul) in increasing size."""
    summary = []
    for dtype, choices in sorted(table.items()):
        summary.append(f"{dtype}: " + "; ".join(
            f"side >= {size}: {'numpy.matmul' if k is None else f'kernel {k} ({kernels[k][0]})'}"
            for size, k in choices))
    lines = [
        f'"""Matrix multiplication tuned on this machine by measurement (tensorgame {__version__}).',
        "",
        *notes,
        "",
        "matmul(A, B) takes, for A's dtype and the smallest side of the product, the kernel that",
        "won at the largest tuned size not above it (numpy.matmul where the library won, below",
        "the smallest tuned size and for dtypes not tuned):",
        "",
        *summary,
        "",
        "Each kernel is a generated recursive module, wrapped in a factory function so that",
        "its names stay apart. Do not edit: regenerate with `tensorgame codegen --tuned`.",
        '"""',
        "",
        "import numpy as np",
    ]
    for index, (label, backend, source) in enumerate(kernels):
        result = "matmul" if backend != "torch" else "lambda A, B: matmul(A, B).numpy()"
        lines += ["", "", f"def _kernel_{index}():",
                  *_indented(source),
                  f"    return {result}, levels_used, release_workspace  # kernel {index}: {label}"]
    tuned = {dtype: tuple((int(size), k) for size, k in choices) for dtype, choices in sorted(table.items())}
    lines += [
        "",
        "",
        "#: Label of each kernel.",
        f"KERNELS = {tuple(label for label, _, _ in kernels)!r}",
        "#: dtype -> ((smallest side, kernel index or None for numpy.matmul), ...), by increasing side.",
        f"TUNED = {tuned!r}",
        "#: (matmul, levels_used, release_workspace) of each kernel.",
        f"_KERNELS = ({''.join(f'_kernel_{i}(), ' for i in range(len(kernels)))})",
    ]
    return "\n".join(lines) + "\n" + _DISPATCH
