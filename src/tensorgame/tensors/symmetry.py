"""Transformations that map a correct scheme to another correct scheme.

For C = A·B a term (U, V, W) (as n×m, m×p, n×p matrices) contributes
<U, A>·<V, B>·W. The symmetry group of matrix multiplication acts as follows:

* basis change by invertible P (n×n), Q (m×m), S (p×p): A -> P A Q⁻¹, B -> Q B S⁻¹
  gives U' = Pᵀ U Q⁻ᵀ, V' = Qᵀ V S⁻ᵀ, W' = P⁻¹ W S;
* cyclic rotation (trace(A B Cᵀ) is cyclic): a <n,m,p> scheme becomes an <m,p,n>
  scheme with terms (V, Wᵀ, Uᵀ);
* transposition ((AB)ᵀ = BᵀAᵀ): a <n,m,p> scheme becomes a <p,m,n> scheme with
  terms (Vᵀ, Uᵀ, Wᵀ).

Over Z the basis matrices must be unimodular (det ±1) so that schemes stay integral;
over Q any invertible integer matrices are accepted (denominators appear); over Z_p
any matrix invertible mod p.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from tensorgame.errors import RingError, TargetError
from tensorgame.tensors.rings import Q, Ring, parse_ring
from tensorgame.tensors.scheme import Scheme
from tensorgame.tensors.targets import matmul_target


def _require_matmul(scheme: Scheme) -> tuple[int, int, int]:
    if not scheme.target.is_matmul:
        raise TargetError(f"{scheme.target.name} is not a matrix multiplication target")
    return scheme.target.params  # type: ignore[return-value]


def integer_inverse(matrix: np.ndarray) -> tuple[np.ndarray, int]:
    """Exact inverse of an integer matrix as (adjugate-like integer matrix N, d > 0)
    with matrix⁻¹ = N / d in lowest common terms. Raises RingError if singular."""
    a = [[Fraction(int(x)) for x in row] for row in np.asarray(matrix).tolist()]
    n = len(a)
    inv = [[Fraction(int(i == j)) for j in range(n)] for i in range(n)]
    for col in range(n):
        piv = next((r for r in range(col, n) if a[r][col] != 0), None)
        if piv is None:
            raise RingError("basis matrix is singular")
        a[col], a[piv] = a[piv], a[col]
        inv[col], inv[piv] = inv[piv], inv[col]
        f = a[col][col]
        a[col] = [x / f for x in a[col]]
        inv[col] = [x / f for x in inv[col]]
        for r in range(n):
            if r != col and a[r][col] != 0:
                g = a[r][col]
                a[r] = [x - g * y for x, y in zip(a[r], a[col])]
                inv[r] = [x - g * y for x, y in zip(inv[r], inv[col])]
    d = math.lcm(*(x.denominator for row in inv for x in row))
    num = np.asarray([[int(x * d) for x in row] for row in inv], dtype=np.int64)
    return num, d


def modular_inverse_matrix(matrix: np.ndarray, p: int) -> np.ndarray:
    """Inverse of an integer matrix modulo a prime p; RingError if singular mod p."""
    num, d = integer_inverse(matrix)
    if d % p == 0:
        raise RingError(f"basis matrix is singular modulo {p}")
    return np.mod(num * pow(d, -1, p), p)


def _inverse_for_ring(matrix: np.ndarray, ring: Ring) -> tuple[np.ndarray, int]:
    if ring.modulus is not None:
        return modular_inverse_matrix(matrix, ring.modulus), 1
    num, d = integer_inverse(matrix)
    if d != 1 and ring != Q:
        raise RingError(f"basis matrix is not unimodular (det ±1), needed over {ring}")
    return num, d


def _reduce_rows(x: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Divide each row and its denominator by their common gcd."""
    g = np.gcd.reduce(np.concatenate([x, d[:, None]], axis=1), axis=1)
    g[g == 0] = 1
    return x // g[:, None], d // g


