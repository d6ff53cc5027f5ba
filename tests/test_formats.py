"""Scheme file formats: round trips, exact verification on load, and refusal of bad input."""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from tensorgame import Scheme, matmul_target, naive_scheme, polymul_target
from tensorgame.errors import FormatError, TensorGameError, VerificationError
from tensorgame.formats import (
    FORMATS,
    detect_format,
    read_scheme,
    read_schemes,
    write_scheme,
    write_schemes,
)
from tensorgame.formats.flipgraph_text import flipgraph_lines, parse_flipgraph
from tensorgame.formats.json_format import CONVENTION, read_json_documents, scheme_from_json, scheme_to_json
from tensorgame.formats.slp import slp_lines

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
ALPHATENSOR = Path(__file__).resolve().parents[2] / "shared" / "alphatensor"


# --- helpers ---------------------------------------------------------------------------

def strassen() -> Scheme:
    return read_scheme(EXAMPLES / "strassen.json")


def same(a: Scheme, b: Scheme) -> bool:
    """Identical target, ring, factors and denominators."""
    da = a.denominators if a.denominators is not None else np.ones((a.rank, 3), np.int64)
    db = b.denominators if b.denominators is not None else np.ones((b.rank, 3), np.int64)
    return (a.target.key == b.target.key and a.ring == b.ring
            and all(np.array_equal(x, y) for x, y in zip((a.u, a.v, a.w, da), (b.u, b.v, b.w, db))))


