"""A flip-graph discovery from user-level settings, as ``tensorgame flip`` and
:func:`tensorgame.flip` run it.

This is where the user's words get their meaning, once: what ``--ring Z`` searches
(:func:`flip_rings`), which scheme ``--start`` names (:func:`resolve_start`), where a
run keeps its state (:func:`run_directory`: every fresh run gets its own folder, so no
run ever overwrites another's state), and how Ctrl-C ends a run (the outcome comes
back with ``stopped == "interrupted"``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from tensorgame.catalog import Catalog, default_catalog_path
from tensorgame.durations import parse_duration
from tensorgame.errors import RingError, TargetError, TensorGameError
from tensorgame.formats import read_scheme
from tensorgame.search.flipgraph import check_memory
from tensorgame.search.flipgraph.drivers import (
    FlipOutcome,
    FlipRun,
    FlipSettings,
    Progress,
    SearchSpace,
)
from tensorgame.search.flipgraph.drivers.checkpoint import STATE_FILE, load_state
from tensorgame.search.flipgraph.packing import check_lengths, search_ring, words
from tensorgame.tensors.meta import adapt, assemble, join_to, product
from tensorgame.tensors.rings import Ring, parse_ring
from tensorgame.tensors.scheme import Scheme, naive_scheme
from tensorgame.tensors.targets import Target, matmul_target

START_SYNTAX = ("naive, best, FILE, catalog:ID, agent[:CHECKPOINT], meta (the lowest-rank meta move of the "
                "catalogue's schemes of smaller formats) or meta:BLOCK[+BLOCK] "
                "(BLOCK: SOURCE[*SOURCE], a product; SOURCE: N,M,P | catalog:ID | FILE)")
#: Folder of flip runs beside the catalogue; each target/ring/mode has a subfolder,
#: each run its own ``run-<k>`` below it.
RUNS_FOLDER = "flip-runs"
_RUN_RE = re.compile(r"run-(\d+)")


def flip_rings(ring: str | Ring, via: str | None = None) -> tuple[str, bool]:
    """(search ring, lift?) for a ring asked for: Z2, Z3 and ZT are searched as such;
    Z (or Q) searches in ``via`` (default Z2) and Hensel-lifts the improvements (a ZT
    search needs no lifting: its schemes hold over Z)."""
    try:
        search = search_ring(ring)
    except RingError:
        try:
            asked = parse_ring(ring)
        except RingError:
            raise RingError(f"unknown ring {str(ring)[:16]!r} for flip: use Z2, Z3, ZT (ternary) or Z "
                            "(search and lift)") from None
        if asked.is_modular:
            raise RingError(f"flip searches Z2, Z3, ZT or Z (search and lift), not {asked}") from None
        search = search_ring(via or "Z2")
        return search, search != "ZT"
    if via is not None:
        raise RingError("--via only applies to --ring Z (search in one ring, lift to the integers)")
    return search, False


# --- start schemes ------------------------------------------------------------------------
def _catalog_scheme(catalog: Catalog, spec: str) -> Scheme:
    word = spec.split(":", 1)[1]
    if not word.isdigit() or len(word) > 18:
        raise TensorGameError(f"{spec[:40]!r}: a catalogue reference is catalog:ID with an id below 10^18")
    return catalog.get(int(word)).scheme


def _best_or_naive(catalog: Catalog, target: Target, ring: str) -> Scheme:
    entry = catalog.best(target, ring)
    return entry.scheme if entry is not None and entry.scheme.denominators is None else naive_scheme(target)


def _assembled(catalog: Catalog, target: Target, ring: str) -> Scheme:
    """``meta``: :func:`~tensorgame.tensors.meta.assemble` over the catalogue's best
    scheme (valid in ``ring``, verified) of every matmul format."""
    sources = [_read_in(entry.scheme, ring) for entry in catalog.best_per_target(ring)
               if entry.target.is_matmul and entry.scheme.denominators is None]
    return assemble(sources, target.params)[0]


def _read_in(scheme: Scheme, ring: str) -> Scheme:
    """``scheme`` read in ``ring`` where it holds there (a scheme over Z reduces mod p),
    so that sources from different rings combine; otherwise as it is."""
    wanted = parse_ring(ring)
    return scheme.with_ring(wanted) if scheme.ring.implies(wanted) else scheme


def _source_scheme(spec: str, catalog: Catalog, ring: str) -> Scheme:
    """One meta source: ``N,M,P`` (the catalogue's best valid in ``ring``, else
    naive), ``catalog:ID`` or a scheme file, read in ``ring`` where it holds there
    (a Z2 source and a naive one combine)."""
    if spec.startswith("catalog:"):
        scheme = _catalog_scheme(catalog, spec)
    elif re.fullmatch(r"\d{1,3},\d{1,3},\d{1,3}", spec):
        scheme = _best_or_naive(catalog, matmul_target(*(int(x) for x in spec.split(","))), ring)
    else:
        scheme = read_scheme(spec)
    return _read_in(scheme, ring)


class Start(NamedTuple):
    """A start scheme, and the provenance its descendants carry when it is not a
    plain scheme (an agent's games: the hybrid search is labelled as such)."""

    scheme: Scheme
    provenance: str | None = None


def _agent_start(spec: str, target: Target, search: str) -> Start:
    """``agent[:CHECKPOINT]``: the agent (bundled network by default) plays ``target``
    in the search ring (ZT: over Z); torch is imported only here, never for a plain
    flip run."""
    from tensorgame.training.agent import BUNDLED, agent_start

    checkpoint = spec.split(":", 1)[1] if ":" in spec else BUNDLED
    if not checkpoint:
        raise TensorGameError("--start agent:CHECKPOINT needs a checkpoint path (or plain 'agent')")
    scheme, note = agent_start(target, "Z" if search == "ZT" else search, checkpoint)
    return Start(scheme, note)


def resolve_start(spec: str | None, target: Target, catalog: Catalog, ring: str,
                  search: str | None = None) -> Start:
    """The start scheme named by ``spec`` (see :data:`START_SYNTAX`); ``ring`` is the
    ring results must hold in (Z2, Z3 or Z), used to pick catalogue entries;
    ``search`` the ring walked (an agent plays there; default ``ring``)."""
    spec = (spec or "naive").strip()
    if spec == "naive":
        return Start(naive_scheme(target))
    if spec == "best":
        return Start(_best_or_naive(catalog, target, ring))
    if spec == "agent" or spec.startswith("agent:"):
        return _agent_start(spec, target, search or ring)
    if spec == "meta" or spec.startswith("meta:"):
        if not target.is_matmul:
            raise TargetError("meta starts need a matrix multiplication target")
        if spec == "meta":
            return Start(_assembled(catalog, target, ring))
        blocks = spec[5:].split("+")
        parts = [[_source_scheme(s.strip(), catalog, ring) for s in block.split("*")] for block in blocks]
        if len(blocks) > 2 or any(len(factors) > 2 for factors in parts):
            raise TensorGameError(f"--start {spec}: at most two sources joined (A+B), each at most a product A*B")
        schemes = [product(*factors) if len(factors) == 2 else factors[0] for factors in parts]
        if len(schemes) == 2:
            return Start(join_to(*schemes, target.params))
        return Start(adapt(schemes[0], target.params))
    scheme = _catalog_scheme(catalog, spec) if spec.startswith("catalog:") else read_scheme(spec)
    if scheme.target.key != target.key:
        raise TensorGameError(
            f"--start {spec} is a scheme for {scheme.target.name}, not {target.name} "
            f"(use --start meta:{spec} to adapt it)"
        )
    return Start(scheme)


# --- run directories ------------------------------------------------------------------------
def run_slug(space: SearchSpace, strategy: str, lift: bool) -> str:
    """The folder name of a target, search ring and mode's runs."""
    key = re.sub(r"[^A-Za-z0-9]+", "_", space.target.key).strip("_")
    return f"{key}-{space.ring}{'-sym' if space.symmetric else ''}{'-lift' if lift else ''}-{strategy}"


def _numbered_runs(folder: Path) -> list[tuple[int, Path]]:
    if not folder.is_dir():
        return []
    runs = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _RUN_RE.fullmatch(p.name))]
    return sorted(runs)


