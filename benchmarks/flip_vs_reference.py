"""Our flip graph side by side with Perminov's C++/OpenMP ``flip_graph`` (not a test).

For each case and seed, runs ``tensorgame flip`` and the reference tool alternately, as
whole processes from the naive scheme with the same thread count and seed, and measures
each one's wall clock from here. Records the final rank, the time to the goal (or the best
rank at the time limit and when it was first reached) and the flips per second per thread
that each tool reports. Prints a Markdown table (median and range per tool) and writes JSON
with the machine description to benchmarks/results/flip_vs_reference.json; the JSON is
rewritten after every seed (a case still running has ``"finished": null``) and keeps the
cases of an earlier file that were not run again.

Build the reference outside this repository, then run the issue's cases:

    git --git-dir=<mirror of dronperminov/ternary_flip_graph> archive HEAD | tar -x -C /tmp/ref/src
    make -C /tmp/ref/src flip_graph          # g++ -O3 -std=c++17 -fopenmp
    nice -n 0 flock /tmp/bench.lock .venv/bin/python benchmarks/flip_vs_reference.py \\
        --reference /tmp/ref/src/flip_graph
    .venv/bin/python benchmarks/flip_vs_reference.py --cases 333-Z2 --seeds 1   # ours only

Options: ``--cases a,b`` (default: every case, cheap ones first; the ``speed-*`` cases
are the walk speed per thread, one thread each for 20 s), ``--seeds N`` (default 5 for <3,3,3>,
3 otherwise), ``--out FILE``. Without ``--reference`` only our side runs.

How each tool is driven:
- ours: ``tensorgame --catalog <fresh tmp sqlite> flip N M P --ring R --workers T --seed S
  --time LIMIT [--goal G] --json``; flips/s per thread is the JSON's ``flips_per_s`` over
  the workers; the time to the best rank of a time-limited run is the improvement's
  ``elapsed_s`` plus the process's start-up (wall clock minus the search's elapsed time).
- reference: ``flip_graph -n1 N -n2 M -n3 P --ring R --threads T --count 2T --seed S
  --flip-iterations 100K --top-count 1 [--target-rank G]``, killed at LIMIT seconds of wall
  clock (it has no time limit). ``--count 2T`` gives it as many walkers as ours (two runners
  per worker); 100K flip iterations per report keep its goal check, which runs only between
  reports, to a report every 2 x 100K steps per thread (about 0.1 s). It prints no speed: flips/s per thread is the walk steps
  from its start to its last report (reports x count x flip iterations) over the wall time
  between them, over the threads. Its best rank and the time it was reached come from its
  "Rank was improved" lines, timed as they arrive.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "flip_vs_reference.json"
REF_FLIP_ITERATIONS = 100_000
RUNNERS_PER_THREAD = 2  # ours: --runners default per worker process
GRACE_S = 60.0  # ours: start-up, final verification and shutdown beyond --time


@dataclass(frozen=True)
class Case:
    """One row of the table: a format and ring, from the naive scheme."""

    name: str
    shape: tuple[int, int, int]
    ring: str
    goal: int | None  # None: best rank within limit_s
    limit_s: float
    seeds: int
    threads: int = 2

    @property
    def label(self) -> str:
        fmt = f"<{','.join(map(str, self.shape))}> {self.ring}"
        if self.goal is None:
            return f"{fmt}, best rank in {self.limit_s:g} s ({self.threads} thr)"
        return f"{fmt} → {self.goal} within {self.limit_s:g} s ({self.threads} thr)"


#: The cases of issue 13, cheap ones first, and the walk speed per thread (one thread each).
CASES = [
    Case("333-Z2", (3, 3, 3), "Z2", 23, 60, 5),
    Case("333-ZT", (3, 3, 3), "ZT", 23, 60, 5),
    Case("334-Z2", (3, 3, 4), "Z2", 29, 120, 3),
    Case("speed-444-Z2", (4, 4, 4), "Z2", None, 20, 3, threads=1),
    Case("speed-444-ZT", (4, 4, 4), "ZT", None, 20, 3, threads=1),
    Case("speed-555-Z2", (5, 5, 5), "Z2", None, 20, 3, threads=1),
    Case("334-ZT", (3, 3, 4), "ZT", 29, 120, 3),
    Case("345-Z2", (3, 4, 5), "Z2", None, 120, 3),
    Case("455-Z2", (4, 5, 5), "Z2", None, 120, 3),
    Case("444-Z2", (4, 4, 4), "Z2", 47, 240, 3),
]

_RE_IMPROVED = re.compile(r"Rank was improved from (\d+) to (\d+)")
_RE_ITERATION = re.compile(r"iteration: (\d+)\s*\|")
_RE_BEST = re.compile(r"best rank: (\d+)")


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill a tool and its children (our worker processes) started in a session of its own."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _tail(text: str, n: int = 600) -> str:
    return text[-n:].strip()


def run_ours(case: Case, seed: int) -> dict[str, Any]:
    """One whole ``tensorgame flip`` process with a fresh catalogue; never raises."""
    exe = Path(sys.executable).with_name("tensorgame")
    with tempfile.TemporaryDirectory(prefix="flipvsref-") as tmp:
        cmd = [str(exe), "--catalog", str(Path(tmp) / "catalog.sqlite"), "flip", *map(str, case.shape),
               "--ring", case.ring, "--workers", str(case.threads), "--seed", str(seed),
               "--time", f"{case.limit_s:g}", "--json"]
        if case.goal is not None:
            cmd += ["--goal", str(case.goal)]
        t0 = time.perf_counter()
        try:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    start_new_session=True)
        except OSError as exc:
            return {"status": "failed", "error": str(exc)}
        try:
            out, err = proc.communicate(timeout=case.limit_s + GRACE_S)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return {"status": "timeout", "wall_s": time.perf_counter() - t0}
        wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"status": "failed", "rc": proc.returncode, "wall_s": wall, "stderr": _tail(err)}
    try:
        doc = json.loads(out)
        rank = int(doc["best"]["rank"])
        elapsed = float(doc["elapsed_s"])
        startup = wall - elapsed
        improvements = doc.get("improvements") or []
        best_at = startup + float(improvements[-1]["elapsed_s"]) if improvements else 0.0
        per_thread = float(doc["flips_per_s"]) / int(doc["workers"])
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        return {"status": "failed", "error": f"unreadable JSON: {exc}", "wall_s": wall, "stdout": _tail(out)}
    reached = case.goal is not None and rank <= case.goal
    return {"status": "ok", "rank": rank, "reached": reached, "wall_s": wall,
            "time_s": wall if reached else best_at, "best_at_s": best_at,
            "flips": int(doc["flips"]), "flips_per_s_per_thread": per_thread,
            "stopped": doc.get("stopped"), "search_elapsed_s": elapsed}


def run_reference(case: Case, seed: int, binary: Path) -> dict[str, Any]:
    """One whole reference ``flip_graph`` process, killed at the case's limit; never raises."""
    count = RUNNERS_PER_THREAD * case.threads
    with tempfile.TemporaryDirectory(prefix="flipvsref-ref-") as tmp:
        n1, n2, n3 = case.shape
        cmd = [str(binary), "-n1", str(n1), "-n2", str(n2), "-n3", str(n3), "--ring", case.ring,
               "--threads", str(case.threads), "--count", str(count), "--seed", str(seed),
               "--flip-iterations", str(REF_FLIP_ITERATIONS), "--top-count", "1",
               "--output-path", str(Path(tmp) / "schemes")]
        if case.goal is not None:
            cmd += ["--target-rank", str(case.goal)]
        t0 = time.perf_counter()
        try:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    start_new_session=True, cwd=tmp)
        except OSError as exc:
            return {"status": "failed", "error": str(exc)}
        improved: list[tuple[float, int]] = []
        reports: list[tuple[float, int]] = []
        best: list[int] = []
        tail: list[str] = []

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                now = time.perf_counter() - t0
                if line.startswith("Start initializing"):
                    reports.append((now, 0))
                elif m := _RE_IMPROVED.search(line):
                    improved.append((now, int(m.group(2))))
                elif m := _RE_ITERATION.search(line):
                    reports.append((now, int(m.group(1))))
                elif m := _RE_BEST.search(line):
                    best.append(int(m.group(1)))
                tail[:] = (tail + [line])[-20:]

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            proc.wait(timeout=case.limit_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            timed_out = True
        wall = time.perf_counter() - t0
        reader.join(timeout=5)
    if not timed_out and proc.returncode != 0:
        return {"status": "failed", "rc": proc.returncode, "wall_s": wall, "output": _tail("".join(tail))}
    rank = improved[-1][1] if improved else (best[-1] if best else None)
    if rank is None:
        return {"status": "failed", "error": "no rank in its output", "wall_s": wall, "output": _tail("".join(tail))}
    best_at = improved[-1][0] if improved else 0.0
    reached = case.goal is not None and rank <= case.goal
    per_thread = None
    if len(reports) >= 2:
        (ta, ka), (tb, kb) = reports[0], reports[-1]
        if tb > ta:
            per_thread = (kb - ka) * count * REF_FLIP_ITERATIONS / (tb - ta) / case.threads
    return {"status": "ok", "rank": rank, "reached": reached, "wall_s": wall,
            "time_s": wall if reached else best_at, "best_at_s": best_at,
            "flips": reports[-1][1] * count * REF_FLIP_ITERATIONS if reports else 0,
            "flips_per_s_per_thread": per_thread, "stopped": "goal" if reached and not timed_out else "killed at limit"}


def _span(values: list[float], fmt: str) -> str:
    if not values:
        return "–"
    med = statistics.median(values)
    lo, hi = min(values), max(values)
    return fmt.format(med) if lo == hi else f"{fmt.format(med)} ({fmt.format(lo)}-{fmt.format(hi)})"


def summarize(case: Case, runs: list[dict[str, Any]]) -> str:
    """One table cell: time to the goal (or best rank), the bad runs, walk speed."""
    ok = [r for r in runs if r.get("status") == "ok"]
    bad = len(runs) - len(ok)
    parts = []
    if case.goal is not None:
        hit = [r for r in ok if r["reached"]]
        parts.append(f"{len(hit)}/{len(runs)} reached")
        if hit:
            parts.append(_span([r["time_s"] for r in hit], "{:.2f}") + " s")
        missed = [r["rank"] for r in ok if not r["reached"]]
        if missed:
            parts.append("missed: " + ", ".join(map(str, missed)))
    else:
        parts.append("rank " + _span([r["rank"] for r in ok], "{:g}"))
        parts.append("best at " + _span([r["best_at_s"] for r in ok], "{:.0f}") + " s")
    if bad:
        parts.append(f"{bad} failed/timed out")
    speeds = [r["flips_per_s_per_thread"] for r in ok if r.get("flips_per_s_per_thread")]
    if speeds:
        parts.append(_span([s / 1e6 for s in speeds], "{:.1f}") + " M flips/s/thr")
    return "; ".join(parts)


def markdown(results: dict[str, Any]) -> str:
    lines = ["| case | seeds | tensorgame | reference C++ tool |", "| --- | --- | --- | --- |"]
    for c in CASES:
        if c.name not in results:
            continue
        runs = results[c.name]["runs"]
        ours = [r["ours"] for r in runs]
        theirs = [r["reference"] for r in runs if "reference" in r]
        lines.append(f"| {c.label} | {len(runs)} | {summarize(c, ours)} | "
                     f"{summarize(c, theirs) if theirs else 'not run'} |")
    return "\n".join(lines)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, help="built flip_graph binary of ternary_flip_graph")
    parser.add_argument("--cases", default=",".join(c.name for c in CASES),
                        help="comma-separated, from: " + ", ".join(c.name for c in CASES))
    parser.add_argument("--seeds", type=int, help="seeds 1..N for every case (default: per case)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    by_name = {c.name: c for c in CASES}
    names = [n for n in args.cases.split(",") if n]
    unknown = [n for n in names if n not in by_name]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(by_name)}")
    if args.reference is not None and not os.access(args.reference, os.X_OK):
        parser.error(f"--reference {args.reference} is not an executable file")
    if args.reference is None:
        print("no --reference: running our side only", flush=True)

    from tensorgame.codegen.bench import machine_info

    doc: dict[str, Any] = {"cases": {}}
    if args.out.exists():
        try:
            doc = json.loads(args.out.read_text())
        except ValueError:
            print(f"{args.out} is not JSON: starting it afresh", flush=True)
    doc.setdefault("cases", {})
    doc.update({
        "machine": machine_info(),
        "reference": None if args.reference is None else {
            "binary": str(args.reference), "sha256": _sha256(args.reference),
            "flip_iterations": REF_FLIP_ITERATIONS, "count_per_thread": RUNNERS_PER_THREAD},
        "ours": {"command": "tensorgame --catalog TMP flip N M P --ring R --workers T --seed S --time L "
                            "[--goal G] --json", "grace_s": GRACE_S},
    })
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for name in names:
        case = by_name[name]
        runs = []
        for seed in range(1, (args.seeds or case.seeds) + 1):
            row: dict[str, Any] = {"seed": seed, "ours": run_ours(case, seed)}
            print(f"{name} seed {seed} ours: {row['ours']}", flush=True)
            if args.reference is not None:
                row["reference"] = run_reference(case, seed, args.reference)
                print(f"{name} seed {seed} reference: {row['reference']}", flush=True)
            runs.append(row)
            done = len(runs) == (args.seeds or case.seeds)
            doc["cases"][name] = {"case": asdict(case), "label": case.label, "runs": runs,
                                  "finished": time.strftime("%Y-%m-%d %H:%M:%S") if done else None}
            doc["table"] = markdown(doc["cases"])
            args.out.write_text(json.dumps(doc, indent=1) + "\n")  # after every seed: a late stop loses little
    print()
    print(markdown(doc["cases"]))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
