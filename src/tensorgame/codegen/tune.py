"""Autotuning on this machine: which kernel multiplies fastest, per size and dtype.

Whether a fast algorithm beats the library product depends on the machine (BLAS
kernel, threads, caches), the size and the dtype, so it is measured, not guessed. For
every (size, dtype) the candidates -- scheme × backend × levels, each with the
threshold that lets its levels run at that size -- are timed by bench's timer
(:func:`.bench.time_runs`: warm-up, rounds in which every kernel and the library
product run once, medians), one level count at a time. Level k+1 of a scheme and
backend is tried only when level k did not lose clearly (median above the library's,
or above its own level k-1, by more than :data:`PRUNE`). Each cell (size, dtype) gets
an equal share of what is left of the time budget; a candidate whose estimated cost
(from the library's time, the scheme's rank and additions) does not fit is skipped
and listed as such. The fastest kernel wins only if its median beats the library's
by :data:`MARGIN` (2%): ties and noise go to the library. With ``max_error``, kernels
whose normwise error (:mod:`.accuracy`) exceeds it are excluded.

Results are stored next to the catalogue (:func:`tune_path`), one record per machine
description (a tune on another machine adds a record, one on the same machine
replaces the cells it measured); :func:`write_tuned_module` turns a record into one
module whose ``matmul`` dispatches by size and dtype.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from tensorgame.catalog import Catalog
from tensorgame.codegen.accuracy import DTYPES, draw_inputs
from tensorgame.codegen.bench import (
    add_accuracy,
    machine_info,
    time_calls,
    time_runs,
    torch_available,
    worst_normwise,
)
from tensorgame.codegen.generate import (
    BACKENDS,
    MAX_LEVELS,
    TunedKernel,
    build_module,
    check_scheme,
    compile_level,
    generate_tuned_module,
)
from tensorgame.durations import parse_duration
from tensorgame.errors import TensorGameError
from tensorgame.fileio import atomic_write
from tensorgame.machine import physical_memory_bytes
from tensorgame.formats.json_format import scheme_from_json, scheme_to_json
from tensorgame.tensors.scheme import Scheme
from tensorgame.tensors.target_names import parse_target

#: Name of the tune file format (stored next to a catalogue, or written with ``out``).
TUNE_FORMAT = "tensorgame-tune"
TUNE_VERSION = 1
DEFAULT_SIZES = (1024, 2048, 4096)
#: The targets whose best scheme over Z in the catalogue is tuned when none are given.
DEFAULT_TARGETS = ("2,2,2", "4,4,4")
DEFAULT_MAX_LEVELS = 3
DEFAULT_TIME_S = 600.0
#: A kernel wins only if its median is at least this fraction below the library's.
MARGIN = 0.02
#: Level k "lost clearly" (level k+1 is not tried) when its median exceeds the
#: library's, or its own level k-1's, by more than this fraction.
PRUNE = 0.10
#: Rough costs for the estimate only: Python and dispatch per block product, and
#: memory traffic of block additions (two reads and a write per element).
_CALL_OVERHEAD_S = 2e-5
_BANDWIDTH_BYTES_S = 5e9
#: Arrays alive while one cell is timed, in units of one n×n matrix (A, B, the
#: library's C, each kernel's C and workspace, the accuracy reference), at most.
_MATRICES_ALIVE = 8


@dataclass(frozen=True)
class Candidate:
    """One kernel to time: a scheme (by its key in the record), backend, levels and
    the threshold below which it hands products to the library."""

    scheme: str
    backend: str
    levels: int
    threshold: int


@dataclass(frozen=True)
class Timing:
    """A candidate's median seconds beside the library's median in the same rounds."""

    time_s: float
    library_s: float
    normwise_error: float | None = None

    @property
    def ratio(self) -> float:
        return self.time_s / self.library_s


#: ``timer(kernels, size, dtype, repeats, accuracy) -> (library_s, timings)``: the
#: library's median at size×size and one :class:`Timing` per kernel (none given: the
#: library alone). Injectable, so the choice logic can be tested on fixed timings.
Timer = Callable[[Sequence[tuple[Candidate, Scheme]], int, str, int, bool], tuple[float, list[Timing]]]


def measure_kernels(kernels: Sequence[tuple[Candidate, Scheme]], size: int, dtype: str, repeats: int,
                    accuracy: bool) -> tuple[float, list[Timing]]:
    """The default :data:`Timer`: generated modules timed with bench's timer, the NumPy
    and numba ones in the same rounds as numpy.matmul. Torch kernels get rounds of their
    own on tensors (torch's OpenMP threads keep spinning after each call, which slowed
    the next numpy.matmul here 50-fold at n = 256) and run first, so that the spinning
    hits only the warm-up of the NumPy rounds; their times are compared with
    numpy.matmul's median from those rounds."""
    np_dtype = np.dtype(dtype)
    timings: dict[int, Timing] = {}
    torch_rows: list[tuple[int, dict[str, Any]]] = []
    for kind in ("torch", "numpy"):
        chosen = [(i, c, s) for i, (c, s) in enumerate(kernels) if (c.backend == "torch") == (kind == "torch")]
        if not chosen:
            continue
        runs = [((c.scheme, s, c.levels), c.backend, build_module(s, target=c.backend, levels=c.levels,
                                                                  threshold=c.threshold)) for _, c, s in chosen]
        rows = time_runs(runs, kind, size, np_dtype, repeats, 0, True)
        if accuracy:
            add_accuracy(rows, runs, kind, size, np_dtype, 0)
        if kind == "torch":
            torch_rows = [(i, row) for (i, _, _), row in zip(chosen, rows, strict=True)]
            continue
        for (i, _, _), row in zip(chosen, rows, strict=True):
            timings[i] = Timing(row["time_s"], row["baseline_s"], worst_normwise(row) if accuracy else None)
    if timings:
        library_s = next(iter(timings.values())).library_s
    else:
        a, b = draw_inputs(size, dtype, "uniform")
        calls = [lambda: np.matmul(a, b)]
        calls[0]()  # warm-up
        library_s = statistics.median(time_calls(calls, repeats)[0][0])
    for i, row in torch_rows:
        timings[i] = Timing(row["time_s"], library_s, worst_normwise(row) if accuracy else None)
    return library_s, [timings[i] for i in range(len(kernels))]


