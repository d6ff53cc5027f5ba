"""Plots of a run's ``metrics.jsonl`` (PNG, matplotlib's Agg backend: no display).

* ``losses.png``: total, demonstration-policy, self-play-policy and value losses
  against the learner step;
* ``best_rank.png``: best rank found in the run against training time, one line per
  target/ring (a step plot from the ``found`` events);
* ``selfplay.png``: solve rate and mean return of recent self-play games per
  target/ring against the step.

Only the JSONL file is read (never the TensorBoard files), so a report works for
any run, with or without tensorboardX, and for a run that was killed (a line cut
short is skipped).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tensorgame.errors import TensorGameError
from tensorgame.training.metrics import read_metrics


class ReportError(TensorGameError):
    """Nothing to plot."""


def _series(rows: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for r in rows:
        v = r.get(key)
        if isinstance(v, (int, float)):
            xs.append(r["step"])
            ys.append(v)
    return xs, ys


def write_report(run_dir: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Write the PNGs into ``out_dir`` (default: RUN_DIR/report); returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        raise ReportError(f"{run_dir}: no metrics.jsonl (not a training run directory?)")
    docs = read_metrics(path)
    train = sorted((d for d in docs if d.get("kind") == "train" and isinstance(d.get("step"), int)),
                   key=lambda d: d["step"])
    found = [d for d in docs if d.get("kind") == "found"]
    if not train and not found:
        raise ReportError(f"{path}: no training metrics yet")
    out = Path(out_dir) if out_dir is not None else run_dir / "report"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"{out}: cannot create ({exc.strerror or exc})") from None
    written = []

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for key, label in (("loss", "total"), ("policy_demo", "policy (demonstrations)"),
                       ("policy_play", "policy (self-play)"), ("value", "value (quantile)")):
        xs, ys = _series(train, key)
        if xs:
            ax.plot(xs, ys, label=label)
    ax.set_xlabel("learner step")
    ax.set_ylabel("loss")
    ax.set_title(f"losses — {run_dir.name}")
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend()
    written.append(out / "losses.png")
    fig.tight_layout()
    fig.savefig(written[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4.5))
    end = max([d.get("time", 0.0) for d in docs if isinstance(d.get("time"), (int, float))] or [0.0])
    keys = sorted({f"{d['target']}/{d['ring']}" for d in found if "target" in d and "ring" in d})
    for key in keys:
        pts = sorted((d["time"], d["rank"]) for d in found if f"{d.get('target')}/{d.get('ring')}" == key)
        xs, ys, best = [], [], None
        for t, r in pts:
            if best is None or r < best:
                best = r
                xs.append(t / 60.0)
                ys.append(r)
        xs.append(max(end, xs[-1] * 60.0) / 60.0)
        ys.append(ys[-1])
        ax.step(xs, ys, where="post", label=key, marker="o")
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("training time (minutes)")
    ax.set_ylabel("best rank found")
    ax.set_title(f"best rank vs time — {run_dir.name}")
    ax.grid(alpha=0.3)
    if keys:
        ax.legend()
    else:
        ax.text(0.5, 0.5, "no decomposition found yet", ha="center", va="center", transform=ax.transAxes)
    written.append(out / "best_rank.png")
    fig.tight_layout()
    fig.savefig(written[-1], dpi=110)
    plt.close(fig)

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.5))
    sources = sorted({k for d in train for k in (d.get("solve_rate") or {})})
    for src in sources:
        xs = [d["step"] for d in train if isinstance((d.get("solve_rate") or {}).get(src), (int, float))]
        ys = [d["solve_rate"][src] for d in train if isinstance((d.get("solve_rate") or {}).get(src), (int, float))]
        if xs:
            a1.plot(xs, ys, label=src)
        xs = [d["step"] for d in train if isinstance((d.get("mean_return") or {}).get(src), (int, float))]
        ys = [d["mean_return"][src] for d in train if isinstance((d.get("mean_return") or {}).get(src), (int, float))]
        if xs:
            a2.plot(xs, ys, label=src)
    a1.set_title("self-play games solved (last 100)")
    a2.set_title("self-play mean return (last 100)")
    for a in (a1, a2):
        a.set_xlabel("learner step")
        a.grid(alpha=0.3)
        if a.lines:
            a.legend()
    written.append(out / "selfplay.png")
    fig.tight_layout()
    fig.savefig(written[-1], dpi=110)
    plt.close(fig)
    return written