def change_basis(scheme: Scheme, p_mat: np.ndarray, q_mat: np.ndarray, s_mat: np.ndarray) -> Scheme:
    """The scheme for A·B obtained by substituting A -> P A Q⁻¹, B -> Q B S⁻¹ (see module doc)."""
    n, m, p = _require_matmul(scheme)
    ring = scheme.ring
    mats = [np.asarray(x, dtype=np.int64) for x in (p_mat, q_mat, s_mat)]
    for mat, size, name in zip(mats, (n, m, p), "PQS"):
        if mat.shape != (size, size):
            raise TargetError(f"basis matrix {name} must be {size}×{size}, got {mat.shape}")
    (pi, dp), (qi, dq), (si, ds) = (_inverse_for_ring(x, ring) for x in mats)
    pm, qm, sm = mats
    u, v, w = scheme.terms_matrices()
    rank = scheme.rank
    u2 = np.einsum("ai,rab,jb->rij", pm, u, qi, optimize=True)  # Pᵀ U Q⁻ᵀ (×dq)
    v2 = np.einsum("ai,rab,jb->rij", qm, v, si, optimize=True)  # Qᵀ V S⁻ᵀ (×ds)
    w2 = np.einsum("ia,rab,bj->rij", pi, w, sm, optimize=True)  # P⁻¹ W S (×dp)
    u2, v2, w2 = (x.reshape(rank, -1) for x in (u2, v2, w2))
    if ring.modulus is not None:
        u2, v2, w2 = (ring.reduce(x) for x in (u2, v2, w2))
        return Scheme(scheme.target, ring, u2, v2, w2)
    den = np.ones((rank, 3), dtype=np.int64) if scheme.denominators is None else scheme.denominators.copy()
    den = den * np.asarray([dq, ds, dp], dtype=np.int64)
    cols = []
    for i, x in enumerate((u2, v2, w2)):
        x, d = _reduce_rows(x, den[:, i])
        cols.append(x)
        den[:, i] = d
    return Scheme(scheme.target, ring, *cols, denominators=den)


def cyclic_rotation(scheme: Scheme) -> Scheme:
    """<n,m,p> scheme -> <m,p,n> scheme with terms (V, Wᵀ, Uᵀ)."""
    n, m, p = _require_matmul(scheme)
    u, v, w = scheme.terms_matrices()
    rank = scheme.rank
    den = None if scheme.denominators is None else scheme.denominators[:, [1, 2, 0]]
    return Scheme(
        matmul_target(m, p, n), scheme.ring, v.reshape(rank, -1),
        w.transpose(0, 2, 1).reshape(rank, -1), u.transpose(0, 2, 1).reshape(rank, -1), den,
    )


def transpose(scheme: Scheme) -> Scheme:
    """<n,m,p> scheme -> <p,m,n> scheme with terms (Vᵀ, Uᵀ, Wᵀ), from (AB)ᵀ = BᵀAᵀ."""
    n, m, p = _require_matmul(scheme)
    u, v, w = scheme.terms_matrices()
    rank = scheme.rank
    den = None if scheme.denominators is None else scheme.denominators[:, [1, 0, 2]]
    return Scheme(
        matmul_target(p, m, n), scheme.ring, v.transpose(0, 2, 1).reshape(rank, -1),
        u.transpose(0, 2, 1).reshape(rank, -1), w.transpose(0, 2, 1).reshape(rank, -1), den,
    )


def permute_terms(scheme: Scheme, order: np.ndarray) -> Scheme:
    """Reorder the terms (a sum is commutative)."""
    order = np.asarray(order)
    den = None if scheme.denominators is None else scheme.denominators[order]
    return Scheme(scheme.target, scheme.ring, scheme.u[order], scheme.v[order], scheme.w[order], den)


def negate_terms(scheme: Scheme, mask: np.ndarray) -> Scheme:
    """Replace (u, v, w) by (-u, -v, w) on the masked terms."""
    s = np.where(np.asarray(mask, dtype=bool), -1, 1)[:, None]
    u, v = scheme.u * s, scheme.v * s
    if scheme.ring.modulus is not None:
        u, v = scheme.ring.reduce(u), scheme.ring.reduce(v)
    return Scheme(scheme.target, scheme.ring, u, v, scheme.w, scheme.denominators)


def reduce_mod(scheme: Scheme, p: int | str | Ring) -> Scheme:
    """The scheme over Z_p (denominators inverted mod p); not verified here."""
    ring = parse_ring(p if not isinstance(p, int) else f"Z{p}")
    if ring.modulus is None:
        raise RingError(f"reduce_mod needs a prime field, got {ring}")
    if scheme.denominators is None:
        return scheme.with_ring(ring)
    q = ring.modulus
    den = scheme.denominators
    if bool(np.any(den % q == 0)):
        raise RingError(f"a denominator is divisible by {q}; the scheme has no image mod {q}")
    inv = np.asarray([[pow(int(x), -1, q) for x in row] for row in den.tolist()], dtype=np.int64)
    u, v, w = (np.mod(np.mod(x, q) * inv[:, i : i + 1], q) for i, x in enumerate((scheme.u, scheme.v, scheme.w)))
    return Scheme(scheme.target, ring, u, v, w)


def random_unimodular(size: int, rng: np.random.Generator, steps: int | None = None) -> np.ndarray:
    """A random integer matrix with det ±1 and small entries.

    Built as a signed permutation times a few random elementary operations
    (row_i += ±row_j), which keeps entries small while covering GL(size, Z)'s generators.
    """
    steps = size if steps is None else steps
    mat = np.eye(size, dtype=np.int64)[rng.permutation(size)]
    mat = mat * rng.choice(np.array([-1, 1]), size=size)[:, None]
    for _ in range(steps if size > 1 else 0):
        i, j = rng.choice(size, size=2, replace=False)
        mat[i] += int(rng.choice([-1, 1])) * mat[j]
    return mat