def scheme_key(scheme: Scheme) -> str:
    """A short digest of the scheme's factors: its name in a tune record."""
    doc = scheme_to_json(scheme)
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:12]


def scheme_label(scheme: Scheme) -> str:
    return f"{scheme.target.name} rank {scheme.rank}"


def blas_kernel(machine: dict[str, Any]) -> str | None:
    """The BLAS kernel that ran, from :func:`.bench.machine_info` (e.g. ``OpenBLAS
    SkylakeX, 2 threads``)."""
    runtime = machine.get("blas_runtime") or {}
    for pool in runtime.get("threadpools", []):
        if pool.get("user_api") == "blas":
            return f"{pool.get('internal_api')} {pool.get('version')} {pool.get('architecture')}, " \
                   f"{pool.get('num_threads')} threads"
    if "corename" in runtime:
        name = (machine.get("blas") or {}).get("name") or "BLAS"
        return f"{name} {runtime['corename']}, {runtime.get('threads')} threads"
    return None


def machine_key(machine: dict[str, Any]) -> dict[str, Any]:
    """What makes two machine descriptions the same machine for tuning (the load
    average, Python version and the like do not)."""
    return {"cpu": machine.get("cpu"), "platform": machine.get("platform"),
            "usable_cpus": machine.get("usable_cpus"), "numpy": machine.get("numpy"),
            "blas": (machine.get("blas") or {}).get("version"), "blas_kernel": blas_kernel(machine),
            "thread_env": machine.get("thread_env") or {}}


