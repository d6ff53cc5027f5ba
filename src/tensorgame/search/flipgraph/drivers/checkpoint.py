"""The state file of a run: what ``--resume`` continues from. A checkpoint is input
like any other: it is checked against the run asked for and every scheme in it is
verified again on reading."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tensorgame.errors import TensorGameError
from tensorgame.fileio import atomic_write, read_text
from tensorgame.formats.json_format import scheme_from_json, scheme_to_json
from tensorgame.search.flipgraph.drivers.space import Payload, SearchSpace
from tensorgame.tensors.scheme import Scheme
from tensorgame.tensors.targets import target_from_json

STATE_FILE = "state.json"
_STATE_FORMAT = "tensorgame-flip-run"


@dataclass
class RunState:
    """What a checkpoint holds: the counters of every session so far, the best scheme
    and the recent improvements, the pool strategy's levels, the improvement log, and
    the run's start (``origin``, where fresh descents begin) with its provenance, so
    that a resume neither resolves ``--start`` again (the catalogue's best may have
    moved; an agent start would replay its games) nor changes its catalogue source."""

    strategy: str
    seed: int
    session: int
    elapsed_s: float
    flips: int
    capacity: int
    best: Scheme
    best_catalog_id: int | None
    lifted: Scheme | None
    lifted_catalog_id: int | None
    history: list[Payload]
    level: int
    path_limit: int | None
    level_attempts: int
    levels: dict[int, list[Payload]] = field(default_factory=dict)
    improvements: list[dict[str, Any]] = field(default_factory=list)
    origin: Payload | None = None  # None in states written before it was kept
    start_provenance: str | None = None


def state_path(run_dir: Path) -> Path:
    return run_dir / STATE_FILE


def save_state(run_dir: Path, space: SearchSpace, state: RunState) -> None:
    """Write the state atomically (a kill mid-write leaves the previous one)."""
    enc = space.encode
    doc = {
        "format": _STATE_FORMAT, "version": 1,
        "target": space.target.to_json(), "ring": space.ring,
        "symmetric": space.symmetric, "strategy": state.strategy,
        "seed": state.seed, "session": state.session,
        "elapsed_s": state.elapsed_s, "flips": state.flips,
        "capacity": state.capacity,
        "best": scheme_to_json(state.best), "best_catalog_id": state.best_catalog_id,
        "lifted": None if state.lifted is None else scheme_to_json(state.lifted),
        "lifted_catalog_id": state.lifted_catalog_id,
        "history": [enc(p) for p in state.history],
        "pool": {"level": state.level, "path_limit": state.path_limit,
                 "attempts": state.level_attempts,
                 "levels": {str(r): [enc(p) for p in ps] for r, ps in state.levels.items()}},
        "improvements": state.improvements,
        "origin": None if state.origin is None else enc(state.origin),
        "start_provenance": state.start_provenance,
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(state_path(run_dir), json.dumps(doc).encode())


def load_state(run_dir: Path, space: SearchSpace) -> RunState:
    """The saved state of a run of ``space``; a missing, damaged or foreign state is
    the user's mistake (a wrong --run-dir), said in one line."""
    path = state_path(run_dir)
    if not path.exists():
        raise TensorGameError(f"no run to resume in {run_dir} (start one without --resume)")
    try:
        doc = json.loads(read_text(path))
        if doc.get("format") != _STATE_FORMAT:
            raise ValueError("not a flip run state")
        target = target_from_json(doc["target"])
    except (ValueError, KeyError, TypeError) as exc:
        raise TensorGameError(f"{path}: damaged run state ({exc})") from None
    if (target.key, doc["ring"], doc["symmetric"]) != (space.target.key, space.ring, space.symmetric):
        sym = " symmetric" if doc["symmetric"] else ""
        raise TensorGameError(
            f"{run_dir} holds a{sym} {doc['ring']} run for {target.name}, not this one; "
            "use another --run-dir or drop --resume"
        )
    history = [space.decode(d) for d in doc["history"]]
    lifted = None
    if doc.get("lifted") is not None:
        candidate = scheme_from_json(doc["lifted"])
        if candidate.verify().ok:
            lifted = candidate
    pool = doc.get("pool", {})
    best = min(history, key=lambda p: p.rank)
    return RunState(
        strategy=doc["strategy"], seed=int(doc.get("seed", 0)), session=int(doc["session"]),
        elapsed_s=float(doc["elapsed_s"]), flips=int(doc["flips"]), capacity=int(doc.get("capacity", 0)),
        best=space.scheme(best), best_catalog_id=doc.get("best_catalog_id"),
        lifted=lifted, lifted_catalog_id=doc.get("lifted_catalog_id") if lifted is not None else None,
        history=history, level=int(pool.get("level", best.rank)),
        path_limit=None if "path_limit" not in pool else int(pool["path_limit"]),
        level_attempts=int(pool.get("attempts", 0)),
        levels={int(r): [space.decode(d) for d in ps] for r, ps in pool.get("levels", {}).items()}
        if doc["strategy"] == "pool" else {},
        improvements=list(doc.get("improvements", [])),
        origin=None if doc.get("origin") is None else space.decode(doc["origin"]),
        start_provenance=doc.get("start_provenance"),
    )
