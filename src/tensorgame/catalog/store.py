"""Embedded SQLite catalogue of verified schemes.

Search workers in several processes write into one file while users query it, so the
catalogue relies on SQLite for safety: WAL journal, a generous busy timeout, and every
write inside ``BEGIN IMMEDIATE`` (writers queue for the lock up front instead of failing
on a read-to-write upgrade). A killed writer loses only its open transaction.

Only schemes that verify exactly in their own ring are stored, and nothing read back is
trusted. Each row keeps a SHA-256 digest of its checked columns, recorded when the row
was last verified exactly (and the verifier's version): a listing recomputes the digest,
which is cheap, and verifies exactly only rows that no longer match it, setting aside the
ones that fail instead of failing the whole listing. A scheme that is *used* (``get``,
``best``, or ``entry.scheme`` of a listed entry) is always verified exactly. Factors live
in compact JSON columns, so the file is readable with any SQLite tool and does not depend
on the project's scheme file format.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import platformdirs

from tensorgame.errors import CatalogError, TensorGameError, VerificationError
from tensorgame.tensors.rings import Ring, parse_ring
from tensorgame.tensors.scheme import Scheme
from tensorgame.tensors.targets import Target, target_from_json

if TYPE_CHECKING:
    from tensorgame.codegen.program import LevelProgram

ENV_VAR = "TENSORGAME_CATALOG"
#: Stored in the SQLite header (``PRAGMA application_id``) to recognise our files: "TGCA".
APPLICATION_ID = 0x54474341
#: ``PRAGMA user_version`` of the layout written by this code; bump it with a migration.
SCHEMA_VERSION = 3
#: Recorded with each row's digest. Bump it when :mod:`tensorgame.tensors.verify` changes
#: what it accepts: rows verified by an older verifier are then verified again when read.
VERIFIER_VERSION = 1
BUSY_TIMEOUT_MS = 30_000

#: Version 3: each scheme's best known program (fewest additions for one level), in a
#: table of its own so that the scheme rows and their digests stay as they were.
_PROGRAMS_SCHEMA = """
CREATE TABLE programs (
    scheme_id       INTEGER PRIMARY KEY REFERENCES schemes (id),
    additions       INTEGER NOT NULL,
    program         TEXT    NOT NULL,
    method          TEXT    NOT NULL,
    found_at        TEXT    NOT NULL,
    verified_digest TEXT
)
"""
#: The columns a program row's digest covers.
_PROGRAM_CHECKED = ("scheme_id", "additions", "program")

# Executed one by one inside the creating transaction (executescript would commit it).
_SCHEMA = (
    """
CREATE TABLE schemes (
    id              INTEGER PRIMARY KEY,
    target_key      TEXT    NOT NULL,
    target_json     TEXT    NOT NULL,
    target_name     TEXT    NOT NULL,
    ring            TEXT    NOT NULL,
    rank            INTEGER NOT NULL,
    additions       INTEGER NOT NULL,
    nnz             INTEGER NOT NULL,
    method          TEXT    NOT NULL,
    seed            INTEGER,
    source          TEXT,
    found_at        TEXT    NOT NULL,
    elapsed_s       REAL,
    canonical_hash  TEXT    NOT NULL,
    u               TEXT    NOT NULL,
    v               TEXT    NOT NULL,
    w               TEXT    NOT NULL,
    denominators    TEXT,
    verified_digest TEXT,
    verified_with   INTEGER,
    UNIQUE (target_key, ring, canonical_hash)
)
""",
    "CREATE INDEX schemes_by_rank ON schemes (target_key, ring, rank, additions)",
    _PROGRAMS_SCHEMA,
)

_COLUMNS = (
    "id, target_key, target_json, target_name, ring, rank, additions, nnz, method, seed, "
    "source, found_at, elapsed_s, canonical_hash, u, v, w, denominators"
)
#: The columns a row's digest covers: everything verification checks or derives.
_CHECKED = ("target_key", "target_json", "target_name", "ring", "rank", "additions", "nnz",
            "u", "v", "w", "denominators")
_ORDER = "target_key COLLATE sizes, ring, rank, additions, id"
_INT64_MAX = 2**63 - 1


def _natural_key(text: str) -> list[tuple[int, int | str]]:
    """Digit runs compare as numbers, so <2,2,2> lists before <10,10,10>."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", text) if part]


