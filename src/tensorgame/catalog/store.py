"""Embedded SQLite catalogue of verified schemes.

Search workers in several processes write into one file while users query it, so the
catalogue relies on SQLite for safety: WAL journal, a generous busy timeout, and every
write inside ``BEGIN IMMEDIATE`` (writers queue for the lock up front instead of failing
on a read-to-write upgrade). A killed writer loses only its open transaction.

Only schemes that verify exactly in their own ring are stored, and nothing read back is
trusted: each row is rebuilt into a :class:`Scheme` and verified again before it is
returned. Factors live in compact JSON columns, so the file is readable with any SQLite
tool and does not depend on the project's scheme file format.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import platformdirs

from tensorgame.errors import CatalogError, TensorGameError, VerificationError
from tensorgame.tensors.rings import Ring, parse_ring
from tensorgame.tensors.scheme import Scheme
from tensorgame.tensors.targets import Target, target_from_json

ENV_VAR = "TENSORGAME_CATALOG"
#: Stored in the SQLite header (``PRAGMA application_id``) to recognise our files: "TGCA".
APPLICATION_ID = 0x54474341
#: ``PRAGMA user_version`` of the layout written by this code; bump it with a migration.
SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 30_000

# Executed one by one inside the creating transaction (executescript would commit it).
_SCHEMA = (
    """
CREATE TABLE schemes (
    id             INTEGER PRIMARY KEY,
    target_key     TEXT    NOT NULL,
    target_json    TEXT    NOT NULL,
    target_name    TEXT    NOT NULL,
    ring           TEXT    NOT NULL,
    rank           INTEGER NOT NULL,
    additions      INTEGER NOT NULL,
    nnz            INTEGER NOT NULL,
    method         TEXT    NOT NULL,
    seed           INTEGER,
    source         TEXT,
    found_at       TEXT    NOT NULL,
    elapsed_s      REAL,
    canonical_hash TEXT    NOT NULL,
    u              TEXT    NOT NULL,
    v              TEXT    NOT NULL,
    w              TEXT    NOT NULL,
    denominators   TEXT,
    UNIQUE (target_key, ring, canonical_hash)
)
""",
    "CREATE INDEX schemes_by_rank ON schemes (target_key, ring, rank, additions)",
)

_COLUMNS = (
    "id, target_key, target_json, target_name, ring, rank, additions, nnz, method, seed, "
    "source, found_at, elapsed_s, canonical_hash, u, v, w, denominators"
)
_ORDER = "target_key COLLATE sizes, ring, rank, additions, id"


def _natural_key(text: str) -> list[tuple[int, int | str]]:
    """Digit runs compare as numbers, so <2,2,2> lists before <10,10,10>."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", text) if part]


def _natural_collation(a: str, b: str) -> int:
    ka, kb = _natural_key(a), _natural_key(b)
    return (ka > kb) - (ka < kb)
_INT64_MAX = 2**63 - 1


def default_catalog_path() -> Path:
    """Where the catalogue lives unless told otherwise: ``$TENSORGAME_CATALOG`` (lets tests,
    clusters and CI point at a shared or throw-away file), else the user data directory."""
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("tensorgame")) / "catalog.sqlite"


@dataclass(frozen=True)
class CatalogEntry:
    """One stored scheme with its provenance; ``scheme`` has been re-verified on reading."""

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
    scheme: Scheme

    @property
    def target(self) -> Target:
        return self.scheme.target

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
class AddResult:
    """Outcome of an insertion: ``inserted`` is False for an equivalent scheme already
    stored, and ``id`` is then the existing entry's id."""

    id: int
    inserted: bool


@dataclass(frozen=True)
class _Row:
    """A verified scheme turned into column values, prepared outside any transaction so
    the write lock is held only for the inserts themselves."""

    target_key: str
    ring: str
    canonical_hash: str
    values: tuple[Any, ...]


def _to_json(arr: np.ndarray) -> str:
    return json.dumps(arr.tolist(), separators=(",", ":"))


def _utc_iso(found_at: datetime | None) -> str:
    """ISO-8601 UTC; a naive datetime is taken to be UTC already (as ``utcnow`` gives)."""
    if found_at is None:
        found_at = datetime.now(timezone.utc)
    elif found_at.tzinfo is None:
        found_at = found_at.replace(tzinfo=timezone.utc)
    return found_at.astimezone(timezone.utc).isoformat(timespec="seconds")


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
    ring = str(scheme.ring)
    digest = canonical_hash(scheme)
    den = None if scheme.denominators is None else _to_json(scheme.denominators)
    values = (
        target.key, json.dumps(target.to_json(), separators=(",", ":")), target.name, ring,
        scheme.rank, scheme.additions, scheme.nnz, method, seed,
        None if source is None else str(source), _utc_iso(found_at),
        None if elapsed_s is None else float(elapsed_s), digest,
        _to_json(scheme.u), _to_json(scheme.v), _to_json(scheme.w), den,
    )
    return _Row(target.key, ring, digest, values)


