"""``tensorgame show``: read an algorithm from a file or the catalogue, print it, draw it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from tensorgame.cli.catalog_cmd import print_entry
from tensorgame.api import is_entry_id
from tensorgame.cli.common import (
    RING,
    check_summary,
    emit_json,
    format_option,
    json_option,
    open_catalog,
)
from tensorgame.formats import read_schemes
from tensorgame.render import algorithm_text, plot_factors
from tensorgame.tensors.rings import Ring
from tensorgame.tensors.target_names import resolve_target


@click.command()
@click.argument("source", metavar="FILE|ID")
@click.option("-o", "--out", "png", type=click.Path(dir_okay=False, path_type=Path),
              help="Also draw the factor matrices to this PNG file.")
@click.option("--target", metavar="TARGET", help="In a file of several schemes, only this target's (4,4,4 or a tensor file).")
@click.option("--ring", type=RING, help="Read the file's factors in this ring.")
@format_option
@json_option
@click.pass_context
def show(ctx: click.Context, source: str, png: Path | None, target: str | None, ring: Ring | None,
         fmt: str | None, as_json: bool) -> None:
    """Print the algorithm of a scheme file, or of catalogue entry ID.

    A file is shown as it is, even when wrong: a warning line then says that it does
    not verify, and the exit status is 1 as for every wrong scheme. --out (a PNG
    drawing) needs a single scheme (use --target in a file of several).
    """
    path = Path(source)
    if not path.exists() and is_entry_id(source):
        if target or ring or fmt:
            raise click.UsageError("--target, --ring and --format apply only to a file")
        with open_catalog(create=False) as cat:
            entry = cat.get(int(source))
        if png:
            plot_factors(entry.scheme, png)
        print_entry(entry, as_json)
        if png and not as_json:
            click.echo(f"drew the factor matrices to {png}")
        return
    schemes = read_schemes(path, fmt, ring=ring, target=target and resolve_target(target), verify=False)
    if png and len(schemes) > 1:
        raise click.UsageError(f"{path} holds {len(schemes)} schemes; pick one with --target for --out")
    if png:
        plot_factors(schemes[0], png)
    docs: list[dict[str, Any]] = []
    for scheme in schemes:
        check = scheme.verify()
        text = algorithm_text(scheme)
        docs.append({**check_summary(scheme, check), "additions": scheme.additions, "text": text})
        if as_json:
            continue
        if docs[1:]:
            click.echo()
        if not check.ok:
            click.echo(f"warning: this scheme does NOT verify over {check.ring} "
                       f"({check.n_wrong} wrong tensor entries; see `tensorgame verify`)", err=True)
        click.echo(text, nl=False)
    if as_json:
        emit_json({"file": str(path), "png": str(png) if png else None, "schemes": docs})
    elif png:
        click.echo(f"drew the factor matrices to {png}")
    if not all(doc["ok"] for doc in docs):
        ctx.exit(1)
