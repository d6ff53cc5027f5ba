"""Code generation: CSE, form search, memory planning, generated modules, benchmarks.

Generated code must equal A @ B exactly on integer matrices (int64, and float64 with
small integer entries, where every partial sum is exact) and agree within rounding on
random floats, for every level count and for sizes that do not divide.
"""

import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tensorgame as tg
from tensorgame.catalog import Catalog
from tensorgame.codegen import (
    build_module,
    compile_level,
    generate_module,
    load_module,
    optimise_scheme,
    program_listing,
    write_listing,
    write_module,
)
from tensorgame.codegen.bench import bench, rank_by_runtime, stored_timings, timings_path
from tensorgame.codegen.cse import best_cse, greedy_cse
from tensorgame.codegen.program import naive_program
from tensorgame.errors import TensorGameError
from tensorgame.formats import read_scheme
from tensorgame.tensors.compose import kron_scheme
from tensorgame.tensors.symmetry import change_basis, random_unimodular

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
#: Shapes that divide, do not divide, are smaller than a grid, or degenerate.
SHAPES = [(1, 1, 1), (1, 7, 3), (5, 1, 4), (3, 5, 2), (16, 16, 16), (17, 19, 23), (33, 47, 29), (64, 48, 72),
          (81, 81, 81)]


@pytest.fixture(scope="module")
def strassen18() -> tg.Scheme:
    return read_scheme(EXAMPLES / "strassen.json")


@pytest.fixture(scope="module")
def rect232() -> tg.Scheme:
    """The naive <2,3,2> moved to a random basis: rectangular, dense, coefficients ±1, ±2."""
    rng = np.random.default_rng(7)
    naive = tg.naive_scheme(tg.matmul_target(2, 3, 2))
    return change_basis(naive, *(random_unimodular(d, rng) for d in (2, 3, 2)))


@pytest.fixture(scope="module")
def strassen_squared(strassen18: tg.Scheme) -> tg.Scheme:
    return kron_scheme(strassen18, strassen18)


def _check_exact(module, shapes=SHAPES, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for n, m, p in shapes:
        a, b = rng.integers(-9, 10, (n, m)), rng.integers(-9, 10, (m, p))
        c = module.matmul(a, b)
        assert c.dtype == np.int64 and c.shape == (n, p)
        np.testing.assert_array_equal(c, a @ b, err_msg=f"int64 {n}x{m}x{p}")
        af, bf = a.astype(np.float64), b.astype(np.float64)
        cf = module.matmul(af, bf)
        assert cf.dtype == np.float64
        np.testing.assert_array_equal(cf, af @ bf, err_msg=f"float64 {n}x{m}x{p}")


def _check_floats(module, shapes=SHAPES, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-4)):
        for n, m, p in shapes:
            a = rng.standard_normal((n, m)).astype(dtype)
            b = rng.standard_normal((m, p)).astype(dtype)
            c = module.matmul(a, b)
            assert c.dtype == dtype
            ref = a.astype(np.float64) @ b.astype(np.float64)
            assert np.abs(c - ref).max() <= tol * max(1.0, np.abs(ref).max()) * m


# --- common-subexpression elimination ----------------------------------------------------
@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.lists(st.integers(-2, 2), min_size=6, max_size=6), min_size=1, max_size=8))
def test_cse_computes_the_same_map_with_no_more_additions(rows):
    matrix = np.asarray(rows, dtype=np.int64)
    matrix = matrix[np.any(matrix != 0, axis=1)]
    if not len(matrix):
        return
    for prog in (greedy_cse(matrix), best_cse(matrix, restarts=3)):
        np.testing.assert_array_equal(prog.matrix().astype(np.int64), matrix)
        assert prog.additions <= naive_program(matrix).additions


def test_cse_shares_signed_pairs():
    # x0+x1 appears as itself, negated, and doubled: one addition serves all three
    matrix = np.array([[1, 1, 1, 0], [-1, -1, 0, 1], [2, 2, 0, 1]])
    prog = greedy_cse(matrix)
    assert prog.additions == 4 < naive_program(matrix).additions == 6
    np.testing.assert_array_equal(prog.matrix().astype(np.int64), matrix)


