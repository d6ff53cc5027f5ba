"""Timing generated algorithms against the library product, on this machine.

Everything runs in one process, side by side: for every size, the baseline
(``numpy.matmul`` for the numpy and numba backends, ``torch.matmul`` for torch) and
every generated module get one warm-up call, then ``repeats`` rounds in which each is
called once (so slow drifts in machine load hit all of them alike); the median is
reported, with the ratio to the baseline (below 1 means faster than the library);
the same rounds time a run's library products alone (``products_s``, where no level
peels), so ``rest_s`` = time - products is what the additions and overhead cost;
``best_ratio`` compares the fastest runs, a steadier estimate on a loaded machine, and
``cpu_ratio`` the medians of process CPU time (all threads), which other processes do
not inflate -- with a single BLAS thread it is the cleanest measure of work saved.
Results carry a description of the machine, since BLAS threads and CPU decide them.
Peak extra memory is measured with tracemalloc on the warm-up call of NumPy modules.
With ``accuracy``, each row also carries the kernel's and the library's error against
the exact product (:mod:`.accuracy`), on seeded inputs of each distribution there.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from tensorgame.catalog import Catalog
from tensorgame.codegen.accuracy import DISTRIBUTIONS, float_dtype, library_product, measure, numpy_call
from tensorgame.codegen.generate import BACKENDS, DEFAULT_THRESHOLD, build_module, compile_level
from tensorgame.errors import TensorGameError
from tensorgame.fileio import atomic_write
from tensorgame.tensors.scheme import Scheme
from tensorgame.tensors.targets import Target

#: Version of the timings file stored next to a catalogue.
TIMINGS_FORMAT = "tensorgame-timings"

Algorithm = tuple[str, Scheme | Sequence[Scheme], int]


def torch_available() -> bool:
    """Whether PyTorch imports here (a broken or half-installed torch counts as absent)."""
    if importlib.util.find_spec("torch") is None:
        return False
    try:
        import torch  # noqa: F401
    except Exception:  # any import failure means: no torch backend on this machine
        return False
    return True


def _blas_info() -> dict[str, Any]:
    try:
        config = np.show_config(mode="dicts")
    except TypeError:  # numpy < 1.25 has no mode="dicts"
        return {}
    deps = config.get("Build Dependencies", {}) if isinstance(config, dict) else {}
    return {k: deps.get("blas", {}).get(k) for k in ("name", "version", "openblas configuration")}


def _blas_runtime() -> dict[str, Any]:
    """The BLAS kernel that runs here (OpenBLAS picks it by CPU at load time, unless
    OPENBLAS_CORETYPE forces one) and its threads: from threadpoolctl when installed,
    else from the OpenBLAS library NumPy bundles."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        pass
    else:
        return {"threadpools": threadpool_info()}
    import ctypes
    import glob

    libs = glob.glob(str(Path(np.__file__).resolve().parents[1] / "numpy.libs" / "*openblas*"))
    if not libs:
        return {}
    lib = ctypes.CDLL(libs[0])
    info: dict[str, Any] = {"library": Path(libs[0]).name}
    for symbol in ("scipy_openblas_get_corename64_", "openblas_get_corename"):
        if hasattr(lib, symbol):
            getattr(lib, symbol).restype = ctypes.c_char_p
            info["corename"] = getattr(lib, symbol)().decode()
            break
    for symbol in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads"):
        if hasattr(lib, symbol):
            info["threads"] = int(getattr(lib, symbol)())
            break
    return info


