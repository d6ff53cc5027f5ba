"""Ranks the parallel flip-graph search reaches from the naive scheme (not a test).

For every format <n,m,p> with 2 <= n <= m <= p <= 5 and every ring asked for, one run
of ``tensorgame.search.flipgraph.drivers`` from the naive scheme with a fixed time
budget per format (``--budget`` seconds; with ``--scale``, that many seconds per 27
naive terms, never less than ``--budget``), stopping early at the best known rank.
Reports the best rank, the time to reach it (wall clock from the start of the run,
worker start-up included) and the flips per second, beside the reference ranks of
``shared/brief/targets.csv`` (the AlphaTensor and best-known columns; left out when
the file is absent). Writes a Markdown table to stdout, JSON to
``benchmarks/results/flip_ranks.json`` and a PNG of rank against time for <4,4,4>.

    python benchmarks/flip_ranks.py [--budget 30] [--scale] [--workers 2] [--rings Z2,Z]
                                    [--formats 3,3,3;4,4,4] [--strategy runners] [--resume]
                                    [--symmetric] [--meta]

``--symmetric`` searches the square formats <n,n,n> in the symmetric flip graph
(schemes invariant under the cyclic symmetry, walked mod 2; over Z lifted as usual);
the other formats run as without it.

``--meta`` starts a cell from the table's own results instead, where that is lower
than the naive scheme: the lowest-rank meta move (``tensors.meta.assemble``: a scheme
adapted by extensions and projections after the format's symmetries, or the direct
sum of two smaller blocks) of the schemes earlier cells of the same ring found for
smaller formats (every sorted side at most the cell's), so every start still comes
from the naive scheme, a few cells back; the ``start`` column names it. Each cell's
scheme (over Z: its lift) is kept in ``<out>.schemes/`` for that, and read back, and
verified, on ``--resume``. Symmetric cells start from the naive scheme.

The JSON is rewritten after every cell, so a long table (10 minutes a cell) can run in
pieces: ``--resume`` keeps the cells of ``--out`` that ran with the same budget, workers,
strategy and seed, and runs only the others.

Rings: ``Z2`` (results hold mod 2), ``Z`` (the default over-Z column: search mod 2,
Hensel-lift every improvement, the lifted rank is reported; a run stops at the best
known rank over Z once a scheme of it has lifted) and ``ZT`` (ternary search: results
hold over Z without lifting).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import tensorgame as tg  # noqa: E402
from tensorgame.fileio import atomic_write  # noqa: E402
from tensorgame.formats import read_scheme, write_scheme  # noqa: E402
from tensorgame.search.flipgraph.drivers import (  # noqa: E402
    STRATEGIES,
    FlipOutcome,
    FlipSettings,
    SearchSpace,
    run_flip,
)
from tensorgame.tensors.meta import assemble  # noqa: E402
from tensorgame.tensors.scheme import Scheme  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TARGETS_CSV = Path(__file__).resolve().parents[2] / "shared" / "brief" / "targets.csv"
FORMATS = [(n, m, p) for n in range(2, 6) for m in range(n, 6) for p in range(m, 6)]


def _references() -> dict[tuple[int, int, int], dict[str, int | None]]:
    """Reference ranks by format, or {} when the brief's table is not beside us."""
    if not TARGETS_CSV.exists():
        return {}
    table = {}
    with TARGETS_CSV.open() as fh:
        for row in csv.DictReader(fh):
            table[(int(row["n"]), int(row["m"]), int(row["p"]))] = {
                k: int(v) if v else None for k, v in row.items() if k not in ("n", "m", "p")
            }
    return table


def _goal(ring: str, ref: dict[str, int | None] | None) -> tuple[int | None, int | None]:
    """(AlphaTensor's rank, best known rank) for the ring results hold in."""
    if not ref:
        return None, None
    if ring == "Z2":
        return ref["alphatensor_Z2"], ref["best_Z2"]
    return ref["alphatensor_Z"], ref["best_Z"]


def _budget(shape: tuple[int, int, int], args: argparse.Namespace) -> float:
    """Seconds for one format: fixed, or (``--scale``) proportional to the naive rank."""
    naive = shape[0] * shape[1] * shape[2]
    return max(args.budget, args.budget * naive / 27) if args.scale else args.budget


def _symmetric(shape: tuple[int, int, int], args: argparse.Namespace) -> bool:
    """Whether this cell walks the symmetric flip graph (``--symmetric``, square formats)."""
    return bool(args.symmetric) and len(set(shape)) == 1


Shape = tuple[int, int, int]


def _schemes_dir(args: argparse.Namespace) -> Path:
    """Where the cells' schemes are kept for --meta: beside --out."""
    return args.out.with_name(args.out.name + ".schemes")


