"""Building schemes from other schemes.

The Kronecker product of a <n1,m1,p1> scheme and a <n2,m2,p2> scheme is a scheme for
<n1·n2, m1·m2, p1·p2> of rank R1·R2: view each big matrix as an n1×m1 grid of n2×m2
blocks, run the outer scheme on blocks and the inner one inside each block product.
With row-major vectorisation, the factor matrices of term (r1, r2) are exactly the
Kronecker products of the factor matrices of r1 and r2 (Strassen ⊗ Strassen is the
rank-49 <4,4,4> algorithm).
"""

from __future__ import annotations

import numpy as np

from tensorgame.errors import RingError, TargetError
from tensorgame.tensors.scheme import Scheme
from tensorgame.tensors.targets import matmul_target


def kron_scheme(outer: Scheme, inner: Scheme) -> Scheme:
    """Scheme for the block product: ``outer`` on blocks, ``inner`` within blocks."""
    if not (outer.target.is_matmul and inner.target.is_matmul):
        raise TargetError("kron_scheme needs two matrix multiplication schemes")
    if outer.ring != inner.ring:
        raise RingError(f"cannot combine a scheme over {outer.ring} with one over {inner.ring}")
    n1, m1, p1 = outer.target.params
    n2, m2, p2 = inner.target.params
    r1, r2 = outer.rank, inner.rank
    factors = []
    for a, b in zip(outer.terms_matrices(), inner.terms_matrices()):
        # (r1, x1, y1) ⊗ (r2, x2, y2) -> (r1, r2, x1, x2, y1, y2) -> (r1·r2, x1·x2·y1·y2)
        k = np.einsum("aij,bkl->abikjl", a, b)
        factors.append(k.reshape(r1 * r2, -1))
    den = None
    if outer.denominators is not None or inner.denominators is not None:
        d1 = outer.denominators if outer.denominators is not None else np.ones((r1, 3), np.int64)
        d2 = inner.denominators if inner.denominators is not None else np.ones((r2, 3), np.int64)
        den = (d1[:, None, :] * d2[None, :, :]).reshape(r1 * r2, 3)
    u, v, w = (outer.ring.reduce(f) for f in factors)
    return Scheme(matmul_target(n1 * n2, m1 * m2, p1 * p2), outer.ring, u, v, w, den)