def machine_info() -> dict[str, Any]:
    """What the timings depend on: CPU, cores available, BLAS and its thread settings."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "numpy": np.__version__,
        "blas": _blas_info(),
        "blas_runtime": _blas_runtime(),
        "thread_env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                                   "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "NUMBA_NUM_THREADS")
                       if k in os.environ},
    }
    if "numba" in sys.modules:
        numba = sys.modules["numba"]
        info["numba"] = numba.__version__
        info["numba_threads"] = numba.config.NUMBA_NUM_THREADS
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    return info


def _label(schemes: Scheme | Sequence[Scheme], levels: int) -> str:
    if isinstance(schemes, Scheme):
        return f"{schemes.target.name} rank {schemes.rank} ×{levels}"
    return " / ".join(f"{s.target.name} rank {s.rank}" for s in schemes)


def _algorithms(schemes: Sequence[Scheme | Sequence[Scheme]], levels: int | Sequence[int],
                labels: Sequence[str] | None) -> list[Algorithm]:
    level_list = [levels] if isinstance(levels, int) else list(levels)
    algos: list[Algorithm] = []
    for index, entry in enumerate(schemes):
        counts = level_list if isinstance(entry, Scheme) else [len(entry)]
        for count in counts:
            name = labels[index] if labels is not None else _label(entry, count)
            if isinstance(entry, Scheme) and len(counts) > 1 and labels is not None:
                name = f"{name} ×{count}"
            algos.append((name, entry, count))
    return algos


def _inputs(size: int | tuple[int, int, int], dtype: np.dtype, seed: int) -> tuple[np.ndarray, np.ndarray]:
    n, m, p = (size, size, size) if isinstance(size, int) else size
    rng = np.random.default_rng(seed)
    if dtype.kind in "iu":
        return rng.integers(-8, 9, (n, m)).astype(dtype), rng.integers(-8, 9, (m, p)).astype(dtype)
    return rng.standard_normal((n, m)).astype(dtype), rng.standard_normal((m, p)).astype(dtype)


def _error(result: Any, reference: Any) -> float:
    """Largest difference relative to the largest reference entry (0.0 when exact)."""
    a, b = np.asarray(result, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    scale = float(np.abs(b).max(initial=0.0)) or 1.0
    return float(np.abs(a - b).max(initial=0.0)) / scale


def _peak_extra(fn: Callable[[], Any], result_bytes: int) -> int:
    """Peak bytes allocated during one call, beyond the result itself."""
    tracemalloc.start()
    try:
        fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return max(0, peak - result_bytes)


def bench(
    schemes: Sequence[Scheme | Sequence[Scheme]],
    sizes: Sequence[int | tuple[int, int, int]],
    dtype: str = "float64",
    repeats: int = 3,
    levels: int | Sequence[int] = 1,
    threshold: int = DEFAULT_THRESHOLD,
    *,
    labels: Sequence[str] | None = None,
    backends: Sequence[str] | None = None,
    optimise: bool = True,
    seed: int = 0,
    accuracy: bool = False,
    json_path: str | Path | None = None,
    plot_path: str | Path | None = None,
    echo: Callable[[str], None] | None = print,
) -> list[dict[str, Any]]:
    """Time each scheme (at each level count) against the library product.

    ``schemes``: schemes used at every level (once per entry of ``levels``) or lists of
    per-level schemes. ``sizes``: n for n×n by n×n, or (n, m, p). ``backends``: default
    numpy, plus torch when it is installed. Prints a table through ``echo`` (None:
    silent), writes JSON (machine description included) and a PNG plot when asked.
    One row per (algorithm, backend, size), with medians in seconds and the ratio;
    ``accuracy`` (float dtypes) adds each row's errors against the exact product.
    """
    if repeats < 1:
        raise TensorGameError(f"repeats must be at least 1, got {repeats}")
    if labels is not None and len(labels) != len(schemes):
        raise TensorGameError(f"{len(labels)} labels for {len(schemes)} schemes")
    try:
        np_dtype = np.dtype(dtype)
    except TypeError:
        raise TensorGameError(f"unknown dtype {dtype!r}") from None
    if accuracy:
        float_dtype(np_dtype.name)
    backends = list(backends) if backends is not None else ["numpy"] + (["torch"] if torch_available() else [])
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        raise TensorGameError(f"unknown backend {unknown[0]!r}; expected one of {', '.join(BACKENDS)}")
    if "torch" in backends and not torch_available():
        raise TensorGameError("the torch backend needs PyTorch, which is not installed")
    algos = _algorithms(schemes, levels, labels)
    rows: list[dict[str, Any]] = []
    for kind in dict.fromkeys("torch" if b == "torch" else "numpy" for b in backends):
        # backends on the same arrays (numpy, numba) are timed in the same rounds
        runs = [(algo, backend, build_module(algo[1], target=backend, threshold=threshold, optimise=optimise,
                                             levels=algo[2] if isinstance(algo[1], Scheme) else None))
                for backend in backends if ("torch" if backend == "torch" else "numpy") == kind for algo in algos]
        for size in sizes:
            found = time_runs(runs, kind, size, np_dtype, repeats, seed, optimise)
            if accuracy:
                add_accuracy(found, runs, kind, size, np_dtype, seed)
            rows += found
    if echo is not None:
        echo(format_table(rows))
    if json_path is not None:
        doc = {"machine": machine_info(), "dtype": np_dtype.name, "repeats": repeats,
               "threshold": threshold, "optimise": optimise, "results": rows}
        if accuracy:
            doc["accuracy_inputs"] = DISTRIBUTIONS
        atomic_write(json_path, (json.dumps(doc, indent=2) + "\n").encode("utf-8"))
    if plot_path is not None:
        plot(rows, plot_path)
    return rows


def add_accuracy(rows: list[dict[str, Any]], runs: list[tuple[Algorithm, str, Any]], kind: str,
                  size: int | tuple[int, int, int], dtype: np.dtype, seed: int) -> None:
    """Each row's error and the library's, per distribution, against the exact product."""
    products = [numpy_call(library_product(kind), kind)] + [numpy_call(mod.matmul, kind) for _, _, mod in runs]
    measured = measure(products, size, dtype.name, seed=seed)
    for k, row in enumerate(rows):
        row["accuracy"] = {
            distribution: {"normwise": errors[k + 1].normwise, "elementwise": errors[k + 1].elementwise,
                           "library_normwise": errors[0].normwise, "library_elementwise": errors[0].elementwise}
            for distribution, errors in measured.items()}


def worst_normwise(row: dict[str, Any]) -> float:
    """A row's largest normwise error over the distributions measured (its ``accuracy``)."""
    return max(e["normwise"] for e in row["accuracy"].values())


