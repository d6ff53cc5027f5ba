"""The community's scheme collections, in and out: the FastMatrixMultiplication JSON
(plain and addition-reduced), Kauers–Moosbauer's ``.exp`` and Maple ``.m`` lists, the
minimal hand-written JSON, directory imports, exports and the collection's best ranks."""

from __future__ import annotations

import json
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

import tensorgame as tg
from tensorgame.cli.main import cli
from tensorgame.errors import FormatError, VerificationError
from tensorgame.formats import detect_format, read_scheme, read_schemes, write_scheme, write_schemes
from tensorgame.formats.coefficients import parse_coefficient
from tensorgame.formats.fmm_json import collection_document, scheme_from_collection
from tensorgame.formats.json_format import read_json_documents
from tensorgame.tensors.targets import known_ranks

from .conftest import STRASSEN_U, STRASSEN_V, STRASSEN_W

FMM = Path(__file__).resolve().parents[2] / "shared" / "fmm"
needs_fmm = pytest.mark.skipif(not (FMM / "schemes").is_dir(), reason="../shared/fmm is not beside this checkout")
SCHEMES = FMM / "schemes"
EXP = FMM / "other_formats" / "223-11-mod0.exp"
MAPLE = FMM / "other_formats" / "223-11-mod0.m"


def same(a: tg.Scheme, b: tg.Scheme) -> bool:
    """Identical target, ring and factors (denominators included)."""
    den = (a.denominators is None and b.denominators is None) or (
        a.denominators is not None and b.denominators is not None
        and np.array_equal(a.denominators, b.denominators))
    return (a.target.key == b.target.key and a.ring == b.ring and den
            and all(np.array_equal(getattr(a, f), getattr(b, f)) for f in "uvw"))


def strassen(ring: str = "Z") -> tg.Scheme:
    return tg.Scheme(tg.matmul_target(2, 2, 2), ring, STRASSEN_U, STRASSEN_V, STRASSEN_W).with_ring(ring)


def z2_only() -> tg.Scheme:
    """Strassen reduced mod 2 (-1 becomes 1): correct mod 2 only."""
    return strassen("Z2")


def rational() -> tg.Scheme:
    """Strassen with its first term's A factor doubled and C factor halved (needs Q)."""
    s = strassen()
    u = s.u.copy()
    u[0] *= 2
    den = np.ones((7, 3), np.int64)
    den[0, 2] = 2
    return tg.Scheme(s.target, "Q", u, s.v, s.w, denominators=den)


def transposed_c(w_row: list[int], n: int, p: int) -> list[int]:
    """Our w row (index i*p+k) in the cyclic layout (index k*n+i), written out longhand."""
    out = [0] * (n * p)
    for i in range(n):
        for k in range(p):
            out[k * n + i] = w_row[i * p + k]
    return out


def one_line(exc: pytest.ExceptionInfo) -> None:
    assert "\n" not in str(exc.value) and "Traceback" not in str(exc.value)


# --- reading the collection ------------------------------------------------------------------
@needs_fmm
@pytest.mark.parametrize("name, shape, rank, ring", [
    ("naive_addition_reduced_ZT/3x3x3_m23_c88_ZT.json", (3, 3, 3), 23, "Z"),
    ("addition_reduced_ZT/2x2x2_m7_cr15_cn24_ZT_reduced.json", (2, 2, 2), 7, "Z"),
    ("addition_reduced_ZT/2x2x3_m11_cr20_cn20_ZT_reduced.json", (2, 2, 3), 11, "Z"),
    ("serendipitous_base/2x3x4_m20_1a73d5628897e0e0f32ac28134a0a5f5ba0608cb_Z.json", (2, 3, 4), 20, "Z"),
    ("serendipitous_base/2x4x6_m39_ccc011db720670dc67a33f49f6985b1d0a02b70f_Q.json", (2, 4, 6), 39, "Q"),
])
def test_collection_schemes_verify(name: str, shape: tuple, rank: int, ring: str) -> None:
    s = read_scheme(SCHEMES / name)  # verified on reading
    assert (s.target.params, s.rank, str(s.ring)) == (shape, rank, ring)
    assert (s.denominators is not None) == (ring == "Q")


