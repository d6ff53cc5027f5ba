"""How many terms must a restart inside a scheme leave to the agent before a shorter
finish exists? A diagnostic for ``[actors] best_prefix_fraction`` (not a test).

A restart plays k of a scheme's R terms and leaves the agent the residual: the sum of
the other R - k terms. A game from there can end below R only if that residual has a
decomposition with fewer terms than it has. For each residual size s this samples
subsets of s terms of the scheme (all of them where there are few), and asks a short
flip-graph walk, started from the s terms themselves as a scheme of their sum, for one
of s - 1 terms. The walk is an oracle here, not part of the agent: a subset it reduces
is certainly reducible; one it does not may still be. Prints a table and writes JSON
(``benchmarks/results/restart_residuals.json``).

The default scheme is the agent's block scheme of <2,3,3> over Z2: a Strassen (found by
a flip search from the naive <2,2,2>) with the naive <2,2,1> beside it (11 for <2,2,3>)
and the naive <2,1,3> beside that (17), what the ladder runs reach with blocks.

    python benchmarks/restart_residuals.py                  # <2,3,3> 17, sizes 2-13
    python benchmarks/restart_residuals.py --scheme F.json  # any scheme over Z2
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import time
from pathlib import Path

import numpy as np

from tensorgame.formats import read_scheme
from tensorgame.search.flipgraph import search, walk
from tensorgame.tensors import meta
from tensorgame.tensors.scheme import Scheme, naive_scheme
from tensorgame.tensors.targets import matmul_target, tensor_target

ROOT = Path(__file__).resolve().parents[1]


def block_scheme_233(seed: int) -> Scheme:
    """<2,3,3> at 17 over Z2 from blocks: Strassen, then two naive products beside it."""
    strassen = search(matmul_target(2, 2, 2), ring="Z2", time_limit=30, target_rank=7, seed=seed).scheme
    s223 = meta.join(strassen, naive_scheme(matmul_target(2, 2, 1), "Z2"), axis=2)
    return meta.join(s223, naive_scheme(matmul_target(2, 1, 3), "Z2"), axis=1)


def subsets(rank: int, size: int, samples: int, rng: np.random.Generator) -> list[tuple[int, ...]]:
    """Every subset of ``size`` terms when there are at most ``samples``, else a sample."""
    if math.comb(rank, size) <= samples:
        return list(itertools.combinations(range(rank), size))
    return [tuple(sorted(rng.choice(rank, size, replace=False))) for _ in range(samples)]


def reducible(scheme: Scheme, terms: tuple[int, ...], flips: int, seed: int) -> bool:
    """Whether a walk finds fewer terms for the sum of ``terms`` (mod 2)."""
    idx = list(terms)
    u, v, w = scheme.u[idx] % 2, scheme.v[idx] % 2, scheme.w[idx] % 2
    residual = np.einsum("ri,rj,rk->ijk", u, v, w) % 2
    if not residual.any():
        return True
    part = Scheme(tensor_target(residual.astype(np.int64)), "Z2", u, v, w)
    return walk(part, ring="Z2", max_flips=flips, target_rank=len(idx) - 1,
                plateau_limit=2000, seed=seed).rank < len(idx)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scheme", type=Path, help="a scheme file (default: <2,3,3> 17 from blocks)")
    parser.add_argument("--sizes", default="2-13", help="residual sizes, LO-HI")
    parser.add_argument("--samples", type=int, default=1000, help="subsets per size, at most")
    parser.add_argument("--flips", type=int, default=20_000, help="walk length per subset")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "restart_residuals.json")
    args = parser.parse_args()
    scheme = read_scheme(args.scheme) if args.scheme else block_scheme_233(args.seed)
    lo, hi = (int(x) for x in args.sizes.split("-"))
    rng = np.random.default_rng(args.seed)
    rows = []
    print(f"{scheme.target.name} at rank {scheme.rank}; walk of {args.flips:,} flips per subset")
    print("| residual terms | subsets tried | reducible (walk found one fewer) | share |")
    print("| --- | --- | --- | --- |")
    t0 = time.perf_counter()
    for size in range(lo, min(hi, scheme.rank) + 1):
        tried = subsets(scheme.rank, size, args.samples, rng)
        found = sum(reducible(scheme, c, args.flips, args.seed + 1) for c in tried)
        rows.append({"size": size, "tried": len(tried), "reducible": found,
                     "all_subsets": math.comb(scheme.rank, size) <= args.samples})
        print(f"| {size} | {len(tried):,} | {found} | {found / len(tried):.1%} |", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "target": scheme.target.name, "rank": scheme.rank, "flips": args.flips, "seed": args.seed,
        "samples": args.samples, "seconds": round(time.perf_counter() - t0, 1), "rows": rows,
    }, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