def _products_only(per_level: list[Scheme], levels_run: int, size: tuple[int, int, int], a: Any, b: Any,
                   baseline: Callable[..., Any]) -> Callable[[], Any] | None:
    """The library products of a run alone (the leaf products into one preallocated
    block), to split a run's time into products and additions; None when some level
    would peel (its sides do not divide), where the split is not this simple."""
    n, m, p = size
    count = 1
    for scheme in per_level[:levels_run]:
        gn, gm, gp = scheme.target.params
        if n % gn or m % gm or p % gp:
            return None
        n, m, p, count = n // gn, m // gm, p // gp, count * scheme.rank
    out = baseline(a[:n, :m], b[:m, :p])

    def products() -> None:
        for _ in range(count):
            baseline(a[:n, :m], b[:m, :p], out=out)
    return products


def time_calls(calls: Sequence[Callable[[], Any]], repeats: int) -> tuple[list[list[float]], list[list[float]]]:
    """Wall-clock and process-CPU seconds of each call in ``repeats`` rounds, each call
    once per round, so slow drifts in machine load hit all of them alike (the one timer
    of ``bench`` and ``tune``; warm the calls up first)."""
    times: list[list[float]] = [[] for _ in calls]
    cpu: list[list[float]] = [[] for _ in calls]
    for _ in range(repeats):
        for i, call in enumerate(calls):
            start, start_cpu = time.perf_counter(), time.process_time()
            call()
            times[i].append(time.perf_counter() - start)
            cpu[i].append(time.process_time() - start_cpu)
    return times, cpu


