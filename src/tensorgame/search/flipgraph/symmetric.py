"""Symmetric flip graph: walks on <n,n,n> schemes invariant under the cyclic symmetry.

σ maps a term (U, V, W) (as n×n matrices) to (V, Wᵀ, Uᵀ); σ³ = 1 and σ maps the
matmul tensor to itself (``tensors.symmetry.cyclic_rotation``). A σ-invariant scheme
is a list of orbit *representatives* ("reps"): a rep t stands for t + σt + σ²t (three
terms) or, when σt = t (a *fixed* term, U = V = Wᵀ), for t alone. Over Z2 both cases
are one formula, because a fixed term t equals 3t = t + σt + σ²t mod 2: the scheme is
O(Σ reps) with the linear map O = 1 + σ + σ². Any rewrite that preserves a sum
rep_r + σʲ rep_s (a flip, a plus transition, a split, a merge) therefore preserves
the scheme and its symmetry, and a rep that turns fixed simply costs 1 instead of 3.
This is why the mode is Z2-only: over Z or Z3 a fixed term is not O(t), so fixed
terms could take part in no move (results are lifted to Z afterwards instead).

Moves on reps, with their effect on the rank 3·(non-fixed reps) + (fixed reps):

* flip between rep r and a rotation σʲ rep_s sharing a factor: 0, or −2 when a rep
  becomes fixed;
* reductions: a rep with a zero factor vanishes (−3 or −1); a rep and a rotation of
  another sharing two factors merge into one rep, sharing three they cancel;
* plateau escapes: a plus transition or a split between r and σʲ s (+3), and a flip
  between a fixed rep and a non-fixed one (+2: the fixed rep generally stops being
  fixed), the only move besides reductions that changes the fixed terms.

Implementation: rep r owns three *virtual terms* 3r + j holding σʲ rep_r, kept in the
engine's flip-candidate structure (``_structure``), so a flip partner — a virtual term
of another rep with an equal factor — is sampled in O(1) as in the plain walk.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from numba import njit

from tensorgame.errors import RingError, TargetError, VerificationError
from tensorgame.search.flipgraph._kernel import other_pair, sample_pair
from tensorgame.search.flipgraph._ring_ops import HOT, NJIT, ONE, RING_Z2, ZERO, next_u64, rand_below
from tensorgame.search.flipgraph._structure import (
    META,
    NDUP,
    NZ,
    RANK,
    RMAX,
    SC,
    SG,
    TGRP,
    GSIZE,
    allocate,
    clear_groups,
    join,
    remove_term,
    set_factor,
)
from tensorgame.search.flipgraph.packing import PackedScheme, check_lengths, pack, unpack, words
from tensorgame.tensors.rings import Z2
from tensorgame.tensors.scheme import Scheme
from tensorgame.tensors.symmetry import cyclic_rotation
from tensorgame.tensors.targets import Target

# Columns of the meta array M of a symmetric walk.
_RANK, _NREPS, _CAP, _NWL, _BEST_N, _BEST_RANK = range(6)
#: Pairs drawn per escape before giving up.
_TRIES = 64
#: Consecutive flip samples without a legal pair after which the walk counts as stuck
#: (every candidate pair may join a rep with its own rotation or a fixed rep).
_STUCK = 4096


@njit(**NJIT)
def _transpose(x, tp):
    """The n×n bit matrix x (row-major) transposed: ``tp[b, y]`` is the transpose of
    the byte value y at byte b of x, so a factor takes one lookup per byte."""
    out = ZERO
    for b in range(tp.shape[0]):
        out |= tp[b, (x >> np.uint64(8 * b)) & np.uint64(255)]
    return out


@njit(**NJIT)
def _rotate(j: int, f, tp):
    """σʲ of a term f = (u, v, w): σ f = (v, wᵀ, uᵀ), σ² f = (wᵀ, u, vᵀ)."""
    if j == 0:
        return f
    if j == 1:
        return (f[1], _transpose(f[2], tp), _transpose(f[0], tp))
    return (_transpose(f[2], tp), f[0], _transpose(f[1], tp))


@njit(**NJIT)
def _is_fixed(f, tp) -> bool:
    return f[0] == f[1] and f[2] == _transpose(f[0], tp)


@njit(**NJIT)
def _cost(fixed) -> int:
    """Terms an orbit contributes to the scheme."""
    return 1 if fixed else 3


@njit(**NJIT)
def _triple(K, i):
    return (K[NZ, i], K[NZ + 1, i], K[NZ + 2, i])


@njit(**NJIT)
def _replace(f, p: int, x):
    """f with its factor at position p replaced by x."""
    if p == 0:
        return (x, f[1], f[2])
    if p == 1:
        return (f[0], x, f[2])
    return (f[0], f[1], x)


@njit(**HOT)
def _set_rep(S, F, M, tp, r: int, f) -> None:
    """Make f the rep of orbit r (its virtual terms follow) and update the rank."""
    K = S[1]
    for j in range(3):
        i = 3 * r + j
        g = _rotate(j, f, tp)
        for p in range(3):
            if K[NZ + p, i] != g[p]:
                set_factor(S, p, i, g[p], ZERO)
    fixed = _is_fixed(f, tp)
    M[_RANK] += _cost(fixed) - _cost(F[r] != 0)
    F[r] = 1 if fixed else 0


@njit(**NJIT)
def _add_rep(S, F, M, tp, f) -> int:
    """Append a rep; returns its index."""
    I, K, _ = S
    r = M[_NREPS]
    M[_NREPS] = r + 1
    I[META, RANK] = 3 * (r + 1)
    for j in range(3):
        i = 3 * r + j
        g = _rotate(j, f, tp)
        I[SC, i] = 1
        for p in range(3):
            K[NZ + p, i], K[SG + p, i] = g[p], ZERO
            join(S, p, i)
    fixed = _is_fixed(f, tp)
    F[r] = 1 if fixed else 0
    M[_RANK] += _cost(fixed)
    return r


@njit(**NJIT)
def _push(M, WL, r: int) -> None:
    WL[M[_NWL]] = r
    M[_NWL] += 1


@njit(**NJIT)
def _delete_rep(S, F, M, WL, r: int) -> None:
    """Delete rep r; the last rep moves into its slot (worklist entries follow it)."""
    M[_RANK] -= _cost(F[r] != 0)
    last = M[_NREPS] - 1
    for j in range(2, -1, -1):  # remove_term moves the last virtual term into the hole
        remove_term(S, 3 * r + j)
    F[r] = F[last]
    M[_NREPS] = last
    for k in range(M[_NWL]):
        if WL[k] == r:
            WL[k] = -1
        elif WL[k] == last:
            WL[k] = r


@njit(**HOT)
def _reduce(S, F, M, WL, tp) -> None:
    """Run the worklist of changed reps: drop reps with a zero factor, merge a rep with
    a rotation of another rep when they share two factors (cancel both on three)."""
    I, K, G = S
    rmax = I[META, RMAX]
    while M[_NWL] > 0:
        M[_NWL] -= 1
        r = WL[M[_NWL]]
        if r < 0:
            continue
        a = 3 * r
        if K[NZ, a] == 0 or K[NZ + 1, a] == 0 or K[NZ + 2, a] == 0:
            _delete_rep(S, F, M, WL, r)
            continue
        done = False
        for p in range(3):
            g = I[TGRP + p, a]
            p1 = (p + 1) % 3
            p2 = (p + 2) % 3
            for k in range(I[GSIZE + p, g]):
                x = G[p * rmax + g, k]
                s = x // 3
                if s == r:
                    continue
                same1 = I[TGRP + p1, x] == I[TGRP + p1, a]
                same2 = I[TGRP + p2, x] == I[TGRP + p2, a]
                if same1 and same2:  # rep_r + σʲ rep_s = 2 rep_r = 0
                    _delete_rep(S, F, M, WL, max(r, s))
                    _delete_rep(S, F, M, WL, min(r, s))
                    done = True
                elif same1 or same2:
                    third = p2 if same1 else p1
                    merged = _replace(_triple(K, a), third, K[NZ + third, a] ^ K[NZ + third, x])
                    _set_rep(S, F, M, tp, r, merged)
                    last = M[_NREPS] - 1
                    _delete_rep(S, F, M, WL, s)
                    _push(M, WL, s if r == last else r)
                    done = True
                if done:
                    break
            if done:
                break


@njit(**HOT)
def _flip_pair(S, F, M, WL, tp, rng, escape: bool) -> bool:
    """One flip between virtual terms of two different reps, or False when the sampled
    pair is not allowed: a plain flip joins two non-fixed reps, an ``escape`` flip
    exactly one fixed rep and a non-fixed one.

    Over Z2: a⊗x_a⊗y_a + a⊗x_b⊗y_b = a⊗(x_a + x_b)⊗y_a + a⊗x_b⊗(y_b + y_a); with
    a = σʲ rep_r the new rep is σ^(−j) of the new virtual term.
    """
    K = S[1]
    p, a, b = sample_pair(S, rng)
    r, s = a // 3, b // 3
    if r == s:
        return False
    if escape:
        if (F[r] != 0) == (F[s] != 0):
            return False
    elif F[r] != 0 or F[s] != 0:
        return False
    q = (p + 1 + np.int64(next_u64(rng) & ONE)) % 3
    t = 3 - p - q
    fa, fb = _triple(K, a), _triple(K, b)
    na = _replace(fa, q, fa[q] ^ fb[q])
    nb = _replace(fb, t, fb[t] ^ fa[t])
    _set_rep(S, F, M, tp, r, _rotate((3 - (a - 3 * r)) % 3, na, tp))
    _set_rep(S, F, M, tp, s, _rotate((3 - (b - 3 * s)) % 3, nb, tp))
    _push(M, WL, r)
    _push(M, WL, s)
    return True


@njit(**NJIT)
def _grow(S, F, M, WL, tp, rng, split: bool) -> bool:
    """Plus transition or split (rank +3) between a non-fixed rep r and σʲ rep_s.

    Plus, on terms sharing no factor (over Z2):
    (a,b,c) + (a',b',c') = (a, b+b', c) + (a'+a, b', c') + (a, b', c'+c).
    Split, at a position p where they differ: r = (x_p, ·, ·) + (r_p + x_p, ·, ·) with
    x = σʲ rep_s; the two new reps share two factors and are left unmerged on purpose.
    """
    I, K, _ = S
    n = M[_NREPS]
    if n < 2 or n >= M[_CAP]:
        return False
    for _ in range(_TRIES):
        r, s = other_pair(rng, n)
        if F[r] != 0 or F[s] != 0:
            continue
        bits = next_u64(rng)
        j = np.int64(bits % np.uint64(3))
        a, x = 3 * r, 3 * s + j
        fa, fb = _triple(K, a), _triple(K, x)
        if split:
            p = np.int64((bits >> np.uint64(2)) % np.uint64(3))
            if I[TGRP + p, a] == I[TGRP + p, x]:
                continue
            _set_rep(S, F, M, tp, r, _replace(fa, p, fb[p]))
            _add_rep(S, F, M, tp, _replace(fa, p, fa[p] ^ fb[p]))
            return True
        if (
            I[TGRP, a] == I[TGRP, x]
            or I[TGRP + 1, a] == I[TGRP + 1, x]
            or I[TGRP + 2, a] == I[TGRP + 2, x]
        ):
            continue
        pa = np.int64((bits >> np.uint64(2)) % np.uint64(3))
        pb = (pa + 1 + np.int64((bits >> np.uint64(4)) & ONE)) % 3
        pc = 3 - pa - pb
        nr = _replace(fa, pb, fa[pb] ^ fb[pb])
        nx = _replace(fb, pa, fb[pa] ^ fa[pa])
        nn = _replace(_replace(fa, pb, fb[pb]), pc, fa[pc] ^ fb[pc])
        _set_rep(S, F, M, tp, r, nr)
        _set_rep(S, F, M, tp, s, _rotate((3 - j) % 3, nx, tp))
        m = _add_rep(S, F, M, tp, nn)
        _push(M, WL, r)
        _push(M, WL, s)
        _push(M, WL, m)
        return True
    return False


@njit(**NJIT)
def _escape(S, F, M, WL, tp, rng, split: bool) -> bool:
    """A plateau escape: plus transition, fixed-rep flip or (with ``split``) split."""
    kind = rand_below(rng, 3 if split else 2)
    if kind == 1:
        for _ in range(_TRIES):
            if S[0][META, NDUP] > 0 and _flip_pair(S, F, M, WL, tp, rng, True):
                return True
        return False
    return _grow(S, F, M, WL, tp, rng, kind == 2)


@njit(**NJIT)
def _save(S, M, best) -> None:
    K = S[1]
    for r in range(M[_NREPS]):
        for p in range(3):
            best[p, r] = K[NZ + p, 3 * r]
    M[_BEST_N] = M[_NREPS]


@njit(**NJIT)
def load_reps(S, F, M, WL, tp, reps, n: int) -> None:
    """Replace the walk's scheme by the reps ``reps[:, :n]`` and reduce."""
    S[0][META, RANK] = 0
    M[_NREPS] = 0
    M[_RANK] = 0
    M[_NWL] = 0
    clear_groups(S)
    for r in range(n):
        _add_rep(S, F, M, tp, (reps[0, r], reps[1, r], reps[2, r]))
        _push(M, WL, r)
    _reduce(S, F, M, WL, tp)


@njit(**NJIT)
def sym_walk_kernel(
    S, F, M, WL, tp, rng, best, max_attempts: int, plateau_limit: int, plus_diff: int,
    target_rank: int, since: int, split: bool,
):
    """The symmetric analogue of ``_kernel.walk_kernel`` (same stopping rules and
    counters): returns (attempts, flips, rank drops, escapes, since); the best rank
    and its reps are kept in M and ``best``."""
    I = S[0]
    attempts = flips = drops = pluses = fails = 0
    best_rank = M[_BEST_RANK]
    if M[_RANK] < best_rank:
        best_rank = M[_RANK]
        _save(S, M, best)
    while attempts < max_attempts and best_rank > target_rank:
        attempts += 1
        stuck = I[META, NDUP] == 0 or fails >= _STUCK
        if stuck or since >= plateau_limit:
            if M[_RANK] < best_rank + plus_diff:
                pluses += _escape(S, F, M, WL, tp, rng, split)
                since = 0
                fails = 0
            elif stuck:
                load_reps(S, F, M, WL, tp, best, M[_BEST_N])
                since = 0
                fails = 0
                continue
        before = M[_RANK]
        if I[META, NDUP] > 0:
            if _flip_pair(S, F, M, WL, tp, rng, False):
                flips += 1
                fails = 0
            else:
                fails += 1
            since += 1
        _reduce(S, F, M, WL, tp)
        if M[_RANK] < before:
            drops += 1
            since = 0
            if M[_RANK] < best_rank:
                best_rank = M[_RANK]
                _save(S, M, best)
    M[_BEST_RANK] = best_rank
    return attempts, flips, drops, pluses, since


# --- Python side --------------------------------------------------------------------------
def _transpose_perm(n: int) -> np.ndarray:
    idx = np.arange(n * n)
    return ((idx % n) * n + idx // n).astype(np.int64)


def _transpose_table(n: int) -> np.ndarray:
    """Per byte b of an n×n bit matrix and byte value y, the transpose of y placed at
    byte b (uint64, (⌈n²/8⌉, 256)); the walk's transposes are then table lookups."""
    values, perm = np.arange(256, dtype=np.uint64), _transpose_perm(n)
    table = np.zeros(((n * n + 7) // 8, 256), dtype=np.uint64)
    for b in range(table.shape[0]):
        table[b] = _transpose_masks(values << np.uint64(8 * b), perm)
    return table


def _transpose_masks(x: np.ndarray, tp: np.ndarray) -> np.ndarray:
    out = np.zeros_like(x)
    for i, j in enumerate(tp.tolist()):
        out |= ((x >> np.uint64(i)) & np.uint64(1)) << np.uint64(j)
    return out


@dataclass(frozen=True, eq=False)
class OrbitScheme:
    """A σ-invariant scheme over Z2 as orbit representatives: ``nz[p, r]`` is factor p
    of rep r as a bit mask, ``fixed[r]`` whether σ rep_r = rep_r (one term, not three)."""

    nz: np.ndarray  # (3, R') uint64
    fixed: np.ndarray  # (R',) bool
    ring = "Z2"

    @property
    def rank(self) -> int:
        """Terms of the scheme: 3 per orbit, 1 per fixed term."""
        return int(3 * np.count_nonzero(~self.fixed) + np.count_nonzero(self.fixed))

    @property
    def orbits(self) -> int:
        return int(self.nz.shape[1])


def square_side(target: Target) -> int:
    """n of a target <n,n,n> the symmetric walk can hold (TargetError otherwise)."""
    if not target.is_matmul or len(set(target.params)) != 1:
        raise TargetError(
            f"the symmetric flip graph needs a square matmul target <n,n,n>, not {target.name}"
        )
    check_lengths(target.dims)
    if words(target.dims) > 1:
        raise TargetError(
            f"the symmetric flip graph holds a factor in one 64-bit word: sides up to 8, not {target.name} "
            "(drop --symmetric for larger formats)"
        )
    return int(target.params[0])


def _term_keys(packed: PackedScheme) -> list[tuple[int, int, int]]:
    return [tuple(int(x) for x in packed.nz[:, r]) for r in range(packed.rank)]


def orbit_pack(scheme: Scheme) -> OrbitScheme:
    """Orbit representatives of a σ-invariant scheme read mod 2 (TargetError for a
    non-square target, RingError when the scheme is not invariant)."""
    square_side(scheme.target)
    packed = pack(scheme, "Z2")
    rotated = pack(cyclic_rotation(scheme), "Z2")
    keys, images = _term_keys(packed), _term_keys(rotated)
    counts = Counter(keys)
    for key in list(counts):  # t + t = 0 mod 2
        counts[key] %= 2
    image = dict(zip(keys, images))
    reps: list[tuple[int, int, int]] = []
    fixed: list[bool] = []
    for key in keys:
        if counts[key] == 0:
            continue
        counts[key] -= 1
        one = image[key]
        if one == key:
            reps.append(key)
            fixed.append(True)
            continue
        two = image.get(one)
        if counts[one] == 0 or two is None or counts[two] == 0:
            raise RingError(
                f"the start scheme is not invariant under the cyclic symmetry of {scheme.target.name} "
                "(use a symmetric start, e.g. the naive scheme)"
            )
        counts[one] -= 1
        counts[two] -= 1
        reps.append(key)
        fixed.append(False)
    nz = np.array(reps, dtype=np.uint64).T.reshape(3, len(reps))
    return OrbitScheme(nz, np.asarray(fixed, dtype=bool))


def _fixed_flags(nz: np.ndarray, n: int) -> np.ndarray:
    return (nz[0] == nz[1]) & (nz[2] == _transpose_masks(nz[0], _transpose_perm(n)))


def orbit_unpack(orbits: OrbitScheme, target: Target) -> Scheme:
    """The full scheme over Z2: each rep, plus σ and σ² of the non-fixed ones."""
    zeros = np.zeros_like(orbits.nz)
    reps = unpack(PackedScheme("Z2", orbits.nz, zeros, np.ones(orbits.orbits, np.int64)), target)
    moving = ~orbits.fixed
    once = cyclic_rotation(reps)
    twice = cyclic_rotation(once)
    parts = [reps] + [Scheme(target, Z2, s.u[moving], s.v[moving], s.w[moving]) for s in (once, twice)]
    return Scheme(target, Z2, *(np.concatenate([getattr(s, f) for s in parts]) for f in "uvw"))


def _term_multiset(scheme: Scheme) -> Counter:
    """Terms as comparable keys: reduced in the scheme's field, or over Z with the
    first non-zero of u and of v made positive (the sign moves into w)."""
    u, v, w = (scheme.ring.reduce(x) for x in (scheme.u, scheme.v, scheme.w))
    if scheme.ring.modulus is None:
        for x in (u, v):
            first = x[np.arange(len(x)), np.argmax(x != 0, axis=1)]
            sign = np.where(first < 0, -1, 1)[:, None]
            x *= sign
            w = w * sign
    return Counter(a.tobytes() + b.tobytes() + c.tobytes() for a, b, c in zip(u, v, w))


def is_cyclic_symmetric(scheme: Scheme) -> bool:
    """True when σ maps the scheme's terms onto themselves (as a multiset)."""
    if not scheme.target.is_matmul or len(set(scheme.target.params)) != 1:
        return False
    return _term_multiset(scheme) == _term_multiset(cyclic_rotation(scheme))


class SymmetricWalker:
    """A resumable symmetric walk over Z2, with the interface of the plain walker."""

    ring = "Z2"

    def __init__(
        self, start: OrbitScheme, target: Target, plus_diff: int, seed: int, split: bool = False,
        capacity: int | None = None,
    ) -> None:
        """``capacity``: the largest rank of a scheme later given to :meth:`reset` or
        :meth:`restart` (default: the start's). Orbits never outnumber terms, and an
        escape adds at most 3 terms above best + ``plus_diff``, which bounds the reps."""
        self.target = target
        self.plus_diff = plus_diff
        self.split = split
        self.side = square_side(target)
        self.tp = _transpose_table(self.side)
        cap = max(start.rank, capacity or 0) + plus_diff + 3
        self.state = allocate(RING_Z2, np.zeros((3, 0), np.uint64), np.zeros((3, 0), np.uint64),
                              np.ones(0, np.int64), 3 * cap)
        self.fixed = np.zeros(cap, dtype=np.int64)
        self.meta = np.zeros(6, dtype=np.int64)
        self.meta[_CAP] = cap
        self.worklist = np.zeros(4 * cap + 16, dtype=np.int64)
        self.best_reps = np.zeros((3, cap), dtype=np.uint64)
        self.rng = np.array([seed & (2**64 - 1)], dtype=np.uint64)
        self.since = self.attempts = self.flips = self.reductions = self.pluses = 0
        self.reset(start)

    def reset(self, start: OrbitScheme) -> None:
        """Start over from another scheme, which becomes the best so far."""
        if start.orbits > self.meta[_CAP]:
            raise ValueError(f"{start.orbits} orbits exceed the capacity {self.meta[_CAP]}")
        load_reps(self.state, self.fixed, self.meta, self.worklist, self.tp,
                  np.ascontiguousarray(start.nz), start.orbits)
        self.since = 0
        self.meta[_BEST_RANK] = self.meta[_RANK]
        _save(self.state, self.meta, self.best_reps)

    @property
    def rank(self) -> int:
        return int(self.meta[_RANK])

    @property
    def best_rank(self) -> int:
        return int(self.meta[_BEST_RANK])

    def run(self, attempts: int, plateau_limit: int, target_rank: int) -> None:
        done, flips, drops, pluses, self.since = sym_walk_kernel(
            self.state, self.fixed, self.meta, self.worklist, self.tp, self.rng, self.best_reps,
            attempts, plateau_limit, self.plus_diff, target_rank, self.since, self.split,
        )
        self.attempts += int(done)
        self.flips += int(flips)
        self.reductions += int(drops)
        self.pluses += int(pluses)

    def best(self) -> OrbitScheme:
        """A copy of the best scheme so far."""
        nz = self.best_reps[:, : self.meta[_BEST_N]].copy()
        return OrbitScheme(nz, _fixed_flags(nz, self.side))

    def best_scheme(self) -> Scheme:
        """The best scheme expanded, verified over Z2 and checked symmetric; a failure
        is an engine bug."""
        scheme = orbit_unpack(self.best(), self.target)
        if not scheme.verify().ok or not is_cyclic_symmetric(scheme):
            raise RuntimeError(
                f"symmetric flip-graph bug: produced an incorrect or asymmetric rank-{scheme.rank} scheme"
            )
        return scheme


def symmetric_start(scheme: Scheme) -> OrbitScheme:
    """Orbit form of a start scheme, proved correct over Z2 first."""
    orbits = orbit_pack(scheme)
    check = orbit_unpack(orbits, scheme.target).verify()
    if not check.ok:
        raise VerificationError("the start scheme is not a correct scheme over Z2", check)
    return orbits
