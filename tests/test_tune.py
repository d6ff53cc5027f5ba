"""Autotuning (``tune``, ``bench --tune``, ``codegen --tuned``): the choice logic on
fixed timings, the per-machine store, and the generated dispatch module's exactness."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import tensorgame as tg
from tensorgame.codegen import load_module
from tensorgame.codegen import tune as tune_module
from tensorgame.codegen.tune import (
    MARGIN,
    Timing,
    read_tunings,
    record_for_machine,
    scheme_key,
    tune,
    tune_path,
    write_tuned_module,
)
from tensorgame.errors import TensorGameError, VerificationError
from tensorgame.tensors.compose import kron_scheme
from tests.conftest import assert_user_error

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "strassen.json"


def fixed_timer(ratios: dict[tuple, float], *, library_s: float = 1e-3, errors: dict[tuple, float] | None = None,
                calls: list | None = None):
    """A timer returning ``ratios[(scheme key, backend, levels, size, dtype)]`` (default
    1.5: loses) times ``library_s``; records each call's kernels in ``calls``."""
    def timer(kernels, size, dtype, repeats, accuracy):
        keys = [(c.scheme, c.backend, c.levels, size, dtype) for c, _ in kernels]
        if calls is not None:
            calls.append(keys)
        return library_s, [Timing(ratios.get(k, 1.5) * library_s, library_s,
                                  (errors or {}).get(k, 1e-16) if accuracy else None) for k in keys]
    return timer


@pytest.fixture
def naive() -> tg.Scheme:
    return tg.naive_scheme(tg.matmul_target(2, 2, 2))


def test_the_fastest_wins_and_the_library_keeps_ties(strassen, naive):
    s, n = scheme_key(strassen), scheme_key(naive)
    ratios = {(s, "numpy", 1, 64, "float64"): 0.90, (s, "numpy", 2, 64, "float64"): 0.80,
              (n, "numpy", 1, 64, "float64"): 0.85,
              (s, "numpy", 1, 128, "float64"): 1 - MARGIN / 2,  # within the margin: the library keeps it
              (s, "numba", 1, 64, "float32"): 0.70}
    result = tune([strassen, naive], labels=["s", "n"], sizes=[64, 128], dtypes=["float64", "float32"],
                  backends=["numpy", "numba"], max_levels=2, time_s=600, timer=fixed_timer(ratios))
    assert len(result.cells) == 4
    assert result.cell(64, "float64")["winner"] == {"scheme": s, "backend": "numpy", "levels": 2, "threshold": 32}
    assert result.cell(64, "float64")["speedup"] == pytest.approx(1 / 0.80)
    assert result.cell(128, "float64")["winner"] is None and result.cell(128, "float64")["speedup"] == 1.0
    assert result.cell(64, "float32")["winner"]["backend"] == "numba"
    assert result.cell(128, "float32")["winner"] is None
    listed = result.cell(64, "float64")["candidates"]
    assert listed[0]["ratio"] == pytest.approx(0.80) and any(r["levels"] == 0 for r in listed)


def test_a_level_that_lost_clearly_is_not_deepened(strassen):
    s = scheme_key(strassen)
    calls: list = []
    ratios = {(s, "numpy", 1, 256, "float64"): 1.3, (s, "numba", 1, 256, "float64"): 0.9,
              (s, "numba", 2, 256, "float64"): 1.2}  # worse than its level 1 by more than PRUNE
    tune([strassen], sizes=[256], dtypes=["float64"], backends=["numpy", "numba"], max_levels=3, time_s=600,
         timer=fixed_timer(ratios, calls=calls))
    tried = [k[:3] for stage in calls for k in stage]
    assert (s, "numba", 2) in tried and (s, "numpy", 2) not in tried
    assert not any(levels == 3 for _, _, levels in tried)


def test_what_does_not_fit_the_budget_is_skipped(strassen):
    result = tune([strassen], sizes=[64], dtypes=["float64"], backends=["numpy"], time_s=5,
                  timer=fixed_timer({}, library_s=100.0))
    cell = result.cell(64, "float64")
    assert cell["winner"] is None
    assert [r["status"] for r in cell["candidates"] if r["levels"] > 0] == ["skipped"]


