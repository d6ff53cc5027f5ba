"""Equal-rank sampling (flip walks at the best rank) and the runtime objective of
``discover`` (tiny sizes; no wall-clock assertions)."""

from __future__ import annotations

import json

import pytest

import tensorgame as tg
from tensorgame.errors import TensorGameError
from tensorgame.search.flipgraph import equal_rank
from tensorgame.search.flipgraph.equal_rank import equal_rank_schemes
from tensorgame.search.lifting import LiftResult, hensel_lift
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


@pytest.mark.parametrize("dims, goal", [((2, 2, 3), 11), ((3, 3, 3), 23)])
def test_mod_2_walk_lifted_to_z_from_scratch(dims, goal):
    """Ring Z: a mod-2 walk from the naive scheme whose classes are Hensel-lifted;
    only lifts that verify over Z are kept, pairwise inequivalent, seeded."""
    sample = equal_rank_schemes(matmul_target(*dims), 4, goal, ring="Z", seed=3, time_limit=60)
    assert sample.rank == goal and sample.stopped == "count" and len(sample.schemes) == 4
    assert sample.lifted is not None and sample.lifted >= 4 and sample.walked >= sample.lifted
    assert all(str(s.ring) == "Z" and s.denominators is None and s.rank == goal for s in sample.schemes)
    assert all(s.verify("Z").ok for s in sample.schemes)
    keys = [canonical_hash(s) for s in sample.schemes]
    assert len(set(keys)) == 4
    again = equal_rank_schemes(matmul_target(*dims), 4, goal, ring="Z", seed=3, time_limit=60)
    assert [canonical_hash(s) for s in again.schemes] == keys


def test_schemes_that_do_not_lift_are_left_out(monkeypatch):
    """Every other lift fails: the sample still holds only verified schemes over Z, and
    counts the classes tried beside those lifted."""
    calls = []

    def every_other(scheme):
        calls.append(scheme)
        return hensel_lift(scheme) if len(calls) % 2 == 0 else LiftResult(None, "refused in a test", 0, 1)

    monkeypatch.setattr(equal_rank, "hensel_lift", every_other)
    sample = equal_rank_schemes(matmul_target(3, 3, 3), 3, 23, ring="Z", seed=1, time_limit=60)
    assert len(sample.schemes) == 3 and sample.lifted == 3 and sample.walked == len(calls) >= 6
    assert all(str(s.ring) == "Z" and s.verify("Z").ok for s in sample.schemes)
    assert len({canonical_hash(s) for s in sample.schemes}) == 3


def test_nothing_lifting_is_one_error(monkeypatch):
    monkeypatch.setattr(equal_rank, "hensel_lift", lambda s: LiftResult(None, "refused in a test", 0, 1))
    with pytest.raises(TensorGameError, match="lifted to Z"):
        equal_rank_schemes(matmul_target(2, 2, 2), 2, 7, ring="Z", seed=0, time_limit=60)


def test_a_single_class_is_exhausted():
    sample = equal_rank_schemes(matmul_target(2, 2, 2), 3, 7, seed=0, time_limit=60)
    assert sample.stopped == "exhausted" and len(sample.schemes) == 1  # rank 7 is one class


def test_runtime_objective_stores_and_times_the_sample(catalog_path):
    res = tg.discover("3,3,3", objective="runtime", schemes=3, size=64, threshold=8, time=60,
                      catalog=catalog_path)
    d = res.details
    assert d["walk"] == "Z2 (lifted to Z)" and d["walked"] >= 3
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


@pytest.mark.slow
def test_runtime_objective_reaches_444_rank_49_from_the_naive_scheme(catalog_path):
    """The ternary walk stalls in the fifties on <4,4,4>; the mod-2 walk, lifted, does not."""
    res = tg.discover("4,4,4", objective="runtime", goal=49, schemes=1, size=32, threshold=8, time=120,
                      catalog=catalog_path)
    assert res.best_rank == 49 and str(res.best_scheme.ring) == "Z" and res.best_scheme.verify("Z").ok


def test_runtime_objective_with_the_ternary_walk(catalog_path):
    res = tg.discover("2,2,3", objective="runtime", ring="ZT", schemes=2, size=48, threshold=8, time=60,
                      catalog=catalog_path)
    assert res.details["walk"] == "ZT" and res.best_rank == 11 and res.best_count == 2
    with tg.open_catalog(catalog_path) as cat:
        assert all(cat.get(i).scheme.verify("Z").ok for i in res.catalog_ids)


def test_runtime_objective_refuses_bad_input(run):
    assert_user_error(run("discover", "2", "2", "2", "--objective", "runtime", "--ring", "Z2"))
    assert_user_error(run("discover", "2", "2", "2", "--objective", "runtime", "--method", "agent"))
    assert_user_error(run("discover", "polymul:2,2", "--objective", "runtime"))
    assert_user_error(run("discover", "2", "2", "2", "--objective", "runtime", "--max-error", "-1"))
