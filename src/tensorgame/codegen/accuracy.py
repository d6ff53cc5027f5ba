"""How much precision generated fast kernels lose: their error against the exact product.

Fast algorithms trade multiplications for additions of blocks, and those sums mix
entries of different sizes, so they are less accurate than the classical product:
the classical one satisfies a componentwise bound (error below about m·u·(|A||B|)_ij),
a Strassen-like one only a normwise bound (Higham, *Accuracy and Stability of
Numerical Algorithms*, ch. 23; Bini–Lotti), which also grows with the levels. Two
measures, both against the exact product of the inputs as given:

* ``normwise``: max |C - AB| / (max|A| · max|B|), the measure of those bounds;
* ``elementwise``: max over entries of |C - AB| / (|A||B|), where the componentwise
  stability of the classical product shows and a fast algorithm's loss is largest.

**The reference is exact** (to double-double precision), not a float64 product,
because the float64 kernels' own errors are at float64's rounding level. Each input
is split, without error, into pieces whose entries are integer multiples of one
power of two per row of A (column of B) and below 2**b of those units, with
b = floor((53 - ceil(log2 m)) / 2); every partial sum of a piece product is then an
integer multiple of the row's unit times the column's unit below 2**53 of them, so
float64 BLAS computes each piece product exactly in any order (the Ozaki scheme).
The exact piece products are summed with TwoSum into a (hi, lo) pair. float32
inputs go through the same path (cast to float64, exactly).

Inputs (:data:`DISTRIBUTIONS`) are seeded: uniform in [-1, 1], and the same with the
rows of A and the columns of B scaled by powers of two spread over 2**±8, the
"outside scaling" under which a fast algorithm's componentwise error is worst.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tensorgame.codegen.generate import BACKENDS, DEFAULT_THRESHOLD, build_module, per_level_schemes
from tensorgame.errors import TensorGameError
from tensorgame.tensors.scheme import Scheme

#: Input distributions, by name: what each draws.
DISTRIBUTIONS = {
    "uniform": "entries uniform in [-1, 1]",
    "scaled": "uniform entries, rows of A and columns of B scaled by 2^e, e uniform in [-8, 8]",
}
#: dtypes whose error is measured (integer kernels are exact; the tests check them).
DTYPES = ("float32", "float64")
_SCALE_EXPONENT = 8
#: Entries outside [2**-400, 2**400] could underflow or overflow in the piece products.
_EXPONENT_LIMIT = 400

Product = Callable[[np.ndarray, np.ndarray], Any]


@dataclass(frozen=True)
class Errors:
    """The error of one product against the exact one (see the module docstring)."""

    normwise: float
    elementwise: float


def draw_inputs(size: int | tuple[int, int, int], dtype: str, distribution: str,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A (n×m) and B (m×p) of ``dtype`` from the named distribution, seeded."""
    if distribution not in DISTRIBUTIONS:
        raise TensorGameError(f"unknown distribution {distribution!r}; expected one of {', '.join(DISTRIBUTIONS)}")
    np_dtype = float_dtype(dtype)
    n, m, p = (size, size, size) if isinstance(size, int) else size
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(-1.0, 1.0, (n, m)), rng.uniform(-1.0, 1.0, (m, p))
    if distribution == "scaled":
        a *= np.exp2(rng.integers(-_SCALE_EXPONENT, _SCALE_EXPONENT + 1, (n, 1)))
        b *= np.exp2(rng.integers(-_SCALE_EXPONENT, _SCALE_EXPONENT + 1, (1, p)))
    return a.astype(np_dtype), b.astype(np_dtype)


def float_dtype(dtype: str) -> np.dtype:
    """``dtype`` as a NumPy dtype, if its error is measured here (else a user error)."""
    if dtype not in DTYPES:
        raise TensorGameError(f"accuracy is measured for {' and '.join(DTYPES)}, not {dtype!r} "
                              "(integer kernels are exact)")
    return np.dtype(dtype)


def split_exactly(x: np.ndarray, axis: int, bits: int) -> list[np.ndarray]:
    """Pieces summing exactly to float64 ``x``: in each, the entries of a row (``axis``
    1) or column (``axis`` 0) are integer multiples of one power of two, below 2**bits
    of them in magnitude. Every step keeps the leading bits of what is left, so
    truncation and subtraction are exact and the loop ends once all bits are taken."""
    pieces = []
    rest = x
    while np.any(rest):
        _, exponent = np.frexp(np.abs(rest).max(axis=axis, keepdims=True))  # row max < 2**exponent
        unit = np.ldexp(1.0, exponent - bits)
        piece = np.trunc(rest / unit) * unit
        pieces.append(piece)
        rest = rest - piece
    return pieces


