"""Flip-graph extensions and drivers: split moves, the Z3 ring, the symmetric flip graph,
arbitrary targets, the parallel strategies, checkpoints and the ``flip`` command.

Walks are seeded (their budgets are reproducible facts); the parallel runs are not
deterministic, so they get generous time caps and assert only what every run must do.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

import numpy as np
import pytest

import tensorgame as tg
from tensorgame.catalog import Catalog
from tensorgame.errors import RingError, TargetError, TensorGameError
from tensorgame.formats import read_scheme
from tensorgame.search.flipgraph import PackedScheme, _start, unpack, walk
from tensorgame.search.flipgraph._kernel import _split
from tensorgame.search.flipgraph._structure import reduce_pending, terms
from tensorgame.search.flipgraph.drivers import (
    FlipRun,
    FlipSettings,
    SearchSpace,
    run_flip,
)
from tensorgame.search.flipgraph.drivers.messages import Improved, RunRunners
from tensorgame.search.flipgraph.drivers.worker import (
    _restart_point,
    _Runner,
    run_worker,
)
from tensorgame.search.flipgraph.symmetric import (
    OrbitScheme,
    SymmetricWalker,
    _fixed_flags,
    _transpose,
    _transpose_table,
    is_cyclic_symmetric,
    orbit_pack,
    orbit_unpack,
    symmetric_start,
)
from tensorgame.search.lifting import hensel_lift
from tests.conftest import assert_user_error

PYTHON = sys.executable


def _naive(n: int, m: int, p: int) -> tg.Scheme:
    return tg.naive_scheme(tg.matmul_target(n, m, p))


def _current(walker) -> tg.Scheme:
    return unpack(PackedScheme(walker.ring, *terms(walker.state)), walker.target)


# --- engine extensions -------------------------------------------------------------------
@pytest.mark.parametrize("ring", ["Z2", "ZT", "Z3"])
def test_split_and_plus_keep_every_step_exact(ring):
    """Escapes every 10 attempts, half of them splits: the scheme is exact after each
    single attempt (splits leave two terms sharing two factors, which later flips or
    reductions resolve)."""
    for shape in ((3, 3, 3), (2, 3, 4)):
        walker = _start(_naive(*shape), ring, plus_diff=4, seed=2, split=True)
        for _ in range(300):
            walker.run(1, plateau_limit=10, target_rank=0)
            assert _current(walker).verify().ok
        assert walker.pluses > 0 and walker.reductions > 0
        walker.run(20_000, plateau_limit=100, target_rank=0)
        assert _current(walker).verify().ok and walker.best_scheme().verify().ok


@pytest.mark.parametrize("ring", ["Z2", "ZT", "Z3"])
def test_split_move_alone(ring):
    """Each split adds exactly one term and keeps the scheme exact; the new term shares
    the split factor's position with the other term (a new flip partner)."""
    walker = _start(_naive(3, 3, 3), ring, plus_diff=40, seed=4)
    for _ in range(30):
        rank = walker.rank
        assert _split(walker.state, walker.rng)
        assert walker.rank == rank + 1 and _current(walker).verify().ok
        reduce_pending(walker.state)
        assert _current(walker).verify().ok


def test_z3_walk_reaches_23_and_lifts():
    # seeded: reaches 23 within 1.3e6 attempts with this plateau (the Z3 default)
    result = walk(_naive(3, 3, 3), ring="Z3", target_rank=23, max_flips=10_000_000,
                  plateau_limit=30_000, seed=0)
    assert result.rank == 23 and result.scheme.ring == tg.Z3 and result.scheme.verify().ok
    lifted = hensel_lift(result.scheme)
    assert lifted.ok and lifted.scheme.ring in (tg.Z, tg.Q) and lifted.scheme.verify().ok


def test_arbitrary_targets_walk_down():
    """Targets that are not matrix products walk from their naive schemes: the
    skew-symmetric matrix-vector product, and A·Aᵀ (upper triangle) from a tensor file."""
    skew = tg.naive_scheme(tg.skew_matvec_target(4))
    for ring, check in (("Z2", "Z2"), ("ZT", "Z")):
        result = walk(skew, ring=ring, max_flips=200_000, plateau_limit=2_000, seed=0, split=True)
        assert result.rank < skew.rank and result.scheme.verify(check).ok


def _aat_file(path: Path, n: int = 3, m: int = 3) -> Path:
    """C = A·Aᵀ for A n×m, the entries C[i,k] with i <= k, as a user tensor in JSON."""
    pairs = [(i, k) for i in range(n) for k in range(i, n)]
    entries = [[i * m + j, k * m + j, c, 1] for c, (i, k) in enumerate(pairs) for j in range(m)]
    path.write_text(json.dumps({"kind": "tensor", "dims": [n * m, n * m, len(pairs)], "entries": entries}))
    return path


