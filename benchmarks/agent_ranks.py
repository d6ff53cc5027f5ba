"""Is the learning real? Trained agent vs the same search with an untrained network.

1. **Success rates** (the acceptance comparison): for each ring, play ``--episodes``
   games of the target (default <2,2,2>) with the trained checkpoint and with a freshly
   initialised network of the same shape and settings, both with the same search budget
   (simulations per move, K samples), network + MCTS alone, canonical basis; report
   how many episodes reached rank <= ``--rank`` (7 for Strassen), all rank counts and
   the time; in the canonical basis and, with ``--bases 0,1000``, also in random bases
   (each game in a basis drawn from a pool of 1000, as ``discover --bases 1000``).
2. **Endgames** (``--endgames``, <2,2,2> only): the same comparison started from
   positions where the first k terms of Strassen's scheme are already played (the
   residual has rank 7 - k): how far down the learned decomposition skill reaches.
3. **Block games** (``--block-games``): the block curriculum's own games
   (``actors.prefix_block_fraction``): every naive move outside a random sub-box
   played, so what is left is a smaller product embedded in the target; per block
   shape, how many games the agent finishes below the naive rank (a block scheme
   below the block's naive rank), trained against untrained.
4. **Transfer** (``--transfer``): what keeps the network's <2,2,2> from carrying into
   <2,2,3>. The same network plays <2,2,2> on its own board; the 2×2×2 corner block
   of <2,2,3> (the four naive products with k = 3 played first), with the tensor in the
   row-major layout and in a nested one (a permutation basis that puts the block's
   entries where <2,2,2>'s sit on the board); and <2,2,2> zero-padded to <2,2,3>'s
   factor lengths (4, 6, 6), with no prefix. Each row counts the games that reach 7
   (block: 4 + 7 = 11). Then the only differences from the first row are, in turn,
   the layout, the prefix (its history and step) and the legal factor lengths.
5. **The compute trade-off** (``--curve CKPT``, repeatable: checkpoints taken at several
   training times, each labelled with its training time): per target of
   ``--curve-targets`` and simulations per move (``--curve-sims``, e.g. 4..256), the
   share of ``--curve-episodes`` games that reach AlphaTensor's rank (the success
   rate), and the best rank: solved by the agent (network + search alone), and over
   Z_p the best unsolved game completed by its residual's slice decomposition (the
   scheme the terminal penalty stands for). One figure, JSON and PNG.

``--target`` takes several targets (``"2,2,3;2,3,3"``); ``--rank`` defaults to each
target's AlphaTensor rank in the ring (the naive rank - 1 where none is published).

Every scheme found is verified exactly by the game (nothing is stored: this measures,
it does not catalogue). Writes ``benchmarks/results/agent_ranks.json`` (and
``agent_ranks_curve.png`` with ``--curve``).

    python benchmarks/agent_ranks.py --checkpoint CKPT --target "2,2,2;2,2,3;2,3,3;2,2,4;3,3,3" \
        --rings Z2 --episodes 50 --curve CKPT_10MIN --curve CKPT_60MIN --curve-targets 3,3,3 \
        --curve-sims 4,16,64,256

    python benchmarks/agent_ranks.py --checkpoint runs/strassen_2x2x2/checkpoints/latest.pt \\
        --episodes 50 --simulations 64 --samples 16 --endgames
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

import tensorgame as tg
from tensorgame.game import TensorGame
from tensorgame.game.basis import Basis
from tensorgame.game.blocks import term_triples
from tensorgame.network import NetworkEvaluator, load_checkpoint
from tensorgame.search.mcts import play_episode, play_games
from tensorgame.tensors.target_names import parse_target
from tensorgame.tensors.targets import known_ranks, tensor_target
from tensorgame.training.agent import (
    Agent,
    discover,
    load_agent,
    search_config,
    untrained_agent,
)
from tensorgame.training.curriculum import NaivePrefixes

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

# Strassen (1969) in the project's convention (row-major vec(A), vec(B), vec(C)).
STRASSEN = np.array([
    [[1, 0, 0, 1], [1, 0, 0, 1], [1, 0, 0, 1]],
    [[0, 0, 1, 1], [1, 0, 0, 0], [0, 0, 1, -1]],
    [[1, 0, 0, 0], [0, 1, 0, -1], [0, 1, 0, 1]],
    [[0, 0, 0, 1], [-1, 0, 1, 0], [1, 0, 1, 0]],
    [[1, 1, 0, 0], [0, 0, 0, 1], [-1, 1, 0, 0]],
    [[-1, 0, 1, 0], [1, 1, 0, 0], [0, 0, 0, 1]],
    [[0, 1, 0, -1], [0, 0, 1, 1], [1, 0, 0, 0]],
], dtype=np.int8)


def goal_rank(target: tg.Target, ring: str, override: int | None) -> int:
    """The rank a game must reach to count: ``--rank``, else AlphaTensor's in the ring,
    else one below the naive rank."""
    if override is not None:
        return override
    known = known_ranks(*target.params) if target.is_matmul else None
    published = None if known is None else (known.alphatensor_z2 if ring == "Z2" else known.alphatensor_z)
    return published if published is not None else target.naive_rank - 1


def success(agent: Agent, target: tg.Target, ring: str, bases: int, args: argparse.Namespace) -> dict:
    res = discover(agent, target, ring, episodes=args.episodes, simulations=args.simulations,
                   samples=args.samples, seed=args.seed, batch=args.batch, bases=bases)
    doc = res.to_dict()
    doc["goal_rank"] = goal_rank(target, ring, args.rank)
    doc["at_most_rank"] = res.count_at_most(doc["goal_rank"])
    doc["rate"] = doc["at_most_rank"] / max(res.episodes, 1)
    return doc


def endgames(agent: Agent, ring: str, args: argparse.Namespace, played_list: list[int]) -> dict:
    env = TensorGame(agent.game)
    config = search_config(agent, simulations=args.simulations, samples=args.samples)
    out = {}
    for played in played_list:
        n = args.episodes
        state = env.reset(tg.matmul_target(2, 2, 2), ring, batch=n)
        side = agent.game.max_side
        for term in STRASSEN[:played]:
            move = np.zeros((n, 3, side), dtype=np.int8)
            move[:, :, :4] = np.mod(term, 2) if ring == "Z2" else term
            env.step(state, move)
        results = play_games(env, state, NetworkEvaluator(agent.model, seed=args.seed,
                                                          temperature=config.sampling_temperature),
                             config, np.random.default_rng(args.seed))
        wins = sum(r.solved and r.num_moves == 7 - played for r in results)
        out[str(played)] = {"episodes": n, "rank7": wins, "solved_any": sum(r.solved for r in results)}
    return out


def block_games(agent: Agent, target: tg.Target, ring: str, args: argparse.Namespace) -> dict:
    """Games from block prefixes (see the module doc): per block shape, games played,
    finished, and finished below the target's naive rank."""
    env = TensorGame(agent.game)
    rng = np.random.default_rng(args.seed)
    n = args.episodes
    prefixes = NaivePrefixes(env, 1.0, 1.0).draw([target] * n, [0] * n, rng)
    if any(p is None or p.block is None for p in prefixes):
        raise SystemExit(f"{target.name} has no block games (a matrix product in the canonical basis)")
    config = search_config(agent, simulations=args.simulations, samples=args.samples)
    results = play_episode(env, [target] * n, ring, evaluator=NetworkEvaluator(
        agent.model, seed=args.seed, temperature=config.sampling_temperature), config=config, rng=rng,
        prefixes=[p.moves for p in prefixes])
    out: dict = {}
    for p, r in zip(prefixes, results):
        row = out.setdefault(p.block_name, {"games": 0, "solved": 0, "below_naive": 0})
        row["games"] += 1
        row["solved"] += r.scheme is not None
        row["below_naive"] += r.scheme is not None and r.scheme.rank < target.naive_rank
    return out


