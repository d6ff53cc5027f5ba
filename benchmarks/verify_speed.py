"""Time exact verification and canonical hashing of schemes (not a test).

Uses AlphaTensor's published <n,n,n> schemes when ../shared/alphatensor is present,
and naive schemes moved to a random basis otherwise. Prints a Markdown table and
writes JSON to benchmarks/results/verify_speed.json.

    python benchmarks/verify_speed.py [--repeats 2000]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

import tensorgame as tg
from tensorgame.tensors.canonical import canonical_hash
from tensorgame.tensors.symmetry import change_basis, random_unimodular

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "alphatensor"


def _schemes() -> list[tuple[str, tg.Scheme]]:
    out = []
    if SHARED.is_dir():
        from tensorgame.formats import read_schemes

        for name in ("factorizations_r_nopickle.npz", "factorizations_f2_nopickle.npz"):
            for s in read_schemes(SHARED / name):
                if s.target.is_matmul and s.target.params in ((3, 3, 3), (4, 4, 4), (5, 5, 5)):
                    out.append((f"AlphaTensor {name.split('_')[1]}", s))
    rng = np.random.default_rng(0)
    for n in (3, 4, 5):
        naive = tg.naive_scheme(tg.matmul_target(n, n, n))
        out.append(("naive, random basis", change_basis(naive, *(random_unimodular(n, rng) for _ in range(3)))))
    return out


def _time(fn, repeats: int) -> float:
    for _ in range(min(20, repeats)):
        fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "verify_speed.json")
    args = parser.parse_args()
    rows = []
    for source, s in _schemes():
        assert s.verify().ok
        verify_s = _time(s.verify, args.repeats)
        hash_s = _time(lambda: canonical_hash(s), max(1, args.repeats // 100))
        rows.append({"target": s.target.name, "ring": s.ring.name, "rank": s.rank, "source": source,
                     "verify_ms": verify_s * 1e3, "hash_ms": hash_s * 1e3})
    print("| target | ring | rank | source | verify (ms) | canonical hash (ms) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['target']} | {r['ring']} | {r['rank']} | {r['source']} | {r['verify_ms']:.3f} | {r['hash_ms']:.1f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": platform.platform(), "processor": platform.processor(),
                                    "numpy": np.__version__, "rows": rows}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
