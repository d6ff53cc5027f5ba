"""Flip graphs on factors longer than one 64-bit word (sides up to 16): packing, the
wide kernels (same trajectory as the one-word ones at W = 1, exact at every step),
meta-move starts, checkpoints and the limits. Every walk is seeded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tensorgame as tg
from tensorgame.catalog import Catalog
from tensorgame.errors import TargetError
from tensorgame.formats import write_scheme
from tensorgame.search.flipgraph import (
    PackedScheme,
    _Walker,
    check_memory,
    pack,
    unpack,
)
from tensorgame.search.flipgraph._structure import (
    GSIZE,
    HGRP,
    META,
    NDUP,
    NZ,
    RANK,
    RMAX,
    TGRP,
)
from tensorgame.search.flipgraph.drivers import FlipRun, FlipSettings, SearchSpace
from tensorgame.search.flipgraph.local import descend
from tensorgame.search.flipgraph.packing import ints_to_masks, masks_to_ints, words
from tensorgame.search.flipgraph.session import resolve_start
from tests.conftest import assert_user_error


def _normalised(scheme: tg.Scheme) -> list[bytes]:
    """Terms with u and v sign-canonical (w absorbs the signs), zero terms dropped:
    what packing keeps of a ternary scheme (mod 3 read as -1, 0, 1), as a sorted list."""
    u, v, w = (scheme.ring.reduce(x).copy() for x in (scheme.u, scheme.v, scheme.w))
    if scheme.ring.modulus == 3:
        u, v, w = (np.where(x == 2, -1, x) for x in (u, v, w))
    keep = u.any(axis=1) & v.any(axis=1) & w.any(axis=1)
    u, v, w = u[keep], v[keep], w[keep]
    if scheme.ring.modulus != 2:
        for x in (u, v):
            sign = np.where(x[np.arange(len(x)), np.argmax(x != 0, axis=1)] < 0, -1, 1)[:, None]
            x *= sign
            w *= sign
    return sorted(a.tobytes() + b.tobytes() + c.tobytes() for a, b, c in zip(u, v, w))


@settings(max_examples=25, deadline=None)
@given(data=st.data(), nwords=st.integers(2, 4), ring=st.sampled_from(["Z2", "ZT", "Z3"]))
def test_pack_round_trip_over_several_words(data, nwords, ring):
    """Random ternary factors of targets whose longest factor takes ``nwords`` words."""
    side = {2: 9, 3: 12, 4: 16}[nwords]  # <side,m,p>: longest factor side·m entries
    target = tg.matmul_target(side, side, data.draw(st.integers(1, side)))
    assert words(target.dims) == nwords
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32)))
    rank = data.draw(st.integers(0, 12))
    u, v, w = (rng.integers(-1, 2, (rank, d)) * (rng.random((rank, d)) < 0.1) for d in target.dims)
    scheme = tg.Scheme(target, "Z", u, v, w)
    packed = pack(scheme, ring)
    assert packed.words == nwords and packed.nz.shape[2] == nwords
    back = unpack(packed, target)
    expected = scheme if ring == "ZT" else scheme.with_ring(ring)
    assert _normalised(back) == _normalised(expected)
    again = pack(back, ring)
    for a, b in ((packed.nz, again.nz), (packed.sg, again.sg), (packed.sc, again.sc)):
        assert np.array_equal(a, b)
    for masks in (packed.nz, packed.sg):  # the checkpoint form: one integer per factor
        assert np.array_equal(ints_to_masks(masks_to_ints(masks), nwords), masks)


def test_one_word_masks_keep_their_checkpoint_form():
    """Old state files (one word a factor) read and write as before: plain integers."""
    packed = pack(tg.naive_scheme(tg.matmul_target(3, 3, 3)), "ZT")
    assert masks_to_ints(packed.nz) == packed.nz.tolist()
    assert np.array_equal(ints_to_masks(packed.nz.tolist(), 1), packed.nz)
    with pytest.raises(ValueError):
        ints_to_masks([[1 << 130], [1], [1]], 2)


@pytest.mark.parametrize("ring", ["Z2", "ZT", "Z3"])
def test_wide_path_at_one_word_walks_the_same_trajectory(ring):
    """(3, R, 1) masks go through the wide kernels: every flip, plus transition, split
    and reduction must be the one-word engine's, draw for draw."""
    target = tg.matmul_target(3, 3, 3)
    one = pack(tg.naive_scheme(target), ring)
    wide = PackedScheme(ring, one.nz[..., None], one.sg[..., None], one.sc)
    walkers = [_Walker(p, target, 4, 11, split=True) for p in (one, wide)]
    for walker in walkers:
        walker.run(150_000, 300, 0)
    a, b = walkers
    assert (a.best_rank, a.flips, a.attempts, a.reductions, a.pluses, a.rank) == \
           (b.best_rank, b.flips, b.attempts, b.reductions, b.pluses, b.rank)
    assert a.reductions > 0 and a.pluses > 0  # every kind of move happened
    best_a, best_b = a.best(), b.best()
    assert np.array_equal(best_a.nz, best_b.nz[..., 0]) and np.array_equal(best_a.sg, best_b.sg[..., 0])
    assert b.best_scheme().verify().ok