def _nested(rows: int, cols: int) -> np.ndarray:
    """Permutation matrix of vec of a rows×cols matrix that lists its 2×2 corner first
    (row-major, as <2,2,2>'s own vec), then the other entries row-major."""
    order = [(i, j) for i in range(min(rows, 2)) for j in range(min(cols, 2))]
    order += [(i, j) for i in range(rows) for j in range(cols) if (i, j) not in order]
    perm = np.zeros((rows * cols, rows * cols), dtype=np.int64)
    for new, (i, j) in enumerate(order):
        perm[new, i * cols + j] = 1
    return perm


def _corner_prefix(env: TensorGame, basis: Basis | None) -> np.ndarray:
    """The naive moves of <2,2,3> outside its 2×2×2 corner box (k = 3), (4, 3, S),
    mapped into ``basis`` when one is given."""
    big = tg.matmul_target(2, 2, 3)
    naive = env.naive_moves(big)
    moves = naive[term_triples(big, naive[:, 0], naive[:, 1])[:, 2] == 2].copy()
    if basis is not None:
        mapped = basis.factors_from_canonical(*(moves[:, f, :d] for f, d in enumerate(big.dims)))
        for f, d in enumerate(big.dims):
            moves[:, f, :d] = mapped[f]
    return moves


def transfer(agent: Agent, ring: str, args: argparse.Namespace) -> dict:
    """The four games of the module doc's point 4: per game, finished and at 7 (+4)."""
    env = TensorGame(agent.game)
    big = tg.matmul_target(2, 2, 3)
    nested = Basis.from_matrices(_nested(2, 2), _nested(2, 3), _nested(2, 3))
    padded = np.zeros((4, 6, 6), dtype=np.int64)
    padded[:, :4, :4] = tg.matmul_target(2, 2, 2).tensor
    games = {"<2,2,2> itself": (tg.matmul_target(2, 2, 2), None, None),
             "corner block, row-major": (big, None, _corner_prefix(env, None)),
             "corner block, nested layout": (big, nested, _corner_prefix(env, nested)),
             "<2,2,2> padded to 4x6x6": (tensor_target(padded), None, None)}
    config = search_config(agent, simulations=args.simulations, samples=args.samples)
    out = {}
    for name, (target, basis, prefix) in games.items():
        n = args.episodes
        results = play_episode(env, [target] * n, ring, [basis] * n, evaluator=NetworkEvaluator(
            agent.model, seed=args.seed, temperature=config.sampling_temperature), config=config,
            rng=np.random.default_rng(args.seed), prefixes=[prefix] * n)
        goal = 7 + (0 if prefix is None else len(prefix))
        out[name] = {"games": n, "finished": sum(r.scheme is not None for r in results),
                     "at_7": sum(r.scheme is not None and r.scheme.rank == goal for r in results)}
    return out


