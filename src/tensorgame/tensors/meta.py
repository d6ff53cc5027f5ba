"""Meta moves: schemes for one matmul format built from schemes for another.

A good scheme of a nearby format is a better start for a flip-graph search than the
naive one (Kauers & Moosbauer, Arai et al.):

* :func:`extend` <n,m,p> -> <n+1,m,p> (or along m or p): the old terms compute the
  old block unchanged and the products of the new row (column) are added naively,
  m·p (n·p, n·m) of them;
* :func:`project` <n+1,m,p> -> <n,m,p>: restrict every term to the sub-problem where
  one row of A (a column of A and row of B, a column of B) is zero and ignore the
  matching row (column) of C; terms left with a zero factor vanish;
* :func:`product`: the Kronecker product of two schemes (``compose.kron_scheme``);
* :func:`join` <n1,m,p> + <n2,m,p> -> <n1+n2,m,p> (or along m or p): the direct sum,
  each scheme on its own block of rows (columns), rank r1 + r2;
* :func:`adapt`: a chain of extensions and projections, tried after each of the six
  symmetries that permute (n, m, p), keeping the lowest rank; :func:`join_to` the same
  for the join of two schemes, and :func:`assemble` the lowest rank that all of these
  make of a set of schemes.

In the project's convention u indexes A (n×m) row-major, v indexes B (m×p) and w
indexes C (n×p). Every move is an identity of sums of rank-one tensors, so it keeps
exactness in every ring; the tests check that on each move.
"""

from __future__ import annotations

import numpy as np

from tensorgame.errors import RingError, TargetError
from tensorgame.tensors.compose import kron_scheme
from tensorgame.tensors.scheme import Scheme, naive_scheme
from tensorgame.tensors.symmetry import cyclic_rotation, transpose
from tensorgame.tensors.targets import matmul_target

__all__ = ["adapt", "assemble", "extend", "join", "join_to", "product", "project"]

#: For an axis of (n, m, p): which factors (0 = u over A, 1 = v over B, 2 = w over C)
#: have that side as their (rows, columns) dimension.
_SIDES = {0: ((0, 0), (2, 0)), 1: ((0, 1), (1, 0)), 2: ((1, 1), (2, 1))}

product = kron_scheme


def _dims(scheme: Scheme) -> tuple[int, int, int]:
    if not scheme.target.is_matmul:
        raise TargetError(f"meta moves need a matrix multiplication scheme, not {scheme.target.name}")
    return scheme.target.params  # type: ignore[return-value]


def _check_axis(axis: int) -> None:
    if axis not in (0, 1, 2):
        raise TargetError(f"axis must be 0 (n), 1 (m) or 2 (p), got {axis}")


def _unit_matrix(rows: int, cols: int, i: int, j: int) -> np.ndarray:
    e = np.zeros((rows, cols), dtype=np.int64)
    e[i, j] = 1
    return e.ravel()


def extend(scheme: Scheme, axis: int) -> Scheme:
    """The <n,m,p> scheme as one for the format one larger along ``axis``: the old
    terms (zero-padded) plus the naive products that involve the new index."""
    _check_axis(axis)
    dims = _dims(scheme)
    big = list(dims)
    big[axis] += 1
    n, m, p = big
    shapes = [(n, m), (m, p), (n, p)]
    old = scheme.terms_matrices()
    padded = []
    for f, (rows, cols) in enumerate(shapes):
        x = np.zeros((scheme.rank, rows, cols), dtype=np.int64)
        x[:, : old[f].shape[1], : old[f].shape[2]] = old[f]
        padded.append(x.reshape(scheme.rank, -1))
    new = [(i, j, k) for i in range(n) for j in range(m) for k in range(p) if (i, j, k)[axis] == big[axis] - 1]
    naive = [
        np.array([_unit_matrix(n, m, i, j) for i, j, _ in new], dtype=np.int64).reshape(-1, n * m),
        np.array([_unit_matrix(m, p, j, k) for _, j, k in new], dtype=np.int64).reshape(-1, m * p),
        np.array([_unit_matrix(n, p, i, k) for i, _, k in new], dtype=np.int64).reshape(-1, n * p),
    ]
    den = None
    if scheme.denominators is not None:
        den = np.concatenate([scheme.denominators, np.ones((len(new), 3), dtype=np.int64)])
    factors = [scheme.ring.reduce(np.concatenate([a, b])) for a, b in zip(padded, naive)]
    return Scheme(matmul_target(n, m, p), scheme.ring, *factors, denominators=den)


def project(scheme: Scheme, axis: int, index: int | None = None) -> Scheme:
    """The scheme restricted to the format one smaller along ``axis``, dropping
    ``index`` along it (default: the index whose removal leaves the fewest terms)."""
    _check_axis(axis)
    dims = _dims(scheme)
    if dims[axis] < 2:
        raise TargetError(f"cannot project {scheme.target.name} below size 1 along axis {axis}")
    if index is None:
        return min((project(scheme, axis, i) for i in range(dims[axis])), key=lambda s: s.rank)
    if not 0 <= index < dims[axis]:
        raise TargetError(f"index {index} is outside 0..{dims[axis] - 1} for axis {axis}")
    small = list(dims)
    small[axis] -= 1
    factors = list(scheme.terms_matrices())
    for f, side in _SIDES[axis]:
        factors[f] = np.delete(factors[f], index, axis=1 + side)
    flat = [x.reshape(scheme.rank, -1) for x in factors]
    restricted = Scheme(matmul_target(*small), scheme.ring, *flat, denominators=scheme.denominators)
    return restricted.without_zero_terms()


