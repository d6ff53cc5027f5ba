"""Augmentations that turn one correct <tensor, factor list> pair into another.

All of them keep the pair exact:

* term order: a sum is commutative, so swapping a random term with the last one (the
  AlphaTensor augmentation: the last term is the move imitated from the state just
  before the end) or permuting all terms leaves the tensor unchanged;
* signs: (u, v, w) -> (-u, -v, w), (-u, v, -w) or (u, -v, -w) gives the same
  rank-one tensor (a no-op over Z2);
* matrix-multiplication symmetries, for pairs shaped like <n,m,p>: the cyclic
  rotation (u, v, w) -> (v, wᵀ, uᵀ) turns an <n,m,p> pair into an <m,p,n> pair and the
  transposition (u, v, w) -> (vᵀ, uᵀ, wᵀ) an <n,m,p> pair into a <p,m,n> pair (the
  maps of :mod:`tensorgame.tensors.symmetry`). The tensor is carried along (it is
  recomposed exactly from the mapped factors); when it was the target <n,n,n> itself
  it stays that target, so a played game yields new demonstrations of its target.
  Both maps keep the moves of a cyclic pair moves of a cyclic game (orbits go to
  orbits, fixed terms to fixed terms).

Batch functions take and return :class:`~tensorgame.game.synthetic.DemoBatch`
objects (new arrays, the input is left untouched); :func:`augment_scheme` does the
same for a :class:`~tensorgame.tensors.scheme.Scheme`.
"""

from __future__ import annotations

import numpy as np

from tensorgame.game.cyclic import is_fixed, rotation_maps, side_of, transpose_index
from tensorgame.game.errors import GameError
from tensorgame.game.synthetic import DemoBatch, compose
from tensorgame.tensors import symmetry
from tensorgame.tensors.scheme import Scheme

#: Sign patterns (s_u, s_v, s_w) with s_u·s_v·s_w = 1.
_SIGNS = np.array([[1, 1, 1], [-1, -1, 1], [-1, 1, -1], [1, -1, -1]], dtype=np.int8)


def _live(batch: DemoBatch) -> np.ndarray:
    return np.arange(batch.pad_rank)[None, :] < batch.ranks[:, None]


def _reorder(batch: DemoBatch, order: np.ndarray) -> DemoBatch:
    factors = np.take_along_axis(batch.factors, order[:, :, None, None], axis=1)
    return DemoBatch(batch.tensors, factors, batch.ranks, batch.dims, batch.modulus, batch.params,
                     batch.cyclic)


def swap_with_last(batch: DemoBatch, rng: np.random.Generator) -> DemoBatch:
    """Swap a uniformly random term of each pair with its last term."""
    n, pad = len(batch), batch.pad_rank
    order = np.broadcast_to(np.arange(pad), (n, pad)).copy()
    last = batch.ranks - 1
    pick = np.floor(rng.random(n) * batch.ranks).astype(np.int64)
    ok = batch.ranks > 0
    rows = np.flatnonzero(ok)
    order[rows, last[ok]] = pick[ok]
    order[rows, pick[ok]] = last[ok]
    return _reorder(batch, order)


def permute_terms(batch: DemoBatch, rng: np.random.Generator) -> DemoBatch:
    """A uniformly random order of each pair's terms (padding stays at the end)."""
    keys = rng.random((len(batch), batch.pad_rank))
    keys[~_live(batch)] = 2.0
    return _reorder(batch, np.argsort(keys, axis=1, kind="stable"))


def flip_signs(batch: DemoBatch, rng: np.random.Generator) -> DemoBatch:
    """Each term gets a random sign pattern with product +1 (reduced mod p in Z_p);
    fixed moves of cyclic pairs keep theirs (a sign pattern would unfix them and
    change the tensor)."""
    pattern = rng.integers(0, len(_SIGNS), size=(len(batch), batch.pad_rank))
    for length in np.unique(batch.dims[batch.cyclic, 0]):
        rows = np.flatnonzero(batch.cyclic & (batch.dims[:, 0] == length))
        fixed = is_fixed(batch.factors[rows], side_of(int(length)))
        pattern[rows] = np.where(fixed, 0, pattern[rows])
    signs = _SIGNS[pattern]
    factors = batch.factors * signs[:, :, :, None]
    mod = batch.modulus
    if mod.any():
        m = mod > 0
        factors[m] = np.mod(factors[m].astype(np.int64), mod[m][:, None, None, None]).astype(np.int8)
    return DemoBatch(batch.tensors, factors, batch.ranks, batch.dims, batch.modulus, batch.params,
                     batch.cyclic)