# --- form search ----------------------------------------------------------------------------
def test_strassen_18_additions_become_winograds_15(strassen18):
    assert strassen18.additions == 18
    found = optimise_scheme(strassen18)
    assert found.naive_additions == 18 and found.cse_additions == 18
    assert found.additions == 15
    assert found.program.scalings == 0 and found.program.negations == 0
    assert found.scheme.verify().ok and found.program.is_exact()
    assert found.scheme.target == strassen18.target or found.scheme.target.key == strassen18.target.key
    assert found.summary()["additions_optimised"] == 15


def test_search_is_deterministic(rect232):
    a, b = optimise_scheme(rect232, iterations=60, seed=3), optimise_scheme(rect232, iterations=60, seed=3)
    assert a.additions == b.additions
    assert np.array_equal(a.scheme.u, b.scheme.u) and np.array_equal(a.scheme.w, b.scheme.w)
    assert a.additions <= a.cse_additions <= a.naive_additions


def test_strassen_squared_gains_from_cse_and_search(strassen_squared):
    found, _ = compile_level(strassen_squared)
    assert found.naive_additions == strassen_squared.additions == 318
    assert found.program.is_exact()
    # recursive Strassen costs 18·4 + 7·18 = 198 additions of 1/16 blocks
    assert found.additions < 198


# --- refusals -------------------------------------------------------------------------------
def test_refuses_mod2_wrong_and_non_matmul_schemes(strassen18):
    with pytest.raises(TensorGameError, match="Z2"):
        generate_module(strassen18.with_ring("Z2"))
    wrong_w = strassen18.w.copy()
    wrong_w[0, 0] = 0
    wrong = tg.Scheme(strassen18.target, "Z", strassen18.u, strassen18.v, wrong_w)
    with pytest.raises(TensorGameError, match="wrong"):
        generate_module(wrong)
    with pytest.raises(TensorGameError, match="matrix multiplication"):
        generate_module(tg.naive_scheme(tg.complex_target()))
    with pytest.raises(TensorGameError, match="target"):
        generate_module(strassen18, target="fortran")
    with pytest.raises(TensorGameError, match="backend"):
        bench([strassen18], [8], backends=["fortran"], echo=None)
    with pytest.raises(TensorGameError, match="levels"):
        generate_module([strassen18, strassen18], levels=3)
    with pytest.raises(TensorGameError, match="threshold"):
        generate_module(strassen18, threshold=0)


# --- generated modules: exactness ---------------------------------------------------------
@pytest.mark.parametrize("levels", [1, 2, 3])
@pytest.mark.parametrize("optimise", [True, False])
def test_strassen_module_is_exact(strassen18, levels, optimise):
    module = build_module(strassen18, levels=levels, threshold=2, optimise=optimise)
    _check_exact(module)
    _check_floats(module)


@pytest.mark.parametrize("levels", [1, 2, 3])
def test_rectangular_module_is_exact(rect232, levels):
    module = build_module(rect232, levels=levels, threshold=2, search_iterations=100)
    _check_exact(module)
    _check_floats(module)


@pytest.mark.parametrize("levels", [1, 2, 3])
def test_alphatensor_234_module_is_exact(alphatensor_dir, levels):
    scheme = read_scheme(alphatensor_dir / "factorizations_r_nopickle.npz",
                                    target=tg.matmul_target(2, 3, 4))
    module = build_module(scheme, levels=levels, threshold=2, search_iterations=100)
    _check_exact(module, SHAPES + [(96, 97, 98)])


@pytest.mark.parametrize("levels", [1, 2])
def test_strassen_squared_module_is_exact(strassen_squared, levels):
    module = build_module(strassen_squared, levels=levels, threshold=2)
    _check_exact(module, SHAPES + [(70, 66, 90)])
    _check_floats(module, [(35, 40, 36), (64, 64, 64)])