def test_user_tensor_file_walks_down(tmp_path):
    target = tg.load_target_file(_aat_file(tmp_path / "aat.json"))
    naive = tg.naive_scheme(target)
    result = walk(naive, ring="Z2", max_flips=300_000, plateau_limit=2_000, seed=0, split=True)
    assert result.rank < naive.rank and result.scheme.verify().ok


# --- the symmetric flip graph --------------------------------------------------------------------
def _walker_scheme(walker: SymmetricWalker) -> tg.Scheme:
    nreps = int(walker.meta[1])
    nz = walker.state[1][:3, 0 : 3 * nreps : 3].copy()  # virtual term 3r holds rep r
    return orbit_unpack(OrbitScheme(nz, _fixed_flags(nz, walker.side)), walker.target)


@pytest.mark.slow
def test_symmetric_walk_keeps_symmetry_and_exactness():
    for n in (2, 3, 4):
        target = tg.matmul_target(n, n, n)
        start = symmetric_start(tg.naive_scheme(target))
        assert start.rank == n**3 and int(start.fixed.sum()) == n
        walker = SymmetricWalker(start, target, plus_diff=6, seed=n, split=True)
        for _ in range(200):
            walker.run(1, plateau_limit=20, target_rank=0)
            scheme = _walker_scheme(walker)
            assert scheme.rank == walker.rank
            assert scheme.verify().ok and is_cyclic_symmetric(scheme)
        assert walker.pluses > 0


def test_symmetric_walk_reaches_23():
    target = tg.matmul_target(3, 3, 3)
    walker = SymmetricWalker(symmetric_start(tg.naive_scheme(target)), target, plus_diff=4, seed=0, split=True)
    for _ in range(100):  # seeded: 23 within 2e6 attempts
        walker.run(1 << 16, plateau_limit=300, target_rank=23)
        if walker.best_rank <= 23:
            break
    best = walker.best_scheme()
    assert best.rank == 23 and best.verify().ok and is_cyclic_symmetric(best)
    assert orbit_pack(best).rank == 23


@pytest.mark.parametrize("n", range(2, 9))
def test_the_walks_table_transpose_is_the_matrix_transpose(n):
    rng = np.random.default_rng(n)
    table = _transpose_table(n)
    for _ in range(50):
        bits = rng.integers(0, 2, size=(n, n))
        mask = sum(int(b) << i for i, b in enumerate(bits.ravel()))
        want = sum(int(b) << i for i, b in enumerate(bits.T.ravel()))
        assert int(_transpose(np.uint64(mask), table)) == want


def test_symmetric_refusals():
    with pytest.raises(TargetError):
        symmetric_start(_naive(2, 2, 3))
    asymmetric = walk(_naive(3, 3, 3), ring="Z2", target_rank=23, max_flips=10_000_000, seed=0).scheme
    assert not is_cyclic_symmetric(asymmetric)
    with pytest.raises(RingError):
        orbit_pack(asymmetric)
    with pytest.raises(TensorGameError):
        SearchSpace(tg.matmul_target(3, 3, 3), "ZT", symmetric=True)


# --- parallel drivers ------------------------------------------------------------------------------
@pytest.mark.parametrize("strategy, symmetric", [("runners", False), ("pool", False), ("runners", True),
                                                 ("lineages", False)])
def test_strategies_reach_23_with_two_workers(tmp_path, strategy, symmetric):
    target = tg.matmul_target(3, 3, 3)
    out = tmp_path / "best.json"
    with Catalog(tmp_path / "c.sqlite") as catalog:
        outcome = run_flip(
            SearchSpace(target, "Z2", symmetric=symmetric),
            FlipSettings(strategy=strategy, workers=2, time_s=60, goal=23, seed=1,
                         **({"sprint_s": 0.0} if strategy == "lineages" else {})),  # (the workers walk)
            tg.naive_scheme(target), run_dir=tmp_path / "run", catalog=catalog, out=out,
        )
        entries = catalog.list(target_key=target.key)
    assert outcome.stopped == "goal" and outcome.best.rank == 23 and outcome.best.verify().ok
    if symmetric:
        assert is_cyclic_symmetric(outcome.best)
    assert entries and min(e.rank for e in entries) == 23
    assert all(e.method == "flip" and e.seed == 1 and e.elapsed_s is not None for e in entries)
    assert read_scheme(out).rank == 23
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert state["best"]["rank"] == 23 and state["strategy"] == strategy


