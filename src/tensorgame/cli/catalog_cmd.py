"""``tensorgame catalog``: list, show, import and export stored schemes."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tensorgame.catalog import Catalog, CatalogEntry, SkippedRow
from tensorgame.cli.common import (
    RING,
    emit_json,
    format_option,
    json_option,
    open_catalog,
    print_fields,
    print_table,
    state,
)
from tensorgame.errors import CatalogError, FormatError, TensorGameError, VerificationError
from tensorgame.formats import SCHEME_EXTENSIONS, detect_format, holds_many, read_schemes, write_schemes
from tensorgame.formats.json_format import read_json_documents
from tensorgame.render.text import algorithm_text
from tensorgame.tensors.rings import Ring, Z
from tensorgame.tensors.scheme import Scheme
from tensorgame.tensors.target_names import target_key
from tensorgame.tensors.targets import known_ranks

DEFAULT_METHOD = "imported"


@click.group()
def catalog() -> None:
    """The catalogue of verified schemes (see --catalog)."""


# --- list / show --------------------------------------------------------------------------
@catalog.command("list")
@click.option("--target", "target_spec", metavar="N,M,P|KEY", help="Only this target.")
@click.option("--ring", type=RING, help="Only schemes stored in this ring (with --best: valid in it).")
@click.option("--method", help="Only schemes found by this method.")
@click.option("--best", is_flag=True, help="Only the best scheme of each target (and ring).")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many rows.")
@json_option
def list_cmd(target_spec: str | None, ring: Ring | None, method: str | None, best: bool,
             limit: int | None, as_json: bool) -> None:
    """List stored schemes, ordered by target, ring, rank and additions.

    Rows altered since they were verified and now wrong are set aside: one warning
    line each on stderr (and "bad_rows" in --json); the others are still listed."""
    if best and method:
        raise click.UsageError("--best ranks every method together; drop --method")
    key = target_key(target_spec) if target_spec else None
    path = state().catalog
    entries: list[CatalogEntry] = []
    bad: list[SkippedRow] = []
    if path.exists():
        with open_catalog(create=False) as cat:
            if best:
                entries = cat.best_per_target(ring, target_key=key)[:limit]
            else:
                entries = cat.list(target_key=key, ring=ring, method=method, limit=limit)
            bad = cat.skipped
    collection = [_collection_best(e) if best else None for e in entries]
    if as_json:
        emit_json({"catalog": str(path),
                   "entries": [e.to_dict() | ({"collection": c} if best else {}) for e, c in zip(entries, collection)],
                   "bad_rows": [b.to_dict() for b in bad]})
        return
    aside = f", {len(bad)} altered row(s) set aside" if bad else ""
    print_table(
        ("id", "target", "ring", "rank", "additions", "method", "found (UTC)")
        + (("collection ZT/Z/Q",) if best else ()),
        [(e.id, e.target_name, e.ring, e.rank, e.additions, e.method, e.found_at[:16].replace("T", " "))
         + (("/".join("-" if r is None else str(r) for r in c.values()) if c else "-",) if best else ())
         for e, c in zip(entries, collection)],
        title=f"{len(entries)} scheme(s) in {path}{aside}",
    )


def _collection_best(entry: CatalogEntry) -> dict[str, int | None] | None:
    """The FastMatrixMultiplication collection's best rank per ring for the entry's format."""
    known = known_ranks(*entry.target.params) if entry.target.is_matmul else None
    if known is None:
        return None
    return {"ZT": known.collection_zt, "Z": known.collection_z, "Q": known.collection_q}


@catalog.command("show")
@click.argument("entry_id", metavar="ID", type=int)
@json_option
def show_entry(entry_id: int, as_json: bool) -> None:
    """Show a stored scheme: its provenance and the algorithm."""
    with open_catalog(create=False) as cat:
        entry = cat.get(entry_id)
    print_entry(entry, as_json)


def print_entry(entry: CatalogEntry, as_json: bool) -> None:
    """Metadata and algorithm of a catalogue entry (shared with ``tensorgame show ID``)."""
    text = algorithm_text(entry.scheme)
    if as_json:
        emit_json({**entry.to_dict(include_factors=True), "text": text})
        return
    print_fields([(name, value) for name, value in entry.to_dict().items() if value is not None])
    click.echo()
    click.echo(text, nl=False)


# --- import -------------------------------------------------------------------------------
def _found_at(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        raise FormatError(f"'found_at' is not an ISO date: {value!r}") from None


def _elapsed(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FormatError(f"'elapsed_s' must be a number of seconds, got {value!r}")
    return float(value)


def _import_items(path: Path, label: str, fmt: str | None, ring: Ring | None,
                  method: str | None) -> list[tuple[Scheme, dict[str, Any]]]:
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


def _scheme_files(root: Path) -> list[Path]:
    """Every file below ``root`` whose extension names a scheme format (hidden ones
    and those in hidden folders skipped), in a stable order."""
    return sorted(
        path for path in root.rglob("*")
        if path.suffix.lower() in SCHEME_EXTENSIONS and path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
    )


def _store(cat: Catalog, items: list[tuple[Scheme, dict[str, Any]]], report: dict[str, Any]) -> None:
    """Store one file's schemes in one transaction; when one is wrong, scheme by scheme,
    so the correct ones are kept and the wrong ones listed in ``report``."""
    try:
        results = cat.add_many(items)
    except VerificationError:
        results = []
        for scheme, meta in items:
            try:
                results.append(cat.add(scheme, **meta))
            except VerificationError as exc:
                report["refused"].append({"target": scheme.target.name, "ring": str(scheme.ring),
                                          "rank": scheme.rank, "reason": str(exc)})
    for result in results:
        report["stored" if result.inserted else "duplicates"].append(result.id)


def _progress(total: int, quiet: bool) -> Progress:
    """A progress bar over the files on a terminal's stderr; silent otherwise."""
    console = Console(stderr=True)
    return Progress(
        TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TextColumn("files"),
        TimeElapsedColumn(), console=console, transient=True,
        disable=quiet or total < 2 or not console.is_terminal,
    )