@needs_fmm
def test_collection_dense_rows_index_c_transposed() -> None:
    path = SCHEMES / "naive_addition_reduced_ZT/3x3x3_m23_c88_ZT.json"
    doc = json.loads(path.read_text())
    as_is = tg.Scheme(tg.matmul_target(3, 3, 3), "Z", doc["u"], doc["v"], doc["w"])
    assert not as_is.verify().ok  # their w is not ours...
    s = read_scheme(path)
    assert [transposed_c(row, 3, 3) for row in s.w.tolist()] == doc["w"]  # ...but C transposed


@needs_fmm
def test_reduced_program_expands_to_the_plain_scheme() -> None:
    [(s, meta)] = read_json_documents(SCHEMES / "addition_reduced_ZT/2x2x2_m7_cr15_cn24_ZT_reduced.json")
    assert meta == {"collection": "FastMatrixMultiplication"} and s.verify().ok
    # A index 4 is u_fresh[0] = a21 + a22, index 5 is u_fresh[1] = a11 + (index 4)
    doc = json.loads((SCHEMES / "addition_reduced_ZT/2x2x2_m7_cr15_cn24_ZT_reduced.json").read_text())
    assert doc["u_fresh"][1] == [{"index": 0, "value": 1}, {"index": 4, "value": 1}]
    assert doc["u"][6] == [{"index": 5, "value": 1}, {"index": 1, "value": 1}]
    assert s.u[6].tolist() == [1, 1, 1, 1]  # (a11 + a21 + a22) + a12


def test_program_with_chained_intermediates_and_bad_ones() -> None:
    """<1,1,1>: c = a*b written through chains of intermediates in every factor."""
    doc = {
        "n": [1, 1, 1], "m": 1, "z2": False,
        "u_fresh": [[{"index": 2, "value": 2}], [{"index": 0, "value": 1}]],  # f0 = 2*f1, f1 = a
        "u": [[{"index": 1, "value": "1/2"}]],                              # (1/2)*f0 = a
        "v": [[{"index": 0, "value": 1}]],
        "w_fresh": [[{"index": 0, "value": 1}]],
        "w": [[{"index": 1, "value": 1}]],                                   # c = f0 = m1
    }
    s = scheme_from_collection(doc)
    assert s.ring == tg.Z and s.u.tolist() == [[1]] and s.w.tolist() == [[1]] and s.verify().ok
    for change, message in (
        ({"u_fresh": [[{"index": 2, "value": 1}], [{"index": 1, "value": 1}]]}, "depends on itself"),
        ({"v": [[{"index": 7, "value": 1}]]}, "outside"),
        ({"w": [[{"index": 0, "value": 1}]] * 2}, "one per entry of C"),
        ({"u": [[{"index": 0}]]}, "'index' and 'value'"),
        ({"m": 2}, "rank"),
        ({"z2": "yes"}, "z2"),
    ):
        with pytest.raises(FormatError, match=message) as exc:
            scheme_from_collection({**doc, **change})
        one_line(exc)


@pytest.mark.parametrize("value, expected", [
    (3, 3), (-2.0, -2), (0.5, Fraction(1, 2)), ("1/2", Fraction(1, 2)), ("-3/4", Fraction(-3, 4)),
    ("0.1", Fraction(1, 10)), (" 7 ", 7),
])
def test_coefficients_are_exact(value: object, expected: object) -> None:
    got = parse_coefficient(value)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize("value", [True, None, "x", "1/0", float("nan"), "1" * 30, 2**70, [1]])
def test_bad_coefficients_are_refused(value: object) -> None:
    with pytest.raises(FormatError) as exc:
        parse_coefficient(value)
    one_line(exc)


def test_the_ring_a_collection_document_claims() -> None:
    s = strassen()
    doc = collection_document(s)
    assert scheme_from_collection(doc).ring == tg.Z  # ternary -> Z
    halves = dict(doc, u=[[0.5 * x for x in row] for row in doc["u"]], w=[[2 * x for x in row] for row in doc["w"]])
    q = scheme_from_collection(halves)
    assert q.ring == tg.Q and q.verify().ok and q.denominators.tolist() == [[2, 1, 1]] * 7
    z2 = scheme_from_collection(collection_document(z2_only()))
    assert z2.ring == tg.Z2 and z2.verify().ok and not z2.verify("Z").ok
    with pytest.raises(FormatError, match="fractional"):
        scheme_from_collection(dict(halves, z2=True))