@dataclass(frozen=True)
class TuneResult:
    """One machine's tuning: per (size, dtype) the winner (None: the library), its
    speed-up and every candidate's medians; the schemes by key (factors included, so
    a tuned module can be generated without the catalogue)."""

    machine: dict[str, Any]
    measured_at: str
    settings: dict[str, Any]
    schemes: dict[str, dict[str, Any]]
    cells: list[dict[str, Any]]
    path: Path | None = field(default=None, compare=False)

    @property
    def blas_kernel(self) -> str | None:
        return blas_kernel(self.machine)

    def cell(self, size: int, dtype: str) -> dict[str, Any]:
        for found in self.cells:
            if found["size"] == size and found["dtype"] == dtype:
                return found
        raise TensorGameError(f"no tuned result for {size}×{size} {dtype}")

    def scheme(self, key: str) -> Scheme:
        """The scheme of ``key``, verified exactly (a record is a file: not trusted)."""
        if key not in self.schemes:
            raise TensorGameError(f"the tune record names scheme {key!r} but does not hold it")
        scheme = scheme_from_json(self.schemes[key]["scheme"])
        check_scheme(scheme)
        return scheme

    def describe(self, winner: dict[str, Any] | None) -> str:
        if winner is None:
            return "library"
        return f"{self.schemes[winner['scheme']]['label']} ×{winner['levels']} {winner['backend']} " \
               f"(threshold {winner['threshold']})"

    def to_dict(self) -> dict[str, Any]:
        return {"machine": self.machine, "machine_key": machine_key(self.machine), "blas_kernel": self.blas_kernel,
                "measured_at": self.measured_at, "settings": self.settings, "schemes": self.schemes,
                "cells": self.cells}

    @classmethod
    def from_dict(cls, doc: Any, where: str = "tune record") -> TuneResult:
        try:
            result = cls(dict(doc["machine"]), str(doc["measured_at"]), dict(doc["settings"]),
                         {str(k): dict(v) for k, v in doc["schemes"].items()}, [dict(c) for c in doc["cells"]])
            for found in result.cells:
                int(found["size"]), str(found["dtype"]), float(found["speedup"])
                winner = found["winner"]
                if winner is not None and (winner["scheme"] not in result.schemes
                                           or winner["backend"] not in BACKENDS):
                    raise ValueError(f"winner {winner!r} is not a known scheme and backend")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise TensorGameError(f"{where}: not a tensorgame tune record ({exc!s})") from None
        return result


def tune_path(catalog_path: str | Path) -> Path:
    """Where tunings are kept: ``<catalogue file>.tune.json`` (as timings are, see
    :func:`.bench.timings_path`)."""
    path = Path(catalog_path)
    return path.with_name(path.name + ".tune.json")


def read_tunings(path: str | Path) -> list[TuneResult]:
    """The records of a tune file (one per machine)."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TensorGameError(f"{path}: no such tune file (run `tensorgame bench --tune` first)") from None
    except (OSError, ValueError) as exc:
        raise TensorGameError(f"{path}: not a readable tune file ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != TUNE_FORMAT or not isinstance(doc.get("records"), list):
        raise TensorGameError(f"{path}: not a tensorgame tune file")
    if doc.get("version") != TUNE_VERSION:
        raise TensorGameError(f"{path}: tune file version {doc.get('version')!r} (this reader knows {TUNE_VERSION})")
    return [TuneResult.from_dict(record, f"{path}, record {i + 1}") for i, record in enumerate(doc["records"])]


def record_for_machine(records: Sequence[TuneResult], machine: dict[str, Any] | None = None) -> TuneResult:
    """The record to use: the only one, else the one of this machine (``machine``:
    default this one's description)."""
    if len(records) == 1:
        return records[0]
    key = machine_key(machine if machine is not None else machine_info())
    for record in records:
        if machine_key(record.machine) == key:
            return record
    seen = "; ".join(f"{r.machine.get('cpu')} ({r.blas_kernel})" for r in records)
    raise TensorGameError(f"none of the {len(records)} tune records is for this machine ({seen}); "
                          "tune here, or write the record wanted with `bench --tune -o`")


def _write_records(path: Path, records: Sequence[TuneResult]) -> None:
    doc = {"format": TUNE_FORMAT, "version": TUNE_VERSION, "records": [r.to_dict() for r in records]}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, (json.dumps(doc, indent=2) + "\n").encode("utf-8"))


