"""Targets, rings, schemes and exact verification."""

import numpy as np
import pytest

import tensorgame as tg
from tensorgame.errors import FormatError, RingError, TargetError
from tensorgame.tensors.verify import reconstruct


def test_matmul_convention():
    n, m, p = 2, 3, 4
    t = tg.matmul_tensor(n, m, p)
    assert t.shape == (n * m, m * p, n * p)
    assert t.sum() == n * m * p
    for i in range(n):
        for j in range(m):
            for k in range(p):
                assert t[i * m + j, j * p + k, i * p + k] == 1
    # the tensor computes A @ B with C row-major (not transposed)
    rng = np.random.default_rng(0)
    a, b = rng.integers(-5, 5, (n, m)), rng.integers(-5, 5, (m, p))
    c = np.einsum("abc,a,b->c", t.astype(np.int64), a.ravel(), b.ravel()).reshape(n, p)
    assert np.array_equal(c, a @ b)


def test_target_metadata():
    t = tg.matmul_target(3, 3, 3)
    assert t.name == "<3,3,3>" and t.key == "matmul:3,3,3" and t.naive_rank == 27
    assert {"basis_change", "transpose", "cyclic"} <= set(t.symmetries)
    assert "cyclic" not in tg.matmul_target(2, 3, 2).symmetries
    assert tg.known_ranks(4, 4, 4).alphatensor_z2 == 47
    assert tg.known_ranks(5, 3, 4).best_z == 47  # looked up by sorted sides


@pytest.mark.parametrize("bad", [(0, 2, 2), (10**6, 1, 1), (2.5, 2, 2), (True, 2, 2)])
def test_absurd_targets_are_refused(bad):
    with pytest.raises(TargetError) as err:
        tg.matmul_target(*bad)
    assert "\n" not in str(err.value)


def test_other_bilinear_maps_compute_what_they_claim():
    rng = np.random.default_rng(1)
    # skew-symmetric matrix times vector
    n = 4
    t = tg.skew_matvec_target(n).tensor.astype(np.int64)
    s_upper = rng.integers(-5, 5, n * (n - 1) // 2)
    s = np.zeros((n, n), dtype=np.int64)
    s[np.triu_indices(n, 1)] = s_upper
    s = s - s.T
    x = rng.integers(-5, 5, n)
    assert np.array_equal(np.einsum("abc,a,b->c", t, s_upper, x), s @ x)
    # polynomial multiplication
    a, b = rng.integers(-5, 5, 3), rng.integers(-5, 5, 4)
    t = tg.polymul_target(3, 4).tensor.astype(np.int64)
    assert np.array_equal(np.einsum("abc,a,b->c", t, a, b), np.convolve(a, b))
    # complex multiplication
    t = tg.complex_target().tensor.astype(np.int64)
    z = np.einsum("abc,a,b->c", t, [2, 3], [5, -7])
    assert complex(*z) == complex(2, 3) * complex(5, -7)


def test_user_tensor_file(tmp_path):
    arr = np.arange(24).reshape(2, 3, 4) % 3
    np.save(tmp_path / "t.npy", arr)
    t = tg.load_target_file(tmp_path / "t.npy")
    assert t.dims == (2, 3, 4) and tg.target_from_json(t.to_json()).key == t.key
    np.save(tmp_path / "obj.npy", np.array([object()], dtype=object), allow_pickle=True)
    with pytest.raises(TargetError):
        tg.load_target_file(tmp_path / "obj.npy")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(TargetError):
        tg.load_target_file(tmp_path / "bad.json")


def test_rings():
    assert tg.parse_ring("z2") == tg.Z2 and tg.parse_ring("F3") == tg.Z3
    assert tg.parse_ring("GF7").modulus == 7
    assert tg.Z.implies(tg.Z2) and not tg.Z2.implies(tg.Z)
    for bad in ("Z4", "R", "Z1"):
        with pytest.raises(RingError):
            tg.parse_ring(bad)


def test_strassen_verifies_and_counts(strassen):
    assert strassen.verify().ok and strassen.verify("Z2").ok and strassen.verify("Q").ok
    assert strassen.rank == 7 and strassen.additions == 18 and strassen.nnz == 36


def test_wrong_coefficient_is_located(strassen):
    u = np.array(strassen.u)
    u[0, 0] = 0  # m1 = a22 (b11 + b22) instead of (a11 + a22)(b11 + b22)
    bad = tg.Scheme(strassen.target, "Z", u, strassen.v, strassen.w)
    res = bad.verify()
    assert not res.ok and res.n_wrong == len(res.wrong) > 0
    # m1 feeds c11 and c22 with b11 + b22, so exactly a11·b11, a11·b22 are wrong there
    assert {e.index for e in res.wrong} == {(0, 0, 0), (0, 3, 0), (0, 0, 3), (0, 3, 3)}


def test_naive_schemes_for_every_kind():
    for target in (tg.matmul_target(2, 3, 4), tg.skew_matvec_target(5), tg.polymul_target(3, 2),
                   tg.complex_target()):
        for ring in ("Z", "Z2", "Z3"):
            s = tg.naive_scheme(target, ring)
            assert s.verify().ok, (target.name, ring)


def test_mod2_only_scheme_is_refused_over_z(strassen):
    # reading Strassen's coefficients mod 2 as integers breaks it over Z
    mod2 = strassen.with_ring("Z2")
    assert mod2.verify().ok
    assert not tg.Scheme(strassen.target, "Z", mod2.u, mod2.v, mod2.w).verify().ok


def test_rational_scheme():
    t = tg.matmul_target(1, 1, 1)
    # a·b = (2a)(b/4)·2 with denominators
    s = tg.Scheme(t, "Q", [[2]], [[1]], [[2]], denominators=[[1, 4, 1]])
    assert s.verify().ok and not s.verify("Z3").ok is False
    s_bad = tg.Scheme(t, "Q", [[2]], [[1]], [[1]], denominators=[[1, 4, 1]])
    assert not s_bad.verify().ok and s_bad.verify().wrong[0].got == "1/2"
    with pytest.raises(RingError):
        tg.Scheme(t, "Z", [[2]], [[1]], [[2]], denominators=[[1, 4, 1]])


def test_shape_errors(strassen):
    with pytest.raises(FormatError):
        tg.Scheme(strassen.target, "Z", [[1, 0, 0]], [[1, 0, 0, 0]], [[1, 0, 0, 0]])
    with pytest.raises(FormatError):
        tg.Scheme(strassen.target, "Z", strassen.u, strassen.v[:6], strassen.w)
    with pytest.raises(FormatError):
        tg.Scheme(strassen.target, "Z", [[0.5, 0, 0, 0]], [[1, 0, 0, 0]], [[1, 0, 0, 0]])


@pytest.mark.parametrize("scale", [1, 2**20, 2**40])
def test_reconstruct_is_exact_in_every_arithmetic(scale):
    """Entries that overflow float64 or int64 are still summed exactly."""
    rng = np.random.default_rng(scale)
    u = rng.integers(-3, 4, (9, 4)) * scale
    v = rng.integers(-3, 4, (9, 3)) * scale
    w = rng.integers(-3, 4, (9, 5))
    got = reconstruct(u, v, w)
    want = np.einsum("ri,rj,rk->ijk", u.astype(object), v.astype(object), w.astype(object))
    assert np.array_equal(got.astype(object), want)