# --- the other formats --------------------------------------------------------------------------
@needs_fmm
def test_expression_and_maple_files_verify_and_agree() -> None:
    exp, maple = read_scheme(EXP), read_scheme(MAPLE)
    assert detect_format(EXP) == "flipgraph" and detect_format(MAPLE) == "maple"
    assert same(exp, maple) and (exp.target.params, exp.rank, exp.ring) == ((2, 2, 3), 11, tg.Z)
    assert 2 in exp.coefficients  # (c21 + 2*c22): the coefficients are not only ternary


def test_expression_syntax_with_juxtaposed_factors(tmp_path: Path) -> None:
    """Kauers–Moosbauer's expression syntax; c<k><i> is our C[i][k]."""
    lines = ["(a11 + a22) (b11 + b22) (c11 + c22)", "(a21 + a22) b11 (c12 - c22)",
             "a11 (b12 - b22) (c21 + c22)", "a22 (b21 - b11) (c11 + c12)",
             "(a11 + a12) b22 (-c11 + c21)", "(a21 - a11) (b11 + b12) c22", "(a12 - a22) (b21 + b22) c11"]
    path = tmp_path / "strassen.exp"
    path.write_text("\n".join(lines) + "\n")
    assert same(read_scheme(path), strassen())


def test_maple_syntax_variants_and_errors(tmp_path: Path) -> None:
    s = strassen()
    path = tmp_path / "s.m"
    write_scheme(s, path)
    body = "\n".join(line for line in path.read_text().splitlines() if not line.startswith("#"))
    square = tmp_path / "square.m"
    square.write_text("S := " + body.replace("{", "[").replace("}", "]") + ";\n")
    assert same(read_scheme(square), s)
    for text, message in (
        ("{}", "no products"),
        ("{{{{1}}, {{1}}}}", "triple"),
        ("{{{{1, 0}}, {{1}}, {{1}}}}", "not n×m, m×p and p×n"),
        ("{{{{1}}, {{1}}, {{1}}}, {{{1, 1}}, {{1}}, {{1}}}}", "differ"),
        ("{{{{1}}, {{1}}, {{1}}}", "not closed"),
        ("{{{{{1}}}, {{1}}, {{1}}}}", "nested too deeply"),
        ("{{{{1}}, {{1}}, {{x}}}}", "unexpected"),
        ("{{{{1}}, {{1}}, {{1}}},}", "ends with a comma"),
    ):
        bad = tmp_path / "bad.m"
        bad.write_text(text)
        with pytest.raises(FormatError, match=message) as exc:
            read_schemes(bad)
        one_line(exc)


@pytest.mark.parametrize("scheme", [strassen, z2_only, rational], ids=["Z", "Z2", "Q"])
@pytest.mark.parametrize("name, fmt", [
    ("s.json", None), ("s.json", "fmm"), ("s.m", None), ("s.exp", None), ("s", "maple"), ("s.npz", None),
])
def test_round_trips(tmp_path: Path, scheme, name: str, fmt: str | None) -> None:
    s = scheme()
    path = tmp_path / (name.replace("s.npz", "s_f2.npz") if s.ring == tg.Z2 else name)
    if s.denominators is not None and name.endswith(".exp"):
        with pytest.raises(FormatError, match="integer coefficients only"):
            write_scheme(s, path, fmt)
        return
    write_scheme(s, path, fmt)
    back = read_scheme(path, fmt)
    if name.endswith(".npz"):  # the npz layout scales factors to a common denominator per factor
        assert back.ring == s.ring and back.verify().ok
    else:
        assert same(back, s)


def test_mod_p_in_a_file_name_states_the_ring(tmp_path: Path) -> None:
    write_scheme(z2_only(), tmp_path / "z2.exp")
    text = "\n".join(line for line in (tmp_path / "z2.exp").read_text().splitlines() if not line.startswith("#"))
    (tmp_path / "s-mod2.exp").write_text(text)
    (tmp_path / "s-mod0.exp").write_text(text)
    assert read_scheme(tmp_path / "s-mod2.exp").ring == tg.Z2
    with pytest.raises(VerificationError):
        read_scheme(tmp_path / "s-mod0.exp")  # characteristic 0: read over Z, where it is wrong


# --- our JSON without a header, and detection -------------------------------------------------
def minimal_document() -> dict:
    return {"shape": [2, 2, 2], "ring": "Z", "u": STRASSEN_U, "v": STRASSEN_V, "w": STRASSEN_W}


