"""Turning verified schemes into runnable code: the public entry points.

Only schemes that are real-arithmetic algorithms are accepted: a verified matrix
multiplication scheme over Z or Q. (A scheme valid only modulo p computes A·B mod p,
not A·B, so running it on floating-point or integer matrices would be wrong.)
Generated modules are written to files and imported from there with importlib; the
text is ours, produced here, never user-supplied code.
"""

from __future__ import annotations

import importlib.util
import secrets
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from tensorgame.codegen.emit import Backend, emit_dispatch_module, emit_module
from tensorgame.codegen.emit_numba import NUMBA
from tensorgame.codegen.emit_numpy import NUMPY
from tensorgame.codegen.emit_torch import TORCH
from tensorgame.codegen.memory import LevelPlan, plan_level
from tensorgame.codegen.program import build_level, naive_program
from tensorgame.codegen.search import DEFAULT_ITERATIONS, FormSearch, optimise_scheme
from tensorgame.errors import TensorGameError, VerificationError
from tensorgame.fileio import atomic_write
from tensorgame.tensors.scheme import Scheme

BACKENDS: dict[str, Backend] = {"numpy": NUMPY, "numba": NUMBA, "torch": TORCH}
#: Products with a side below this use the library product: BLAS is hard to beat on
#: small blocks, where the memory-bound additions cost about what a level saves
#: (measured here: one Strassen level breaks even near n = 2048).
DEFAULT_THRESHOLD = 1024
#: Most recursion levels accepted (each level multiplies the number of products by R).
MAX_LEVELS = 8

_CACHE_SIZE = 64
_compiled: dict[tuple[object, ...], tuple[FormSearch, LevelPlan]] = {}


def check_scheme(scheme: Scheme) -> None:
    """Raise TensorGameError unless ``scheme`` may become real-arithmetic code."""
    if not scheme.target.is_matmul:
        raise TensorGameError(f"{scheme.target.name} is not a matrix multiplication target; "
                              "code generation needs one")
    if scheme.ring.modulus is not None:
        raise TensorGameError(
            f"the {scheme.target.name} scheme of rank {scheme.rank} holds only over {scheme.ring} "
            f"(arithmetic modulo {scheme.ring.modulus}); it is not an algorithm for real or "
            "integer matrices, so no code is generated (use a scheme over Z or Q)")
    result = scheme.verify()
    if not result.ok:
        raise VerificationError(
            f"the {scheme.target.name} scheme of rank {scheme.rank} is wrong over {scheme.ring} "
            f"in {result.n_wrong} tensor entries; refusing to generate code for it", result)


def _key(scheme: Scheme, *options: object) -> tuple[object, ...]:
    den = b"" if scheme.denominators is None else scheme.denominators.tobytes()
    return (scheme.target.key, str(scheme.ring), scheme.u.tobytes(), scheme.v.tobytes(),
            scheme.w.tobytes(), den, *options)


def compile_level(
    scheme: Scheme, *, optimise: bool = True, search_iterations: int = DEFAULT_ITERATIONS, seed: int = 0
) -> tuple[FormSearch, LevelPlan]:
    """The optimised (or plain) program of one level and its memory plan; checked,
    and memoised per scheme and options since the form search is the slow part."""
    check_scheme(scheme)
    key = _key(scheme, optimise, search_iterations, seed)
    if key not in _compiled:
        if optimise:
            found = optimise_scheme(scheme, iterations=search_iterations, seed=seed)
        else:
            plain = scheme.without_zero_terms()
            program = build_level(plain, naive_program)
            found = FormSearch(scheme, plain, program, scheme.additions, scheme.additions, 0)
        if len(_compiled) >= _CACHE_SIZE:
            _compiled.clear()
        _compiled[key] = (found, plan_level(found.program, seed=seed))
    return _compiled[key]


def per_level_schemes(schemes: Scheme | Sequence[Scheme], levels: int | None) -> list[Scheme]:
    """The scheme of each level: one scheme ``levels`` times (default 1), or the list given."""
    if isinstance(schemes, Scheme):
        levels = 1 if levels is None else levels
        per_level = [schemes] * levels
    else:
        per_level = list(schemes)
        if levels is not None and levels != len(per_level):
            raise TensorGameError(f"{len(per_level)} schemes given for {levels} levels; give one "
                                  "scheme (used at every level) or one per level")
    if not 1 <= len(per_level) <= MAX_LEVELS:
        raise TensorGameError(f"levels must be between 1 and {MAX_LEVELS}, got {len(per_level)}")
    return per_level


