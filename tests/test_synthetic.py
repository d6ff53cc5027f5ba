"""Synthetic demonstrations: exactness, reproducibility, shards, augmentations."""

import zipfile

import numpy as np
import pytest

import tensorgame as tg
from tensorgame.errors import FormatError, TensorGameError
from tensorgame.game import (
    DemoBatch,
    GameConfig,
    GameError,
    SyntheticConfig,
    SyntheticGenerator,
    TensorGame,
    augment,
    augment_scheme,
    flip_signs,
    iter_shards,
    load_shard,
    matmul_formats,
    matmul_symmetry,
    permute_terms,
    random_square_symmetry,
    save_shard,
    swap_with_last,
    write_shards,
)
from tensorgame.tensors import symmetry

from .conftest import STRASSEN_U, STRASSEN_V, STRASSEN_W

TARGETS = matmul_formats(3, 9) + (tg.complex_target(), tg.polymul_target(2, 3))
CONFIG = SyntheticConfig(targets=TARGETS, max_side=9)


@pytest.fixture(scope="module")
def batch() -> DemoBatch:
    return SyntheticGenerator(CONFIG, seed=11).batch(0, 300)


def _strassen_demo() -> DemoBatch:
    f = np.zeros((1, 7, 3, 4), dtype=np.int8)
    f[0, :, 0], f[0, :, 1], f[0, :, 2] = STRASSEN_U, STRASSEN_V, STRASSEN_W
    t = tg.matmul_tensor(2, 2, 2).astype(np.int16)[None]
    return DemoBatch(t, f, np.array([7]), np.array([[4, 4, 4]]), np.array([0]), np.array([[2, 2, 2]]))


# --- the generator -------------------------------------------------------------------------
def test_every_pair_verifies_exactly(batch):
    assert batch.check().all()
    for i in range(len(batch)):
        assert batch.scheme(i).verify().ok
    assert set(batch.modulus.tolist()) == {0, 2}
    caps = {t.dims: t.naive_rank for t in TARGETS}
    assert len({tuple(d) for d in batch.dims.tolist()}) >= 8  # several shapes at once
    for i in range(len(batch)):
        assert 1 <= batch.ranks[i] <= max(c for d, c in caps.items() if d == tuple(batch.dims[i]))
        assert np.any(batch.tensor(i) != 0)
        mv = batch.moves(i)
        assert np.all(np.any(mv != 0, axis=2))  # no zero factor
    z2 = batch.factors[batch.modulus == 2]
    assert z2.min() >= 0 and z2.max() <= 1
    assert batch.tensors[batch.modulus == 2].max() <= 1


def test_stream_is_seeded_and_reproducible():
    a = list(SyntheticGenerator(CONFIG, seed=3).stream(32, count=3))
    b = list(SyntheticGenerator(CONFIG, seed=3).stream(32, count=3))
    assert all(x.equals(y) for x, y in zip(a, b))
    assert SyntheticGenerator(CONFIG, seed=3).batch(2, 32).equals(a[2])  # random access
    assert not SyntheticGenerator(CONFIG, seed=4).batch(0, 32).equals(a[0])
    assert not a[0].equals(a[1])


def test_coefficient_distribution_is_configurable():
    cfg = SyntheticConfig(targets=((3, 3, 3),), rings=("Z",), min_rank=20, max_rank=27,
                          values=(-1, 0, 1, 3), probs=(0.1, 0.6, 0.2, 0.1))
    b = SyntheticGenerator(cfg, seed=0).batch(0, 200)
    assert b.check().all() and b.ranks.min() >= 20 and b.ranks.max() <= 27
    live = b.factors[np.arange(b.pad_rank)[None, :] < b.ranks[:, None]][..., :9]  # sides are 9
    vals, counts = np.unique(live, return_counts=True)
    assert vals.tolist() == [-1, 0, 1, 3]
    freq = counts / counts.sum()
    # zero factors (probability 0.6^9 ≈ 1%) are redrawn, so P(0) is a little lower
    assert np.allclose(freq, [0.1, 0.6, 0.2, 0.1], atol=0.02)
    assert b.tensors.dtype == np.int16  # 27 terms of |c| <= 3: 729 fits
    z2 = SyntheticGenerator(SyntheticConfig(targets=((2, 2, 2),), rings=("Z2",)), 0).batch(0, 50)
    assert set(np.unique(z2.factors).tolist()) == {0, 1} and z2.check().all()


