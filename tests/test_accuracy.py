"""Accuracy of generated kernels against the exact product (codegen/accuracy.py), in
``bench --accuracy`` and as the error bound of ``bench --rank-by-runtime``."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import tensorgame as tg
from tensorgame.catalog import Catalog
from tensorgame.codegen import build_module
from tensorgame.codegen.accuracy import (
    DISTRIBUTIONS,
    Errors,
    Reference,
    draw_inputs,
    exact_product,
    kernel_accuracy,
    measure,
    split_exactly,
)
from tensorgame.codegen.bench import bench, rank_by_runtime
from tensorgame.errors import TensorGameError
from tensorgame.formats import read_scheme

from .conftest import assert_user_error

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "strassen.json"


@pytest.fixture(scope="module")
def strassen() -> tg.Scheme:
    return read_scheme(EXAMPLE)


def _exact(a: np.ndarray, b: np.ndarray) -> list[list[Fraction]]:
    """A·B in rational arithmetic (small matrices only)."""
    fa = [[Fraction(float(x)) for x in row] for row in a]
    fb = [[Fraction(float(x)) for x in row] for row in b]
    return [[sum((fa[i][j] * fb[j][k] for j in range(len(fb))), Fraction(0)) for k in range(len(fb[0]))]
            for i in range(len(fa))]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("distribution", list(DISTRIBUTIONS))
def test_the_reference_is_the_exact_product(dtype, distribution):
    a, b = draw_inputs((6, 41, 5), dtype, distribution, seed=3)
    for x, axis in ((a.astype(np.float64), 1), (b.astype(np.float64), 0)):
        pieces = split_exactly(x, axis, 10)
        assert len(pieces) > 1 and np.array_equal(np.sum(pieces, axis=0), x)
    hi, lo = exact_product(a, b)
    exact = _exact(a, b)
    for i in range(6):
        for k in range(5):
            got = Fraction(float(hi[i, k])) + Fraction(float(lo[i, k]))
            assert abs(got - exact[i][k]) <= abs(exact[i][k]) * Fraction(1, 2**100)


def _direct_errors(c: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Normwise and elementwise error of ``c`` recomputed in rational arithmetic."""
    exact, abs_ab = _exact(a, b), _exact(np.abs(a), np.abs(b))
    diffs = [[abs(Fraction(float(x)) - e) for x, e in zip(cr, er, strict=True)] for cr, er in zip(c, exact, strict=True)]
    scale = Fraction(float(np.abs(a).max())) * Fraction(float(np.abs(b).max()))
    normwise = max(max(d) for d in diffs) / scale
    elementwise = max(d / s for dr, sr in zip(diffs, abs_ab, strict=True) for d, s in zip(dr, sr, strict=True))
    return float(normwise), float(elementwise)


def test_reported_errors_equal_a_direct_recomputation(strassen):
    size = (12, 10, 14)
    rows = kernel_accuracy(strassen, levels=2, sizes=[size], dtypes=["float32"], threshold=2)
    assert sorted((r["levels"], r["distribution"]) for r in rows) == sorted(
        (level, d) for level in (1, 2) for d in DISTRIBUTIONS)
    modules = {level: build_module(strassen, levels=level, threshold=2) for level in (1, 2)}
    for row in rows:
        a, b = draw_inputs(size, "float32", row["distribution"], seed=0)
        assert row["levels_run"] == row["levels"]
        normwise, elementwise = _direct_errors(modules[row["levels"]].matmul(a, b), a, b)
        assert row["normwise"] == pytest.approx(normwise, rel=1e-9) and normwise > 0
        assert row["elementwise"] == pytest.approx(elementwise, rel=1e-9)
        normwise, elementwise = _direct_errors(np.matmul(a, b), a, b)
        assert row["library_normwise"] == pytest.approx(normwise, rel=1e-9)
        assert row["library_elementwise"] == pytest.approx(elementwise, rel=1e-9)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_library_product_keeps_the_classical_componentwise_bound(dtype):
    """|C - AB| <= m·u·|A||B| holds for any summation order (Higham, eq. 3.13)."""
    m = 96
    u = float(np.finfo(dtype).eps) / 2
    measured = measure([np.matmul], (40, m, 30), dtype)
    for (errors,) in measured.values():
        assert 0 < errors.elementwise <= 1.01 * m * u
        assert errors.normwise <= 1.01 * m * m * u


def test_fast_kernels_are_exact_where_every_intermediate_is_representable(strassen):
    """Small integers: every sum and product of three Strassen levels is an integer, below
    2**30 even in the worst case (exact in float64) and far below 2**24 in these draws
    (exact in float32), so the kernels are exact and the error is exactly 0."""
    rng = np.random.default_rng(5)
    a, b = rng.integers(-8, 9, (64, 64)), rng.integers(-8, 9, (64, 64))
    module = build_module(strassen, levels=3, threshold=2)
    for dtype in (np.float32, np.float64):
        reference = Reference.of(a.astype(dtype), b.astype(dtype))
        assert reference.errors(module.matmul(a.astype(dtype), b.astype(dtype))) == Errors(0.0, 0.0)
        assert not reference.lo.any() and np.array_equal(reference.hi, a @ b)