def run_directory(folder: Path, *, resume: bool) -> Path:
    """Where a run keeps its state: a fresh run gets a new ``run-<k>`` in ``folder``
    (made at once, so two runs started together never share one); ``resume`` takes the
    latest run that saved a state."""
    if resume:
        saved = [p for _, p in _numbered_runs(folder) if (p / STATE_FILE).exists()]
        if saved:
            return saved[-1]
        raise TensorGameError(f"no run to resume in {folder} (start one without --resume)")
    folder.mkdir(parents=True, exist_ok=True)
    k = (_numbered_runs(folder) or [(0, folder)])[-1][0] + 1
    while True:
        path = folder / f"run-{k}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            k += 1


# --- the entry point ------------------------------------------------------------------------
def flip_search(
    target: Target,
    *,
    ring: str | Ring = "Z2",
    time: str | float = 60.0,
    workers: int | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    start: str | None = None,
    strategy: str = "runners",
    seed: int = 0,
    catalog: str | Path | None = None,
    symmetric: bool = False,
    run_dir: str | Path | None = None,
    goal: int | None = None,
    via: str | None = None,
    plateau: int | None = None,
    split: bool = True,
    pool_size: int = 20,
    runners: int = 2,
    local: int = 8,
    ray: str | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    on_start: Callable[[FlipRun], None] | None = None,
) -> FlipOutcome:
    """Search ``target`` with flip graphs on ``workers`` processes (default: every core)
    for ``time`` (a duration); every improvement is verified, stored in the catalogue and
    written to ``out`` as it happens. ``ray`` ("auto", a cluster address or "local")
    runs the workers as Ray actors instead (default: one per CPU of the cluster). The run's state goes to ``run_dir`` (default: a new
    folder beside the catalogue) so that ``resume=True`` continues it; ``on_start`` sees
    the prepared run (e.g. what a resumed run had done). Ctrl-C ends the search with the
    outcome's ``stopped == "interrupted"``, after the final checkpoint."""
    search, lift = flip_rings(ring, via)
    seconds = parse_duration(time)
    check_lengths(target.dims)
    transport = None
    if ray is not None:
        from tensorgame.search.flipgraph.drivers.ray_transport import RayTransport

        transport = RayTransport(ray)
    workers = workers or (transport.cpus() if transport is not None else os.cpu_count()) or 1
    settings = FlipSettings(strategy=strategy, workers=workers, time_s=seconds, seed=seed, goal=goal,
                            lift=lift, plateau=plateau, runners_per_worker=runners, pool_size=pool_size,
                            local_tries=local)
    space = SearchSpace(target, search, symmetric=symmetric, split=split)
    catalog_path = Path(catalog) if catalog is not None else default_catalog_path()
    with Catalog(catalog_path) as opened:
        made = run_dir is None and not resume
        if run_dir is None:
            run_dir = run_directory(catalog_path.parent / RUNS_FOLDER / run_slug(space, strategy, lift),
                                    resume=resume)
        try:
            saved = load_state(Path(run_dir), space) if resume else None
            if saved is not None and saved.origin is not None:  # the run's own start, not --start again
                start_scheme, provenance = space.scheme(saved.origin), saved.start_provenance
            else:
                results_in = "Z" if lift or search == "ZT" else space.result_ring
                start_scheme, provenance = resolve_start(start, target, opened, results_in, search)
            if not symmetric:  # every runner (or pool task) of every worker, and the coordinator's sprint
                check_memory(start_scheme.rank, words(target.dims),
                             workers * (runners if settings.runs_runners else 1) + 1)
            session = FlipRun(space, settings, start_scheme, run_dir=Path(run_dir), catalog=opened,
                              out=None if out is None else Path(out), resume=resume, on_progress=on_progress,
                              transport=transport, start_provenance=provenance)
        except BaseException:
            if made:
                Path(run_dir).rmdir()  # the fresh folder made above, still empty
            raise
        if on_start is not None:
            on_start(session)
        try:
            return session.run()
        except KeyboardInterrupt:
            return session.outcome
