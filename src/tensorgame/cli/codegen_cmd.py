"""``tensorgame codegen`` and ``tensorgame bench``: from a verified scheme to a fast,
importable kernel, timed against the library product on this machine."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from tensorgame.api import generate_code
from tensorgame.cli.common import (
    emit_json,
    json_option,
    load_scheme_arg,
    open_catalog,
    print_table,
    state,
)
from tensorgame.codegen.bench import bench as run_bench
from tensorgame.codegen.bench import rank_by_runtime
from tensorgame.errors import TensorGameError
from tensorgame.tensors.target_names import parse_target

_BACKENDS = click.Choice(["numpy", "numba", "torch"])
_DTYPE_NAMES = ("float32", "float64", "int64")


class DtypeList(click.ParamType):
    """``--dtype float32,float64``: one or more dtypes, comma-separated."""

    name = "dtype[,dtype]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[str, ...]:
        if isinstance(value, tuple):
            return value
        names = tuple(dict.fromkeys(v.strip() for v in str(value).split(",") if v.strip()))
        bad = [n for n in names if n not in _DTYPE_NAMES]
        if bad or not names:
            self.fail(f"{value!r}: expected one or more of {', '.join(_DTYPE_NAMES)}, comma-separated", param, ctx)
        return names


@click.command()
@click.argument("schemes", nargs=-1, metavar="SCHEME|ID...")
@click.option("--tuned", is_flag=True,
              help="Instead: one module dispatching by size and dtype to the kernels `bench --tune` chose; "
                   "SCHEME is then the tune file (default: the one next to the catalogue).")
@click.option("--backend", type=_BACKENDS, default="numpy", show_default=True,
              help="Library of the generated module.")
@click.option("--levels", type=click.IntRange(1, 8), help="Recursion levels (default: 1, or one per SCHEME given).")
@click.option("--threshold", type=click.IntRange(1), default=1024, show_default=True,
              help="Below this side the library product is used.")
@click.option("--optimise/--no-optimise", default=True, show_default=True,
              help="Search equivalent forms and eliminate common subexpressions.")
@click.option("--search", "search_iterations", type=click.IntRange(0), default=300, show_default=True,
              help="Moves of the equivalent-form search.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--listing", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the optimised straight-line program of the first scheme.")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Python module to write.")
@json_option
def codegen(schemes: tuple[str, ...], tuned: bool, backend: str, levels: int | None, threshold: int,
            optimise: bool, search_iterations: int, seed: int, listing: Path | None, out: Path,
            as_json: bool) -> None:
    """Generate a Python module whose matmul(A, B) applies the scheme(s) recursively.

    One SCHEME is used at every level; several give one scheme per level. Each SCHEME
    is a file or a catalogue id; it must verify over Z or Q. With --tuned, the module
    dispatches to the kernels a tune measured fastest (the record of this machine).
    """
    if tuned:
        _codegen_tuned(schemes, out, as_json)
        return
    if not schemes:
        raise click.UsageError("name at least one SCHEME (file or catalogue id), or use --tuned")
    made = generate_code([load_scheme_arg(s) for s in schemes], out, backend=backend, levels=levels,
                         threshold=threshold, optimise=optimise, search_iterations=search_iterations,
                         seed=seed, listing=listing)
    if as_json:
        emit_json({"module": str(made.module), "backend": made.backend, "levels": made.levels,
                   "listing": None if made.listing is None else str(made.listing), "schemes": made.schemes})
        return
    for c in made.schemes:
        click.echo(f"{c['target']} over {c['ring']}, rank {c['rank']}: additions {c['additions_naive']} as written"
                   f" -> {c['additions_cse']} with CSE -> {c['additions_optimised']} optimised")
    if made.listing is not None:
        click.echo(f"wrote {made.listing} (the straight-line program)")
    click.echo(f"wrote {made.module} (import it and call matmul(A, B))")


@click.command()
@click.argument("schemes", nargs=-1, metavar="SCHEME|ID...")
@click.option("--sizes", help="Comma-separated matrix sides  [default: 1024,2048; with --tune 1024,2048,4096]")
@click.option("--dtype", "dtypes", type=DtypeList(),
              help="float32, float64 or int64  [default: float64; with --tune float32,float64, comma-separated]")
@click.option("--repeats", type=click.IntRange(1), default=3, show_default=True)
@click.option("--levels", type=click.IntRange(1, 8),
              help="Recursion levels  [default: 1; with --tune: the most tried, 3]")
@click.option("--threshold", type=click.IntRange(1),
              help="Below this side the library product is used  [default: 1024; with --tune: whatever lets "
                   "each level count run]")
@click.option("--backend", "backends", type=_BACKENDS, multiple=True,
              help="numpy, numba and/or torch (default: numpy, plus torch when installed; with --tune numpy "
                   "and numba, plus torch when installed).")
@click.option("--tune", is_flag=True,
              help="Instead: choose per size and dtype the fastest of scheme, levels and backend, or the "
                   "library, by measurement; store it next to the catalogue (per machine).")
@click.option("--time", "time_budget", default="10m", show_default=True,
              help="With --tune: the time budget (90s, 10m, 1h).")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), help="PNG of time against size.")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the results as JSON.")
@click.option("--rank-by-runtime", "rank_target", metavar="N,M,P",
              help="Instead: time every catalogue scheme of this target and rank them (stored with the machine).")
@click.option("--accuracy", is_flag=True,
              help="Also measure each kernel's error against the exact product (float dtypes).")
@click.option("--max-error", type=float, metavar="X",
              help="With --rank-by-runtime or --tune: leave out kernels whose normwise error exceeds X.")
@json_option
def bench(schemes: tuple[str, ...], sizes: str | None, dtypes: tuple[str, ...] | None, repeats: int,
          levels: int | None, threshold: int | None, backends: tuple[str, ...], tune: bool, time_budget: str,
          plot: Path | None, out: Path | None, rank_target: str | None, accuracy: bool, max_error: float | None,
          as_json: bool) -> None:
    """Time generated kernels against the library matmul, side by side in one process
    (warm-up, repeats, medians); print ratios (below 1 = faster than the library).

    --accuracy adds the error against the exact product beside the speed: normwise,
    max|C - AB| / (max|A| max|B|), and elementwise, max |C - AB| / (|A||B|), on uniform
    and on row/column-scaled inputs, with the library product's as the baseline.

    --tune measures, per size and dtype, which scheme, levels and backend beat the
    library here (a 2% margin; ties go to the library), within --time, and stores the
    choice with the machine description; `codegen --tuned` turns it into a module."""
    try:
        size_list = [int(s) for s in sizes.split(",") if s.strip()] if sizes is not None else None
    except ValueError:
        raise click.BadParameter(f"{sizes!r} is not a comma-separated list of sides", param_hint="--sizes") from None
    echo = None if as_json else click.echo
    if tune:
        if rank_target is not None or plot is not None or accuracy:
            raise click.UsageError("--tune takes no --rank-by-runtime, --plot or --accuracy (--max-error applies)")
        _bench_tune(schemes, size_list, dtypes, repeats, levels, threshold, backends, time_budget, max_error, out,
                    as_json)
        return
    if dtypes is not None and len(dtypes) > 1:
        raise click.BadParameter("give one dtype (several only with --tune)", param_hint="--dtype")
    dtype = dtypes[0] if dtypes else "float64"
    size_list = size_list or [1024, 2048]
    levels = levels or 1
    threshold = threshold or 1024
    if rank_target is not None:
        if schemes:
            raise click.UsageError("--rank-by-runtime takes no SCHEME arguments")
        with open_catalog(create=False) as cat:
            run = rank_by_runtime(parse_target(rank_target), cat, size=size_list[-1], dtype=dtype,
                                  repeats=repeats, levels=levels, threshold=threshold,
                                  backend=backends[0] if backends else "numpy", accuracy=accuracy,
                                  max_error=max_error, echo=echo)
        if as_json:
            emit_json(run)
        return
    if not schemes:
        raise click.UsageError("name at least one SCHEME (file or catalogue id), or use --rank-by-runtime")
    if max_error is not None:
        raise TensorGameError("--max-error applies to --rank-by-runtime (use --accuracy to see the errors)")
    rows = run_bench([load_scheme_arg(s) for s in schemes], size_list, dtype, repeats, levels, threshold,
                     labels=list(schemes), backends=list(backends) or None, accuracy=accuracy, json_path=out,
                     plot_path=plot, echo=echo)
    if as_json:
        emit_json({"results": rows, "out": None if out is None else str(out),
                   "plot": None if plot is None else str(plot)})
        return
    for path, what in ((out, "the results (JSON)"), (plot, "the plot")):
        if path is not None:
            click.echo(f"wrote {what} to {path}")


def _bench_tune(schemes: tuple[str, ...], sizes: list[int] | None, dtypes: tuple[str, ...] | None, repeats: int,
                levels: int | None, threshold: int | None, backends: tuple[str, ...], time_budget: str,
                max_error: float | None, out: Path | None, as_json: bool) -> None:
    """``bench --tune``: :func:`tensorgame.codegen.tune.tune`, a table, the files written."""
    from tensorgame.codegen.tune import (
        DEFAULT_MAX_LEVELS,
        DEFAULT_SIZES,
        DTYPES,
        tune,
        tune_path,
    )

    loaded = [load_scheme_arg(s) for s in schemes]
    with (nullcontext() if loaded else open_catalog(create=False)) as catalog:
        result = tune(loaded or None, labels=list(schemes) or None, catalog=catalog,
                      sizes=sizes or DEFAULT_SIZES, dtypes=dtypes or DTYPES, backends=list(backends) or None,
                      max_levels=levels or DEFAULT_MAX_LEVELS, thresholds=None if threshold is None else [threshold],
                      time_s=time_budget, repeats=repeats, max_error=max_error, store=tune_path(state().catalog),
                      out=out, progress=None if as_json else lambda line: click.echo(line, err=True))
    if as_json:
        emit_json({"tune": result.to_dict(), "stored": str(result.path), "out": None if out is None else str(out)})
        return
    rows = []
    for cell in result.cells:
        winner = cell["winner"]
        measured = [r for r in cell["candidates"] if r["status"] == "measured"]
        won = next((r for r in measured if _is_winner(r, winner)), None)
        others = [r for r in measured if r is not won and not (winner is None and r["levels"] == 0)]
        runners = ", ".join(f"{_kernel_name(r)} {1 / r['ratio']:.2f}×" for r in others[:3])
        times = f"{cell['library_s']:.3g}" if won is None else f"{won['time_s']:.3g} / {won['library_s']:.3g}"
        rows.append((cell["size"], cell["dtype"], result.describe(winner), f"{cell['speedup']:.2f}×", times,
                     runners))
    print_table(["size", "dtype", "winner", "speed-up", "time s / library s", "runners-up (speed-up)"], rows,
                title=f"tuned on {result.machine.get('cpu')}, {result.blas_kernel} (a kernel wins only "
                      f"{result.settings['margin']:.0%} faster than the library)")
    click.echo(f"stored next to the catalogue: {result.path}")
    if out is not None:
        click.echo(f"wrote {out}")


def _is_winner(row: dict[str, Any], winner: dict[str, Any] | None) -> bool:
    return winner is not None and row["levels"] > 0 and all(row[k] == winner[k] for k in winner)


def _kernel_name(row: dict[str, Any]) -> str:
    return "library" if row["levels"] == 0 else f"{row['label']} ×{row['levels']} {row['backend']}"


def _codegen_tuned(sources: tuple[str, ...], out: Path, as_json: bool) -> None:
    """``codegen --tuned [FILE]``: the tuned dispatch module of this machine's record."""
    from tensorgame.codegen.tune import (
        read_tunings,
        record_for_machine,
        tune_path,
        tuned_kernels,
        write_tuned_module,
    )

    ctx = click.get_current_context()
    clash = [f"--{name.replace('_', '-')}" for name in ("backend", "levels", "threshold", "listing", "optimise",
                                                        "search_iterations", "seed")
             if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE]
    if clash:
        raise click.UsageError(f"--tuned takes the kernels' settings from the tune record, not {clash[0]}")
    if len(sources) > 1:
        raise click.UsageError("--tuned takes at most one tune FILE")
    path = Path(sources[0]) if sources else tune_path(state().catalog)
    record = record_for_machine(read_tunings(path))
    written = write_tuned_module(record, out)
    kernels, table = tuned_kernels(record)
    if as_json:
        emit_json({"module": str(written), "tune_file": str(path), "machine": record.machine.get("cpu"),
                   "blas_kernel": record.blas_kernel, "kernels": [k.label for k in kernels],
                   "dispatch": {dtype: [[size, index] for size, index in choices] for dtype, choices in table.items()}})
        return
    for dtype, choices in sorted(table.items()):
        click.echo(f"{dtype}: " + "; ".join(f"from {size}: {'library' if k is None else kernels[k].label}"
                                            for size, k in choices))
    click.echo(f"wrote {written} (import it and call matmul(A, B))")