def _two_sum(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """s, e with s = fl(x + y) and s + e = x + y exactly (Knuth's TwoSum)."""
    s = x + y
    virtual = s - x
    return s, (x - (s - virtual)) + (y - virtual)


def exact_product(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A·B of the given float inputs as an unevaluated sum hi + lo of float64 arrays
    (exact to about 2**-106 relative): exact piece products, summed with TwoSum."""
    a64, b64 = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    for x in (a64, b64):
        magnitudes = np.abs(x[x != 0])
        if not np.isfinite(x).all() or (magnitudes.size and not (
                2.0 ** -_EXPONENT_LIMIT <= magnitudes.min() and magnitudes.max() <= 2.0 ** _EXPONENT_LIMIT)):
            raise TensorGameError("the exact reference needs finite entries between 2**-400 and 2**400")
    inner = a64.shape[1]
    bits = (53 - math.ceil(math.log2(max(inner, 1)))) // 2
    hi = np.zeros((a64.shape[0], b64.shape[1]))
    lo = np.zeros_like(hi)
    for piece_a in split_exactly(a64, 1, bits):
        for piece_b in split_exactly(b64, 0, bits):
            hi, error = _two_sum(hi, piece_a @ piece_b)
            lo += error
    return _two_sum(hi, lo)


@dataclass(frozen=True)
class Reference:
    """The exact product of one pair of inputs and the scales of both error measures."""

    hi: np.ndarray
    lo: np.ndarray
    norm_scale: float  # max|A| · max|B|
    abs_product: np.ndarray  # |A||B| (its rounding hardly matters in a denominator)

    @classmethod
    def of(cls, a: np.ndarray, b: np.ndarray) -> Reference:
        """The reference for A·B (the exact product and the scales)."""
        hi, lo = exact_product(a, b)
        a64, b64 = np.abs(np.asarray(a, dtype=np.float64)), np.abs(np.asarray(b, dtype=np.float64))
        return cls(hi, lo, float(a64.max(initial=0.0)) * float(b64.max(initial=0.0)), a64 @ b64)

    def errors(self, c: Any) -> Errors:
        """Normwise and elementwise error of ``c`` (anything ``np.asarray`` takes)."""
        c64 = np.asarray(c, dtype=np.float64)
        if c64.shape != self.hi.shape:
            raise TensorGameError(f"the result has shape {c64.shape}, the product {self.hi.shape}")
        difference = np.abs((c64 - self.hi) - self.lo)  # c - hi is exact where c is close to hi
        biggest = float(difference.max(initial=0.0))
        normwise = biggest / self.norm_scale if self.norm_scale else (0.0 if biggest == 0 else math.inf)
        zero = self.abs_product == 0  # there the exact product is 0: any difference is an infinite error
        ratios = np.divide(difference, self.abs_product, out=np.where(difference > 0, np.inf, 0.0), where=~zero)
        return Errors(normwise, float(ratios.max(initial=0.0)))


def library_product(backend: str) -> Product:
    """The library product a backend's kernels are compared with (numpy or torch)."""
    if backend == "torch":
        import torch

        return torch.matmul
    return np.matmul


def numpy_call(product: Product, backend: str) -> Product:
    """``product`` called on NumPy inputs (converted to CPU tensors for torch)."""
    if backend != "torch":
        return product
    import torch

    return lambda a, b: product(torch.from_numpy(a), torch.from_numpy(b))


def measure(products: Sequence[Product], size: int | tuple[int, int, int], dtype: str, *,
            distributions: Sequence[str] = tuple(DISTRIBUTIONS), seed: int = 0) -> dict[str, list[Errors]]:
    """For each distribution, the errors of each product (called on NumPy inputs) on
    one seeded draw, against one exact reference shared by all of them."""
    out: dict[str, list[Errors]] = {}
    for distribution in distributions:
        a, b = draw_inputs(size, dtype, distribution, seed)
        reference = Reference.of(a, b)
        out[distribution] = [reference.errors(product(a, b)) for product in products]
    return out


def kernel_accuracy(
    schemes: Scheme | Sequence[Scheme],
    *,
    levels: int = 1,
    sizes: Sequence[int | tuple[int, int, int]] = (1024,),
    dtypes: Sequence[str] = DTYPES,
    distributions: Sequence[str] = tuple(DISTRIBUTIONS),
    threshold: int = DEFAULT_THRESHOLD,
    backend: str = "numpy",
    optimise: bool = True,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """The error of the generated kernel at each level count 1..L beside the library
    product's, per size, dtype and distribution (one row each, the library's errors
    in ``library_*``). One scheme is used at every one of ``levels`` levels; a list
    gives one scheme per level (L = its length). ``levels_run`` says how many levels
    the size and ``threshold`` let run."""
    if backend not in BACKENDS:
        raise TensorGameError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    per_level = per_level_schemes(schemes, levels if isinstance(schemes, Scheme) else None)
    for dtype in dtypes:
        float_dtype(dtype)
    modules = [build_module(per_level[:count], target=backend, threshold=threshold, optimise=optimise)
               for count in range(1, len(per_level) + 1)]
    products = [numpy_call(library_product(backend), backend)] + [numpy_call(m.matmul, backend) for m in modules]
    rows = []
    for size in sizes:
        n, m, p = (size, size, size) if isinstance(size, int) else size
        for dtype in dtypes:
            for distribution, errors in measure(products, size, dtype, distributions=distributions,
                                                seed=seed).items():
                library = errors[0]
                rows += [{"levels": count, "levels_run": len(module.levels_used(n, m, p)),
                          "ranks": [s.rank for s in per_level[:count]], "size": [n, m, p], "dtype": dtype,
                          "distribution": distribution, "backend": backend, **asdict(found),
                          "library_normwise": library.normwise, "library_elementwise": library.elementwise}
                         for count, (module, found) in enumerate(zip(modules, errors[1:], strict=True), 1)]
    return rows