def training_minutes(path: str) -> float | None:
    """How long the checkpoint's run had trained (its ``elapsed_s``), in minutes."""
    _, _, _, extra = load_checkpoint(path)
    elapsed = extra.get("elapsed_s")
    return None if elapsed is None else round(float(elapsed) / 60.0, 1)


def curve(path: str, args: argparse.Namespace) -> list[dict]:
    agent = load_agent(path)
    minutes = training_minutes(path)
    targets = [parse_target(t) for t in args.curve_targets.split(";")]
    rows = []
    for target in targets:
        if max(target.dims) > agent.game.max_side:
            continue
        for ring in args.rings.split(","):
            goal = goal_rank(target, ring, args.rank)
            for sims in [int(x) for x in args.curve_sims.split(",")]:
                res = discover(agent, target, ring, episodes=args.curve_episodes, simulations=sims,
                               samples=args.samples, seed=args.seed, batch=args.batch)
                row = {"checkpoint": path, "trained_min": minutes, "step": agent.step,
                       "target": target.name, "naive_rank": target.naive_rank,
                       "ring": ring, "simulations": sims, "goal_rank": goal,
                       "success": res.count_at_most(goal) / max(res.episodes, 1),
                       "best_rank": res.best_rank, "best_completed_rank": res.best_completed_rank,
                       "solved": res.solved, "episodes": res.episodes,
                       "seconds": round(res.seconds, 2)}
                print(json.dumps(row), flush=True)
                rows.append(row)
    return rows