def _symmetry_maps(kind: str, n: int, m: int, p: int):
    """New (n, m, p) and, per new factor, (source factor, gather index)."""
    if kind == "cyclic":  # (V, Wᵀ, Uᵀ): <m,p,n>
        return (m, p, n), rotation_maps(n, m, p)
    if kind == "transpose":  # (Vᵀ, Uᵀ, Wᵀ): <p,m,n>
        return (p, m, n), ((1, transpose_index(m, p)), (0, transpose_index(n, m)),
                           (2, transpose_index(n, p)))
    raise GameError(f"unknown matmul symmetry {kind!r} (expected 'cyclic' or 'transpose')")


def matmul_symmetry(batch: DemoBatch, kind: str, mask: np.ndarray | None = None) -> DemoBatch:
    """Apply the cyclic rotation or the transposition to the (masked) matmul-shaped
    pairs; other pairs are returned unchanged."""
    sel = batch.params.min(axis=1) > 0
    if mask is not None:
        sel &= np.asarray(mask, dtype=bool)
    factors = batch.factors.copy()
    dims = batch.dims.copy()
    params = batch.params.copy()
    side = batch.side
    for shape in {tuple(int(x) for x in row) for row in batch.params[sel]}:
        rows = np.flatnonzero(sel & np.all(batch.params == shape, axis=1))
        new_shape, maps = _symmetry_maps(kind, *shape)
        new_dims = (new_shape[0] * new_shape[1], new_shape[1] * new_shape[2], new_shape[0] * new_shape[2])
        if max(new_dims) > side:
            raise GameError(f"<{shape}> maps to sides {new_dims}, above the padded side {side}")
        old = batch.factors[rows]
        out = np.zeros_like(old)
        for f, (src, idx) in enumerate(maps):
            out[:, :, f, : len(idx)] = old[:, :, src, idx]
        factors[rows] = out
        dims[rows] = new_dims
        params[rows] = new_shape
    changed = np.flatnonzero(sel)
    tensors = batch.tensors.copy()
    if len(changed):
        tensors[changed] = compose(factors[changed], batch.ranks[changed], dims[changed],
                                   batch.modulus[changed], tensors.dtype, batch.cyclic[changed])
    return DemoBatch(tensors, factors, batch.ranks, dims, batch.modulus, params, batch.cyclic)


def random_square_symmetry(batch: DemoBatch, rng: np.random.Generator) -> DemoBatch:
    """For pairs shaped <n,n,n>: a random element of the 6-element group generated by
    the cyclic rotation and the transposition (both keep the shape)."""
    square = (batch.params.min(axis=1) > 0) & (batch.params[:, 0] == batch.params[:, 1]) \
        & (batch.params[:, 1] == batch.params[:, 2])
    turns = rng.integers(0, 3, size=len(batch))
    flip = rng.integers(0, 2, size=len(batch)).astype(bool)
    out = batch
    for k in (1, 2):
        out = matmul_symmetry(out, "cyclic", square & (turns >= k))
    return matmul_symmetry(out, "transpose", square & flip)


def augment(batch: DemoBatch, rng: np.random.Generator, *, signs: bool = True,
            symmetries: bool = True) -> DemoBatch:
    """The default training augmentation: random square-matmul symmetry, random sign
    patterns, then a random term swapped with the last term."""
    if symmetries:
        batch = random_square_symmetry(batch, rng)
    if signs:
        batch = flip_signs(batch, rng)
    return swap_with_last(batch, rng)


def augment_scheme(scheme: Scheme, rng: np.random.Generator) -> Scheme:
    """A random equivalent scheme of the same target: for <n,n,n> a random cyclic
    rotation and transposition, then random (-u, -v, w) signs and term order (uses
    :mod:`tensorgame.tensors.symmetry`)."""
    t = scheme.target
    if t.is_matmul and len(set(t.params)) == 1:
        for _ in range(int(rng.integers(0, 3))):
            scheme = symmetry.cyclic_rotation(scheme)
        if rng.integers(0, 2):
            scheme = symmetry.transpose(scheme)
    scheme = symmetry.negate_terms(scheme, rng.integers(0, 2, scheme.rank).astype(bool))
    return symmetry.permute_terms(scheme, rng.permutation(scheme.rank))