def test_different_schemes_per_level(strassen18, rect232, strassen_squared):
    module = build_module([strassen_squared, rect232, strassen18], threshold=2, search_iterations=60)
    assert module.LEVELS == 3 and module._GRIDS == ((4, 4, 4), (2, 3, 2), (2, 2, 2))
    _check_exact(module, SHAPES + [(100, 120, 90)])


def test_degenerate_grids():
    # grids with sides of 1 (no basis moves on that side; <1,1,1> has none at all)
    for dims in ((1, 2, 3), (1, 1, 1), (3, 1, 2)):
        module = build_module(tg.naive_scheme(tg.matmul_target(*dims)), levels=2, threshold=1,
                              search_iterations=20)
        _check_exact(module, [(1, 1, 1), (7, 5, 6), (9, 4, 12)])


def test_rational_scheme_divides_exactly(strassen18):
    # a non-unimodular basis change gives a scheme over Q with denominators
    q_scheme = change_basis(strassen18.with_ring("Q"), np.array([[2, 1], [1, 1]]), np.array([[1, 0], [1, 3]]),
                            np.eye(2, dtype=np.int64))
    assert q_scheme.denominators is not None and q_scheme.verify().ok
    found, _ = compile_level(q_scheme)
    assert max(found.program.divisors) > 1 and found.program.is_exact()
    module = build_module(q_scheme, levels=2, threshold=2)
    _check_exact(module)
    _check_floats(module)


def test_dtypes_and_fallbacks(strassen18):
    module = build_module(strassen18, levels=1, threshold=2)
    rng = np.random.default_rng(2)
    a, b = rng.integers(-3, 4, (6, 5)).astype(np.int32), rng.standard_normal((5, 4)).astype(np.float32)
    c = module.matmul(a, b)
    assert c.dtype == np.matmul(a, b).dtype
    np.testing.assert_allclose(c, np.matmul(a, b), rtol=1e-12)
    for a16 in (rng.integers(-3, 4, (8, 8)).astype(np.int16),):
        assert module.matmul(a16, a16).dtype == np.int16
        np.testing.assert_array_equal(module.matmul(a16, a16), a16 @ a16)
    z = (rng.standard_normal((6, 6)) + 1j * rng.standard_normal((6, 6))).astype(np.complex128)
    np.testing.assert_allclose(module.matmul(z, z), z @ z, rtol=1e-12, atol=1e-12)
    bools = rng.integers(0, 2, (4, 4)).astype(bool)
    np.testing.assert_array_equal(module.matmul(bools, bools), bools @ bools)  # library product
    stack = rng.standard_normal((3, 4, 4))
    np.testing.assert_allclose(module.matmul(stack, stack), stack @ stack)
    with pytest.raises(ValueError):
        module.matmul(np.ones((3, 4)), np.ones((5, 2)))
    np.testing.assert_array_equal(module.matmul([[1, 2], [3, 4]], [[5], [6]]), [[17], [39]])
    # transposed, Fortran-ordered and sliced inputs are read through views as they are
    big = rng.integers(-5, 6, (30, 40))
    np.testing.assert_array_equal(module.matmul(big.T, big), big.T @ big)
    strided = rng.integers(-5, 6, (80, 26))[::2, ::2]  # 40×13, not contiguous
    np.testing.assert_array_equal(module.matmul(np.asfortranarray(big), strided), big @ strided)


# --- generated modules: text, files, listing --------------------------------------------
def test_module_text_is_readable_and_importable(strassen18, tmp_path):
    text = generate_module(strassen18, levels=2, threshold=64)
    assert "<2,2,2> over Z, rank 7" in text and "15 block additions" in text and "(18 as written)" in text
    body = text[text.index("def _level_1"):]
    assert body.count("_mul(level + 1,") == 7
    assert "exec(" not in text
    path = write_module(strassen18, tmp_path / "strassen_mm.py", levels=2, threshold=64)
    assert path.read_text() == text
    module = load_module(path)
    assert module.LEVELS == 2 and module.THRESHOLD == 64
    _check_exact(module, [(130, 129, 140)])