def _say(progress: Progress, text: str) -> None:
    """One line on stderr, above the progress bar when one is shown."""
    progress.console.print(text, markup=False, highlight=False, soft_wrap=True)


@catalog.command("import")
@click.argument("paths", metavar="PATH...", nargs=-1, required=True, type=click.Path(path_type=Path))
@format_option
@click.option("--ring", type=RING, help="Read the factors in this ring instead of the file's.")
@click.option("--method", help=f"Method recorded for the schemes [default: the file's, else {DEFAULT_METHOD}].")
@json_option
@click.pass_context
def import_cmd(ctx: click.Context, paths: tuple[Path, ...], fmt: str | None, ring: Ring | None,
               method: str | None, as_json: bool) -> None:
    """Store the schemes of each PATH after exact verification in the ring each file
    claims. A PATH may be a file or a directory, read recursively for every scheme file
    (.json, .npz, .txt, .exp, .fg, .m).

    Named files are read before anything is stored, so an unreadable one (exit 2)
    changes nothing; an unreadable file found in a directory is refused and listed, and
    the import goes on. A wrong scheme is refused (exit 1); the correct ones beside it
    are still stored. An equivalent scheme already stored counts as a duplicate. Each
    file is stored in one transaction.
    """
    start = time.perf_counter()
    named = {path: _import_items(path, path.name, fmt, ring, method) for path in paths if not path.is_dir()}
    jobs = [(path, None) for path in paths if not path.is_dir()]
    for root in (path for path in paths if path.is_dir()):
        jobs += [(path, root) for path in _scheme_files(root)]
    reports: list[dict[str, Any]] = []
    refused_files: list[dict[str, str]] = []
    with open_catalog(create=True) as cat, _progress(len(jobs), as_json) as progress:
        task = progress.add_task("import", total=len(jobs))
        for path, root in jobs:
            if root is None:
                items = named[path]
            else:
                try:
                    items = _import_items(path, path.relative_to(root).as_posix(), fmt, ring, method)
                except TensorGameError as exc:
                    refused_files.append({"file": str(path), "reason": str(exc)})
                    _say(progress, f"refused: {exc}")
                    progress.advance(task)
                    continue
            report: dict[str, Any] = {"file": str(path), "stored": [], "duplicates": [], "refused": []}
            _store(cat, items, report)
            for refused in report["refused"]:
                _say(progress, f"{path}: {refused['reason']}")
            reports.append(report)
            progress.advance(task)
    elapsed = time.perf_counter() - start
    totals = {k: sum(len(r[k]) for r in reports) for k in ("stored", "duplicates", "refused")}
    if as_json:
        emit_json({"catalog": str(state().catalog), "files": reports, "refused_files": refused_files,
                   **totals, "elapsed_s": round(elapsed, 3)})
    else:
        for r in reports:
            if Path(r["file"]) in named:
                click.echo(f"{r['file']}: stored {len(r['stored'])}, duplicates {len(r['duplicates'])}, "
                           f"refused {len(r['refused'])}")
        if len(jobs) > 1:
            unreadable = f", {len(refused_files)} refused" if refused_files else ""
            click.echo("total: stored {stored}, duplicates {duplicates}, refused {refused}".format(**totals)
                       + f" ({len(jobs)} files{unreadable}) in {elapsed:.1f} s")
    if totals["refused"]:
        ctx.exit(1)