def generate_module(
    schemes_per_level: Scheme | Sequence[Scheme],
    *,
    target: str = "numpy",
    levels: int | None = None,
    threshold: int = DEFAULT_THRESHOLD,
    optimise: bool = True,
    search_iterations: int = DEFAULT_ITERATIONS,
    seed: int = 0,
) -> str:
    """Source of a Python module whose ``matmul(A, B)`` multiplies any n×m by m×p
    matrices with the given scheme(s) applied recursively.

    One scheme is used at every one of ``levels`` levels (default 1); a list gives the
    scheme of each level. ``threshold``: products with a side below it use the
    library product. ``optimise`` runs the form search and CSE (otherwise every linear
    form is evaluated as written); ``target`` is ``numpy`` (the readable reference),
    ``numba`` (NumPy products, block additions fused into multi-threaded compiled
    passes; the module imports tensorgame's kernel) or ``torch``.
    """
    if target not in BACKENDS:
        raise TensorGameError(f"unknown target {target!r}; expected one of {', '.join(BACKENDS)}")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, np.integer)) or threshold < 1:
        raise TensorGameError(f"threshold must be a positive integer, got {threshold!r}")
    per_level = per_level_schemes(schemes_per_level, levels)
    compiled = [compile_level(s, optimise=optimise, search_iterations=search_iterations, seed=seed)
                for s in per_level]
    how = "after equivalent-form search and CSE" if optimise else "each form evaluated as written"
    notes = [
        f"Level {i + 1}: {found.original.target.name} over {found.original.ring}, rank {found.original.rank}: "
        f"{found.additions} block additions {how} ({found.naive_additions} as written)"
        for i, (found, _) in enumerate(compiled)
    ]
    return emit_module([plan for _, plan in compiled], BACKENDS[target], threshold=int(threshold), notes=notes)


@dataclass(frozen=True)
class TunedKernel:
    """A kernel chosen by tuning: one scheme at every level, the backend, the levels
    and the threshold it was measured with; ``label`` describes it in the module."""

    scheme: Scheme
    backend: str
    levels: int
    threshold: int
    label: str


def generate_tuned_module(kernels: Sequence[TunedKernel], table: dict[str, list[tuple[int, int | None]]], *,
                          notes: Sequence[str] = ()) -> str:
    """Source of one module whose ``matmul(A, B)`` dispatches by dtype and size to
    ``kernels`` (``table``: dtype -> (size, kernel index or None for numpy.matmul), by
    increasing size; the largest size not above the product's smallest side decides).
    Each kernel is :func:`generate_module`'s code (optimised), so the module needs no
    catalogue; torch kernels take and return NumPy arrays here."""
    for dtype, choices in table.items():
        for _, index in choices:
            if index is not None and not 0 <= index < len(kernels):
                raise TensorGameError(f"the {dtype} table names kernel {index}, but there are {len(kernels)}")
    sources = [(k.label, k.backend, generate_module(k.scheme, target=k.backend, levels=k.levels,
                                                     threshold=k.threshold)) for k in kernels]
    return emit_dispatch_module(sources, {d: list(c) for d, c in table.items()}, notes=list(notes))


def write_module(schemes_per_level: Scheme | Sequence[Scheme], path: str | Path, **options: object) -> Path:
    """Write :func:`generate_module`'s source to ``path`` atomically; returns the path."""
    path = Path(path)
    atomic_write(path, generate_module(schemes_per_level, **options).encode("utf-8"))  # type: ignore[arg-type]
    return path


def load_module(path: str | Path) -> ModuleType:
    """Import a generated module from its file (under a private, unique name)."""
    path = Path(path)
    name = f"tensorgame_generated_{path.stem.replace('-', '_')}_{secrets.token_hex(4)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise TensorGameError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


def build_module(schemes_per_level: Scheme | Sequence[Scheme], **options: object) -> ModuleType:
    """Generate, write to a temporary file and import: the module, ready to call."""
    with tempfile.TemporaryDirectory(prefix="tensorgame-codegen-") as folder:
        return load_module(write_module(schemes_per_level, Path(folder) / "generated_matmul.py", **options))


def program_listing(scheme: Scheme, *, optimise: bool = True, search_iterations: int = DEFAULT_ITERATIONS,
                    seed: int = 0) -> str:
    """The level program as a straight-line program, in execution order (one block
    operation a line). :mod:`tensorgame.formats.slp` lists a scheme as written; this
    lists what the generated code computes after search, CSE and sign choice."""
    found, plan = compile_level(scheme, optimise=optimise, search_iterations=search_iterations, seed=seed)
    return level_listing(plan, found.naive_additions, "optimised " if optimise else "")


def level_listing(plan: LevelPlan, naive_additions: int, kind: str = "") -> str:
    """The listing of a planned level (one block operation a line, in execution order)."""
    lp = plan.program
    scheme = lp.scheme
    target = scheme.target
    lines = [
        f"# {kind}straight-line program for {target.name} over {scheme.ring} (tensorgame)",
        f"# rank {lp.rank}: {lp.rank} multiplications, {lp.additions} additions "
        f"({naive_additions} as written), {lp.scalings} multiplications by constants, "
        f"{lp.negations} negations",
        "# C = A*B with a<i><j> = A[i][j], b<j><k> = B[j][k], c<i><k> = C[i][k] (1-based)",
        f"# inputs: {' '.join(plan.a_blocks)}",
        f"# inputs: {' '.join(plan.b_blocks)}",
        f"# outputs: {' '.join(plan.c_blocks)}",
        "# s<i>, t<i>: A- and B-side sums; m<r>: products; u<i>: C-side partial sums",
    ]
    lines += [plan.describe(step) for step in plan.steps]
    lines += [f"{c} = (1/{d})*({c})" for c, d in zip(plan.c_blocks, lp.divisors, strict=True) if d != 1]
    return "\n".join(lines) + "\n"


def write_listing(scheme: Scheme, path: str | Path, **options: object) -> Path:
    """Write :func:`program_listing` to ``path`` atomically; returns the path."""
    path = Path(path)
    atomic_write(path, program_listing(scheme, **options).encode("utf-8"))  # type: ignore[arg-type]
    return path