def _natural_collation(a: str, b: str) -> int:
    ka, kb = _natural_key(a), _natural_key(b)
    return (ka > kb) - (ka < kb)


def default_catalog_path() -> Path:
    """Where the catalogue lives unless told otherwise: ``$TENSORGAME_CATALOG`` (lets tests,
    clusters and CI point at a shared or throw-away file), else the user data directory."""
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("tensorgame")) / "catalog.sqlite"


def _digest(row: Mapping[str, Any], names: tuple[str, ...] = _CHECKED) -> str:
    """SHA-256 of the checked columns exactly as stored (no parsing, so it is cheap);
    each value is typed and length-prefixed, so no two rows share an encoding."""
    h = hashlib.sha256()
    for name in names:
        value = row[name]
        data = b"-" if value is None else f"{type(value).__name__}:{value}".encode()
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


class _RowError(CatalogError):
    """A stored row that fails exact verification; ``reason`` completes "catalogue entry N"."""

    def __init__(self, entry_id: int, reason: str) -> None:
        super().__init__(f"catalogue entry {entry_id} {reason}")
        self.entry_id, self.reason = entry_id, reason


def _verified_scheme(row: Mapping[str, Any]) -> Scheme:
    """Rebuild a stored scheme, verify it exactly and check the stored summary columns
    against its factors; raises _RowError (a CatalogError naming the id) otherwise."""
    try:
        target = target_from_json(json.loads(row["target_json"]))
        den = row["denominators"]
        scheme = Scheme(
            target, parse_ring(row["ring"]), json.loads(row["u"]), json.loads(row["v"]),
            json.loads(row["w"]), None if den is None else json.loads(den),
        )
        check = scheme.verify()
    except (TensorGameError, ValueError, TypeError) as exc:
        raise _RowError(row["id"], f"is unreadable: {exc}") from None
    if not check.ok:
        raise _RowError(
            row["id"],
            f"fails verification in {row['ring']} ({check.n_wrong} wrong tensor entries); "
            "the database was altered"
        )
    stored = tuple(row[name] for name in ("target_key", "target_name", "ring", "rank", "additions", "nnz"))
    actual = (target.key, target.name, str(scheme.ring), scheme.rank, scheme.additions, scheme.nnz)
    if stored != actual:
        raise _RowError(
            row["id"],
            f"has stored (target, name, ring, rank, additions, nnz) {stored} that disagree "
            f"with its factors {actual}"
        )
    return scheme


@dataclass(frozen=True)
class CatalogEntry:
    """One stored scheme with its provenance. Listings check rows by their digest only;
    ``scheme`` is rebuilt and verified exactly on first use (CatalogError if wrong)."""

    id: int
    target_key: str
    target_name: str
    ring: str
    rank: int
    additions: int
    nnz: int
    method: str
    seed: int | None
    source: str | None
    found_at: str
    elapsed_s: float | None
    canonical_hash: str
    _row: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def _from_row(cls, row: Mapping[str, Any]) -> CatalogEntry:
        return cls(
            id=row["id"], target_key=row["target_key"], target_name=row["target_name"],
            ring=row["ring"], rank=row["rank"], additions=row["additions"], nnz=row["nnz"],
            method=row["method"], seed=row["seed"], source=row["source"],
            found_at=row["found_at"], elapsed_s=row["elapsed_s"],
            canonical_hash=row["canonical_hash"], _row=row,
        )

    @cached_property
    def scheme(self) -> Scheme:
        """The stored scheme, verified exactly (once: the entry is immutable)."""
        return _verified_scheme(self._row)

    @cached_property
    def target(self) -> Target:
        """The target, from its stored description: listings need it without the cost
        of rebuilding and verifying the scheme (the row's digest covers it)."""
        try:
            return target_from_json(json.loads(self._row["target_json"]))
        except (TensorGameError, ValueError, TypeError) as exc:
            raise _RowError(self.id, f"is unreadable: {exc}") from None

    def to_dict(self, include_factors: bool = False) -> dict[str, Any]:
        """Plain JSON-ready summary (for ``--json`` output); factors only on request
        because they dominate the size."""
        doc: dict[str, Any] = {
            "id": self.id,
            "target": self.target_key,
            "target_name": self.target_name,
            "ring": self.ring,
            "rank": self.rank,
            "additions": self.additions,
            "nnz": self.nnz,
            "method": self.method,
            "seed": self.seed,
            "source": self.source,
            "found_at": self.found_at,
            "elapsed_s": self.elapsed_s,
            "canonical_hash": self.canonical_hash,
        }
        if include_factors:
            s = self.scheme
            doc["u"], doc["v"], doc["w"] = s.u.tolist(), s.v.tolist(), s.w.tolist()
            doc["denominators"] = None if s.denominators is None else s.denominators.tolist()
        return doc