def test_minimal_hand_written_scheme_reads(tmp_path: Path) -> None:
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(minimal_document()))
    assert same(read_scheme(path), strassen())
    runner = CliRunner(env={"TENSORGAME_CATALOG": str(tmp_path / "c.sqlite")})
    for args in (("verify", path), ("show", path), ("catalog", "import", path)):
        result = runner.invoke(cli, [str(a) for a in args])
        assert result.exit_code == 0, result.output
    foreign = dict(minimal_document(), format="something-else")
    path.write_text(json.dumps(foreign))
    with pytest.raises(FormatError, match="not a tensorgame scheme document") as exc:
        read_scheme(path)
    one_line(exc)


def test_detection_tells_the_dialects_apart(tmp_path: Path) -> None:
    s = strassen()
    ours, theirs = tmp_path / "ours.json", tmp_path / "theirs.json"
    write_scheme(s, ours)
    write_scheme(s, theirs, "fmm")
    assert "format" in json.loads(ours.read_text()) and "n" in json.loads(theirs.read_text())
    assert same(read_scheme(ours), s) and same(read_scheme(theirs), s)
    both = tmp_path / "both.json"
    both.write_text(json.dumps([minimal_document(), collection_document(s)]))
    assert [m for _, m in read_json_documents(both)] == [{}, {"collection": "FastMatrixMultiplication"}]
    for fmt in ("json", "fmm", "maple", "flipgraph"):
        path = tmp_path / f"no_extension_{fmt}"
        write_scheme(s, path, fmt)
        assert detect_format(path) == ("json" if fmt == "fmm" else fmt)
        assert same(read_scheme(path), s)
    several = tmp_path / "several"
    write_schemes([s, s], several, "json")
    assert detect_format(several) == "json" and len(read_schemes(several)) == 2
    assert detect_format("x.m") == "maple" and detect_format("x.exp") == "flipgraph"


