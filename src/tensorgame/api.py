"""The verbs of the ``tensorgame`` command, as functions a researcher can script.

Each takes what the command line takes (targets as :class:`Target`, names like
``"4,4,4"`` or tensor files; durations as seconds or ``"10m"``; rings as names or
:class:`Ring`), returns a result object instead of printing, and accepts a progress
callback where the work takes time. The CLI commands are thin calls of these; see
``docs/api.md`` for a session.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tensorgame.catalog import Catalog, default_catalog_path
from tensorgame.durations import parse_duration
from tensorgame.errors import CatalogError, TensorGameError
from tensorgame.formats import read_scheme
from tensorgame.tensors.rings import Ring, parse_ring
from tensorgame.tensors.scheme import Scheme
from tensorgame.tensors.target_names import resolve_target
from tensorgame.tensors.targets import Target
from tensorgame.tensors.verify import Verification

if TYPE_CHECKING:
    from tensorgame.catalog.importing import ImportReport
    from tensorgame.codegen.additions import AdditionSearch
    from tensorgame.codegen.program import LevelProgram
    from tensorgame.search.flipgraph.drivers import FlipOutcome, Progress
    from tensorgame.search.lifting import LiftResult
    from tensorgame.training.run import RunSummary

#: The ring searches use unless told otherwise (``flip`` and ``discover`` alike):
#: mod 2, the fastest to search; ask for ``"Z"`` for schemes valid over every ring.
DEFAULT_RING = "Z2"
#: Walks of the runtime objective, the default first: Z (mod 2, each new class
#: Hensel-lifted) reaches <4,4,4> rank 49 from the naive scheme in seconds, where the
#: ternary walk (ZT) stalls in the fifties after minutes.
RUNTIME_RINGS = ("Z", "ZT")

SchemeLike = Scheme | str | Path | int
TargetLike = Target | str | Path


def target(spec: TargetLike) -> Target:
    """A target from a name (``"4,4,4"``, ``"polymul:3,3"``) or a tensor file."""
    return resolve_target(spec)


def is_entry_id(word: str) -> bool:
    """Whether a word that names no file is meant as a catalogue id (signed ASCII
    digits: a negative or huge id then gets the catalogue's own error)."""
    return word.isascii() and word.lstrip("+-").isdigit()


def scheme(spec: SchemeLike, *, catalog: str | Path | None = None) -> Scheme:
    """A verified scheme: a :class:`Scheme` as is, a file holding exactly one scheme,
    or the id of a catalogue entry (verified exactly on reading)."""
    if isinstance(spec, Scheme):
        return spec
    if isinstance(spec, int) or (isinstance(spec, str) and not Path(spec).exists() and is_entry_id(spec)):
        with open_catalog(catalog, read_only=True) as opened:
            return opened.get(int(spec)).scheme
    return read_scheme(spec)


def verify(spec: SchemeLike, ring: str | Ring | None = None) -> Verification:
    """Exact check of the Brent equations in ``ring`` (default: the scheme's own); the
    scheme is read without the reader's own check, so a wrong one is reported, not refused."""
    loaded = spec if isinstance(spec, Scheme) else read_scheme(spec, ring=ring, verify=False)
    return loaded.verify(None if ring is None else parse_ring(ring))


def open_catalog(path: str | Path | None = None, *, create: bool = True, read_only: bool = False) -> Catalog:
    """The scheme catalogue at ``path`` (default: ``$TENSORGAME_CATALOG``, else the user
    data directory); ``create=False`` refuses to make a new file, ``read_only`` never
    changes it (read-only media). Use it as a context manager."""
    path = Path(path).expanduser() if path is not None else default_catalog_path()
    if not (create and not read_only) and not path.exists():
        raise CatalogError(f"no catalogue at {path} (store schemes with `tensorgame catalog import`)")
    return Catalog(path, read_only=read_only)


def import_schemes(
    paths: str | Path | Sequence[str | Path],
    *,
    catalog: str | Path | None = None,
    fmt: str | None = None,
    ring: str | Ring | None = None,
    method: str | None = None,
    on_progress: Callable[[Path, int, int], None] | None = None,
) -> ImportReport:
    """Verify and store the schemes of files and directory trees (every format the
    readers know: ours, AlphaTensor's npz, the FastMatrixMultiplication collection's
    JSON, flip-graph text, .exp, .m) with their provenance; wrong schemes and unreadable
    files found in a directory are listed in the report, not stored."""
    from tensorgame.catalog.importing import import_schemes as store_files

    many = [paths] if isinstance(paths, (str, Path)) else list(paths)
    with open_catalog(catalog) as opened:
        return store_files(opened, many, fmt=fmt, ring=None if ring is None else parse_ring(ring),
                           method=method, on_file=on_progress)


def flip(
    target_spec: TargetLike,
    *,
    ring: str | Ring = DEFAULT_RING,
    time: str | float = 60.0,
    catalog: str | Path | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    **options: Any,
) -> FlipOutcome:
    """Flip-graph search for ``target_spec`` over ``ring`` (Z2, Z3, ZT, or Z: search mod 2
    and lift) for ``time``; every improvement is verified and stored in ``catalog``.
    ``options`` are those of ``tensorgame flip`` (``goal``, ``workers``, ``start``,
    ``seed``, ``out``, ``resume``, ``run_dir``, ``strategy``, ``symmetric``, ``via``,
    ``ray`` ("auto" or a cluster address: workers as Ray actors), ...);
    see :func:`tensorgame.search.flipgraph.session.flip_search`."""
    from tensorgame.search.flipgraph.session import flip_search

    return flip_search(resolve_target(target_spec), ring=ring, time=time, catalog=catalog,
                       on_progress=on_progress, **options)


@dataclass(frozen=True)
class LiftOutcome:
    """Lifting of one scheme: the result (scheme over Z or Q, or why not) and where the
    lifted scheme was stored."""

    source: Scheme
    result: LiftResult
    catalog_id: int | None = None
    new_in_catalog: bool | None = None

    @property
    def ok(self) -> bool:
        return self.result.ok


def lift(spec: SchemeLike, *, attempts: int | None = None, seed: int = 0, catalog: str | Path | None = None,
         store: bool = True, source: str | None = None) -> LiftOutcome:
    """Hensel-lift a mod-p scheme to Z (or Q by rational reconstruction); the lifted
    scheme is verified exactly and, with ``store``, kept in the catalogue with
    ``source`` (default: the file's name) as its provenance. ``attempts`` choices of
    free variables are all tried and the lift with the smallest coefficients is kept
    (default :data:`tensorgame.search.lifting.DEFAULT_ATTEMPTS`)."""
    from tensorgame.search.lifting import DEFAULT_ATTEMPTS, hensel_lift

    source = scheme(spec, catalog=catalog)
    result = hensel_lift(source, attempts=DEFAULT_ATTEMPTS if attempts is None else attempts, seed=seed)
    if not (store and result.ok):
        return LiftOutcome(source, result)
    with open_catalog(catalog) as opened:
        added = opened.add(result.scheme, method="lift", seed=seed,
                           source=source or (Path(spec).name if isinstance(spec, (str, Path)) else None))
    return LiftOutcome(source, result, added.id, added.inserted)


@dataclass
class DiscoverOutcome:
    """What every discovery method reports: best rank and scheme, attempts and
    successes, the time, and the catalogue ids of what was stored; ``details`` holds
    the method's own figures."""

    method: str
    target: Target
    ring: Ring
    attempts: int
    solved: int
    best_rank: int | None
    best_count: int
    seconds: float
    best_scheme: Scheme | None
    catalog_ids: list[int] = field(default_factory=list)
    new_in_catalog: int = 0
    details: dict[str, Any] = field(default_factory=dict)


def discover(
    target_spec: TargetLike,
    *,
    method: str | None = None,
    objective: str = "rank",
    ring: str | Ring | None = None,
    checkpoint: str | Path | None = None,
    time: str | float | None = None,
    episodes: int = 64,
    simulations: int | None = None,
    samples: int | None = None,
    batch: int = 16,
    bases: int = 0,
    seed: int = 0,
    catalog: str | Path | None = None,
    store: bool = True,
    on_progress: Callable[[Any], None] | None = None,
    schemes: int = 8,
    size: int = 2048,
    dtype: str = "float64",
    threshold: int | None = None,
    max_error: float | None = None,
    **flip_options: Any,
) -> DiscoverOutcome:
    """Search for decompositions of ``target_spec`` with ``method``: ``"agent"`` (a
    trained network + MCTS from ``checkpoint``, by default the bundled network trained
    on the target and ring, :func:`tensorgame.training.agent.bundled_for`; the default
    method) or ``"flip"`` (flip-graph
    search; the extra options are :func:`flip`'s). Every scheme found is verified; with
    ``store``, the agent keeps those below the target's naive rank and no worse than
    the session's best (:func:`tensorgame.training.agent.worth_storing`), flip its
    improvements. ``details["note"]`` says when the agent's checkpoint has not played a
    self-play game yet. ``on_progress`` sees the flip search's snapshots, or the
    agent's counts after each batch of games.

    ``objective="runtime"`` (method flip) chooses among schemes of equal rank by speed
    on this machine: from the naive scheme it collects up to ``schemes`` inequivalent
    schemes of rank ``goal`` (default: the best published over Z) over Z (``ring`` Z,
    the default: a mod-2 walk whose schemes are Hensel-lifted; ZT: a ternary walk;
    :func:`tensorgame.search.flipgraph.equal_rank.equal_rank_schemes`), stores them,
    times their generated kernels at ``size`` (``dtype``,
    ``threshold``, ``max_error`` as in :func:`tensorgame.codegen.bench.rank_by_runtime`)
    and returns the fastest as ``best_scheme``, the timings in ``details``."""
    goal = resolve_target(target_spec)
    seconds = None if time is None else parse_duration(time)
    if objective not in ("rank", "runtime"):
        raise TensorGameError(f"unknown objective {objective!r}: use rank or runtime")
    if objective == "runtime":
        if method not in (None, "flip"):
            raise TensorGameError(f"the runtime objective collects its schemes with method flip, not {method}")
        if not store:
            raise TensorGameError("the runtime objective times catalogue entries, so it stores its schemes")
        unknown = sorted(set(flip_options) - {"goal"})
        if unknown:
            raise TensorGameError(f"options {', '.join(unknown)} do not apply to the runtime objective")
        return _discover_fastest(goal, ring=RUNTIME_RINGS[0] if ring is None else ring, count=schemes,
                                 goal_rank=flip_options.get("goal"), time_s=seconds or 60.0, seed=seed,
                                 size=size, dtype=dtype, threshold=threshold, max_error=max_error,
                                 catalog=catalog)
    method = method or "agent"
    ring = DEFAULT_RING if ring is None else ring
    if method == "flip":
        outcome = flip(goal, ring=ring, time=seconds or 60.0, catalog=catalog, on_progress=on_progress,
                       seed=seed, **flip_options)
        best = outcome.lifted if outcome.lifted is not None and str(parse_ring(ring)) in ("Z", "Q") \
            else outcome.best
        ids = [i for i in (outcome.best_catalog_id, outcome.lifted_catalog_id) if i is not None]
        return DiscoverOutcome("flip", goal, best.ring, 1, 1, best.rank, 1, outcome.elapsed_s, best,
                               ids, len([i for i in outcome.improvements if i.get("catalog_id") is not None]),
                               {"flips": outcome.flips, "stopped": outcome.stopped,
                                "run_dir": str(outcome.run_dir)})
    if method != "agent":
        raise TensorGameError(f"unknown discovery method {method!r}: use agent or flip")
    if flip_options:
        raise TensorGameError(f"options {', '.join(sorted(flip_options))} apply to method flip only")
    from contextlib import nullcontext

    from tensorgame.training.agent import BUNDLED, checkpoint_path, load_agent
    from tensorgame.training.agent import discover as agent_discover

    ring = parse_ring(ring)
    agent = load_agent(checkpoint_path(BUNDLED if checkpoint is None else checkpoint, goal, ring))
    with (open_catalog(catalog) if store else nullcontext()) as opened:
        res = agent_discover(agent, goal, ring, episodes=episodes, simulations=simulations, samples=samples,
                             time_limit_s=seconds, seed=seed, batch=batch, bases=bases, catalog=opened,
                             on_progress=on_progress)
    return DiscoverOutcome(
        "agent", goal, ring, res.episodes, res.solved, res.best_rank, res.best_count, res.seconds,
        res.best_scheme, sorted(set(res.stored)), res.new_in_catalog,
        {"rank_counts": {str(k): v for k, v in sorted(res.rank_counts.items())},
         "simulations": res.simulations, "samples": res.samples, "checkpoint": agent.origin,
         "checkpoint_step": agent.step, "checkpoint_games": agent.games,
         "best_completed_rank": res.best_completed_rank, "note": agent.unplayed_note})


def _discover_fastest(target: Target, *, ring: str | Ring, count: int, goal_rank: int | None, time_s: float,
                      seed: int, size: int, dtype: str, threshold: int | None, max_error: float | None,
                      catalog: str | Path | None) -> DiscoverOutcome:
    """The runtime objective of :func:`discover`: collect equal-rank schemes, store
    them, rank their kernels by runtime."""
    import statistics

    from tensorgame.codegen.bench import rank_by_runtime
    from tensorgame.codegen.generate import DEFAULT_THRESHOLD
    from tensorgame.search.flipgraph.equal_rank import equal_rank_schemes
    from tensorgame.tensors.targets import known_ranks

    if str(ring).strip().upper() not in RUNTIME_RINGS:
        raise TensorGameError(f"the runtime objective needs schemes over Z, as kernels do: ring Z (a mod-2 walk, "
                              f"Hensel-lifted) or ZT (a ternary walk), not {ring}")
    if not target.is_matmul:
        raise TensorGameError(f"{target.name} is not a matrix multiplication target")
    if size < 1:
        raise TensorGameError(f"the size must be at least 1, got {size}")
    if max_error is not None and not max_error > 0:  # checked before anything is searched or stored
        raise TensorGameError(f"the error bound must be positive, got {max_error}")
    with open_catalog(catalog) as opened:
        if goal_rank is None:  # the published rank over Z, else the catalogue's best
            known = known_ranks(*target.params)
            stored = opened.best(target, "Z")
            goal_rank = known.best_z if known and known.best_z else stored.rank if stored is not None else None
        if goal_rank is None:
            raise TensorGameError(f"no known rank for {target.name} over Z: give a goal")
        sample = equal_rank_schemes(target, count, goal_rank, ring=str(ring).strip().upper(), seed=seed,
                                    time_limit=time_s)
        added = opened.add_many([(s, {"method": "flip", "seed": seed, "source": "equal-rank sample"})
                                 for s in sample.schemes])
        run = rank_by_runtime(target, opened, size=size, dtype=dtype, ids=[a.id for a in added],
                              threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
                              max_error=max_error, echo=None)
        winner = run["results"][0]
        best = opened.get(winner["entry_id"]).scheme
    rows = run["results"]
    times = [r["time_s"] for r in rows]
    details = {
        "objective": "runtime", "walk": "Z2 (lifted to Z)" if sample.lifted is not None else "ZT",
        "stopped": sample.stopped, "flips": sample.flips, "walked": sample.walked, "timed": len(rows),
        "excluded": len(run["excluded"]), "size": size, "dtype": run["dtype"], "winner_id": winner["entry_id"],
        "fastest_s": times[0], "median_s": statistics.median(times), "slowest_s": times[-1],
        "library_s": winner["baseline_s"], "speedup": winner["baseline_s"] / winner["time_s"],
        "results": [{"id": r["entry_id"], "time_s": r["time_s"], "ratio": r["ratio"], "additions": r["additions"][0]}
                    for r in rows],
    }
    return DiscoverOutcome("flip", target, parse_ring("Z"), len(sample.schemes), len(sample.schemes), sample.rank,
                           len(sample.schemes), sample.seconds, best, [a.id for a in added],
                           sum(a.inserted for a in added), details)


def train(
    config: str | Path | None,
    *,
    run_dir: str | Path | None = None,
    resume: bool = False,
    time: str | float | None = None,
    ray: str | None = None,
    catalog: str | Path | None = None,
    quiet: bool = True,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    init: str | Path | None = None,
) -> RunSummary:
    """Train the agent on the targets of ``config`` (TOML or JSON) in ``run_dir``
    (default ``runs/<config name>``); ``resume`` continues that run; ``init`` starts a
    new one from other weights (``"bundled"``: the network shipped with the package, or
    a checkpoint of the same network shape), e.g. to fine-tune it on your targets. Every scheme the
    agent finds is verified, and stored when it beats the target's naive rank and is no
    worse than the run's best for its target and ring; ``RunSummary.phase`` and
    ``.progress()`` say when the run is still in its supervised warm-up (no games
    played yet). Progress goes to the run's metrics.jsonl and
    TensorBoard logs (and to the console unless ``quiet``); ``on_progress`` sees each
    metrics record as it is logged."""
    from tensorgame.training.config import load_config
    from tensorgame.training.run import Trainer

    if config is None and not resume:
        raise TensorGameError("give a config file (or resume a run in run_dir)")
    if resume and run_dir is None:
        raise TensorGameError("resuming needs the run directory")
    cfg = load_config(config) if config is not None else None
    run_dir = Path(run_dir) if run_dir is not None else Path("runs") / Path(str(config)).stem
    trainer = Trainer(cfg, run_dir, catalog_path=Path(catalog) if catalog is not None else default_catalog_path(),
                      resume=resume, ray_address=ray, time_limit_s=None if time is None else parse_duration(time),
                      quiet=quiet, config_source=None if config is None else str(config),
                      on_progress=on_progress, init=init)
    return trainer.run()


@dataclass(frozen=True)
class CodegenOutcome:
    """A generated module: where it was written, its backend and levels, and per scheme
    the addition counts (as written, after CSE, after the equivalent-form search)."""

    module: Path
    backend: str
    levels: int
    schemes: list[dict[str, Any]]
    listing: Path | None = None


def generate_code(
    schemes: SchemeLike | Sequence[SchemeLike],
    out: str | Path,
    *,
    backend: str = "numpy",
    levels: int | None = None,
    threshold: int = 1024,
    optimise: bool = True,
    search_iterations: int = 300,
    seed: int = 0,
    listing: str | Path | None = None,
    catalog: str | Path | None = None,
) -> CodegenOutcome:
    """Write a Python module whose ``matmul(A, B)`` applies the scheme recursively (one
    scheme at every level, or one per level); schemes are files, catalogue ids or
    :class:`Scheme` objects and must hold over Z or Q."""
    from tensorgame.codegen.generate import compile_level, write_listing, write_module

    many = isinstance(schemes, (list, tuple))
    loaded = [scheme(s, catalog=catalog) for s in (schemes if many else [schemes])]
    if len(loaded) > 1 and levels is not None and levels != len(loaded):
        raise TensorGameError(f"{len(loaded)} schemes give {len(loaded)} levels, not levels={levels}")
    options = {"optimise": optimise, "search_iterations": search_iterations, "seed": seed}
    written = write_module(loaded[0] if len(loaded) == 1 else loaded, out, target=backend,
                           levels=levels if len(loaded) == 1 else None, threshold=threshold, **options)
    listed = None if listing is None else write_listing(loaded[0], listing, **options)
    counts = [compile_level(s, **options)[0].summary() for s in loaded]
    return CodegenOutcome(Path(written), backend, levels or len(loaded), counts, listed)


@dataclass(frozen=True)
class AdditionsOutcome:
    """A minimised level program: the search (counts along the way, the program), the
    starting program's additions (e.g. the collection's published count), where the
    program was written and whether the catalogue now keeps it."""

    search: AdditionSearch
    start_additions: int | None
    catalog_id: int | None = None
    stored: bool = False
    out: Path | None = None

    @property
    def additions(self) -> int:
        return self.search.additions


def minimise_additions(
    spec: SchemeLike,
    *,
    start: LevelProgram | str | Path | None = None,
    time: str | float | None = None,
    seed: int = 0,
    iterations: int = 300,
    rounds: int | None = None,
    out: str | Path | None = None,
    fmt: str | None = None,
    catalog: str | Path | None = None,
    store: bool = False,
) -> AdditionsOutcome:
    """Fewest additions for one level of a scheme (a file, catalogue id or
    :class:`Scheme` over Z or Q), counted as the FastMatrixMultiplication collection
    counts them; see :func:`tensorgame.codegen.additions.minimise_additions`.

    The starting program is ``start`` (a program or a reduced collection file), else the
    file's own program when ``spec`` is a reduced collection file, else the catalogue's
    best known program of entry ``spec``. ``out`` gets the program (``fmt`` ``"slp"``:
    our listing, ``"fmm"``: the collection's reduced JSON; default from the extension);
    ``store`` keeps it as the catalogue's best known program of the scheme when it needs
    fewer additions (a file's scheme is added to the catalogue first).
    """
    from tensorgame.codegen.additions import DEFAULT_ROUNDS
    from tensorgame.codegen.additions import minimise_additions as search
    from tensorgame.formats.fmm_program import program_in_file, read_collection_program

    seconds = None if time is None else parse_duration(time)
    entry_id = int(spec) if isinstance(spec, int) or (
        isinstance(spec, str) and not Path(spec).exists() and is_entry_id(spec)) else None
    loaded = scheme(spec, catalog=catalog)
    if isinstance(start, (str, Path)):
        start = read_collection_program(start)
    elif start is None and isinstance(spec, (str, Path)) and entry_id is None:
        start = program_in_file(spec)
    elif start is None and entry_id is not None:
        with open_catalog(catalog, read_only=True) as opened:
            kept = opened.best_program(entry_id)
        start = None if kept is None else kept[0]
    found = search(loaded, start=start, seconds=seconds, iterations=iterations,
                   rounds=DEFAULT_ROUNDS if rounds is None else rounds, seed=seed)
    written = None if out is None else write_program(found.program, out, fmt)
    stored = False
    if store:
        with open_catalog(catalog) as opened:
            if entry_id is None:
                entry_id = opened.add(loaded, method="import", source=Path(str(spec)).name
                                      if isinstance(spec, (str, Path)) else None).id
            stored = opened.record_program(entry_id, found.program, method=f"additions:{found.source}")
    return AdditionsOutcome(found, None if start is None else start.additions, entry_id, stored, written)


def write_program(program: LevelProgram, out: str | Path, fmt: str | None = None) -> Path:
    """Write a level program: ``"slp"`` our straight-line listing, ``"fmm"`` the
    collection's reduced JSON (default: from the extension, .slp or .json)."""
    from tensorgame.codegen.generate import level_listing
    from tensorgame.codegen.memory import plan_level
    from tensorgame.fileio import atomic_write
    from tensorgame.formats.fmm_program import write_collection_program

    path = Path(out)
    fmt = fmt or {".slp": "slp", ".json": "fmm"}.get(path.suffix.lower())
    if fmt == "slp":
        text = level_listing(plan_level(program), program.scheme.additions, "addition-minimised ")
        atomic_write(path, text.encode("utf-8"))
    elif fmt == "fmm":
        write_collection_program(program, path)
    else:
        raise TensorGameError(f"{path}: a program is written as .slp (our listing) or .json (the "
                              f"collection's reduced format), or name the format: slp or fmm")
    return path
