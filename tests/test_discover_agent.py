"""``tensorgame discover --method agent``: a freshly initialised checkpoint plays,
stores only verified schemes that beat the target's naive rank (and are no worse than
the session's best) with their provenance, reports JSON, and notes that it has never
played; bad checkpoints and missing options are one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import tensorgame as tg
from tensorgame.catalog import Catalog
from tensorgame.formats import read_scheme
from tensorgame.game import GameConfig
from tensorgame.network import AlphaTensorNet, NetworkConfig, save_checkpoint
from tensorgame.training.agent import worth_storing
from tests.conftest import assert_user_error


@pytest.fixture
def fresh_checkpoint(tmp_path: Path) -> Path:
    config = NetworkConfig.for_game(GameConfig(max_side=4), d_model=16, heads=2, torso_layers=1,
                                    policy_layers=1)
    torch.manual_seed(0)  # the same untrained network in every run: its games are golden
    return save_checkpoint(tmp_path / "fresh.pt", AlphaTensorNet(config))


def test_fresh_agent_plays_and_reports_json(run, fresh_checkpoint, catalog_path):
    result = run("discover", 2, 2, 2, "--method", "agent", "--checkpoint", fresh_checkpoint,
                 "--simulations", 8, "--samples", 4, "--episodes", 6, "--batch", 3, "--ring", "Z2",
                 "--seed", 3, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["method"] == "agent" and doc["target"] == "<2,2,2>" and doc["ring"] == "Z2"
    assert doc["attempts"] == 6 and doc["simulations"] == 8 and doc["samples"] == 4
    # golden (seeded network and search): the untrained network solves none of the six
    # games; its unfinished games completed by the residual's slice decomposition reach 17
    assert (doc["best_rank"], doc["solved"], doc["rank_counts"]) == (None, 0, {})
    assert doc["best_completed_rank"] == 17 and doc["catalog_ids"] == []
    # the checkpoint records no training: the note says it has never played (not an error)
    assert doc["checkpoint_games"] is None and "has not played yet" in doc["note"]


def test_only_improvements_are_worth_storing():
    assert not worth_storing(8, 8, None)  # the naive rank: no search needed for that
    assert worth_storing(7, 8, None) and worth_storing(7, 8, 7)  # a first one; another of the best rank
    assert not worth_storing(7, 8, 6)  # worse than the best so far


def test_agent_stores_only_schemes_below_the_naive_rank(run, fresh_checkpoint, catalog_path, tmp_path):
    # <1,1,2>: its rank 2 is the naive rank, found at once and never stored
    out = tmp_path / "best.json"
    result = run("discover", 1, 1, 2, "--checkpoint", fresh_checkpoint, "--simulations", 16,
                 "--samples", 8, "--episodes", 8, "--ring", "Z2", "--bases", 5, "--out", out, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["best_rank"] == 2 and doc["best_count"] >= 1 and doc["catalog_ids"] == []
    best = read_scheme(out)  # the best scheme is still reported and written
    assert best.rank == 2 and best.verify().ok and best.target.key == tg.matmul_target(1, 1, 2).key
    with Catalog(catalog_path) as cat:
        assert cat.list(method="agent") == []
    # complex multiplication: naive rank 4, Gauss's trick 3. Golden (seeded network and
    # search): two distinct rank-3 schemes, both stored (the second ties the best so
    # far), and four naive rank-4 ones, not stored
    result = run("discover", "complex", "--checkpoint", fresh_checkpoint, "--simulations", 32,
                 "--samples", 16, "--episodes", 32, "--ring", "Z2", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["rank_counts"] == {"3": 2, "4": 4} and len(doc["catalog_ids"]) == 2
    with Catalog(catalog_path) as cat:
        entries = cat.list(method="agent")
    assert sorted(e.id for e in entries) == doc["catalog_ids"]
    assert all(e.rank == 3 and e.target_name == "complex" and e.scheme.verify().ok for e in entries)
    prov = json.loads(entries[0].source)
    assert {"checkpoint", "step", "seed", "episode", "basis"} <= set(prov)
    text = run("discover", 1, 1, 2, "--checkpoint", fresh_checkpoint, "--simulations", 16,
               "--samples", 8, "--episodes", 8)
    assert text.exit_code == 0 and "<1,1,2> over Z2" in text.stdout
    assert "nothing stored (only schemes below the naive rank 2 are stored)" in text.stdout
    assert text.stderr.strip() == "note: fresh.pt is an untrained network: it has not played yet"
    unstored = run("discover", 1, 1, 2, "--checkpoint", fresh_checkpoint, "--simulations", 16,
                   "--samples", 8, "--episodes", 8, "--no-store")
    assert unstored.exit_code == 0 and "best rank 2" in unstored.stdout and "catalogue" not in unstored.stdout


def test_bad_checkpoints_and_options(run, tmp_path, fresh_checkpoint):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"definitely not a checkpoint")
    assert_user_error(run("discover", 2, 2, 2, "--checkpoint", junk, "--episodes", 1))
    half = tmp_path / "half.pt"
    half.write_bytes(fresh_checkpoint.read_bytes()[:1000])
    assert_user_error(run("discover", 2, 2, 2, "--checkpoint", half, "--episodes", 1))
    assert_user_error(run("discover", 2, 2, 2, "--checkpoint", tmp_path / "missing.pt"))
    assert_user_error(run("discover", 3, 3, 3, "--checkpoint", fresh_checkpoint, "--episodes", 1))
    too_big = run("discover", 3, 3, 3, "--ring", "Z", "--episodes", 1)  # the bundled one for Z: sides up to 4
    assert_user_error(too_big)
    assert "plays sides up to 4" in too_big.stderr
    assert_user_error(run("discover", 2, 2, 2, "--checkpoint", "bundled:nope", "--episodes", 1))


# --- the bundled network ------------------------------------------------------------------
def test_discover_without_a_checkpoint_uses_the_bundled_network(run, catalog_path):
    """The package ships a trained network: a user gets Strassen's rank without training."""
    result = run("discover", 2, 2, 2, "--ring", "Z2", "--episodes", 4, "--batch", 4, "--seed", 1, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert Path(doc["checkpoint"]).name == "agent.pt" and doc["checkpoint_games"] > 0
    assert doc["best_rank"] == 7 and doc["note"] is None  # it has played: no warm-up note
    with Catalog(catalog_path) as cat:  # what it found is verified and stored
        assert [e.rank for e in cat.list(method="agent")] and all(e.rank == 7 for e in cat.list(method="agent"))


@pytest.mark.parametrize("name", ["2x2x2", "2x2xn-z2", "2x2xn-z"])
def test_each_bundled_network_is_weights_only_and_says_where_it_came_from(name):
    from tensorgame.network import load_checkpoint
    from tensorgame.training.agent import bundled_checkpoint

    path = bundled_checkpoint(name)
    model, optimizer, step, extra = load_checkpoint(path)
    assert optimizer is None and step > 0 and path.stat().st_size < 2**20
    record = extra["bundled"]
    assert record["games"] > 0 and record["trained_s"] > 0 and "game" in record["config"]


@pytest.mark.parametrize(("ring", "games", "seed", "bundle"), [
    ("Z2", 8, 1, "agent_2x2xn_z2.pt"),  # the region network
    ("Z", 16, 4, "agent_2x2xn_z.pt"),  # the Z ladder's (before it, none could play <2,2,3> over Z)
])
def test_discover_picks_the_bundled_network_trained_on_the_target(run, catalog_path, ring, games, seed, bundle):
    """<2,2,3>: a user gets AlphaTensor's 11 in either ring without training."""
    result = run("discover", 2, 2, 3, "--ring", ring, "--episodes", games, "--batch", games, "--seed", seed,
                 "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert Path(doc["checkpoint"]).name == bundle
    assert doc["best_rank"] == 11  # golden: seeded search with the shipped weights
    with Catalog(catalog_path) as cat:
        entries = cat.list(method="agent")
        assert {e.rank for e in entries} == {11} and {e.ring for e in entries} == {ring}


def test_bundled_networks_by_target_and_ring_and_by_name():
    from tensorgame.errors import TensorGameError
    from tensorgame.tensors.targets import matmul_target
    from tensorgame.training.agent import checkpoint_path

    def chosen(*args):
        return checkpoint_path(*args).name

    assert chosen("bundled", matmul_target(2, 2, 4), "Z2") == "agent_2x2xn_z2.pt"
    # <2,2,2>: both reached 7 over Z2, the first is kept; over Z only the first played it
    assert chosen("bundled", matmul_target(2, 2, 2), "Z2") == "agent.pt"
    assert chosen("bundled", matmul_target(2, 2, 4), "Z") == "agent_2x2xn_z.pt"  # the Z ladder's
    assert chosen("bundled", matmul_target(2, 2, 2), "Z") == "agent.pt"  # 7 over Z for both: the first
    assert chosen("bundled", matmul_target(2, 3, 4), "Z") == "agent.pt"  # nobody played it: the first
    assert chosen("bundled", matmul_target(3, 3, 3), "Z2") == "agent_2x2xn_z2.pt"  # its second stage did
    assert chosen("bundled") == "agent.pt" and chosen("bundled:2x2xn-z2") == "agent_2x2xn_z2.pt"
    assert chosen("runs/x.pt", matmul_target(2, 2, 4), "Z2") == "x.pt"
    with pytest.raises(TensorGameError, match="the package ships bundled:2x2x2, bundled:2x2xn-z2, bundled:2x2xn-z"):
        checkpoint_path("bundled:3x3x3")


def test_train_init_bundled_needs_the_same_network_shape(run, tmp_path):
    config = tmp_path / "small.json"
    config.write_text(json.dumps({"game": {"targets": ["2,2,2"], "rings": ["Z2"]},
                                  "network": {"d_model": 16, "heads": 2}}))
    result = run("train", config, "--run-dir", tmp_path / "r", "--time", "5s", "--init", "bundled")
    assert_user_error(result)
    assert "--init bundled: that network differs from the config's: " in result.stderr
    assert "d_model 48 (config: 16)" in result.stderr
    result = run("train", config, "--run-dir", tmp_path / "r2", "--resume", "--init", "bundled")
    assert result.exit_code == 2 and "a resumed run continues its own" in result.stderr


def test_train_init_bundled_fine_tunes_from_its_weights(run, tmp_path):
    import torch

    from tensorgame.network import load_checkpoint
    from tensorgame.training.agent import bundled_checkpoint

    bundled, _, _, extra = load_checkpoint(bundled_checkpoint())
    cfg = extra["bundled"]["config"]
    cfg["learner"] = {**cfg["learner"], "warmup_steps": 2, "lr": 1e-12}  # two steps, weights barely move
    cfg["run"] = {**cfg["run"], "max_steps": 2}
    path = tmp_path / "tune.json"
    path.write_text(json.dumps(cfg))
    result = run("train", path, "--run-dir", tmp_path / "r", "--init", "bundled", "--json")
    assert result.exit_code == 0, result.output
    tuned, _, step, _ = load_checkpoint(json.loads(result.stdout)["checkpoint"])
    assert step == 2
    for name, weight in bundled.state_dict().items():
        assert torch.allclose(weight, tuned.state_dict()[name], atol=1e-6), name
    records = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert any(r["kind"] == "init" and r["from"].endswith("agent.pt") for r in records)


def test_train_init_widens_a_region_network_to_the_larger_targets(run, tmp_path):
    """A curriculum's next stage: a side-4 region network (<2,2,2>) starts a run on
    <2,2,2> and <2,2,3> (side 6) with its weights kept on the first 4 sides."""
    import torch

    from tensorgame.network import load_checkpoint

    net = {"d_model": 16, "heads": 2, "torso_layers": 1, "policy_layers": 1, "board": "region"}
    small = {"game": {"targets": ["2,2,2"], "rings": ["Z2"], "history": 1}, "network": net,
             "learner": {"warmup_steps": 2, "batch_size": 8}, "run": {"max_steps": 2}}
    path = tmp_path / "small.json"
    path.write_text(json.dumps(small))
    result = run("train", path, "--run-dir", tmp_path / "a", "--json")
    assert result.exit_code == 0, result.output
    first = json.loads(result.stdout)["checkpoint"]
    large = {**small, "game": {**small["game"], "targets": ["2,2,2", "2,2,3"]},
             "learner": {**small["learner"], "lr": 1e-12}}  # two steps, weights barely move
    path.write_text(json.dumps(large))
    result = run("train", path, "--run-dir", tmp_path / "b", "--init", first)
    assert result.exit_code == 0, result.output
    assert "from side 4 to 6" in result.stderr
    assert "note: 2 supervised warm-up steps come first" in result.stderr
    before, _, _, _ = load_checkpoint(first)
    after, _, _, _ = load_checkpoint(tmp_path / "b" / "checkpoints" / "latest.pt")
    assert (before.config.max_side, after.config.max_side) == (4, 6)
    assert torch.allclose(after.state_dict()["torso.position"][:, :4, :4],
                          before.state_dict()["torso.position"], atol=1e-6)
    assert torch.allclose(after.state_dict()["value.0.weight"], before.state_dict()["value.0.weight"],
                          atol=1e-6)


def test_train_init_signs_a_mod_2_network_for_a_z_run(run, tmp_path):
    """The Z ladder's first stage: a {0, 1} network of a Z2 run starts a Z run with the
    ternary alphabet, each token's rows copied from its reduction mod 2."""
    import torch

    from tensorgame.network import load_checkpoint

    net = {"d_model": 16, "heads": 2, "torso_layers": 1, "policy_layers": 1, "chunk": 2}
    z2 = {"game": {"targets": ["2,2,2"], "rings": ["Z2"], "history": 1, "coefficients": [0, 1]},
          "network": net, "learner": {"warmup_steps": 2, "batch_size": 8}, "run": {"max_steps": 2}}
    path = tmp_path / "z2.json"
    path.write_text(json.dumps(z2))
    result = run("train", path, "--run-dir", tmp_path / "a", "--json")
    assert result.exit_code == 0, result.output
    first = json.loads(result.stdout)["checkpoint"]
    z = {**z2, "game": {**z2["game"], "rings": ["Z"], "coefficients": [-1, 0, 1]},
         "learner": {**z2["learner"], "lr": 1e-12}}  # two steps, weights barely move
    path.write_text(json.dumps(z))
    result = run("train", path, "--run-dir", tmp_path / "b", "--init", first)
    assert result.exit_code == 0, result.output
    assert "signed the network" in result.stderr and "coefficients [-1, 0, 1]" in result.stderr
    before, _, _, _ = load_checkpoint(first)
    after, _, _, _ = load_checkpoint(tmp_path / "b" / "checkpoints" / "latest.pt")
    assert after.config.coefficients == (-1, 0, 1)
    old, new = before.state_dict()["policy.out.weight"], after.state_dict()["policy.out.weight"]
    # tokens of (-1, 1) and (1, 1) (digits 0 2 and 2 2 of 3) both start as the old token of (1, 1)
    assert torch.allclose(new[0 * 3 + 2], old[1 * 2 + 1], atol=1e-6)
    assert torch.allclose(new[2 * 3 + 2], old[1 * 2 + 1], atol=1e-6)


def test_discover_says_when_it_plays_the_bundled_network(run):
    result = run("discover", 2, 2, 2, "--ring", "Z2", "--episodes", 2, "--batch", 2, "--no-store")
    assert result.exit_code == 0, result.output
    assert "network: the one bundled with the package" in result.stdout and "agent.pt" in result.stdout


@pytest.fixture
def quick_checkpoint(tmp_path: Path) -> Path:
    """An untrained network whose recorded search settings are cheap (8 simulations)."""
    config = NetworkConfig.for_game(GameConfig(max_side=4), d_model=16, heads=2, torso_layers=1,
                                    policy_layers=1)
    torch.manual_seed(0)
    return save_checkpoint(tmp_path / "fresh.pt", AlphaTensorNet(config),
                           extra={"mcts": {"num_simulations": 8, "num_samples": 4}})


def test_flip_starts_from_the_agents_games_and_labels_its_schemes(run, quick_checkpoint, catalog_path):
    # the hybrid (agent, then flip graph): the untrained network's best game, completed
    # mod 2, is the start; every scheme the walk stores names that start
    result = run("flip", 2, 2, 2, "--start", f"agent:{quick_checkpoint}", "--ring", "Z2", "--time", 30,
                 "--goal", 7, "--workers", 1, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["best"]["rank"] == 7
    with Catalog(catalog_path) as catalog:
        entries = catalog.list(target_key=tg.matmul_target(2, 2, 2).key)
    assert entries and all(e.method == "flip" for e in entries)
    assert all("from agent start: fresh.pt step 0, best of 32 games over Z2" in e.source for e in entries)


def test_flip_agent_start_needs_a_game_to_start_from(run, quick_checkpoint, catalog_path):
    # over Z (ternary walk) unsolved games are not completed: no start, one line, exit 2
    result = run("flip", 2, 2, 2, "--start", f"agent:{quick_checkpoint}", "--ring", "ZT", "--time", 5,
                 "--workers", 1)
    assert_user_error(result)
    assert "solved none of 32 games" in result.stderr
