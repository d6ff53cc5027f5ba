"""``tensorgame lift``: Hensel-lift mod-p schemes to Z or Q, verify, store."""

from __future__ import annotations

from pathlib import Path

import click

from tensorgame.cli.common import (
    RING,
    emit_json,
    format_option,
    json_option,
    open_catalog,
)
from tensorgame.formats import read_schemes, write_scheme
from tensorgame.render.text import header
from tensorgame.search.lifting import hensel_lift
from tensorgame.tensors.rings import Ring


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--ring", type=RING, help="Read the factors in this prime field instead of the file's ring.")
@click.option("--attempts", type=click.IntRange(1, 100), default=4, show_default=True,
              help="Choices of free variables to try before giving up.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the lifted scheme (one-scheme files only; format from the extension).")
@click.option("--store/--no-store", default=True, show_default=True,
              help="Store lifted schemes in the catalogue (method 'lift').")
@format_option
@json_option
@click.pass_context
def lift(ctx: click.Context, file: Path, ring: Ring | None, attempts: int, seed: int,
         out: Path | None, store: bool, fmt: str | None, as_json: bool) -> None:
    """Lift every mod-p scheme in FILE to the integers (or rationals) by Hensel lifting
    and rational reconstruction; every lifted scheme is verified exactly.

    Exit status 0 when all lift, 1 when some do not (e.g. AlphaTensor's mod-2-only
    <4,4,4> rank 47), 2 for unreadable input.
    """
    schemes = read_schemes(file, fmt, ring=ring)
    if out is not None and len(schemes) != 1:
        raise click.UsageError(f"--out needs a file with one scheme; {file} holds {len(schemes)}")
    results = [hensel_lift(s, attempts=attempts, seed=seed) for s in schemes]
    stored: list[tuple[int, bool] | None] = [None] * len(results)
    if store and any(r.ok for r in results):
        with open_catalog(create=True) as catalog:
            for i, r in enumerate(results):
                if r.ok:
                    added = catalog.add(r.scheme, method="lift", seed=seed, source=file.name)
                    stored[i] = (added.id, added.inserted)
    if out is not None and results[0].ok:
        write_scheme(results[0].scheme, out)
    reports = [
        {"target": s.target.name, "from_ring": str(s.ring), "rank": s.rank, "lifted": r.ok,
         "ring": str(r.scheme.ring) if r.ok else None, "reason": r.reason, "attempts": r.attempts,
         "catalog_id": stored[i][0] if stored[i] else None,
         "new_in_catalog": stored[i][1] if stored[i] else None}
        for i, (s, r) in enumerate(zip(schemes, results))
    ]
    if as_json:
        emit_json({"file": str(file), "schemes": reports})
    else:
        for s, r, rep in zip(schemes, results, reports):
            if r.ok:
                where = ""
                if rep["catalog_id"] is not None:
                    known = "" if rep["new_in_catalog"] else ", an equivalent scheme was already"
                    where = f"{known} catalogued as id {rep['catalog_id']}"
                click.echo(f"lifted  {header(s)} -> {r.scheme.ring}{where}")
            else:
                click.echo(f"failed  {header(s)}: {r.reason}")
    if not all(r.ok for r in results):
        ctx.exit(1)
