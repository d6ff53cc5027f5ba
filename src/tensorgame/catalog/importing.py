"""Storing the schemes of files and whole directory trees, with their provenance.

Named files are read before anything is stored, so an unreadable one (a
``TensorGameError``) changes nothing; an unreadable file found in a directory is
refused and listed, and the import goes on. A wrong scheme is refused and listed; the
correct ones beside it are still stored. Each file is stored in one transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tensorgame.catalog.store import Catalog
from tensorgame.errors import FormatError, TensorGameError, VerificationError
from tensorgame.formats import SCHEME_EXTENSIONS, detect_format, read_schemes
from tensorgame.formats.json_format import read_json_documents
from tensorgame.tensors.rings import Ring
from tensorgame.tensors.scheme import Scheme

#: Method recorded for imported schemes whose file does not name one.
DEFAULT_METHOD = "imported"


@dataclass
class FileImport:
    """One file's outcome: ids stored anew, ids of equivalent schemes already stored,
    and the schemes refused (target, ring, rank, reason)."""

    file: str
    stored: list[int] = field(default_factory=list)
    duplicates: list[int] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "stored": self.stored, "duplicates": self.duplicates, "refused": self.refused}


@dataclass
class ImportReport:
    """What an import did, file by file; ``refused_files`` are files found in a
    directory that could not be read (file, reason)."""

    files: list[FileImport]
    refused_files: list[dict[str, str]]
    elapsed_s: float

    def count(self, what: str) -> int:
        """Schemes ``stored``, ``duplicates`` or ``refused`` over every file."""
        return sum(len(getattr(f, what)) for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        return {"files": [f.to_dict() for f in self.files], "refused_files": self.refused_files,
                **{k: self.count(k) for k in ("stored", "duplicates", "refused")},
                "elapsed_s": round(self.elapsed_s, 3)}


def _found_at(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        raise FormatError(f"'found_at' is not an ISO date: {str(value)[:40]!r}") from None


def _elapsed(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FormatError(f"'elapsed_s' must be a number of seconds, got {str(value)[:40]!r}")
    return float(value)


def file_items(path: Path, label: str, fmt: str | None = None, ring: Ring | None = None,
               method: str | None = None) -> list[tuple[Scheme, dict[str, Any]]]:
    """The schemes of one file with the keyword arguments for ``Catalog.add``.

    A JSON document's own provenance (method, seed, source ...) is kept; otherwise the
    source is ``label`` (the file name, or its path below an imported directory) plus
    the entry: ``factorizations_r.npz:4,4,4`` for an AlphaTensor member, ``runs.json:3``
    for the third document of a list, and the collection's name for its documents.
    """
    fmt = fmt or detect_format(path)
    if fmt in ("json", "fmm"):
        docs = read_json_documents(path)
        if ring is not None:
            docs = [(scheme.with_ring(ring), meta) for scheme, meta in docs]
    else:
        docs = [(scheme, {}) for scheme in read_schemes(path, fmt, ring=ring, verify=False)]
    items = []
    for index, (scheme, meta) in enumerate(docs):
        if fmt == "alphatensor":
            entry = ":" + ",".join(map(str, scheme.target.params))
        else:
            entry = f":{index + 1}" if len(docs) > 1 else ""
        source = meta.get("source") or f"{label}{entry}"
        if meta.get("collection"):
            source = f"{meta['collection']}: {source}"
        items.append((scheme, {
            "method": method or meta.get("method") or DEFAULT_METHOD,
            "seed": meta.get("seed"),
            "source": source,
            "found_at": _found_at(meta.get("found_at")),
            "elapsed_s": _elapsed(meta.get("elapsed_s")),
        }))
    return items


def scheme_files(root: Path) -> list[Path]:
    """Every file below ``root`` whose extension names a scheme format (hidden ones
    and those in hidden folders skipped), in a stable order."""
    return sorted(
        path for path in root.rglob("*")
        if path.suffix.lower() in SCHEME_EXTENSIONS and path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
    )


def _store(catalog: Catalog, items: list[tuple[Scheme, dict[str, Any]]], report: FileImport) -> None:
    """Store one file's schemes in one transaction; when one is wrong, scheme by scheme,
    so the correct ones are kept and the wrong ones listed in ``report``."""
    try:
        results = catalog.add_many(items)
    except VerificationError:
        results = []
        for scheme, meta in items:
            try:
                results.append(catalog.add(scheme, **meta))
            except VerificationError as exc:
                report.refused.append({"target": scheme.target.name, "ring": str(scheme.ring),
                                       "rank": scheme.rank, "reason": str(exc)})
    for result in results:
        (report.stored if result.inserted else report.duplicates).append(result.id)


def import_schemes(
    catalog: Catalog,
    paths: Iterable[str | Path],
    *,
    fmt: str | None = None,
    ring: Ring | None = None,
    method: str | None = None,
    on_file: Callable[[Path, int, int], None] | None = None,
    on_refused: Callable[[str], None] | None = None,
) -> ImportReport:
    """Verify and store the schemes of every path (a file, or a directory read
    recursively); ``on_file(path, done, total)`` follows the progress and
    ``on_refused(line)`` hears of each refusal as it happens."""
    start = time.perf_counter()
    paths = [Path(p) for p in paths]
    named = {path: file_items(path, path.name, fmt, ring, method) for path in paths if not path.is_dir()}
    jobs: list[tuple[Path, Path | None]] = [(path, None) for path in paths if not path.is_dir()]
    for root in (path for path in paths if path.is_dir()):
        jobs += [(path, root) for path in scheme_files(root)]
    files: list[FileImport] = []
    refused_files: list[dict[str, str]] = []
    for done, (path, root) in enumerate(jobs, 1):
        try:
            items = named[path] if root is None else file_items(
                path, path.relative_to(root).as_posix(), fmt, ring, method)
        except TensorGameError as exc:
            refused_files.append({"file": str(path), "reason": str(exc)})
            if on_refused is not None:
                on_refused(f"refused: {exc}")
        else:
            report = FileImport(str(path))
            _store(catalog, items, report)
            files.append(report)
            if on_refused is not None:
                for refused in report.refused:
                    on_refused(f"{path}: {refused['reason']}")
        if on_file is not None:
            on_file(path, done, len(jobs))
    return ImportReport(files, refused_files, time.perf_counter() - start)