def store_result(path: str | Path, result: TuneResult) -> list[TuneResult]:
    """Add ``result`` to the tune file at ``path``: it replaces the cells of the same
    (size, dtype) in the record of the same machine, a new machine gets its own record
    (never overwritten silently). Returns the records now stored."""
    path = Path(path)
    records = read_tunings(path) if path.exists() else []
    key = machine_key(result.machine)
    merged = result
    for i, record in enumerate(records):
        if machine_key(record.machine) == key:
            measured = {(c["size"], c["dtype"]) for c in result.cells}
            kept = [c for c in record.cells if (c["size"], c["dtype"]) not in measured]
            cells = sorted(kept + result.cells, key=lambda c: (c["dtype"], c["size"]))
            used = {c["winner"]["scheme"] for c in cells if c["winner"] is not None} | \
                {row["scheme"] for c in cells for row in c["candidates"] if row.get("scheme")}
            schemes = {k: v for k, v in {**record.schemes, **result.schemes}.items() if k in used}
            merged = TuneResult(result.machine, result.measured_at, result.settings, schemes, cells)
            records[i] = merged
            break
    else:
        records.append(result)
    _write_records(path, records)
    return records


def default_schemes(catalog: Catalog) -> list[tuple[str, Scheme]]:
    """The catalogue's best scheme over Z of each :data:`DEFAULT_TARGETS` that beats
    the classical rank (labels ``#id``)."""
    found = []
    for name in DEFAULT_TARGETS:
        target = parse_target(name)
        entry = catalog.best(target, "Z")
        if entry is not None and entry.rank < math.prod(target.params):
            found.append((f"#{entry.id} {scheme_label(entry.scheme)}", entry.scheme))
    if not found:
        raise TensorGameError(f"the catalogue has no scheme over Z for {', '.join(DEFAULT_TARGETS)} below the "
                              "classical rank; name the schemes to tune (files or catalogue ids)")
    return found


def _threshold(scheme: Scheme, levels: int, size: int, thresholds: Sequence[int] | None) -> int | None:
    """The threshold with which exactly ``levels`` levels run at size×size: by default
    the side of the last level's product; of the thresholds given, the largest that
    still lets all levels run (the same computation at this size, and odd shapes stay
    on the library). None when the levels cannot run at this size."""
    n, m, p = size, size, size
    for gn, gm, gp in [scheme.target.params] * (levels - 1):
        n, m, p = n // gn, m // gm, p // gp
    gn, gm, gp = scheme.target.params
    smallest = min(n, m, p)
    if n < gn or m < gm or p < gp or smallest < 1:
        return None
    if thresholds is None:
        return smallest
    fitting = [t for t in thresholds if t <= smallest]
    return max(fitting) if fitting else None


def estimate_s(scheme: Scheme, levels: int, size: int, itemsize: int, library_s: float) -> float:
    """Rough seconds of one call: the leaf products at the library's speed per flop,
    a fixed overhead per product, and the block additions at memory speed."""
    additions = compile_level(scheme)[0].additions
    gn, gm, gp = scheme.target.params
    n, m, p, calls, total = size, size, size, 1, 0.0
    for _ in range(levels):
        n, m, p = n // gn, m // gm, p // gp
        total += calls * additions * max(n * m, m * p, n * p) * 3 * itemsize / _BANDWIDTH_BYTES_S
        calls *= scheme.rank
    return total + calls * (library_s * (n * m * p) / size**3 + _CALL_OVERHEAD_S)


def _check_sizes(sizes: Sequence[int], dtypes: Sequence[str]) -> None:
    if not sizes:
        raise TensorGameError("give at least one size to tune")
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise TensorGameError(f"sizes must be positive integers, got {size!r}")
    need = _MATRICES_ALIVE * max(sizes) ** 2 * max(np.dtype(d).itemsize for d in dtypes)
    memory = physical_memory_bytes()
    if need > memory // 2:
        raise TensorGameError(f"tuning at {max(sizes)}×{max(sizes)} needs about {need / 2**30:.1f} GiB, above half "
                              f"of this machine's {memory / 2**30:.1f} GiB; choose smaller sizes")


