"""Can the network learn <2,2,2> in random bases at all, and at what cost? (issue 12, goal 1)

A diagnostic, not a discovery: the network is *shown* a rank-7 scheme of <2,2,2> over
Z2 (found by a short flip-graph search from the naive scheme) in the bases of a
training pool of ``P`` random bases, by supervised steps alone, and then plays
(network + MCTS) games in three kinds of bases:

* **pool**: bases of its own training pool (what memorising the pool buys);
* **fresh**: bases it never saw (what goal 1 asks: "rank 7 in random bases");
* **canonical**: the identity basis (not in the pool either).

It also reports the policy's cross-entropy (nats per move, the demonstration loss the
learner minimises) on held-out positions from pool bases and from fresh bases. A gap
that grows with training is memorisation; fresh-basis success that rises with ``P``
is generalisation. Sweeping ``P`` (``--pools 1,16,256,4096``) says how the cost of
playing every basis scales: the orbit of <2,2,2> under tied bases has thousands of
tensors mod 2 (10,000 pool bases give 4,914 distinct ones, docs/agent.md).

Each pool size trains a fresh network (seeded) for ``--minutes``, evaluated at
``--evals`` evenly spaced points; every game's scheme is verified by the game.
``--device cuda`` trains and plays on a GPU where one is present (CPU by default).

    python benchmarks/basis_learning.py --pools 1,16,256,4096 --minutes 10 --evals 2 \\
        --episodes 32 --out benchmarks/results/basis_learning.json
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

import tensorgame as tg
from tensorgame.game import TensorGame
from tensorgame.game.basis import BasisPool
from tensorgame.network import NetworkEvaluator
from tensorgame.search.mcts import play_episode
from tensorgame.tensors.scheme import Scheme
from tensorgame.training.config import (
    config_from_dict,
    game_config,
    load_config,
    mcts_config,
    network_config,
    rings_of,
    targets_of,
)
from tensorgame.training.demos import DemoSource
from tensorgame.training.learner import Learner

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
TRAIN_SEED, FRESH_SEED = 7919, 104729  # the two pools never share a basis draw


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=str(ROOT / "configs" / "strassen_2x2x2.toml"),
                   help="network, learner and search settings (its game is replaced by <2,2,2> over Z2)")
    p.add_argument("--pools", default="1,16,256,4096", help="training pool sizes, comma-separated")
    p.add_argument("--minutes", type=float, default=10.0, help="training time per pool size")
    p.add_argument("--evals", type=int, default=2, help="evaluation points per pool size")
    p.add_argument("--episodes", type=int, default=32, help="games per kind of basis and point")
    p.add_argument("--simulations", type=int, default=64)
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--heldout", type=int, default=512, help="held-out positions per loss")
    p.add_argument("--flip-s", type=float, default=2.0, help="flip search for the shown scheme")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=str(RESULTS / "basis_learning.json"))
    return p.parse_args()


def train_config(path: str):
    """The config's network, learner and search, playing <2,2,2> over Z2 (validated again)."""
    data = load_config(path).to_dict()
    data["game"].update(targets=["2,2,2"], rings=["Z2"], coefficients=[0, 1])
    data["learner"]["lift_solutions"] = False
    return config_from_dict(data)


