"""``tensorgame flip``: parallel flip-graph discovery with a live display.

:func:`run_flip_discover` does the work and is shared with ``tensorgame discover
--method flip``, which adds :data:`FLIP_OPTIONS` to its own options. Every improvement
is verified, stored in the catalogue (method "flip") and written to ``--out`` as it
happens; the run is checkpointed to a run directory so ``--resume`` continues it
after Ctrl-C or ``kill -9``.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from tensorgame.catalog import Catalog, default_catalog_path
from tensorgame.cli.common import CliState, emit_json, json_option, target_from_words
from tensorgame.errors import RingError, TargetError, TensorGameError
from tensorgame.formats import read_scheme
from tensorgame.search.flipgraph.drivers import (
    STRATEGIES,
    FlipOutcome,
    FlipRun,
    FlipSettings,
    Progress,
    SearchSpace,
)
from tensorgame.search.flipgraph.packing import check_lengths, search_ring
from tensorgame.tensors.meta import adapt, product
from tensorgame.tensors.scheme import Scheme, naive_scheme
from tensorgame.tensors.targets import Target, load_target_file, matmul_target

#: Exit status after Ctrl-C (as the command group's policy).
INTERRUPTED = 130
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}
_START_SYNTAX = "naive, best, FILE, catalog:ID or meta:SOURCE[*SOURCE] (SOURCE: N,M,P | catalog:ID | FILE)"


# --- parsing --------------------------------------------------------------------------------
def parse_duration(text: str | float) -> float:
    """Seconds from ``90``, ``90s``, ``10m``, ``2h`` or ``1h30m``."""
    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        parts = re.findall(r"(\d+(?:\.\d*)?|\.\d+)\s*([smh]?)", text.strip().lower())
        joined = "".join(f"{a}{b}" for a, b in parts)
        if not parts or joined != re.sub(r"\s+", "", text.strip().lower()):
            raise TensorGameError(f"--time: {text!r} is not a duration (use seconds, or 90s, 10m, 2h, 1h30m)")
        seconds = sum(float(a) * _UNITS[b] for a, b in parts)
    if not seconds > 0 or seconds == float("inf"):
        raise TensorGameError(f"--time must be positive, got {text!r}")
    return seconds


def parse_flip_ring(ring: Any, via: str | None = None) -> tuple[str, bool]:
    """(search ring, lift?) for ``--ring``: Z2, Z3, ZT search in that ring; Z (or Q)
    searches in ``via`` (default Z2) and Hensel-lifts the improvements."""
    text = str(ring).strip().upper()
    if text in ("Z", "Q"):
        return search_ring(via or "Z2"), search_ring(via or "Z2") != "ZT"
    if via is not None:
        raise RingError("--via only applies to --ring Z (search in one ring, lift to the integers)")
    try:
        return search_ring(text), False
    except RingError:
        raise RingError(f"unknown ring {ring!r} for flip: use Z2, Z3, ZT (ternary) or Z (search and lift)") from None


def _run_slug(space: SearchSpace, strategy: str, lift: bool) -> str:
    key = re.sub(r"[^A-Za-z0-9]+", "_", space.target.key).strip("_")
    return f"{key}-{space.ring}{'-sym' if space.symmetric else ''}{'-lift' if lift else ''}-{strategy}"


def _catalog_scheme(catalog: Catalog, spec: str) -> Scheme:
    try:
        entry_id = int(spec.split(":", 1)[1])
    except ValueError:
        raise TensorGameError(f"{spec!r}: a catalogue reference is catalog:ID with an integer id") from None
    return catalog.get(entry_id).scheme


def _best_or_naive(catalog: Catalog, target: Target, ring: str) -> Scheme:
    entry = catalog.best(target, ring)
    return entry.scheme if entry is not None and entry.scheme.denominators is None else naive_scheme(target)


def _source_scheme(spec: str, catalog: Catalog, ring: str) -> Scheme:
    """One meta source: ``N,M,P`` (the catalogue's best valid in ``ring``, else
    naive), ``catalog:ID`` or a scheme file."""
    if spec.startswith("catalog:"):
        return _catalog_scheme(catalog, spec)
    if re.fullmatch(r"\d+,\d+,\d+", spec):
        return _best_or_naive(catalog, matmul_target(*(int(x) for x in spec.split(","))), ring)
    return read_scheme(spec)


def resolve_start(spec: str | None, target: Target, catalog: Catalog, ring: str) -> Scheme:
    """The start scheme named by ``--start`` (see :data:`_START_SYNTAX`); ``ring`` is
    the ring results must hold in (Z2, Z3 or Z), used to pick catalogue entries."""
    spec = (spec or "naive").strip()
    if spec == "naive":
        return naive_scheme(target)
    if spec == "best":
        return _best_or_naive(catalog, target, ring)
    if spec.startswith("meta:"):
        if not target.is_matmul:
            raise TargetError("meta: starts need a matrix multiplication target")
        parts = [_source_scheme(s.strip(), catalog, ring) for s in spec[5:].split("*")]
        if len(parts) > 2:
            raise TensorGameError(f"--start {spec}: at most two sources (a product A*B)")
        scheme = product(*parts) if len(parts) == 2 else parts[0]
        return adapt(scheme, target.params)
    scheme = _catalog_scheme(catalog, spec) if spec.startswith("catalog:") else read_scheme(spec)
    if scheme.target.key != target.key:
        raise TensorGameError(
            f"--start {spec} is a scheme for {scheme.target.name}, not {target.name} "
            f"(use --start meta:{spec} to adapt it)"
        )
    return scheme


# --- display --------------------------------------------------------------------------------
def _histogram_text(hist: dict[int, int]) -> str:
    return "  ".join(f"{r}:{c}" for r, c in sorted(hist.items())) or "-"


def _progress_panel(title: str, p: Progress) -> Group:
    table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    table.add_column(no_wrap=True, style="bold")
    table.add_column()
    table.add_row("elapsed", f"{p.elapsed_s:.1f} s of {p.time_s:.0f} s")
    ring_note = " (mod 2 only)" if p.best_ring == "Z2" else " (mod 3 only)" if p.best_ring == "Z3" else ""
    table.add_row("best rank", f"{p.best_rank} over {p.best_ring}{ring_note}")
    if p.lifted_rank is not None:
        table.add_row("best over Z/Q", f"{p.lifted_rank} over {p.lifted_ring}  (lifts {p.lifts_ok}/{p.lifts_tried})")
    table.add_row("flips", f"{p.flips:,}  ({p.flips_per_s / 1e6:.2f} M/s)")
    table.add_row(p.histogram_label, _histogram_text(p.histogram))
    if p.level is not None:
        table.add_row("pool level", f"{p.level}  (path limit {p.path_limit:,})")
    if p.lift_note:
        table.add_row("lifting", p.lift_note)
    recent = "  ".join(f"{i['rank']}{'Z' if i.get('lifted') else ''}@{i['elapsed_s']:.1f}s"
                       for i in p.improvements[-6:])
    table.add_row("improvements", recent or "-")
    return Group(Text(title, style="bold"), table)


class _Reporter:
    """Live rich panel on a terminal; otherwise one line per improvement (stderr under
    --json, so stdout stays one JSON document)."""

    def __init__(self, title: str, as_json: bool) -> None:
        self.title = title
        console = Console(highlight=False)
        self.live: Live | None = None
        if console.is_terminal and not as_json:
            self.live = Live(console=console, refresh_per_second=4, transient=False)
        self.seen = 0
        self.quiet = as_json

    def __enter__(self) -> _Reporter:
        if self.live is not None:
            self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.stop()

    def resumed(self, session: FlipRun) -> None:
        """Announce what the resumed run had done; report only what is new."""
        self.seen = len(session.improvements)
        if self.live is None and not self.quiet:
            click.echo(f"resuming {session.run_dir}: {session.elapsed_before:.1f} s and "
                       f"{session.flips_before:,} flips so far, best rank {session.best.rank}")

    def __call__(self, p: Progress) -> None:
        if self.live is not None:
            self.live.update(_progress_panel(self.title, p))
            return
        if self.quiet:
            return
        for imp in p.improvements[self.seen:]:
            what = "lifted" if imp.get("lifted") else "found"
            cid = f", catalogue id {imp['catalog_id']}" if imp.get("catalog_id") is not None else ""
            click.echo(f"{imp['elapsed_s']:8.1f} s  {what} rank {imp['rank']} over {imp['ring']}{cid}")
        self.seen = len(p.improvements)


def _ring_words(ring: str) -> str:
    return {"Z2": "Z2 (holds mod 2 only)", "Z3": "Z3 (holds mod 3 only)",
            "Z": "Z (holds over every ring)", "Q": "Q (rational coefficients)"}.get(ring, ring)


def _summary(outcome: FlipOutcome, workers: int, out: Path | None) -> dict[str, Any]:
    def entry(scheme: Scheme | None, cid: int | None) -> dict[str, Any] | None:
        if scheme is None:
            return None
        return {"rank": scheme.rank, "ring": str(scheme.ring), "catalog_id": cid,
                "additions": scheme.additions}

    return {
        "target": outcome.target.name, "target_key": outcome.target.key,
        "search_ring": outcome.search_ring, "strategy": outcome.strategy,
        "symmetric": outcome.symmetric, "workers": workers,
        "best": entry(outcome.best, outcome.best_catalog_id),
        "lifted": entry(outcome.lifted, outcome.lifted_catalog_id),
        "lift_note": outcome.lift_note,
        "elapsed_s": round(outcome.elapsed_s, 3), "total_elapsed_s": round(outcome.total_elapsed_s, 3),
        "flips": outcome.flips, "flips_per_s": round(outcome.flips_per_s), "total_flips": outcome.total_flips,
        "stopped": outcome.stopped, "resumed": outcome.resumed, "run_dir": str(outcome.run_dir),
        "out": None if out is None else str(out), "improvements": outcome.improvements,
    }


def _print_summary(outcome: FlipOutcome, out: Path | None, lift: bool) -> None:
    best = outcome.best
    first = next((i["elapsed_s"] for i in outcome.improvements
                  if i["rank"] == best.rank and not i.get("lifted")), None)
    when = f" (reached at {first:.1f} s)" if first is not None else " (the start scheme)"
    cid = f", catalogue id {outcome.best_catalog_id}" if outcome.best_catalog_id is not None else ""
    click.echo(f"{outcome.target.name}: best rank {best.rank} over {_ring_words(str(best.ring))}{when}{cid}")
    if lift or str(best.ring) == "Z":
        if outcome.lifted is not None and outcome.lifted is not best:
            lid = f", catalogue id {outcome.lifted_catalog_id}" if outcome.lifted_catalog_id is not None else ""
            click.echo(f"{' ' * len(outcome.target.name)}  best rank {outcome.lifted.rank} over "
                       f"{_ring_words(str(outcome.lifted.ring))}{lid}")
        if outcome.lift_note:
            click.echo(f"  note: {outcome.lift_note}")
    if out is not None:
        click.echo(f"wrote {out}")
    click.echo(
        f"stopped ({outcome.stopped}) after {outcome.elapsed_s:.1f} s, {outcome.flips:,} flips "
        f"({outcome.flips_per_s / 1e6:.2f} M/s); run state in {outcome.run_dir} (continue with --resume)"
    )


# --- the shared entry point -----------------------------------------------------------------------
def run_flip_discover(
    target: Target,
    *,
    ring: Any = "Z2",
    time_s: float | str = 60.0,
    workers: int | None = None,
    out: Path | None = None,
    resume: bool = False,
    start: str | None = None,
    strategy: str = "runners",
    seed: int = 0,
    as_json: bool = False,
    catalog_path: Path | None = None,
    symmetric: bool = False,
    run_dir: Path | None = None,
    goal: int | None = None,
    via: str | None = None,
    plateau: int | None = None,
    split: bool = True,
    pool_size: int = 20,
    runners: int = 2,
    local: int = 8,
) -> int:
    """Run a flip-graph discovery and report it; returns the exit status (0, or 130
    after Ctrl-C, once the summary is printed). User mistakes raise TensorGameError."""
    search, lift = parse_flip_ring(ring, via)
    seconds = parse_duration(time_s)
    check_lengths(target.dims)
    workers = workers or os.cpu_count() or 1
    settings = FlipSettings(strategy=strategy, workers=workers, time_s=seconds, seed=seed, goal=goal,
                            lift=lift, plateau=plateau, runners_per_worker=runners, pool_size=pool_size,
                            local_tries=local)
    space = SearchSpace(target, search, symmetric=symmetric, split=split)
    catalog_path = catalog_path or default_catalog_path()
    with Catalog(catalog_path) as catalog:
        start_scheme = resolve_start(start, target, catalog, "Z" if lift or search == "ZT" else space.result_ring)
        run_dir = run_dir or catalog_path.parent / "flip-runs" / _run_slug(space, strategy, lift)
        mode = f"{strategy}{', symmetric' if symmetric else ''}, {workers} worker{'s' * (workers > 1)}"
        title = f"flip {target.name} over {search}{' -> lifted to Z' if lift else ''} ({mode})"
        interrupted = False
        with _Reporter(title, as_json) as reporter:
            session = FlipRun(space, settings, start_scheme, run_dir=run_dir, catalog=catalog, out=out,
                              resume=resume, on_progress=reporter)
            if resume:
                reporter.resumed(session)
            try:
                outcome = session.run()
            except KeyboardInterrupt:
                interrupted = True
                outcome = session.outcome
    if as_json:
        emit_json(_summary(outcome, workers, out))
    else:
        _print_summary(outcome, out, lift)
    if interrupted:
        click.echo("interrupted", err=True)
        return INTERRUPTED
    return 0


# --- options and the standalone command ------------------------------------------------------------
FLIP_OPTIONS: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
    click.option("--start", metavar="SPEC", help=f"Start scheme: {_START_SYNTAX}. Default: naive."),
    click.option("--strategy", type=click.Choice(STRATEGIES), default="runners", show_default=True,
                 help="Copy-best runners (tfg) or level-by-level pools (flip-cpd)."),
    click.option("--symmetric", is_flag=True,
                 help="Walk schemes invariant under the cyclic symmetry (square formats, Z2)."),
    click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path),
                 help="Checkpoint directory (default: beside the catalogue, per target and ring)."),
    click.option("--goal", type=click.IntRange(min=1), help="Stop once a scheme of this rank is found (with --ring Z: a lifted one)."),
    click.option("--via", metavar="RING", help="With --ring Z: the ring searched before lifting (Z2, Z3, ZT)."),
    click.option("--plateau", type=click.IntRange(min=1),
                 help="Flips without a rank drop before a plus transition (default per ring)."),
    click.option("--split/--no-split", default=True, show_default=True,
                 help="Escape plateaus by plus transitions or splits (½ each), or plus transitions only."),
    click.option("--pool-size", type=click.IntRange(min=1), default=20, show_default=True,
                 help="Pool strategy: schemes collected below a level before moving down."),
    click.option("--runners", type=click.IntRange(min=1), default=2, show_default=True,
                 help="Runners strategy: runners per worker process."),
    click.option("--local", type=click.IntRange(min=0), default=8, show_default=True,
                 help="Runners strategy: local descents (small neighbourhoods walked alone) per "
                      "runner restart, within a quarter of the time; 0 turns them off."),
]


def flip_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Apply :data:`FLIP_OPTIONS` to a command."""
    for option in reversed(FLIP_OPTIONS):
        command = option(command)
    return command


