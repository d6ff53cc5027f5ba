"""Pieces shared by the commands: option types, target parsing, catalogue access and
output helpers, so every command reads its inputs and reports in the same way."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tensorgame.api import scheme
from tensorgame.catalog import Catalog, default_catalog_path
from tensorgame.errors import CatalogError, RingError
from tensorgame.formats import FORMATS
from tensorgame.tensors.rings import Ring, parse_ring
from tensorgame.tensors.scheme import Scheme
from tensorgame.tensors.verify import Verification


class RingType(click.ParamType):
    """``--ring Z|Q|Z2|Z<p>``: parsed at the command line so a typo is a usage error."""

    name = "ring"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Ring:
        try:
            return parse_ring(value)
        except RingError as exc:
            self.fail(str(exc), param, ctx)


RING = RingType()
FORMAT = click.Choice(FORMATS)

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document to stdout instead of text."
)
format_option = click.option(
    "--format", "fmt", type=FORMAT, help="File format (default: detected from the file)."
)


# --- catalogue --------------------------------------------------------------------------
@dataclass(frozen=True)
class CliState:
    """What the group options decide for every command."""

    catalog_path: Path | None

    @property
    def catalog(self) -> Path:
        return self.catalog_path or default_catalog_path()


def state() -> CliState:
    return click.get_current_context().find_object(CliState)


@contextmanager
def open_catalog(*, create: bool) -> Iterator[Catalog]:
    """The chosen catalogue. A command that only reads (``create=False``) opens it
    read-only: it never creates, migrates or changes the file, so read-only media work.
    Rows the command set aside as altered are reported on stderr, one line each."""
    path = state().catalog
    if not create and not path.exists():
        raise CatalogError(f"no catalogue at {path} (store schemes with `tensorgame catalog import`)")
    with Catalog(path, read_only=not create) as catalog:
        try:
            yield catalog
        finally:  # also before the command's own error line
            for bad in catalog.skipped:
                click.echo(f"warning: catalogue entry {bad.id} set aside: {bad.reason}", err=True)


# --- reporting --------------------------------------------------------------------------
def emit_json(doc: Any) -> None:
    click.echo(json.dumps(doc, indent=2))


def _cell(value: Any) -> Text:
    """Literal text (a file name with brackets is not rich markup)."""
    return Text("" if value is None else str(value))


def print_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> None:
    """A rich table on stdout (plain text when stdout is not a terminal)."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*map(_cell, row))
    Console(highlight=False).print(table)


def print_fields(rows: Sequence[tuple[str, Any]]) -> None:
    """Name/value lines, aligned (for one object's properties)."""
    table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    for name, value in rows:
        table.add_row(_cell(name), _cell(value))
    Console(highlight=False).print(table)


def describe_wrong(entry: dict[str, Any]) -> str:
    """``T[a11, b12, c12]: expected 1, got 0``."""
    return f"T[{', '.join(entry['labels'])}]: expected {entry['expected']}, got {entry['got']}"


def check_summary(scheme: Scheme, check: Verification) -> dict[str, Any]:
    """The JSON report of one scheme's verification; wrong tensor entries carry their
    coordinate names (a11, b12, c12) beside their indices."""
    names = scheme.target.labels()
    wrong = [
        {"index": list(e.index), "labels": [axis[i] for axis, i in zip(names, e.index)],
         "expected": e.expected, "got": e.got}
        for e in check.wrong
    ]
    return {"target": scheme.target.name, "ring": str(check.ring), "rank": scheme.rank,
            "ok": check.ok, "n_wrong": check.n_wrong, "wrong": wrong}


def load_scheme_arg(source: str) -> Scheme:
    """A verified scheme named on the command line: a file holding exactly one scheme,
    or the id of a catalogue entry in the chosen catalogue (verified on reading)."""
    return scheme(source, catalog=state().catalog)
