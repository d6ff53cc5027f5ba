"""The ``tensorgame`` command line: exit codes, one-line errors, JSON output and the
catalogue round trip. Most tests use click's runner; one runs the installed script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

import tensorgame as tg
from tensorgame.cli.main import cli
from tensorgame.formats import write_scheme, write_schemes
from tests.conftest import assert_user_error

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def strassen_file(tmp_path: Path, strassen: tg.Scheme) -> Path:
    path = tmp_path / "strassen.json"
    write_scheme(strassen, path)
    return path


def altered(scheme: tg.Scheme, factor: str, term: int, coord: int, value: int) -> tg.Scheme:
    """The scheme with one coefficient changed."""
    u, v, w = (getattr(scheme, name).copy() for name in "uvw")
    {"u": u, "v": v, "w": w}[factor][term, coord] = value
    return tg.Scheme(scheme.target, scheme.ring, u, v, w)


def all_command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name in group.list_commands(click.Context(group)):
        command = group.get_command(click.Context(group), name)
        if isinstance(command, click.Group):
            paths += all_command_paths(command, prefix + (name,))
        else:
            paths.append(prefix + (name,))
    return paths


# --- help, version ------------------------------------------------------------------------
@pytest.mark.parametrize("path", all_command_paths(cli), ids=lambda p: " ".join(p) or "tensorgame")
def test_help_everywhere(run, path: tuple[str, ...]) -> None:
    result = run(*path, "--help")
    assert result.exit_code == 0
    assert "Usage:" in result.output


def test_version(run) -> None:
    result = run("--version")
    assert result.exit_code == 0 and tg.__version__ in result.output


# --- verify -------------------------------------------------------------------------------
def test_verify_correct_scheme(run, strassen_file: Path) -> None:
    assert run("verify", strassen_file).exit_code == 0
    z2 = run("verify", strassen_file, "--ring", "Z2")
    assert z2.exit_code == 0 and "Z2 (mod 2)" in z2.output
    doc = json.loads(run("verify", strassen_file, "--json").stdout)
    assert doc["ok"] is True and doc["file"] == str(strassen_file)
    assert doc["schemes"] == [{"target": "<2,2,2>", "ring": "Z", "rank": 7, "ok": True,
                               "n_wrong": 0, "wrong": []}]


def test_verify_names_the_wrong_entries(run, tmp_path: Path, strassen: tg.Scheme) -> None:
    # Dropping m1 from c11 leaves c11 = a12 b21 - a11 b22 - a22 b11 - a22 b22.
    bad = tmp_path / "bad.json"
    write_scheme(altered(strassen, "w", 0, 0, 0), bad)
    result = run("verify", bad)
    assert result.exit_code == 1
    for line in ("T[a11, b11, c11]: expected 1, got 0", "T[a11, b22, c11]: expected 0, got -1",
                 "T[a22, b11, c11]: expected 0, got -1", "T[a22, b22, c11]: expected 0, got -1",
                 "4 wrong tensor entries"):
        assert line in result.output
    doc = json.loads(run("verify", bad, "--json").stdout)
    assert doc["ok"] is False and doc["schemes"][0]["n_wrong"] == 4
    assert {"index": [0, 0, 0], "labels": ["a11", "b11", "c11"], "expected": 1, "got": "0"} \
        in doc["schemes"][0]["wrong"]


def test_verify_reports_each_scheme_of_a_file(run, tmp_path: Path, strassen: tg.Scheme) -> None:
    both = tmp_path / "both.json"
    write_schemes([strassen, altered(strassen, "u", 2, 0, 0)], both)
    doc = json.loads(run("verify", both, "--json").stdout)
    assert [s["ok"] for s in doc["schemes"]] == [True, False] and doc["ok"] is False


def _evil_npz(path: Path, marker: Path) -> None:
    """An npz whose object member would run a shell command if unpickled naively."""

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    np.savez(path, x=np.array([Evil()], dtype=object))


@pytest.mark.parametrize("case", ["truncated", "not_json", "widths", "huge", "pickle", "missing"])
def test_unreadable_input_is_one_line(run, tmp_path: Path, strassen_file: Path, case: str) -> None:
    text = strassen_file.read_text()
    doc = json.loads(text)
    path = tmp_path / f"{case}.json"
    if case == "truncated":
        path.write_text(text[: len(text) // 2])
    elif case == "not_json":
        path.write_text("this is not a scheme\n")
    elif case == "widths":
        doc["v"][3] = [1, 0, 0]
        path.write_text(json.dumps(doc))
    elif case == "huge":
        doc["shape"] = [10**6, 1, 1]
        path.write_text(json.dumps(doc))
    elif case == "pickle":
        path = tmp_path / "evil.npz"
        _evil_npz(path, tmp_path / "pwned")
    result = run("verify", path)
    assert_user_error(result)
    assert not (tmp_path / "pwned").exists()


def test_unknown_ring_is_a_usage_error(run, strassen_file: Path) -> None:
    result = run("verify", strassen_file, "--ring", "Z4")
    assert result.exit_code == 2 and "Traceback" not in result.output


# --- target -------------------------------------------------------------------------------
def test_target_description(run, catalog_path: Path) -> None:
    doc = json.loads(run("target", 2, 3, 4, "--json").stdout)
    assert doc["dims"] == [6, 12, 8] and doc["nnz"] == 24 and doc["naive_rank"] == 24
    assert doc["known_ranks"]["best_z"] == 20 and doc["known_ranks"]["alphatensor_z"] == 20
    assert doc["catalog_best"] is None and not catalog_path.exists()
    human = run("target", 4, 4, 4)
    assert human.exit_code == 0 and "47" in human.output and "cyclic" in human.output
    skew = json.loads(run("target", "skew_matvec", 4, "--json").stdout)
    assert skew["dims"] == [6, 4, 4] and skew["known_ranks"] is None
    assert run("target", "polymul", 3, 3).exit_code == 0
    assert run("target", "complex").exit_code == 0


def test_target_from_file(run, tmp_path: Path) -> None:
    path = tmp_path / "t.npy"
    np.save(path, tg.matmul_target(2, 2, 2).tensor.astype(np.int64))
    doc = json.loads(run("target", "--target", path, "--json").stdout)
    assert doc["kind"] == "matmul" and doc["target"] == "<2,2,2>"  # recognised
    np.save(path, 2 * tg.matmul_target(2, 2, 2).tensor.astype(np.int64))
    doc = json.loads(run("target", "--target", path, "--json").stdout)
    assert doc["kind"] == "tensor" and doc["naive_rank"] == 8


@pytest.mark.parametrize("args", [(10**6, 1, 1), (2, 2), ("foo", 2), (0, 2, 2), ("x", "y", "z")])
def test_bad_target_is_one_line(run, catalog_path: Path, args: tuple) -> None:
    assert_user_error(run("target", *args))
    assert not catalog_path.exists()


# --- catalogue ----------------------------------------------------------------------------
def test_catalog_round_trip(run, tmp_path: Path, catalog_path: Path, strassen_file: Path,
                            strassen: tg.Scheme) -> None:
    naive = tmp_path / "naive.json"
    write_scheme(tg.naive_scheme(tg.matmul_target(2, 2, 2)), naive)
    result = run("catalog", "import", strassen_file, naive)
    assert result.exit_code == 0 and "stored 2, duplicates 0, wrong schemes refused 0" in result.output
    again = json.loads(run("catalog", "import", strassen_file, "--json").stdout)
    assert (again["stored"], again["duplicates"], again["refused"]) == (0, 1, 0)

    listing = json.loads(run("catalog", "list", "--json").stdout)
    assert listing["catalog"] == str(catalog_path)
    entries = {e["rank"]: e for e in listing["entries"]}
    assert sorted(entries) == [7, 8] and entries[8]["source"] == "naive.json"
    assert entries[7]["method"] == "imported"
    best = json.loads(run("catalog", "list", "--best", "--target", "2,2,2", "--json").stdout)
    assert [e["rank"] for e in best["entries"]] == [7]
    human = run("catalog", "list")
    assert human.exit_code == 0 and "<2,2,2>" in human.output

    sid = entries[7]["id"]
    shown = json.loads(run("catalog", "show", sid, "--json").stdout)
    assert "m1 = (a11 + a22) * (b11 + b22)" in shown["text"]
    assert [shown[f] for f in "uvw"] == [strassen.u.tolist(), strassen.v.tolist(), strassen.w.tolist()]
    assert "c22 = m1 - m2 + m3 + m6" in run("catalog", "show", sid).output

    out_json, out_npz = tmp_path / "out.json", tmp_path / "best.npz"
    assert run("catalog", "export", sid, "-o", out_json).exit_code == 0
    assert run("catalog", "export", "--best", "2,2,2", "-o", out_npz).exit_code == 0
    for path in (out_json, out_npz):
        assert run("verify", path).exit_code == 0
    assert json.loads(out_json.read_text())["method"] == "imported"
    dup = json.loads(run("catalog", "import", out_json, out_npz, "--json").stdout)
    assert (dup["stored"], dup["duplicates"]) == (0, 2)


def test_import_refuses_wrong_schemes_but_keeps_good_ones(run, tmp_path: Path, strassen: tg.Scheme) -> None:
    mixed = tmp_path / "mixed.json"
    write_schemes([altered(strassen, "v", 0, 0, 0), strassen], mixed)
    result = run("catalog", "import", mixed)
    assert result.exit_code == 1
    assert "stored 1, duplicates 0, refused 1" in result.stdout
    assert "refusing" in result.stderr and "Traceback" not in result.output
    [entry] = json.loads(run("catalog", "list", "--json").stdout)["entries"]
    assert entry["source"] == "mixed.json:2"


def test_show_file_and_entry(run, tmp_path: Path, strassen_file: Path, strassen: tg.Scheme) -> None:
    result = run("show", strassen_file, "--out", tmp_path / "s.png")
    assert result.exit_code == 0 and "c11 = m1 + m4 - m5 + m7" in result.stdout
    assert (tmp_path / "s.png").read_bytes().startswith(PNG_MAGIC)
    wrong = tmp_path / "wrong.json"
    write_scheme(altered(strassen, "w", 6, 0, 0), wrong)
    shown = run("show", wrong)
    assert shown.exit_code == 1 and "does NOT verify" in shown.stderr and "m7 = " in shown.stdout
    doc = json.loads(run("show", wrong, "--json").stdout)
    assert doc["schemes"][0]["ok"] is False and doc["schemes"][0]["text"].startswith("<2,2,2>")
    run("catalog", "import", strassen_file)
    entry = run("show", "1", "--out", tmp_path / "e.png")
    assert entry.exit_code == 0 and "m1 = (a11 + a22) * (b11 + b22)" in entry.stdout
    assert (tmp_path / "e.png").read_bytes().startswith(PNG_MAGIC)


def test_read_only_commands_do_not_create_a_catalogue(run, catalog_path: Path) -> None:
    listing = json.loads(run("catalog", "list", "--json").stdout)
    assert listing["entries"] == []
    assert_user_error(run("catalog", "show", 1))
    assert_user_error(run("show", 1))
    assert not catalog_path.exists()


def test_failing_commands_leave_the_catalogue_untouched(
    run, tmp_path: Path, catalog_path: Path, strassen_file: Path
) -> None:
    assert run("catalog", "import", strassen_file).exit_code == 0
    before = catalog_path.read_bytes()
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    naive = tmp_path / "naive.json"
    write_scheme(tg.naive_scheme(tg.matmul_target(2, 2, 2)), naive)
    for args in (
        ("catalog", "import", naive, garbage),  # every file is read before storing
        ("catalog", "import", tmp_path / "missing.json"),
        ("catalog", "show", 99),
        ("catalog", "export", 99, "-o", tmp_path / "x.json"),
        ("catalog", "export", "--best", "3,3,3", "-o", tmp_path / "x.json"),
        ("catalog", "list", "--target", "1000000,1,1"),
        ("target", 10**6, 1, 1),
        ("verify", garbage),
        ("show", 99),
    ):
        assert_user_error(run(*args))
    assert catalog_path.read_bytes() == before
    assert len(json.loads(run("catalog", "list", "--json").stdout)["entries"]) == 1
    assert not (tmp_path / "x.json").exists()


def test_catalog_option_overrides_the_environment(run, tmp_path: Path, strassen_file: Path,
                                                  catalog_path: Path) -> None:
    other = tmp_path / "other.sqlite"
    assert run("--catalog", other, "catalog", "import", strassen_file).exit_code == 0
    assert other.exists() and not catalog_path.exists()


def test_not_a_catalogue_is_one_line(run, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.sqlite"
    bogus.write_text("hello")
    assert_user_error(run("--catalog", bogus, "catalog", "list"))
    assert bogus.read_text() == "hello"


# --- AlphaTensor data ---------------------------------------------------------------------
def test_import_alphatensor(run, tmp_path: Path, alphatensor_dir: Path) -> None:
    files = [alphatensor_dir / f"factorizations_{k}_nopickle.npz" for k in ("r", "f2")]
    doc = json.loads(run("catalog", "import", *files, "--json").stdout)
    assert [len(f["stored"]) for f in doc["files"]] == [93, 20] and doc["refused"] == 0
    best = json.loads(run("catalog", "list", "--best", "--ring", "Z2", "--target", "4,4,4", "--json").stdout)
    [entry] = best["entries"]
    assert (entry["ring"], entry["rank"], entry["source"]) == ("Z2", 47, "factorizations_f2_nopickle.npz:4,4,4")
    out = tmp_path / "at444.json"
    assert run("catalog", "export", entry["id"], "-o", out).exit_code == 0
    assert run("verify", out).exit_code == 0
    over_z = run("verify", out, "--ring", "Z")
    assert over_z.exit_code == 1 and "wrong tensor entries in Z" in over_z.output


# --- the installed entry point ------------------------------------------------------------
def test_console_script(tmp_path: Path, strassen_file: Path) -> None:
    script = Path(sys.executable).with_name("tensorgame")
    exe = str(script) if script.exists() else shutil.which("tensorgame")
    if exe is None:
        pytest.skip("the tensorgame console script is not installed")
    env = {**os.environ, "TENSORGAME_CATALOG": str(tmp_path / "c.sqlite")}
    ok = subprocess.run([exe, "verify", strassen_file], capture_output=True, text=True, env=env, timeout=60)
    assert ok.returncode == 0, ok.stderr
    truncated = tmp_path / "t.json"
    truncated.write_text(strassen_file.read_text()[:50])
    bad = subprocess.run([exe, "verify", truncated], capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert bad.stderr.startswith("error: ") and "Traceback" not in bad.stderr


def test_interrupt_exits_130(run, strassen_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("tensorgame.cli.verify_cmd.read_schemes", interrupted)
    result = run("verify", strassen_file)
    assert result.exit_code == 130 and result.stderr.strip() == "interrupted"


def test_unwritable_output_is_one_line(run, tmp_path: Path, strassen_file: Path) -> None:
    assert_user_error(run("show", strassen_file, "--out", tmp_path / "no" / "such" / "dir.png"))


def test_lift_command(tmp_path, strassen):
    src = tmp_path / "strassen_z2.json"
    write_scheme(strassen.with_ring("Z2"), src)
    out = tmp_path / "lifted.json"
    catalog = tmp_path / "c.sqlite"
    result = CliRunner().invoke(cli, ["--catalog", str(catalog), "lift", str(src), "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)["schemes"][0]
    assert report["lifted"] and report["ring"] == "Z" and report["new_in_catalog"]
    assert CliRunner().invoke(cli, ["verify", str(out)]).exit_code == 0
    # a scheme over Z is not a lifting problem: one-line error, exit 2
    result = CliRunner().invoke(cli, ["lift", str(out), "--no-store"])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_lift_refuses_mod2_only_scheme(tmp_path, alphatensor_dir):
    from tensorgame.formats import read_schemes

    f2 = {s.target.params: s for s in read_schemes(alphatensor_dir / "factorizations_f2_nopickle.npz")}
    src = tmp_path / "at47.json"
    write_scheme(f2[(4, 4, 4)], src)
    result = CliRunner().invoke(cli, ["--catalog", str(tmp_path / "c.sqlite"), "lift", str(src), "--attempts", "1"])
    assert result.exit_code == 1 and "does not lift" in result.output
