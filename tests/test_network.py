"""The AlphaTensor network: config, tokenisation, shapes, legal sampling, losses that
learn, exact log-probabilities, checkpoints, the search evaluator, devices."""

import json
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import tensorgame as tg
from tensorgame.errors import TensorGameError
from tensorgame.game import (
    GameConfig,
    Observation,
    SyntheticConfig,
    SyntheticGenerator,
    TensorGame,
)
from tensorgame.network import (
    AlphaTensorNet,
    CheckpointError,
    NetworkConfig,
    NetworkError,
    NetworkEvaluator,
    detokenize,
    load_checkpoint,
    policy_loss,
    quantile_loss,
    save_checkpoint,
    signed,
    tokenize,
    widened,
)
from tensorgame.search.mcts import MCTSConfig, run_search
from tensorgame.search.mcts.types import Evaluation

SMALL = dict(d_model=32, heads=2, torso_layers=1, policy_layers=1, quantiles=8)

# Two game set-ups: S = 4 with tokens aligned on factors, and S = 9 with the default
# chunk of 4 (27 coefficients, 7 tokens straddling factor boundaries) and Z3 games.
SETUPS = {
    "side4": (GameConfig(max_side=4, history=2),
              [(tg.matmul_target(2, 2, 2), "Z"), (tg.matmul_target(2, 2, 2), "Z2"),
               (tg.matmul_target(1, 2, 2), "Z"), (tg.matmul_target(2, 1, 2), "Z2")]),
    "side9": (GameConfig(max_side=9, history=3),
              [(tg.matmul_target(3, 3, 3), "Z"), (tg.matmul_target(2, 2, 3), "Z2"),
               (tg.matmul_target(1, 3, 3), "Z3"), (tg.matmul_target(3, 1, 2), "Z"),
               (tg.matmul_target(3, 3, 1), "Z2")]),  # sides (9, 3, 3): u and v close in one token
}
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread: the tests share few cores and tiny ops gain nothing from more."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _randomise_heads(model: AlphaTensorNet) -> AlphaTensorNet:
    """Random output layers (a fresh network's are zero, which would make its policy
    uniform and hide the decoder from the tests)."""
    with torch.no_grad():
        for layer in (model.policy.out, model.value[-1]):
            layer.weight.normal_(0.0, 0.3)
            layer.bias.normal_(0.0, 0.3)
    return model


def _setup(name: str, **overrides):
    game_config, games = SETUPS[name]
    game = TensorGame(game_config)
    state = game.reset([t for t, _ in games], [r for _, r in games])
    torch.manual_seed(0)
    model = AlphaTensorNet(NetworkConfig.for_game(game_config, **{**SMALL, **overrides}))
    return game, state, _randomise_heads(model)


def _play_some(game: TensorGame, state, model: AlphaTensorNet, moves: int = 2):
    """Advance every game by sampled moves, so history and step are non-trivial."""
    for _ in range(moves):
        inp = model.prepare(state.observation(), state.dims)
        with torch.no_grad():
            mv, _ = model.sample(inp, 1)
        game.step(state, mv[:, 0].numpy())
    return state


def _demos(n: int = 32, seed: int = 3):
    cfg = SyntheticConfig(targets=((2, 2, 2), (1, 2, 2), (2, 2, 1)), max_side=4)
    batch = SyntheticGenerator(cfg, seed=seed).batch(0, n)
    obs = Observation(batch.tensors, np.zeros((n, 2, 3, 4), np.int8), np.zeros(n, np.int64),
                      batch.ranks.copy(), batch.modulus)
    return batch, obs


# --- config --------------------------------------------------------------------------------
def test_config_for_game_and_json_round_trip():
    cfg = NetworkConfig.for_game(GameConfig(max_side=9, history=3), chunk=3, d_model=48, heads=4)
    assert (cfg.max_side, cfg.history, cfg.coefficients) == (9, 3, (-2, -1, 0, 1, 2))
    assert cfg.vocabulary == 125 and cfg.move_length == 9
    back = NetworkConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg
    assert NetworkConfig().risk_quantile_count == 2  # top 25% of 8 quantiles