def unimodular(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A random integer matrix with integer inverse, and that inverse."""
    lower = np.tril(rng.integers(-2, 3, (n, n)), -1) + np.eye(n, dtype=np.int64)
    upper = np.triu(rng.integers(-2, 3, (n, n)), 1) + np.eye(n, dtype=np.int64)
    m = lower @ upper
    inv = np.rint(np.linalg.inv(m)).astype(np.int64)
    assert np.array_equal(m @ inv, np.eye(n, dtype=np.int64))
    return m, inv


def basis_changed(scheme: Scheme, seed: int) -> Scheme:
    """The scheme for A'B' with A' = X^-1 A Y, B' = Y^-1 B Z: U' = X^-T U Y^T,
    V' = Y^-T V Z^T, W' = X W Z^-1 (a different but equally correct scheme)."""
    rng = np.random.default_rng(seed)
    n, m, p = scheme.target.params
    (x, xi), (y, yi), (z, zi) = unimodular(rng, n), unimodular(rng, m), unimodular(rng, p)
    u, v, w = scheme.terms_matrices()
    u2 = np.einsum("ab,rbc,cd->rad", xi.T, u, y.T).reshape(scheme.rank, -1)
    v2 = np.einsum("ab,rbc,cd->rad", yi.T, v, z.T).reshape(scheme.rank, -1)
    w2 = np.einsum("ab,rbc,cd->rad", x, w, zi).reshape(scheme.rank, -1)
    return Scheme(scheme.target, scheme.ring, u2, v2, w2)


def rational_strassen() -> Scheme:
    """Strassen written as (u/2) ⊗ (v/3) ⊗ (6w): a ring-Q scheme in lowest terms."""
    s = strassen()
    den = np.tile([2, 3, 1], (s.rank, 1))
    return Scheme(s.target, "Q", s.u, s.v, s.w * 6, den)


def assert_one_line(exc: pytest.ExceptionInfo) -> None:
    assert isinstance(exc.value, TensorGameError)
    assert "\n" not in str(exc.value) and str(exc.value)


# --- examples and JSON ---------------------------------------------------------------------

def test_strassen_example_verifies_over_z_and_z2():
    s = strassen()
    assert s.rank == 7 and str(s.ring) == "Z" and s.verify().ok
    assert read_scheme(EXAMPLES / "strassen.json", ring="Z2").verify().ok


def test_strassen_wrong_example_is_refused_but_readable():
    with pytest.raises(VerificationError) as exc:
        read_scheme(EXAMPLES / "strassen_wrong.json")
    assert_one_line(exc)
    assert "wrong over Z" in str(exc.value) and exc.value.verification.n_wrong > 0
    assert not read_scheme(EXAMPLES / "strassen_wrong.json", verify=False).verify().ok


@pytest.mark.parametrize("make", [strassen, rational_strassen,
                                  lambda: naive_scheme(polymul_target(2, 3)),
                                  lambda: naive_scheme(matmul_target(2, 3, 4), "Z3")])
def test_json_round_trip(tmp_path, make):
    s = make()
    path = tmp_path / "s.json"
    write_scheme(s, path, method="test", seed=np.int64(7))
    back = read_scheme(path)
    assert same(s, back)
    [(_, meta)] = read_json_documents(path)
    assert meta["method"] == "test" and meta["seed"] == 7 and meta["nnz"] == s.nnz


def test_json_list_and_target_filter(tmp_path):
    path = tmp_path / "many.json"
    schemes = [strassen(), naive_scheme(matmul_target(2, 3, 4))]
    write_schemes(schemes, path)
    assert isinstance(json.loads(path.read_text()), list)
    back = read_schemes(path)
    assert all(same(a, b) for a, b in zip(schemes, back))
    assert same(read_scheme(path, target=matmul_target(2, 3, 4)), schemes[1])
    with pytest.raises(FormatError) as exc:
        read_scheme(path)
    assert_one_line(exc)
    with pytest.raises(FormatError):
        read_scheme(path, target=matmul_target(3, 3, 3))


def test_json_ring_override_refuses_mod2_scheme_over_z(tmp_path):
    s47 = naive_scheme(matmul_target(2, 2, 2))
    # a term added twice cancels mod 2 only: correct over Z2, wrong over Z
    doubled = Scheme(s47.target, "Z2", np.vstack([s47.u, s47.u[:1]]), np.vstack([s47.v, s47.v[:1]]),
                     np.vstack([s47.w, s47.w[:1] * 2]))
    path = tmp_path / "z2.json"
    write_scheme(doubled, path)
    assert read_scheme(path).verify().ok
    with pytest.raises(VerificationError) as exc:
        read_scheme(path, ring="Z")
    assert_one_line(exc)


def _doc(**changes):
    doc = scheme_to_json(strassen())
    for key, value in changes.items():
        if value is None:
            doc.pop(key)
        else:
            doc[key] = value
    return json.dumps(doc).encode()


BAD_JSON = {
    "truncated": _doc()[:100],
    "not json": b"hello world",
    "not utf8": b'{"format": "\xff\xfe"}',
    "empty list": b"[]",
    "deeply nested": b"[" * 100000,
    "huge integer": b'{"x": ' + b"9" * 5000 + b"}",
    "not an object": b"[1, 2]",
    "foreign format": _doc(format="something-else"),
    "neither shape nor collection keys": _doc(format=None, shape=None),
    "bad version": _doc(version=2),
    "missing u": _doc(u=None),
    "missing ring": _doc(ring=None),
    "missing shape": _doc(shape=None),
    "shape and target": _doc(target={"kind": "matmul", "n": 2, "m": 2, "p": 2}),
    "string entry": _doc(u=[["1", 0, 0, 1]] + strassen().u[1:].tolist()),
    "bool entry": _doc(v=[[True, 0, 0, 1]] + strassen().v[1:].tolist()),
    "fractional entry": _doc(w=[[0.5, 0, 0, 1]] + strassen().w[1:].tolist()),
    "ragged rows": _doc(u=[[1, 0, 0]] + strassen().u[1:].tolist()),
    "wrong width": _doc(u=[r + [0] for r in strassen().u.tolist()]),
    "rows not lists": _doc(u=[1, 2, 3, 4, 5, 6, 7]),
    "too few rows in v": _doc(v=strassen().v[1:].tolist()),
    "rank mismatch": _doc(rank=8),
    "rank not int": _doc(rank="7"),
    "absurd shape": _doc(shape=[1000000, 1, 1]),
    "zero shape": _doc(shape=[0, 2, 2]),
    "nested shape": _doc(shape=[[2], 2, 2]),
    "shape not list": _doc(shape="2x2x2"),
    "unknown ring": _doc(ring="R"),
    "endless ring name": _doc(ring="Z" + "7" * 5000),
    "huge tensor target": _doc(shape=None, target={"kind": "skew_matvec", "n": [list(range(5000))]}),
    "ring not string": _doc(ring=2),
    "denominators over Z": _doc(denominators=[[1, 1, 2]] * 7),
    "huge coefficient": _doc(u=[[2**70, 0, 0, 1]] + strassen().u[1:].tolist()),
    "unknown target kind": _doc(shape=None, target={"kind": "banana"}),
    "unhashable target": _doc(shape=None, target={"kind": "polymul", "n": [2], "m": 2}),
    "transposed convention": _doc(convention="T[i*m+j, j*p+k, k*n+i] = 1 (C transposed)"),
    "cyclic convention": _doc(convention="cyclic: sum a_ij b_jk c_ki"),
    "C^T convention": _doc(convention="w indexes C^T"),
    "unknown convention": _doc(convention="column-major"),
}


@pytest.mark.parametrize("name", sorted(BAD_JSON))
def test_malformed_json_is_refused_in_one_line(tmp_path, name):
    path = tmp_path / "bad.json"
    path.write_bytes(BAD_JSON[name])
    with pytest.raises(TensorGameError) as exc:
        read_schemes(path)
    assert_one_line(exc)
    assert str(path) in str(exc.value)


def test_json_convention_messages_say_what_is_wrong():
    doc = scheme_to_json(strassen())
    doc["convention"] = "AlphaTensor: T[i*m+j, j*p+k, k*n+i] (C^T)"
    with pytest.raises(FormatError, match="transposed"):
        scheme_from_json(doc)
    doc.pop("convention")
    assert scheme_from_json(doc).verify().ok
    doc["convention"] = "  " + CONVENTION.upper() + " "
    assert scheme_from_json(doc).rank == 7


def test_json_integral_floats_are_accepted():
    doc = scheme_to_json(strassen())
    doc["u"] = [[float(x) for x in row] for row in doc["u"]]
    assert scheme_from_json(doc).verify().ok


def test_json_reserved_metadata_is_refused():
    with pytest.raises(FormatError):
        scheme_to_json(strassen(), u=[1])


# --- format detection and the dispatcher ----------------------------------------------

def test_detect_format_by_extension_and_content(tmp_path):
    assert detect_format("x.JSON") == "json" and detect_format("x.npz") == "alphatensor"
    assert {detect_format(f"x.{e}") for e in ("txt", "exp", "fg")} == {"flipgraph"}
    assert detect_format("x.slp") == "slp"
    s = strassen()
    for fmt, name in (("json", "a.data"), ("alphatensor", "b.data"), ("flipgraph", "c.data")):
        write_scheme(s, tmp_path / name, fmt)
        assert detect_format(tmp_path / name) == fmt
        assert same(read_scheme(tmp_path / name), s)
    (tmp_path / "d.data").write_text("just some words\n")
    for path in (tmp_path / "d.data", tmp_path / "missing.data"):
        with pytest.raises(FormatError) as exc:
            detect_format(path)
        assert_one_line(exc)


def test_dispatcher_refusals(tmp_path):
    with pytest.raises(FormatError):
        read_schemes(EXAMPLES / "strassen.json", "yaml")
    write_scheme(strassen(), tmp_path / "s.slp")
    with pytest.raises(FormatError, match="write-only"):
        read_schemes(tmp_path / "s.slp")
    with pytest.raises(FormatError) as exc:
        read_schemes(tmp_path / "absent.json")
    assert_one_line(exc)
    with pytest.raises(TensorGameError) as exc:
        read_schemes(EXAMPLES / "strassen.json", ring="Z" + "1" * 5000)
    assert_one_line(exc)
    assert len(str(exc.value)) < 200
    with pytest.raises(FormatError):
        write_schemes([], tmp_path / "none.json")
    with pytest.raises(FormatError) as exc:
        write_scheme(strassen(), tmp_path / "no_such_dir" / "s.json")
    assert_one_line(exc)
    assert set(FORMATS) == {"json", "fmm", "alphatensor", "flipgraph", "maple", "slp"}


def test_writes_are_atomic_and_leave_no_temporaries(tmp_path):
    path = tmp_path / "s.json"
    path.write_text("old")
    write_scheme(strassen(), path)
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]
    assert read_scheme(path).rank == 7


# --- flip-graph text ---------------------------------------------------------------------------

@pytest.mark.parametrize("make", [strassen, lambda: basis_changed(strassen(), 1),
                                  lambda: basis_changed(naive_scheme(matmul_target(2, 3, 4)), 2),
                                  lambda: naive_scheme(matmul_target(2, 3, 10)),
                                  lambda: naive_scheme(matmul_target(2, 2, 3), "Z2")])
def test_flipgraph_round_trip(tmp_path, make):
    s = make()
    assert s.verify().ok
    path = tmp_path / "s.txt"
    write_scheme(s, path, source="test")
    assert same(read_scheme(path), s)
    # without the header the format is inferred from the largest indices
    body = "\n".join(ln for ln in path.read_text().splitlines() if not ln.startswith("#"))
    assert same(parse_flipgraph(body, ring=s.ring), s)


def test_flipgraph_c_variables_are_transposed():
    # c<k><i> is C[i][k]: c21 means C[0][1], our w index 0*p + 1
    s = parse_flipgraph("a11*b12*c21", target=matmul_target(2, 2, 2))
    assert s.w.tolist() == [[0, 1, 0, 0]]
    s = parse_flipgraph("a1_1*b1_12*c12_1\n# format 1 1 12")
    assert s.target.params == (1, 1, 12) and np.flatnonzero(s.w[0]).tolist() == [11]


def test_flipgraph_syntax_variants():
    text = """
    # a comment, then Strassen's first two products in several spellings
    (a11+a22)*(b11+b22)*(c11+c22)

    2*(a21 + a22) * b11 * (c12 - c22)
    -(-a12)*(b21+2*b22)*(c11 +0)
    """
    s = parse_flipgraph(text, target=matmul_target(2, 2, 2))
    assert s.u.tolist() == [[1, 0, 0, 1], [0, 0, 2, 2], [0, 1, 0, 0]]
    assert s.v.tolist() == [[1, 0, 0, 1], [1, 0, 0, 0], [0, 0, 1, 2]]
    assert s.w.tolist() == [[1, 0, 0, 1], [0, 0, 1, -1], [1, 0, 0, 0]]


def test_flipgraph_hand_written_strassen_matches_example():
    text = """(a11+a22)*(b11+b22)*(c11+c22)
    (a21+a22)*b11*(c12-c22)
    a11*(b12-b22)*(c21+c22)
    a22*(b21-b11)*(c11+c12)
    (a11+a12)*b22*(c21-c11)
    (a21-a11)*(b11+b12)*c22
    (a12-a22)*(b21+b22)*c11"""
    assert same(parse_flipgraph(text), strassen())


BAD_FLIPGRAPH = {
    "empty": "# nothing here\n\n",
    "two factors": "(a11)*(b11)",
    "four factors": "a11*b11*c11*a11",
    "mixed letters": "(a11+b11)*(b11)*(c11)",
    "two a factors": "(a11)*(a12)*(c11)",
    "bad character": "(a11%a12)*(b11)*(c11)",
    "ambiguous index": "(a123)*(b11)*(c11)",
    "zero index": "(a01)*(b11)*(c11)",
    "unclosed": "(a11*(b11)*(c11)",
    "constant": "(a11+3)*(b11)*(c11)",
    "beyond header": "# format 1 1 1\n(a12)*(b21)*(c11)",
    "absurd index": "(a1_999)*(b999_1)*(c1_1)",
    "bad ring": "# ring Z4\na11*b11*c11",
    "endless ring name": "# ring Z" + "3" * 5000 + "\na11*b11*c11",
    "huge coefficient": "(" + "9" * 40 + "*a11)*(b11)*(c11)",
    "overflowing coefficient": "-999999999*(999999999*a11)*(b11)*(c11)",
}


@pytest.mark.parametrize("name", sorted(BAD_FLIPGRAPH))
def test_malformed_flipgraph_is_refused_in_one_line(tmp_path, name):
    path = tmp_path / "bad.txt"
    path.write_text(BAD_FLIPGRAPH[name])
    with pytest.raises(TensorGameError) as exc:
        read_schemes(path, verify=False)
    assert_one_line(exc)


def test_flipgraph_refuses_non_matmul_and_rational(tmp_path):
    with pytest.raises(FormatError):
        write_scheme(naive_scheme(polymul_target(2, 2)), tmp_path / "p.txt")
    with pytest.raises(FormatError):
        write_scheme(rational_strassen(), tmp_path / "q.txt")
    with pytest.raises(FormatError):
        parse_flipgraph("a11*b11*c11", target=polymul_target(1, 1))
    with pytest.raises(FormatError, match="header"):
        parse_flipgraph("# format 2 2 2\na11*b11*c11", target=matmul_target(3, 3, 3))
    assert flipgraph_lines(strassen())[-1] == "(a12-a22)*(b21+b22)*(c11)"


# --- straight-line programs --------------------------------------------------------------

_SLP_TOKEN = re.compile(r"\s*(\d+|[A-Za-z_]\w*|[-+*/()])")


def _evaluate(expr: str, env: dict[str, Fraction]) -> Fraction:
    """Evaluate + - * / ( ) over Fractions: enough to run a listing independently."""
    tokens = _SLP_TOKEN.findall(expr)
    assert "".join(tokens) == expr.replace(" ", ""), expr
    pos = 0

    def peek():
        return tokens[pos] if pos < len(tokens) else None

    def take():
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def atom():
        tok = take()
        if tok == "(":
            val = total()
            assert take() == ")"
            return val
        if tok == "-":
            return -atom()
        return Fraction(int(tok)) if tok.isdigit() else env[tok]

    def product():
        val = atom()
        while peek() in ("*", "/"):
            val = val * atom() if take() == "*" else val / atom()
        return val

    def total():
        val = product()
        while peek() in ("+", "-"):
            val = val + product() if take() == "+" else val - product()
        return val

    result = total()
    assert pos == len(tokens), expr
    return result


def run_listing(lines: list[str], a: np.ndarray, b: np.ndarray, scheme: Scheme) -> np.ndarray:
    xs, ys, zs = scheme.target.labels()
    env = {name: Fraction(int(x)) for name, x in zip(xs + ys, np.concatenate([a.ravel(), b.ravel()]))}
    for line in lines:
        if line.startswith("#"):
            continue
        name, expr = line.split(" = ")
        assert name not in env, f"{name} assigned twice"
        env[name] = _evaluate(expr, env)
    return np.array([env[z] for z in zs], dtype=object).reshape(a.shape[0], b.shape[1])


@pytest.mark.parametrize("make", [strassen, rational_strassen,
                                  lambda: naive_scheme(matmul_target(2, 3, 4)),
                                  lambda: basis_changed(naive_scheme(matmul_target(3, 2, 2)), 3)])
def test_slp_listing_computes_the_product(make):
    s = make()
    n, m, p = s.target.params
    rng = np.random.default_rng(0)
    lines = slp_lines(s)
    assert lines == slp_lines(s)  # deterministic
    for _ in range(3):
        a = rng.integers(-50, 50, (n, m))
        b = rng.integers(-50, 50, (m, p))
        assert np.array_equal(run_listing(lines, a, b, s), (a @ b).astype(object))


def test_slp_listing_shape(tmp_path):
    lines = slp_lines(strassen(), source="x")
    assert "# rank 7: 7 multiplications, 18 additions, 0 multiplications by constants" in lines
    assert "# source: x" in lines
    assert "c11 = m_1 + m_4 - m_5 + m_7" in lines
    lines = slp_lines(rational_strassen())
    assert "s_1 = (1/2)*(a11 + a22)" in lines and "m_1 = s_1 * t_1" in lines
    assert "c11 = 6*m_1 + 6*m_4 - 6*m_5 + 6*m_7" in lines
    write_scheme(strassen(), tmp_path / "s.slp")
    assert (tmp_path / "s.slp").read_text().splitlines() == slp_lines(strassen())


# --- AlphaTensor npz ---------------------------------------------------------------------------

def test_alphatensor_round_trip(tmp_path):
    schemes = [rational_strassen(), basis_changed(naive_scheme(matmul_target(2, 3, 4)), 4)]
    path = tmp_path / "mine.npz"
    write_schemes(schemes, path)
    back = read_schemes(path)
    assert len(back) == 2 and all(same(a, b) for a, b in zip(schemes, back))
    assert same(read_scheme(path, target=matmul_target(2, 3, 4)), schemes[1])
    with pytest.raises(FormatError, match="two schemes"):
        write_schemes([strassen(), rational_strassen()], path)


def test_alphatensor_write_rules(tmp_path):
    z2 = strassen().with_ring("Z2")
    with pytest.raises(FormatError, match="f2"):
        write_scheme(z2, tmp_path / "mine.npz")
    write_scheme(z2, tmp_path / "mine_f2.npz")
    assert same(read_scheme(tmp_path / "mine_f2.npz"), z2)
    with pytest.raises(FormatError):
        write_scheme(naive_scheme(polymul_target(2, 2)), tmp_path / "p.npz")
    with pytest.raises(FormatError):
        write_scheme(strassen().with_ring("Z3"), tmp_path / "z3.npz")


class _Evil:
    """Pickles into a call of ``function(argument)`` when unpickled."""

    def __init__(self, function, argument):
        self.function, self.argument = function, argument

    def __reduce__(self):
        return self.function, (self.argument,)


def _npz_with_object_member(path: Path, payload: object) -> None:
    """An upstream-style npz whose member is a pickled object array holding ``payload``."""
    buffer = io.BytesIO()
    arr = np.empty(3, dtype=object)
    arr[:] = [payload, np.zeros((4, 7)), np.zeros((4, 7))]
    np.lib.format.write_array(buffer, arr, allow_pickle=True)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("2,2,2.npy", buffer.getvalue())


@pytest.mark.parametrize("function", [os.system, eval])
def test_alphatensor_refuses_code_in_pickles(tmp_path, function):
    marker = tmp_path / "pwned"
    argument = f"touch {marker}" if function is os.system else f"open({str(marker)!r}, 'w')"
    path = tmp_path / "evil.npz"
    _npz_with_object_member(path, _Evil(function, argument))
    assert b"system" in path.read_bytes() or b"eval" in path.read_bytes()
    with pytest.raises(FormatError, match="not allowed") as exc:
        read_schemes(path, verify=False)
    assert_one_line(exc)
    assert not marker.exists()


def test_alphatensor_malformed_files(tmp_path):
    cases = {
        "garbage.npz": b"PK\x03\x04 this is not a zip",
        "text.npz": b"hello",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    with zipfile.ZipFile(tmp_path / "member.npz", "w") as zf:
        zf.writestr("readme.txt", "hi")
    with zipfile.ZipFile(tmp_path / "empty.npz", "w"):
        pass
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((3, 4, 7), np.int64))
    with zipfile.ZipFile(tmp_path / "truncated.npz", "w") as zf:
        zf.writestr("2,2,2.npy", buffer.getvalue()[:-20])
    with zipfile.ZipFile(tmp_path / "badkey.npz", "w") as zf:
        zf.writestr("strassen.npy", buffer.getvalue())
    with zipfile.ZipFile(tmp_path / "badshape.npz", "w") as zf:
        zf.writestr("2,2,3.npy", buffer.getvalue())
    with zipfile.ZipFile(tmp_path / "badheader.npz", "w") as zf:
        zf.writestr("2,2,2.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': 1}    \n")
    np.savez(tmp_path / "missing_w.npz", **{"2,2,2/u": np.zeros((4, 7)), "2,2,2/v": np.zeros((4, 7))})
    np.savez(tmp_path / "strings.npz", **{"2,2,2/u": np.array([["x"] * 7] * 4), "2,2,2/v": np.zeros((4, 7)),
                                           "2,2,2/w": np.zeros((4, 7))})
    np.savez(tmp_path / "irrational.npz", **{"2,2,2": np.full((3, 4, 7), 1 / 3)})
    _npz_with_object_member(tmp_path / "notarray.npz", "a string")
    for path in sorted(tmp_path.iterdir()):
        with pytest.raises(TensorGameError) as exc:
            read_schemes(path, "alphatensor", verify=False)
        assert_one_line(exc)


needs_shared = pytest.mark.skipif(not ALPHATENSOR.is_dir(), reason="shared/alphatensor is absent")


@pytest.fixture(scope="module")
def upstream():
    """Both upstream files, loaded once and verified exactly."""
    return {kind: read_schemes(ALPHATENSOR / "original" / f"factorizations_{kind}.npz")
            for kind in ("r", "f2")}


@needs_shared
def test_alphatensor_upstream_files_load_and_verify(upstream):
    r, f2 = upstream["r"], upstream["f2"]
    assert len(r) == 93 and len(f2) == 20
    assert {str(s.ring) for s in f2} == {"Z2"}
    rational = {s.target.params for s in r if str(s.ring) == "Q"}
    assert len(rational) == 27 and (9, 9, 9) in rational and (3, 4, 11) in rational
    assert {str(s.ring) for s in r} == {"Z", "Q"}
    ranks = {s.target.params: s.rank for s in r}
    assert ranks[(2, 2, 2)] == 7 and ranks[(3, 3, 3)] == 23 and ranks[(4, 4, 4)] == 49


@needs_shared
def test_alphatensor_nopickle_files_match_upstream(upstream):
    # identical to the verified upstream schemes, hence verified too (saves a second check)
    for kind in ("r", "f2"):
        converted = read_schemes(ALPHATENSOR / f"factorizations_{kind}_nopickle.npz", verify=False)
        assert len(converted) == len(upstream[kind])
        assert all(same(a, b) for a, b in zip(upstream[kind], converted))


@needs_shared
def test_alphatensor_444_rank47_holds_mod2_only():
    path = ALPHATENSOR / "factorizations_f2_nopickle.npz"
    target = matmul_target(4, 4, 4)
    s = read_scheme(path, target=target)
    assert s.rank == 47 and str(s.ring) == "Z2" and s.verify().ok
    assert not read_scheme(path, target=target, ring="Z", verify=False).verify().ok
    with pytest.raises(VerificationError) as exc:
        read_scheme(path, target=target, ring="Z")
    assert_one_line(exc)


@needs_shared
def test_alphatensor_rewrite_round_trip(tmp_path, upstream):
    for kind in ("r", "f2"):
        path = tmp_path / f"copy_{kind}.npz"
        picked = [s for s in upstream[kind] if max(s.target.params) <= 5 or str(s.ring) == "Q"][:30]
        write_schemes(picked, path)
        back = read_schemes(path, verify=False)
        assert all(same(a, b) for a, b in zip(picked, back))
