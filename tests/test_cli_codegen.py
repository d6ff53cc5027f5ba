"""``tensorgame codegen`` and ``tensorgame bench`` end to end (tiny sizes)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from tensorgame.cli.main import cli
from tensorgame.formats import write_scheme

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "strassen.json"


def _load(path: Path):
    spec = importlib.util.spec_from_file_location("generated", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_codegen_writes_an_exact_module(tmp_path):
    out = tmp_path / "strassen2.py"
    result = CliRunner().invoke(cli, ["codegen", str(EXAMPLE), "--levels", "2", "--threshold", "2",
                                      "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["schemes"][0]["additions_naive"] == 18 and report["schemes"][0]["additions_optimised"] == 15
    rng = np.random.default_rng(0)
    a, b = rng.integers(-9, 9, (13, 11)), rng.integers(-9, 9, (11, 7))
    assert np.array_equal(_load(out).matmul(a, b), a @ b)


def test_codegen_refuses_mod2_schemes(tmp_path, strassen):
    src = tmp_path / "z2.json"
    write_scheme(strassen.with_ring("Z2"), src)
    result = CliRunner().invoke(cli, ["codegen", str(src), "-o", str(tmp_path / "m.py")])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "Traceback" not in result.output


def test_bench_reports_ratios(tmp_path):
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(cli, ["bench", str(EXAMPLE), "--sizes", "64", "--threshold", "16",
                                      "--repeats", "1", "--backend", "numpy", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())["results"]
    assert rows and all(r["ratio"] > 0 for r in rows)
    assert CliRunner().invoke(cli, ["bench", "--sizes", "x"]).exit_code == 2


def test_codegen_numba_backend(tmp_path):
    out = tmp_path / "strassen_numba.py"
    result = CliRunner().invoke(cli, ["codegen", str(EXAMPLE), "--backend", "numba", "--levels", "2",
                                      "--threshold", "2", "-o", str(out)])
    assert result.exit_code == 0, result.output
    rng = np.random.default_rng(1)
    a, b = rng.integers(-9, 9, (13, 11)), rng.integers(-9, 9, (11, 7))
    assert np.array_equal(_load(out).matmul(a, b), a @ b)
