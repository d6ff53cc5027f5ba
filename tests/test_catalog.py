"""The scheme catalogue: verified-only storage, de-duplication, ranking, robustness."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import signal
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import platformdirs
import pytest

from tensorgame import matmul_target, naive_scheme, polymul_target
from tensorgame.catalog import ENV_VAR, AddResult, Catalog, default_catalog_path
from tensorgame.errors import CatalogError, VerificationError
from tensorgame.tensors.scheme import Scheme

STRASSEN_U = [[1, 0, 0, 1], [0, 0, 1, 1], [1, 0, 0, 0], [0, 0, 0, 1], [1, 1, 0, 0], [-1, 0, 1, 0], [0, 1, 0, -1]]
STRASSEN_V = [[1, 0, 0, 1], [1, 0, 0, 0], [0, 1, 0, -1], [-1, 0, 1, 0], [0, 0, 0, 1], [1, 1, 0, 0], [0, 0, 1, 1]]
STRASSEN_W = [[1, 0, 0, 1], [0, 0, 1, -1], [0, 1, 0, 1], [1, 0, 1, 0], [-1, 1, 0, 0], [0, 0, 0, 1], [1, 0, 0, 0]]

# 108 pairwise distinct valid schemes: naive <a,b,c> in four rings.
DISTINCT_SPECS = [
    (a, b, c, ring)
    for a, b, c in itertools.product(range(1, 4), repeat=3)
    for ring in ("Z", "Q", "Z2", "Z3")
]


def strassen(ring: str = "Z") -> Scheme:
    return Scheme(matmul_target(2, 2, 2), ring, STRASSEN_U, STRASSEN_V, STRASSEN_W)


def naive(a: int, b: int, c: int, ring: str = "Z") -> Scheme:
    return naive_scheme(matmul_target(a, b, c), ring)


def strassen_padded(ring: str = "Z") -> Scheme:
    """Rank 8 like the naive scheme but with 18 additions instead of 4 (a zero term)."""
    s = strassen(ring)
    return Scheme(s.target, ring, np.vstack([s.u, [1, 0, 0, 0]]),
                  np.vstack([s.v, [1, 0, 0, 0]]), np.vstack([s.w, [0, 0, 0, 0]]))


@pytest.fixture
def cat(tmp_path: Path):
    with Catalog(tmp_path / "cat.sqlite") as c:
        yield c


# --- round trip ---------------------------------------------------------------------------
def test_add_get_round_trip(cat: Catalog) -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    res = cat.add(strassen(), method="manual", seed=42, source="test", found_at=when, elapsed_s=1.5)
    assert res == AddResult(res.id, True)
    entry = cat.get(res.id)
    s = entry.scheme
    assert np.array_equal(s.u, STRASSEN_U) and np.array_equal(s.v, STRASSEN_V)
    assert np.array_equal(s.w, STRASSEN_W) and s.denominators is None
    assert s.verify().ok and s.target.key == "matmul:2,2,2"
    assert (entry.target_key, entry.target_name, entry.ring) == ("matmul:2,2,2", "<2,2,2>", "Z")
    assert (entry.rank, entry.additions, entry.nnz) == (7, 18, s.nnz)
    assert (entry.method, entry.seed, entry.source, entry.elapsed_s) == ("manual", 42, "test", 1.5)
    assert entry.found_at == "2026-01-02T01:04:05+00:00"
    doc = entry.to_dict()
    assert "u" not in doc and doc["id"] == res.id and doc["rank"] == 7
    json.dumps(doc)
    full = entry.to_dict(include_factors=True)
    assert full["u"] == STRASSEN_U and full["denominators"] is None
    assert cat.count() == 1


def test_rational_and_non_matmul_round_trip(cat: Catalog) -> None:
    half = Scheme(matmul_target(1, 1, 1), "Q", [[2]], [[1]], [[1]], [[2, 1, 1]])
    poly = naive_scheme(polymul_target(2, 3), "Z")
    ids = [r.id for r in cat.add_many([(half, {"method": "m"}), (poly, {"method": "m"})])]
    got = [cat.get(i).scheme for i in ids]
    assert np.array_equal(got[0].denominators, [[2, 1, 1]])
    assert got[1].target.key == poly.target.key and np.array_equal(got[1].w, poly.w)


def test_get_missing_id(cat: Catalog) -> None:
    with pytest.raises(CatalogError, match="17"):
        cat.get(17)


def test_list_filters_and_order(cat: Catalog) -> None:
    cat.add(naive(2, 2, 2), method="naive")
    cat.add(strassen(), method="strassen")
    cat.add(naive(2, 2, 2, "Z2"), method="naive")
    cat.add(naive(1, 2, 2), method="naive")
    listed = [(e.target_key, e.ring, e.rank) for e in cat.list()]
    assert listed == [("matmul:1,2,2", "Z", 4), ("matmul:2,2,2", "Z", 7),
                      ("matmul:2,2,2", "Z", 8), ("matmul:2,2,2", "Z2", 8)]
    assert [e.rank for e in cat.list(target_key="matmul:2,2,2", ring="Z")] == [7, 8]
    assert [e.method for e in cat.list(max_rank=7)] == ["naive", "strassen"]
    assert len(cat.list(method="naive", limit=2)) == 2
    assert cat.list(ring="GF2")[0].ring == "Z2"


def test_list_orders_sizes_numerically(cat: Catalog) -> None:
    for dims in [(10, 1, 1), (2, 1, 1), (1, 10, 1), (1, 9, 1)]:
        cat.add(naive(*dims), method="naive")
    assert [e.target_key for e in cat.list()] == [
        "matmul:1,9,1", "matmul:1,10,1", "matmul:2,1,1", "matmul:10,1,1"]
    assert [e.target_key for e in cat.best_per_target()][-1] == "matmul:10,1,1"


# --- only verified schemes ----------------------------------------------------------------
def test_wrong_scheme_refused_and_catalogue_unchanged(cat: Catalog) -> None:
    cat.add(naive(1, 1, 2), method="naive")
    w = np.array(STRASSEN_W)
    w[0, 0] = 0
    broken = Scheme(matmul_target(2, 2, 2), "Z", STRASSEN_U, STRASSEN_V, w)
    with pytest.raises(VerificationError) as info:
        cat.add(broken, method="bad")
    assert not info.value.verification.ok
    with pytest.raises(VerificationError, match="item 1"):
        cat.add_many([(naive(2, 1, 1), {"method": "ok"}), (broken, {"method": "bad"})])
    # 3·1·1 = 1 holds mod 2 but not over Z: the check is made in the scheme's own ring.
    assert Scheme(matmul_target(1, 1, 1), "Z2", [[3]], [[1]], [[1]]).verify().ok
    with pytest.raises(VerificationError):
        cat.add(Scheme(matmul_target(1, 1, 1), "Z", [[3]], [[1]], [[1]]), method="bad")
    assert cat.count() == 1 and [e.target_key for e in cat.list()] == ["matmul:1,1,2"]


def _alter(path: Path, sql: str, *params: object) -> None:
    """Change the file behind the catalogue's back, as the sqlite3 tool would."""
    raw = sqlite3.connect(path)
    with raw:
        raw.execute(sql, params)
    raw.close()


