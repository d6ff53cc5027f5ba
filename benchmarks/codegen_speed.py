"""Time generated fast-matmul modules against numpy.matmul (not a test).

Runs Strassen's scheme (optimised to Winograd's 15-addition form) at 1, 2 and 3
levels and the 49-term <4,4,4> schemes at one level (Strassen ⊗ Strassen, and
AlphaTensor's rank-49 scheme when ../shared/alphatensor is present) on n×n
matrices, in each dtype, with the NumPy reference and the numba backend (fused,
multi-threaded additions) side by side with numpy.matmul in one process: one warm-up
call each, then --repeats interleaved rounds, medians. Each row also gives the run's
library products timed alone and the rest (additions and overhead). Writes JSON (with
the machine description and the BLAS kernel that ran) to
benchmarks/results/codegen_speed.json and optionally a PNG.

    python benchmarks/codegen_speed.py [--sizes 4096 8192] [--dtypes float32 float64]
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/codegen_speed.py \
        --sizes 8192 --dtypes float32 --levels 1 2 --strassen-only --out benchmarks/results/x.json

The threshold defaults to 256 so that the requested levels actually run at these
sizes (the JSON records levels_run per row). Note that numpy's BLAS uses every core
while the NumPy reference's additions run on one (the numba backend's on every
core numba uses), and that other load on the machine moves
wall times: the JSON records the load average, the ratio of the fastest runs
(best_ratio) and of CPU time (cpu_ratio); run with OPENBLAS_NUM_THREADS=1 for a
single-core comparison that contention barely affects.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tensorgame.codegen.bench import bench, machine_info
from tensorgame.fileio import atomic_write
from tensorgame.formats import read_scheme
from tensorgame.tensors.compose import kron_scheme
from tensorgame.tensors.targets import matmul_target

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "alphatensor"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4096, 8192])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threshold", type=int, default=256)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "codegen_speed.json")
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 2, 3], help="levels of Strassen")
    parser.add_argument("--backends", nargs="+", default=["numpy", "numba"])
    parser.add_argument("--no-alphatensor", dest="alphatensor", action="store_false",
                        help="leave out AlphaTensor's rank-49 <4,4,4> even when it is present")
    parser.add_argument("--strassen-only", action="store_true", help="leave out the <4,4,4> schemes")
    parser.add_argument("--plot", type=Path, default=None, help="PNG of time against size")
    args = parser.parse_args()

    strassen = read_scheme(ROOT / "examples" / "strassen.json")
    schemes: list = [strassen] if args.strassen_only else [strassen, [kron_scheme(strassen, strassen)]]
    labels = ["Strassen-Winograd <2,2,2>", "Strassen² <4,4,4> rank 49 ×1"][:len(schemes)]
    if args.alphatensor and SHARED.is_dir() and not args.strassen_only:
        schemes.append([read_scheme(SHARED / "factorizations_r_nopickle.npz", target=matmul_target(4, 4, 4))])
        labels.append("AlphaTensor <4,4,4> rank 49 ×1")
    rows = []
    for dtype in args.dtypes:
        # Strassen at --levels levels; the <4,4,4> schemes at one level
        rows += bench(schemes, args.sizes, dtype, args.repeats, args.levels, args.threshold, labels=labels,
                      backends=args.backends, echo=print)
    doc = {"machine": machine_info(), "threshold": args.threshold, "repeats": args.repeats,
           "levels": args.levels, "backends": args.backends,
           "schemes_available": {"alphatensor": SHARED.is_dir()}, "results": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out, (json.dumps(doc, indent=2) + "\n").encode("utf-8"))
    if args.plot is not None:
        from tensorgame.codegen.bench import plot

        plot(rows, args.plot)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
