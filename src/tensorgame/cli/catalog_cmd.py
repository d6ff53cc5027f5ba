"""``tensorgame catalog``: list, show, import and export stored schemes."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from tensorgame.catalog import Catalog, CatalogEntry, SkippedRow
from tensorgame.catalog.importing import DEFAULT_METHOD, import_schemes
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
from tensorgame.errors import CatalogError
from tensorgame.formats import detect_format, holds_many, write_schemes
from tensorgame.render.text import algorithm_text
from tensorgame.tensors.rings import Ring, Z
from tensorgame.tensors.target_names import target_key
from tensorgame.tensors.targets import known_ranks


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
    programs: dict[int, int] = {}
    if path.exists():
        with open_catalog(create=False) as cat:
            if best:
                entries = cat.best_per_target(ring, target_key=key)[:limit]
            else:
                entries = cat.list(target_key=key, ring=ring, method=method, limit=limit)
            bad = cat.skipped
            programs = cat.program_additions(entries)
    collection = [_collection_best(e) if best else None for e in entries]
    if as_json:
        emit_json({"catalog": str(path),
                   "entries": [e.to_dict() | {"best_additions": programs.get(e.id)}
                               | ({"collection": c} if best else {}) for e, c in zip(entries, collection)],
                   "bad_rows": [b.to_dict() for b in bad]})
        return
    aside = f", {len(bad)} altered row(s) set aside" if bad else ""
    print_table(
        ("id", "target", "ring", "rank", "additions", "best program", "method", "found (UTC)")
        + (("collection ZT/Z/Q",) if best else ()),
        [(e.id, e.target_name, e.ring, e.rank, e.additions, programs.get(e.id, "-"), e.method,
          e.found_at[:16].replace("T", " "))
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
def _progress(quiet: bool) -> Progress:
    """A progress bar over the files on a terminal's stderr; silent otherwise."""
    console = Console(stderr=True)
    return Progress(
        TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TextColumn("files"),
        TimeElapsedColumn(), console=console, transient=True, disable=quiet or not console.is_terminal,
    )


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
    with open_catalog(create=True) as cat, _progress(as_json) as progress:
        task = progress.add_task("import", total=None)

        def advance(path: Path, done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        def refused(line: str) -> None:
            progress.console.print(line, markup=False, highlight=False, soft_wrap=True)

        report = import_schemes(cat, paths, fmt=fmt, ring=ring, method=method, on_file=advance,
                                on_refused=refused)
    if as_json:
        emit_json({"catalog": str(state().catalog), **report.to_dict()})
    else:
        for f in report.files:
            if Path(f.file) in paths:
                click.echo(f"{f.file}: stored {len(f.stored)}, duplicates {len(f.duplicates)}, "
                           f"refused {len(f.refused)}")
        files = len(report.files) + len(report.refused_files)
        if files > 1:
            unreadable = f", {len(report.refused_files)} not read (listed above)" if report.refused_files else ""
            click.echo(f"total: stored {report.count('stored')}, duplicates {report.count('duplicates')}, "
                       f"wrong schemes refused {report.count('refused')}; {files} files{unreadable}; "
                       f"{report.elapsed_s:.1f} s")
        click.echo(f"catalogue: {state().catalog}")
    if report.count("refused"):
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
