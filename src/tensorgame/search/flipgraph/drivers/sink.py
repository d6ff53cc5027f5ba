"""Where a run's results go: one object, so that every transport's improvements are
recorded the same way and in the same order (catalogue first: it is the durable
record; then ``--out``; the run's state file on :meth:`RunSink.checkpoint`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from tensorgame.formats import write_scheme
from tensorgame.search.flipgraph.drivers.checkpoint import (
    RunState,
    load_state,
    save_state,
    state_path,
)
from tensorgame.search.flipgraph.drivers.space import SearchSpace
from tensorgame.tensors.scheme import Scheme

if TYPE_CHECKING:
    from tensorgame.catalog import Catalog, CatalogEntry


class RunSink:
    """The catalogue (optional), the ``--out`` file (optional) and the run directory
    of one run, with the log of its improvements."""

    def __init__(self, space: SearchSpace, run_dir: Path, *, catalog: Catalog | None, out: Path | None,
                 source: str, seed: int) -> None:
        self.space, self.run_dir, self.catalog, self.out = space, run_dir, catalog, out
        self.source, self.seed = source, seed
        self.improvements: list[dict[str, Any]] = []

    def improvement(self, scheme: Scheme, elapsed_s: float, *, lifted: bool = False,
                    write_out: bool = True) -> int | None:
        """Record a verified improvement (``lifted``: a Hensel-lifted one); returns its
        catalogue id."""
        cid = None
        if self.catalog is not None:
            source = f"{self.source}, Hensel-lifted to {scheme.ring}" if lifted else self.source
            cid = self.catalog.add(scheme, method="flip", seed=self.seed, source=source,
                                   elapsed_s=round(elapsed_s, 3)).id
        entry: dict[str, Any] = {"rank": scheme.rank, "ring": str(scheme.ring),
                                 "elapsed_s": round(elapsed_s, 3), "catalog_id": cid}
        if lifted:
            entry["lifted"] = True
        self.improvements.append(entry)
        if write_out:
            self.write_out(scheme)
        return cid

    def write_out(self, scheme: Scheme) -> None:
        if self.out is not None:
            write_scheme(scheme, self.out, method="flip", seed=self.seed, source=self.source)

    def stored_best(self) -> CatalogEntry | None:
        """This search's best scheme in the catalogue: a kill between a catalogue
        write and the next checkpoint leaves the catalogue ahead of the state file
        (other methods' schemes are not adopted unasked)."""
        if self.catalog is None:
            return None
        stored = self.catalog.list(target_key=self.space.target.key, ring=self.space.result_ring, method="flip")
        return next((e for e in stored if e.source == self.source), None)

    def has_state(self) -> bool:
        return state_path(self.run_dir).exists()

    def checkpoint(self, state: RunState) -> None:
        state.improvements = self.improvements
        save_state(self.run_dir, self.space, state)

    def load(self) -> RunState:
        """The saved state (its improvement log becomes this sink's)."""
        state = load_state(self.run_dir, self.space)
        self.improvements = state.improvements
        return state
