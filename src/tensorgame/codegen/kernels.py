"""The compiled block kernel that modules generated for the ``numba`` backend call.

``combine(out, srcs, coefs)`` writes ``out = Σ coefs[t]·srcs[t]`` in one pass over
its operands, rows shared among numba's threads. Block additions are bound by memory
bandwidth, so what counts is touching each operand once: a whole linear form (several
NumPy passes, each writing a block and reading it back) becomes one read of every
operand and one write of the result.

One generic kernel serves every generated module, so nothing is compiled per module.
It is compiled once per (dtype, number of operands), for array views of any strides
(numba layout ``A``: blocks of the caller's matrices and contiguous buffers share one
signature), and cached on disk by numba (``cache=True``): a later process loads it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from numba import from_dtype, njit, prange, types

from tensorgame.codegen.memory import MAX_PASS_TERMS
from tensorgame.errors import TensorGameError

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

#: Element types the kernel is compiled for; generated modules hand other dtypes
#: (bool, float16, objects) to the library product.
KERNEL_DTYPES = frozenset(np.dtype(c) for c in "bhilqBHILQfdFD")


def _combine(out, srcs, coefs):  # pragma: no cover - compiled by numba
    rows, cols = out.shape
    for i in prange(rows):
        # ascontiguousarray: a row view typed contiguous (checked at run time; no copy for
        # the contiguous rows every block has), without which LLVM does not vectorise the
        # loops over layout-A rows; `combine` refuses outputs whose rows are strided
        o = np.ascontiguousarray(out[i])
        x = np.ascontiguousarray(srcs[0][i])
        c = coefs[0]
        for j in range(cols):
            o[j] = c * x[j]
        for t in range(1, len(srcs)):
            x = np.ascontiguousarray(srcs[t][i])
            c = coefs[t]
            for j in range(cols):
                o[j] += c * x[j]


_compiled: dict[tuple[np.dtype, int], object] = {}


def _kernel(dtype: np.dtype, terms: int):
    """The kernel for ``terms`` operands of ``dtype``, compiled (or loaded) on first use.
    An explicit signature with layout ``A`` makes contiguous and strided blocks share it."""
    key = (dtype, terms)
    if key not in _compiled:
        element = from_dtype(dtype)
        block = types.Array(element, 2, "A")
        signature = types.void(block, types.UniTuple(block, terms), types.Array(element, 1, "C"))
        _compiled[key] = njit(signature, parallel=True, cache=True, nogil=True)(_combine)
    return _compiled[key]


def combine(out: np.ndarray, srcs: Sequence[np.ndarray], coefs: Sequence[int]) -> None:
    """``out[...] = Σ coefs[t]·srcs[t]`` in one multi-threaded pass (integer coefficients;
    exact for integer dtypes, modulo 2^bits like NumPy's own arithmetic).

    ``out`` may be one of the sources only as the first one (it is written row by row
    after that row of the first source is read).
    """
    if not 1 <= len(srcs) <= MAX_PASS_TERMS or len(srcs) != len(coefs):
        raise TensorGameError(f"combine takes 1 to {MAX_PASS_TERMS} operands with one coefficient each")
    if out.dtype not in KERNEL_DTYPES:
        raise TensorGameError(f"combine has no kernel for dtype {out.dtype}")
    if out.ndim == 2 and out.shape[1] > 1 and out.strides[1] != out.itemsize:
        raise TensorGameError("combine writes rows in place, so the output needs contiguous rows")
    # astype wraps negative coefficients for unsigned dtypes, matching NumPy's subtraction
    factors = np.asarray(coefs, dtype=np.int64).astype(out.dtype)
    _kernel(out.dtype, len(srcs))(out, tuple(srcs), factors)
