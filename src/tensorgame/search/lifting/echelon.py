"""Column echelon form of the Jacobian over GF(p), and solving J·x = b with it.

Columns are visited in a given order; each is reduced against the pivots found so far
(E_i, with its pivot row) while T_i records which original columns it combines, so
that E_i = J·T_i throughout. A column that reduces to zero depends on earlier ones:
it becomes a free variable (its correction is always 0). Solving J·x = b reduces b
the same way, x = Σ f_i·T_i; a non-zero remainder means J·x = b has no solution at
all. Over GF(2) E and T are bit-packed (uint64 words, reduction by word-wide XORs),
so a <5,5,5> Jacobian of rank 117 (15,625 × 8,775) needs 27 MB instead of 1.1 GB
dense. Over GF(3) they are bit-sliced: two planes of words, the coordinates equal to
1 and those equal to 2, added with a few word-wide logic operations (a <4,5,5> mod-3
Jacobian of rank 78 took 80 s as int64 rows). Other primes hold E and T as int64 rows,
refused past :data:`MAX_SOLVER_BYTES`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tensorgame.errors import RingError
from tensorgame.search.lifting.jacobian import column_entries, jacobian_shape
from tensorgame.tensors.modular import inv_mod

#: Most memory the echelon form of one Jacobian may take (refused above, before allocating).
MAX_SOLVER_BYTES = 2 << 30


def solver_bytes(rank: int, dims: tuple[int, int, int], p: int) -> int:
    """Bytes of the echelon form's E and T (worst case: every column a pivot)."""
    rows, cols = jacobian_shape(rank, dims)
    pivots = min(rows, cols)
    if p in (2, 3):
        return pivots * ((rows + 63) // 64 + (cols + 63) // 64) * 8 * (p - 1)
    return pivots * (rows + cols) * 8


@njit(cache=True)
def _sizes(u, v, w):  # pragma: no cover - compiled
    """Jacobian rows and columns, their words, the most pivots, and the longest column."""
    rank, ni = u.shape
    nj, nk = v.shape[1], w.shape[1]
    rows, cols = ni * nj * nk, rank * (ni + nj + nk)
    return rows, cols, (rows + 63) >> 6, (cols + 63) >> 6, min(rows, cols), max(nj * nk, ni * nk, ni * nj)


@njit(cache=True)
def _first_bit(a, b):  # pragma: no cover - compiled
    """The first coordinate set in the bit-packed a or b; -1 when none is."""
    one = np.uint64(1)
    for k in range(a.shape[0]):
        word = a[k] | b[k]
        if word != 0:
            bit = 0
            while not (word >> np.uint64(bit)) & one:
                bit += 1
            return k * 64 + bit
    return -1


@njit(cache=True)
def _echelon_gf2(u, v, w, order):  # pragma: no cover - compiled
    _, _, wr, wc, cap, longest = _sizes(u, v, w)
    e = np.zeros((cap, wr), dtype=np.uint64)
    t = np.zeros((cap, wc), dtype=np.uint64)
    prow = np.empty(cap, dtype=np.int64)
    pcol = np.empty(cap, dtype=np.int64)
    vec = np.zeros(wr, dtype=np.uint64)
    tv = np.zeros(wc, dtype=np.uint64)
    ent_rows = np.empty(longest, dtype=np.int64)
    ent_vals = np.empty_like(ent_rows)
    one = np.uint64(1)
    n = 0
    for j in order:
        if n == cap:
            break
        vec[:] = 0
        tv[:] = 0
        for k in range(column_entries(u, v, w, j, 2, ent_rows, ent_vals)):
            vec[ent_rows[k] >> 6] ^= one << np.uint64(ent_rows[k] & 63)
        tv[j >> 6] = one << np.uint64(j & 63)
        for i in range(n):
            pr = prow[i]
            if (vec[pr >> 6] >> np.uint64(pr & 63)) & one:
                for k in range(wr):
                    vec[k] ^= e[i, k]
                for k in range(wc):
                    tv[k] ^= t[i, k]
        piv = _first_bit(vec, vec)
        if piv < 0:
            continue
        e[n] = vec
        t[n] = tv
        prow[n] = piv
        pcol[n] = j
        n += 1
    return e[:n], t[:n], prow[:n], pcol[:n]  # views: a copy would double the peak


@njit(cache=True)
def _solve_gf2(e, t, prow, rhs):  # pragma: no cover - compiled
    """x (0/1 per column) with J·x = rhs mod 2, and whether one exists."""
    wr, wc = e.shape[1], t.shape[1]
    b = np.zeros(wr, dtype=np.uint64)
    one = np.uint64(1)
    for i in range(rhs.shape[0]):
        if rhs[i] & 1:
            b[i >> 6] |= one << np.uint64(i & 63)
    xw = np.zeros(wc, dtype=np.uint64)
    for i in range(prow.shape[0]):
        pr = prow[i]
        if (b[pr >> 6] >> np.uint64(pr & 63)) & one:
            for k in range(wr):
                b[k] ^= e[i, k]
            for k in range(wc):
                xw[k] ^= t[i, k]
    consistent = _first_bit(b, b) < 0
    x = np.zeros(wc * 64, dtype=np.int64)
    for i in range(wc * 64):
        x[i] = (xw[i >> 6] >> np.uint64(i & 63)) & one
    return x, consistent


@njit(cache=True)
def _add_gf3(xp, xn, yp, yn, k):  # pragma: no cover - compiled
    """Word k of x + y over GF(3), x and y bit-sliced (p: coordinates equal to 1, n: to
    2); x is overwritten. Pass (yn, yp) for x - y."""
    a, b, c, d = xp[k], xn[k], yp[k], yn[k]
    if c | d:
        xz, yz = ~(a | b), ~(c | d)
        xp[k] = (a & yz) | (c & xz) | (b & d)
        xn[k] = (b & yz) | (d & xz) | (a & c)


@njit(cache=True)
def _echelon_gf3(u, v, w, order):  # pragma: no cover - compiled
    _, _, wr, wc, cap, longest = _sizes(u, v, w)
    ep = np.zeros((cap, wr), dtype=np.uint64)
    en = np.zeros((cap, wr), dtype=np.uint64)
    tp = np.zeros((cap, wc), dtype=np.uint64)
    tn = np.zeros((cap, wc), dtype=np.uint64)
    prow = np.empty(cap, dtype=np.int64)
    pcol = np.empty(cap, dtype=np.int64)
    vp = np.zeros(wr, dtype=np.uint64)
    vn = np.zeros(wr, dtype=np.uint64)
    sp = np.zeros(wc, dtype=np.uint64)
    sn = np.zeros(wc, dtype=np.uint64)
    ent_rows = np.empty(longest, dtype=np.int64)
    ent_vals = np.empty_like(ent_rows)
    one = np.uint64(1)
    n = 0
    for j in order:
        if n == cap:
            break
        vp[:] = 0
        vn[:] = 0
        sp[:] = 0
        sn[:] = 0
        for k in range(column_entries(u, v, w, j, 3, ent_rows, ent_vals)):
            bit = one << np.uint64(ent_rows[k] & 63)
            if ent_vals[k] == 1:
                vp[ent_rows[k] >> 6] |= bit
            else:
                vn[ent_rows[k] >> 6] |= bit
        sp[j >> 6] = one << np.uint64(j & 63)
        for i in range(n):
            pr = prow[i]
            shift = np.uint64(pr & 63)
            if (vp[pr >> 6] >> shift) & one:  # vec -= e_i (its pivot entry is 1)
                for k in range(wr):
                    _add_gf3(vp, vn, en[i], ep[i], k)
                for k in range(wc):
                    _add_gf3(sp, sn, tn[i], tp[i], k)
            elif (vn[pr >> 6] >> shift) & one:  # vec -= 2·e_i, i.e. += e_i
                for k in range(wr):
                    _add_gf3(vp, vn, ep[i], en[i], k)
                for k in range(wc):
                    _add_gf3(sp, sn, tp[i], tn[i], k)
        piv = _first_bit(vp, vn)
        if piv < 0:
            continue
        flip = (vn[piv >> 6] >> np.uint64(piv & 63)) & one  # scale by 2 = -1: pivot entry 1
        ep[n] = vn if flip else vp
        en[n] = vp if flip else vn
        tp[n] = sn if flip else sp
        tn[n] = sp if flip else sn
        prow[n] = piv
        pcol[n] = j
        n += 1
    return ep[:n], en[:n], tp[:n], tn[:n], prow[:n], pcol[:n]  # views, as for GF(2)


@njit(cache=True)
def _solve_gf3(ep, en, tp, tn, prow, rhs):  # pragma: no cover - compiled
    """x (0, 1, 2 per column) with J·x = rhs mod 3, and whether one exists."""
    wr, wc = ep.shape[1], tp.shape[1]
    bp = np.zeros(wr, dtype=np.uint64)
    bn = np.zeros(wr, dtype=np.uint64)
    one = np.uint64(1)
    for i in range(rhs.shape[0]):
        r = rhs[i] % 3
        if r == 1:
            bp[i >> 6] |= one << np.uint64(i & 63)
        elif r == 2:
            bn[i >> 6] |= one << np.uint64(i & 63)
    xp = np.zeros(wc, dtype=np.uint64)
    xn = np.zeros(wc, dtype=np.uint64)
    for i in range(prow.shape[0]):
        pr = prow[i]
        shift = np.uint64(pr & 63)
        if (bp[pr >> 6] >> shift) & one:  # b -= e_i, x += t_i
            for k in range(wr):
                _add_gf3(bp, bn, en[i], ep[i], k)
            for k in range(wc):
                _add_gf3(xp, xn, tp[i], tn[i], k)
        elif (bn[pr >> 6] >> shift) & one:  # b -= 2·e_i, x += 2·t_i
            for k in range(wr):
                _add_gf3(bp, bn, ep[i], en[i], k)
            for k in range(wc):
                _add_gf3(xp, xn, tn[i], tp[i], k)
    consistent = _first_bit(bp, bn) < 0
    x = np.zeros(wc * 64, dtype=np.int64)
    for i in range(wc * 64):
        x[i] = ((xp[i >> 6] >> np.uint64(i & 63)) & one) + 2 * ((xn[i >> 6] >> np.uint64(i & 63)) & one)
    return x, consistent


@njit(cache=True)
def _echelon_gfp(u, v, w, order, p):  # pragma: no cover - compiled
    rank, ni = u.shape
    nj, nk = v.shape[1], w.shape[1]
    rows, cols = ni * nj * nk, rank * (ni + nj + nk)
    cap = min(rows, cols)
    e = np.zeros((cap, rows), dtype=np.int64)
    t = np.zeros((cap, cols), dtype=np.int64)
    prow = np.empty(cap, dtype=np.int64)
    pcol = np.empty(cap, dtype=np.int64)
    vec = np.zeros(rows, dtype=np.int64)
    tv = np.zeros(cols, dtype=np.int64)
    ent_rows = np.empty(max(nj * nk, ni * nk, ni * nj), dtype=np.int64)
    ent_vals = np.empty_like(ent_rows)
    n = 0
    for j in order:
        if n == cap:
            break
        vec[:] = 0
        tv[:] = 0
        for k in range(column_entries(u, v, w, j, p, ent_rows, ent_vals)):
            vec[ent_rows[k]] = ent_vals[k]
        tv[j] = 1
        for i in range(n):
            f = vec[prow[i]]
            if f != 0:
                for k in range(rows):
                    vec[k] = (vec[k] - f * e[i, k]) % p
                for k in range(cols):
                    tv[k] = (tv[k] - f * t[i, k]) % p
        piv = -1
        for k in range(rows):
            if vec[k] != 0:
                piv = k
                break
        if piv < 0:
            continue
        inv = inv_mod(vec[piv], p)
        for k in range(rows):
            e[n, k] = vec[k] * inv % p
        for k in range(cols):
            t[n, k] = tv[k] * inv % p
        prow[n] = piv
        pcol[n] = j
        n += 1
    return e[:n], t[:n], prow[:n], pcol[:n]  # views: a copy would double the peak


@njit(cache=True)
def _solve_gfp(e, t, prow, rhs, p):  # pragma: no cover - compiled
    b = rhs % p
    x = np.zeros(t.shape[1], dtype=np.int64)
    for i in range(prow.shape[0]):
        f = b[prow[i]]
        if f != 0:
            for k in range(b.shape[0]):
                b[k] = (b[k] - f * e[i, k]) % p
            for k in range(x.shape[0]):
                x[k] = (x[k] + f * t[i, k]) % p
    consistent = True
    for k in range(b.shape[0]):
        if b[k] != 0:
            consistent = False
    return x, consistent


class Echelon:
    """The Jacobian of a mod-p scheme (factors ``u, v, w`` reduced mod p) in column
    echelon form, visiting columns in ``order`` (earlier columns become pivots, later
    dependent ones free variables)."""

    def __init__(self, u: np.ndarray, v: np.ndarray, w: np.ndarray, p: int, order: np.ndarray) -> None:
        dims = (u.shape[1], v.shape[1], w.shape[1])
        need = solver_bytes(u.shape[0], dims, p)
        if need > MAX_SOLVER_BYTES:
            rows, cols = jacobian_shape(u.shape[0], dims)
            raise RingError(f"lifting this scheme mod {p} needs about {need / 2**30:,.1f} GiB for its "
                            f"{rows:,} x {cols:,} Jacobian, above the {MAX_SOLVER_BYTES / 2**30:,.0f} GiB "
                            f"allowed{'' if p in (2, 3) else ' (only mod 2 and mod 3 are bit-packed)'}")
        self.p = p
        self.cols = u.shape[0] * sum(dims)
        order = np.ascontiguousarray(order, dtype=np.int64)
        if p == 2:
            self._e, self._t, self._prow, self.pivot_cols = _echelon_gf2(u, v, w, order)
        elif p == 3:
            ep, en, tp, tn, self._prow, self.pivot_cols = _echelon_gf3(u, v, w, order)
            self._e, self._t = (ep, en), (tp, tn)
        else:
            self._e, self._t, self._prow, self.pivot_cols = _echelon_gfp(u, v, w, order, p)

    @property
    def rank(self) -> int:
        return int(self._prow.shape[0])

    def solve(self, rhs: np.ndarray) -> np.ndarray | None:
        """x in [0, p) per unknown with J·x ≡ rhs (mod p), zero on the free variables;
        None when no x exists."""
        rhs = np.ascontiguousarray(rhs, dtype=np.int64)
        if self.p == 2:
            x, ok = _solve_gf2(self._e, self._t, self._prow, rhs)
        elif self.p == 3:
            x, ok = _solve_gf3(*self._e, *self._t, self._prow, rhs)
        else:
            x, ok = _solve_gfp(self._e, self._t, self._prow, rhs.copy(), self.p)
        return x[: self.cols] if ok else None
