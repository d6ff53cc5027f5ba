"""The text and figure views of a scheme: the text must be a correct, runnable recipe."""

from __future__ import annotations

import re
from fractions import Fraction

import numpy as np
import pytest

import tensorgame as tg
from tensorgame.render import algorithm_text, plot_factors

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_algorithm(text: str, inputs: dict[str, Fraction]) -> dict[str, Fraction]:
    """Execute the listing line by line as arithmetic: ``2 a11`` is 2*a11 and ``(1/2) m3``
    is Fraction(1, 2)*m3. Returns every name assigned (products and outputs)."""
    scope: dict[str, object] = {"Fraction": Fraction, **inputs}
    assigned: dict[str, Fraction] = {}
    for line in text.splitlines()[1:]:
        name, expr = line.split(" = ")
        expr = re.sub(r"\((\d+)/(\d+)\) ", r"Fraction(\1, \2)*", expr)
        expr = re.sub(r"\b(\d+) (?=[a-z])", r"\1*", expr)
        assigned[name] = scope[name] = eval(expr, scope)  # noqa: S307 - our own listing
    return assigned


def matmul_outputs(scheme: tg.Scheme, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """C = A @ B computed by following the scheme's text listing."""
    x_names, y_names, z_names = scheme.target.labels()
    inputs = {**dict(zip(x_names, map(Fraction, a.ravel().tolist()))),
              **dict(zip(y_names, map(Fraction, b.ravel().tolist())))}
    got = run_algorithm(algorithm_text(scheme), inputs)
    return np.array([got[z] for z in z_names], dtype=object).reshape(a.shape[0], b.shape[1])


def test_strassen_listing(strassen: tg.Scheme) -> None:
    text = algorithm_text(strassen)
    lines = text.splitlines()
    assert lines[0] == "<2,2,2> over Z: rank 7, 18 additions"
    assert "m1 = (a11 + a22) * (b11 + b22)" in lines
    assert "m4 = a22 * (-b11 + b21)" in lines
    assert "c11 = m1 + m4 - m5 + m7" in lines
    assert len([line for line in lines if line.startswith("c")]) == 4
    assert len(lines) == 1 + 7 + 4


def test_strassen_listing_computes_the_product(strassen: tg.Scheme) -> None:
    rng = np.random.default_rng(1)
    for _ in range(5):
        a, b = rng.integers(-9, 10, (2, 2)), rng.integers(-9, 10, (2, 2))
        assert np.array_equal(matmul_outputs(strassen, a, b), a @ b)


def test_rational_listing_shows_reduced_fractions(strassen: tg.Scheme) -> None:
    # Term r becomes (2 u_r) (x) v_r (x) (w_r / 2): the same algorithm over Q.
    d = np.ones((7, 3), dtype=np.int64)
    d[:, 2] = 2
    d[0] = (4, 1, 2)  # (2/4) u_1 reduces to (1/2) u_1, which needs 2 w_1 ...
    w = strassen.w.copy()
    w[0] *= 4  # ... written as 4 w_1 / 2.
    q = tg.Scheme(strassen.target, "Q", strassen.u * 2, strassen.v, w, d)
    assert q.verify().ok
    text = algorithm_text(q)
    assert "m1 = ((1/2) a11 + (1/2) a22) * (b11 + b22)" in text
    assert "m2 = (2 a21 + 2 a22) * b11" in text
    assert "c12 = (1/2) m3 + (1/2) m5" in text
    assert "c11 = 2 m1 + (1/2) m4 - (1/2) m5 + (1/2) m7" in text
    a, b = np.array([[1, 2], [3, 4]]), np.array([[5, -6], [7, 8]])
    assert np.array_equal(matmul_outputs(q, a, b), a @ b)


def test_modular_listing_uses_symmetric_residues(strassen: tg.Scheme) -> None:
    z3 = algorithm_text(strassen.with_ring("Z3"))
    assert z3.splitlines()[0].startswith("<2,2,2> over Z3 (mod 3):")
    assert "c11 = m1 + m4 - m5 + m7" in z3  # stored as 2, shown as -1
    z2 = algorithm_text(strassen.with_ring("Z2"))
    assert "(mod 2)" in z2.splitlines()[0]
    assert "c11 = m1 + m4 + m5 + m7" in z2 and " - " not in z2


def test_non_matmul_listing_uses_target_labels() -> None:
    text = algorithm_text(tg.naive_scheme(tg.skew_matvec_target(3)))
    assert text.splitlines()[0] == "skew_matvec(3) over Z: rank 6, 3 additions"
    assert "m1 = s12 * x1" in text
    assert "y2 = -m1 + m6" in text
    complex_text = algorithm_text(tg.naive_scheme(tg.complex_target()))
    assert "c_re = m1 - m4" in complex_text


@pytest.mark.parametrize("make", [
    lambda s: s,
    lambda s: tg.naive_scheme(tg.polymul_target(3, 2)),
    lambda s: tg.naive_scheme(tg.matmul_target(4, 4, 5)),
])
def test_png_is_written(strassen: tg.Scheme, tmp_path, make) -> None:
    out = tmp_path / "factors.png"
    plot_factors(make(strassen), out)
    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 1000
    assert [p.name for p in tmp_path.iterdir()] == ["factors.png"]  # no temp file left


def test_png_replaces_an_existing_file(strassen: tg.Scheme, tmp_path) -> None:
    out = tmp_path / "f.png"
    out.write_bytes(b"old")
    plot_factors(strassen, out)
    assert out.read_bytes().startswith(PNG_MAGIC)