def tune(
    schemes: Sequence[Scheme] | None = None,
    *,
    labels: Sequence[str] | None = None,
    catalog: Catalog | None = None,
    sizes: Sequence[int] = DEFAULT_SIZES,
    dtypes: Sequence[str] = DTYPES,
    backends: Sequence[str] | None = None,
    max_levels: int = DEFAULT_MAX_LEVELS,
    thresholds: Sequence[int] | None = None,
    time_s: float | str = DEFAULT_TIME_S,
    repeats: int = 3,
    max_error: float | None = None,
    margin: float = MARGIN,
    store: str | Path | None = None,
    out: str | Path | None = None,
    timer: Timer | None = None,
    progress: Callable[[str], None] | None = None,
) -> TuneResult:
    """Measure which kernel multiplies size×size matrices fastest here, per size and
    dtype (see the module docstring), within ``time_s`` (seconds or ``"10m"``).

    ``schemes`` (default: :func:`default_schemes` of ``catalog``) with ``labels``;
    ``backends`` default numpy and numba, plus torch when installed; levels 1 to
    ``max_levels`` (0, the library, is always measured); ``thresholds``: those allowed
    (default: whatever lets each level count run). ``store``: the tune file to add the
    record to (e.g. :func:`tune_path` of the catalogue); ``out``: a file with this
    record alone. ``timer``: see :data:`Timer`. ``progress`` gets a line per step.
    """
    budget = parse_duration(time_s)
    if budget <= 0:
        raise TensorGameError(f"the time budget must be positive, got {time_s!r}")
    if repeats < 1:
        raise TensorGameError(f"repeats must be at least 1, got {repeats}")
    if not 1 <= max_levels <= MAX_LEVELS:
        raise TensorGameError(f"levels must be between 1 and {MAX_LEVELS}, got {max_levels}")
    if not 0 <= margin < 1:
        raise TensorGameError(f"the margin must be in [0, 1), got {margin}")
    if max_error is not None and not (math.isfinite(max_error) and max_error > 0):
        raise TensorGameError(f"the error bound must be a positive number, got {max_error}")
    if thresholds is not None and (not thresholds or any(isinstance(t, bool) or int(t) != t or t < 1
                                                         for t in thresholds)):
        raise TensorGameError(f"thresholds must be positive integers, got {list(thresholds)!r}")
    dtypes = list(dict.fromkeys(dtypes))
    for dtype in dtypes:
        if dtype not in DTYPES:
            raise TensorGameError(f"tuning measures {' and '.join(DTYPES)}, not {dtype!r}")
    _check_sizes(sizes, dtypes)
    backends = list(dict.fromkeys(backends)) if backends else \
        ["numpy", "numba"] + (["torch"] if torch_available() else [])
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        raise TensorGameError(f"unknown backend {unknown[0]!r}; expected one of {', '.join(BACKENDS)}")
    if "torch" in backends and not torch_available():
        raise TensorGameError("the torch backend needs PyTorch, which is not installed")
    if schemes is None:
        if catalog is None:
            raise TensorGameError("name the schemes to tune, or give a catalogue to take its best ones from")
        named = default_schemes(catalog)
    else:
        if labels is not None and len(labels) != len(schemes):
            raise TensorGameError(f"{len(labels)} labels for {len(schemes)} schemes")
        named = [(labels[i] if labels is not None else scheme_label(s), s) for i, s in enumerate(schemes)]
    if not named:
        raise TensorGameError("give at least one scheme to tune")
    by_key: dict[str, tuple[str, Scheme]] = {}
    for label, scheme in named:
        check_scheme(scheme)
        by_key.setdefault(scheme_key(scheme), (label, scheme))
    timer = timer or measure_kernels
    say = progress or (lambda _line: None)
    start = time.monotonic()
    deadline = start + budget
    size_list = sorted({int(s) for s in sizes})
    cells_todo = [(size, dtype) for size in size_list for dtype in dtypes]
    cells: list[dict[str, Any]] = []
    observed: list[float] = []
    for index, (size, dtype) in enumerate(cells_todo):
        share = max(0.0, deadline - time.monotonic()) / (len(cells_todo) - index)
        cells.append(_tune_cell(size, dtype, by_key, backends, max_levels, thresholds, repeats, max_error, margin,
                                time.monotonic() + share, timer, say, observed))
    machine = machine_info()
    settings = {"sizes": size_list, "dtypes": dtypes, "backends": backends,
                "max_levels": max_levels, "thresholds": None if thresholds is None else [int(t) for t in thresholds],
                "time_budget_s": budget, "elapsed_s": round(time.monotonic() - start, 3), "repeats": repeats,
                "max_error": max_error, "margin": margin, "prune": PRUNE, "optimise": True,
                "library": "numpy.matmul"}
    result = TuneResult(machine, datetime.now(UTC).isoformat(timespec="seconds"), settings,
                        {key: {"label": label, "scheme": scheme_to_json(scheme)}
                         for key, (label, scheme) in by_key.items()}, cells)
    if out is not None:
        _write_records(Path(out), [result])
    if store is not None:
        store_result(store, result)
        result = TuneResult(result.machine, result.measured_at, result.settings, result.schemes, result.cells,
                            Path(store))
    return result


