"""Straight-line program listing of a scheme (export only).

The listing is what one would hand-translate into code: for each term the two linear
forms ``s_r``, ``t_r`` of the inputs and their product ``m_r``, then every output as a
signed sum of products. It is deterministic, so listings of two schemes can be diffed.
Temporaries carry an underscore (``s_1``) so they never clash with input names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tensorgame.errors import FormatError
from tensorgame.fileio import atomic_write
from tensorgame.formats.flipgraph_text import linear_form
from tensorgame.tensors.scheme import Scheme


def slp_lines(scheme: Scheme, **meta: Any) -> list[str]:
    """The program, one assignment per line after a header of ``#`` comments.

    Over Q a factor's denominator d appears as ``(1/d)*(...)``; the third factor's
    denominator is folded into the product line so outputs stay integer sums.
    """
    target = scheme.target
    xs, ys, zs = target.labels()
    rank = scheme.rank
    den = scheme.denominators if scheme.denominators is not None else np.ones((rank, 3), np.int64)
    scalings = int(sum(np.count_nonzero(np.abs(f) > 1) for f in (scheme.u, scheme.v, scheme.w)))
    scalings += int(np.count_nonzero(den > 1))
    lines = [
        f"# straight-line program for {target.name} over {scheme.ring}",
        f"# rank {rank}: {rank} multiplications, {scheme.additions} additions, "
        f"{scalings} multiplications by constants",
    ]
    if scheme.ring.modulus is not None:
        lines.append(f"# all arithmetic is modulo {scheme.ring.modulus}")
    if target.is_matmul:
        lines.append("# C = A*B with a<i><j> = A[i][j], b<j><k> = B[j][k], c<i><k> = C[i][k] (1-based)")
    lines += [f"# inputs: {' '.join(xs)}", f"# inputs: {' '.join(ys)}", f"# outputs: {' '.join(zs)}"]
    lines += [f"# {key}: {value}" for key, value in meta.items()]
    products = [f"m_{r + 1}" for r in range(rank)]
    for r in range(rank):
        du, dv, dw = (int(d) for d in den[r])
        lines.append(f"s_{r + 1} = {_scaled(linear_form(scheme.u[r], xs, ' '), du)}")
        lines.append(f"t_{r + 1} = {_scaled(linear_form(scheme.v[r], ys, ' '), dv)}")
        lines.append(f"m_{r + 1} = {_scaled(f's_{r + 1} * t_{r + 1}', dw)}")
    for k, name in enumerate(zs):
        lines.append(f"{name} = {linear_form(scheme.w[:, k], products, ' ')}")
    return lines


def write_slp(schemes: list[Scheme], path: str | Path, **meta: Any) -> None:
    """Write the listing of a single scheme."""
    if len(schemes) != 1:
        raise FormatError(f"{path}: a straight-line program file holds one scheme, got {len(schemes)}")
    atomic_write(path, ("\n".join(slp_lines(schemes[0], **meta)) + "\n").encode("utf-8"))


def _scaled(expr: str, denominator: int) -> str:
    return expr if denominator == 1 else f"(1/{denominator})*({expr})"