def shown_scheme(seconds: float, seed: int) -> Scheme:
    """A rank-7 scheme of <2,2,2> over Z2 from the naive scheme (flip graph, no catalogue)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = tg.flip("2,2,2", ring="Z2", time=seconds, goal=7, seed=seed, workers=1,
                      catalog=Path(tmp) / "shown.db")
    if out.best is None or out.best.rank != 7:
        raise SystemExit(f"the {seconds} s flip search did not reach rank 7; raise --flip-s")
    return out.best


def pool_demos(cfg, pool: BasisPool, scheme: Scheme, seed: int) -> DemoSource:
    """Demonstrations of ``scheme``, every one in a basis of ``pool``."""
    game = game_config(cfg)
    demos = DemoSource(targets_of(cfg), rings_of(cfg), game, {pool.dims: pool}, seed=seed,
                       canonical_fraction=0.0)
    if not demos.add_scheme(0, scheme):
        raise SystemExit("the shown scheme cannot be spelled in the game's alphabet")
    return demos


def heldout_loss(learner: Learner, batch) -> float:
    learner.model.eval()
    with torch.no_grad():
        _, parts = learner.losses(batch, len(batch))
    learner.model.train()
    return float(parts["policy_demo"])


def play(learner: Learner, cfg, pool: BasisPool | None, args: argparse.Namespace, seed: int) -> dict:
    """``--episodes`` games (bases drawn from ``pool``; None: canonical): how many reach 7."""
    game = game_config(cfg)
    env = TensorGame(game)
    config = replace(mcts_config(cfg, evaluation=True), num_simulations=args.simulations,
                     num_samples=args.samples)
    rng = np.random.default_rng(seed)
    bases = [None] * args.episodes if pool is None else pool.draw_many(args.episodes, rng)
    learner.model.eval()
    evaluator = NetworkEvaluator(learner.model, device=args.device,
                                 temperature=config.sampling_temperature, seed=seed)
    target = targets_of(cfg)[0]
    results = []
    for at in range(0, args.episodes, 16):
        results += play_episode(env, target, "Z2", bases[at:at + 16], evaluator=evaluator, config=config,
                                rng=rng, batch=len(bases[at:at + 16]))
    learner.model.train()
    ranks = [r.scheme.rank for r in results if r.scheme is not None]
    return {"games": len(results), "rank7": sum(k <= 7 for k in ranks), "finished": len(ranks),
            "mean_return": float(np.mean([r.total_return for r in results]))}


def run_pool(size: int, cfg, scheme: Scheme, args: argparse.Namespace) -> dict:
    side = game_config(cfg).max_side
    dims = (side, side, side)
    kw = {"tied": cfg.actors.tied, "max_entry": cfg.actors.basis_max_entry, "include_canonical": False}
    train_pool = BasisPool(dims, size, seed=TRAIN_SEED + args.seed, **kw)
    fresh_pool = BasisPool(dims, 100_000, seed=FRESH_SEED + args.seed, **kw)
    rng = np.random.default_rng([args.seed, size])
    train_demos = pool_demos(cfg, train_pool, scheme, args.seed)
    held_pool = pool_demos(cfg, train_pool, scheme, args.seed).solution_demos(args.heldout, np.random.default_rng(1))
    held_fresh = pool_demos(cfg, fresh_pool, scheme, args.seed).solution_demos(args.heldout, np.random.default_rng(2))
    learner = Learner(network_config(cfg), cfg.learner, seed=args.seed, device=args.device)
    n = cfg.learner.batch_size
    budget = args.minutes * 60.0
    marks = [budget * (k + 1) / args.evals for k in range(args.evals)]
    points, trained, last = [], 0.0, None
    for mark in marks:
        t0 = time.perf_counter()
        while trained + (time.perf_counter() - t0) < mark:
            last = learner.train_step(train_demos.solution_demos(n, rng), n)
        trained += time.perf_counter() - t0
        point = {"minutes": trained / 60, "steps": learner.step,
                 "train_loss": None if last is None else last.policy_demo,
                 "heldout_loss_pool": heldout_loss(learner, held_pool),
                 "heldout_loss_fresh": heldout_loss(learner, held_fresh)}
        for kind, pool in (("pool", train_pool), ("fresh", fresh_pool), ("canonical", None)):
            point[kind] = play(learner, cfg, pool, args, seed=args.seed + 17)
        points.append(point)
        print(f"P={size:>6} {point['minutes']:5.1f} min, {point['steps']:>6} steps | loss pool "
              f"{point['heldout_loss_pool']:.2f} fresh {point['heldout_loss_fresh']:.2f} nats | rank 7: pool "
              f"{point['pool']['rank7']}/{args.episodes}, fresh {point['fresh']['rank7']}/{args.episodes}, "
              f"canonical {point['canonical']['rank7']}/{args.episodes}", flush=True)
    return {"pool_size": size, "points": points}


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    cfg = train_config(args.config)
    scheme = shown_scheme(args.flip_s, args.seed)
    rows = [run_pool(int(p), cfg, scheme, args) for p in args.pools.split(",")]
    print("\npool size | minutes | steps | held-out loss pool / fresh (nats) | rank 7: pool / fresh / canonical")
    for row in rows:
        for pt in row["points"]:
            print(f"{row['pool_size']:>9} | {pt['minutes']:7.1f} | {pt['steps']:>5} | "
                  f"{pt['heldout_loss_pool']:.2f} / {pt['heldout_loss_fresh']:.2f} | "
                  f"{pt['pool']['rank7']} / {pt['fresh']['rank7']} / {pt['canonical']['rank7']} of {args.episodes}")
    doc = {"args": vars(args), "machine": platform.platform(), "torch": torch.__version__,
           "basis_max_entry": cfg.actors.basis_max_entry, "rows": rows}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