def test_strassen_loses_componentwise_accuracy_where_the_library_is_exact(strassen):
    """A = diag(1, 2**-60), B = I: the classical product only copies entries, so it is
    exact; one Strassen level adds A11 + A22 = 1 + 2**-60, which rounds to 1 and loses
    C22 entirely (deterministic IEEE arithmetic on 1×1 blocks)."""
    a, b = np.diag([1.0, 2.0**-60]), np.eye(2)
    reference = Reference.of(a, b)
    assert reference.errors(a @ b) == Errors(0.0, 0.0)
    found = reference.errors(build_module(strassen, threshold=1).matmul(a, b))
    assert found.elementwise >= 0.5 and found.normwise <= 2.0**-59


def test_strassen_float64_error_is_bounded_and_grows_with_levels(strassen):
    """Normwise errors stay below 18**L·n²·u, well above Higham's bound for Winograd's
    variant, and three levels lose more than one (seeded inputs)."""
    n, u = 64, 2.0**-53
    rows = kernel_accuracy(strassen, levels=3, sizes=[n], dtypes=["float64"], threshold=2)
    uniform = {r["levels"]: r for r in rows if r["distribution"] == "uniform"}
    for level, row in uniform.items():
        assert row["normwise"] <= 18**level * n * n * u
        assert row["library_normwise"] <= n * n * u
    assert uniform[3]["normwise"] > uniform[1]["normwise"] > 0


def test_bench_reports_the_same_errors_beside_the_speed(strassen, tmp_path):
    rows = bench([strassen], [24], "float64", repeats=1, levels=2, threshold=4, backends=["numpy"],
                 accuracy=True, json_path=tmp_path / "b.json", echo=None)
    direct = kernel_accuracy(strassen, levels=2, sizes=[24], dtypes=["float64"], threshold=4)
    for d in DISTRIBUTIONS:
        expected = next(r for r in direct if r["levels"] == 2 and r["distribution"] == d)
        assert rows[0]["accuracy"][d] == {k: expected[k] for k in
                                         ("normwise", "elementwise", "library_normwise", "library_elementwise")}
    assert json.loads((tmp_path / "b.json").read_text())["results"][0]["accuracy"] == rows[0]["accuracy"]
    with pytest.raises(TensorGameError, match="float32 and float64"):
        bench([strassen], [8], "int64", repeats=1, accuracy=True, echo=None)
    with pytest.raises(TensorGameError, match="distribution"):
        draw_inputs(4, "float64", "cauchy")


def test_cli_bench_accuracy(run, tmp_path):
    out = tmp_path / "bench.json"
    result = run("bench", EXAMPLE, "--sizes", "32", "--threshold", "8", "--repeats", "1", "--backend", "numpy",
                 "--accuracy", "--out", out)
    assert result.exit_code == 0, result.output
    assert "norm err" in result.output and "elementwise" in result.output and "scaled" in result.output
    rows = json.loads(out.read_text())["results"]
    assert set(rows[0]["accuracy"]) == set(DISTRIBUTIONS)
    assert_user_error(run("bench", EXAMPLE, "--sizes", "32", "--dtype", "int64", "--accuracy"))
    assert_user_error(run("bench", EXAMPLE, "--sizes", "32", "--max-error", "1e-3"))


def test_rank_by_runtime_takes_an_error_bound(strassen, catalog_path, run):
    with Catalog(catalog_path) as catalog:
        catalog.add(strassen, method="test")
        catalog.add(tg.naive_scheme(tg.matmul_target(2, 2, 2)), method="naive")
        measured = rank_by_runtime(tg.matmul_target(2, 2, 2), catalog, size=24, repeats=1, threshold=4,
                                   accuracy=True, store=False, echo=None)
    errors = {r["ranks"][0]: max(e["normwise"] for e in r["accuracy"].values()) for r in measured["results"]}
    assert set(errors) == {7, 8} and errors[7] != errors[8] and measured["excluded"] == []
    bound = (errors[7] + errors[8]) / 2  # the errors are seeded: a rerun measures the same ones
    result = run("bench", "--rank-by-runtime", "2,2,2", "--sizes", "24", "--threshold", "4", "--repeats", "1",
                 "--backend", "numpy", "--max-error", repr(bound), "--json")
    assert result.exit_code == 0, result.output
    ranked = json.loads(result.output)
    worse = 7 if errors[7] > errors[8] else 8
    assert [r["ranks"][0] for r in ranked["results"]] == [15 - worse]
    assert [e["rank"] for e in ranked["excluded"]] == [worse] and ranked["max_error"] == bound
    assert_user_error(run("bench", "--rank-by-runtime", "2,2,2", "--sizes", "24", "--threshold", "4",
                          "--max-error", "1e-300"))
    assert_user_error(run("bench", "--rank-by-runtime", "2,2,2", "--sizes", "24", "--max-error", "-1"))