def _entry_from_row(row: tuple[Any, ...]) -> CatalogEntry:
    """Rebuild and re-verify a stored scheme; any inconsistency names the row's id."""
    (entry_id, target_key, target_json, target_name, ring, rank, additions, nnz, method,
     seed, source, found_at, elapsed_s, digest, u, v, w, den) = row
    try:
        target = target_from_json(json.loads(target_json))
        scheme = Scheme(
            target, parse_ring(ring), json.loads(u), json.loads(v), json.loads(w),
            None if den is None else json.loads(den),
        )
        check = scheme.verify()
    except (TensorGameError, ValueError, TypeError) as exc:
        raise CatalogError(f"catalogue entry {entry_id} is unreadable: {exc}") from None
    if not check.ok:
        raise CatalogError(
            f"catalogue entry {entry_id} fails verification in {ring} "
            f"({check.n_wrong} wrong tensor entries); the database was altered"
        )
    stored = (target_key, target_name, ring, rank, additions, nnz)
    actual = (target.key, target.name, str(scheme.ring), scheme.rank, scheme.additions, scheme.nnz)
    if stored != actual:
        raise CatalogError(
            f"catalogue entry {entry_id}: stored (target, name, ring, rank, additions, nnz) "
            f"{stored} disagree with its factors {actual}"
        )
    return CatalogEntry(
        id=entry_id, target_key=target_key, target_name=target_name, ring=ring, rank=rank,
        additions=additions, nnz=nnz, method=method, seed=seed, source=source,
        found_at=found_at, elapsed_s=elapsed_s, canonical_hash=digest, scheme=scheme,
    )


