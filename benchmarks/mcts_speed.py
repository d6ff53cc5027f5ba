"""Time the sampled tree search with a cheap evaluator (not a test).

One fresh search (``num_simulations`` per root, K candidates per expansion) from the
start of <2,2,2> and <4,4,4>, padded to S = 16 over Z, with 1 root and with 16 roots
searched together, for a few ``leaf_batch`` values. The evaluator is
:class:`~tensorgame.search.mcts.UniformEvaluator` (uniform legal moves, value 0), so
the numbers measure the search itself: selection/backup kernels, the batched
``take`` + ``env.step`` of expansions, child creation. Its own time is reported
separately ("eval s") and subtracted in "search-only sims/s". Single-threaded.

    python benchmarks/mcts_speed.py [--sims 256] [--samples 16] [--repeats 3]

Prints a Markdown table and writes JSON to benchmarks/results/mcts_speed.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

import tensorgame as tg
from tensorgame.game import GameConfig, Observation, TensorGame
from tensorgame.search.mcts import Evaluation, MCTSConfig, UniformEvaluator, run_search

ROOT = Path(__file__).resolve().parents[1]
SIDE = 16


class TimedEvaluator:
    """Counts calls and the time spent inside the wrapped evaluator."""

    def __init__(self, inner: UniformEvaluator) -> None:
        self.inner = inner
        self.seconds = 0.0
        self.calls = 0

    def __call__(self, obs: Observation, num_samples: int, dims: np.ndarray) -> Evaluation:
        start = time.perf_counter()
        out = self.inner(obs, num_samples, dims)
        self.seconds += time.perf_counter() - start
        self.calls += 1
        return out


def bench(env: TensorGame, target: tg.Target, roots: int, leaf_batch: int, sims: int, samples: int,
          repeats: int) -> dict:
    state = env.reset(target, "Z", batch=roots)
    cfg = MCTSConfig(num_simulations=sims, num_samples=samples, leaf_batch=leaf_batch)
    run_search(env, state, UniformEvaluator(env.config, 0), cfg, np.random.default_rng(0))  # warm-up/compile
    best = None
    for rep in range(repeats):
        ev = TimedEvaluator(UniformEvaluator(env.config, rep))
        start = time.perf_counter()
        out = run_search(env, state, ev, cfg, np.random.default_rng(rep))
        seconds = time.perf_counter() - start
        if best is None or seconds < best[0]:
            best = (seconds, ev.seconds, ev.calls, out.tree.size)
    seconds, eval_seconds, calls, nodes = best
    total = sims * roots
    return {"target": target.name, "side": SIDE, "roots": roots, "leaf_batch": leaf_batch,
            "sims_per_root": sims, "samples": samples, "seconds": seconds,
            "eval_seconds": eval_seconds, "evaluator_calls": calls, "nodes": nodes,
            "sims_per_s": total / seconds, "search_only_sims_per_s": total / (seconds - eval_seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=256)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    env = TensorGame(GameConfig(max_side=SIDE))
    rows = [bench(env, tg.matmul_target(n, n, n), roots, lb, args.sims, args.samples, args.repeats)
            for n in (2, 4) for roots in (1, 16) for lb in (1, 8)]
    print("| target | roots | leaf_batch | sims | seconds | eval s | evaluator calls | sims/s | search-only sims/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['target']} | {r['roots']} | {r['leaf_batch']} | {r['sims_per_root'] * r['roots']} | "
              f"{r['seconds']:.3f} | {r['eval_seconds']:.3f} | {r['evaluator_calls']} | "
              f"{r['sims_per_s']:,.0f} | {r['search_only_sims_per_s']:,.0f} |")
    out = ROOT / "benchmarks" / "results" / "mcts_speed.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"python": platform.python_version(), "machine": platform.machine(),
            "processor": platform.processor(), "numpy": np.__version__}
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    print(f"\nwrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
