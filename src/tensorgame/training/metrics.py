"""What a run reports while it trains: a JSONL metrics file, TensorBoard event files
and a live progress display.

``metrics.jsonl`` (one JSON object per line, appended, flushed at once so a killed
run keeps everything up to its last log) has a ``kind`` field:

* ``"train"``: every ``log_every_steps`` learner steps: ``step``, ``time`` (seconds of
  training, summed over resumed sessions), ``wall`` (Unix time), ``phase``
  (``"warm-up"``: supervised steps only, no game yet; then ``"self-play"``), mean losses over the
  window (``loss``, ``policy_demo``, ``policy_play``, ``value``, ``value_error``,
  ``grad_norm``), ``games``, ``positions``, ``replay``, ``games_per_s`` and
  ``steps_per_s`` (this window), and per "target/ring": ``best`` (best rank found in
  this run, or null), ``solve_rate`` and ``mean_return`` (the last 100 games played
  from the target itself, not from a naive prefix);
* ``"found"``: a better decomposition than any before in this run (``target``,
  ``ring``, ``rank``, ``step``, ``time``, ``catalog_id``);
* ``"runtime"``: with ``actors.runtime_reward``, a class of schemes timed for the
  return's runtime term (``target``, ``ring``, ``rank``, ``ratio`` = kernel time /
  numpy.matmul time, ``size``, ``dtype``, ``step``, ``time``);
* ``"resume"`` / ``"stop"``: session boundaries (``step``, ``time``, ``reason``).

TensorBoard (``tb/``) gets the same scalars through tensorboardX when it is installed;
without it the run says so once and keeps the JSONL file only (the report command
plots from the JSONL file, never from the event files).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from tensorgame.training.config import WARMUP, phase


def _clean(value: Any) -> Any:
    """NaN/inf are not JSON: write null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """Every well-formed line of a metrics file (a line cut short by a kill is skipped)."""
    out = []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError:
        return out
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(doc, dict):
            out.append(doc)
    return out


class MetricsLog:
    """Appends metrics to ``metrics.jsonl`` and, when available, TensorBoard."""

    def __init__(self, run_dir: Path, *, resume_step: int | None, console: Console | None,
                 tensorboard: bool = True) -> None:
        self.path = run_dir / "metrics.jsonl"
        if resume_step is not None:
            self._truncate(resume_step)
        self._fh = open(self.path, "a", encoding="utf-8")
        self.writer: Any = None
        if tensorboard:
            try:
                from tensorboardX import SummaryWriter
            except ImportError:
                if console is not None:
                    console.print("tensorboardX is not installed: metrics go to metrics.jsonl only "
                                  "(pip install tensorboardX for TensorBoard logs)")
            else:
                kwargs = {"purge_step": resume_step + 1} if resume_step is not None else {}
                self.writer = SummaryWriter(str(run_dir / "tb"), flush_secs=10, **kwargs)

    def _truncate(self, step: int) -> None:
        """Forget training lines logged after the checkpoint a resumed run restarts
        from (they will be logged again); found/session lines are facts and stay."""
        if not self.path.exists():
            return
        keep = [d for d in read_metrics(self.path)
                if not (d.get("kind") == "train" and int(d.get("step", 0)) > step)]
        from tensorgame.fileio import atomic_write

        atomic_write(self.path, "".join(json.dumps(_clean(d)) + "\n" for d in keep).encode())

    def write(self, doc: dict[str, Any]) -> None:
        self._fh.write(json.dumps(_clean(doc), separators=(",", ":")) + "\n")
        self._fh.flush()
        if self.writer is not None and doc.get("kind") == "train":
            step = int(doc["step"])
            for key in ("loss", "policy_demo", "policy_play", "value", "value_error", "grad_norm",
                        "games_per_s", "steps_per_s", "games", "replay"):
                v = doc.get(key)
                if isinstance(v, (int, float)) and math.isfinite(v):
                    self.writer.add_scalar(f"train/{key}", v, step)
            for name, per in (("best_rank", doc.get("best", {})), ("solve_rate", doc.get("solve_rate", {})),
                              ("mean_return", doc.get("mean_return", {}))):
                for src, v in per.items():
                    if isinstance(v, (int, float)) and math.isfinite(v):
                        self.writer.add_scalar(f"{name}/{src}", v, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.flush()
            self.writer.close()
            self.writer = None
        if not self._fh.closed:
            self._fh.close()


class ProgressDisplay:
    """A live table on a terminal (rich), or a short line per log elsewhere (pipes,
    CI); nothing at all when quiet. Both name the phase, so a run still in its
    supervised warm-up (``warmup_steps``) is not mistaken for one that plays no games."""

    def __init__(self, console: Console, run_id: str, warmup_steps: int, quiet: bool = False) -> None:
        self.console = console
        self.run_id = run_id
        self.warmup_steps = warmup_steps
        self.quiet = quiet
        self.live: Live | None = None
        self._last_line = 0.0
        if not quiet and console.is_terminal:
            self.live = Live(self._table(None), console=console, refresh_per_second=2, transient=False)
            self.live.start()

    def _phase(self, step: int) -> str:
        if phase(step, self.warmup_steps) == WARMUP:
            return f"supervised warm-up: step {step} of {self.warmup_steps}, no self-play yet"
        return "self-play"

    def _table(self, doc: dict[str, Any] | None) -> Table:
        step = 0 if doc is None else int(doc["step"])
        table = Table(title=f"training {self.run_id} ({self._phase(step)})", show_header=True)
        for col in ("step", "time", "loss", "policy demo", "policy play", "value", "games", "games/s"):
            table.add_column(col, justify="right")
        if doc is None:
            table.add_row("0", "-", "-", "-", "-", "-", "0", "-")
            return table

        def f(x: Any, fmt: str = "{:.3f}") -> str:
            return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else fmt.format(x)

        table.add_row(str(doc["step"]), f"{doc['time']:.0f}s", f(doc.get("loss")), f(doc.get("policy_demo")),
                      f(doc.get("policy_play")), f(doc.get("value")), str(doc.get("games", 0)),
                      f(doc.get("games_per_s"), "{:.2f}"))
        best = Table(show_header=True, box=None)
        for col in ("target/ring", "best rank", "solved (last 100)", "mean return"):
            best.add_column(col, justify="right")
        for src in doc.get("best", {}):
            best.add_row(src, f(doc["best"].get(src), "{}"), f(doc.get("solve_rate", {}).get(src), "{:.0%}"),
                         f(doc.get("mean_return", {}).get(src), "{:.2f}"))
        outer = Table.grid()
        outer.add_row(table)
        outer.add_row(best)
        return outer  # type: ignore[return-value]

    def update(self, doc: dict[str, Any]) -> None:
        if self.quiet:
            return
        if self.live is not None:
            self.live.update(self._table(doc))
            return
        now = time.monotonic()
        if now - self._last_line < 10.0:
            return
        self._last_line = now
        best = " ".join(f"{k}:{v if v is not None else '-'}" for k, v in doc.get("best", {}).items())
        loss = doc.get("loss")
        if phase(int(doc["step"]), self.warmup_steps) == WARMUP:
            played = self._phase(int(doc["step"]))
        else:
            played = f"games={doc.get('games', 0)} best {best}"
        self.console.print(f"step {doc['step']} t={doc['time']:.0f}s loss={loss if loss is None else round(loss, 3)} "
                           f"{played}", highlight=False)

    def message(self, text: str) -> None:
        if not self.quiet:
            self.console.print(text, highlight=False)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


def summarize(values: Sequence[float]) -> float:
    vals = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return sum(vals) / len(vals) if vals else float("nan")