def test_an_error_bound_excludes_kernels(strassen):
    s = scheme_key(strassen)
    ratios = {(s, "numpy", 1, 64, "float64"): 0.5, (s, "numba", 1, 64, "float64"): 0.9}
    errors = {(s, "numpy", 1, 64, "float64"): 1e-3}
    result = tune([strassen], sizes=[64], dtypes=["float64"], backends=["numpy", "numba"], max_levels=1,
                  max_error=1e-10, time_s=600, timer=fixed_timer(ratios, errors=errors))
    cell = result.cell(64, "float64")
    assert cell["winner"]["backend"] == "numba"
    assert [r["status"] for r in cell["candidates"] if r["backend"] == "numpy" and r["levels"] == 1] == ["excluded"]


def test_records_are_kept_per_machine(strassen, tmp_path, monkeypatch):
    s = scheme_key(strassen)
    store = tune_path(tmp_path / "c.sqlite")
    first = tune([strassen], sizes=[64, 128], dtypes=["float64"], backends=["numpy"], time_s=600, store=store,
                 out=tmp_path / "t.json", timer=fixed_timer({(s, "numpy", 1, 64, "float64"): 0.5}))
    assert first.path == store and store.name == "c.sqlite.tune.json"
    again = tune([strassen], sizes=[128], dtypes=["float64"], backends=["numpy"], time_s=600, store=store,
                 timer=fixed_timer({(s, "numpy", 1, 128, "float64"): 0.5}))
    (record,) = read_tunings(store)  # the same machine: one record, the 128 cell replaced, 64 kept
    assert record.cell(64, "float64")["winner"] is not None and record.cell(128, "float64")["winner"] is not None
    assert read_tunings(tmp_path / "t.json")[0].cell(128, "float64")["winner"] is None
    other = dict(again.machine, cpu="Another CPU")
    monkeypatch.setattr(tune_module, "machine_info", lambda: other)
    tune([strassen], sizes=[64], dtypes=["float64"], backends=["numpy"], time_s=600, store=store,
         timer=fixed_timer({}))
    records = read_tunings(store)
    assert [r.machine["cpu"] for r in records] == [first.machine["cpu"], "Another CPU"]
    assert record_for_machine(records, other).cell(64, "float64")["winner"] is None
    assert record_for_machine(records, first.machine).cell(64, "float64")["winner"] is not None
    with pytest.raises(TensorGameError, match="none of the 2"):
        record_for_machine(records, dict(other, cpu="a third"))


def test_the_tuned_module_is_exact_and_dispatches_as_recorded(strassen, tmp_path):
    big = kron_scheme(strassen, strassen)  # <4,4,4> rank 49
    s, b = scheme_key(strassen), scheme_key(big)
    ratios = {(s, "numpy", 1, 64, "float64"): 0.9, (s, "numpy", 2, 64, "float64"): 0.5,
              (b, "numba", 1, 128, "float64"): 0.5,
              (s, "numba", 1, 128, "float32"): 0.5}
    result = tune([strassen, big], sizes=[32, 64, 128], dtypes=["float64", "float32"], backends=["numpy", "numba"],
                  max_levels=2, time_s=600, timer=fixed_timer(ratios))
    module = load_module(write_tuned_module(result, tmp_path / "tuned.py"))
    assert "tensorgame.catalog" not in (tmp_path / "tuned.py").read_text()  # no catalogue at run time
    rng = np.random.default_rng(0)
    for dtype in ("float64", "float32"):
        for cell in result.cells:
            if cell["dtype"] != dtype:
                continue
            n = cell["size"]
            index = module.kernel_for(n, n, n, dtype)
            winner = cell["winner"]
            assert (index is None) == (winner is None)
            if winner is not None:
                assert len(module.levels_used(n, n, n, dtype)) == winner["levels"]
        for shape in ((32, 32, 32), (64, 64, 64), (100, 90, 80), (128, 128, 128), (130, 129, 131), (200, 64, 70)):
            a = rng.integers(-4, 5, shape[:2]).astype(dtype)
            c = rng.integers(-4, 5, shape[1:]).astype(dtype)
            got = module.matmul(a, c)
            assert got.dtype == np.dtype(dtype) and np.array_equal(got, a @ c), (dtype, shape)
    assert module.kernel_for(100, 100, 100, "float64") == module.kernel_for(64, 64, 64, "float64") is not None
    assert module.kernel_for(130, 129, 131, "float64") != module.kernel_for(64, 64, 64, "float64")
    assert module.kernel_for(31, 31, 31, "float64") is None and module.kernel_for(500, 500, 500, "int64") is None
    assert np.array_equal(module.matmul(np.eye(3, dtype=int), np.arange(9).reshape(3, 3)), np.arange(9).reshape(3, 3))