def _tune_cell(size: int, dtype: str, schemes: dict[str, tuple[str, Scheme]], backends: Sequence[str],
               max_levels: int, thresholds: Sequence[int] | None, repeats: int, max_error: float | None,
               margin: float, cell_deadline: float, timer: Timer, say: Callable[[str], None],
               observed: list[float]) -> dict[str, Any]:
    """One (size, dtype): the library alone, then level 1, 2 ... of every scheme and
    backend still in the running, each level count in one set of rounds. ``observed``
    collects measured/estimated time of every kernel timed so far in this tune: their
    median corrects later estimates (the rough model is off by a machine's factor)."""
    itemsize = np.dtype(dtype).itemsize
    library_s, _ = timer([], size, dtype, repeats, False)
    say(f"{size}×{size} {dtype}: library {library_s:.4f} s")
    rows: list[dict[str, Any]] = [{"scheme": None, "label": "library (numpy.matmul)", "backend": "numpy",
                                   "levels": 0, "threshold": None, "status": "measured", "time_s": library_s,
                                   "library_s": library_s, "ratio": 1.0, "normwise_error": None,
                                   "estimate_s": None, "note": None}]
    alive = {(key, backend): None for key in schemes for backend in backends}  # value: the last ratio
    for levels in range(1, max_levels + 1):
        stage = []
        for key, backend in list(alive):
            scheme = schemes[key][1]
            threshold = _threshold(scheme, levels, size, thresholds)
            if threshold is None:
                del alive[key, backend]
                continue
            stage.append((Candidate(key, backend, levels, threshold), scheme,
                          estimate_s(scheme, levels, size, itemsize, library_s)))
        accuracy = max_error is not None
        correction = min(10.0, max(0.5, statistics.median(observed))) if observed else 1.0
        stage = [(c, scheme, e * correction) for c, scheme, e in stage]
        # each kernel: a warm-up measured for memory, one for its error, the rounds, and one
        # call per error distribution; besides: the library, each scheme's products alone
        # (bench's products/additions split) and, for errors, the exact products
        factor = repeats + 2 + (2 if accuracy else 0)
        fixed = (repeats + 1) * library_s * (1 + sum((s.rank / math.prod(s.target.params)) ** levels
                                                     for s in {id(s): s for _, s, _ in stage}.values()))
        fixed += 2 * 12 * library_s if accuracy else 0.0
        stage.sort(key=lambda item: item[2])
        while stage and time.monotonic() + fixed + factor * sum(e for _, _, e in stage) > cell_deadline:
            candidate, scheme, estimate = stage.pop()
            del alive[candidate.scheme, candidate.backend]
            rows.append(_row(candidate, schemes, "skipped", note=f"estimated {estimate:.3g} s a call: "
                             "does not fit this cell's share of the time budget", estimate_s=estimate))
        if not stage:
            break
        say(f"{size}×{size} {dtype}: level {levels}, {len(stage)} kernel(s)")
        _, timings = timer([(c, s) for c, s, _ in stage], size, dtype, repeats, accuracy)
        for (candidate, _, estimate), timing in zip(stage, timings, strict=True):
            pair = (candidate.scheme, candidate.backend)
            previous = alive[pair]
            status, note = "measured", None
            if max_error is not None and timing.normwise_error is not None and timing.normwise_error > max_error:
                status, note = "excluded", f"normwise error {timing.normwise_error:.2e} above {max_error:g}"
                del alive[pair]
            elif timing.ratio > 1 + PRUNE or (previous is not None and timing.ratio > previous * (1 + PRUNE)):
                note = "lost clearly: deeper levels not tried"
                del alive[pair]
            else:
                alive[pair] = timing.ratio
            rows.append(_row(candidate, schemes, status, note=note, estimate_s=estimate, timing=timing))
            observed.append(timing.time_s / (estimate / correction))
        if not alive:
            break
    measured = [r for r in rows if r["status"] == "measured" and r["levels"] > 0]
    best = min(measured, key=lambda r: r["ratio"], default=None)
    won = best is not None and best["ratio"] < 1 - margin
    winner = {k: best[k] for k in ("scheme", "backend", "levels", "threshold")} if won and best else None
    return {"size": size, "dtype": dtype, "library_s": library_s, "winner": winner,
            "speedup": 1 / best["ratio"] if won and best else 1.0,
            "candidates": sorted(rows, key=lambda r: (r["ratio"] is None, r["ratio"] or 0.0))}