def test_listing_has_winograds_counts(strassen18, tmp_path):
    text = program_listing(strassen18)
    body = [line for line in text.splitlines() if not line.startswith("#")]
    products = [line for line in body if " * " in line]
    sums = [line for line in body if " + " in line or " - " in line]
    assert len(products) == 7 and len(sums) == 15
    assert "15 additions (18 as written)" in text
    assert write_listing(strassen18, tmp_path / "w.slp").read_text() == text


# --- memory ---------------------------------------------------------------------------------
def test_memory_plan_is_small_and_measured(strassen18):
    _, plan = compile_level(strassen18)
    assert sum(plan.temps) <= 4  # A-, B- and C-block buffers for one level
    module = build_module(strassen18, levels=2, threshold=2)
    n = 512
    a, b = np.ones((n, n)), np.ones((n, n))
    module.release_workspace()
    tracemalloc.start()
    try:
        module.matmul(a, b)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    workspace = module.workspace_bytes(n, n, n, 8)
    expected = 8 * (sum(plan.temps) * (n // 2) ** 2 + sum(plan.temps) * (n // 4) ** 2)
    assert workspace == expected
    # result + workspace + numpy's ufunc iteration buffers (a fixed ~200 KB, whatever
    # the size): no block-sized copies beyond the planned temporaries
    assert peak <= n * n * 8 + workspace + 256 * 1024


def test_peeling_inner_dimension_uses_one_buffer(strassen18):
    module = build_module(strassen18, levels=1, threshold=2)
    assert module.workspace_bytes(10, 11, 12, 8) >= 8 * 5 * 6  # a C-block buffer for the strip
    _check_exact(module, [(10, 11, 12), (2, 3, 2)])


# --- torch target ---------------------------------------------------------------------------
def test_torch_module_matches_torch_matmul(strassen18, rect232):
    torch = pytest.importorskip("torch")
    module = build_module([strassen18, rect232], target="torch", threshold=2, search_iterations=60)
    gen = torch.Generator().manual_seed(0)
    for n, m, p in [(1, 1, 1), (3, 5, 2), (17, 19, 23), (64, 60, 72)]:
        a = torch.randint(-9, 10, (n, m), generator=gen)
        b = torch.randint(-9, 10, (m, p), generator=gen)
        c = module.matmul(a, b)
        assert c.dtype == torch.int64 and torch.equal(c, a @ b)
        assert torch.equal(module.matmul(a.double(), b.double()), a.double() @ b.double())
        af, bf = torch.randn(n, m, generator=gen), torch.randn(m, p, generator=gen)
        cf = module.matmul(af, bf)
        assert cf.dtype == torch.float32
        assert torch.allclose(cf, af @ bf, rtol=1e-4, atol=1e-4 * m)
    assert torch.equal(module.matmul(np.eye(3), np.eye(3)), torch.eye(3, dtype=torch.float64))


# --- benchmarks -----------------------------------------------------------------------------
def test_bench_writes_json_and_plot(strassen18, tmp_path):
    rows = bench([strassen18], [32, 33], "float64", repeats=1, levels=[1, 2], threshold=8, backends=["numpy"],
                 json_path=tmp_path / "b.json", plot_path=tmp_path / "b.png", echo=None)
    assert len(rows) == 4
    assert {r["levels"] for r in rows} == {1, 2}
    for r in rows:
        assert r["ratio"] > 0 and r["max_rel_error"] < 1e-12 and r["additions"][0] == 15
        assert r["peak_extra_bytes"] is not None
    doc = json.loads((tmp_path / "b.json").read_text())
    assert doc["machine"]["cpu"] and "blas" in doc["machine"] and len(doc["results"]) == 4
    assert (tmp_path / "b.png").read_bytes()[:4] == b"\x89PNG"


def test_rank_by_runtime_stores_timings_beside_the_catalogue(strassen18, rect232, tmp_path):
    with Catalog(tmp_path / "cat.sqlite") as catalog:
        catalog.add(strassen18, method="test")
        catalog.add(tg.naive_scheme(tg.matmul_target(2, 2, 2)), method="naive")
        catalog.add(strassen18.with_ring("Z2"), method="mod2")
        run = rank_by_runtime(tg.matmul_target(2, 2, 2), catalog, size=24, repeats=1, threshold=4, echo=None)
        assert [r["time_s"] for r in run["results"]] == sorted(r["time_s"] for r in run["results"])
        assert {r["ranks"][0] for r in run["results"]} == {7, 8}
        assert [s["ring"] for s in run["skipped"]] == ["Z2"]
        assert timings_path(catalog).name == "cat.sqlite.timings.json"
        rank_by_runtime(tg.matmul_target(2, 2, 2), catalog, size=24, repeats=1, threshold=4, echo=None)
        assert len(stored_timings(catalog)) == 1  # same settings: replaced, not duplicated
        rank_by_runtime(tg.matmul_target(2, 2, 2), catalog, size=20, repeats=1, threshold=4, echo=None)
        assert len(stored_timings(catalog)) == 2
        with pytest.raises(TensorGameError, match="no scheme"):
            rank_by_runtime(tg.matmul_target(2, 3, 2), catalog, size=8, echo=None)


def test_rank49_three_levels_exact_on_odd_sizes():
    """Issue acceptance: the rank-49 <4,4,4> (Strassen squared) at 3 levels, odd sizes."""
    from tensorgame.formats import read_scheme
    from tensorgame.tensors.compose import kron_scheme

    strassen = read_scheme(Path(__file__).resolve().parents[1] / "examples" / "strassen.json")
    module = build_module(kron_scheme(strassen, strassen), levels=3, threshold=1, search_iterations=50)
    rng = np.random.default_rng(7)
    for shape in ((64, 64, 64), (67, 65, 71)):
        a, b = rng.integers(-4, 5, shape[:2]), rng.integers(-4, 5, shape[1:])
        assert len(module.levels_used(*shape)) == 3
        assert np.array_equal(module.matmul(a, b), a @ b)


# --- numba target: fused, multi-threaded additions ------------------------------------------
def _check_against_reference(fast, reference, shapes, seed: int = 3) -> None:
    """The numba module equals the NumPy reference and the library exactly on integer
    matrices (int64, and float32 / float64 holding small integers: every sum is exact)."""
    rng = np.random.default_rng(seed)
    for n, m, p in shapes:
        a, b = rng.integers(-9, 10, (n, m)), rng.integers(-9, 10, (m, p))
        for dtype in (np.int64, np.float32, np.float64):
            x, y = a.astype(dtype), b.astype(dtype)
            c = fast.matmul(x, y)
            assert c.dtype == dtype
            np.testing.assert_array_equal(c, reference.matmul(x, y), err_msg=f"{dtype.__name__} {n}x{m}x{p}")
            np.testing.assert_array_equal(c, x @ y, err_msg=f"{dtype.__name__} {n}x{m}x{p}")


@pytest.mark.parametrize("levels", [1, 2])
def test_numba_module_equals_the_numpy_reference(strassen18, levels):
    fast = build_module(strassen18, levels=levels, threshold=2, target="numba")
    reference = build_module(strassen18, levels=levels, threshold=2, target="numpy")
    _check_against_reference(fast, reference, SHAPES + [(67, 65, 71)])


def test_numba_rank49_module_equals_the_numpy_reference(strassen_squared):
    fast = build_module(strassen_squared, levels=2, threshold=2, target="numba", search_iterations=50)
    reference = build_module(strassen_squared, levels=2, threshold=2, target="numpy", search_iterations=50)
    assert len(fast.levels_used(67, 65, 71)) == 2
    _check_against_reference(fast, reference, [(16, 16, 16), (67, 65, 71)])


def test_numba_module_handles_q_schemes_and_other_dtypes(strassen18):
    q_scheme = change_basis(strassen18.with_ring("Q"), np.array([[2, 1], [1, 1]]), np.array([[1, 0], [1, 3]]),
                            np.eye(2, dtype=np.int64))
    module = build_module(q_scheme, levels=2, threshold=2, target="numba")
    _check_exact(module)
    _check_floats(module)
    module = build_module(strassen18, levels=2, threshold=2, target="numba")
    rng = np.random.default_rng(4)
    for dtype in (np.uint8, np.int16, np.complex128):  # wraps like NumPy (over Z); complex
        a, b = rng.integers(0, 7, (9, 10)).astype(dtype), rng.integers(0, 7, (10, 11)).astype(dtype)
        np.testing.assert_array_equal(module.matmul(a, b), a @ b)
    halves = rng.integers(-3, 4, (6, 6)).astype(np.float16)  # no kernel: the library product
    np.testing.assert_array_equal(module.matmul(halves, halves), halves @ halves)
    strided = rng.integers(-5, 6, (40, 26))[::2, ::2]  # non-contiguous inputs are read as views
    np.testing.assert_array_equal(module.matmul(strided.T, strided), strided.T @ strided)


def test_fusion_folds_single_use_chains_and_keeps_shared_sums(strassen18, strassen_squared):
    from tensorgame.codegen.emit import fusion_counts
    from tensorgame.codegen.memory import Pass, fused_schedule

    _, winograd = compile_level(strassen18)
    schedule = fused_schedule(winograd)
    # Winograd's every sum is shared or feeds a product: nothing to fold, one pass per addition
    assert fusion_counts(winograd, schedule) == {"steps": 15, "passes": 15, "step_transfers": 45,
                                                 "pass_transfers": 45, "pass_additions": 15}
    _, plan = compile_level(strassen_squared, search_iterations=50)
    schedule = fused_schedule(plan)
    counts = fusion_counts(plan, schedule)
    assert counts["passes"] < counts["steps"] and counts["pass_transfers"] < counts["step_transfers"]
    # the fused passes still perform every step of the plan, in order, products untouched
    performed = [s for item in schedule for s in (item.steps if isinstance(item, Pass) else (item,))]
    assert sorted(performed, key=plan.steps.index) == list(plan.steps)
    for item in schedule:
        if isinstance(item, Pass):
            assert 1 <= len(item.terms) <= 8
            aliased = [k for k, (v, _) in enumerate(item.terms) if plan.storage[v] == plan.storage[item.dst]]
            assert aliased in ([], [0])  # written over only as the first operand
    text = generate_module(strassen_squared, target="numba", threshold=2, search_iterations=50)
    assert "from tensorgame.codegen.kernels import" in text
    assert f"run as {counts['passes']} passes of combine" in text


def test_combine_kernel_refuses_misuse():
    from tensorgame.codegen.kernels import combine

    out = np.zeros((3, 4))
    x = np.arange(12.0).reshape(3, 4)
    combine(out, (x, x[:, ::-1]), (2, -1))
    np.testing.assert_array_equal(out, 2 * x - x[:, ::-1])
    with pytest.raises(TensorGameError, match="operands"):
        combine(out, (x,) * 9, (1,) * 9)
    with pytest.raises(TensorGameError, match="dtype"):
        combine(out.astype(np.float16), (x.astype(np.float16),), (1,))
    with pytest.raises(TensorGameError, match="contiguous rows"):
        combine(np.zeros((3, 8))[:, ::2], (x,), (1,))


def test_bench_times_numba_beside_the_reference_with_the_products_split(strassen18):
    rows = bench([strassen18], [32, 33], "float32", repeats=1, levels=2, threshold=8,
                 backends=["numpy", "numba"], echo=None)
    assert [(r["backend"], r["size"][0]) for r in rows] == [("numpy", 32), ("numba", 32), ("numpy", 33),
                                                            ("numba", 33)]
    for r in rows:
        assert r["max_rel_error"] < 1e-5
    assert rows[0]["products_s"] == rows[1]["products_s"] > 0  # one products-only call per size
    assert rows[2]["products_s"] is None  # 33 peels: no simple split
