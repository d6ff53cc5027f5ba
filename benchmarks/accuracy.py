"""The error of generated fast kernels per level and dtype, beside numpy.matmul's (not a test).

Strassen-Winograd (examples/strassen.json, optimised to Winograd's 15-addition form),
Strassen² (<4,4,4> rank 49, the Kronecker product) and AlphaTensor's <4,4,4> rank-49
scheme (when ../shared/alphatensor is present), each at 1, 2 and 3 levels, on n×n
inputs of each dtype from two seeded distributions: uniform in [-1, 1], and the same
with rows of A and columns of B scaled by powers of two in 2**±8. Errors are against
the exact product (codegen/accuracy.py): normwise max|C - AB| / (max|A| max|B|) and
elementwise max |C - AB| / (|A||B|). numpy.matmul's own errors are the baseline rows
(levels 0). The threshold is 1, so every level runs. Prints a Markdown table and writes
benchmarks/results/accuracy.json.

    python benchmarks/accuracy.py [--sizes 1024 2048] [--levels 3] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from tensorgame.codegen.accuracy import DISTRIBUTIONS, DTYPES, kernel_accuracy
from tensorgame.codegen.bench import machine_info
from tensorgame.fileio import atomic_write
from tensorgame.formats import read_scheme
from tensorgame.tensors.compose import kron_scheme
from tensorgame.tensors.targets import matmul_target

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "alphatensor"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048])
    parser.add_argument("--levels", type=int, default=3, help="levels 1..LEVELS of every scheme")
    parser.add_argument("--dtypes", nargs="+", default=list(DTYPES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "accuracy.json")
    args = parser.parse_args()

    strassen = read_scheme(ROOT / "examples" / "strassen.json")
    schemes = {"Strassen-Winograd <2,2,2> rank 7": strassen,
               "Strassen² <4,4,4> rank 49": kron_scheme(strassen, strassen)}
    if SHARED.is_dir():
        schemes["AlphaTensor <4,4,4> rank 49"] = read_scheme(SHARED / "factorizations_r_nopickle.npz",
                                                             target=matmul_target(4, 4, 4))
    began = time.monotonic()
    rows = []
    for name, scheme in schemes.items():
        for row in kernel_accuracy(scheme, levels=args.levels, sizes=args.sizes, dtypes=args.dtypes,
                                   threshold=1, seed=args.seed):
            rows.append({"scheme": name, **row})
        print(f"measured {name} ({time.monotonic() - began:.0f} s)", flush=True)

    # one line per (scheme, levels, dtype, size); numpy.matmul's errors first as levels 0
    distributions = list(DISTRIBUTIONS)
    cells = [f"{d} {measure}" for d in distributions for measure in ("normwise", "elementwise")]
    print(f"\n| scheme | levels | dtype | n | {' | '.join(cells)} |")
    print("| --- | --- | --- | --- |" + " --- |" * len(cells))
    for dtype in args.dtypes:
        for size in args.sizes:
            here = [r for r in rows if r["dtype"] == dtype and r["size"][0] == size]
            first = here[0]["scheme"]
            lines = [("numpy.matmul", 0, {r["distribution"]: (r["library_normwise"], r["library_elementwise"])
                                          for r in here if r["scheme"] == first})]
            for name in schemes:
                for level in range(1, args.levels + 1):
                    lines.append((name, level, {r["distribution"]: (r["normwise"], r["elementwise"]) for r in here
                                                if r["scheme"] == name and r["levels"] == level}))
            for name, level, errors in lines:
                values = " | ".join(f"{errors[d][k]:.2e}" for d in distributions for k in (0, 1))
                print(f"| {name} | {level} | {dtype} | {size} | {values} |")
    doc = {"machine": machine_info(), "seed": args.seed, "threshold": 1, "distributions": DISTRIBUTIONS,
           "schemes_available": {"alphatensor": SHARED.is_dir()}, "seconds": time.monotonic() - began,
           "results": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out, (json.dumps(doc, indent=2) + "\n").encode("utf-8"))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