def plot_curve(rows: list[dict], path: Path) -> None:
    """Left: against simulations per move, the share of games at AlphaTensor's rank
    (solid) and of games solved at any rank (dotted), a line per checkpoint (training
    time) and target; right: the best rank, solved (solid) and completed (dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    series = sorted({(r["target"], r["ring"], r["checkpoint"], r.get("trained_min")) for r in rows},
                    key=lambda k: (k[0], k[1], k[3] if k[3] is not None else -1.0))
    for target, ring, ckpt, minutes in series:
        mine = sorted((r for r in rows if (r["target"], r["ring"], r["checkpoint"]) == (target, ring, ckpt)),
                      key=lambda r: r["simulations"])
        when = f"{minutes:g} min" if minutes is not None else Path(ckpt).name
        goal = mine[0]["goal_rank"]
        line = left.plot([r["simulations"] for r in mine], [r["success"] for r in mine], marker="o",
                         label=f"{target} over {ring}, rank <= {goal}, trained {when}")[0]
        left.plot([r["simulations"] for r in mine], [r["solved"] / max(r["episodes"], 1) for r in mine], ":",
                  marker=".", color=line.get_color(), label=f"{target}, {when}: solved at any rank")
        for field, style in (("best_rank", "-"), ("best_completed_rank", "--")):
            pts = [(r["simulations"], r[field]) for r in mine if r.get(field) is not None]
            if pts:
                xs, ys = zip(*pts)
                right.plot(xs, ys, style, marker="o", color=line.get_color(),
                           label=f"{target}, {when}: {'solved' if field == 'best_rank' else 'completed'}")
    for name, naive in sorted({(r["target"], r.get("naive_rank")) for r in rows if r.get("naive_rank")}):
        right.axhline(naive, color="grey", linestyle=":", linewidth=1)
        right.annotate(f"naive {name}: {naive}", (0.01, naive), xycoords=("axes fraction", "data"),
                       fontsize=8, color="grey", va="bottom")
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("simulations per move")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
    left.set_ylabel("share of games (solid: at AlphaTensor's rank)")
    left.set_ylim(-0.03, 1.03)
    right.set_ylabel("best rank found")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", help="trained checkpoint for the success-rate comparison")
    ap.add_argument("--target", default="2,2,2", help="one or more targets, ';'-separated")
    ap.add_argument("--rings", default="Z,Z2")
    ap.add_argument("--bases", default="0", help="comma-separated basis pool sizes (0: canonical basis)")
    ap.add_argument("--rank", type=int, default=None,
                    help="count episodes reaching at most this rank (default: AlphaTensor's, per target)")
    ap.add_argument("--episodes", type=int, default=50)
    ap.add_argument("--simulations", type=int, default=64)
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--batch", type=int, default=25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--endgames", action="store_true", help="also start from partly played Strassen")
    ap.add_argument("--block-games", action="store_true",
                    help="also play the block curriculum's games (the first target, each ring)")
    ap.add_argument("--transfer", action="store_true",
                    help="also play <2,2,2> inside <2,2,3> four ways (see the module doc)")
    ap.add_argument("--curve", action="append", default=[],
                    help="checkpoint for the success-vs-simulations figure (repeat: several training times)")
    ap.add_argument("--curve-targets", default="3,3,3")
    ap.add_argument("--curve-sims", default="4,16,64,256")
    ap.add_argument("--curve-episodes", type=int, default=16)
    ap.add_argument("--no-untrained", action="store_true",
                    help="skip the untrained baseline (half the time; for checkpoints already compared)")
    ap.add_argument("--out", default=str(RESULTS / "agent_ranks.json"))
    args = ap.parse_args()

    doc: dict = {"meta": {"python": platform.python_version(), "machine": platform.machine(),
                          "args": vars(args), "date": time.strftime("%Y-%m-%d %H:%M:%S")}}
    if args.checkpoint:
        trained = load_agent(args.checkpoint)
        agents = [("trained", trained)]
        if not args.no_untrained:
            agents.append(("untrained", untrained_agent(trained, seed=args.seed)))
        targets = [parse_target(t) for t in args.target.split(";")]
        doc["success"] = {}
        for target in targets:
            for ring in args.rings.split(","):
                for bases in (int(b) for b in args.bases.split(",")):
                    basis = "canonical basis" if bases == 0 else f"random bases (pool {bases})"
                    for name, agent in agents:
                        row = success(agent, target, ring, bases, args)
                        key = "canonical" if bases == 0 else f"bases{bases}"
                        cell = doc["success"].setdefault(target.name, {}).setdefault(ring, {})
                        cell.setdefault(key, {})[name] = row
                        print(f"{target.name} over {ring}, {basis}, {name:9s}: rank <= {row['goal_rank']} in "
                              f"{row['at_most_rank']}/{row['episodes']} episodes ({row['rate']:.0%}); "
                              f"ranks {row['rank_counts']}; completed {row['best_completed_rank']}; "
                              f"{row['seconds']:.1f}s", flush=True)
        target = targets[0]
        if args.block_games:
            doc["block_games"] = {}
            for ring in args.rings.split(","):
                for name, agent in agents:
                    row = block_games(agent, target, ring, args)
                    doc["block_games"].setdefault(ring, {})[name] = row
                    print(f"block games of {target.name} over {ring}, {name:9s}: "
                          + ", ".join(f"{b}: {v['below_naive']}/{v['games']} below naive "
                                      f"({v['solved']} finished)" for b, v in sorted(row.items())), flush=True)
        if args.endgames and target.key == tg.matmul_target(2, 2, 2).key:
            doc["endgames"] = {}
            for ring in args.rings.split(","):
                for name, agent in agents:
                    row = endgames(agent, ring, args, [6, 5, 4, 3, 2, 1])
                    doc["endgames"].setdefault(ring, {})[name] = row
                    print(f"endgames over {ring}, {name:9s}: rank 7 from k Strassen terms played: "
                          + ", ".join(f"k={k}: {v['rank7']}/{v['episodes']}" for k, v in row.items()),
                          flush=True)
        if args.transfer:
            doc["transfer"] = {}
            for ring in args.rings.split(","):
                for name, agent in agents:
                    row = transfer(agent, ring, args)
                    doc["transfer"].setdefault(ring, {})[name] = row
                    print(f"transfer over {ring}, {name:9s}: " + "; ".join(
                        f"{game}: {v['at_7']}/{v['games']} at 7 ({v['finished']} finished)"
                        for game, v in row.items()), flush=True)
    if args.curve:
        rows = [row for path in args.curve for row in curve(path, args)]
        doc["curve"] = rows
        RESULTS.mkdir(parents=True, exist_ok=True)
        plot_curve(rows, RESULTS / "agent_ranks_curve.png")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