@dataclass(frozen=True)
class SkippedRow:
    """A stored row that a listing set aside because it no longer verifies."""

    id: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "reason": self.reason}


@dataclass(frozen=True)
class AddResult:
    """Outcome of an insertion: ``inserted`` is False for an equivalent scheme already
    stored, and ``id`` is then the existing entry's id."""

    id: int
    inserted: bool


@dataclass(frozen=True)
class _Row:
    """A verified scheme turned into column values, prepared outside any transaction so
    the write lock is held only for the inserts themselves."""

    columns: dict[str, Any]


def _to_json(arr: np.ndarray) -> str:
    return json.dumps(arr.tolist(), separators=(",", ":"))


def _utc_iso(found_at: datetime | None) -> str:
    """ISO-8601 UTC; a naive datetime is taken to be UTC already (as ``utcnow`` gives)."""
    if found_at is None:
        found_at = datetime.now(UTC)
    elif found_at.tzinfo is None:
        found_at = found_at.replace(tzinfo=UTC)
    return found_at.astimezone(UTC).isoformat(timespec="seconds")


def _prepare(
    scheme: Scheme,
    *,
    method: str,
    seed: int | None = None,
    source: str | None = None,
    found_at: datetime | None = None,
    elapsed_s: float | None = None,
) -> _Row:
    """Verify ``scheme`` exactly and build its row; raises before anything is written."""
    from tensorgame.tensors.canonical import canonical_hash

    if not isinstance(scheme, Scheme):
        raise TypeError(f"expected a Scheme, got {type(scheme).__name__}")
    if not isinstance(method, str) or not method.strip():
        raise CatalogError("a catalogue entry needs a non-empty method name")
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise CatalogError(f"seed must be an integer, got {seed!r}")
        seed = int(seed)
        if not -_INT64_MAX - 1 <= seed <= _INT64_MAX:
            raise CatalogError(f"seed {seed} does not fit in 64 bits")
    check = scheme.verify()
    if not check.ok:
        raise VerificationError(
            f"refusing to catalogue a wrong scheme: {scheme.target.name} rank {scheme.rank} "
            f"fails in {scheme.ring} at {check.n_wrong} tensor entries",
            check,
        )
    target = scheme.target
    columns: dict[str, Any] = {
        "target_key": target.key,
        "target_json": json.dumps(target.to_json(), separators=(",", ":")),
        "target_name": target.name,
        "ring": str(scheme.ring),
        "rank": scheme.rank,
        "additions": scheme.additions,
        "nnz": scheme.nnz,
        "method": method,
        "seed": seed,
        "source": None if source is None else str(source),
        "found_at": _utc_iso(found_at),
        "elapsed_s": None if elapsed_s is None else float(elapsed_s),
        "canonical_hash": canonical_hash(scheme),
        "u": _to_json(scheme.u),
        "v": _to_json(scheme.v),
        "w": _to_json(scheme.w),
        "denominators": None if scheme.denominators is None else _to_json(scheme.denominators),
    }
    columns["verified_digest"] = _digest(columns)
    columns["verified_with"] = VERIFIER_VERSION
    return _Row(columns)