def _check_wide_structure(walker: _Walker) -> None:
    """The incrementally kept groups are the classes of equal factors."""
    I, K, _ = walker.state
    rank = int(I[META, RANK])
    for p in range(3):
        keys = [K[NZ + p, i].tobytes() + K[NZ + 3 + p, i].tobytes() for i in range(rank)]
        groups = [int(I[TGRP + p, i]) for i in range(rank)]
        assert len(set(keys)) == len(set(groups)) == int((I[HGRP + p] >= 0).sum())
        assert all((keys[i] == keys[j]) == (groups[i] == groups[j]) for i in range(rank) for j in range(i))
        for g in set(groups):
            assert int(I[GSIZE + p, g]) == groups.count(g)
    assert int(I[META, NDUP]) <= 3 * rank <= 3 * int(I[META, RMAX])


@pytest.mark.parametrize("ring", ["Z2", "ZT", "Z3"])
def test_every_wide_step_stays_exact(ring):
    """<2,2,33> has factors of 66 entries (two words): after every attempt (short
    plateaus: plus transitions and splits happen) the scheme is exact."""
    target = tg.matmul_target(2, 2, 33)
    walker = _Walker(pack(tg.naive_scheme(target), ring), target, 6, 5, split=True)
    assert walker.state[1].shape[2] == 2  # the wide kernels
    for step in range(300):
        walker.run(1, 5, 0)
        current = unpack(walker.current(), target)
        assert current.rank == walker.rank and current.verify().ok, step
        if step % 50 == 0:
            _check_wide_structure(walker)
    assert walker.pluses > 0 and walker.flips > 0


def test_local_descents_lower_a_wide_naive_scheme():
    """<2,2,33> (factors of 66 entries): seeded local descents go below the naive 132."""
    naive = tg.naive_scheme(tg.matmul_target(2, 2, 33)).with_ring("Z2")
    better = descend(naive, "Z2", np.random.default_rng(0), 8)
    assert better.rank < naive.rank and better.verify().ok


def test_meta_starts_for_wide_formats(tmp_path, strassen):
    """Strassen extended to <2,2,33> (131 < 132 terms), its product with the naive
    <2,2,17> (<4,4,34>, three words) and two Strassens joined to <2,2,4> and extended
    to <2,2,33>; all walk and stay exact."""
    path = tmp_path / "strassen.json"
    write_scheme(strassen, path)
    with Catalog(tmp_path / "c.sqlite") as catalog:
        extended, _ = resolve_start(f"meta:{path}", tg.matmul_target(2, 2, 33), catalog, "Z")
        product, _ = resolve_start(f"meta:{path}*2,2,17", tg.matmul_target(4, 4, 34), catalog, "Z")
        joined, _ = resolve_start(f"meta:{path}+{path}", tg.matmul_target(2, 2, 33), catalog, "Z")
    assert extended.rank == 131 and extended.verify().ok
    assert product.rank == 7 * 68 and product.verify().ok
    assert joined.rank == 14 + 29 * 4 and joined.verify().ok
    for start, nwords in ((extended, 2), (product, 3), (joined, 2)):
        for ring in ("Z2", "ZT"):
            space = SearchSpace(start.target, ring)
            walker = space.walker(space.payload(start), seed=1, capacity=start.rank)
            assert walker.state[1].shape[2] == nwords
            walker.run(20_000, 500, 0)
            assert walker.best_rank <= start.rank and walker.best_scheme().verify().ok


