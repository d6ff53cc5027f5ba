"""``tensorgame target``: what is known about a target before searching for it."""

from __future__ import annotations

import dataclasses
from typing import Any

import click
import numpy as np

from tensorgame.cli.common import (
    emit_json,
    json_option,
    open_catalog,
    print_fields,
    state,
)
from tensorgame.tensors.target_names import TARGET_SYNTAX, resolve_target, target_from_words
from tensorgame.errors import TargetError
from tensorgame.tensors.targets import Target, known_ranks

_KNOWN_LABELS = {
    "alphatensor_z": "AlphaTensor, Z",
    "alphatensor_z2": "AlphaTensor, Z2",
    "best_z": "best known, Z",
    "best_z2": "best known, Z2",
    "best_q": "best known, Q",
    "lower_bound": "lower bound",
}
#: The FastMatrixMultiplication collection's rings (ZT: coefficients in {-1, 0, 1}).
_COLLECTION_RINGS = ("ZT", "Z", "Q")


def _catalogue_best(target: Target) -> tuple[dict[str, dict[str, Any]] | None, list[dict[str, Any]]]:
    """Best stored rank per ring (None when there is no catalogue: none is created) and
    the altered rows set aside on the way."""
    if not state().catalog.exists():
        return None, []
    with open_catalog(create=False) as catalog:
        entries = catalog.best_per_target(target_key=target.key)
        bad = [row.to_dict() for row in catalog.skipped]
    return {e.ring: {"id": e.id, "rank": e.rank, "additions": e.additions} for e in entries}, bad


def describe(target: Target) -> dict[str, Any]:
    """Everything the command reports, as JSON-ready values."""
    known = known_ranks(*target.params) if target.is_matmul else None
    catalog_best, bad_rows = _catalogue_best(target)
    return {
        "target": target.name,
        "key": target.key,
        "kind": target.kind,
        "params": list(target.params),
        "matrices": [list(s) for s in target.factor_shapes] if target.factor_shapes else None,
        "dims": list(target.dims),
        "nnz": int(np.count_nonzero(target.tensor)),
        "naive_rank": target.naive_rank,
        "known_ranks": dataclasses.asdict(known) if known else None,
        "symmetries": list(target.symmetries),
        "catalog": str(state().catalog),
        "catalog_best": catalog_best,
        "bad_rows": bad_rows,
    }


@click.command()
@click.argument("spec", nargs=-1)
@click.option("--target", "target_spec", metavar="TARGET",
              help="The target as one word (4,4,4, polymul:3,3) or a tensor file (.npy or JSON).")
@json_option
def target(spec: tuple[str, ...], target_spec: str | None, as_json: bool) -> None:
    """Describe a target: SPEC is N M P (matrix multiplication), skew_matvec N,
    polymul N M or complex. Shows the tensor's size, naive and known ranks (published,
    and the FastMatrixMultiplication collection's best per ring), symmetries and the
    best ranks already in the catalogue."""
    if (target_spec is None) == (not spec):
        raise TargetError(f"give either a target ({TARGET_SYNTAX}) or --target FILE, not both or neither")
    tgt = resolve_target(target_spec) if target_spec else target_from_words(spec)
    info = describe(tgt)
    if as_json:
        emit_json(info)
        return
    rows: list[tuple[str, Any]] = [("target", f"{info['target']}  (key {info['key']})")]
    if info["matrices"]:
        rows.append(("matrices", ", ".join(f"{name} {rows_}x{cols}" for name, (rows_, cols)
                                           in zip("ABC", info["matrices"]))))
    rows += [
        ("tensor shape", " x ".join(map(str, info["dims"]))),
        ("non-zeros", info["nnz"]),
        ("naive rank", info["naive_rank"]),
    ]
    if info["known_ranks"]:
        known = info["known_ranks"]
        for field, label in _KNOWN_LABELS.items():
            value = known[field]
            rows.append((label, "unknown" if value is None else value))
        for ring in _COLLECTION_RINGS:
            value, source = known[f"collection_{ring.lower()}"], known["collection_sources"].get(ring)
            rows.append((f"collection best, {ring}",
                         "unknown" if value is None else f"{value}  ({source})" if source else value))
    rows.append(("symmetries", ", ".join(info["symmetries"]) or "none"))
    best = info["catalog_best"]
    if best is None:
        rows.append(("catalogue", f"none at {info['catalog']}"))
    elif not best:
        rows.append(("catalogue", "no scheme for this target"))
    for ring, entry in (best or {}).items():
        rows.append((f"catalogue best, {ring}",
                     f"rank {entry['rank']}, {entry['additions']} additions (id {entry['id']})"))
    print_fields(rows)