def test_config_errors():
    for bad in (dict(targets=()), dict(targets=((5, 5, 5),)), dict(targets=((2, 2, 2),), rings=("Q",)),
                dict(targets=((2, 2, 2),), probs=(1, 0, 0, 0)), dict(targets=((2, 2, 2),), min_rank=9),
                dict(targets=((2, 2, 2),), values=(0, 2), probs=(0.5, 0.5), rings=("Z2",)),
                dict(targets=("abc",))):
        with pytest.raises(TensorGameError):
            SyntheticConfig(**bad)
    with pytest.raises(GameError):
        SyntheticGenerator(CONFIG, 0).batch(0, 0)


def test_demonstrations_are_playable_games(batch):
    sub = batch.select(np.arange(40))
    # a random tensor's own naive rank can be below the demonstration's length
    env = TensorGame(GameConfig(max_side=9, max_steps=sub.pad_rank))
    targets = [tg.tensor_target(sub.tensor(i)) for i in range(len(sub))]
    rings = [sub.ring(i) for i in range(len(sub))]
    state = env.reset(targets, rings)
    assert env.legal(state, sub.factors[:, 0]).all()
    for r in range(sub.pad_rank):
        moves = np.where((r < sub.ranks)[:, None, None], sub.factors[:, r], 0).astype(np.int8)
        if state.done.all():
            break
        env.step(state, moves)
    # a game may finish early only if a prefix of the terms already sums to the tensor
    assert state.solved.all()
    assert (state.step <= sub.ranks).all()
    for i in range(len(sub)):
        assert env.scheme(state, i).verify().ok


# --- shards ----------------------------------------------------------------------------------
def test_shard_round_trip(batch, tmp_path):
    path = save_shard(tmp_path / "one.npz", batch)
    with np.load(path, allow_pickle=False) as npz:  # plain arrays, no pickle
        assert str(npz["format"]) == "tensorgame-demos"
    back = load_shard(path)
    assert back.equals(batch)
    gen = SyntheticGenerator(CONFIG, seed=5)
    paths = write_shards(tmp_path / "set", gen.stream(16, count=3))
    assert [p.name for p in paths] == ["demos-00000.npz", "demos-00001.npz", "demos-00002.npz"]
    again = list(iter_shards(tmp_path / "set"))
    assert all(x.equals(y) for x, y in zip(again, gen.stream(16, count=3)))


def _save(path, **arrays):
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    return path


def _fields(batch):
    r = np.arange(batch.pad_rank)[None, :] < batch.ranks[:, None]
    return dict(format=np.array("tensorgame-demos"), version=np.array(1), side=np.array(batch.side),
                pad_rank=np.array(batch.pad_rank), tensor_dtype=np.array("int16"), ranks=batch.ranks,
                dims=batch.dims, modulus=batch.modulus, params=batch.params, terms=batch.factors[r])


def test_malformed_or_foreign_shards_give_one_line_errors(batch, tmp_path):
    good = _fields(batch.select(np.arange(5)))
    cases = {}
    (tmp_path / "junk.npz").write_bytes(b"not a zip file at all" * 10)
    cases["junk"] = tmp_path / "junk.npz"
    (tmp_path / "trunc.npz").write_bytes(save_shard(tmp_path / "full.npz", batch).read_bytes()[:300])
    cases["truncated"] = tmp_path / "trunc.npz"
    cases["foreign"] = _save(tmp_path / "foreign.npz", x=np.arange(3))
    cases["missing"] = _save(tmp_path / "missing.npz", **{k: v for k, v in good.items() if k != "terms"})
    cases["pickled"] = _save(tmp_path / "pickled.npz", **{**good, "ranks": np.array([1, "a"], dtype=object)})
    floats = good["terms"].astype(np.float32)
    cases["wrong_dtype"] = _save(tmp_path / "dtype.npz", **{**good, "terms": floats})
    pad = good["terms"].copy()
    pad[0, 0, -1] = 1
    cases["padding"] = _save(tmp_path / "pad.npz", **{**good, "terms": pad})
    cases["format"] = _save(tmp_path / "fmt.npz", **{**good, "format": np.array("something-else")})
    cases["version"] = _save(tmp_path / "ver.npz", **{**good, "version": np.array(9)})
    cases["lengths"] = _save(tmp_path / "len.npz", **{**good, "ranks": good["ranks"][:3]})
    np.save(tmp_path / "single.npy", np.arange(4))
    cases["npy"] = tmp_path / "single.npy"
    cases["absent"] = tmp_path / "nope.npz"
    for name, path in cases.items():
        with pytest.raises(FormatError) as info:
            load_shard(path)
        msg = str(info.value)
        assert isinstance(info.value, TensorGameError)
        assert "\n" not in msg and str(path) in msg, (name, msg)
    assert zipfile.is_zipfile(tmp_path / "full.npz")


