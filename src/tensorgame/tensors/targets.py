"""Target tensors: the bilinear maps whose rank decompositions we search for.

Convention (used everywhere in the project): for C = A·B with A n×m, B m×p, the
vectors vec(A), vec(B), vec(C) are row-major and

    T[i*m + j, j*p + k, i*p + k] = 1,

so the third factor of a scheme indexes C itself, not its transpose. Other bilinear
maps (skew-symmetric matrix times vector, polynomial and complex multiplication, any
user tensor) share the same (I, J, K) layout: a term (u, v, w) computes
m = (u·x)(v·y) and adds m·w to the output.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from tensorgame.errors import FormatError, TargetError
from tensorgame.fileio import (
    error_context,
    load_json,
    read_npy_data,
    read_npy_header,
    read_text,
)
from tensorgame.tensors.modular import PRIME_BITS, PRIMES, matrix_rank_kernel

#: Largest dense tensor we agree to build (entries); <16,16,16> has 1.7e7.
MAX_TENSOR_ENTRIES = 1 << 26
#: Largest matrix side accepted for matmul targets.
MAX_MATMUL_SIDE = 64
#: Multiply-adds spent on exact slice ranks in :attr:`Target.naive_rank` (about a
#: second); float SVDs of the largest allowed slices took minutes and ignored Ctrl-C.
NAIVE_RANK_WORK = 10**9


@dataclass(frozen=True, eq=False)
class Target:
    """A 3-way integer tensor with a name, a stable key and its known symmetries.

    ``kind`` and ``params`` identify the family (``matmul`` with (n, m, p),
    ``skew_matvec`` with (n,), ``polymul`` with (n, m), ``complex`` with (), or
    ``tensor`` for user data); ``symmetries`` lists the transformations that map
    a correct scheme of this target to another correct scheme of the same target.
    """

    kind: str
    params: tuple[int, ...]
    tensor: np.ndarray = field(repr=False)
    symmetries: tuple[str, ...] = ()

    @property
    def dims(self) -> tuple[int, int, int]:
        return tuple(int(d) for d in self.tensor.shape)  # type: ignore[return-value]

    @property
    def name(self) -> str:
        if self.kind == "matmul":
            return "<{},{},{}>".format(*self.params)
        if self.kind == "tensor":
            return "tensor{}x{}x{}#{}".format(*self.dims, self.key.split(":")[1][:10])
        inner = ",".join(str(p) for p in self.params)
        return f"{self.kind}({inner})" if inner else self.kind

    @cached_property
    def key(self) -> str:
        """Stable identifier used by the catalogue and in file names (computed once: a
        user tensor's digest hashes every entry, and the key is asked for often)."""
        if self.kind == "tensor":
            return "tensor:" + _tensor_digest(self.tensor)
        return self.kind + ":" + ",".join(str(p) for p in self.params)

    @property
    def is_matmul(self) -> bool:
        return self.kind == "matmul"

    @property
    def factor_shapes(self) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]] | None:
        """Matrix shapes of the three factors for matmul targets (A, B, C), else None."""
        if not self.is_matmul:
            return None
        n, m, p = self.params
        return (n, m), (m, p), (n, p)

    @property
    def naive_rank(self) -> int:
        """Rank of the obvious algorithm: one product per term of the definition.

        For matmul this is n·m·p; for a general tensor it is the smallest sum of
        slice-matrix ranks over the three modes (each slice matrix M_a of rank r
        costs r products), which equals the number of non-zeros for matmul. Slice
        ranks are exact within a work budget, bounded by the slice's size past it.
        """
        if self.is_matmul:
            n, m, p = self.params
            return n * m * p
        return _naive_rank(self.tensor)

    def labels(self) -> tuple[list[str], list[str], list[str]]:
        """Human names of the coordinates of the three factors (x, y inputs, z output)."""
        return _labels(self.kind, self.params, self.dims)

    def to_json(self) -> dict[str, Any]:
        """JSON description from which :func:`target_from_json` rebuilds this target."""
        if self.kind == "matmul":
            n, m, p = self.params
            return {"kind": "matmul", "n": n, "m": m, "p": p}
        if self.kind == "skew_matvec":
            return {"kind": "skew_matvec", "n": self.params[0]}
        if self.kind == "polymul":
            return {"kind": "polymul", "n": self.params[0], "m": self.params[1]}
        if self.kind == "complex":
            return {"kind": "complex"}
        idx = np.argwhere(self.tensor != 0)
        vals = self.tensor[tuple(idx.T)]
        entries = [[int(a), int(b), int(c), int(v)] for (a, b, c), v in zip(idx, vals)]
        return {"kind": "tensor", "dims": list(self.dims), "entries": entries}