def _catalog_from_context() -> Path | None:
    state = click.get_current_context().find_object(CliState)
    return state.catalog if state is not None else None


@click.command()
@click.argument("words", nargs=-1, metavar="[N M P | KIND PARAMS...]")
@click.option("--target", "target_file", type=click.Path(dir_okay=False, path_type=Path),
              help="A user tensor (.npy or JSON) instead of N M P.")
@click.option("--ring", default="Z2", show_default=True, metavar="Z2|Z3|ZT|Z",
              help="Search ring; Z searches mod 2 (see --via) and lifts every improvement.")
@click.option("--time", "time_s", default="60", show_default=True, metavar="DURATION",
              help="Time budget: seconds, or 90s, 10m, 2h.")
@click.option("--workers", type=click.IntRange(min=1), help="Worker processes (default: every core).")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Keep the best scheme in this file (format from the extension).")
@click.option("--resume", is_flag=True, help="Continue the run checkpointed in the run directory.")
@click.option("--seed", type=int, default=0, show_default=True)
@flip_options
@json_option
@click.pass_context
def flip(ctx: click.Context, words: tuple[str, ...], target_file: Path | None, ring: str, time_s: str,
         workers: int | None, out: Path | None, resume: bool, seed: int, as_json: bool,
         **options: Any) -> None:
    """Search for low-rank schemes with the flip graph on every core, e.g.
    ``tensorgame flip 3 3 3 --ring Z2 --time 20``.

    Every improvement is verified, stored in the catalogue (method "flip") and written
    to --out at once; the run is checkpointed so that --resume continues it.
    """
    if target_file is not None and words:
        raise TargetError("give either N M P (or a kind) or --target FILE, not both")
    if target_file is None and not words:
        raise TargetError("name a target: N M P, skew_matvec N, polymul N M, or --target FILE")
    target = load_target_file(target_file) if target_file is not None else target_from_words(list(words))
    code = run_flip_discover(target, ring=ring, time_s=time_s, workers=workers, out=out, resume=resume,
                             seed=seed, as_json=as_json, catalog_path=_catalog_from_context(), **options)
    sys.stdout.flush()
    ctx.exit(code)
