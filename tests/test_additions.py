"""Additive complexity: the collection's reduced programs read, counted and written on
our basis, the minimiser (never worse than its start, exact), the catalogue's best
known programs and the ``additions`` command."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

import tensorgame as tg
from tensorgame.codegen.additions import minimise_additions, rebuild
from tensorgame.codegen.cse import greedy_cse
from tensorgame.errors import CatalogError, FormatError
from tensorgame.formats.fmm_program import (
    collection_program_document,
    level_from_collection,
    read_collection_program,
    write_collection_program,
)
from tests.conftest import SHARED, assert_user_error

REDUCED = SHARED / "fmm" / "schemes" / "addition_reduced_ZT"
SMALL = ["2x2x2_m7_cr15_cn24_ZT_reduced.json", "2x2x3_m11_cr20_cn20_ZT_reduced.json",
         "3x3x3_m23_cr58_cn119_ZT_reduced.json"]


@pytest.fixture
def reduced() -> Path:
    if not REDUCED.is_dir():
        pytest.skip("../shared/fmm is not beside this checkout")
    return REDUCED


@pytest.mark.parametrize("name", SMALL)
def test_our_count_of_their_program_is_their_published_count(reduced: Path, name: str):
    doc = json.loads((reduced / name).read_text())
    program = read_collection_program(reduced / name)
    assert program.is_exact() and program.scheme.verify().ok
    assert program.additions == doc["complexity"]["reduced"]


@pytest.mark.parametrize("name", SMALL)
def test_reduced_format_round_trips(reduced: Path, name: str, tmp_path: Path):
    first = read_collection_program(reduced / name)
    write_collection_program(first, tmp_path / "a.json")
    second = read_collection_program(tmp_path / "a.json")
    assert second.additions == first.additions and second.is_exact()
    # the same terms up to sign (a factor left on a left or right factor moves to C)
    assert np.array_equal(np.abs(second.scheme.u), np.abs(first.scheme.u)) and second.scheme.verify().ok
    written = json.loads((tmp_path / "a.json").read_text())
    assert written["complexity"]["reduced"] == first.additions
    assert collection_program_document(second) == collection_program_document(level_from_collection(written))
    assert tg.read_scheme(tmp_path / "a.json").verify().ok  # the plain reader still expands it


def test_reader_refuses_malformed_programs():
    doc = {"n": [1, 1, 1], "m": 1, "u_fresh": [[{"index": 2, "value": 1}]], "u": [[{"index": 0, "value": 1}]],
           "v": [[{"index": 0, "value": 1}]], "w": [[{"index": 0, "value": 1}]]}
    with pytest.raises(FormatError):
        level_from_collection(doc)
    doc["u_fresh"] = []
    doc["w"] = [[{"index": 0, "value": "1/2"}]]
    with pytest.raises(FormatError):
        level_from_collection(doc)


def test_rebuild_keeps_the_map():
    rng = np.random.default_rng(0)
    matrix = rng.integers(-1, 2, size=(20, 9))
    matrix[np.abs(matrix).sum(axis=1) == 0, 0] = 1
    prog = greedy_cse(matrix)
    for _ in range(50):
        prog = rebuild(prog, rng)
        assert np.array_equal(prog.matrix(), matrix)


@pytest.mark.parametrize("name", SMALL[:2])
def test_minimiser_never_exceeds_its_start(reduced: Path, name: str):
    start = read_collection_program(reduced / name)
    found = minimise_additions(start.scheme, start=start, iterations=60, rounds=60)
    assert found.additions <= start.additions and found.program.is_exact()


def test_win_on_2x2x3_is_kept(reduced: Path):
    """<2,2,3> rank 11: the collection publishes 20 additions; the form search finds 18."""
    start = read_collection_program(reduced / SMALL[1])
    found = minimise_additions(start.scheme, start=start, seed=0)
    assert start.additions == 20 and found.additions <= 18 and found.program.is_exact()


def test_minimiser_is_seeded(strassen: tg.Scheme):
    one = minimise_additions(strassen, seed=3, rounds=30)
    two = minimise_additions(strassen, seed=3, rounds=30)
    assert one.additions == two.additions == 15  # Winograd's form
    assert one.program.a == two.program.a and one.program.c == two.program.c


def test_catalogue_keeps_the_best_program(reduced: Path, tmp_path: Path, strassen: tg.Scheme):
    path = tmp_path / "c.sqlite"
    start = read_collection_program(reduced / SMALL[1])
    with tg.open_catalog(path) as cat:
        entry = cat.add(start.scheme, method="import").id
        assert cat.best_program(entry) is None
        assert cat.record_program(entry, start, method="collection")
        found = minimise_additions(start.scheme, start=start)
        assert cat.record_program(entry, found.program, method="additions")  # 18 < 20, another form
        assert not cat.record_program(entry, start, method="collection")  # 20 is no improvement
        kept, method, _ = cat.best_program(entry)
        assert kept.additions == found.additions and method == "additions"
        assert cat.program_additions(cat.list()) == {entry: found.additions}
        other = cat.add(strassen, method="test").id
        with pytest.raises(CatalogError):
            cat.record_program(other, start, method="wrong")
    con = sqlite3.connect(path)  # alter the stored program: it is refused when used
    text = con.execute("SELECT program FROM programs").fetchone()[0]
    con.execute("UPDATE programs SET program = ?", (text.replace('"value":1', '"value":-1', 1),))
    con.commit()
    con.close()
    with tg.open_catalog(path) as cat:
        with pytest.raises(CatalogError):
            cat.best_program(entry)
        assert cat.program_additions(cat.list()) == {}


def test_version_2_catalogue_gains_the_programs_table(tmp_path: Path, strassen: tg.Scheme):
    path = tmp_path / "old.sqlite"
    with tg.open_catalog(path) as cat:
        cat.add(strassen, method="test")
    con = sqlite3.connect(path)
    con.execute("DROP TABLE programs")
    con.execute("PRAGMA user_version = 2")
    con.commit()
    con.close()
    with tg.open_catalog(path, read_only=True) as cat:
        assert cat.best_program(1) is None
    with tg.open_catalog(path) as cat:
        found = minimise_additions(cat.get(1).scheme, rounds=20)
        assert cat.record_program(1, found.program, method="additions")
        assert cat.list()[0].id == 1  # the scheme row's digest still holds


def test_cli_happy_path(run, reduced: Path, tmp_path: Path):
    out = tmp_path / "p.json"
    result = run("additions", reduced / SMALL[1], "-o", out, "--store")
    assert result.exit_code == 0, result.output
    assert "-> 18 best" in result.stdout or "-> 17 best" in result.stdout
    assert read_collection_program(out).additions <= 18
    listing = tmp_path / "p.slp"
    result = run("additions", "1", "--json", "-o", listing)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["start_additions"] <= 18 and doc["additions"] <= doc["start_additions"]
    assert "addition-minimised straight-line program" in listing.read_text()


def test_cli_bad_input(run, reduced: Path, tmp_path: Path):
    assert_user_error(run("additions", reduced / SMALL[0], "--time", "soon"))
    assert_user_error(run("additions", reduced / SMALL[0], "-o", tmp_path / "p.txt"))
    wrong = json.loads((reduced / SMALL[0]).read_text())
    wrong["u"][0] = [{"index": 0, "value": 1}]
    (tmp_path / "wrong.json").write_text(json.dumps(wrong))
    result = run("additions", tmp_path / "wrong.json")
    assert result.exit_code == 1 and result.stderr.startswith("error: ")