def _tensor_digest(t: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(np.asarray(t.shape, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(t, dtype=np.int64).tobytes())
    return h.hexdigest()[:32]


def _naive_rank(t: np.ndarray) -> int:
    """min over the three modes of the sum of the slice ranks (see :attr:`Target.naive_rank`).

    Cost is bounded up front: a slice that has at most one non-zero per row and column
    (every slice of matmul, polymul, skew_matvec) has rank = its non-zero count for free;
    the others, without repeated rows and columns, are ranked over Q (compiled, one
    slice per call, so Ctrl-C is honoured between slices) while :data:`NAIVE_RANK_WORK`
    lasts, after which a slice counts min(distinct rows, distinct columns): still the
    size of a valid algorithm.
    """
    budget = NAIVE_RANK_WORK
    best: int | None = None
    for mode in range(3):
        total = 0
        for piece in np.moveaxis(t, mode, 0):
            rows, cols = np.flatnonzero(piece.any(axis=1)), np.flatnonzero(piece.any(axis=0))
            nnz = int(np.count_nonzero(piece))
            if nnz == len(rows) == len(cols):
                total += nnz
                continue
            # repeated rows or columns do not change the rank
            sub = _distinct_rows(_distinct_rows(piece[np.ix_(rows, cols)]).T).T
            r, c = sub.shape
            cost = r * c * min(r, c)
            if cost > budget:
                total += min(r, c)
            else:
                budget -= cost
                sub = np.ascontiguousarray(sub, dtype=np.int64)
                total += int(matrix_rank_kernel(sub, r, c, 0, np.empty_like(sub),
                                                np.zeros(r, np.uint64), PRIMES, PRIME_BITS))
            if best is not None and total >= best:
                break
        best = total if best is None else min(best, total)
    return int(best or 0)


def _distinct_rows(a: np.ndarray) -> np.ndarray:
    """The rows of ``a`` without repeats (exact: compared as bytes; faster than np.unique)."""
    a = np.ascontiguousarray(a)
    return np.asarray(list({row.tobytes(): row for row in a}.values()))


def _freeze(t: np.ndarray) -> np.ndarray:
    t = np.ascontiguousarray(t)
    t.setflags(write=False)
    return t


def _check_entries(count: int, what: str) -> None:
    if count > MAX_TENSOR_ENTRIES:
        raise TargetError(
            f"{what} would have {count:,} entries; the limit is {MAX_TENSOR_ENTRIES:,}"
        )


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TargetError(f"{name} must be a positive integer, got {value!r}")
    if value < 1:
        raise TargetError(f"{name} must be a positive integer, got {value}")
    return int(value)


def matmul_tensor(n: int, m: int, p: int) -> np.ndarray:
    """The <n,m,p> matrix multiplication tensor, shape (n·m, m·p, n·p), int8.

    ``T[i*m + j, j*p + k, i*p + k] = 1``: row-major vec(A), vec(B) and vec(C), C not
    transposed. The array is read-only; use :func:`matmul_target` for the full target.
    """
    return matmul_target(n, m, p).tensor


def matmul_target(n: int, m: int, p: int) -> Target:
    """The target for multiplying an n×m matrix by an m×p matrix."""
    return _matmul_target(*(_positive_int(x, name) for x, name in ((n, "n"), (m, "m"), (p, "p"))))


@lru_cache(maxsize=64)
def _matmul_target(n: int, m: int, p: int) -> Target:
    if max(n, m, p) > MAX_MATMUL_SIDE:
        raise TargetError(
            f"matmul <{n},{m},{p}>: sides above {MAX_MATMUL_SIDE} are not supported"
        )
    _check_entries(n * m * m * p * n * p, f"matmul <{n},{m},{p}>")
    t = np.zeros((n * m, m * p, n * p), dtype=np.int8)
    i, j, k = np.meshgrid(np.arange(n), np.arange(m), np.arange(p), indexing="ij")
    t[(i * m + j).ravel(), (j * p + k).ravel(), (i * p + k).ravel()] = 1
    syms = ["term_permutation", "basis_change"]
    if n == p:
        syms.append("transpose")
    if n == m == p:
        syms.append("cyclic")
    return Target("matmul", (n, m, p), _freeze(t), tuple(syms))


def skew_matvec_target(n: int) -> Target:
    """Product y = S·x of an n×n skew-symmetric S (given by its entries above the
    diagonal, row-major) with a vector x: shape (n(n-1)/2, n, n)."""
    return _skew_matvec_target(_positive_int(n, "n"))


@lru_cache(maxsize=16)
def _skew_matvec_target(n: int) -> Target:
    if n < 2:
        raise TargetError("skew_matvec needs n >= 2")
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    _check_entries(len(pairs) * n * n, f"skew_matvec({n})")
    t = np.zeros((len(pairs), n, n), dtype=np.int8)
    for a, (i, j) in enumerate(pairs):
        t[a, j, i] = 1  # y_i += s_ij x_j
        t[a, i, j] = -1  # y_j += s_ji x_i = -s_ij x_i
    return Target("skew_matvec", (n,), _freeze(t), ("term_permutation",))


def polymul_target(n: int, m: int) -> Target:
    """Product of a polynomial with n coefficients by one with m coefficients."""
    return _polymul_target(_positive_int(n, "n"), _positive_int(m, "m"))


@lru_cache(maxsize=16)
def _polymul_target(n: int, m: int) -> Target:
    _check_entries(n * m * (n + m - 1), f"polymul({n},{m})")
    t = np.zeros((n, m, n + m - 1), dtype=np.int8)
    i, j = np.meshgrid(np.arange(n), np.arange(m), indexing="ij")
    t[i.ravel(), j.ravel(), (i + j).ravel()] = 1
    syms = ("term_permutation", "swap_inputs") if n == m else ("term_permutation",)
    return Target("polymul", (n, m), _freeze(t), syms)


@lru_cache(maxsize=1)
def complex_target() -> Target:
    """(a0 + a1 i)(b0 + b1 i): real part a0b0 - a1b1, imaginary part a0b1 + a1b0."""
    t = np.zeros((2, 2, 2), dtype=np.int8)
    t[0, 0, 0], t[1, 1, 0] = 1, -1
    t[0, 1, 1], t[1, 0, 1] = 1, 1
    return Target("complex", (), _freeze(t), ("term_permutation", "swap_inputs"))


def tensor_target(tensor: np.ndarray) -> Target:
    """A user-given integer 3-way tensor."""
    arr = np.asarray(tensor)
    if arr.ndim != 3:
        raise TargetError(f"a target tensor must have 3 axes, got {arr.ndim}")
    if min(arr.shape) < 1:
        raise TargetError(f"a target tensor must be non-empty, got shape {arr.shape}")
    _check_entries(int(np.prod(arr.shape, dtype=np.int64)), "tensor")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.array_equal(arr, np.round(arr)):
            raise TargetError("a target tensor must have integer entries")
    elif arr.dtype.kind not in "iub":
        raise TargetError(f"a target tensor must have integer entries, got dtype {arr.dtype}")
    if arr.size and np.max(np.abs(arr.astype(np.float64))) > 2**31:
        raise TargetError("target tensor entries must be below 2^31 in absolute value")
    return _as_matmul(arr) or Target("tensor", (), _freeze(arr.astype(np.int64)), ("term_permutation",))


def _as_matmul(arr: np.ndarray) -> Target | None:
    """<n,m,p> when ``arr`` is exactly its tensor (row-major, C not transposed), so a
    matmul tensor given as a file gets its name, symmetries and known ranks."""
    d0, d1, d2 = arr.shape
    for n in range(1, d0 + 1):
        m = d0 // n
        if d0 % n or d1 % m:
            continue
        p = d1 // m
        if (n * p == d2 and max(n, m, p) <= MAX_MATMUL_SIDE and int(np.count_nonzero(arr)) == n * m * p
                and np.array_equal(arr, matmul_tensor(n, m, p))):
            return matmul_target(n, m, p)
    return None


def target_from_json(doc: Any) -> Target:
    """Rebuild a target from its JSON description (see :meth:`Target.to_json`)."""
    if isinstance(doc, (list, tuple)):
        if len(doc) != 3:
            raise TargetError(f"a matmul shape needs three sides [n, m, p], got {doc!r}")
        return matmul_target(*doc)
    if not isinstance(doc, dict) or "kind" not in doc:
        raise TargetError("a target description must be [n, m, p] or an object with 'kind'")
    kind = doc["kind"]
    try:
        if kind == "matmul":
            return matmul_target(doc["n"], doc["m"], doc["p"])
        if kind == "skew_matvec":
            return skew_matvec_target(doc["n"])
        if kind == "polymul":
            return polymul_target(doc["n"], doc["m"])
        if kind == "complex":
            return complex_target()
        if kind == "tensor":
            return _tensor_from_entries(doc["dims"], doc["entries"])
    except KeyError as exc:
        raise TargetError(f"target of kind {kind!r} lacks the field {exc.args[0]!r}") from None
    raise TargetError(f"unknown target kind {kind!r}")


def _tensor_from_entries(dims: Any, entries: Any) -> Target:
    if not isinstance(dims, list) or len(dims) != 3:
        raise TargetError("tensor 'dims' must be a list of three positive integers")
    dims = [_positive_int(d, "dims") for d in dims]
    _check_entries(dims[0] * dims[1] * dims[2], "tensor")
    try:
        ent = np.asarray(entries, dtype=np.int64).reshape(-1, 4)
    except (TypeError, ValueError, OverflowError):
        raise TargetError("tensor 'entries' must be a list of [i, j, k, value] integer rows") from None
    t = np.zeros(dims, dtype=np.int64)
    if len(ent):
        idx = ent[:, :3]
        if (idx < 0).any() or (idx >= np.asarray(dims)).any():
            raise TargetError("tensor 'entries' has an index outside 'dims'")
        if ((ent[:, 3] >= 2**31) | (ent[:, 3] <= -(2**31))).any():  # before summing repeats
            raise TargetError("tensor 'entries' values must be below 2^31 in absolute value")
        np.add.at(t, (idx[:, 0], idx[:, 1], idx[:, 2]), ent[:, 3])
    return tensor_target(t)


def load_target_file(path: str | Path) -> Target:
    """Read a user tensor: ``.npy`` (plain numeric array, no pickle) or JSON (see
    :meth:`Target.to_json`), with the guards of the scheme readers (:mod:`tensorgame.fileio`:
    file size, JSON nesting and digits, the ``.npy`` shape checked before any data is
    read). Every problem is a :class:`TargetError`. A zero tensor is refused: its rank
    is 0, there is nothing to compute."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".npy":
            target = tensor_target(_read_npy_tensor(path))
        else:
            text = read_text(path)
            with error_context(str(path)):
                doc = load_json(text)
                if isinstance(doc, dict) and "target" in doc and "kind" not in doc:
                    doc = doc["target"]
                target = target_from_json(doc)
    except FormatError as exc:
        raise TargetError(str(exc)) from None
    if not target.tensor.any():
        raise TargetError(f"{path}: the tensor is zero, so its rank is 0: there is nothing to compute")
    return target


def _read_npy_tensor(path: Path) -> np.ndarray:
    """The 3-way array of a ``.npy`` file; shape and size are checked from the header,
    before the data is read."""
    try:
        with open(path, "rb") as fh:
            header = read_npy_header(fh, str(path))
            if len(header.shape) != 3:
                raise TargetError(f"{path}: a target tensor must have 3 axes, got shape {header.shape}")
            if min(header.shape) < 1:
                raise TargetError(f"{path}: a target tensor must be non-empty, got shape {header.shape}")
            _check_entries(header.count, f"{path}: the tensor")
            return read_npy_data(fh, header, str(path))
    except OSError as exc:
        raise FormatError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _labels(kind: str, params: tuple[int, ...], dims: tuple[int, int, int]):
    if kind == "matmul":
        n, m, p = params
        wide = max(params) >= 10

        def mat(letter: str, rows: int, cols: int) -> list[str]:
            sep = "_" if wide else ""
            return [f"{letter}{r + 1}{sep}{c + 1}" for r in range(rows) for c in range(cols)]

        return mat("a", n, m), mat("b", m, p), mat("c", n, p)
    if kind == "skew_matvec":
        (n,) = params
        s = [f"s{i + 1}{j + 1}" for i in range(n) for j in range(i + 1, n)]
        return s, [f"x{j + 1}" for j in range(n)], [f"y{i + 1}" for i in range(n)]
    if kind == "polymul":
        return ([f"a{i}" for i in range(dims[0])], [f"b{j}" for j in range(dims[1])],
                [f"c{k}" for k in range(dims[2])])
    if kind == "complex":
        return ["a_re", "a_im"], ["b_re", "b_im"], ["c_re", "c_im"]
    return ([f"x{i}" for i in range(dims[0])], [f"y{j}" for j in range(dims[1])],
            [f"z{k}" for k in range(dims[2])])


@dataclass(frozen=True)
class KnownRanks:
    """Reference ranks for a matmul format: published ranks (from the project's brief,
    as of 2026) and the FastMatrixMultiplication collection's best per ring (``ZT``:
    coefficients in {-1, 0, 1}; ``Z``; ``Q``), with the collection's file for each."""

    naive: int
    alphatensor_z: int | None = None
    alphatensor_z2: int | None = None
    best_z: int | None = None
    best_z2: int | None = None
    best_q: int | None = None
    lower_bound: int | None = None
    collection_zt: int | None = None
    collection_z: int | None = None
    collection_q: int | None = None
    collection_sources: dict[str, str] = field(default_factory=dict)


def _data_rows(name: str) -> list[dict[str, str]]:
    """The rows of a CSV file shipped in tensorgame/data (``#`` lines are comments)."""
    text = resources.files("tensorgame.data").joinpath(name).read_text()
    return list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))