class Catalog:
    """A catalogue file opened by one process; open one per process or thread."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_catalog_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CatalogError(f"{self.path}: cannot create its folder ({exc.strerror or exc})") from None
        try:
            # timeout= sets SQLite's busy_timeout; isolation_level=None leaves every
            # transaction to our explicit BEGIN statements.
            self._conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        except sqlite3.Error as exc:
            raise CatalogError(f"{self.path}: cannot open the catalogue ({exc})") from None
        self._conn.create_collation("sizes", _natural_collation)
        try:
            self._open()
        except BaseException:
            self._conn.close()
            raise

    # --- opening -----------------------------------------------------------------------
    def _open(self) -> None:
        """Recognise or create the schema; a foreign file is refused before any write."""
        try:
            # One read transaction, so a catalogue being created by another process is
            # seen either empty or complete, never half-made.
            self._conn.execute("BEGIN")
            try:
                state = self._identify()
            finally:
                self._conn.execute("ROLLBACK")
            if state == "new":
                with self._write():
                    # Another process may have created it between the check and the lock.
                    if self._identify() == "new":
                        for statement in _SCHEMA:
                            self._conn.execute(statement)
                        self._conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                        self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            mode = self._conn.execute("PRAGMA journal_mode").fetchone()[0]
            if mode.lower() != "wal":
                self._conn.execute("PRAGMA journal_mode = WAL")
        except sqlite3.DatabaseError as exc:
            raise CatalogError(f"{self.path}: not a usable tensorgame catalogue ({exc})") from None

    def _identify(self) -> str:
        """'ours' for a catalogue of a supported version, 'new' for an empty database."""
        app_id = self._conn.execute("PRAGMA application_id").fetchone()[0]
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if app_id == 0 and version == 0 and not tables:
            return "new"
        if app_id != APPLICATION_ID:
            raise CatalogError(f"{self.path}: an SQLite database but not a tensorgame catalogue")
        if version > SCHEMA_VERSION:
            raise CatalogError(
                f"{self.path}: catalogue schema version {version} is newer than this "
                f"tensorgame supports ({SCHEMA_VERSION}); upgrade tensorgame"
            )
        if "schemes" not in tables:
            raise CatalogError(f"{self.path}: damaged tensorgame catalogue (no schemes table)")
        return "ours"

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

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._conn.execute(sql, tuple(params)).fetchall()
        except sqlite3.ProgrammingError as exc:
            raise CatalogError(f"{self.path}: {exc}") from None
        except sqlite3.Error as exc:
            raise CatalogError(f"{self.path}: catalogue read failed ({exc})") from None

    # --- writing -----------------------------------------------------------------------
    def _insert(self, row: _Row) -> AddResult:
        placeholders = ", ".join("?" * len(row.values))
        got = self._conn.execute(
            f"INSERT INTO schemes ({_COLUMNS.removeprefix('id, ')}) VALUES ({placeholders}) "
            "ON CONFLICT (target_key, ring, canonical_hash) DO NOTHING RETURNING id",
            row.values,
        ).fetchone()
        if got is not None:
            return AddResult(int(got[0]), True)
        existing = self._conn.execute(
            "SELECT id FROM schemes WHERE target_key = ? AND ring = ? AND canonical_hash = ?",
            (row.target_key, row.ring, row.canonical_hash),
        ).fetchone()
        return AddResult(int(existing[0]), False)

    def _insert_all(self, rows: list[_Row]) -> list[AddResult]:
        try:
            with self._write():
                return [self._insert(row) for row in rows]
        except sqlite3.ProgrammingError as exc:
            raise CatalogError(f"{self.path}: {exc}") from None
        except sqlite3.Error as exc:
            raise CatalogError(f"{self.path}: catalogue write failed ({exc})") from None

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

    # --- reading -----------------------------------------------------------------------
    def get(self, entry_id: int) -> CatalogEntry:
        """The entry with this id, re-verified (CatalogError if absent or altered)."""
        rows = self._query(f"SELECT {_COLUMNS} FROM schemes WHERE id = ?", (int(entry_id),))
        if not rows:
            raise CatalogError(f"no catalogue entry with id {entry_id}")
        return _entry_from_row(rows[0])

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
        ordered by target, ring, rank, additions and id."""
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
        sql = f"SELECT {_COLUMNS} FROM schemes"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {_ORDER}"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return [_entry_from_row(r) for r in self._query(sql, params)]

    def _rings_valid_in(self, ring: Ring, target_key: str | None, include_implied: bool) -> list[str]:
        """Stored ring names whose schemes hold in ``ring`` (a Z scheme holds in Q and Z_p)."""
        if not include_implied:
            return [str(ring)]
        sql, params = "SELECT DISTINCT ring FROM schemes", []
        if target_key is not None:
            sql += " WHERE target_key = ?"
            params.append(target_key)
        stored = [r[0] for r in self._query(sql, params)]
        valid = []
        for name in stored:
            try:
                if parse_ring(name).implies(ring):
                    valid.append(name)
            except TensorGameError:
                raise CatalogError(
                    f"{self.path}: unknown ring {name!r} stored in the catalogue"
                ) from None
        return valid

    def best(
        self, target: Target | str, ring: str | Ring, *, include_implied: bool = True
    ) -> CatalogEntry | None:
        """Lowest rank, then fewest additions, then oldest id, among schemes valid in
        ``ring``; with ``include_implied`` a Z scheme also counts for Q and every Z_p
        (the entry keeps its own ring)."""
        key = target.key if isinstance(target, Target) else str(target)
        rings = self._rings_valid_in(parse_ring(ring), key, include_implied)
        if not rings:
            return None
        marks = ", ".join("?" * len(rings))
        rows = self._query(
            f"SELECT {_COLUMNS} FROM schemes WHERE target_key = ? AND ring IN ({marks}) "
            "ORDER BY rank, additions, id LIMIT 1",
            (key, *rings),
        )
        return _entry_from_row(rows[0]) if rows else None

    def best_per_target(self, ring: str | Ring | None = None) -> list[CatalogEntry]:
        """The best entry of each target valid in ``ring`` (Z schemes included, as in
        :meth:`best`); with no ring, the best of each (target, stored ring) pair, because
        mixing rings would put mod-2-only results beside integer ones."""
        if ring is None:
            partition, where, params = "target_key, ring", "", []
        else:
            rings = self._rings_valid_in(parse_ring(ring), None, True)
            if not rings:
                return []
            partition = "target_key"
            where = f"WHERE ring IN ({', '.join('?' * len(rings))})"
            params = rings
        rows = self._query(
            f"SELECT {_COLUMNS} FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY {partition} "
            f"ORDER BY rank, additions, id) AS place FROM schemes {where}) "
            f"WHERE place = 1 ORDER BY {_ORDER}",
            params,
        )
        return [_entry_from_row(r) for r in rows]

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
        return f"Catalog({str(self.path)!r})"