def test_a_bare_meta_start_assembles_the_catalogue(tmp_path, strassen):
    """``--start meta``: the lowest-rank meta move of the catalogue's smaller formats,
    in the ring asked for; the naive scheme when the catalogue has none."""
    with Catalog(tmp_path / "c.sqlite") as catalog:
        empty, _ = resolve_start("meta", tg.matmul_target(2, 2, 4), catalog, "Z2")
        catalog.add(strassen, method="test")
        joined, _ = resolve_start("meta", tg.matmul_target(2, 2, 4), catalog, "Z2")
        # <2,2,2> itself is not a meta move of a smaller format: its start stays naive
        same, _ = resolve_start("meta", tg.matmul_target(2, 2, 2), catalog, "Z")
    assert empty.rank == 16
    assert joined.rank == 14 and str(joined.ring) == "Z2" and joined.verify().ok
    assert same.rank == 8


def test_meta_sources_of_two_rings_combine_mod_2(tmp_path, strassen):
    """A catalogue scheme over Z2 joined to, or multiplied by, a format the catalogue
    lacks (its naive scheme, over Z) gives a start over Z2."""
    with Catalog(tmp_path / "c.sqlite") as catalog:
        catalog.add(strassen.with_ring("Z2"), method="test")
        joined, _ = resolve_start("meta:2,2,2+2,2,1", tg.matmul_target(2, 2, 3), catalog, "Z2")
        squared, _ = resolve_start("meta:2,2,2*3,3,3", tg.matmul_target(6, 6, 6), catalog, "Z2")
    assert joined.rank == 11 and str(joined.ring) == "Z2" and joined.verify().ok
    assert squared.rank == 7 * 27 and str(squared.ring) == "Z2" and squared.verify().ok


def test_a_wide_run_resumes(tmp_path):
    """A run of <2,2,33> from a lowered scheme (in-process sprint only) checkpoints its
    wide masks; the resumed run starts from them, verified."""
    target = tg.matmul_target(2, 2, 33)
    start = descend(tg.naive_scheme(target).with_ring("Z2"), "Z2", np.random.default_rng(0), 8)
    settings_ = FlipSettings(workers=1, time_s=0.3, sprint_s=0.3, seed=2)
    first = FlipRun(SearchSpace(target, "Z2"), settings_, start, run_dir=tmp_path / "run").run()
    assert first.best.rank <= start.rank and first.best.verify().ok
    again = FlipRun(SearchSpace(target, "Z2"), settings_, tg.naive_scheme(target), run_dir=tmp_path / "run",
                    resume=True)
    assert again.best.rank == first.best.rank
    second = again.run()
    assert second.resumed and second.best.rank <= first.best.rank and second.best.verify().ok


def test_limits_are_one_line(run):
    assert_user_error(run("flip", 17, 17, 1))  # factors of 289 > 256 entries
    assert_user_error(run("flip", 9, 9, 9, "--symmetric"))  # the symmetric walk holds one word
    with pytest.raises(TargetError):
        check_memory(4096, 4, 10_000)  # 10,000 walks of the naive <16,16,16>
    check_memory(4096, 4, 1)


def test_largest_format_packs(tmp_path: Path):
    """The naive <16,16,16> (4096 terms, four words a factor) packs, walks and unpacks."""
    target = tg.matmul_target(16, 16, 16)
    naive = tg.naive_scheme(target)
    walker = SearchSpace(target, "Z2").walker(pack(naive, "Z2"), seed=0, capacity=naive.rank)
    walker.run(10_000, 3_000, 0)
    current = unpack(walker.current(), target)
    assert walker.state[1].shape[2] == 4 and current.rank == walker.rank
    assert current.verify().ok
