"""Make a training run's checkpoint the network that ships with the package.

Writes ``src/tensorgame/data/agent.pt`` (or ``--out``: each file of
``tensorgame.training.agent.BUNDLES`` is made this way): the weights only (no optimiser state, a third
of the size), the game and search settings ``discover`` needs, and a ``bundled``
record of where it came from (run, config, training time, steps, games). Reading it
back goes through the same ``torch.load(weights_only=True)`` loader as every
checkpoint.

    python scripts/bundle_agent.py runs/s222/checkpoints/latest.pt --note "..."
    python scripts/bundle_agent.py runs/b224/checkpoints/latest.pt \
        --out src/tensorgame/data/agent_2x2xn_z2.pt --note "..."
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from tensorgame.network.checkpoint import load_checkpoint, save_checkpoint

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "tensorgame" / "data" / "agent.pt"
KEPT = ("games", "warmup_steps", "game", "mcts", "best", "elapsed_s", "run_id")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--config", type=Path, help="the run's config file (default: RUN_DIR/config.json)")
    ap.add_argument("--note", default="", help="what the network was measured to do")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    model, _, step, extra = load_checkpoint(args.checkpoint)
    config = args.config or args.checkpoint.parent.parent / "config.json"
    kept = {k: extra[k] for k in KEPT if k in extra}
    kept["bundled"] = {"from_run": extra.get("run_id"), "config": json.loads(config.read_text()),
                       "step": step, "games": extra.get("games"), "trained_s": extra.get("elapsed_s"),
                       "bundled_at": time.strftime("%Y-%m-%d"), "note": args.note}
    save_checkpoint(args.out, model, None, step, kept)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB, step {step}, "
          f"{extra.get('games')} games)")


if __name__ == "__main__":
    main()
