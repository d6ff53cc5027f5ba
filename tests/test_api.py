"""The public Python API: the CLI's verbs as functions returning result objects, and
the flip runs' directories (a run's state is never overwritten)."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import tensorgame as tg
from tensorgame.errors import TensorGameError
from tensorgame.formats import write_scheme
from tensorgame.search.flipgraph.drivers.space import SearchSpace
from tensorgame.search.flipgraph.session import flip_rings, run_directory


def test_public_names_resolve():
    """Every exported name is the object it names, also once the subpackages are
    imported (a subpackage of the same name would shadow a verb)."""
    for sub in ("api", "catalog", "codegen", "formats", "game", "network", "render", "search", "training"):
        importlib.import_module(f"tensorgame.{sub}")
    for name in tg.__all__:
        assert not isinstance(getattr(tg, name), types.ModuleType), name
    with pytest.raises(AttributeError):
        tg.no_such_verb  # noqa: B018


def test_target_and_verify(tmp_path, strassen):
    assert tg.target("2,3,4").name == "<2,3,4>" and tg.target("polymul:3,3").kind == "polymul"
    path = tmp_path / "s.json"
    tg.write_scheme(strassen, path)
    assert tg.verify(path).ok and tg.verify(strassen, "Z2").ok
    broken = strassen.u.copy()
    broken[0, 0] = 0
    wrong = tg.Scheme(strassen.target, "Z", broken, strassen.v, strassen.w)
    check = tg.verify(wrong)
    assert not check.ok and check.n_wrong > 0


def test_flip_search_stores_and_returns_an_outcome(tmp_path):
    catalog = tmp_path / "c.sqlite"
    seen = []
    outcome = tg.flip("2,2,2", ring="Z2", time="20s", goal=7, workers=1, seed=1, catalog=catalog,
                      on_progress=seen.append)
    assert outcome.best.rank == 7 and outcome.stopped == "goal" and outcome.best.verify().ok
    assert seen, "the progress callback was called"
    with tg.open_catalog(catalog, create=False) as cat:
        assert cat.best(tg.matmul_target(2, 2, 2), "Z2").rank == 7
    assert outcome.run_dir.parent.name.startswith("matmul_2_2_2-Z2")


def test_lift_and_codegen(tmp_path, strassen):
    mod2 = tg.Scheme(strassen.target, "Z2", strassen.u % 2, strassen.v % 2, strassen.w % 2)
    lifted = tg.lift(mod2, catalog=tmp_path / "c.sqlite", source="test")
    assert lifted.ok and str(lifted.result.scheme.ring) in ("Z", "Q") and lifted.catalog_id is not None
    made = tg.generate_code(strassen, tmp_path / "strassen_mm.py", levels=2, threshold=2)
    assert made.module.exists() and made.levels == 2 and made.schemes[0]["rank"] == 7
    spec = importlib.util.spec_from_file_location("strassen_mm", made.module)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rng = np.random.default_rng(0)
    a, b = rng.integers(-3, 4, (8, 8)).astype(float), rng.integers(-3, 4, (8, 8)).astype(float)
    assert np.array_equal(module.matmul(a, b), a @ b)


def test_discover_needs_a_method_it_knows():
    with pytest.raises(TensorGameError):
        tg.discover("2,2,2", method="genetic")
    with pytest.raises(TensorGameError, match="plays sides up to 4"):
        tg.discover("3,3,3", method="agent", ring="Z", store=False)  # the bundled network for Z plays sides up to 4


@pytest.mark.parametrize("ring, via, expected", [
    ("Z2", None, ("Z2", False)), ("ZT", None, ("ZT", False)), ("Z3", None, ("Z3", False)),
    ("Z", None, ("Z2", True)), ("Z", "ZT", ("ZT", False)), ("Q", "Z3", ("Z3", True)),
    (tg.Z2, None, ("Z2", False)),
])
def test_what_each_ring_searches(ring, via, expected):
    assert flip_rings(ring, via) == expected


@pytest.mark.parametrize("ring, via", [("Z5", None), ("Z2", "ZT"), ("R", None)])
def test_rings_flip_cannot_search(ring, via):
    with pytest.raises(TensorGameError):
        flip_rings(ring, via)


def test_each_fresh_run_gets_its_own_directory(tmp_path):
    first = run_directory(tmp_path / "runs", resume=False)
    second = run_directory(tmp_path / "runs", resume=False)
    assert first != second and first.is_dir() and second.is_dir()
    with pytest.raises(TensorGameError, match="no run to resume"):
        run_directory(tmp_path / "runs", resume=True)
    (first / "state.json").write_text("{}")
    assert run_directory(tmp_path / "runs", resume=True) == first
    (second / "state.json").write_text("{}")
    assert run_directory(tmp_path / "runs", resume=True) == second


@pytest.mark.slow
def test_a_saved_run_is_never_overwritten(tmp_path):
    catalog, run_dir = tmp_path / "c.sqlite", tmp_path / "run"
    tg.flip("2,2,2", time=20, goal=7, workers=1, catalog=catalog, run_dir=run_dir)
    saved = (run_dir / "state.json").read_bytes()
    with pytest.raises(TensorGameError, match="holds a saved run"):
        tg.flip("2,2,2", time=20, goal=7, workers=1, catalog=catalog, run_dir=run_dir)
    assert (run_dir / "state.json").read_bytes() == saved
    again = tg.flip("2,2,2", time=20, goal=7, workers=1, catalog=catalog, run_dir=run_dir, resume=True)
    assert again.resumed and json.loads((run_dir / "state.json").read_text())["session"] == 1


@pytest.mark.slow
def test_default_runs_do_not_share_state(tmp_path):
    catalog = tmp_path / "c.sqlite"
    one = tg.flip("2,2,2", time=20, goal=7, workers=1, catalog=catalog)
    two = tg.flip("2,2,2", time=20, goal=7, workers=1, catalog=catalog, seed=3)
    assert one.run_dir != two.run_dir and one.run_dir.parent == two.run_dir.parent
    assert (one.run_dir / "state.json").exists() and (two.run_dir / "state.json").exists()
    resumed = tg.flip("2,2,2", time=20, goal=7, workers=1, catalog=catalog, resume=True)
    assert resumed.run_dir == two.run_dir


@pytest.mark.slow
def test_the_documented_session_runs(tmp_path):
    """docs/api.md's session, run as a script: it must stay true."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text()
    code = doc.split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "session.py").write_text(code)
    done = subprocess.run([sys.executable, "session.py"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "TENSORGAME_CATALOG": str(tmp_path / "unused.sqlite")})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("23 goal") and lines[1] == "True False" and lines[3].split()[1:] == ["23", "Z", "lift"]
    assert (tmp_path / "mm333.py").exists()


