"""``tensorgame codegen`` and ``tensorgame bench``: from a verified scheme to a fast,
importable kernel, timed against the library product on this machine."""

from __future__ import annotations

from pathlib import Path

import click

from tensorgame.api import generate_code
from tensorgame.cli.common import emit_json, json_option, load_scheme_arg, open_catalog
from tensorgame.codegen.bench import bench as run_bench
from tensorgame.codegen.bench import rank_by_runtime
from tensorgame.errors import TensorGameError
from tensorgame.tensors.target_names import parse_target

_BACKENDS = click.Choice(["numpy", "numba", "torch"])
_DTYPES = click.Choice(["float32", "float64", "int64"])


@click.command()
@click.argument("schemes", nargs=-1, required=True, metavar="SCHEME|ID...")
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
def codegen(schemes: tuple[str, ...], backend: str, levels: int | None, threshold: int, optimise: bool,
            search_iterations: int, seed: int, listing: Path | None, out: Path, as_json: bool) -> None:
    """Generate a Python module whose matmul(A, B) applies the scheme(s) recursively.

    One SCHEME is used at every level; several give one scheme per level. Each SCHEME
    is a file or a catalogue id; it must verify over Z or Q.
    """
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
@click.option("--sizes", default="1024,2048", show_default=True, help="Comma-separated matrix sides.")
@click.option("--dtype", type=_DTYPES, default="float64", show_default=True)
@click.option("--repeats", type=click.IntRange(1), default=3, show_default=True)
@click.option("--levels", type=click.IntRange(1, 8), default=1, show_default=True)
@click.option("--threshold", type=click.IntRange(1), default=1024, show_default=True)
@click.option("--backend", "backends", type=_BACKENDS, multiple=True,
              help="numpy and/or torch (default: numpy, plus torch when installed).")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), help="PNG of time against size.")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the results as JSON.")
@click.option("--rank-by-runtime", "rank_target", metavar="N,M,P",
              help="Instead: time every catalogue scheme of this target and rank them (stored with the machine).")
@click.option("--accuracy", is_flag=True,
              help="Also measure each kernel's error against the exact product (float dtypes).")
@click.option("--max-error", type=float, metavar="X",
              help="With --rank-by-runtime: leave out kernels whose normwise error exceeds X (implies --accuracy).")
@json_option
def bench(schemes: tuple[str, ...], sizes: str, dtype: str, repeats: int, levels: int, threshold: int,
          backends: tuple[str, ...], plot: Path | None, out: Path | None, rank_target: str | None,
          accuracy: bool, max_error: float | None, as_json: bool) -> None:
    """Time generated kernels against the library matmul, side by side in one process
    (warm-up, repeats, medians); print ratios (below 1 = faster than the library).

    --accuracy adds the error against the exact product beside the speed: normwise,
    max|C - AB| / (max|A| max|B|), and elementwise, max |C - AB| / (|A||B|), on uniform
    and on row/column-scaled inputs, with the library product's as the baseline."""
    try:
        size_list = [int(s) for s in sizes.split(",") if s.strip()]
    except ValueError:
        raise click.BadParameter(f"{sizes!r} is not a comma-separated list of sides", param_hint="--sizes") from None
    echo = None if as_json else click.echo
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
