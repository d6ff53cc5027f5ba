"""``tensorgame train``: train the AlphaTensor-style agent from a config file."""

from __future__ import annotations

from pathlib import Path

import click

from tensorgame.api import train as train_api
from tensorgame.cli.common import emit_json, json_option, state


@click.command()
@click.argument("config", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Run directory (default: runs/<config name>).")
@click.option("--resume", is_flag=True, help="Continue the run in --run-dir from its last checkpoint.")
@click.option("--time", "time_limit", metavar="DURATION",
              help="Stop after this long, e.g. 90s, 30m, 1h (this session; overrides run.time_limit_s).")
@click.option("--ray", "ray_address", metavar="ADDRESS|auto",
              help="Run the self-play actors as Ray actors on this cluster (optional 'ray' extra).")
@click.option("--init", metavar="bundled[:NAME]|CHECKPOINT",
              help="Start a new run from these weights: a network shipped with the package "
                   "('bundled': bundled:2x2x2; or bundled:2x2xn-z2, bundled:2x2xn-z; see docs/agent.md for the "
                   "[network] settings each needs) or a checkpoint.")
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
@json_option
@click.pass_context
def train(ctx: click.Context, config: Path | None, run_dir: Path | None, resume: bool,
          time_limit: str | None, ray_address: str | None, init: str | None, quiet: bool,
          as_json: bool) -> None:
    """Train on the targets and rings of CONFIG (TOML or JSON): supervised learning on
    synthetic demonstrations (alone during the first learner.warmup_steps steps, the
    warm-up, which the display and the summary name), then mixed with self-play (tree
    search guided by the network, games in random bases). Every decomposition found is
    verified; it is stored in the catalogue at once (method 'agent') when it beats the
    target's naive rank and is no worse than the run's best for its target and ring.

    The run directory gets config.json, metrics.jsonl, TensorBoard logs (tb/),
    checkpoints/latest.pt and replay.npz. Ctrl-C or SIGTERM stop the run cleanly with a
    checkpoint (exit 130 after Ctrl-C); --resume continues it, also after a kill -9.
    Plot the metrics with `tensorgame report RUN_DIR`.
    """
    if config is None and not resume:
        raise click.UsageError("give a CONFIG file (or --resume with --run-dir)")
    if resume and run_dir is None:
        raise click.UsageError("--resume needs --run-dir")
    summary = train_api(config, run_dir=run_dir, resume=resume, time=time_limit, ray=ray_address,
                        catalog=state().catalog, quiet=quiet or as_json, init=init)
    doc = {"run_id": summary.run_id, "run_dir": str(summary.run_dir), "step": summary.step,
           "elapsed_s": round(summary.elapsed_s, 1), "session_s": round(summary.session_s, 1),
           "games": summary.games, "found": summary.found, "best": summary.best,
           "stopped": summary.reason, "phase": summary.phase, "warmup_steps": summary.warmup_steps,
           "checkpoint": str(summary.checkpoint)}
    if as_json:
        emit_json(doc)
    else:
        best = ", ".join(f"{k} {v if v is not None else '-'}" for k, v in summary.best.items())
        click.echo(f"{summary.reason}: {summary.progress()}; {summary.elapsed_s:.0f}s "
                   f"trained in all sessions ({summary.session_s:.0f}s in this one); best ranks: {best}")
        click.echo(f"checkpoint: {summary.checkpoint}")
    if summary.reason == "interrupted":
        ctx.exit(130)
