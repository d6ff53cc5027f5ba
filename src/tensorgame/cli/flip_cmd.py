"""``tensorgame flip``: parallel flip-graph discovery with a live display.

:func:`run_flip_discover` does the work and is shared with ``tensorgame discover
--method flip``, which adds :data:`FLIP_OPTIONS` to its own options. Every improvement
is verified, stored in the catalogue (method "flip") and written to ``--out`` as it
happens; the run is checkpointed to a run directory so ``--resume`` continues it
after Ctrl-C or ``kill -9``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from tensorgame.cli.common import CliState, emit_json, json_option
from tensorgame.errors import TargetError
from tensorgame.search.flipgraph.drivers import (
    STRATEGIES,
    FlipOutcome,
    FlipRun,
    Progress,
)
from tensorgame.search.flipgraph.session import START_SYNTAX, flip_rings, flip_search
from tensorgame.tensors.rings import parse_ring
from tensorgame.tensors.scheme import Scheme
from tensorgame.tensors.target_names import resolve_target, target_from_words
from tensorgame.tensors.targets import Target

#: Exit status after Ctrl-C (as the command group's policy).
INTERRUPTED = 130


# --- display --------------------------------------------------------------------------------
def _histogram_text(hist: dict[int, int]) -> str:
    return "  ".join(f"{r}:{c}" for r, c in sorted(hist.items())) or "-"


def _progress_panel(title: str, p: Progress) -> Group:
    table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    table.add_column(no_wrap=True, style="bold")
    table.add_column()
    table.add_row("elapsed", f"{p.elapsed_s:.1f} s of {p.time_s:.0f} s")
    table.add_row("best rank", f"{p.best_rank} over {_ring_words(p.best_ring)}")
    if p.lifted_rank is not None:
        table.add_row("best over Z/Q", f"{p.lifted_rank} over {p.lifted_ring}  (lifts {p.lifts_ok}/{p.lifts_tried})")
    table.add_row("flips", f"{p.flips:,}  ({p.flips_per_s / 1e6:.2f} M/s)")
    table.add_row(p.histogram_label, _histogram_text(p.histogram))
    if p.level is not None:
        table.add_row("pool level", f"{p.level}  (path limit {p.path_limit:,})")
    if p.lift_note:
        table.add_row("lifting", p.lift_note)
    if p.workers_lost:
        table.add_row("workers lost", f"{p.workers_lost} (their walks only; the others go on)")
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
    """``Z2 (holds mod 2 only)``."""
    return f"{ring} ({parse_ring(ring).scope})"


def _summary(outcome: FlipOutcome, out: Path | None) -> dict[str, Any]:
    def entry(scheme: Scheme | None, cid: int | None) -> dict[str, Any] | None:
        if scheme is None:
            return None
        return {"rank": scheme.rank, "ring": str(scheme.ring), "catalog_id": cid,
                "additions": scheme.additions}

    return {
        "target": outcome.target.name, "target_key": outcome.target.key,
        "search_ring": outcome.search_ring, "strategy": outcome.strategy,
        "symmetric": outcome.symmetric, "workers": outcome.workers,
        "best": entry(outcome.best, outcome.best_catalog_id),
        "lifted": entry(outcome.lifted, outcome.lifted_catalog_id),
        "lift_note": outcome.lift_note,
        "elapsed_s": round(outcome.elapsed_s, 3), "total_elapsed_s": round(outcome.total_elapsed_s, 3),
        "flips": outcome.flips, "flips_per_s": round(outcome.flips_per_s), "total_flips": outcome.total_flips,
        "stopped": outcome.stopped, "resumed": outcome.resumed, "run_dir": str(outcome.run_dir),
        "out": None if out is None else str(out), "improvements": outcome.improvements,
        "workers_lost": outcome.workers_lost,
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
    if outcome.workers_lost:
        click.echo(f"  note: {outcome.workers_lost} worker(s) lost during the run; the others went on")
    session = "this session: " if outcome.resumed else ""
    totals = (f"; all sessions: {outcome.total_elapsed_s:.1f} s, {outcome.total_flips:,} flips"
              if outcome.resumed else "")
    click.echo(
        f"stopped ({outcome.stopped}); {session}{outcome.elapsed_s:.1f} s, {outcome.flips:,} flips "
        f"({outcome.flips_per_s / 1e6:.2f} M/s){totals}"
    )
    click.echo(f"run state in {outcome.run_dir} (continue with --resume)")


# --- the shared entry point -----------------------------------------------------------------------
def run_flip_discover(target: Target, *, as_json: bool = False, catalog_path: Path | None = None,
                      out: Path | None = None, **settings: Any) -> int:
    """Run :func:`flip_search` with a live display and print its summary; returns the
    exit status (0, or 130 after Ctrl-C once the summary is printed)."""
    search, lift = flip_rings(settings.get("ring", "Z2"), settings.get("via"))
    workers = settings.get("workers")
    if settings.get("ray"):
        on = f"{workers or 'one per CPU of the cluster'} Ray workers"
    else:
        workers = workers or os.cpu_count() or 1
        on = f"{workers} worker{'s' * (workers > 1)}"
    mode = f"{settings.get('strategy', 'runners')}{', symmetric' if settings.get('symmetric') else ''}, {on}"
    title = f"flip {target.name} over {search}{' -> lifted to Z' if lift else ''} ({mode})"
    start = str(settings.get("start") or "")
    if not as_json and not settings.get("resume") and (start == "agent" or start.startswith("agent:")):
        from tensorgame.training.agent import START_EPISODES

        click.echo(f"start: the agent plays {START_EPISODES} games of {target.name} (network + MCTS); "
                   "the best one, completed over Z_p where unsolved, is where the walk begins")
    with _Reporter(title, as_json) as reporter:
        outcome = flip_search(target, catalog=catalog_path, out=out, on_progress=reporter,
                              on_start=reporter.resumed if settings.get("resume") else None, **settings)
    if as_json:
        emit_json(_summary(outcome, out))
    else:
        _print_summary(outcome, out, lift)
    if outcome.stopped == "interrupted":
        click.echo("interrupted", err=True)
        return INTERRUPTED
    return 0


# --- options and the standalone command ------------------------------------------------------------
FLIP_OPTIONS: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
    click.option("--start", metavar="SPEC", help=f"Start scheme: {START_SYNTAX}. Default: naive."),
    click.option("--strategy", type=click.Choice(STRATEGIES), default="runners", show_default=True,
                 help="Copy-best runners (tfg); lineages: runners that each follow their own improvements "
                      "and start over from the start scheme when they stall; or level-by-level pools (flip-cpd)."),
    click.option("--symmetric", is_flag=True,
                 help="Walk schemes invariant under the cyclic symmetry (square formats up to <8,8,8>, Z2)."),
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
    click.option("--ray", metavar="auto|ADDRESS",
                 help="Run the workers as Ray actors on this cluster (optional 'ray' extra); "
                      "--workers then defaults to the cluster's CPUs."),
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
@click.option("--target", "target_spec", metavar="TARGET",
              help="The target as one word (4,4,4, polymul:3,3) or a tensor file (.npy or JSON), "
                   "instead of N M P.")
@click.option("--ring", default="Z2", show_default=True, metavar="Z2|Z3|ZT|Z",
              help="Search ring; Z searches mod 2 (see --via) and lifts every improvement.")
@click.option("--time", default="60", show_default=True, metavar="DURATION",
              help="Time budget: seconds, or 90s, 10m, 2h, 1h30m, 1d.")
@click.option("--workers", type=click.IntRange(min=1), help="Worker processes (default: every core).")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Keep the best scheme in this file (format from the extension).")
@click.option("--resume", is_flag=True, help="Continue the run checkpointed in the run directory.")
@click.option("--seed", type=int, default=0, show_default=True)
@flip_options
@json_option
@click.pass_context
def flip(ctx: click.Context, words: tuple[str, ...], target_spec: str | None, ring: str, time: str,
         workers: int | None, out: Path | None, resume: bool, seed: int, as_json: bool,
         **options: Any) -> None:
    """Search for low-rank schemes with the flip graph on every core, e.g.
    ``tensorgame flip 3 3 3 --ring Z2 --time 20``.

    Every improvement is verified, stored in the catalogue (method "flip") and written
    to --out at once; the run is checkpointed so that --resume continues it.

    Formats with factors of up to 256 entries: matmul sides up to 16 (<16,16,16>;
    --symmetric up to <8,8,8>). Large formats start best from a meta move, e.g.
    ``tensorgame flip 12 12 12 --start meta:6,6,6*2,2,2`` (a product) or
    ``tensorgame flip 4 5 5 --start meta:2,5,5+2,5,5`` (a direct sum).
    """
    if target_spec is not None and words:
        raise TargetError("give either N M P (or a kind) or --target, not both")
    target = resolve_target(target_spec) if target_spec is not None else target_from_words(words)
    code = run_flip_discover(target, ring=ring, time=time, workers=workers, out=out, resume=resume,
                             seed=seed, as_json=as_json, catalog_path=_catalog_from_context(), **options)
    sys.stdout.flush()
    ctx.exit(code)