def _count_verifications(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts exact verifications from now on (one element per call)."""
    calls: list[int] = []
    real = Scheme.verify

    def counting(self: Scheme, *args, **kwargs):
        calls.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Scheme, "verify", counting)
    return calls


@pytest.fixture
def altered(tmp_path: Path) -> tuple[Path, dict[str, int]]:
    """A catalogue whose best <2,2,2> (Strassen) got a wrong coefficient, plus a row
    with a wrong stored rank and one with unreadable factors beside good rows."""
    path = tmp_path / "cat.sqlite"
    with Catalog(path) as cat:
        ids = {
            "naive": cat.add(naive(2, 2, 2), method="naive").id,
            "strassen": cat.add(strassen(), method="strassen").id,
            "rank": cat.add(naive(1, 1, 1), method="naive").id,
            "unreadable": cat.add(naive(1, 2, 2), method="naive").id,
            "other": cat.add(naive(2, 1, 1), method="naive").id,
        }
    raw = sqlite3.connect(path)
    w = json.loads(raw.execute("SELECT w FROM schemes WHERE id = ?", (ids["strassen"],)).fetchone()[0])
    raw.close()
    w[0][0] = 0
    _alter(path, "UPDATE schemes SET w = ? WHERE id = ?", json.dumps(w), ids["strassen"])
    _alter(path, "UPDATE schemes SET rank = 0 WHERE id = ?", ids["rank"])
    _alter(path, "UPDATE schemes SET u = '[[1]]' WHERE id = ?", ids["unreadable"])
    return path, ids


@pytest.mark.parametrize("read_only", [False, True])
def test_altered_rows_are_set_aside_and_the_rest_served(altered, read_only: bool) -> None:
    path, ids = altered
    bad = sorted([ids["strassen"], ids["rank"], ids["unreadable"]])
    with Catalog(path, read_only=read_only) as cat:
        assert [e.id for e in cat.list()] == [ids["other"], ids["naive"]]
        assert [s.id for s in cat.skipped] == bad
        reasons = {s.id: s.reason for s in cat.skipped}
        assert reasons[ids["strassen"]].startswith("fails verification in Z")
        assert "disagree" in reasons[ids["rank"]] and "unreadable" in reasons[ids["unreadable"]]
        # best() falls back to the next good row: the naive rank 8 instead of Strassen.
        assert cat.best(matmul_target(2, 2, 2), "Z").id == ids["naive"]
        assert cat.best(matmul_target(1, 1, 1), "Z") is None
        assert [e.id for e in cat.best_per_target()] == [ids["other"], ids["naive"]]
        assert [e.id for e in cat.best_per_target("Z2", target_key="matmul:2,2,2")] == [ids["naive"]]
        assert cat.get(ids["naive"]).scheme.verify().ok
        for entry_id in bad:
            with pytest.raises(CatalogError, match=f"catalogue entry {entry_id} "):
                cat.get(entry_id)
        assert [s.id for s in cat.skipped] == bad  # reported once each, whatever read them


def test_row_with_an_unknown_ring_is_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "cat.sqlite"
    with Catalog(path) as cat:
        good = cat.add(naive(2, 2, 2), method="naive").id
        renamed = cat.add(strassen(), method="strassen").id
    _alter(path, "UPDATE schemes SET ring = 'Zx' WHERE id = ?", renamed)
    with Catalog(path, read_only=True) as cat:
        assert [e.id for e in cat.best_per_target("Z2")] == [good]
        assert cat.best("matmul:2,2,2", "Q").id == good
        assert [(s.id, "unreadable" in s.reason) for s in cat.skipped] == [(renamed, True)]


def test_reading_commands_report_altered_rows(altered) -> None:
    from click.testing import CliRunner

    from tensorgame.cli.main import cli

    path, ids = altered
    runner = CliRunner()
    listing = runner.invoke(cli, ["--catalog", str(path), "catalog", "list", "--best", "--json"])
    assert listing.exit_code == 0, listing.output
    doc = json.loads(listing.stdout)
    assert [e["id"] for e in doc["entries"]] == [ids["other"], ids["naive"]]
    assert sorted(b["id"] for b in doc["bad_rows"]) == sorted([ids["strassen"], ids["rank"], ids["unreadable"]])
    warnings = listing.stderr.strip().splitlines()
    assert len(warnings) == 3 and all(w.startswith("warning: catalogue entry ") for w in warnings)
    described = runner.invoke(cli, ["--catalog", str(path), "target", "2", "2", "2", "--json"])
    assert described.exit_code == 0, described.output
    doc = json.loads(described.stdout)
    assert doc["catalog_best"] == {"Z": {"id": ids["naive"], "rank": 8, "additions": 4}}
    assert [b["id"] for b in doc["bad_rows"]] == [ids["strassen"]]
    assert described.stderr.startswith(f"warning: catalogue entry {ids['strassen']} set aside: fails")
    shown = runner.invoke(cli, ["--catalog", str(path), "catalog", "show", str(ids["strassen"])])
    assert shown.exit_code == 2 and shown.stderr.count("\n") == 1


# --- integrity digests and migration ------------------------------------------------------
def test_digest_mismatch_triggers_full_verification(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "cat.sqlite"
    with Catalog(path) as cat:
        first = cat.add(strassen(), method="strassen").id
        cat.add(naive(2, 1, 1), method="naive")
    calls = _count_verifications(monkeypatch)
    with Catalog(path, read_only=True) as cat:
        assert len(cat.list()) == 2
        assert [e.target.key for e in cat.best_per_target()] == ["matmul:2,1,1", "matmul:2,2,2"]
    assert calls == []  # unchanged rows are checked by their digest only
    # Reversing the term order keeps the scheme correct but changes the stored text.
    s = strassen()
    _alter(path, "UPDATE schemes SET u = ?, v = ?, w = ? WHERE id = ?",
           *(json.dumps(f[::-1].tolist()) for f in (s.u, s.v, s.w)), first)
    with Catalog(path, read_only=True) as cat:
        assert sorted(e.id for e in cat.list()) == [first, first + 1] and cat.skipped == []
        assert len(calls) == 1
        cat.get(first)  # used: verified exactly again; a read-only file records nothing
        assert len(calls) == 2
    with Catalog(path) as cat:
        cat.get(first)  # writable: the new digest is recorded ...
        calls.clear()
        cat.list()
    assert calls == []  # ... so listings trust the row again
    monkeypatch.setattr("tensorgame.catalog.store.VERIFIER_VERSION", 2)
    with Catalog(path, read_only=True) as cat:
        cat.list()
    assert len(calls) == 2  # a newer verifier checks every row again


def _as_version_1(path: Path) -> None:
    """Turn a catalogue into the version-1 layout (no verification columns, no programs)."""
    _alter(path, "DROP TABLE programs")
    _alter(path, "ALTER TABLE schemes DROP COLUMN verified_digest")
    _alter(path, "ALTER TABLE schemes DROP COLUMN verified_with")
    _alter(path, "PRAGMA user_version = 1")


def test_version_1_catalogue_is_read_then_migrated(altered, monkeypatch: pytest.MonkeyPatch) -> None:
    path, ids = altered
    _as_version_1(path)
    with Catalog(path, read_only=True) as cat:  # readable as it is, by full verification
        before = [e.to_dict() for e in cat.list()]
        assert [e.id for e in cat.list()] == [ids["other"], ids["naive"]] and len(cat.skipped) == 3
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == 1
    raw.close()
    calls = _count_verifications(monkeypatch)
    with Catalog(path) as cat:  # migrates in place, verifying each row once
        assert len(calls) == 4 and cat.count() == 5  # the unreadable row never gets that far
        calls.clear()
        assert [e.to_dict() for e in cat.list()] == before
        assert len(calls) == 2  # only the wrong rows, which kept no digest
        assert cat.get(ids["naive"]).rank == 8
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == 3
    digests = dict(raw.execute("SELECT id, verified_digest IS NOT NULL FROM schemes").fetchall())
    raw.close()
    assert digests == {i: int(name in ("naive", "other")) for name, i in ids.items()}


# --- read-only catalogues -----------------------------------------------------------------
def test_read_only_catalogue_reads_and_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "cat.sqlite"
    with Catalog(path) as cat:
        stored = cat.add(strassen(), method="strassen").id
    before = path.read_bytes()
    with Catalog(path, read_only=True) as cat:
        assert [e.id for e in cat.list()] == [stored] and cat.get(stored).rank == 7
        with pytest.raises(CatalogError, match="read-only") as info:
            cat.add(naive(1, 1, 1), method="naive")
        assert "\n" not in str(info.value)
    assert path.read_bytes() == before
    missing = tmp_path / "nowhere" / "cat.sqlite"
    with pytest.raises(CatalogError, match="no catalogue"):
        Catalog(missing, read_only=True)
    assert not missing.parent.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_catalogue_on_read_only_folder(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from tensorgame.cli.main import cli

    folder = tmp_path / "media"
    folder.mkdir()
    path = folder / "cat.sqlite"
    with Catalog(path) as cat:
        stored = cat.add(strassen(), method="strassen").id
    path.chmod(0o444)
    folder.chmod(0o555)
    try:
        runner = CliRunner()
        listing = runner.invoke(cli, ["--catalog", str(path), "catalog", "list", "--best", "--json"])
        assert listing.exit_code == 0, listing.output
        assert [e["id"] for e in json.loads(listing.stdout)["entries"]] == [stored]
        shown = runner.invoke(cli, ["--catalog", str(path), "show", str(stored)])
        assert shown.exit_code == 0, shown.output
        stored_again = runner.invoke(cli, ["--catalog", str(path), "catalog", "import",
                                           str(Path(__file__).parent.parent / "examples" / "strassen.json")])
        assert stored_again.exit_code == 2 and stored_again.stderr.count("\n") == 1
        assert sorted(p.name for p in folder.iterdir()) == ["cat.sqlite"]
    finally:
        folder.chmod(0o755)
        path.chmod(0o644)


# --- de-duplication -----------------------------------------------------------------------
def test_duplicates_of_the_same_scheme(cat: Catalog) -> None:
    first = cat.add(strassen(), method="a")
    s = strassen()
    perm = np.random.default_rng(1).permutation(s.rank)
    permuted = Scheme(s.target, "Z", s.u[perm], s.v[perm], s.w[perm])
    sign = np.array([-1, 1, -1, 1, 1, -1, 1])[:, None]
    flipped = Scheme(s.target, "Z", s.u * sign, s.v * sign, s.w)
    for copy in (s, permuted, flipped):
        assert cat.add(copy, method="b") == AddResult(first.id, False)
    results = cat.add_many([(naive(2, 2, 2), {"method": "n"}), (naive(2, 2, 2), {"method": "n"})])
    assert results[0].inserted and results[1] == AddResult(results[0].id, False)
    # The same factors over another ring are a different entry.
    assert cat.add(strassen("Z2"), method="a").inserted
    assert cat.count() == 3


# --- best ---------------------------------------------------------------------------------
def test_best_lowest_rank_then_fewest_additions(cat: Catalog) -> None:
    target = matmul_target(2, 2, 2)
    assert cat.best(target, "Z3") is None
    padded = cat.add(strassen_padded("Z3"), method="padded").id
    assert cat.best(target, "Z3").id == padded
    plain = cat.add(naive(2, 2, 2, "Z3"), method="naive").id
    assert cat.best(target, "Z3").id == plain  # same rank 8, 4 additions instead of 18
    fast = cat.add(strassen("Z3"), method="strassen").id
    assert cat.best("matmul:2,2,2", "Z3").id == fast


def test_best_counts_integer_schemes_for_other_rings(cat: Catalog) -> None:
    target = matmul_target(2, 2, 2)
    mod2 = cat.add(naive(2, 2, 2, "Z2"), method="naive").id
    integer = cat.add(strassen("Z"), method="strassen").id
    best = cat.best(target, "Z2")
    assert best.id == integer and best.ring == "Z"
    assert cat.best(target, "Z2", include_implied=False).id == mod2
    assert cat.best(target, "Q").id == integer
    assert cat.best(target, "Q", include_implied=False) is None
    cat.add(naive(2, 2, 2, "Z2").with_ring("Z"), method="naive")
    assert cat.best(target, "Z").id == integer  # a Z2 scheme never counts for Z
    cat.add(naive(1, 1, 1, "Z2"), method="naive")
    per_z2 = cat.best_per_target("Z2")
    assert [(e.target_key, e.id) for e in per_z2][1] == ("matmul:2,2,2", integer)
    assert [(e.target_key, e.ring) for e in cat.best_per_target()] == [
        ("matmul:1,1,1", "Z2"), ("matmul:2,2,2", "Z"), ("matmul:2,2,2", "Z2")]
    assert [e.target_key for e in cat.best_per_target("Z")] == ["matmul:2,2,2"]


# --- location and foreign files -----------------------------------------------------------
def test_default_path_and_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    expected = Path(platformdirs.user_data_dir("tensorgame")) / "catalog.sqlite"
    assert default_catalog_path() == expected
    target = tmp_path / "deep" / "dir" / "mine.sqlite"
    monkeypatch.setenv(ENV_VAR, str(target))
    assert default_catalog_path() == target
    with Catalog() as cat:
        assert cat.path == target
        cat.add(strassen(), method="m")
    assert target.is_file()


def _assert_refused_untouched(path: Path) -> None:
    before = path.read_bytes()
    with pytest.raises(CatalogError) as info:
        Catalog(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    assert path.read_bytes() == before
    assert not Path(f"{path}-wal").exists() and not Path(f"{path}-journal").exists()


def test_garbage_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "garbage.sqlite"
    path.write_bytes(np.random.default_rng(0).bytes(8192))
    _assert_refused_untouched(path)


def test_foreign_sqlite_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    raw = sqlite3.connect(path)
    with raw:
        raw.execute("CREATE TABLE people (name TEXT)")
        raw.execute("INSERT INTO people VALUES ('ada')")
    raw.close()
    _assert_refused_untouched(path)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cat.sqlite"
    Catalog(path).close()
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA user_version = 99")
    raw.close()
    with pytest.raises(CatalogError, match="newer"):
        Catalog(path)


def test_closed_catalogue_raises(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "cat.sqlite")
    cat.close()
    cat.close()
    with pytest.raises(CatalogError):
        cat.count()
    with pytest.raises(CatalogError):
        cat.add(strassen(), method="m")


# --- concurrency and crashes --------------------------------------------------------------
def _concurrent_writer(path: str, specs: list, barrier, results) -> None:
    try:
        barrier.wait()
        with Catalog(path) as cat:  # all four create the file at once
            inserted = [cat.add(naive(a, b, c, ring), method="worker").inserted
                        for a, b, c, ring in specs]
        results.put(("ok", inserted))
    except BaseException as exc:  # reported to the parent, which fails the test
        results.put(("error", repr(exc)))


def test_concurrent_writers(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.sqlite")
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(4), ctx.Queue()
    chunks = [DISTINCT_SPECS[i * 25 : (i + 1) * 25] for i in range(4)]
    procs = [ctx.Process(target=_concurrent_writer, args=(path, chunk, barrier, results))
             for chunk in chunks]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert all(kind == "ok" for kind, _ in outcomes), outcomes
    assert all(all(inserted) for _, inserted in outcomes)
    with Catalog(path) as cat:
        assert cat.count() == 100
        stored = {(e.target_key, e.ring) for e in cat.list()}
    assert stored == {(f"matmul:{a},{b},{c}", ring) for a, b, c, ring in DISTINCT_SPECS[:100]}


def _add_then_die_mid_transaction(path: str, committed: list, batch: list, die_after: int) -> None:
    """Commit ``committed`` one by one, then SIGKILL itself inside add_many's transaction
    after ``die_after`` inserts; a tiny page cache makes uncommitted pages reach the WAL."""
    armed, inserts = [False], [0]
    real_connect = sqlite3.connect

    def trace(statement: str) -> None:
        if armed[0] and statement.lstrip().upper().startswith("INSERT"):
            inserts[0] += 1
            if inserts[0] > die_after:
                os.kill(os.getpid(), signal.SIGKILL)

    def connect(*args, **kwargs):
        conn = real_connect(*args, **kwargs)
        conn.execute("PRAGMA cache_size = 2")
        conn.set_trace_callback(trace)
        return conn

    sqlite3.connect = connect
    cat = Catalog(path)
    for a, b, c, ring in committed:
        cat.add(naive(a, b, c, ring), method="committed")
    armed[0] = True
    cat.add_many([(naive(a, b, c, ring), {"method": "lost"}) for a, b, c, ring in batch])
    raise AssertionError("add_many finished although the process should have been killed")


def _crash(path: str, committed: list, batch: list, die_after: int) -> int:
    """Run the self-killing writer; returns the size of the WAL it leaves behind."""
    proc = multiprocessing.get_context("spawn").Process(
        target=_add_then_die_mid_transaction, args=(path, committed, batch, die_after))
    proc.start()
    proc.join(timeout=120)
    assert proc.exitcode == -signal.SIGKILL
    return os.path.getsize(f"{path}-wal")


def test_killed_writer_leaves_committed_entries(tmp_path: Path) -> None:
    path = str(tmp_path / "crash.sqlite")
    committed, batch = DISTINCT_SPECS[:10], DISTINCT_SPECS[10:]
    # Dying before the first insert shows how much of the WAL the committed part fills;
    # dying after 60 inserts must leave uncommitted pages on disk for recovery to discard.
    at_begin = _crash(str(tmp_path / "baseline.sqlite"), committed, batch, 0)
    assert _crash(path, committed, batch, 60) > at_begin
    with Catalog(path) as cat:
        assert cat.count() == 10
        entries = cat.list()
        assert {(e.target_key, e.ring) for e in entries} == {
            (f"matmul:{a},{b},{c}", ring) for a, b, c, ring in committed}
        assert {e.method for e in entries} == {"committed"}
        assert cat.add(strassen(), method="after").inserted
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    raw.close()