# --- the command line -------------------------------------------------------------------------
@pytest.fixture
def run(tmp_path: Path):
    runner = CliRunner(env={"TENSORGAME_CATALOG": str(tmp_path / "cat.sqlite")})

    def invoke(*args: object) -> Result:
        return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)

    return invoke


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small collection: 4 distinct correct schemes, a duplicate, a wrong scheme, an
    unreadable file and a file that is no scheme format at all."""
    root = tmp_path / "tree"
    (root / "kind" / "deep").mkdir(parents=True)
    write_scheme(strassen(), root / "kind" / "strassen.json", "fmm")
    write_scheme(strassen(), root / "kind" / "deep" / "again-mod0.exp")  # the same scheme
    write_scheme(rational(), root / "rational.json", "fmm")
    write_scheme(z2_only(), root / "deep-z2.m")
    write_scheme(tg.naive_scheme(tg.matmul_target(1, 2, 2)), root / "kind" / "naive.m")
    wrong = strassen()
    u = wrong.u.copy()
    u[0, 0] = 0
    write_scheme(tg.Scheme(wrong.target, "Z", u, wrong.v, wrong.w), root / "wrong.json", "fmm")
    (root / "garbage.json").write_text("{not json")
    (root / "README.md").write_text("not a scheme\n")
    return root


def test_directory_import_counts_and_continues(run, tree: Path) -> None:
    result = run("catalog", "import", tree, "--json")
    assert result.exit_code == 1  # a wrong scheme was refused
    doc = json.loads(result.stdout)
    assert (doc["stored"], doc["duplicates"], doc["refused"]) == (4, 1, 1)
    assert [Path(f["file"]).name for f in doc["refused_files"]] == ["garbage.json"]
    assert len(doc["files"]) == 6 and doc["elapsed_s"] >= 0
    listing = json.loads(run("catalog", "list", "--json").stdout)["entries"]
    sources = {e["source"] for e in listing}
    assert sources == {"FastMatrixMultiplication: rational.json", "deep-z2.m", "kind/naive.m",
                       "kind/deep/again-mod0.exp"}  # files in path order: the .exp came first
    assert {e["method"] for e in listing} == {"imported"}
    assert {e["ring"] for e in listing} == {"Z", "Q", "Z2"}
    again = run("catalog", "import", tree)
    assert "total: stored 0, duplicates 5, wrong schemes refused 1; 7 files, 1 not read (listed above);" in again.stdout
    assert "garbage.json" in again.stderr and "refusing" in again.stderr
    assert "Traceback" not in again.output


@needs_fmm
def test_import_the_collection_tree_subset(run, tmp_path: Path) -> None:
    root = tmp_path / "fmm"
    for name in ("addition_reduced_ZT/2x2x2_m7_cr15_cn24_ZT_reduced.json",
                 "naive_addition_reduced_ZT/3x3x3_m23_c88_ZT.json"):
        (root / Path(name).parent).mkdir(parents=True, exist_ok=True)
        shutil.copy(SCHEMES / name, root / name)
    shutil.copytree(FMM / "other_formats", root / "other_formats")
    doc = json.loads(run("catalog", "import", root, "--json").stdout)
    assert (doc["stored"], doc["duplicates"], doc["refused"], doc["refused_files"]) == (3, 1, 0, [])


def test_export_every_format_and_a_target(run, tmp_path: Path, tree: Path) -> None:
    run("catalog", "import", tree)
    [strassen_entry] = json.loads(run("catalog", "list", "--target", "2,2,2", "--ring", "Z", "--json").stdout)["entries"]
    for name in ("a.json", "a.m", "a.exp", "a.npz", "a.txt"):
        assert run("catalog", "export", strassen_entry["id"], "-o", tmp_path / name).exit_code == 0
        assert same(read_scheme(tmp_path / name), strassen())
    assert run("catalog", "export", strassen_entry["id"], "--format", "fmm", "-o", tmp_path / "b.json").exit_code == 0
    assert "n" in json.loads((tmp_path / "b.json").read_text())
    # a target: the best of every stored ring (Z, Q, Z2), in one file or one file per ring
    doc = json.loads(run("catalog", "export", "2,2,2", "-o", tmp_path / "best.json", "--json").stdout)
    [written] = doc["files"]
    assert len(written["ids"]) == 3 and {str(s.ring) for s in read_schemes(tmp_path / "best.json")} == {"Z", "Q", "Z2"}
    assert [d["source"] for d in json.loads((tmp_path / "best.json").read_text())] == [
        "FastMatrixMultiplication: rational.json", "kind/deep/again-mod0.exp", "deep-z2.m"]  # each its own
    run("catalog", "export", "2x2x2", "-o", tmp_path / "best.m")
    assert sorted(p.name for p in tmp_path.glob("best_*.m")) == ["best_Q.m", "best_Z.m", "best_Z2.m"]
    assert read_scheme(tmp_path / "best_Z2.m").ring == tg.Z2
    only_q = json.loads(run("catalog", "export", "2,2,2", "--ring", "Q", "-o", tmp_path / "q.m", "--json").stdout)
    assert only_q["files"] == [{"file": str(tmp_path / "q.m"), "ids": [strassen_entry["id"]]}]  # Z holds over Q
    for args in (("catalog", "export", "9,9,9", "-o", tmp_path / "x.json"),
                 ("catalog", "export", strassen_entry["id"], "--ring", "Z", "-o", tmp_path / "x.json"),
                 ("catalog", "export", strassen_entry["id"], "-o", tmp_path / "x.unknown")):
        bad = run(*args)
        assert bad.exit_code == 2 and "Traceback" not in bad.output
    q_entry = json.loads(run("catalog", "list", "--ring", "Q", "--json").stdout)["entries"][0]
    refused = run("catalog", "export", q_entry["id"], "-o", tmp_path / "q.exp")
    assert refused.exit_code == 2 and "integer coefficients only" in refused.stderr


# --- the collection's best ranks ---------------------------------------------------------------
def test_collection_best_ranks_ship_with_the_package(run, tmp_path: Path, tree: Path) -> None:
    k444 = known_ranks(4, 4, 4)
    assert (k444.collection_zt, k444.collection_z, k444.collection_q) == (49, 49, 48)
    assert k444.best_z2 == 47 and k444.collection_sources["Q"]
    assert known_ranks(16, 3, 2) == known_ranks(2, 3, 16) and known_ranks(2, 3, 16).naive == 96
    from importlib import resources
    header = resources.files("tensorgame.data").joinpath("fmm_best.csv").read_text()[:3000]
    assert "MIT License" in header and "Perminov" in header
    doc = json.loads(run("target", "3", "3", "3", "--json").stdout)
    assert doc["known_ranks"]["collection_z"] == 23
    assert "collection best, Q" in run("target", "4", "4", "4").stdout
    run("catalog", "import", tree)
    best = json.loads(run("catalog", "list", "--best", "--target", "2,2,2", "--json").stdout)["entries"]
    assert {e["ring"]: e["collection"] for e in best}["Z"] == {"ZT": 7, "Z": 7, "Q": 7}
    assert "7/7/7" in run("catalog", "list", "--best").stdout
