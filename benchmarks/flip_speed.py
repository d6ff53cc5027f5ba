"""Time the flip-graph engine from the naive scheme (not a test).

For each format and search ring: the time (and flips) to reach the reference rank with
:func:`tensorgame.search.flipgraph.search`, single process, one core — or the best
rank reached within the format's time budget — plus the raw walk speed (flips per CPU
second over a fixed number of flip attempts without a target). Prints a Markdown table and writes
JSON to benchmarks/results/flip_speed.json.

    python benchmarks/flip_speed.py [--budget 60] [--seeds 1] [--rings Z2,ZT]

``--budget`` is the budget of <3,3,4> and <4,4,4> in seconds; <3,3,3> gets a quarter
and <2,2,2> a twelfth of it.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numba
import numpy as np

import tensorgame as tg
from tensorgame.search.flipgraph import search, walk, warmup

ROOT = Path(__file__).resolve().parents[1]

#: (format, reference rank, share of --budget)
FORMATS = [((2, 2, 2), 7, 1 / 12), ((3, 3, 3), 23, 1 / 4), ((3, 3, 4), 29, 1.0), ((4, 4, 4), 49, 1.0)]
RAW_ATTEMPTS = 2_000_000


def _raw_speed(target: tg.Target, ring: str) -> float:
    """Flips per CPU second of one walk without a target (CPU time, not wall time, as
    the benchmark machine is shared)."""
    start = time.process_time()
    result = walk(tg.naive_scheme(target, "Z"), ring=ring, max_flips=RAW_ATTEMPTS, seed=0)
    return result.flips / (time.process_time() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--rings", default="Z2,ZT")
    parser.add_argument("--formats", default="", help="e.g. 3,3,3;4,4,4 (default: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "flip_speed.json")
    args = parser.parse_args()
    chosen = {tuple(int(x) for x in f.split(",")) for f in args.formats.split(";") if f}
    t0 = time.perf_counter()
    warmup()
    print(f"JIT compile / cache load: {time.perf_counter() - t0:.1f} s")
    rows = []
    for shape, goal, share in FORMATS:
        if chosen and shape not in chosen:
            continue
        target = tg.matmul_target(*shape)
        for ring in args.rings.split(","):
            raw = _raw_speed(target, ring)
            for seed in range(args.seeds):
                budget = args.budget * share
                r = search(target, ring=ring, time_limit=budget, target_rank=goal, seed=seed)
                check = r.scheme.verify("Z2" if ring == "Z2" else "Z")
                assert check.ok
                rows.append({
                    "target": target.name, "ring": ring, "goal": goal, "seed": seed,
                    "budget_s": budget, "rank": r.rank, "reached": r.rank <= goal,
                    "seconds": r.seconds, "flips": r.flips, "flips_per_s": r.flips / r.seconds,
                    "raw_flips_per_cpu_s": raw, "reductions": r.reductions,
                    "plus_transitions": r.plus_transitions,
                })
                print(f"{target.name} {ring} seed {seed}: rank {r.rank} in {r.seconds:.2f} s", flush=True)
    print()
    print("| target | ring | seed | goal | best rank | time (s) | flips | flips/s (search) | flips/CPU-s (raw walk) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        t = f"{row['seconds']:.3g}" if row["reached"] else f"> {row['budget_s']:.0f} (budget)"
        print(f"| {row['target']} | {row['ring']} | {row['seed']} | {row['goal']} | {row['rank']} | {t} | "
              f"{row['flips']:.3g} | {row['flips_per_s']:.3g} | {row['raw_flips_per_cpu_s']:.3g} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "machine": platform.platform(), "processor": platform.processor(),
        "numpy": np.__version__, "numba": numba.__version__, "budget_s": args.budget, "rows": rows,
    }, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