def _row(candidate: Candidate, schemes: dict[str, tuple[str, Scheme]], status: str, *, note: str | None,
         estimate_s: float, timing: Timing | None = None) -> dict[str, Any]:
    return {"scheme": candidate.scheme, "label": schemes[candidate.scheme][0], "backend": candidate.backend,
            "levels": candidate.levels, "threshold": candidate.threshold, "status": status,
            "time_s": None if timing is None else timing.time_s,
            "library_s": None if timing is None else timing.library_s,
            "ratio": None if timing is None else timing.ratio,
            "normwise_error": None if timing is None else timing.normwise_error,
            "estimate_s": estimate_s, "note": note}


def tuned_kernels(result: TuneResult) -> tuple[list[TunedKernel], dict[str, list[tuple[int, int | None]]]]:
    """The distinct winning kernels of a record and, per dtype, (size, kernel index or
    None for the library) in increasing size: what the tuned module dispatches on."""
    kernels: dict[tuple[str, str, int, int], TunedKernel] = {}
    table: dict[str, list[tuple[int, int | None]]] = {}
    for found in sorted(result.cells, key=lambda c: (c["dtype"], c["size"])):
        winner = found["winner"]
        index = None
        if winner is not None:
            key = (winner["scheme"], winner["backend"], int(winner["levels"]), int(winner["threshold"]))
            if key not in kernels:
                kernels[key] = TunedKernel(result.scheme(key[0]), key[1], key[2], key[3], result.describe(winner))
            index = list(kernels).index(key)
        table.setdefault(found["dtype"], []).append((int(found["size"]), index))
    return list(kernels.values()), table


def write_tuned_module(result: TuneResult, path: str | Path) -> Path:
    """Write one module whose ``matmul(A, B)`` dispatches by dtype and size to the
    record's winners (see :func:`.generate.generate_tuned_module`); returns the path."""
    kernels, table = tuned_kernels(result)
    notes = [f"Tuned on {result.machine.get('cpu')} ({result.blas_kernel}), {result.measured_at}; a kernel won",
             (f"only where it beat {result.settings.get('library', 'the library')} by "
              f"{float(result.settings.get('margin', MARGIN)):.0%} in median time.")]
    path = Path(path)
    atomic_write(path, generate_tuned_module(kernels, table, notes=notes).encode("utf-8"))
    return path
