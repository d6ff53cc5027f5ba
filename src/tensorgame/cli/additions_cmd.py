"""``tensorgame additions``: the fewest block additions found for one level of a
scheme, beside the collection's published count, written as a program."""

from __future__ import annotations

from pathlib import Path

import click

from tensorgame.api import minimise_additions
from tensorgame.cli.common import (
    emit_json,
    json_option,
    state,
)


@click.command()
@click.argument("source", metavar="SCHEME|ID")
@click.option("--time", "duration", help="Search budget, e.g. 30s or 5m (default: a fixed, seeded number of rounds).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--search", "iterations", type=click.IntRange(0), default=300, show_default=True,
              help="Moves of each equivalent-form search (as in codegen).")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the program: .slp (our listing) or .json (the collection's reduced format).")
@click.option("--format", "fmt", type=click.Choice(["slp", "fmm"]), help="Format of -o (default: from its extension).")
@click.option("--store", is_flag=True, help="Keep the program as the catalogue's best known one when it is better.")
@json_option
def additions(source: str, duration: str | None, seed: int, iterations: int, out: Path | None, fmt: str | None,
              store: bool, as_json: bool) -> None:
    """Minimise the additions of one level of SCHEME (a file or catalogue id, over Z or Q).

    Starts from codegen's equivalent-form search and, for a reduced file of the
    FastMatrixMultiplication collection (or a catalogue entry with a stored program),
    from that program; keeps the better and searches further. Additions are counted as
    the collection counts them: per row and intermediate, terms minus one.
    """
    made = minimise_additions(source, time=duration, seed=seed, iterations=iterations, out=out, fmt=fmt,
                              catalog=state().catalog, store=store)
    found = made.search
    if as_json:
        emit_json(found.summary() | {"start_additions": made.start_additions, "catalog_id": made.catalog_id,
                                     "stored": made.stored, "out": None if made.out is None else str(made.out)})
        return
    s = found.summary()
    line = (f"{s['target']} over {s['ring']}, rank {s['rank']}: additions {s['additions_naive']} as written -> "
            f"{s['additions_cse']} with CSE -> {s['additions_form_search']} after form search -> "
            f"{found.additions} best ({found.source})")
    if made.start_additions is not None:
        line += f"; starting program (e.g. the collection's published one): {made.start_additions}"
    click.echo(line)
    if made.out is not None:
        click.echo(f"wrote {made.out}")
    if store:
        verdict = "now keeps" if made.stored else "keeps its own, no worse than"
        click.echo(f"catalogue entry {made.catalog_id} {verdict} this program of {found.additions} additions")
