"""``tensorgame discover``: search for decompositions of a target with a chosen method
(:func:`tensorgame.api.discover`); ``--method flip`` runs the ``flip`` command, with its
live display and run directory; ``--objective runtime`` picks the fastest of many
equal-rank schemes on this machine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from tensorgame.api import DEFAULT_RING, DiscoverOutcome
from tensorgame.api import discover as discover_api
from tensorgame.cli.common import emit_json, json_option, state
from tensorgame.cli.flip_cmd import flip, flip_options

METHODS = ("agent", "flip")
OBJECTIVES = ("rank", "runtime")


@click.command()
@click.argument("target", nargs=-1, required=True)
@click.option("--method", type=click.Choice(METHODS),
              help="Search method: the trained agent (network + MCTS; default) or flip-graph search "
                   "(the runtime objective's).")
@click.option("--objective", type=click.Choice(OBJECTIVES), default="rank", show_default=True,
              help="rank: lowest rank; runtime: the fastest kernel among equal-rank schemes here.")
@click.option("--checkpoint", metavar="FILE|bundled:NAME",
              help="Network checkpoint (method agent), e.g. RUN_DIR/checkpoints/latest.pt, or a "
                   "network bundled with the package (bundled:2x2x2, bundled:2x2xn-z2, bundled:2x2xn-z); default: "
                   "the bundled one trained on the target and ring.")
@click.option("--ring", metavar="RING",
              help=f"agent: Z, Z2 or Z<p>; flip: Z2, ZT, Z3 or Z (search mod 2, then lift); default "
                   f"{DEFAULT_RING}. runtime: Z (walk mod 2, keep the schemes that Hensel-lift to Z; "
                   f"default) or ZT (ternary walk).")
@click.option("--workers", type=click.IntRange(min=1), help="flip: worker processes (default: every core).")
@click.option("--resume", is_flag=True, help="flip: continue the checkpointed run.")
@click.option("--simulations", type=click.IntRange(0, 100_000),
              help="Simulations per move (default: the checkpoint's training setting).")
@click.option("--samples", type=click.IntRange(1, 4096),
              help="Candidate moves sampled per expanded node, K (default: as trained).")
@click.option("--episodes", type=click.IntRange(1, 10_000_000), default=64, show_default=True,
              help="Games to play (at most).")
@click.option("--time", "time_limit", metavar="DURATION", help="Stop after this long, e.g. 60s, 5m.")
@click.option("--batch", type=click.IntRange(1, 4096), default=16, show_default=True,
              help="Games searched together (one batched network call serves them all).")
@click.option("--bases", type=click.IntRange(0, 10_000_000), default=0, show_default=True,
              help="Play each game in a random basis of a pool of this many (0: canonical basis).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--store/--no-store", default=True, show_default=True,
              help="agent: store the schemes found below the target's naive rank and no worse "
                   "than the session's best (verified).")
@click.option("--schemes", "count", type=click.IntRange(1, 10_000), default=8, show_default=True,
              help="runtime: inequivalent schemes of the best rank to collect and time.")
@click.option("--size", type=click.IntRange(min=1), default=2048, show_default=True,
              help="runtime: time size×size products.")
@click.option("--dtype", type=click.Choice(("float32", "float64")), default="float64", show_default=True,
              help="runtime: element type of the timed products.")
@click.option("--threshold", type=click.IntRange(min=1),
              help="runtime: smallest side a generated kernel still splits (default: codegen's).")
@click.option("--max-error", type=float,
              help="runtime: leave out kernels whose normwise error exceeds this bound.")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the best scheme found to this file (format from the extension).")
@flip_options
@json_option
@click.pass_context
def discover(ctx: click.Context, target: tuple[str, ...], method: str | None, objective: str,
             checkpoint: str | None, ring: str | None, workers: int | None, resume: bool,
             simulations: int | None, samples: int | None, episodes: int, time_limit: str | None,
             batch: int, bases: int, seed: int, store: bool, count: int, size: int, dtype: str,
             threshold: int | None, max_error: float | None, out: Path | None, as_json: bool,
             **flip_settings: Any) -> None:
    """Search for decompositions of TARGET (N M P, or a kind and its parameters) with
    METHOD. Every scheme found is verified exactly; the agent stores in the catalogue
    those below the target's naive rank and no worse than the best of this session
    (distinct schemes of the best rank too), flip its improvements. Prints the best
    rank, how many attempts succeeded and the time; a checkpoint that has not played
    a self-play game yet gets a note on stderr. Options marked flip: apply to --method
    flip only (see `tensorgame flip --help`).

    --objective runtime walks from the naive scheme to the best published rank over Z
    (--goal sets it) and collects --schemes inequivalent schemes of it over Z (--ring Z:
    a mod-2 walk, each new scheme Hensel-lifted, those that lift kept; ZT: a ternary
    walk), stores them, times each generated kernel at --size against numpy.matmul,
    and prints the spread and the fastest."""
    if objective == "runtime":
        res = discover_api(" ".join(target), method=method, objective=objective, ring=ring, time=time_limit,
                           seed=seed, catalog=state().catalog, schemes=count, size=size, dtype=dtype,
                           threshold=threshold, max_error=max_error,
                           **({"goal": flip_settings["goal"]} if flip_settings.get("goal") else {}))
        _report_runtime(res, out, as_json)
        return
    if method == "flip":
        ctx.invoke(flip, words=target, target_spec=None, ring=ring or DEFAULT_RING, time=time_limit or "60",
                   workers=workers, out=out, resume=resume, seed=seed, as_json=as_json, **flip_settings)
        return
    res = discover_api(" ".join(target), method=method or "agent", ring=ring, checkpoint=checkpoint, time=time_limit,
                       episodes=episodes, simulations=simulations, samples=samples, batch=batch,
                       bases=bases, seed=seed, catalog=state().catalog, store=store)
    tgt, req_ring = res.target, res.ring
    if res.details.get("note"):
        click.echo(f"note: {res.details['note']}", err=True)
    if checkpoint is None and not as_json:
        click.echo(f"network: the one bundled with the package ({res.details['checkpoint']}; see docs/agent.md)")
    if out is not None and res.best_scheme is not None:
        from tensorgame.formats import write_scheme

        write_scheme(res.best_scheme, out)
    doc = {"target": tgt.name, "ring": str(req_ring), "method": res.method, "attempts": res.attempts,
           "solved": res.solved, "best_rank": res.best_rank, "best_count": res.best_count,
           "seconds": round(res.seconds, 3), "catalog_ids": res.catalog_ids,
           "new_in_catalog": res.new_in_catalog,
           "out": str(out) if out is not None and res.best_scheme is not None else None, **res.details}
    if as_json:
        emit_json(doc)
        return
    if res.best_rank is None:
        click.echo(f"{tgt.name} over {req_ring}: no decomposition found in {res.attempts} attempts "
                   f"({res.seconds:.1f}s, method {res.method})")
    else:
        click.echo(f"{tgt.name} over {req_ring}: best rank {res.best_rank} "
                   f"({res.best_count} of {res.attempts} attempts; {res.solved} solved at any rank; "
                   f"{res.seconds:.1f}s, method {res.method})")
        if res.catalog_ids:
            click.echo(f"catalogue: {len(res.catalog_ids)} distinct schemes, {res.new_in_catalog} new")
        elif store:
            click.echo(f"catalogue: nothing stored (only schemes below the naive rank {tgt.naive_rank} are stored)")
        if doc["out"]:
            click.echo(f"best scheme written to {out}")
    if res.details.get("best_completed_rank") is not None:
        click.echo(f"unsolved games completed by their residual's slice decomposition: best rank "
                   f"{res.details['best_completed_rank']} (agent moves + algebraic tail; not stored)")


def _report_runtime(res: DiscoverOutcome, out: Path | None, as_json: bool) -> None:
    """Print (or emit as JSON) what the runtime objective timed and which kernel won."""
    from tensorgame.formats import write_scheme

    d = res.details
    if out is not None:
        write_scheme(res.best_scheme, out)
    doc = {"target": res.target.name, "ring": str(res.ring), "method": res.method, "best_rank": res.best_rank,
           "schemes": res.best_count, "seconds": round(res.seconds, 3), "catalog_ids": res.catalog_ids,
           "new_in_catalog": res.new_in_catalog, "out": None if out is None else str(out), **d}
    if as_json:
        emit_json(doc)
        return
    click.echo(f"{res.target.name} over Z: {res.best_count} inequivalent schemes of rank {res.best_rank} "
               f"({d['stopped']}; {d['walk']} walk, {d['walked']} classes visited, {d['flips']:,} flips, "
               f"{res.seconds:.1f}s), {res.new_in_catalog} new in the catalogue")
    click.echo(f"timed {d['timed']} at {d['size']}×{d['size']} {d['dtype']}"
               + (f" ({d['excluded']} over the error bound left out)" if d["excluded"] else "")
               + f": fastest {d['fastest_s']:.4g}s, median {d['median_s']:.4g}s, slowest {d['slowest_s']:.4g}s")
    click.echo(f"fastest: catalogue #{d['winner_id']}, {d['speedup']:.3f}× the speed of numpy.matmul "
               f"({d['library_s']:.4g}s)")
    if out is not None:
        click.echo(f"fastest scheme written to {out}")