# --- augmentations ---------------------------------------------------------------------------
def _term_multiset(b, i):
    return sorted(map(bytes, b.moves(i).reshape(int(b.ranks[i]), -1)))


def test_term_order_and_sign_augmentations_keep_pairs_correct(batch):
    rng = np.random.default_rng(0)
    before = batch.factors.copy()
    for fn in (swap_with_last, permute_terms, flip_signs):
        out = fn(batch, rng)
        assert out.check().all(), fn.__name__
        assert np.array_equal(out.tensors, batch.tensors)
    assert np.array_equal(batch.factors, before)  # inputs untouched
    swapped = swap_with_last(batch, rng)
    perm = permute_terms(batch, rng)
    for i in range(len(batch)):
        assert _term_multiset(swapped, i) == _term_multiset(batch, i)
        assert _term_multiset(perm, i) == _term_multiset(batch, i)
        r = int(batch.ranks[i])
        assert np.array_equal(swapped.moves(i)[:-1].sum(0) + swapped.moves(i)[-1], batch.moves(i).sum(0))
        if r > 1:
            diff = np.any(swapped.moves(i) != batch.moves(i), axis=(1, 2))
            assert diff.sum() in (0, 2) and (diff.sum() == 0 or diff[r - 1])
    z2 = flip_signs(batch, rng).factors[batch.modulus == 2]
    assert np.array_equal(z2, batch.factors[batch.modulus == 2])


def test_matmul_symmetries_keep_pairs_correct(batch):
    rng = np.random.default_rng(1)
    for kind in ("cyclic", "transpose"):
        out = matmul_symmetry(batch, kind)
        assert out.check().all()
        mm = batch.params.min(axis=1) > 0
        n, m, p = batch.params[mm].T
        new = (m, p, n) if kind == "cyclic" else (p, m, n)
        assert np.array_equal(out.params[mm], np.stack(new, axis=1))
        assert np.array_equal(out.dims[mm], np.stack([new[0] * new[1], new[1] * new[2], new[0] * new[2]], 1))
        assert np.array_equal(out.tensors[~mm], batch.tensors[~mm])
    assert random_square_symmetry(batch, rng).check().all()
    mixed = augment(batch, rng)
    assert mixed.check().all() and np.array_equal(mixed.dims, batch.dims)
    with pytest.raises(GameError):
        matmul_symmetry(batch, "mirror")


def test_symmetries_of_strassen_match_the_core_maps():
    demo = _strassen_demo()
    strassen = tg.Scheme(tg.matmul_target(2, 2, 2), "Z", STRASSEN_U, STRASSEN_V, STRASSEN_W)
    for kind, core in (("cyclic", symmetry.cyclic_rotation), ("transpose", symmetry.transpose)):
        out = matmul_symmetry(demo, kind)
        assert np.array_equal(out.tensor(0), tg.matmul_tensor(2, 2, 2))  # still <2,2,2>
        ref = core(strassen)
        assert np.array_equal(out.moves(0)[:, 0], ref.u) and np.array_equal(out.moves(0)[:, 1], ref.v)
        assert np.array_equal(out.moves(0)[:, 2], ref.w)
    rng = np.random.default_rng(2)
    for _ in range(6):
        out = random_square_symmetry(demo, rng)
        assert np.array_equal(out.tensor(0), tg.matmul_tensor(2, 2, 2)) and out.check().all()


def test_augment_scheme_keeps_schemes_correct():
    rng = np.random.default_rng(3)
    strassen = tg.Scheme(tg.matmul_target(2, 2, 2), "Z", STRASSEN_U, STRASSEN_V, STRASSEN_W)
    for s in (strassen, strassen.with_ring("Z2"), tg.naive_scheme(tg.matmul_target(2, 3, 4))):
        for _ in range(4):
            out = augment_scheme(s, rng)
            assert out.target is s.target and out.rank == s.rank and out.verify().ok
