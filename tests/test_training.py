"""Training: strict configs, demonstrations and replay, the learner, a tiny end-to-end
run (files, TensorBoard, report), resume after kill -9, corrupted checkpoints, and
the Ray actor path (skipped without ray). Kept short: tiny networks, seconds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import tensorgame as tg
from tensorgame.catalog import Catalog
from tensorgame.game import BasisPool, TensorGame
from tensorgame.network import load_checkpoint
from tensorgame.training.actors import ActorSpec, SelfPlayWorker
from tensorgame.training.config import (
    ConfigError,
    TrainConfig,
    config_from_dict,
    game_config,
    load_config,
    network_config,
    rings_of,
    targets_of,
)
from tensorgame.training.demos import DemoSource
from tensorgame.training.learner import Learner
from tensorgame.training.replay import ReplayBuffer
from tensorgame.training.run import checkpoint_path
from tests.conftest import assert_user_error

TINY = {
    "game": {"targets": ["2,2,2"], "rings": ["Z2"]},
    "network": {"d_model": 16, "heads": 2, "torso_layers": 1, "policy_layers": 1},
    "mcts": {"num_simulations": 6, "num_samples": 4},
    "learner": {"batch_size": 32, "warmup_steps": 4, "min_replay": 16, "steps_per_game": 0.5},
    "actors": {"games_per_batch": 4, "basis_pool_size": 64},
    "run": {"checkpoint_every_s": 2.0, "log_every_steps": 5},
}
#: Tiny targets that a fresh network plus a small search solves often: complex
#: multiplication below its naive rank 4 (Gauss's 3, stored within seconds) and <1,1,2>
#: (solved constantly at its naive rank 2, never stored).
EASY = {**TINY, "game": {"targets": ["complex", "1,1,2"], "rings": ["Z2"], "max_side": 4}}


def _write(path: Path, doc: dict) -> Path:
    path.write_text(json.dumps(doc))
    return path


# --- config -------------------------------------------------------------------------------
def test_config_from_toml_and_json_agree(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('[game]\ntargets = ["2,2,2", "2x2x3"]\nrings = ["Z", "Z2"]\n'
                    '[learner]\nlr = 0.002\nsupervised_fraction = 0.7\n[run]\nseed = 5\n')
    a = load_config(toml)
    assert a.game.targets == ("2,2,2", "2x2x3") and a.learner.lr == 0.002 and a.run.seed == 5
    assert a.mcts.num_simulations == TrainConfig().mcts.num_simulations  # defaults fill the rest
    b = load_config(_write(tmp_path / "c.json", a.to_dict()))
    assert a == b
    assert config_from_dict(json.loads(json.dumps(a.to_dict()))) == a
    assert game_config(a).max_side == 6  # <2,2,3> has sides (4, 6, 6)
    assert network_config(a).max_side == 6


@pytest.mark.parametrize("doc, message", [
    ({"learner": {"learning_rate": 0.1}}, "unknown key learner.learning_rate"),
    ({"optimizer": {}}, "unknown table [optimizer]"),
    ({"learner": {"lr": -1}}, "learner.lr must be > 0"),
    ({"mcts": {"num_samples": "many"}}, "mcts.num_samples must be an integer"),
    ({"mcts": {"num_samples": 0}}, "[mcts] num_samples must be >= 1"),
    ({"actors": {"tied": 1}}, "actors.tied must be true or false"),
    ({"game": {"targets": ["2,2,q"]}}, "game.targets[0]"),
    ({"game": {"rings": ["Q"]}}, "game.rings[0] must be Z or Z<p>"),
    ({"network": {"d_model": 30, "heads": 4}}, "network: d_model (30) must be a multiple of heads"),
])
def test_config_errors_are_one_line(tmp_path, doc, message):
    path = _write(tmp_path / "bad.json", doc)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    text = str(err.value)
    assert message in text and text.startswith(str(path)) and "\n" not in text


def test_every_shipped_config_is_valid():
    shipped = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.toml"))
    assert len(shipped) >= 5
    for path in shipped:
        load_config(path)  # raises ConfigError with the file and key on a bad value


def test_config_errors_through_the_cli(tmp_path, run):
    bad = tmp_path / "bad.toml"
    bad.write_text("[learner]\nlearning_rate = 0.1\n")
    assert_user_error(run("train", bad, "--run-dir", tmp_path / "r"))
    broken = tmp_path / "broken.toml"
    broken.write_text("[learner\n")
    assert_user_error(run("train", broken, "--run-dir", tmp_path / "r"))
    assert_user_error(run("train", _write(tmp_path / "ok.json", TINY), "--time", "soon"))


# --- data ---------------------------------------------------------------------------------
def _source(cfg: TrainConfig, seed: int = 0) -> DemoSource:
    targets = targets_of(cfg)
    pools = {t.dims: BasisPool(t.dims, 32, seed=3, max_entry=2) for t in targets}
    return DemoSource(targets, rings_of(cfg), game_config(cfg), pools, seed=seed, basis_fraction=0.5)


def test_demonstration_positions_are_exact():
    """Synthetic positions: legal target moves, values -(terms left) within the step
    budget. Positions of a found scheme (Strassen): residual + the played terms of the
    history is exactly the target, whatever symmetry, signs and term order the
    augmentation chose."""
    cfg = config_from_dict({"game": {"targets": ["2,2,2"], "rings": ["Z", "Z2"]}})
    src = _source(cfg)
    batch = src.synthetic(64, np.random.default_rng(1))
    env = TensorGame(game_config(cfg))
    assert batch.moves.shape == (64, 1, 3, 4) and np.all(batch.weights == 1)
    assert np.all(batch.value <= -1) and np.all(batch.step + batch.remaining == 8)
    assert np.all(batch.remaining >= -batch.value)
    for i in range(64):
        ring = "Z2" if batch.modulus[i] else "Z"
        res = batch.residual[i, :4, :4, :4].astype(np.int64)
        state = env.reset(res, ring)
        env.step(state, batch.moves[i, :1])  # raises IllegalMoveError if the target is illegal

    strassen = np.zeros((7, 3, 4), dtype=np.int8)
    from tests.conftest import STRASSEN_U, STRASSEN_V, STRASSEN_W

    strassen[:, 0], strassen[:, 1], strassen[:, 2] = STRASSEN_U, STRASSEN_V, STRASSEN_W
    src.canonical_fraction = 1.0
    assert src.add_solution(0, 0, strassen)
    assert not src.add_solution(0, 0, strassen)  # known already
    sol = src.solution_demos(48, np.random.default_rng(2))
    t = tg.matmul_tensor(2, 2, 2).astype(np.int64)
    for i in range(48):
        played = int(sol.step[i])  # no slack: rank 7 of a limit of 8 leaves at most 1
        left = int(-sol.value[i])
        assert 7 - left <= played <= 8 - left
        total = sol.residual[i].astype(np.int64)
        for k in range(7 - left):
            u, v, w = (sol.history[i, k, f].astype(np.int64) for f in range(3))
            total = total + np.einsum("i,j,k->ijk", u, v, w)
        assert np.array_equal(total, t), i


def test_solution_positions_start_with_every_term():
    """A found scheme is stored in one term order; its positions must not be only the
    prefixes of that order: the policy target is any remaining term, so a search may
    play any term first, and the residual after it must have been shown too."""
    from tests.conftest import STRASSEN_U, STRASSEN_V, STRASSEN_W

    cfg = config_from_dict({"game": {"targets": ["2,2,2"], "rings": ["Z"]}})
    src = _source(cfg)
    src.canonical_fraction = 1.0
    strassen = np.zeros((7, 3, 4), dtype=np.int8)
    strassen[:, 0], strassen[:, 1], strassen[:, 2] = STRASSEN_U, STRASSEN_V, STRASSEN_W
    assert src.add_solution(0, 0, strassen)
    sol = src.solution_demos(2000, np.random.default_rng(3))
    one = np.flatnonzero(-sol.value == 6)  # positions after exactly one term
    terms = {tuple(np.abs(sol.history[i, 0]).reshape(-1)) for i in one}  # signs are augmented
    # Strassen's terms, up to sign, are closed under the augmentation's symmetries: 7 is all
    assert len(one) > 100 and len(terms) == 7


def test_demonstrations_stay_in_a_small_alphabet():
    """With moves restricted to {-1, 0, 1} every demonstration move is spellable."""
    cfg = config_from_dict({"game": {"targets": ["2,2,2"], "rings": ["Z"], "coefficients": [-1, 0, 1]}})
    batch = _source(cfg).synthetic(256, np.random.default_rng(4))
    assert batch.moves.min() >= -1 and batch.moves.max() <= 1
    assert (batch.moves == -1).any() and (batch.moves == 1).any()


def test_replay_buffer_round_trip_and_wraparound(tmp_path):
    cfg = config_from_dict(TINY)
    spec = ActorSpec(cfg.to_dict(), "test-run", None)
    worker = SelfPlayWorker(spec, 0)
    worker.set_weights(worker.model.state_dict(), 0)
    out = worker.play(3, seed=11)
    assert out.positions is not None and len(out.positions) == out.moves
    buf = ReplayBuffer(40, 4, cfg.game.history, cfg.mcts.num_samples)
    for _ in range(3):
        buf.add(out.positions)
    assert len(buf) == min(40, 3 * out.moves)
    data = buf.to_bytes({"note": np.arange(3)})
    again = ReplayBuffer(40, 4, cfg.game.history, cfg.mcts.num_samples)
    extra = again.load_bytes(data, "mem")
    assert np.array_equal(extra["note"], np.arange(3))
    a, b = buf.sample(16, np.random.default_rng(0)), again.sample(16, np.random.default_rng(0))
    assert len(a) == len(b) == 16
    assert np.allclose(b.weights.sum(axis=1), 1.0)
    with pytest.raises(tg.TensorGameError):
        again.load_bytes(b"not an archive", "junk.npz")


def test_learner_steps_lower_the_loss():
    cfg = config_from_dict({**TINY, "learner": {"lr": 3e-3, "batch_size": 32}})
    learner = Learner(network_config(cfg), cfg.learner, seed=0)
    batch = _source(cfg).synthetic(32, np.random.default_rng(0))
    first = learner.train_step(batch, len(batch))
    for _ in range(25):
        last = learner.train_step(batch, len(batch))
    assert last.loss < 0.8 * first.loss, (first, last)
    assert last.value_error < first.value_error


def test_learner_loss_on_the_region_board_is_the_mean_of_its_rows():
    """Computed in groups of equal board side, the loss is still the batch's: the mean
    of each row's policy loss plus the value loss over the rows whose value counts."""
    cfg = config_from_dict({**TINY, "game": {"targets": ["2,2,2", "2,2,4", "1,2,2"], "rings": ["Z2"]},
                            "network": {**TINY["network"], "board": "region"}})
    learner = Learner(network_config(cfg), cfg.learner, seed=0)
    batch = _source(cfg).synthetic(12, np.random.default_rng(0))
    assert len(set(map(tuple, batch.dims))) == 3
    loss, parts = learner.losses(batch, 7)
    single = [learner.losses(batch.take(np.array([i])), int(i < 7)) for i in range(len(batch))]
    policy = [p["policy_demo"] if i < 7 else p["policy_play"] for i, (_, p) in enumerate(single)]
    values = [p["value"] for i, (_, p) in enumerate(single) if batch.value_mask[i]]
    assert np.isclose(parts["policy_demo"], np.mean(policy[:7]), atol=1e-4)
    assert np.isclose(parts["policy_play"], np.mean(policy[7:]), atol=1e-4)
    assert np.isclose(parts["value"], np.mean(values), atol=1e-4)
    assert np.isclose(float(loss.detach()), np.mean(policy) + cfg.learner.value_weight * np.mean(values), atol=1e-4)


