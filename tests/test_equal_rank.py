"""Equal-rank sampling (flip walks at the best rank) and the runtime objective of
``discover`` (tiny sizes; no wall-clock assertions)."""

from __future__ import annotations

import json

import tensorgame as tg
from tensorgame.search.flipgraph.equal_rank import equal_rank_schemes
from tensorgame.tensors.canonical import canonical_hash
from tensorgame.tensors.targets import matmul_target

from .conftest import assert_user_error


def test_distinct_verified_schemes_of_one_rank():
    sample = equal_rank_schemes(matmul_target(3, 3, 3), 4, 23, seed=0, time_limit=60)
    assert sample.rank == 23 and sample.stopped == "count" and len(sample.schemes) == 4
    assert all(s.rank == 23 and s.verify().ok and str(s.ring) == "Z" for s in sample.schemes)
    assert len({canonical_hash(s) for s in sample.schemes}) == 4
    again = equal_rank_schemes(matmul_target(3, 3, 3), 4, 23, seed=0, time_limit=60)
    assert [canonical_hash(s) for s in again.schemes] == [canonical_hash(s) for s in sample.schemes]


def test_a_single_class_is_exhausted():
    sample = equal_rank_schemes(matmul_target(2, 2, 2), 3, 7, seed=0, time_limit=60)
    assert sample.stopped == "exhausted" and len(sample.schemes) == 1  # rank 7 is one class


def test_runtime_objective_stores_and_times_the_sample(catalog_path):
    res = tg.discover("3,3,3", objective="runtime", schemes=3, size=64, threshold=8, time=60,
                      catalog=catalog_path)
    d = res.details
    assert res.best_rank == 23 and res.best_count == 3 and len(res.catalog_ids) == 3 == res.new_in_catalog
    assert d["timed"] == 3 and d["winner_id"] in res.catalog_ids
    assert d["fastest_s"] <= d["median_s"] <= d["slowest_s"] and d["speedup"] > 0
    assert res.best_scheme.verify().ok and res.best_scheme.rank == 23
    with tg.open_catalog(catalog_path) as cat:
        entries = [cat.get(i) for i in res.catalog_ids]
    assert all(e.method == "flip" and e.source == "equal-rank sample" for e in entries)


def test_runtime_objective_on_the_command_line(run, tmp_path):
    out = tmp_path / "fast.json"
    result = run("discover", "2", "2", "2", "--objective", "runtime", "--size", "64", "--threshold", "8",
                 "--schemes", "2", "-o", out, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["best_rank"] == 7 and doc["timed"] == 1 and doc["winner_id"] in doc["catalog_ids"]
    assert tg.read_scheme(out).rank == 7
    text = run("discover", "2", "2", "2", "--objective", "runtime", "--size", "64", "--threshold", "8")
    assert text.exit_code == 0 and "numpy.matmul" in text.output and "fastest" in text.output


def test_runtime_objective_refuses_bad_input(run):
    assert_user_error(run("discover", "2", "2", "2", "--objective", "runtime", "--ring", "Z2"))
    assert_user_error(run("discover", "2", "2", "2", "--objective", "runtime", "--method", "agent"))
    assert_user_error(run("discover", "polymul:2,2", "--objective", "runtime"))
    assert_user_error(run("discover", "2", "2", "2", "--objective", "runtime", "--max-error", "-1"))
