"""``tensorgame verify``: exact check of every scheme in a file."""

from __future__ import annotations

from pathlib import Path

import click

from tensorgame.cli.common import (
    RING,
    check_summary,
    describe_wrong,
    emit_json,
    format_option,
    json_option,
)
from tensorgame.formats import read_schemes
from tensorgame.render.text import header
from tensorgame.tensors.rings import Ring


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--ring", type=RING, help="Read the factors in this ring instead of the file's (e.g. Z, Z2, Q).")
@format_option
@json_option
@click.pass_context
def verify(ctx: click.Context, file: Path, ring: Ring | None, fmt: str | None, as_json: bool) -> None:
    """Verify every scheme in FILE exactly (Brent equations, no floating point).

    Exit status 0 when all are correct, 1 when any is wrong (the wrong tensor entries
    are listed by coordinate names), 2 when FILE cannot be read.
    """
    schemes = read_schemes(file, fmt, ring=ring, verify=False)
    reports = [check_summary(s, s.verify()) for s in schemes]
    all_ok = all(r["ok"] for r in reports)
    if as_json:
        emit_json({"file": str(file), "schemes": reports, "ok": all_ok})
    else:
        for scheme, report in zip(schemes, reports):
            click.echo(f"{'ok   ' if report['ok'] else 'WRONG'}  {header(scheme)}")
            if report["ok"]:
                continue
            for entry in report["wrong"]:
                click.echo(f"    {describe_wrong(entry)}")
            shown = len(report["wrong"])
            more = f" ({report['n_wrong'] - shown} not listed)" if shown < report["n_wrong"] else ""
            click.echo(f"    {report['n_wrong']} wrong tensor entries in {report['ring']}{more}")
        bad = sum(not r["ok"] for r in reports)
        click.echo(f"{file}: {len(reports)} scheme(s), "
                   + ("all correct" if all_ok else f"{bad} wrong"))
    if not all_ok:
        ctx.exit(1)
