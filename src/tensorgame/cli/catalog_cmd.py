"""``tensorgame catalog``: list, show, import and export stored schemes."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click

from tensorgame.catalog import CatalogEntry
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
from tensorgame.errors import CatalogError, FormatError, VerificationError
from tensorgame.formats import detect_format, read_schemes, write_scheme
from tensorgame.formats.json_format import read_json_documents
from tensorgame.render.text import algorithm_text
from tensorgame.tensors.rings import Ring, Z
from tensorgame.tensors.scheme import Scheme
from tensorgame.tensors.target_names import target_key

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
    """List stored schemes, ordered by target, ring, rank and additions."""
    if best and method:
        raise click.UsageError("--best ranks every method together; drop --method")
    key = target_key(target_spec) if target_spec else None
    path = state().catalog
    if not path.exists():
        entries: list[CatalogEntry] = []
    else:
        with open_catalog(create=False) as cat:
            if best:
                entries = [e for e in cat.best_per_target(ring) if key in (None, e.target_key)][:limit]
            else:
                entries = cat.list(target_key=key, ring=ring, method=method, limit=limit)
    if as_json:
        emit_json({"catalog": str(path), "entries": [e.to_dict() for e in entries]})
        return
    print_table(
        ("id", "target", "ring", "rank", "additions", "method", "found (UTC)"),
        [(e.id, e.target_name, e.ring, e.rank, e.additions, e.method,
          e.found_at[:16].replace("T", " ")) for e in entries],
        title=f"{len(entries)} scheme(s) in {path}",
    )


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


def _import_items(path: Path, fmt: str | None, ring: Ring | None,
                  method: str | None) -> list[tuple[Scheme, dict[str, Any]]]:
    """The schemes of one file with the keyword arguments for ``Catalog.add``.

    A JSON document's own provenance (method, seed, source ...) is kept; otherwise the
    source is the file name plus the entry: ``factorizations_r.npz:4,4,4`` for an
    AlphaTensor member, ``runs.json:3`` for the third document of a list.
    """
    fmt = fmt or detect_format(path)
    if fmt == "json":
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
        items.append((scheme, {
            "method": method or meta.get("method") or DEFAULT_METHOD,
            "seed": meta.get("seed"),
            "source": meta.get("source") or f"{path.name}{entry}",
            "found_at": _found_at(meta.get("found_at")),
            "elapsed_s": _elapsed(meta.get("elapsed_s")),
        }))
    return items


@catalog.command("import")
@click.argument("files", metavar="FILE...", nargs=-1, required=True,
                type=click.Path(dir_okay=False, path_type=Path))
@format_option
@click.option("--ring", type=RING, help="Read the factors in this ring instead of the file's.")
@click.option("--method", help=f"Method recorded for the schemes [default: the file's, else {DEFAULT_METHOD}].")
@json_option
@click.pass_context
def import_cmd(ctx: click.Context, files: tuple[Path, ...], fmt: str | None, ring: Ring | None,
               method: str | None, as_json: bool) -> None:
    """Store the schemes of FILE... after exact verification.

    Every file is read before anything is stored, so an unreadable file (exit 2)
    changes nothing. A wrong scheme is refused (exit 1); the correct ones beside it
    are still stored. An equivalent scheme already stored counts as a duplicate.
    """
    per_file = {path: _import_items(path, fmt, ring, method) for path in files}
    reports = []
    with open_catalog(create=True) as cat:
        for path, items in per_file.items():
            report: dict[str, Any] = {"file": str(path), "stored": [], "duplicates": [], "refused": []}
            for scheme, meta in items:
                try:
                    result = cat.add(scheme, **meta)
                except VerificationError as exc:
                    report["refused"].append({"target": scheme.target.name, "ring": str(scheme.ring),
                                              "rank": scheme.rank, "reason": str(exc)})
                    click.echo(f"{path}: {exc}", err=True)
                    continue
                report["stored" if result.inserted else "duplicates"].append(result.id)
            reports.append(report)
    totals = {k: sum(len(r[k]) for r in reports) for k in ("stored", "duplicates", "refused")}
    if as_json:
        emit_json({"catalog": str(state().catalog), "files": reports, **totals})
    else:
        for r in reports:
            click.echo(f"{r['file']}: stored {len(r['stored'])}, duplicates {len(r['duplicates'])}, "
                       f"refused {len(r['refused'])}")
        if len(reports) > 1:
            click.echo("total: stored {stored}, duplicates {duplicates}, refused {refused}".format(**totals))
    if totals["refused"]:
        ctx.exit(1)


# --- export -------------------------------------------------------------------------------
@catalog.command("export")
@click.argument("entry_id", metavar="[ID]", type=int, required=False)
@click.option("--best", "best_spec", metavar="N,M,P|KEY", help="Export the best scheme of this target.")
@click.option("--ring", type=RING, help="With --best: the ring it must hold in [default: Z].")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="File to write.")
@format_option
@json_option
def export_cmd(entry_id: int | None, best_spec: str | None, ring: Ring | None, output: Path,
               fmt: str | None, as_json: bool) -> None:
    """Write a stored scheme (by ID, or the best one of a target) to a file; the
    format follows the file extension unless --format is given."""
    if (entry_id is None) == (best_spec is None):
        raise click.UsageError("give either an ID or --best TARGET")
    if ring is not None and best_spec is None:
        raise click.UsageError("--ring applies only with --best")
    with open_catalog(create=False) as cat:
        if best_spec is None:
            entry = cat.get(entry_id)
        else:
            key, ring = target_key(best_spec), ring or Z
            entry = cat.best(key, ring)
            if entry is None:
                raise CatalogError(f"no scheme for {key} valid over {ring} in {cat.path}")
    meta = {k: v for k, v in entry.to_dict().items()
            if k in ("method", "seed", "source", "found_at", "elapsed_s") and v is not None}
    write_scheme(entry.scheme, output, fmt, **meta)
    if as_json:
        emit_json({"id": entry.id, "file": str(output), "format": fmt or detect_format(output)})
    else:
        click.echo(f"wrote entry {entry.id} ({entry.target_name} over {entry.ring}, rank {entry.rank}) "
                   f"to {output}")
