"""Code generation: verified schemes -> fast, readable NumPy, numba or PyTorch modules.

Pipeline: each level's scheme is put in the equivalent form with the fewest additions
(:mod:`.search`, :mod:`.cse`, :mod:`.program`), scheduled and given buffers by
liveness (:mod:`.memory`), and emitted as one function per level by a shared emitter
with a small backend table (:mod:`.emit`, :mod:`.emit_numpy`, :mod:`.emit_numba`,
:mod:`.emit_torch`); the numba backend's block additions run through :mod:`.kernels`.
:mod:`.bench` times generated modules against the library product, :mod:`.accuracy`
measures their error against the exact product, :mod:`.tune` picks per size and dtype the
fastest kernel on this machine (or the library) for one dispatching module.
"""

from tensorgame.codegen.generate import (
    BACKENDS,
    DEFAULT_THRESHOLD,
    build_module,
    check_scheme,
    compile_level,
    generate_module,
    load_module,
    program_listing,
    write_listing,
    write_module,
)
from tensorgame.codegen.search import FormSearch, optimise_scheme

__all__ = [
    "BACKENDS", "DEFAULT_THRESHOLD", "FormSearch", "build_module", "check_scheme", "compile_level",
    "generate_module", "load_module", "optimise_scheme", "program_listing", "write_listing",
    "write_module",
]