@pytest.mark.slow
def test_lifted_goal_needs_a_scheme_that_lifts(tmp_path, alphatensor_dir):
    """With lifting, --goal is a rank over Z: AlphaTensor's mod-2 47 for <4,4,4> is
    reached from the start but never lifts, so the run ends on time, not on the goal."""
    from tensorgame.formats import read_schemes

    f2 = {s.target.params: s for s in read_schemes(alphatensor_dir / "factorizations_f2_nopickle.npz")}
    start = f2[(4, 4, 4)]
    outcome = run_flip(
        SearchSpace(start.target, "Z2"),
        FlipSettings(workers=1, time_s=6, goal=47, seed=0, lift=True, local_tries=0),
        start, run_dir=tmp_path / "run",
    )
    assert outcome.best.rank == 47 and outcome.stopped == "time"
    assert outcome.lifted is None or outcome.lifted.rank > 47
    assert outcome.lift_note and "did not lift" in outcome.lift_note


class _OneOrder:
    """An in-process worker channel: one order, then stop after ``seconds``."""

    def __init__(self, order, seconds: float) -> None:
        self.pending, self.reports = [order], []
        self.deadline = time.monotonic() + seconds

    def orders(self, timeout):
        got, self.pending = self.pending, []
        return got

    def send(self, report):
        self.reports.append(report)

    def stopped(self):
        return time.monotonic() > self.deadline


@pytest.mark.parametrize("liftable", [True, False])
def test_a_lifting_worker_keeps_only_descents_that_can_lift(monkeypatch, liftable):
    """Whether a mod-2 scheme lifts barely changes along a walk, so a Z search keeps
    only descents that can lift (no process is started): with every scheme refused,
    the walks from the naive <3,3,3> report nothing."""
    target = tg.matmul_target(3, 3, 3)
    space = SearchSpace(target, "Z2")
    calls = []

    def can_lift(self, payload):
        calls.append(payload.rank)
        return liftable

    monkeypatch.setattr(SearchSpace, "can_lift", can_lift)
    start = space.payload(tg.naive_scheme(target))
    settings = FlipSettings(lift=True, plateau=1000, path_min=1 << 15, local_tries=0, round_flips=1 << 14)
    channel = _OneOrder(RunRunners([start, start], start, [start], 27, settings, goal=0), seconds=1.5)
    run_worker(space, 0, 0, channel)
    reported = [r.payload.rank for r in channel.reports if isinstance(r, Improved)]
    assert calls and all(r < 27 for r in calls)
    assert (min(reported) < 27) if liftable else reported == []


def test_a_stalled_lineage_starts_over_from_the_start_scheme():
    """Where a runner restarts (no process is started): with ``runners`` from the run's
    best or recent improvements; with ``lineages`` from its own, and from the start
    scheme once its lineage has stalled through its longest path."""
    target = tg.matmul_target(3, 3, 3)
    space = SearchSpace(target, "Z2")
    origin = space.payload(tg.naive_scheme(target))
    found = [space.payload(walk(tg.naive_scheme(target), ring="Z2", target_rank=r, max_flips=10**7,
                                seed=0).scheme) for r in (25, 23)]
    own, best = found
    settings = FlipSettings(strategy="lineages", plateau=100, path_min=1 << 10, path_max=1 << 12)
    rng = np.random.default_rng(0)

    def runner(lineage, path):
        r = _Runner(space.walker(own, 0, 27), 100, path)
        r.lineage = None if lineage is None else deque(lineage, maxlen=10)
        return r

    recent = deque([origin, best], maxlen=10)
    for _ in range(20):  # copy-best runners go on from the run's schemes
        r = runner(None, 1 << 12)
        assert _restart_point(r, best, recent, origin, settings, True, rng) in (best, origin)
        r = runner([origin, own], 1 << 11)  # a lineage that has not gone its longest path yet
        assert _restart_point(r, best, recent, origin, settings, True, rng) in (own, origin)
        assert list(r.lineage) == [origin, own] and not r.fresh
        assert r.path == 1 << 12 and r.plateau == 400  # the adaptive limits move on
    for lineage in ([origin, own], [origin, best]):  # (the run keeps its best: the holder restarts too)
        stalled = runner(lineage, 1 << 12)
        assert _restart_point(stalled, best, recent, origin, settings, True, rng) is origin
        assert list(stalled.lineage) == [origin] and stalled.fresh and stalled.path == 1 << 10