def time_runs(runs: list[tuple[Algorithm, str, Any]], kind: str, size: int | tuple[int, int, int],
              dtype: np.dtype, repeats: int, seed: int, optimise: bool) -> list[dict[str, Any]]:
    """One row per run (generated module) at one size, timed in the same rounds as the
    library product of ``kind`` (numpy or torch arrays): warm-up, :func:`time_calls`,
    medians and the products/additions split (see the module docstring)."""
    a, b = _inputs(size, dtype, seed)
    if kind == "torch":
        import torch

        a, b = torch.from_numpy(a), torch.from_numpy(b)
        baseline: Callable[..., Any] = torch.matmul
    else:
        baseline = np.matmul
    n, m, p = (size, size, size) if isinstance(size, int) else size
    per_levels = [[entry] * count if isinstance(entry, Scheme) else list(entry) for (_, entry, count), _, _ in runs]
    levels_run = [len(module.levels_used(n, m, p)) for _, _, module in runs]
    products: dict[tuple[int, ...], Callable[[], Any] | None] = {}
    for per_level, ran in zip(per_levels, levels_run, strict=True):
        key = tuple(id(s) for s in per_level[:ran])
        if key not in products:
            products[key] = _products_only(per_level, ran, (n, m, p), a, b, baseline) if ran else None
    product_calls = [call for call in products.values() if call is not None]
    calls = [lambda: baseline(a, b)] + [lambda mod=mod: mod.matmul(a, b) for _, _, mod in runs] + product_calls
    reference = calls[0]()
    result_bytes = int(np.asarray(reference).nbytes)
    peaks, errors = [], []
    for call in calls[1:len(runs) + 1]:  # warm-up, measured for memory and accuracy
        if kind == "numpy":
            peaks.append(_peak_extra(call, result_bytes))
        errors.append(_error(call(), reference))
    for call in product_calls:
        call()
    times, cpu = time_calls(calls, repeats)
    base = statistics.median(times[0])
    product_times = {id(call): statistics.median(times[len(runs) + 1 + i]) for i, call in enumerate(product_calls)}
    rows = []
    for k, ((name, _, _), backend, module) in enumerate(runs):
        per_level = per_levels[k]
        found = [compile_level(s, optimise=optimise)[0] for s in per_level]
        median = statistics.median(times[k + 1])
        products_call = products[tuple(id(s) for s in per_level[:levels_run[k]])]
        products_s = product_times[id(products_call)] if products_call is not None else None
        rows.append({
            "algorithm": name, "backend": backend, "size": [n, m, p], "dtype": dtype.name,
            "levels": len(per_level), "levels_run": levels_run[k],
            "ranks": [s.rank for s in per_level],
            "additions": [f.additions for f in found], "additions_as_written": [f.naive_additions for f in found],
            "time_s": median, "baseline_s": base, "ratio": median / base,
            "best_ratio": min(times[k + 1]) / min(times[0]),
            "cpu_s": statistics.median(cpu[k + 1]), "baseline_cpu_s": statistics.median(cpu[0]),
            "cpu_ratio": statistics.median(cpu[k + 1]) / statistics.median(cpu[0]),
            "times_s": times[k + 1], "baseline_times_s": times[0],
            "products_s": products_s, "rest_s": None if products_s is None else median - products_s,
            "max_rel_error": errors[k],
            "peak_extra_bytes": peaks[k] if peaks else None,
            "workspace_bytes": module.workspace_bytes(n, m, p, dtype.itemsize),
        })
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """Plain-text table of the rows (one line per algorithm, backend and size): medians,
    their ratio, and the ratio of the fastest runs ("best", less sensitive to other load).
    Rows with ``accuracy`` add the normwise error on uniform inputs and the library's
    beside the speed, then an error table of every distribution and both measures."""
    measured = bool(rows) and all("accuracy" in r for r in rows)
    header = f"{'algorithm':<34} {'backend':<7} {'size':>16} {'dtype':<8} {'time s':>9} {'library s':>9} " \
             f"{'ratio':>6} {'best':>6} {'products s':>10} {'rest s':>7} {'rel err':>8} {'extra MiB':>9}"
    if measured:
        header += f" {'norm err':>8} {'library':>8}"
    lines = [header, "-" * len(header)]
    for r in rows:
        size = "×".join(str(x) for x in r["size"])
        extra = r["peak_extra_bytes"] if r["peak_extra_bytes"] is not None else r["workspace_bytes"]
        split = f"{'-':>10} {'-':>7}" if r["products_s"] is None else f"{r['products_s']:>10.4f} {r['rest_s']:>7.4f}"
        line = f"{r['algorithm']:<34} {r['backend']:<7} {size:>16} {r['dtype']:<8} {r['time_s']:>9.4f} " \
               f"{r['baseline_s']:>9.4f} {r['ratio']:>6.3f} {r['best_ratio']:>6.3f} {split} " \
               f"{r['max_rel_error']:>8.1e} {extra / 2**20:>9.1f}"
        if measured:
            uniform = r["accuracy"]["uniform"]
            line += f" {uniform['normwise']:>8.1e} {uniform['library_normwise']:>8.1e}"
        lines.append(line)
    if measured:
        lines += ["", format_errors([{"algorithm": r["algorithm"], "backend": r["backend"], "size": r["size"],
                                      "dtype": r["dtype"], "distribution": d, **e}
                                     for r in rows for d, e in r["accuracy"].items()])]
    return "\n".join(lines)