def _kept_schemes(args: argparse.Namespace, ring: str) -> dict[Shape, Scheme]:
    """The schemes earlier cells of ``ring`` kept, read back and verified."""
    kept = {}
    for path in sorted(_schemes_dir(args).glob(f"*-{ring}.json")):
        scheme = read_scheme(path)  # verifies it exactly
        kept[tuple(int(x) for x in scheme.target.params)] = scheme
    return kept


def _start(shape: Shape, ring: str, args: argparse.Namespace) -> tuple[Scheme, str]:
    """The cell's start scheme and its name: naive, or with ``--meta`` the lowest-rank
    meta move (``tensors.meta.assemble``) of the kept schemes of smaller formats (never
    of a larger one, which may itself have been built from this cell)."""
    target = tg.matmul_target(*shape)
    if not args.meta or _symmetric(shape, args):
        return tg.naive_scheme(target), "naive"
    start, how = assemble(list(_kept_schemes(args, ring).values()), shape)
    return start, how if how == "naive" else f"{how} -> {start.rank}"


def _run(shape: Shape, ring: str, args: argparse.Namespace, goal: int | None,
         start: Scheme) -> FlipOutcome:
    target = tg.matmul_target(*shape)
    space = SearchSpace(target, "Z2" if ring == "Z" else ring, symmetric=_symmetric(shape, args))
    settings = FlipSettings(strategy=args.strategy, workers=args.workers, time_s=_budget(shape, args),
                            seed=args.seed, goal=goal, lift=ring == "Z", checkpoint_s=3600)
    with tempfile.TemporaryDirectory() as run_dir:
        return run_flip(space, settings, start, run_dir=Path(run_dir))


def _keep(args: argparse.Namespace, shape: Shape, ring: str, outcome: FlipOutcome) -> None:
    """Keep the cell's scheme (over Z: the lifted one, when there is one) for --meta."""
    scheme = outcome.lifted if ring == "Z" else outcome.best
    if scheme is not None and (ring != "Z" or str(scheme.ring) == "Z"):
        _schemes_dir(args).mkdir(parents=True, exist_ok=True)
        write_scheme(scheme, _schemes_dir(args) / f"{shape[0]}x{shape[1]}x{shape[2]}-{ring}.json")


def _row(shape, ring, outcome: FlipOutcome, budget: float, refs, start: str) -> dict[str, Any]:
    lifted = ring == "Z"  # the rank reported is the lifted one
    scheme = outcome.lifted if lifted else outcome.best
    trace = [(i["elapsed_s"], i["rank"]) for i in outcome.improvements if bool(i.get("lifted")) == lifted]
    rank = scheme.rank if scheme is not None else None
    at, best = _goal(ring, refs.get(shape))
    return {
        "format": f"<{shape[0]},{shape[1]},{shape[2]}>", "ring": ring,
        "mode": "symmetric" if outcome.symmetric else "plain", "start": start,
        "holds_in": None if scheme is None else str(scheme.ring),
        "naive": shape[0] * shape[1] * shape[2], "rank": rank,
        "time_to_rank_s": next((t for t, k in trace if k == rank), 0.0),
        "budget_s": budget, "elapsed_s": outcome.elapsed_s, "flips": outcome.flips,
        "flips_per_s": outcome.flips_per_s,
        "alphatensor": at, "best_known": best,
        # over Z only a scheme with integer coefficients counts (a lift may land in Q)
        "reaches_alphatensor": None if at is None or rank is None else (
            rank <= at and (ring == "Z2" or str(scheme.ring) == "Z")),
        "trace": trace, "lift_note": outcome.lift_note,
    }