@lru_cache(maxsize=1)
def _known_table() -> dict[tuple[int, int, int], KnownRanks]:
    table = {}
    for row in _data_rows("known_ranks.csv"):
        num = {k: int(v) if v else None for k, v in row.items()}
        key = (int(row["n"]), int(row["m"]), int(row["p"]))
        table[key] = KnownRanks(
            naive=int(row["naive"]), alphatensor_z=num["alphatensor_Z"],
            alphatensor_z2=num["alphatensor_Z2"], best_z=num["best_Z"],
            best_z2=num["best_Z2"], best_q=num["best_Q"], lower_bound=num["lower_bound"],
        )
    collection: dict[tuple[int, int, int], dict[str, Any]] = {}
    for row in _data_rows("fmm_best.csv"):
        n, m, p = sorted(int(x) for x in row["format"].split("x"))
        fields = collection.setdefault((n, m, p), {"collection_sources": {}})
        fields[f"collection_{row['ring'].lower()}"] = int(row["rank"])
        fields["collection_sources"][row["ring"]] = row["source"]
    for (n, m, p), fields in collection.items():
        known = table.get((n, m, p)) or KnownRanks(naive=n * m * p)
        table[(n, m, p)] = replace(known, **fields)
    return table


def known_ranks(n: int, m: int, p: int) -> KnownRanks | None:
    """Published ranks and the collection's best for <n,m,p>; the rank of a format is
    invariant under permuting (n, m, p), so the table is keyed by the sorted sides."""
    return _known_table().get(tuple(sorted((n, m, p))))  # type: ignore[arg-type]