# --- runs ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_tiny_end_to_end_run_and_report(tmp_path, run, catalog_path):
    run_dir = tmp_path / "run"
    config = _write(tmp_path / "tiny.json", TINY)
    result = run("train", config, "--run-dir", run_dir, "--time", "12s", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["step"] > 0 and doc["games"] > 0 and doc["stopped"] == "time limit"
    resolved = json.loads((run_dir / "config.json").read_text())
    assert config_from_dict(resolved) == config_from_dict(TINY)
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train = [d for d in lines if d["kind"] == "train"]
    assert train and {"loss", "policy_demo", "value", "games_per_s", "best"} <= set(train[-1])
    model, opt, step, extra = load_checkpoint(checkpoint_path(run_dir))
    assert step == doc["step"] and opt is not None and extra["run_id"] == doc["run_id"]
    try:
        import tensorboardX  # noqa: F401
    except ImportError:
        pass
    else:
        assert list((run_dir / "tb").glob("events.out.tfevents.*"))
    assert (run_dir / "replay.npz").exists()
    rep = run("report", run_dir, "-o", tmp_path / "plots", "--json")
    assert rep.exit_code == 0, rep.output
    files = json.loads(rep.stdout)["files"]
    assert files and all(Path(f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in files)
    # a second start in the same directory is refused; the one-line error says why
    assert_user_error(run("train", config, "--run-dir", run_dir))


def _cli_subprocess(args: list[str], catalog: Path) -> subprocess.Popen:
    env = {**os.environ, "TENSORGAME_CATALOG": str(catalog), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-c", "from tensorgame.cli.main import main; main()", *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_resume_after_kill_continues_and_keeps_schemes(tmp_path, catalog_path):
    run_dir = tmp_path / "run"
    config = _write(tmp_path / "easy.json", {**EASY, "run": {"checkpoint_every_s": 1.0, "log_every_steps": 5}})
    proc = _cli_subprocess(["train", str(config), "--run-dir", str(run_dir), "--time", "60s", "-q"], catalog_path)
    ckpt = checkpoint_path(run_dir)
    deadline = time.monotonic() + 45
    try:
        while time.monotonic() < deadline:
            time.sleep(0.5)
            if ckpt.exists() and catalog_path.exists():
                _, _, step, extra = load_checkpoint(ckpt)
                with Catalog(catalog_path) as cat:
                    stored = cat.count()
                if step >= 10 and stored > 0 and extra.get("games", 0) > 0:
                    break
        assert proc.poll() is None, proc.communicate()[1]
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=10)
    _, _, before_step, _ = load_checkpoint(ckpt)
    with Catalog(catalog_path) as cat:
        before = {e.id for e in cat.list(method="agent")}
        runs = {json.loads(e.source)["run"] for e in cat.list(method="agent")}
    assert before and len(runs) == 1
    resumed = _cli_subprocess(["train", "--resume", "--run-dir", str(run_dir), "--time", "4s", "--json"],
                              catalog_path)
    out, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, err
    doc = json.loads(out)
    assert doc["step"] > before_step and doc["run_id"] in runs
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x.strip()]
    resume = [d for d in lines if d["kind"] == "resume"]
    assert resume and resume[-1]["step"] == before_step
    after_resume = lines[lines.index(resume[-1]) + 1:]
    assert all(d["step"] > before_step for d in after_resume if d["kind"] == "train")
    assert not [d for d in lines[: lines.index(resume[-1])] if d["kind"] == "train" and d["step"] > before_step]
    with Catalog(catalog_path) as cat:
        after = {e.id for e in cat.list(method="agent")}
        for e in cat.list(method="agent"):  # every stored scheme re-verifies, provenance complete
            prov = json.loads(e.source)
            assert {"run", "step", "seed", "target", "ring", "basis"} <= set(prov)
            assert e.scheme.verify().ok
            assert (e.target_name, e.rank) == ("complex", 3)  # only improvements on the naive rank 4
    assert before <= after


def test_a_run_still_in_warm_up_says_so(tmp_path, run, catalog_path):
    """A run stopped before its supervised warm-up ends: the progress lines, metrics,
    summary (JSON and text) and checkpoint say so, and discover notes it."""
    run_dir = tmp_path / "run"
    cfg = {**TINY, "learner": {**TINY["learner"], "warmup_steps": 1000},
           "run": {"max_steps": 6, "log_every_steps": 5}}
    result = run("train", _write(tmp_path / "warm.json", cfg), "--run-dir", run_dir)
    assert result.exit_code == 0, result.output
    assert "step 5 " in result.stderr and "supervised warm-up: step 5 of 1000, no self-play yet" in result.stderr
    assert result.stdout.startswith("step limit: still in supervised warm-up (step 6 of 1000): no games played yet;")
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [d["phase"] for d in lines if d["kind"] == "train"] == ["warm-up"]
    _, _, step, extra = load_checkpoint(checkpoint_path(run_dir))
    assert (step, extra["games"], extra["warmup_steps"]) == (6, 0, 1000)
    again = run("train", "--resume", "--run-dir", run_dir, "--json")  # at its step limit already
    assert again.exit_code == 0, again.output
    doc = json.loads(again.stdout)
    assert (doc["step"], doc["games"], doc["phase"], doc["warmup_steps"]) == (6, 0, "warm-up", 1000)
    summary = tg.train(None, run_dir=run_dir, resume=True, catalog=catalog_path)
    assert summary.phase == "warm-up" and summary.games == 0
    found = run("discover", 1, 1, 2, "--checkpoint", checkpoint_path(run_dir), "--simulations", 2,
                "--episodes", 1, "--json")
    assert found.exit_code == 0, found.output
    note = "latest.pt is still in supervised warm-up (step 6 of 1000): it has not played a self-play game yet"
    assert json.loads(found.stdout)["note"] == note and found.stderr.strip() == f"note: {note}"


def test_expert_iteration_imitates_flip_graph_schemes_and_labels_the_finds(tmp_path, run, catalog_path):
    """learner.expert_flip_s: a flip search per target and ring before training; its
    best scheme is stored (method flip) and banked; what the agent then stores, and the
    checkpoint, say the run was a hybrid."""
    run_dir = tmp_path / "run"
    cfg = {**EASY, "learner": {**EASY["learner"], "expert_flip_s": 1.0}, "run": {"max_steps": 40}}
    result = run("train", _write(tmp_path / "expert.json", cfg), "--run-dir", run_dir, "--json")
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    expert = {d["target"]: d["rank"] for d in lines if d["kind"] == "expert"}
    assert expert == {"complex": 3, "<1,1,2>": 2}
    _, _, _, extra = load_checkpoint(checkpoint_path(run_dir))
    assert extra["expert"] == "flip"
    with Catalog(catalog_path) as catalog:
        flips, agents = catalog.list(method="flip"), catalog.list(method="agent")
    assert any(e.rank == 3 and e.source.startswith("flip runners over Z2") for e in flips)
    assert all(json.loads(e.source)["expert"] == "flip" for e in agents)
    bank = np.load(run_dir / "replay.npz", allow_pickle=False)["extra/solution_meta"]
    assert {(int(t), int(r)) for t, _, r in bank} >= {(0, 3), (1, 2)}
    # what the run's actors find is labelled (the catalogue keeps one of equivalent schemes,
    # so this run's agent finds of Gauss's trick may all be the flip graph's own)
    worker = SelfPlayWorker(ActorSpec(config_from_dict(cfg).to_dict(), "test-run", None), 0)
    worker.set_weights(worker.model.state_dict(), 0)
    found = worker.play(8, seed=1).found
    assert found and all(json.loads(f.source)["expert"] == "flip" for f in found)


def test_corrupted_checkpoint_is_a_one_line_error(tmp_path, run):
    run_dir = tmp_path / "run"
    config = _write(tmp_path / "tiny.json", {**TINY, "run": {"max_steps": 3}})
    assert run("train", config, "--run-dir", run_dir, "-q").exit_code == 0
    ckpt = checkpoint_path(run_dir)
    data = bytearray(ckpt.read_bytes())
    ckpt.write_bytes(bytes(data[: len(data) // 2]))
    result = run("train", "--resume", "--run-dir", run_dir, "--time", "2s")
    assert_user_error(result)
    assert "latest.pt" in result.stderr
    assert_user_error(run("train", "--resume", "--run-dir", tmp_path / "nothing"))


@pytest.mark.slow
def test_actor_processes_play_and_store(tmp_path, run, catalog_path):
    """num_actors = 1: a spawned actor process receives published weights, plays, stores
    what it finds in the catalogue and sends positions back to the learner."""
    cfg = {**EASY, "actors": {"num_actors": 1, "games_per_batch": 4, "basis_pool_size": 64},
           "run": {"publish_every_steps": 5, "log_every_steps": 5}}
    # 20 s: the spawned actor imports torch first, which took most of 10 s on a busy machine
    result = run("train", _write(tmp_path / "procs.json", cfg), "--run-dir", tmp_path / "run",
                 "--time", "20s", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["games"] > 0 and doc["step"] > 0
    with Catalog(catalog_path) as cat:
        entries = cat.list(method="agent")
    assert entries and all(json.loads(e.source)["run"] == doc["run_id"] for e in entries)
    assert all(e.rank < 4 for e in entries)  # <1,1,2> at its naive rank is never stored


# --- Ray ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_ray_actors_on_a_local_instance(tmp_path, catalog_path):
    ray = pytest.importorskip("ray")
    from tensorgame.training.actors import RayActors

    cfg = config_from_dict(EASY)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        spec = ActorSpec(cfg.to_dict(), "ray-test", str(catalog_path))
        actors = RayActors(spec, 1, "auto")
        worker = SelfPlayWorker(spec, 0)
        actors.publish(worker.model.state_dict(), 7)
        outs = []
        deadline = time.monotonic() + 240  # generous: Ray's start-up is slow on a loaded machine
        while not outs and time.monotonic() < deadline:
            outs = actors.collect(wait=True)
        actors.close()
        assert outs and outs[0].version == 7 and outs[0].positions is not None
        assert all(not f.stored for f in outs[0].found)  # Ray workers hand schemes back
    finally:
        ray.shutdown()


def test_a_cyclic_run_plays_orbits_and_its_checkpoint_keeps_them(tmp_path, run, catalog_path):
    """game.cyclic: self-play and discover play <n,n,n> with cyclic moves (a move is
    worth 1 or 3 terms), in the canonical basis; the checkpoint carries the setting."""
    run_dir = tmp_path / "run"
    cfg = {**TINY, "game": {"targets": ["2,2,2", "1,1,2"], "rings": ["Z2"], "cyclic": True},
           "run": {"max_steps": 8}}
    result = run("train", _write(tmp_path / "cyclic.json", cfg), "--run-dir", run_dir, "--json")
    assert result.exit_code == 0, result.output
    _, _, _, extra = load_checkpoint(checkpoint_path(run_dir))
    assert extra["game"]["cyclic"] is True
    worker = SelfPlayWorker(ActorSpec(config_from_dict(cfg).to_dict(), "test-run", None), 0)
    assert set(worker.pools) == {(1, 2, 2)}  # no bases for the cyclic target
    worker.set_weights(worker.model.state_dict(), 0)
    out = worker.play(8, seed=2)
    assert len(out.log) == 8 and any(worker.sources[src][0] == 0 for src, _, _ in out.log)
    found = run("discover", 2, 2, 2, "--ring", "Z2", "--checkpoint", checkpoint_path(run_dir),
                "--simulations", 2, "--episodes", 2, "--json")
    assert found.exit_code == 0, found.output
    refused = run("discover", 2, 2, 2, "--ring", "Z2", "--checkpoint", checkpoint_path(run_dir),
                  "--episodes", 2, "--bases", 4)
    assert_user_error(refused)
    assert "cyclic moves" in refused.stderr