def test_lifter_alternates_lowest_and_median_candidates(tmp_path):
    """The lifter's order (no process is started): the lowest untried rank, then the
    median of the rest, and so on; only schemes that would beat the lifted best."""
    from tensorgame.search.flipgraph import search
    from tensorgame.search.flipgraph.drivers import FlipRun

    target = tg.matmul_target(3, 3, 3)
    schemes = {r: search(target, ring="Z2", time_limit=20, target_rank=r, seed=1).scheme for r in (26, 25, 24, 23)}
    assert sorted(s.rank for s in schemes.values()) == [23, 24, 25, 26]
    space = SearchSpace(target, "Z2")
    run = FlipRun(space, FlipSettings(lift=True), schemes[26], run_dir=tmp_path / "run")
    for r in (25, 24, 23):
        run._pool_add(space.payload(schemes[r]))

    class Recorder:
        ranks: list[int] = []

        def submit(self, fn, scheme):
            self.ranks.append(scheme.rank)
            return None

    run.lifter.executor = Recorder()
    for _ in range(5):
        run._lift_next()
    assert Recorder.ranks == [23, 25, 24, 26]  # the fifth call finds nothing left
    Recorder.ranks.clear()
    run.lifter.seen.clear()
    run.lifted = hensel_lift(schemes[25]).scheme  # a lifted 25 over Z: only 23 and 24 remain
    assert run.lifted is not None and str(run.lifted.ring) == "Z"
    for _ in range(3):
        run._lift_next()
    assert sorted(Recorder.ranks) == [23, 24]