@pytest.mark.parametrize("bad", [
    dict(d_model=30, heads=4), dict(chunk=0), dict(risk_quantile_fraction=0.0),
    dict(risk_quantile_fraction=1.5), dict(coefficients=(1, 2)), dict(max_side=65),
    dict(dropout=1.0), dict(quantiles=True), dict(chunk=8), dict(value_scale=-1.0),
])
def test_config_rejects_bad_values(bad):
    with pytest.raises(NetworkError) as info:
        NetworkConfig(**bad)
    assert isinstance(info.value, TensorGameError) and "\n" not in str(info.value)


def test_config_rejects_unknown_keys_and_game_mismatch():
    with pytest.raises(NetworkError, match="unknown"):
        NetworkConfig.from_dict({"max_side": 4, "layers": 3})
    with pytest.raises(NetworkError, match="match the game"):
        NetworkConfig.for_game(GameConfig(max_side=4), max_side=5)


# --- tokenisation --------------------------------------------------------------------------
def test_tokenize_known_move_and_layout():
    cfg = NetworkConfig(max_side=4, chunk=4)
    move = np.array([[1, 0, 0, 1], [0, 0, 0, -2], [2, 2, 2, 2]], dtype=np.int8)
    tokens = tokenize(move, cfg)
    # digits are indices into (-2,-1,0,1,2), base 5, first coefficient most significant
    assert tokens.tolist() == [3 * 125 + 2 * 25 + 2 * 5 + 3, 2 * 125 + 2 * 25 + 2 * 5 + 0, 624]
    assert np.array_equal(detokenize(tokens, cfg), move)


@pytest.mark.parametrize("side,chunk,coefs", [(4, 4, (-2, -1, 0, 1, 2)), (9, 4, (-2, -1, 0, 1, 2)),
                                               (5, 3, (-1, 0, 1)), (16, 1, (0, 1, 3))])