def format_errors(rows: list[dict[str, Any]]) -> str:
    """Plain-text table of error rows (algorithm, backend, size, dtype, distribution,
    normwise and elementwise errors beside the library's)."""
    header = f"{'algorithm':<34} {'backend':<7} {'size':>16} {'dtype':<8} {'inputs':<8} {'normwise':>9} {'library':>9} " \
             f"{'elementwise':>11} {'library':>9}"
    lines = [header, "-" * len(header)]
    for r in rows:
        size = "×".join(str(x) for x in r["size"])
        lines.append(f"{r['algorithm']:<34} {r['backend']:<7} {size:>16} {r['dtype']:<8} {r['distribution']:<8} "
                     f"{r['normwise']:>9.2e} "
                     f"{r['library_normwise']:>9.2e} {r['elementwise']:>11.2e} {r['library_elementwise']:>9.2e}")
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: str | Path) -> None:
    """PNG of median time against n (log-log), one line per algorithm and backend, with
    each backend's library product; uses the Agg canvas directly (no global backend)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    series: dict[str, dict[int, float]] = {}
    for r in rows:
        series.setdefault(f"{r['algorithm']} ({r['backend']})", {})[r["size"][0]] = r["time_s"]
        series.setdefault(f"library ({r['backend']})", {})[r["size"][0]] = r["baseline_s"]
    for name, points in series.items():
        xs = sorted(points)
        ax.plot(xs, [points[x] for x in xs], marker="o", linestyle="--" if name.startswith("library") else "-",
                label=name)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("n (first side of A)")
    ax.set_ylabel("median time (s)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(str(path), format="png")


def timings_path(catalog: Catalog) -> Path:
    """Where :func:`rank_by_runtime` keeps timings: ``<catalogue file>.timings.json``."""
    return catalog.path.with_name(catalog.path.name + ".timings.json")


def rank_by_runtime(
    target: Target,
    catalog: Catalog,
    *,
    size: int = 2048,
    dtype: str = "float64",
    repeats: int = 3,
    levels: int = 1,
    threshold: int = DEFAULT_THRESHOLD,
    backend: str = "numpy",
    limit: int | None = None,
    ids: Sequence[int] | None = None,
    accuracy: bool = False,
    max_error: float | None = None,
    store: bool = True,
    echo: Callable[[str], None] | None = print,
) -> dict[str, Any]:
    """Time every catalogue scheme of ``target`` valid over Z or Q (``limit``: the best
    ``limit`` by rank and additions; ``ids``: only these entries, e.g. the schemes of
    one rank a search just collected) on size×size matrices and rank them by runtime.

    Returns the run (machine, settings, results fastest first) and, with ``store``,
    records it in :func:`timings_path` (atomically, replacing an earlier run with the
    same settings on the same machine). Schemes valid only modulo p are listed as skipped.
    ``accuracy`` measures each kernel's error against the exact product; ``max_error``
    (implies it) is an error bound: kernels whose normwise error exceeds it on some
    distribution are left out of the ranking and listed as ``excluded``.
    """
    if not target.is_matmul:
        raise TensorGameError(f"{target.name} is not a matrix multiplication target")
    if max_error is not None and not (math.isfinite(max_error) and max_error > 0):
        raise TensorGameError(f"the error bound must be a positive number, got {max_error}")
    entries = catalog.list(target_key=target.key)
    if ids is not None:
        missing = sorted(set(ids) - {e.id for e in entries})
        if missing:
            raise TensorGameError(f"catalogue entry {missing[0]} is not a scheme of {target.name}")
        entries = [e for e in entries if e.id in set(ids)]
    usable = [e for e in entries if e.scheme.ring.modulus is None][:limit]
    skipped = [{"id": e.id, "ring": e.ring, "rank": e.rank} for e in entries if e.scheme.ring.modulus is not None]
    if not usable:
        raise TensorGameError(f"the catalogue has no scheme for {target.name} over Z or Q")
    rows = bench([e.scheme for e in usable], [size], dtype, repeats, levels, threshold,
                 labels=[f"#{e.id} rank {e.rank}" for e in usable], backends=[backend],
                 accuracy=accuracy or max_error is not None, echo=None)
    for entry, row in zip(usable, rows, strict=True):
        row["entry_id"] = entry.id
        row["method"] = entry.method
    excluded = [{"id": r["entry_id"], "rank": r["ranks"][0], "normwise_error": worst_normwise(r)}
                for r in rows if max_error is not None and worst_normwise(r) > max_error]
    if len(excluded) == len(rows):
        best = min(e["normwise_error"] for e in excluded)
        raise TensorGameError(f"no {target.name} scheme stays within the error bound {max_error:g} "
                              f"(the smallest normwise error measured is {best:.2e})")
    rows = sorted((r for r in rows if max_error is None or worst_normwise(r) <= max_error), key=lambda r: r["time_s"])
    run = {
        "target": target.key, "target_name": target.name, "size": size, "dtype": rows[0]["dtype"],
        "levels": levels, "threshold": threshold, "backend": backend, "repeats": repeats, "max_error": max_error,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(), "results": rows, "skipped": skipped, "excluded": excluded,
    }
    if echo is not None:
        echo(format_table(rows))
        if excluded:
            echo(f"left out by the error bound {max_error:g} (normwise error): " + ", ".join(
                f"#{e['id']} rank {e['rank']} ({e['normwise_error']:.2e})" for e in excluded))
    if store:
        _store_run(timings_path(catalog), run)
    return run


def _store_run(path: Path, run: dict[str, Any]) -> None:
    settings = ("target", "size", "dtype", "levels", "threshold", "backend", "max_error")
    runs: list[dict[str, Any]] = []
    if path.exists():
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise TensorGameError(f"{path}: not a readable timings file ({exc})") from None
        if not isinstance(doc, dict) or doc.get("format") != TIMINGS_FORMAT:
            raise TensorGameError(f"{path}: not a tensorgame timings file; not overwriting it")
        runs = list(doc.get("runs", []))

    def same(other: dict[str, Any]) -> bool:
        return all(other.get(k) == run[k] for k in settings) and other.get("machine", {}).get("cpu") == \
            run["machine"]["cpu"] and other.get("machine", {}).get("platform") == run["machine"]["platform"]

    runs = [r for r in runs if not same(r)] + [run]
    doc = {"format": TIMINGS_FORMAT, "version": 1, "runs": runs}
    atomic_write(path, (json.dumps(doc, indent=2) + "\n").encode("utf-8"))


def stored_timings(catalog: Catalog) -> list[dict[str, Any]]:
    """The runs recorded next to ``catalog`` (empty when none were stored)."""
    path = timings_path(catalog)
    if not path.exists():
        return []
    try:
        return list(json.loads(path.read_text(encoding="utf-8")).get("runs", []))
    except (OSError, ValueError, AttributeError) as exc:
        raise TensorGameError(f"{path}: not a readable timings file ({exc})") from None
