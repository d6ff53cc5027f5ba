"""Time the TensorGame environment and the synthetic-demonstration generator (not a test).

Environment: a batch of 256 games of <4,4,4> padded to S_max = 16, over Z2 and over Z,
playing full episodes of random legal moves drawn like synthetic factors (P(0) = 0.5,
P(±1) = 0.2, P(±2) = 0.05; reduced mod 2 over Z2) up to the step limit 64, so every
episode also pays the terminal rank-bound penalty for all 256 games. Steps/s counts
game steps (256 per batched call). Also timed: the penalty alone, a state clone, and
synthetic pairs per second. Single-threaded (numba kernels are not parallel).

    python benchmarks/game_speed.py [--episodes 3] [--pairs 4096]

Prints a Markdown table and writes JSON to benchmarks/results/game_speed.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

import tensorgame as tg
from tensorgame.game import GameConfig, SyntheticConfig, SyntheticGenerator, TensorGame, matmul_formats

ROOT = Path(__file__).resolve().parents[1]
BATCH, SIDE = 256, 16


def _random_moves(rng: np.random.Generator, steps: int, modulus: int) -> np.ndarray:
    vals = rng.choice([-2, -1, 0, 1, 2], p=[0.05, 0.2, 0.5, 0.2, 0.05], size=(steps, BATCH, 3, SIDE))
    if modulus:
        vals = np.mod(vals, modulus)
    vals[..., 0] = np.where(vals[..., 0] == 0, 1, vals[..., 0])  # no zero factor
    return vals.astype(np.int8)


def _best(fn, repeats: int) -> float:
    fn()  # warm-up (and numba compilation on a cold cache)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def bench_env(ring: str, episodes: int, rng: np.random.Generator) -> list[dict]:
    env = TensorGame(GameConfig(max_side=SIDE))
    root = env.reset(tg.matmul_target(4, 4, 4), ring, batch=BATCH)
    limit = int(root.limit[0])
    moves = _random_moves(rng, limit, 2 if ring == "Z2" else 0)
    rows = []
    for check in (True, False):
        def episode() -> None:
            state = root.clone()
            for k in range(limit):
                env.step(state, moves[k], check=check)
            assert state.done.all()

        t = _best(episode, episodes)
        rows.append({"what": f"env step, {ring}, check={check}", "batch": BATCH, "side": SIDE,
                     "seconds": t, "rate": BATCH * limit / t, "unit": "steps/s"})
    state = root.clone()
    for k in range(limit):
        env.step(state, moves[k], check=False)
    t = _best(lambda: env.penalty(state), episodes)
    rows.append({"what": f"terminal rank bound, {ring}", "batch": BATCH, "side": SIDE,
                 "seconds": t, "rate": BATCH / t, "unit": "games/s"})
    t = _best(lambda: state.clone(), episodes * 10)
    rows.append({"what": f"state clone, {ring}", "batch": BATCH, "side": SIDE,
                 "seconds": t, "rate": BATCH / t, "unit": "games/s"})
    return rows


def bench_synthetic(pairs: int, repeats: int) -> list[dict]:
    rows = []
    shapes = (("<4,4,4>", ((4, 4, 4),)), ("all <n,m,p> with sides <= 16", matmul_formats(4, SIDE)))
    for label, targets in shapes:
        gen = SyntheticGenerator(SyntheticConfig(targets=targets, max_side=SIDE), seed=0)
        per = 256
        n_batches = max(1, pairs // per)

        def run() -> None:
            for k in range(n_batches):
                gen.batch(k, per)

        t = _best(run, repeats)
        rows.append({"what": f"synthetic pairs, {label}, Z+Z2", "batch": per, "side": SIDE,
                     "seconds": t, "rate": n_batches * per / t, "unit": "pairs/s"})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=3, help="timed repeats (best is kept)")
    parser.add_argument("--pairs", type=int, default=4096, help="synthetic pairs per timed run")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "game_speed.json")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows = bench_env("Z2", args.episodes, rng) + bench_env("Z", args.episodes, rng)
    rows += bench_synthetic(args.pairs, args.episodes)
    print("| measurement | batch | S | rate |")
    print("|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['what']} | {r['batch']} | {r['side']} | {r['rate']:,.0f} {r['unit']} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"machine": platform.machine(), "python": platform.python_version(),
           "numpy": np.__version__, "processor": platform.processor(), "results": rows}
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"\nwrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")


if __name__ == "__main__":
    main()