def _symmetric_variants(scheme: Scheme) -> list[Scheme]:
    """The scheme under the six symmetries permuting (n, m, p): cyclic rotations,
    each with and without transposition."""
    variants = [scheme]
    for _ in range(2):
        variants.append(cyclic_rotation(variants[-1]))
    return variants + [transpose(s) for s in variants]


def _walk_to(scheme: Scheme, dims: tuple[int, int, int]) -> Scheme:
    for axis in range(3):
        while _dims(scheme)[axis] < dims[axis]:
            scheme = extend(scheme, axis)
        while _dims(scheme)[axis] > dims[axis]:
            scheme = project(scheme, axis)
    return scheme


def adapt(scheme: Scheme, dims: tuple[int, int, int]) -> Scheme:
    """A scheme for <dims> from a scheme of any format, by the format's symmetries,
    projections and extensions; the lowest-rank result of the six orientations."""
    dims = tuple(int(d) for d in dims)  # type: ignore[assignment]
    matmul_target(*dims)  # validates the sides
    _dims(scheme)
    return min((_walk_to(v, dims) for v in _symmetric_variants(scheme)), key=lambda s: s.rank)


def join(first: Scheme, second: Scheme, axis: int) -> Scheme:
    """The direct sum along ``axis``: <n1,m,p> and <n2,m,p> give <n1+n2,m,p> (along m
    the two products are added, along n and p they fill separate blocks)."""
    _check_axis(axis)
    if first.ring != second.ring:
        raise RingError(f"cannot join a scheme over {first.ring} with one over {second.ring}")
    a, b = _dims(first), _dims(second)
    if any(x != y for k, (x, y) in enumerate(zip(a, b)) if k != axis):
        raise TargetError(f"cannot join {first.target.name} and {second.target.name} along axis {axis}: "
                          "the other two sides differ")
    big = list(a)
    big[axis] += b[axis]
    n, m, p = big
    shapes = [(n, m), (m, p), (n, p)]
    factors = []
    for f, (rows, cols) in enumerate(shapes):
        blocks = []
        for scheme, offset in ((first, 0), (second, a[axis])):
            old = scheme.terms_matrices()[f]
            start = [0, 0]
            for g, side in _SIDES[axis]:
                if g == f:
                    start[side] = offset
            x = np.zeros((scheme.rank, rows, cols), dtype=np.int64)
            x[:, start[0]:start[0] + old.shape[1], start[1]:start[1] + old.shape[2]] = old
            blocks.append(x.reshape(scheme.rank, -1))
        factors.append(np.concatenate(blocks))
    den = None
    if first.denominators is not None or second.denominators is not None:
        den = np.concatenate([s.denominators if s.denominators is not None else np.ones((s.rank, 3), np.int64)
                              for s in (first, second)])
    return Scheme(matmul_target(n, m, p), first.ring, *factors, denominators=den)


def join_to(first: Scheme, second: Scheme, dims: tuple[int, int, int]) -> Scheme:
    """A scheme for <dims> from the direct sum of two schemes: every orientation of
    each that joins, adapted to <dims>; the lowest rank."""
    dims = tuple(int(d) for d in dims)  # type: ignore[assignment]
    joined = {}
    for x in _symmetric_variants(first):
        for y in _symmetric_variants(second):
            a, b = _dims(x), _dims(y)
            for axis in range(3):
                if all(a[k] == b[k] for k in range(3) if k != axis):
                    big = tuple(a[k] + b[k] if k == axis else a[k] for k in range(3))
                    joined.setdefault(big, join(x, y, axis))
    if not joined:
        raise TargetError(f"{first.target.name} and {second.target.name} share no two sides: they do not join")
    return min((adapt(s, dims) for s in joined.values()), key=lambda s: s.rank)


def _name(scheme: Scheme) -> str:
    return f"<{','.join(map(str, _dims(scheme)))}> {scheme.rank}"


def assemble(sources: list[Scheme], dims: tuple[int, int, int]) -> tuple[Scheme, str]:
    """The lowest-rank scheme for <dims> that meta moves make of the ``sources``
    (schemes of one ring) of smaller formats (every sorted side at most <dims>'s, the
    format itself left out), and how it was made: the naive scheme, each source
    extended, or the direct sum of two blocks <dims> splits into, each block the best
    of its naive scheme and the sources no larger than it; ties go to the earlier."""
    dims = tuple(int(d) for d in dims)  # type: ignore[assignment]

    def fits(scheme: Scheme, shape: tuple[int, ...]) -> bool:
        return all(x <= y for x, y in zip(sorted(_dims(scheme)), sorted(shape)))

    sources = [s for s in sources if fits(s, dims) and sorted(_dims(s)) != sorted(dims)]
    ring = sources[0].ring if sources else "Z"
    naive = naive_scheme(matmul_target(*dims), ring)

    best_block: dict[tuple[int, ...], Scheme] = {}

    def block(shape: tuple[int, ...]) -> Scheme:
        if shape not in best_block:
            options = [naive_scheme(matmul_target(*shape), ring)]
            options += [adapt(s, shape) for s in sources if fits(s, shape)]
            best_block[shape] = min(options, key=lambda s: s.rank)
        return best_block[shape]

    options = [(naive, "naive")] + [(adapt(s, dims), f"{_name(s)} adapted") for s in sources]
    for axis in range(3):
        for k in range(1, dims[axis] // 2 + 1):
            low = block(tuple(k if i == axis else d for i, d in enumerate(dims)))
            high = block(tuple(dims[axis] - k if i == axis else d for i, d in enumerate(dims)))
            options.append((join(low, high, axis), f"{_name(low)} + {_name(high)}"))
    return min(options, key=lambda option: option[0].rank)