def test_a_tampered_scheme_in_a_tune_file_is_refused(strassen, tmp_path):
    s = scheme_key(strassen)
    tune([strassen], sizes=[64], dtypes=["float64"], backends=["numpy"], time_s=600, out=tmp_path / "t.json",
         timer=fixed_timer({(s, "numpy", 1, 64, "float64"): 0.5}))
    doc = json.loads((tmp_path / "t.json").read_text())
    doc["records"][0]["schemes"][s]["scheme"]["u"][0][0] = 0
    (tmp_path / "t.json").write_text(json.dumps(doc))
    with pytest.raises(VerificationError):
        write_tuned_module(read_tunings(tmp_path / "t.json")[0], tmp_path / "m.py")
    (tmp_path / "bad.json").write_text('{"format": "tensorgame-tune", "version": 1, "records": [{"cells": 3}]}')
    with pytest.raises(TensorGameError, match="not a tensorgame tune record"):
        read_tunings(tmp_path / "bad.json")


@pytest.mark.parametrize("options, message", [
    ({"sizes": [0]}, "positive integers"), ({"dtypes": ["int64"]}, "int64"), ({"time_s": "soon"}, "--time"),
    ({"max_levels": 0}, "levels"), ({"backends": ["fortran"]}, "unknown backend"), ({"thresholds": [0]}, "thresh"),
    ({"sizes": [1 << 24]}, "GiB")])
def test_user_mistakes_are_one_line_errors(strassen, options, message):
    with pytest.raises(TensorGameError, match=message):
        tune([strassen], **{"time_s": 60, **options})


def test_tune_refuses_mod2_schemes(strassen):
    with pytest.raises(TensorGameError, match="modulo 2"):
        tune([strassen.with_ring("Z2")], sizes=[64], time_s=60)


def test_bench_tune_and_codegen_tuned_end_to_end(run, catalog_path, tmp_path):
    """The real timer on a tiny size: a row per (size, dtype), the store next to the
    catalogue, and a tuned module that multiplies exactly (whatever won here)."""
    out = tmp_path / "tune.json"
    result = run("bench", "--tune", EXAMPLE, "--sizes", "32", "--dtype", "float64", "--backend", "numpy",
                 "--levels", "1", "--repeats", "1", "--time", "30s", "-o", out)
    assert result.exit_code == 0, result.output
    assert "32" in result.stdout and "float64" in result.stdout
    assert tune_path(catalog_path).exists() and read_tunings(out)[0].cells[0]["size"] == 32
    made = run("codegen", "--tuned", out, "-o", tmp_path / "m.py", "--json")
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["dispatch"]["float64"][0][0] == 32
    module = load_module(tmp_path / "m.py")
    a = np.arange(40 * 36, dtype=np.float64).reshape(40, 36) % 7
    assert np.array_equal(module.matmul(a, a.T), a @ a.T)


def test_cli_mistakes(run, tmp_path):
    assert_user_error(run("bench", "--tune", EXAMPLE, "--dtype", "int64", "--time", "1s"))
    assert_user_error(run("bench", "--tune", EXAMPLE, "--sizes", "32", "--time", "never"))
    assert_user_error(run("bench", "--tune", "--sizes", "32", "--time", "1s"))  # no catalogue, no schemes
    assert_user_error(run("codegen", "--tuned", tmp_path / "none.json", "-o", tmp_path / "m.py"))
    assert run("codegen", "--tuned", "--levels", "2", "-o", tmp_path / "m.py").exit_code == 2
    assert run("bench", EXAMPLE, "--dtype", "float32,float64", "--sizes", "32").exit_code == 2
