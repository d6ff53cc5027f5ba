"""``tensorgame lift``: Hensel-lift mod-p schemes to Z or Q, verify, store."""

from __future__ import annotations

from pathlib import Path

import click

from tensorgame.api import lift as lift_scheme
from tensorgame.cli.common import RING, emit_json, format_option, json_option, state
from tensorgame.formats import read_schemes, write_scheme
from tensorgame.render.text import header
from tensorgame.search.lifting import DEFAULT_ATTEMPTS
from tensorgame.tensors.rings import Ring


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--ring", type=RING, help="Read the factors in this prime field instead of the file's ring.")
@click.option("--attempts", type=click.IntRange(1, 100), default=DEFAULT_ATTEMPTS, show_default=True,
              help="Choices of free variables to try; the lift with the smallest coefficients is kept.")
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
    outcomes = [lift_scheme(s, attempts=attempts, seed=seed, catalog=state().catalog, store=store,
                            source=file.name) for s in schemes]
    if out is not None and outcomes[0].ok:
        write_scheme(outcomes[0].result.scheme, out)
    reports = [
        {"target": o.source.target.name, "from_ring": str(o.source.ring), "rank": o.source.rank,
         "lifted": o.ok, "ring": str(o.result.scheme.ring) if o.ok else None,
         "additions": o.result.scheme.additions if o.ok else None, "reason": o.result.reason,
         "attempts": o.result.attempts, "catalog_id": o.catalog_id, "new_in_catalog": o.new_in_catalog}
        for o in outcomes
    ]
    if as_json:
        emit_json({"file": str(file), "out": str(out) if out is not None and outcomes[0].ok else None,
                   "schemes": reports})
    else:
        for o, rep in zip(outcomes, reports):
            if o.ok:
                where = ""
                if rep["catalog_id"] is not None:
                    known = "" if rep["new_in_catalog"] else ", an equivalent scheme was already"
                    where = f"{known} catalogued as id {rep['catalog_id']}"
                click.echo(f"lifted  {header(o.source)} -> {o.result.scheme.ring}, "
                           f"{rep['additions']} additions{where}")
            else:
                click.echo(f"failed  {header(o.source)}: {o.result.reason}")
        if out is not None and outcomes[0].ok:
            click.echo(f"wrote {out}")
    if not all(o.ok for o in outcomes):
        ctx.exit(1)
