"""``tensorgame report``: PNG plots of a training run's metrics."""

from __future__ import annotations

from pathlib import Path

import click

from tensorgame.cli.common import emit_json, json_option


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Directory for the PNG files (default: RUN_DIR/report).")
@json_option
def report(run_dir: Path, out_dir: Path | None, as_json: bool) -> None:
    """Plot RUN_DIR/metrics.jsonl: losses vs step, best rank vs time per target/ring,
    self-play solve rate and return."""
    from tensorgame.training.report import write_report

    paths = write_report(run_dir, out_dir)
    if as_json:
        emit_json({"run_dir": str(run_dir), "files": [str(p) for p in paths]})
    else:
        for p in paths:
            click.echo(f"wrote {p}")