def test_tokenize_round_trip_random_moves(side, chunk, coefs):
    cfg = NetworkConfig(max_side=side, chunk=chunk, coefficients=coefs)
    rng = np.random.default_rng(side)
    moves = np.asarray(coefs, dtype=np.int8)[rng.integers(len(coefs), size=(50, 7, 3, side))]
    tokens = tokenize(moves, cfg)
    assert tokens.shape == (50, 7, -(-3 * side // chunk)) and tokens.dtype == np.int64
    assert tokens.min() >= 0 and tokens.max() < cfg.vocabulary
    assert np.array_equal(detokenize(tokens, cfg), moves)
    as_torch = tokenize(torch.from_numpy(moves), cfg)
    assert torch.equal(as_torch, torch.from_numpy(tokens))
    assert torch.equal(detokenize(as_torch, cfg), torch.from_numpy(moves))
    all_tokens = torch.arange(cfg.vocabulary).reshape(-1, 1).expand(-1, cfg.move_length)
    assert torch.equal(tokenize(detokenize(all_tokens, cfg), cfg)[:, 0], all_tokens[:, 0])


def test_tokenize_rejects_values_outside_the_alphabet():
    cfg = NetworkConfig(max_side=4)
    with pytest.raises(NetworkError, match=r"\[3\]"):
        tokenize(np.full((3, 4), 3, dtype=np.int8), cfg)
    with pytest.raises(NetworkError):
        detokenize(np.array([0, 0, 625]), cfg)


# --- the region board ------------------------------------------------------------------------
def test_config_rejects_an_unknown_board():
    with pytest.raises(NetworkError, match="board"):
        NetworkConfig(board="cropped")
    assert NetworkConfig.from_dict({"max_side": 4}).board == "padded"  # checkpoints before it


def test_region_tokens_spell_only_the_real_coefficients():
    cfg = NetworkConfig(max_side=8, chunk=4, board="region")
    rng = np.random.default_rng(0)
    move = rng.integers(-2, 3, size=(3, 4)).astype(np.int8)
    padded = np.zeros((3, 8), np.int8)
    padded[:, :4] = move
    tokens = tokenize(padded, cfg, dims=np.array([4, 4, 4]))
    # the <2,2,2> move is spelled as on a board of side 4, then all-zero tokens
    assert tokens.tolist()[:3] == tokenize(move, NetworkConfig(max_side=4, chunk=4)).tolist()
    assert set(tokens.tolist()[3:]) == {int(tokenize(np.zeros((3, 8), np.int8), cfg, dims=[8, 8, 8])[0])}
    assert np.array_equal(detokenize(tokens, cfg, dims=np.array([4, 4, 4])), padded)
    dims = np.array([[4, 4, 4], [4, 6, 6], [8, 8, 8], [1, 8, 3]])
    moves = rng.integers(-2, 3, size=(4, 5, 3, 8)).astype(np.int8)
    moves *= np.arange(8)[None, None, None, :] < dims[:, None, :, None]
    assert np.array_equal(detokenize(tokenize(moves, cfg, dims), cfg, dims), moves)
    with pytest.raises(NetworkError, match="sides"):
        tokenize(padded, cfg)


def _cut_down(model: AlphaTensorNet, side: int) -> AlphaTensorNet:
    """The same weights on a board of ``side``: the input maps read the first ``side``
    entries of each line, the position tables are cut to the smaller board."""
    small = AlphaTensorNet(NetworkConfig.from_dict({**model.config.to_dict(), "max_side": side}))
    state = model.state_dict()
    width = side * (model.config.history + 2)
    for g in range(3):
        state[f"torso.project.{g}.weight"] = state[f"torso.project.{g}.weight"][:, :width]
    state["torso.position"] = state["torso.position"][:, :side, :side]
    state["policy.position"] = state["policy.position"][: small.config.move_length]
    small.load_state_dict(state)
    return small


def test_region_board_plays_a_small_format_as_on_its_own_board():
    """A <2,2,2> game (and a <1,2,2> one) in a side-8 network on the region board, batched
    beside a <2,2,4> game, gets the value and move probabilities that the same weights
    give on a side-4 board: a skill learnt on <2,2,2> is not diluted by larger targets."""
    game = TensorGame(GameConfig(max_side=8, history=2))
    targets = [tg.matmul_target(2, 2, 2), tg.matmul_target(2, 2, 4), tg.matmul_target(1, 2, 2)]
    state = game.reset(targets, ["Z2", "Z2", "Z"])
    torch.manual_seed(0)
    big = _randomise_heads(AlphaTensorNet(NetworkConfig.for_game(game.config, board="region", **SMALL)))
    state = _play_some(game, state, big, moves=2)
    small = _cut_down(big, 4)
    rows = [0, 2]
    obs = state.observation()
    cut = Observation(obs.residual[rows][:, :4, :4, :4], obs.history[rows][..., :4], obs.step[rows],
                      obs.remaining[rows], obs.modulus[rows])
    with torch.no_grad():
        inp = big.prepare(obs, state.dims)
        embedding, quantiles = big(inp)
        moves, log_probs = big.sample(inp, 6, generator=torch.Generator().manual_seed(1))
        inp4 = small.prepare(cut, state.dims[rows])
        embedding4, quantiles4 = small(inp4)
        logp4 = small.log_prob(inp4, embedding4, moves[rows][..., :4])
    assert torch.allclose(quantiles[rows], quantiles4, atol=1e-5)
    assert torch.allclose(log_probs[rows], logp4, atol=1e-4)
    assert torch.allclose(big.log_prob(inp, embedding, moves), log_probs, atol=1e-4)
    assert not moves[rows][..., 4:].any()  # nothing past the small games' sides
    padded = AlphaTensorNet(NetworkConfig.for_game(game.config, **SMALL))
    padded.load_state_dict(big.state_dict())
    with torch.no_grad():
        assert not torch.allclose(padded(inp)[1][rows], quantiles4, atol=1e-3)


def test_a_widened_region_network_plays_its_old_games_unchanged():
    """Widening a side-4 region network to side 8 (a curriculum moving on to larger
    formats) keeps every <2,2,2> game's value and move probabilities; the padded board,
    where the new padding would change every game, is refused."""
    game = TensorGame(GameConfig(max_side=4, history=2))
    state = game.reset([tg.matmul_target(2, 2, 2), tg.matmul_target(1, 2, 2)], ["Z2", "Z"])
    torch.manual_seed(0)
    small = _randomise_heads(AlphaTensorNet(NetworkConfig.for_game(game.config, board="region", **SMALL)))
    state = _play_some(game, state, small, moves=2)
    big = widened(small, 8)
    assert big.config.max_side == 8 and big.config.board == "region"
    obs = state.observation()
    wide = Observation(np.pad(obs.residual, ((0, 0), (0, 4), (0, 4), (0, 4))),
                       np.pad(obs.history, ((0, 0), (0, 0), (0, 0), (0, 4))), obs.step, obs.remaining,
                       obs.modulus)
    with torch.no_grad():
        inp4 = small.prepare(obs, state.dims)
        _, quantiles4 = small(inp4)
        moves, log_probs = small.sample(inp4, 6, generator=torch.Generator().manual_seed(1))
        inp8 = big.prepare(wide, state.dims)
        embedding8, quantiles8 = big(inp8)
        logp8 = big.log_prob(inp8, embedding8, F.pad(moves, (0, 4)))
    assert torch.allclose(quantiles8, quantiles4, atol=1e-5)
    assert torch.allclose(logp8, log_probs, atol=1e-4)
    with pytest.raises(NetworkError, match="only a region-board network"):
        widened(AlphaTensorNet(NetworkConfig.for_game(game.config, **SMALL)), 8)
    with pytest.raises(NetworkError, match="cannot widen a side-4 network to side 3"):
        widened(small, 3)


def test_a_signed_mod_2_network_plays_each_signed_move_as_its_reduction():
    """Spelling a {0, 1} network over {-1, 0, 1} (a Z curriculum starting from a Z2
    network): in a Z game every signed spelling of a move is as likely as the move was
    in the Z2 game, shared evenly over the 2^(non-zeros) sign patterns; the Z2 game keeps
    its value. Other alphabets are refused."""
    game = TensorGame(GameConfig(max_side=4, history=2, coefficients=(0, 1)))
    torch.manual_seed(0)
    mod2 = _randomise_heads(AlphaTensorNet(NetworkConfig.for_game(game.config, board="region", **SMALL)))
    z = signed(mod2, (-1, 0, 1))
    assert z.config.coefficients == (-1, 0, 1) and z.config.max_side == 4
    target = tg.matmul_target(2, 2, 2)
    old_state = game.reset([target], ["Z2"])
    new_state = TensorGame(GameConfig(max_side=4, history=2, coefficients=(-1, 0, 1))).reset([target], ["Z"])
    with torch.no_grad():
        inp2 = mod2.prepare(old_state.observation(), old_state.dims)
        quantiles2 = mod2(inp2)[1]
        moves, logp2 = mod2.sample(inp2, 8, generator=torch.Generator().manual_seed(3))
        signs = torch.where(torch.rand(moves.shape, generator=torch.Generator().manual_seed(4)) < 0.5, -1, 1)
        signed_moves = (moves * signs).to(moves.dtype)
        inpz = z.prepare(new_state.observation(), new_state.dims)
        embeddingz, quantilesz = z(inpz)
        logpz = z.log_prob(inpz, embeddingz, signed_moves)
        _, quantiles_z2 = z(z.prepare(old_state.observation(), old_state.dims))
    nonzeros = (moves != 0).sum(dim=(-1, -2)).to(torch.float32)
    assert torch.allclose(logpz, logp2 - nonzeros * np.log(2.0), atol=1e-4)
    assert torch.allclose(quantilesz, quantiles2, atol=1e-5)  # Z plays from Z2's ring row
    assert torch.allclose(quantiles_z2, quantiles2, atol=1e-5)
    with pytest.raises(NetworkError, match=r"only a network of the alphabet \(0, 1\)"):
        signed(z, (-2, -1, 0, 1, 2))


def test_region_board_computes_each_batch_on_its_largest_side():
    """A batch of small games is computed on a cut-down board, and the evaluator groups a
    mixed batch by side: each game gets what it gets alone."""
    game = TensorGame(GameConfig(max_side=8, history=2))
    targets = [tg.matmul_target(2, 2, 2), tg.matmul_target(2, 2, 4), tg.matmul_target(1, 2, 2),
               tg.matmul_target(2, 2, 3)]
    state = game.reset(targets, ["Z2", "Z", "Z", "Z2"])
    torch.manual_seed(0)
    model = _randomise_heads(AlphaTensorNet(NetworkConfig.for_game(game.config, board="region", **SMALL)))
    state = _play_some(game, state, model, moves=1)
    obs = state.observation()

    def rows(idx: list[int]) -> Observation:
        return Observation(obs.residual[idx], obs.history[idx], obs.step[idx], obs.remaining[idx],
                           obs.modulus[idx])

    small = model.prepare(rows([0, 2]), state.dims[[0, 2]])
    assert small.side == 4 and model.embed(small).shape == (2, 3 * 4 * 4, SMALL["d_model"])
    out = NetworkEvaluator(model, seed=0)(obs, 5, state.dims)
    assert out.moves.shape == (4, 5, 3, 8)
    for i in range(4):
        inp = model.prepare(rows([i]), state.dims[[i]])
        with torch.no_grad():
            embedding, quantiles = model(inp)
            logp = model.log_prob(inp, embedding, torch.from_numpy(out.moves[[i]]))
        assert np.allclose(out.values[i], model.risk_seeking_value(quantiles).numpy(), atol=1e-5)
        assert np.allclose(out.log_probs[i], logp.numpy(), atol=1e-4)
        assert not (out.moves[i] * (np.arange(8) >= state.dims[i][:, None])).any()
    assert model.log_prob(small, model.embed(small), torch.ones(2, 3, 8)).isneginf().all()


# --- shapes ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(SETUPS))
def test_output_shapes(name):
    game, state, model = _setup(name)
    cfg = model.config
    s, b, k, d = cfg.max_side, state.batch_size, 5, cfg.d_model
    length, vocab = cfg.move_length, cfg.vocabulary
    inp = model.prepare(state.observation(), state.dims)
    embedding, quantiles = model(inp)
    assert embedding.shape == (b, 3 * s * s, d) and quantiles.shape == (b, cfg.quantiles)
    assert model.risk_seeking_value(quantiles).shape == (b,)
    tokens = torch.zeros(b, length, dtype=torch.long)
    assert model.policy_logits(embedding, tokens).shape == (b, length, vocab)
    assert model.policy_logits(embedding, tokens[:, None].expand(-1, k, -1)).shape == (b, k, length, vocab)
    moves, log_probs = model.sample(inp, k)
    assert moves.shape == (b, k, 3, s) and moves.dtype == torch.int8
    assert log_probs.shape == (b, k) and log_probs.dtype == torch.float32
    assert model.log_prob(inp, embedding, moves).shape == (b, k)
    assert model.log_prob(inp, embedding, moves[:, 0]).shape == (b,)
    assert 2e5 < AlphaTensorNet(NetworkConfig.for_game(game.config)).num_parameters() < 1e6


def test_fresh_network_is_uniform_over_legal_tokens_with_zero_value():
    game_config, games = SETUPS["side4"]
    state = TensorGame(game_config).reset([t for t, _ in games], [r for _, r in games])
    model = AlphaTensorNet(NetworkConfig.for_game(game_config, **SMALL))
    inp = model.prepare(state.observation(), state.dims)
    with torch.no_grad():
        embedding, quantiles = model(inp)
        moves, log_probs = model.sample(inp, 4, embedding=embedding)
    assert not quantiles.any()
    # <2,2,2>, token per factor: 5**4 - 1 non-zero tokens over Z, 2**4 - 1 over Z2;
    # <1,2,2> has sides (2, 4, 2): 5**2 - 1 choices for u and w
    sizes = {(4, 0): 3 * np.log(624), (4, 2): 3 * np.log(15), (2, 0): 2 * np.log(24) + np.log(624)}
    for g in range(state.batch_size):
        key = (int(state.dims[g, 0]), int(state.modulus[g]))
        if key in sizes:
            torch.testing.assert_close(log_probs[g], torch.full((4,), -sizes[key]))


def test_risk_seeking_value_is_mean_of_top_quantiles():
    model = AlphaTensorNet(NetworkConfig(max_side=4, quantiles=8, risk_quantile_fraction=0.25, **{
        k: v for k, v in SMALL.items() if k != "quantiles"}))
    q = torch.tensor([[-9.0, -1.0, -7.0, -3.0, -2.0, -8.0, -4.0, -6.0]])
    assert model.risk_seeking_value(q).tolist() == [-1.5]


def test_prepare_rejects_observations_that_do_not_fit():
    _, state, model = _setup("side4")
    with pytest.raises(NetworkError, match="dims"):
        model.prepare(state.observation(), state.dims[:, :2])
    _, other, _ = _setup("side9")
    with pytest.raises(NetworkError, match="residual"):
        model.prepare(other.observation(), other.dims)


# --- sampling --------------------------------------------------------------------------------
def _assert_legal(game, state, moves: np.ndarray) -> None:
    b, k = moves.shape[:2]
    many = state.take(np.repeat(np.arange(b), k))
    flat = moves.reshape(b * k, 3, -1)
    ok = game.legal(many, flat)
    assert ok.all(), game.explain_illegal(many, flat, int(np.flatnonzero(~ok)[0]))


@pytest.mark.parametrize("name", sorted(SETUPS))
def test_sampled_moves_are_legal(name):
    game, state, model = _setup(name)
    state = _play_some(game, state, model)
    assert state.history.any() and not state.done.any()
    inp = model.prepare(state.observation(), state.dims)
    with torch.no_grad():
        moves, log_probs = model.sample(inp, 64, temperature=2.0)
    _assert_legal(game, state, moves.numpy())
    assert torch.isfinite(log_probs).all() and (log_probs <= 0).all()
    z2 = state.modulus == 2
    assert set(np.unique(moves.numpy()[z2]).tolist()) <= {0, 1}
    # A policy that wants every token to be all zeros is still forced to legal moves,
    # through the no-zero-factor mask alone.
    zero_token = int(tokenize(np.zeros((3, model.config.max_side), np.int8), model.config)[0])
    with torch.no_grad():
        model.policy.out.bias[zero_token] = 50.0
        moves, _ = model.sample(inp, 32)
    _assert_legal(game, state, moves.numpy())
    real = np.arange(model.config.max_side)[None, None, :] < state.dims[:, :, None]
    nonzeros = (moves.numpy() != 0).sum(axis=3)
    assert (nonzeros >= 1).all() and (nonzeros <= real.sum(axis=2)[:, None, :]).all()


def test_masked_policy_is_a_distribution_over_exactly_the_legal_moves():
    """Enumerate every move of a tiny game: illegal moves get probability 0 and the
    legal ones sum to 1, for each ring and shape (chunk 4 straddles the factors)."""
    game_config = GameConfig(max_side=2, history=1, coefficients=(-1, 0, 1))
    game = TensorGame(game_config)
    targets = [tg.matmul_target(1, 1, 2), tg.matmul_target(1, 1, 1), tg.matmul_target(2, 1, 1)]
    state = game.reset(targets * 2, ["Z"] * 3 + ["Z2"] * 3)
    torch.manual_seed(1)
    model = _randomise_heads(AlphaTensorNet(NetworkConfig.for_game(game_config, chunk=4, **SMALL)))
    everything = np.array(np.meshgrid(*[[-1, 0, 1]] * 6, indexing="ij")).reshape(6, -1).T
    moves = torch.from_numpy(everything.reshape(1, -1, 3, 2).astype(np.int8)).expand(6, -1, -1, -1)
    inp = model.prepare(state.observation(), state.dims)
    with torch.no_grad():
        logp = model.log_prob(inp, model.embed(inp), moves, temperature=0.8)
    many = state.take(np.repeat(np.arange(6), moves.shape[1]))
    legal = game.legal(many, moves.reshape(-1, 3, 2).numpy()).reshape(6, -1)
    assert np.array_equal(torch.isfinite(logp).numpy(), legal)
    torch.testing.assert_close(torch.logsumexp(logp, dim=1), torch.zeros(6), atol=1e-5, rtol=0)


@pytest.mark.parametrize("temperature", [1.0, 0.6])
@pytest.mark.parametrize("name", sorted(SETUPS))
def test_sampled_log_probs_equal_teacher_forced(name, temperature):
    game, state, model = _setup(name)
    state = _play_some(game, state, model, 1)
    inp = model.prepare(state.observation(), state.dims)
    with torch.no_grad():
        embedding = model.embed(inp)
        moves, log_probs = model.sample(inp, 8, temperature, embedding=embedding)
        again = model.log_prob(inp, embedding, moves, temperature)
    torch.testing.assert_close(again, log_probs, atol=1e-4, rtol=1e-5)


def test_sampling_is_reproducible_with_a_generator():
    _, state, model = _setup("side4")
    inp = model.prepare(state.observation(), state.dims)
    with torch.no_grad():
        a = model.sample(inp, 6, generator=torch.Generator().manual_seed(5))
        b = model.sample(inp, 6, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


# --- losses ----------------------------------------------------------------------------------
def test_quantile_loss_fits_a_constant_return():
    _, state, model = _setup("side4")
    inp = model.prepare(state.observation(), state.dims)
    target = torch.full((state.batch_size,), -5.0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        _, quantiles = model(inp)
        loss = quantile_loss(quantiles, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]
    with torch.no_grad():
        value = model.risk_seeking_value(model(inp)[1])
    assert torch.allclose(value, target, atol=1.0)


def test_quantile_loss_recovers_quantiles_of_a_distribution():
    torch.manual_seed(0)
    returns = -torch.arange(1.0, 21.0)  # uniform over -20..-1
    pred = torch.zeros(1, 4, requires_grad=True)
    opt = torch.optim.Adam([pred], lr=0.1)
    for _ in range(800):
        loss = quantile_loss(pred, returns[None])
        opt.zero_grad()
        loss.backward()
        opt.step()
    expected = torch.quantile(returns, torch.tensor([0.125, 0.375, 0.625, 0.875]))
    assert torch.allclose(pred.detach()[0], expected, atol=1.5)
    assert quantile_loss(torch.full((3, 5), -2.0), torch.full((3,), -2.0)).item() == 0.0


def test_demonstrations_lower_the_policy_loss():
    batch, obs = _demos()
    torch.manual_seed(0)
    model = AlphaTensorNet(NetworkConfig.for_game(GameConfig(max_side=4, history=2), **SMALL))
    inp = model.prepare(obs, batch.dims)
    target = torch.from_numpy(batch.factors[:, 0])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss = policy_loss(model, inp, model.embed(inp), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0], losses


def test_policy_loss_toward_search_targets():
    game, state, model = _setup("side4")
    inp = model.prepare(state.observation(), state.dims)
    embedding = model.embed(inp)
    with torch.no_grad():
        candidates, _ = model.sample(inp, 4)
    pi = torch.tensor([[0.5, 0.25, 0.25, 0.0]]).expand(state.batch_size, -1)
    loss = policy_loss(model, inp, embedding, candidates, pi)
    manual = -(pi * model.log_prob(inp, embedding, candidates)).sum(1).mean()
    torch.testing.assert_close(loss, manual)
    loss.backward()
    assert model.policy.out.weight.grad is not None
    bad = candidates.clone()
    bad[:, :, 0] = 0  # a zero factor
    bad_pi = torch.zeros_like(pi)
    bad_pi[:, 3] = 1.0
    with pytest.raises(NetworkError, match="illegal"):
        policy_loss(model, inp, embedding, torch.cat([candidates[:, :3], bad[:, 3:]], 1), bad_pi)
    policy_loss(model, inp, embedding, torch.cat([candidates[:, :3], bad[:, 3:]], 1), pi)  # weight 0: ignored


# --- checkpoints -----------------------------------------------------------------------------
def test_checkpoint_round_trip(tmp_path):
    game, state, model = _setup("side9", dropout=0.1)
    inp = model.prepare(state.observation(), state.dims)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(inp)[1].mean().backward()
    opt.step()
    model.eval()
    path = save_checkpoint(tmp_path / "net.pt", model, opt, step=17,
                           extra={"games": 3, "note": "x", "scores": [1.5, 2.0], "t": torch.ones(2)})
    loaded, opt_state, step, extra = load_checkpoint(path, "cpu")
    loaded.eval()
    assert loaded.config == model.config and step == 17
    assert extra["note"] == "x" and extra["scores"] == [1.5, 2.0] and torch.equal(extra["t"], torch.ones(2))
    opt2 = torch.optim.Adam(loaded.parameters(), lr=1e-3)
    opt2.load_state_dict(opt_state)
    assert opt2.state_dict()["state"][0]["step"] == opt.state_dict()["state"][0]["step"]
    with torch.no_grad():
        e1, q1 = model(inp)
        e2, q2 = loaded(model.prepare(state.observation(), state.dims))
        tokens = torch.randint(0, model.config.vocabulary, (state.batch_size, model.config.move_length))
        assert torch.equal(q1, q2) and torch.equal(e1, e2)
        assert torch.equal(model.policy_logits(e1, tokens), loaded.policy_logits(e2, tokens))
        s1 = model.sample(inp, 4, generator=torch.Generator().manual_seed(1))
        s2 = loaded.sample(inp, 4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(s1[0], s2[0]) and torch.equal(s1[1], s2[1])
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left no temporary file


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_damaged_or_foreign_checkpoints_raise_one_line_errors(tmp_path, capsys):
    _, _, model = _setup("side4")
    good = save_checkpoint(tmp_path / "good.pt", model).read_bytes()
    cases = {
        "truncated.pt": good[: len(good) // 2],
        "garbage.pt": bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8)),
        "empty.pt": b"",
        "flipped.pt": good[:200] + bytes(b ^ 0xFF for b in good[200:400]) + good[400:],
        "pickle.pt": pickle.dumps(_Evil()),
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
    other = AlphaTensorNet(NetworkConfig(max_side=4, history=2, **SMALL))
    payload = torch.load(tmp_path / "good.pt", weights_only=True)
    payload["model"] = other.state_dict()
    payload["config"]["d_model"] = 64
    payload["config"]["heads"] = 4
    torch.save(payload, tmp_path / "mismatch.pt")
    payload["config"]["chunk"] = 0
    torch.save(payload, tmp_path / "badconfig.pt")
    names = [*cases, "foreign.pt", "mismatch.pt", "badconfig.pt", "missing.pt"]
    for name in names:
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(tmp_path / name)
        message = str(info.value)
        assert "\n" not in message and name in message, message
    assert "must never run" not in capsys.readouterr().out
    with pytest.raises(CheckpointError, match="cannot be stored"):
        save_checkpoint(tmp_path / "x.pt", model, extra={"bad": object()})


# --- evaluator and devices --------------------------------------------------------------------
def test_network_evaluator_follows_the_search_contract():
    game, state, model = _setup("side9")
    model.train()
    evaluator = NetworkEvaluator(model, device="cpu", seed=4)
    ev = evaluator(state.observation(), 6, state.dims)
    assert isinstance(ev, Evaluation) and model.training  # mode restored
    b, s = state.batch_size, model.config.max_side
    assert ev.moves.shape == (b, 6, 3, s) and ev.moves.dtype == np.int8
    assert ev.log_probs.shape == (b, 6) and ev.log_probs.dtype == np.float32
    assert ev.values.shape == (b,) and ev.values.dtype == np.float32
    _assert_legal(game, state, ev.moves)
    model.eval()
    with torch.no_grad():
        inp = model.prepare(state.observation(), state.dims)
        np.testing.assert_allclose(ev.values, model.risk_seeking_value(model(inp)[1]).numpy(), rtol=1e-5)
        np.testing.assert_allclose(
            ev.log_probs, model.log_prob(inp, model.embed(inp), torch.from_numpy(ev.moves)).numpy(),
            atol=1e-4)
    again = NetworkEvaluator(model, device="cpu", seed=4)(state.observation(), 6, state.dims)
    assert np.array_equal(again.moves, ev.moves)
    none = state.take([])
    empty = evaluator(none.observation(), 6, none.dims)
    assert empty.moves.shape == (0, 6, 3, s) and empty.values.shape == (0,)


def test_network_evaluator_drives_the_tree_search():
    game, state, model = _setup("side4")
    config = MCTSConfig(num_simulations=8, num_samples=4, leaf_batch=2)
    out = run_search(game, state, NetworkEvaluator(model, seed=0), config, np.random.default_rng(0))
    assert out.visit_counts.sum(axis=1).min() > 0
    # the search's improved policy is a training target (padded candidates have weight 0)
    inp = model.prepare(state.observation(), state.dims)
    loss = policy_loss(model, inp, model.embed(inp), torch.from_numpy(out.root_moves),
                       torch.from_numpy(out.improved_policy))
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in model.parameters()
                                        if p.grad is not None)


@pytest.mark.parametrize("device", DEVICES)
def test_runs_on_an_explicit_device(device):
    game, state, model = _setup("side4")
    model = model.to(device)
    assert model.device.type == device
    inp = model.prepare(state.observation(), state.dims)
    assert inp.residual.device.type == device and inp.dims.device.type == device
    embedding, quantiles = model(inp)
    moves, log_probs = model.sample(inp, 3, embedding=embedding)
    assert moves.device.type == device
    loss = policy_loss(model, inp, embedding, moves.detach()[:, 0]) + quantile_loss(
        quantiles, torch.full((state.batch_size,), -3.0, device=device))
    loss.backward()
    ev = NetworkEvaluator(model, device=device)(state.observation(), 4, state.dims)
    _assert_legal(game, state, ev.moves)
