"""``tensorgame discover``: search for decompositions of a target with a chosen method.

Methods are entries of :data:`METHODS`, each a function of one
:class:`DiscoverRequest` returning a :class:`DiscoverOutcome`; the command parses the
options, checks the ones a method needs (:data:`REQUIRES`), opens the catalogue and
prints the outcome the same way for every method. Adding a method (e.g. ``flip``, the
flip-graph search) is one function plus one entry in each dict.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from tensorgame.cli.common import emit_json, json_option, open_catalog, target_from_words
from tensorgame.cli.flip_cmd import flip, flip_options
from tensorgame.tensors.rings import Ring, parse_ring
from tensorgame.tensors.scheme import Scheme
from tensorgame.tensors.targets import Target


@dataclass(frozen=True)
class DiscoverRequest:
    """The command line, parsed (options a method does not use are ignored by it)."""

    target: Target
    ring: Ring
    seed: int
    time_limit_s: float | None
    episodes: int
    simulations: int | None
    samples: int | None
    checkpoint: Path | None
    batch: int
    bases: int
    store: bool


@dataclass
class DiscoverOutcome:
    """What every method reports: best rank and scheme, how many attempts and
    successes, the time, and the catalogue ids of what was stored."""

    method: str
    attempts: int
    solved: int
    best_rank: int | None
    best_count: int
    seconds: float
    best_scheme: Scheme | None
    catalog_ids: list[int] = field(default_factory=list)
    new_in_catalog: int = 0
    details: dict[str, Any] = field(default_factory=dict)


def _agent(req: DiscoverRequest) -> DiscoverOutcome:
    """Network + MCTS from a training checkpoint (tensorgame.training.agent)."""
    from contextlib import nullcontext

    from tensorgame.training.agent import discover, load_agent

    agent = load_agent(req.checkpoint)
    with (open_catalog(create=True) if req.store else nullcontext()) as catalog:
        res = discover(agent, req.target, req.ring, episodes=req.episodes,
                       simulations=req.simulations, samples=req.samples,
                       time_limit_s=req.time_limit_s, seed=req.seed, batch=req.batch,
                       bases=req.bases, catalog=catalog)
    return DiscoverOutcome(
        "agent", res.episodes, res.solved, res.best_rank, res.best_count, res.seconds,
        res.best_scheme, sorted(set(res.stored)), res.new_in_catalog,
        {"rank_counts": {str(k): v for k, v in sorted(res.rank_counts.items())},
         "simulations": res.simulations, "samples": res.samples,
         "checkpoint": str(req.checkpoint), "checkpoint_step": agent.step,
         "best_completed_rank": res.best_completed_rank})


#: method name -> implementation (``flip`` is forwarded to the ``flip`` command, which
#: has its own live display and run directory).
METHODS: dict[str, Callable[[DiscoverRequest], DiscoverOutcome]] = {"agent": _agent}
ALL_METHODS = sorted([*METHODS, "flip"])
#: method name -> options it cannot do without.
REQUIRES: dict[str, tuple[str, ...]] = {"agent": ("checkpoint",)}


@click.command()
@click.argument("target", nargs=-1, required=True)
@click.option("--method", type=click.Choice(ALL_METHODS), default="agent", show_default=True,
              help="Search method: the trained agent (network + MCTS) or flip-graph search.")
@click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path),
              help="Network checkpoint (method agent), e.g. RUN_DIR/checkpoints/latest.pt.")
@click.option("--ring", metavar="RING", help="agent: Z (default), Z2 or Z<p>; flip: Z2 (default), ZT, Z3 or Z (search mod 2, then lift).")
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
              help="Store every scheme found in the catalogue (verified).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the best scheme found to this file (format from the extension).")
@flip_options
@json_option
@click.pass_context
def discover(ctx: click.Context, target: tuple[str, ...], method: str, checkpoint: Path | None,
             ring: str | None, workers: int | None, resume: bool, simulations: int | None,
             samples: int | None, episodes: int, time_limit: str | None, batch: int, bases: int,
             seed: int, store: bool, out: Path | None, as_json: bool, **flip_settings: Any) -> None:
    """Search for decompositions of TARGET (N M P, or a kind and its parameters) with
    METHOD. Every scheme found is verified exactly and stored in the catalogue; prints
    the best rank, how many attempts succeeded and the time. Options marked flip: apply
    to --method flip only (see `tensorgame flip --help`)."""
    from tensorgame.training.config import parse_duration

    if method == "flip":
        ctx.invoke(flip, words=target, target_file=None, ring=ring or "Z2", time_s=time_limit or "60",
                   workers=workers, out=out, resume=resume, seed=seed, as_json=as_json, **flip_settings)
        return
    tgt = target_from_words(list(target))
    values = {"checkpoint": checkpoint}
    for name in REQUIRES.get(method, ()):
        if values.get(name) is None:
            raise click.UsageError(f"--method {method} needs --{name}")
    req = DiscoverRequest(tgt, parse_ring(ring or "Z"), seed,
                          parse_duration(time_limit) if time_limit is not None else None,
                          episodes, simulations, samples, checkpoint, batch, bases, store)
    res = METHODS[method](req)
    if out is not None and res.best_scheme is not None:
        from tensorgame.formats import write_scheme

        write_scheme(res.best_scheme, out)
    doc = {"target": tgt.name, "ring": str(req.ring), "method": res.method, "attempts": res.attempts,
           "solved": res.solved, "best_rank": res.best_rank, "best_count": res.best_count,
           "seconds": round(res.seconds, 3), "catalog_ids": res.catalog_ids,
           "new_in_catalog": res.new_in_catalog,
           "out": str(out) if out is not None and res.best_scheme is not None else None, **res.details}
    if as_json:
        emit_json(doc)
        return
    if res.best_rank is None:
        click.echo(f"{tgt.name} over {req.ring}: no decomposition found in {res.attempts} attempts "
                   f"({res.seconds:.1f}s, method {res.method})")
    else:
        click.echo(f"{tgt.name} over {req.ring}: best rank {res.best_rank} "
                   f"({res.best_count} of {res.attempts} attempts; {res.solved} solved at any rank; "
                   f"{res.seconds:.1f}s, method {res.method})")
        if res.catalog_ids:
            click.echo(f"catalogue: {len(res.catalog_ids)} distinct schemes, {res.new_in_catalog} new")
        if doc["out"]:
            click.echo(f"best scheme written to {out}")
    if res.details.get("best_completed_rank") is not None:
        click.echo(f"unsolved games completed by their residual's slice decomposition: best rank "
                   f"{res.details['best_completed_rank']} (agent moves + algebraic tail; not stored)")