def test_a_matmul_tensor_file_is_recognised(tmp_path):
    np.save(tmp_path / "t.npy", tg.matmul_tensor(2, 3, 4))
    assert tg.target(tmp_path / "t.npy").name == "<2,3,4>"
    np.save(tmp_path / "c.npy", tg.matmul_tensor(2, 3, 4).transpose(0, 2, 1))  # not our convention
    assert tg.target(tmp_path / "c.npy").kind == "tensor"


def test_a_matmul_shaped_tensor_beyond_the_matmul_sides_stays_a_tensor():
    arr = np.zeros((65, 1, 65), dtype=np.int64)
    arr[np.arange(65), 0, np.arange(65)] = 1
    assert tg.tensor_target(arr).kind == "tensor"


def test_import_schemes_reports_what_it_stored(tmp_path, strassen):
    (tmp_path / "tree" / "a").mkdir(parents=True)
    tg.write_scheme(strassen, tmp_path / "tree" / "a" / "strassen.json")
    tg.write_scheme(tg.naive_scheme(tg.matmul_target(2, 2, 2)), tmp_path / "tree" / "naive.txt")
    (tmp_path / "tree" / "junk.json").write_text("{")
    seen = []
    report = tg.import_schemes(tmp_path / "tree", catalog=tmp_path / "c.sqlite",
                               on_progress=lambda path, done, total: seen.append((done, total)))
    assert (report.count("stored"), report.count("duplicates"), report.count("refused")) == (2, 0, 0)
    assert [f["file"] for f in report.refused_files] == [str(tmp_path / "tree" / "junk.json")]
    assert seen == [(1, 3), (2, 3), (3, 3)]
    with tg.open_catalog(tmp_path / "c.sqlite", read_only=True) as cat:
        assert sorted(e.source for e in cat.list()) == ["a/strassen.json", "naive.txt"]
    again = tg.import_schemes(tmp_path / "tree" / "a" / "strassen.json", catalog=tmp_path / "c.sqlite")
    assert (again.count("stored"), again.count("duplicates")) == (0, 1)


@pytest.mark.slow
def test_train_and_discover_report_progress(tmp_path):
    config = Path(__file__).resolve().parents[1] / "configs" / "tiny_test.toml"
    logged = []
    summary = tg.train(config, run_dir=tmp_path / "run", time="8s", catalog=tmp_path / "c.sqlite",
                       on_progress=logged.append)
    assert summary.step > 0 and logged and all(doc["kind"] == "train" for doc in logged)
    batches = []
    found = tg.discover("1,1,2", checkpoint=summary.checkpoint, episodes=4, batch=2, simulations=4,
                        catalog=tmp_path / "c.sqlite", on_progress=batches.append)
    assert found.method == "agent" and found.attempts == 4
    assert [b["played"] for b in batches] == [2, 4] and batches[-1]["solved"] == found.solved


def test_a_resumed_run_walks_from_its_saved_start(tmp_path):
    """The start belongs to the run: a resume neither reads --start again (here the
    file is gone) nor changes the catalogue source its schemes carry."""
    catalog, run_dir, start = tmp_path / "c.sqlite", tmp_path / "run", tmp_path / "start.json"
    naive = tg.naive_scheme(tg.matmul_target(2, 2, 3), "Z2")
    write_scheme(naive, start)
    first = tg.flip("2,2,3", time=20, goal=11, workers=1, catalog=catalog, run_dir=run_dir, start=str(start))
    assert first.best.rank == 11
    start.unlink()
    again = tg.flip("2,2,3", time=20, goal=11, workers=1, catalog=catalog, run_dir=run_dir, start=str(start),
                    resume=True)
    assert again.resumed and again.best.rank == 11
    state = json.loads((run_dir / "state.json").read_text())
    space = SearchSpace(naive.target, "Z2")
    assert space.scheme(space.decode(state["origin"])).rank == 12 and state["session"] == 1