# --- export -------------------------------------------------------------------------------
def _entries_to_export(cat: Catalog, what: str | None, best_spec: str | None,
                       ring: Ring | None) -> list[CatalogEntry]:
    """The entry ``what`` names (an id, or a target's best per stored ring), or the
    best of ``best_spec`` valid over ``ring``."""
    if what is not None and what.isdigit():
        if ring is not None:
            raise click.UsageError("--ring applies to a target, not to an entry ID")
        return [cat.get(int(what))]
    key = target_key(what if what is not None else best_spec)  # type: ignore[arg-type]
    if what is not None and ring is None:  # the best of every stored ring
        entries = cat.best_per_target(target_key=key)
        if not entries:
            raise CatalogError(f"no scheme for {key} in {cat.path}")
        return entries
    ring = ring or Z
    best = cat.best(key, ring)
    if best is None:
        raise CatalogError(f"no scheme for {key} valid over {ring} in {cat.path}")
    return [best]


@catalog.command("export")
@click.argument("what", metavar="[ID|N,M,P]", required=False)
@click.option("--best", "best_spec", metavar="N,M,P|KEY",
              help="Export the best scheme of this target valid over --ring.")
@click.option("--ring", type=RING, help="With a target: the ring it must hold in [default: Z with --best, "
              "else the best of every stored ring].")
@click.option("-o", "--out", "output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="File to write.")
@format_option
@json_option
def export_cmd(what: str | None, best_spec: str | None, ring: Ring | None, output: Path,
               fmt: str | None, as_json: bool) -> None:
    """Write stored schemes to a file: the entry ID, or the best scheme of a target
    N,M,P in each ring stored (or the one valid over --ring), or with --best TARGET the
    best valid over --ring (default Z). The format follows the file extension unless
    --format is given; a format that holds one scheme per file gets one file per ring,
    named OUTPUT_<ring>.<ext>."""
    if (what is None) == (best_spec is None):
        raise click.UsageError("give either an ID, a target N,M,P or --best TARGET")
    fmt = fmt or detect_format(output)
    with open_catalog(create=False) as cat:
        entries = _entries_to_export(cat, what, best_spec, ring)
    metas = [{k: v for k, v in e.to_dict().items()
              if k in ("method", "seed", "source", "found_at", "elapsed_s") and v is not None}
             for e in entries]
    if len(entries) == 1 or holds_many(fmt):
        files = [(output, entries, metas)]
    else:
        files = [(output.with_name(f"{output.stem}_{e.ring}{output.suffix}"), [e], [meta])
                 for e, meta in zip(entries, metas)]
    for path, group, group_metas in files:
        write_schemes([e.scheme for e in group], path, fmt, metas=group_metas)
    if as_json:
        emit_json({"format": fmt, "files": [
            {"file": str(path), "ids": [e.id for e in group]} for path, group, _ in files]})
    else:
        for path, group, _ in files:
            names = "; ".join(f"entry {e.id} ({e.target_name} over {e.ring}, rank {e.rank})" for e in group)
            click.echo(f"wrote {names} to {path}")