# --- the command line -------------------------------------------------------------------------------
@pytest.mark.slow
def test_flip_command_end_to_end(run, tmp_path):
    out = tmp_path / "best.json"
    result = run("flip", 3, 3, 3, "--ring", "Z", "--time", "1m", "--workers", 2, "--goal", 23,
                 "--out", out, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["best"]["rank"] == 23 and doc["best"]["ring"] == "Z2" and doc["stopped"] == "goal"
    assert doc["lifted"]["rank"] == 23 and doc["lifted"]["ring"] in ("Z", "Q")
    scheme = read_scheme(out)
    assert scheme.rank == 23 and str(scheme.ring) == doc["lifted"]["ring"] and scheme.verify().ok
    with Catalog(tmp_path / "cat" / "c.sqlite") as catalog:
        stored = {e.id: e for e in catalog.list(target_key="matmul:3,3,3")}
    assert doc["best"]["catalog_id"] in stored and doc["lifted"]["catalog_id"] in stored
    text = run("flip", "skew_matvec", 4, "--ring", "ZT", "--time", 3, "--workers", 1)
    assert text.exit_code == 0 and "over Z (holds over every ring)" in text.output


@pytest.mark.slow
def test_flip_command_on_a_tensor_file(run, tmp_path):
    result = run("flip", "--target", _aat_file(tmp_path / "aat.json"), "--time", 3, "--workers", 1,
                 "--strategy", "pool", "--json")
    doc = json.loads(result.stdout)
    assert result.exit_code == 0 and doc["best"]["rank"] < 18


@pytest.mark.parametrize("args", [
    (3, 3, 3, "--ring", "Z5"),
    (3, 3, 3, "--time", "soon"),
    (3, 3, 3, "--time", "-5"),
    (17, 17, 1),  # factors of length 289 > 256
    (3, 3, 4, "--symmetric"),
    (3, 3, 3, "--ring", "ZT", "--symmetric"),
    (3, 3, 3, "--start", "catalog:x"),
    (3, 3, 3, "--start", "meta:2,2,2+2,3,3"),  # no two sides in common
    (3, 3, 3, "--start", "meta:1,3,3+1,3,3+1,3,3"),
    (3, 3, 3, "--resume", "--time", 1),
])
def test_bad_flip_inputs_are_one_line(run, args):
    assert_user_error(run("flip", *args))


@pytest.mark.slow
def test_resume_after_kill_loses_nothing(run, tmp_path):
    """kill -9 of a running search (coordinator and workers): every catalogued
    improvement survives and --resume continues from the best of them."""
    catalog_path = tmp_path / "cat" / "c.sqlite"
    run_dir = tmp_path / "run"
    script = (
        "from tensorgame.cli.main import cli\n"
        "from tensorgame.cli.flip_cmd import flip\n"
        "cli.add_command(flip)\n"
        f"cli.main(['flip', '4', '4', '4', '--time', '120', '--workers', '1', '--run-dir', {str(run_dir)!r}],"
        " prog_name='tensorgame')\n"
    )
    proc = subprocess.Popen([PYTHON, "-c", script], env={**os.environ, "TENSORGAME_CATALOG": str(catalog_path)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        before: dict[int, int] = {}
        while time.monotonic() < deadline and (len(before) < 3 or not (run_dir / "state.json").exists()):
            time.sleep(0.5)
            if catalog_path.exists():
                with Catalog(catalog_path) as catalog:
                    before = {e.id: e.rank for e in catalog.list()}
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert len(before) >= 3, "the search found too few improvements to test a resume"
    result = run("flip", 4, 4, 4, "--time", 2, "--workers", 1, "--run-dir", run_dir, "--resume", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["resumed"] and doc["total_elapsed_s"] > doc["elapsed_s"]
    assert doc["best"]["rank"] <= min(before.values())
    with Catalog(catalog_path) as catalog:
        after = {e.id: e.rank for e in catalog.list()}
    assert before.items() <= after.items()


def test_a_sprint_reaching_the_goal_starts_no_worker(tmp_path):
    """Small formats end in the coordinator's own walk, before any process is spawned;
    with lifting, the lift runs inline too."""
    target = tg.matmul_target(3, 3, 3)
    for ring, lift in (("Z2", False), ("Z2", True)):
        run = FlipRun(SearchSpace(target, ring), FlipSettings(workers=2, time_s=60, goal=23, lift=lift,
                                                             sprint_s=30, seed=4),
                      tg.naive_scheme(target), run_dir=tmp_path / f"run-{lift}")
        outcome = run.run()
        assert not run.started and outcome.stopped == "goal" and outcome.flips > 0
        assert outcome.best.rank == 23 and outcome.best.verify().ok
        if lift:
            assert outcome.lifted.rank == 23 and str(outcome.lifted.ring) == "Z" and outcome.lifted.verify().ok


def test_workers_are_not_waited_for_once_the_goal_is_reached(tmp_path):
    """At the goal the run stops its workers without a grace period (their rounds in
    progress cannot matter and would delay the result); at the end of the time budget
    they get one to send their last reports."""
    from tensorgame.search.flipgraph.drivers.transport import (
        STOP_GRACE_S,
        ProcessTransport,
    )

    class Recording(ProcessTransport):
        def __init__(self) -> None:
            super().__init__()
            self.graces: list[float] = []

        def stop(self, grace_s: float = STOP_GRACE_S):
            self.graces.append(grace_s)
            return super().stop(grace_s)

    target = tg.matmul_target(3, 3, 3)
    for goal, time_s, expected in ((23, 60, ("goal", 0.0)), (1, 1.5, ("time", STOP_GRACE_S))):
        transport = Recording()
        outcome = FlipRun(SearchSpace(target, "Z2"), FlipSettings(workers=2, time_s=time_s, goal=goal, sprint_s=0,
                                                                  seed=2),
                          tg.naive_scheme(target), run_dir=tmp_path / f"run-{goal}", transport=transport).run()
        assert (outcome.stopped, *transport.graces) == expected
        assert outcome.best.verify().ok and outcome.best.rank <= 23 + (goal == 1) * 4


# --- Ray ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_ray_workers_survive_a_killed_actor(tmp_path):
    """Walkers as actors of a local Ray instance (each worker process standing in for a
    node); one is killed mid-run: the run goes on with the other, says so, and every
    improvement the driver stored is in the catalogue, verified."""
    ray = pytest.importorskip("ray")
    from tensorgame.search.flipgraph.drivers.ray_transport import RayTransport

    target = tg.matmul_target(4, 4, 4)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        transport = RayTransport("auto")
        killed: list[float] = []

        def kill_one(p):
            if not killed and p.flips > 0 and transport.actors and p.histogram:
                ray.kill(transport.actors[0])
                killed.append(p.elapsed_s)

        with Catalog(tmp_path / "c.sqlite") as catalog:
            run = FlipRun(SearchSpace(target, "Z2"), FlipSettings(workers=2, time_s=25, seed=3),
                          tg.naive_scheme(target), run_dir=tmp_path / "run", catalog=catalog,
                          on_progress=kill_one, transport=transport)
            outcome = run.run()
            stored = {e.id: e for e in catalog.list(target_key=target.key)}
    finally:
        ray.shutdown()
    assert killed and outcome.workers_lost == 1 and outcome.stopped == "time"
    assert outcome.best.verify().ok and outcome.best.rank < 64
    ids = [i["catalog_id"] for i in outcome.improvements]
    assert ids and all(cid in stored and stored[cid].scheme.verify().ok for cid in ids)
    assert stored[outcome.best_catalog_id].rank == outcome.best.rank
    assert outcome.flips > 0