def _is_read_only_failure(exc: sqlite3.Error) -> bool:
    """SQLite could not open or write the file or its WAL side files (read-only media)."""
    code = exc.sqlite_errorcode  # None for errors raised by the sqlite3 module itself
    return code is not None and code & 0xFF in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN)


class Catalog:
    """A catalogue file opened by one process; open one per process or thread.

    ``read_only=True`` never creates, migrates or changes anything, so it works on
    read-only media: the file is opened with ``mode=ro``, and as ``immutable`` when not
    even SQLite's WAL side files can be created beside it (a writer must not be active
    then, which read-only media guarantee). Every write then raises CatalogError.
    """

    def __init__(self, path: str | Path | None = None, *, read_only: bool = False) -> None:
        self.path = Path(path).expanduser() if path is not None else default_catalog_path()
        self.read_only = read_only
        self._skipped: dict[int, SkippedRow] = {}
        if read_only:
            if not self.path.is_file():
                raise CatalogError(f"no catalogue at {self.path}")
        else:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise CatalogError(f"{self.path}: cannot create its folder ({exc.strerror or exc})") from None
        self._conn = self._connect("mode=ro" if read_only else None)
        try:
            self._version = self._open_with_fallback()
        except BaseException:
            self._conn.close()
            raise

    # --- opening -----------------------------------------------------------------------
    def _connect(self, uri_query: str | None) -> sqlite3.Connection:
        try:
            # timeout= sets SQLite's busy_timeout; isolation_level=None leaves every
            # transaction to our explicit BEGIN statements.
            if uri_query is None:
                conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            else:
                conn = sqlite3.connect(f"{self.path.absolute().as_uri()}?{uri_query}", uri=True,
                                       timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        except sqlite3.Error as exc:
            raise CatalogError(f"{self.path}: cannot open the catalogue ({exc})") from None
        conn.row_factory = sqlite3.Row
        conn.create_collation("sizes", _natural_collation)
        return conn

    def _open_with_fallback(self) -> int:
        """:meth:`_open`; read-only, retried as ``immutable`` when ``mode=ro`` cannot
        create the WAL side files (read-only media)."""
        try:
            return self._open()
        except sqlite3.Error as exc:
            if not (self.read_only and _is_read_only_failure(exc)):
                raise self._open_error(exc) from None
        self._conn.close()
        self._conn = self._connect("immutable=1")
        try:
            return self._open()
        except sqlite3.Error as exc:
            raise self._open_error(exc) from None

    def _open_error(self, exc: sqlite3.Error) -> CatalogError:
        if _is_read_only_failure(exc) and not self.read_only:
            return CatalogError(f"{self.path}: the catalogue cannot be written here ({exc}); "
                                "commands that only read open it read-only")
        return CatalogError(f"{self.path}: not a usable tensorgame catalogue ({exc})")

    def _open(self) -> int:
        """Recognise, create or migrate the schema (read-only: only recognise); returns
        the schema version in use. A foreign file is refused before any write."""
        # One read transaction, so a catalogue being created by another process is
        # seen either empty or complete, never half-made.
        self._conn.execute("BEGIN")
        try:
            version = self._identify()
        finally:
            self._conn.execute("ROLLBACK")
        if self.read_only:
            if version == 0:
                raise CatalogError(f"{self.path}: an empty database, not a tensorgame catalogue yet")
            return version
        if version < SCHEMA_VERSION:
            with self._write():
                # Another process may have created or migrated it meanwhile.
                version = self._identify()
                if version == 0:
                    for statement in _SCHEMA:
                        self._conn.execute(statement)
                    self._conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                else:
                    if version == 1:
                        self._migrate_from_v1()
                    if version <= 2:  # version 3 adds the programs table; no row changes
                        self._conn.execute(_PROGRAMS_SCHEMA.replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS"))
                self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self._use_wal()
        return SCHEMA_VERSION

    def _use_wal(self) -> None:
        """Switch the file to WAL once. Processes opening a new file together race for
        it and SQLite refuses a loser at once, without a busy wait; so retry until it is
        switched (by whoever won) or the busy timeout has passed."""
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while self._conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            try:
                self._conn.execute("PRAGMA journal_mode = WAL")
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _identify(self) -> int:
        """The schema version of our catalogue, 0 for an empty database."""
        app_id = self._conn.execute("PRAGMA application_id").fetchone()[0]
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if app_id == 0 and version == 0 and not tables:
            return 0
        if app_id != APPLICATION_ID:
            raise CatalogError(f"{self.path}: an SQLite database but not a tensorgame catalogue")
        if version > SCHEMA_VERSION:
            raise CatalogError(
                f"{self.path}: catalogue schema version {version} is newer than this "
                f"tensorgame supports ({SCHEMA_VERSION}); upgrade tensorgame"
            )
        if version < 1 or "schemes" not in tables:
            raise CatalogError(f"{self.path}: damaged tensorgame catalogue (no schemes table)")
        return version

    def _migrate_from_v1(self) -> None:
        """Version 2 adds each row's verification digest; every row is verified exactly
        once here, and a wrong one keeps no digest (so it is set aside when read)."""
        self._conn.execute("ALTER TABLE schemes ADD COLUMN verified_digest TEXT")
        self._conn.execute("ALTER TABLE schemes ADD COLUMN verified_with INTEGER")
        for row in self._conn.execute(f"SELECT {_COLUMNS} FROM schemes").fetchall():
            try:
                _verified_scheme(row)
            except _RowError:
                continue
            self._conn.execute("UPDATE schemes SET verified_digest = ?, verified_with = ? WHERE id = ?",
                               (_digest(row), VERIFIER_VERSION, row["id"]))

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction, taking the write lock at once to avoid upgrade deadlocks."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:  # a failed COMMIT may leave it open
                self._conn.execute("ROLLBACK")
            raise

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """A write transaction outside opening: read-only and SQLite failures become
        CatalogError."""
        if self.read_only:
            raise CatalogError(f"{self.path}: the catalogue is open read-only; nothing can be stored")
        try:
            with self._write():
                yield
        except sqlite3.ProgrammingError as exc:
            raise CatalogError(f"{self.path}: {exc}") from None
        except sqlite3.Error as exc:
            raise CatalogError(f"{self.path}: catalogue write failed ({exc})") from None

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        try:
            return self._conn.execute(sql, tuple(params)).fetchall()
        except sqlite3.ProgrammingError as exc:
            raise CatalogError(f"{self.path}: {exc}") from None
        except sqlite3.Error as exc:
            raise CatalogError(f"{self.path}: catalogue read failed ({exc})") from None

    @property
    def _select(self) -> str:
        """SELECT of full rows; a version-1 file (read-only, unmigrated) has no digests."""
        checks = "verified_digest, verified_with" if self._version >= 2 else \
            "NULL AS verified_digest, NULL AS verified_with"
        return f"SELECT {_COLUMNS}, {checks} FROM schemes"

    # --- writing -----------------------------------------------------------------------
    def _insert(self, row: _Row) -> AddResult:
        names = ", ".join(row.columns)
        placeholders = ", ".join("?" * len(row.columns))
        got = self._conn.execute(
            f"INSERT INTO schemes ({names}) VALUES ({placeholders}) "
            "ON CONFLICT (target_key, ring, canonical_hash) DO NOTHING RETURNING id",
            tuple(row.columns.values()),
        ).fetchone()
        if got is not None:
            return AddResult(int(got[0]), True)
        existing = self._conn.execute(
            "SELECT id FROM schemes WHERE target_key = ? AND ring = ? AND canonical_hash = ?",
            (row.columns["target_key"], row.columns["ring"], row.columns["canonical_hash"]),
        ).fetchone()
        return AddResult(int(existing[0]), False)

    def _insert_all(self, rows: list[_Row]) -> list[AddResult]:
        with self._writing():
            return [self._insert(row) for row in rows]

    def add(
        self,
        scheme: Scheme,
        *,
        method: str,
        seed: int | None = None,
        source: str | None = None,
        found_at: datetime | None = None,
        elapsed_s: float | None = None,
    ) -> AddResult:
        """Store a scheme after exact verification in its own ring (VerificationError
        otherwise); an equivalent stored scheme is reported instead of duplicated."""
        row = _prepare(scheme, method=method, seed=seed, source=source,
                       found_at=found_at, elapsed_s=elapsed_s)
        return self._insert_all([row])[0]

    def add_many(self, schemes_with_meta: Iterable[tuple[Scheme, dict[str, Any]]]) -> list[AddResult]:
        """Store many schemes in one transaction: all of them or, if any is wrong, none.

        ``meta`` holds the keyword arguments of :meth:`add`. Every scheme is verified
        before the write lock is taken, so other writers wait only for the inserts.
        """
        rows = []
        for index, (scheme, meta) in enumerate(schemes_with_meta):
            try:
                rows.append(_prepare(scheme, **meta))
            except VerificationError as exc:
                raise VerificationError(f"item {index}: {exc}", exc.verification) from None
        return self._insert_all(rows) if rows else []

    # --- checking rows -----------------------------------------------------------------
    def _listed(self, row: sqlite3.Row) -> CatalogEntry | None:
        """A row for a listing: served if its digest shows it unchanged since it was
        verified, else verified exactly now; a wrong row is set aside (see ``skipped``)."""
        entry = CatalogEntry._from_row(row)
        if row["verified_with"] == VERIFIER_VERSION and row["verified_digest"] == _digest(row):
            return entry
        try:
            entry.scheme  # noqa: B018 - exact verification, cached on the entry
        except _RowError as exc:
            self._set_aside(exc)
            return None
        return entry

    def _set_aside(self, exc: _RowError) -> None:
        self._skipped[exc.entry_id] = SkippedRow(exc.entry_id, exc.reason)

    def _used(self, row: sqlite3.Row) -> CatalogEntry:
        """A row whose scheme is about to be used: verified exactly (CatalogError if wrong),
        and its digest recorded when it was stale and the catalogue is writable."""
        entry = CatalogEntry._from_row(row)
        entry.scheme  # noqa: B018 - exact verification, cached on the entry
        digest = _digest(row)
        if self.read_only or (row["verified_with"] == VERIFIER_VERSION and row["verified_digest"] == digest):
            return entry
        # Only if the row still holds what was just verified.
        same = " AND ".join(f"{name} IS ?" for name in _CHECKED)
        with self._writing():
            self._conn.execute(
                f"UPDATE schemes SET verified_digest = ?, verified_with = ? WHERE id = ? AND {same}",
                (digest, VERIFIER_VERSION, row["id"], *(row[name] for name in _CHECKED)),
            )
        return entry

    def _load(self, entry_id: int) -> sqlite3.Row | None:
        rows = self._query(f"{self._select} WHERE id = ?", (entry_id,))
        return rows[0] if rows else None

    @property
    def skipped(self) -> list[SkippedRow]:
        """Rows that listings set aside since the catalogue was opened, by id: each
        failed exact verification (the file was altered) and was left out."""
        return [self._skipped[i] for i in sorted(self._skipped)]

    # --- reading -----------------------------------------------------------------------
    def get(self, entry_id: int) -> CatalogEntry:
        """The entry with this id, verified exactly (CatalogError if absent or altered)."""
        if not 1 <= int(entry_id) < 2**63:  # SQLite's id range; beyond it binding overflows
            raise CatalogError(f"no catalogue entry with id {entry_id} (ids run from 1 to 2^63 - 1)")
        row = self._load(int(entry_id))
        if row is None:
            raise CatalogError(f"no catalogue entry with id {entry_id}")
        return self._used(row)

    def list(
        self,
        *,
        target_key: str | None = None,
        ring: str | Ring | None = None,
        method: str | None = None,
        max_rank: int | None = None,
        limit: int | None = None,
    ) -> list[CatalogEntry]:
        """Entries matching every given filter (ring exactly as stored, no implication),
        ordered by target, ring, rank, additions and id. Altered rows that fail
        verification are left out and recorded in :attr:`skipped`."""
        where, params = [], []
        for column, value in (("target_key", target_key), ("method", method)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if ring is not None:
            where.append("ring = ?")
            params.append(str(parse_ring(ring)))
        if max_rank is not None:
            where.append("rank <= ?")
            params.append(int(max_rank))
        sql = f"SELECT id FROM schemes{' WHERE ' + ' AND '.join(where) if where else ''} ORDER BY {_ORDER}"
        entries = []
        for (entry_id,) in self._query(sql, params):
            if limit is not None and len(entries) >= limit:
                break
            row = self._load(entry_id)
            entry = None if row is None else self._listed(row)
            if entry is not None:
                entries.append(entry)
        return entries

    def _rings_valid_in(self, ring: Ring, target_key: str | None, include_implied: bool) -> list[str]:
        """Stored ring names whose schemes hold in ``ring`` (a Z scheme holds in Q and Z_p).
        An unknown stored name (an altered row) is kept, so that its rows are checked and
        set aside rather than silently ignored."""
        if not include_implied:
            return [str(ring)]
        sql, params = "SELECT DISTINCT ring FROM schemes", []
        if target_key is not None:
            sql += " WHERE target_key = ?"
            params.append(target_key)
        valid = []
        for (name,) in self._query(sql, params):
            try:
                if parse_ring(name).implies(ring):
                    valid.append(name)
            except TensorGameError:
                valid.append(name)
        return valid

    def best(
        self, target: Target | str, ring: str | Ring, *, include_implied: bool = True
    ) -> CatalogEntry | None:
        """Lowest rank, then fewest additions, then oldest id, among schemes valid in
        ``ring``; with ``include_implied`` a Z scheme also counts for Q and every Z_p
        (the entry keeps its own ring). The winner is verified exactly; an altered row
        is set aside (see :attr:`skipped`) for the next best."""
        key = target.key if isinstance(target, Target) else str(target)
        rings = self._rings_valid_in(parse_ring(ring), key, include_implied)
        if not rings:
            return None
        marks = ", ".join("?" * len(rings))
        ids = self._query(
            f"SELECT id FROM schemes WHERE target_key = ? AND ring IN ({marks}) "
            "ORDER BY rank, additions, id",
            (key, *rings),
        )
        for (entry_id,) in ids:
            row = self._load(entry_id)
            if row is None:
                continue
            try:
                return self._used(row)
            except _RowError as exc:
                self._set_aside(exc)
        return None

    def best_per_target(self, ring: str | Ring | None = None, *, target_key: str | None = None) -> list[CatalogEntry]:
        """The best entry of each target valid in ``ring`` (Z schemes included, as in
        :meth:`best`); with no ring, the best of each (target, stored ring) pair, because
        mixing rings would put mod-2-only results beside integer ones. ``target_key``
        restricts it to one target. A row that fails verification is set aside (see
        :attr:`skipped`) for the next best of its target."""
        where, params = [], []
        if target_key is not None:
            where.append("target_key = ?")
            params.append(target_key)
        if ring is None:
            order = _ORDER
            group = ("target_key", "ring")
        else:
            rings = self._rings_valid_in(parse_ring(ring), target_key, True)
            if not rings:
                return []
            where.append(f"ring IN ({', '.join('?' * len(rings))})")
            params += rings
            order = "target_key COLLATE sizes, rank, additions, id"
            group = ("target_key",)
        ranked = self._query(
            f"SELECT id, target_key, ring FROM schemes"
            f"{' WHERE ' + ' AND '.join(where) if where else ''} ORDER BY {order}",
            params,
        )
        best = []
        for _, candidates in itertools.groupby(ranked, key=lambda r: tuple(r[c] for c in group)):
            for candidate in candidates:
                row = self._load(candidate["id"])
                entry = None if row is None else self._listed(row)
                if entry is not None:
                    best.append(entry)
                    break
        return best

    # --- best known programs ------------------------------------------------------------
    def record_program(self, entry_id: int, program: LevelProgram, *, method: str,
                       found_at: datetime | None = None) -> bool:
        """Keep ``program`` as entry ``entry_id``'s best known program when it needs fewer
        additions than the one stored; returns whether it was stored. It must compute
        the entry's target exactly, with the same rank, in the same orbit (an
        equivalent form, e.g. after a basis change): CatalogError otherwise."""
        from tensorgame.formats.fmm_program import collection_program_document

        entry = self.get(entry_id)
        self._check_program(entry, program)
        text = json.dumps(collection_program_document(program), separators=(",", ":"))
        row = {"scheme_id": entry.id, "additions": program.additions, "program": text}
        with self._writing():
            old = self._conn.execute("SELECT additions FROM programs WHERE scheme_id = ?", (entry.id,)).fetchone()
            if old is not None and old[0] <= program.additions:
                return False
            self._conn.execute(
                "INSERT OR REPLACE INTO programs (scheme_id, additions, program, method, found_at, verified_digest) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (entry.id, program.additions, text, method, _utc_iso(found_at), _digest(row, _PROGRAM_CHECKED)))
        return True

    def best_program(self, entry_id: int) -> tuple[LevelProgram, str, str] | None:
        """Entry ``entry_id``'s best known program with its method and date, checked
        exactly (CatalogError if the stored program was altered); None if there is none."""
        entry = self.get(entry_id)
        if self._version < 3:
            return None
        rows = self._query("SELECT * FROM programs WHERE scheme_id = ?", (entry.id,))
        if not rows:
            return None
        program = self._stored_program(entry, rows[0])
        return program, rows[0]["method"], rows[0]["found_at"]

    def program_additions(self, entries: Iterable[CatalogEntry]) -> dict[int, int]:
        """The best known additions of the listed entries that have a program; a row
        changed since it was checked is checked exactly again, and left out if wrong."""
        if self._version < 3:
            return {}
        out = {}
        for entry in entries:
            rows = self._query("SELECT * FROM programs WHERE scheme_id = ?", (entry.id,))
            if not rows:
                continue
            if rows[0]["verified_digest"] != _digest(rows[0], _PROGRAM_CHECKED):
                try:
                    self._stored_program(entry, rows[0])
                except CatalogError:
                    continue
            out[entry.id] = int(rows[0]["additions"])
        return out

    def _stored_program(self, entry: CatalogEntry, row: Mapping[str, Any]) -> LevelProgram:
        from tensorgame.formats.fmm_program import level_from_collection

        try:
            program = level_from_collection(json.loads(row["program"]))
        except (TensorGameError, ValueError, TypeError) as exc:
            raise CatalogError(f"the program of catalogue entry {entry.id} is unreadable: {exc}") from None
        self._check_program(entry, program)
        if program.additions != row["additions"]:
            raise CatalogError(f"the program of catalogue entry {entry.id} has {program.additions} additions, "
                               f"not the {row['additions']} stored; the database was altered")
        return program

    @staticmethod
    def _check_program(entry: CatalogEntry, program: LevelProgram) -> None:
        from tensorgame.tensors.canonical import canonical_hash

        scheme = program.scheme
        if (scheme.target.key != entry.target_key or program.rank != entry.rank
                or not program.is_exact() or not scheme.verify(parse_ring(entry.ring)).ok
                or canonical_hash(scheme.with_ring(parse_ring(entry.ring))) != entry.canonical_hash):
            raise CatalogError(f"the program is not an exact program for catalogue entry {entry.id} "
                               f"({entry.target_name}, rank {entry.rank}, {entry.ring}) or an equivalent form of it")

    def count(self) -> int:
        """Number of stored entries (not verified: a plain row count)."""
        return int(self._query("SELECT COUNT(*) FROM schemes")[0][0])

    # --- lifetime ------------------------------------------------------------------------
    def close(self) -> None:
        """Release the connection; further calls raise CatalogError. Safe to repeat."""
        self._conn.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = ", read_only=True" if self.read_only else ""
        return f"Catalog({str(self.path)!r}{mode})"