def _markdown(rows: list[dict[str, Any]], with_refs: bool) -> str:
    head = ["format", "ring", "mode", "start", "holds in", "naive", "best rank", "time to it (s)", "budget (s)",
            "flips/s"]
    if with_refs:
        head += ["AlphaTensor", "best known", "≤ AlphaTensor"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in rows:
        cells = [r["format"], r["ring"], r.get("mode", "plain"), r.get("start", "naive"), r["holds_in"],
                 r["naive"], r["rank"],
                 f"{r['time_to_rank_s']:.1f}", f"{r['budget_s']:g}", f"{r['flips_per_s']:.3g}"]
        if with_refs:
            ok = {True: "yes", False: "**no**", None: "-"}[r["reaches_alphatensor"]]
            cells += [r["alphatensor"], r["best_known"], ok]
        lines.append("| " + " | ".join("-" if c is None else str(c) for c in cells) + " |")
    return "\n".join(lines)


def _plot(rows: list[dict[str, Any]], path: Path) -> bool:
    """Rank against time for <4,4,4>; False (no file) when it was not run."""
    runs = [r for r in rows if r["format"] == "<4,4,4>" and r["trace"]]
    if not runs:
        return False
    fig, ax = plt.subplots(figsize=(7, 4))
    for r in runs:
        times = [0.0] + [t for t, _ in r["trace"]] + [r["elapsed_s"]]
        ranks = [r["naive"]] + [k for _, k in r["trace"]] + [r["trace"][-1][1]]
        ax.step(times, ranks, where="post", label=f"{r['ring']} (holds in {r['holds_in']})")
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlabel("seconds (wall clock, worker start-up included)")
    ax.set_ylabel("best rank")
    ax.set_title("<4,4,4>: flip-graph search from the naive scheme")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """What must match for an earlier cell to stand in for a new one."""
    return {"budget_s": args.budget, "scale": args.scale, "workers": args.workers, "strategy": args.strategy,
            "seed": args.seed, "symmetric": args.symmetric,
            "meta": "adapt+join" if args.meta else False}  # tables of the adapt-only --meta do not resume


def _earlier_rows(args: argparse.Namespace) -> dict[tuple[str, str], dict[str, Any]]:
    """Cells of an earlier run of --out with the same settings, by (format, ring)."""
    try:
        doc = json.loads(args.out.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise SystemExit(f"error: cannot resume from {args.out}: {exc}") from None
    # (tables written before --symmetric and --meta existed ran every format plain, from naive)
    if not isinstance(doc, dict) or any(doc.get(k, False if k in ("symmetric", "meta") else None) != v
                                        for k, v in _settings(args).items()):
        raise SystemExit(f"error: {args.out} was written with other settings; choose another --out to start afresh")
    return {(r["format"], r["ring"]): r for r in doc.get("rows", [])}


def _write(args: argparse.Namespace, refs: dict, rows: list[dict[str, Any]]) -> None:
    """Rewrite the JSON (after every cell, so that a stopped table resumes)."""
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out, json.dumps({
        "machine": platform.platform(), "cpus": os.cpu_count(), **_settings(args),
        "references": str(TARGETS_CSV) if refs else None, "rows": rows,
    }, indent=2).encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=30.0, help="seconds per format and ring")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--scale", action="store_true",
                        help="give each format budget × naive rank / 27 seconds (at least --budget)")
    parser.add_argument("--rings", default="Z2,Z")
    parser.add_argument("--formats", default="", help="e.g. 3,3,3;4,4,4 (default: all 2<=n<=m<=p<=5)")
    parser.add_argument("--strategy", default="runners", choices=list(STRATEGIES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "flip_ranks.json")
    parser.add_argument("--symmetric", action="store_true",
                        help="search square formats in the symmetric flip graph (cyclic-invariant schemes)")
    parser.add_argument("--meta", action="store_true",
                        help="start each cell from a meta move of an earlier cell's scheme where that is lower")
    parser.add_argument("--resume", action="store_true",
                        help="keep the cells of --out run with the same settings; run the others")
    args = parser.parse_args()
    chosen = [tuple(int(x) for x in f.split(",")) for f in args.formats.split(";") if f] or FORMATS
    refs = _references()
    done = _earlier_rows(args) if args.resume else {}
    rows = []
    t0 = time.perf_counter()
    for shape in chosen:
        for ring in args.rings.split(","):
            key = (f"<{shape[0]},{shape[1]},{shape[2]}>", ring)
            if key in done:
                rows.append(done[key])
                print(f"{key[0]} {ring}: kept from {args.out}", flush=True)
                continue
            _, best = _goal(ring, refs.get(shape))
            start, name = _start(shape, ring, args)
            outcome = _run(shape, ring, args, best, start)
            _keep(args, shape, ring, outcome)
            rows.append(_row(shape, ring, outcome, _budget(shape, args), refs, name))
            r = rows[-1]
            print(f"{r['format']} {ring} (start {name}): rank {r['rank']} over {r['holds_in']} at "
                  f"{r['time_to_rank_s']:.1f} s ({r['flips_per_s']:.3g} flips/s)", flush=True)
            _write(args, refs, [*rows, *(row for row in done.values() if row not in rows)])
    print()
    per = "× naive/27 (at least that)" if args.scale else "per format and ring"
    mode = (", square formats symmetric" if args.symmetric else "") + (", meta-move starts" if args.meta else "")
    print(f"budget {args.budget:g} s {per}, {args.workers} workers, strategy {args.strategy}{mode}, "
          f"total {time.perf_counter() - t0:.0f} s")
    print()
    print(_markdown(rows, bool(refs)))
    missed = [f"{r['format']} {r['ring']} (rank {r['rank']} > {r['alphatensor']})"
              for r in rows if r["reaches_alphatensor"] is False]
    if missed:
        print("\nbelow AlphaTensor's rank within the budget: " + ", ".join(missed))
    _write(args, refs, [*rows, *(row for row in done.values() if row not in rows)])
    png = args.out.with_name("flip_ranks_444.png")
    print(f"wrote {args.out}" + (f" and {png}" if _plot(rows, png) else ""))


if __name__ == "__main__":
    main()
