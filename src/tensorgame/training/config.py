"""The training configuration: nested frozen dataclasses read from TOML or JSON.

A run is described by one file with up to six tables, each optional (defaults below)::

    [game]     targets, rings, max_side, history, coefficients, max_steps, penalty_scale
    [network]  chunk, d_model, heads, torso_layers, policy_layers, ffn_ratio, quantiles,
               risk_quantile_fraction, value_scale, dropout, board
    [mcts]     the search's own :class:`~tensorgame.search.mcts.MCTSConfig` (num_simulations,
               num_samples, c1, c2, dirichlet_*, temperature, sampling_temperature,
               leaf_batch); the network evaluator samples at sampling_temperature
    [learner]  batch_size, lr, weight_decay, ... (see :class:`LearnerConfig`)
    [actors]   num_actors, games_per_batch, basis_pool_size, tied, ...
    [run]      checkpoint_every_s, log_every_steps, time_limit_s, seed, ...

Why strict: a typo in a long-running job's config (``learning_rate`` for ``lr``)
would otherwise silently train with a default for hours. Every key must be known and
every value must have the right type and range; the first problem found is reported
as one line naming the file and the dotted key (:class:`ConfigError`, which the CLI
prints as ``error: ...`` with exit status 2).

The resolved config (every default filled in) is written into the run directory as
``config.json`` by :mod:`tensorgame.training.run`; :func:`config_from_dict` reads it
back, so a resumed run uses exactly the settings it was started with.
"""

from __future__ import annotations

import json
import math
import tomllib
import types
import typing
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from tensorgame.errors import TensorGameError
from tensorgame.fileio import load_json, read_text
from tensorgame.game.basis import DEFAULT_BASIS_MAX_ENTRY
from tensorgame.search.mcts.config import MCTSConfig


class ConfigError(TensorGameError):
    """A training config file is unreadable, has an unknown key or a bad value."""


# --- sections ---------------------------------------------------------------------------
@dataclass(frozen=True)
class GameSection:
    """What is played. ``targets``: target names as on the command line ("2,2,2",
    "3x3x3", "skew_matvec:4"); every target is played in every ring of ``rings`` (one
    network learns them all at once, as in AlphaTensor). ``max_side``: the padded side
    S; 0 means the largest side among the targets (the cheapest network that fits:
    S = 16 is far too slow on a CPU for a <2,2,2> run). ``max_steps``: step limit, 0 =
    each target's naive rank. ``cyclic``: square matmul targets are played with
    cyclic-symmetric moves (one move places a term and its two rotations; a third as
    many moves; in the canonical basis only, see :mod:`tensorgame.game.cyclic`)."""

    targets: tuple[str, ...] = ("2,2,2",)
    rings: tuple[str, ...] = ("Z", "Z2")
    max_side: int = 0
    history: int = 7
    coefficients: tuple[int, ...] = (-2, -1, 0, 1, 2)
    max_steps: int = 0
    penalty_scale: int = 1
    cyclic: bool = False


@dataclass(frozen=True)
class NetworkSection:
    """Network sizes (see :class:`tensorgame.network.NetworkConfig`; the side, history
    and alphabet come from [game])."""

    chunk: int = 4
    d_model: int = 32
    heads: int = 4
    torso_layers: int = 2
    policy_layers: int = 2
    ffn_ratio: int = 2
    quantiles: int = 8
    risk_quantile_fraction: float = 0.25
    value_scale: float = 8.0
    dropout: float = 0.0
    #: "region": each game sees only its own sides (a small target inside a run
    #: padded for larger ones is played as on its own board).
    board: str = "padded"


@dataclass(frozen=True)
class LearnerConfig:
    """The optimisation.

    ``batch_size`` positions per step, of which ``supervised_fraction`` are synthetic
    demonstrations (all of them while the replay buffer holds fewer than
    ``min_replay`` positions). ``solution_fraction``: share of the demonstration part
    drawn from schemes the agent itself found (mapped into random bases and augmented;
    AlphaTensor's "games with high scores fed back as training data"); 0 until one is
    found. ``demo_basis_fraction``: share of synthetic demonstrations re-expressed in a
    random basis of the pool (pairs whose coefficients leave the alphabet keep their
    canonical form). ``demo_max_rank``: cap of the demonstrations' rank (0 = each
    target's naive rank). ``demo_block_fraction``: share of synthetic demonstrations of a
    matrix product supported on a random sub-box of its index ranges (a smaller
    product embedded in it, :mod:`tensorgame.game.blocks`; the residuals of the block
    curriculum, ``actors.prefix_block_fraction``). ``replay_capacity``: positions kept (oldest dropped).
    ``steps_per_game``: learner steps per self-play game played (the replay ratio).
    ``warmup_steps``: supervised steps before the first self-play game (a random
    network's games teach nothing). ``value_weight``: weight of the quantile value
    loss; ``demo_value``: also train the value on demonstrations (target: minus the
    demonstration's remaining terms, an upper bound of the rank that gives the fresh
    value head the scale -moves-to-go early, instead of the 0 that misleads the
    search). ``grad_clip``: global norm clip (0 = off). ``lift_solutions``: a modular
    scheme the agent finds is also Hensel-lifted to Z (when it lifts; exact, verified)
    and imitated in the Z games: an explicit transfer between rings beside the shared
    network. Off by default because it uses an algebraic tool besides network and
    search during training (discovery itself never does). ``expert_flip_s``: seconds of
    flip-graph search (from the naive scheme, one worker) per target and ring when a
    fresh run starts; the best scheme of each joins the solution bank as demonstrations
    (expert iteration: issue 12's hybrid, point 4b). 0 (default) keeps the agent alone;
    with it, every scheme the run's agent stores is labelled ``"expert": "flip"``."""

    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-5
    supervised_fraction: float = 0.5
    solution_fraction: float = 0.25
    demo_basis_fraction: float = 0.5
    demo_max_rank: int = 0
    demo_block_fraction: float = 0.0
    replay_capacity: int = 50_000
    min_replay: int = 256
    steps_per_game: float = 1.0
    warmup_steps: int = 300
    value_weight: float = 1.0
    demo_value: bool = True
    grad_clip: float = 1.0
    lift_solutions: bool = False
    expert_flip_s: float = 0.0


@dataclass(frozen=True)
class ActorsConfig:
    """Self-play. ``num_actors``: worker processes (0 = play inside the learner
    process, the fastest choice on two cores). ``games_per_batch``: games one actor
    plays together (one search forest, batched network calls). ``basis_pool_size``:
    random unimodular bases per target (basis 0 is the canonical one);
    ``canonical_fraction``: share of games played in the canonical basis, the rest in
    a uniformly drawn pool basis. ``tied``: one matrix for all equal-size modes (as in
    AlphaTensor). ``basis_max_entry``: largest entry of a basis matrix and its inverse
    (keeps transformed targets small). ``runtime_reward``: a game that ends with a
    complete scheme over Z gains ``-runtime_weight`` × (its one-level kernel's time /
    numpy.matmul's) on ``runtime_size``² matrices of ``runtime_dtype``, each class timed
    once per actor (:mod:`tensorgame.training.runtime_reward`); off by default.
    ``naive_prefix_fraction``: share of canonical-basis games that start with a random
    part of the naive scheme already played (1 to N - 1 of its N moves, drawn
    uniformly), so that games too long to finish from the start end solved and the
    agent has finds of its own to imitate; from scratch (the naive scheme is the
    definition), 0 (off) by default. ``prefix_block_fraction``: share of those prefixes
    that are every naive move outside a random sub-box of the index ranges, leaving a
    smaller format embedded in the target (:mod:`tensorgame.training.curriculum`).
    ``block_own_board``: play such a block as a game of its own format, on its own
    sides, instead of inside the target's tensor, and embed a finished block's scheme
    with the naive moves around it (``game.blocks.embed_blocks``), or, where those form
    a box of a format the actor's games already solved below its naive rank (a 2×2×2
    beside a 2×2×2 in <2,2,4>), with that scheme: the network plays a small product the
    same way wherever it sits (inside <2,2,3> it played the embedded <2,2,2> naively
    while solving <2,2,2> itself; docs/agent.md). ``best_prefix_fraction``: share of
    canonical-basis games that start with a random 1 to R - 1 of the R terms of the
    actor's own best scheme of the target, where it has one below the naive rank
    (restarts inside its best game; the naive prefixes are drawn among the others;
    :func:`tensorgame.training.curriculum.best_prefixes`), 0 (off) by default."""

    num_actors: int = 0
    games_per_batch: int = 16
    basis_pool_size: int = 10_000
    canonical_fraction: float = 0.25
    tied: bool = True
    basis_max_entry: int = DEFAULT_BASIS_MAX_ENTRY
    runtime_reward: bool = False
    runtime_weight: float = 1.0
    runtime_size: int = 512
    runtime_dtype: str = "float32"
    naive_prefix_fraction: float = 0.0
    prefix_block_fraction: float = 0.0
    block_own_board: bool = False
    best_prefix_fraction: float = 0.0


@dataclass(frozen=True)
class RunConfig:
    """Bookkeeping. ``time_limit_s``: stop after this long (0 = no limit; the CLI's
    ``--time`` overrides it). ``max_steps``: stop at this learner step (0 = none).
    ``checkpoint_every_s``: periodic checkpoint (also on exit, Ctrl-C and SIGTERM).
    ``save_replay``: write the replay buffer (npz) with each checkpoint so a resume
    keeps it; without it a resumed run rebuilds it by playing. ``publish_every_steps``:
    how often actors get new weights."""

    checkpoint_every_s: float = 180.0
    log_every_steps: int = 25
    time_limit_s: float = 0.0
    max_steps: int = 0
    seed: int = 0
    save_replay: bool = True
    publish_every_steps: int = 50


@dataclass(frozen=True)
class TrainConfig:
    """The whole run (see the module doc)."""

    game: GameSection = field(default_factory=GameSection)
    network: NetworkSection = field(default_factory=NetworkSection)
    mcts: MCTSConfig = field(default_factory=MCTSConfig)
    learner: LearnerConfig = field(default_factory=LearnerConfig)
    actors: ActorsConfig = field(default_factory=ActorsConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready nested dict (tuples as lists)."""
        return json.loads(json.dumps(asdict(self)))

    def with_time_limit(self, seconds: float) -> TrainConfig:
        return replace(self, run=replace(self.run, time_limit_s=float(seconds)))


_SECTION_TYPES = {
    "game": GameSection, "network": NetworkSection, "mcts": MCTSConfig,
    "learner": LearnerConfig, "actors": ActorsConfig, "run": RunConfig,
}


# --- value checking ---------------------------------------------------------------------
def _convert(value: Any, tp: Any, where: str) -> Any:
    """``value`` as type ``tp`` (int, float, bool, str, tuple[X, ...], X | None)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(value, inner, where)
    if origin is tuple:
        inner = typing.get_args(tp)[0]
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        return tuple(_convert(v, inner, f"{where}[{i}]") for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        if not math.isfinite(float(value)):
            raise ConfigError(f"{where} must be finite, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    raise AssertionError(f"unsupported config type {tp!r}")  # a bug in this module


def _section(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"[{where}] must be a table, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    unknown = sorted(str(k) for k in data if k not in hints)
    if unknown:
        raise ConfigError(f"unknown key {where}.{unknown[0]} (known: {', '.join(names)})")
    values = {k: _convert(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**values)
    except ValueError as exc:  # sections that validate themselves (MCTSConfig)
        raise ConfigError(f"[{where}] {exc}") from None


def _need(ok: bool, where: str, what: str, value: Any) -> None:
    if not ok:
        raise ConfigError(f"{where} must be {what}, got {value!r}")


def _validate(cfg: TrainConfig) -> None:
    """Ranges and cross-field rules; targets, rings and the network are checked by
    building them (their own one-line errors, prefixed with the key)."""
    from tensorgame.tensors.target_names import parse_target
    from tensorgame.tensors.rings import parse_ring

    g, n, le, a, r = cfg.game, cfg.network, cfg.learner, cfg.actors, cfg.run
    _need(len(g.targets) >= 1, "game.targets", "a non-empty list", list(g.targets))
    _need(len(g.rings) >= 1, "game.rings", "a non-empty list", list(g.rings))
    sides = []
    for i, t in enumerate(g.targets):
        try:
            sides.append(max(parse_target(t).dims))
        except TensorGameError as exc:
            raise ConfigError(f"game.targets[{i}]: {exc}") from None
    for i, ring in enumerate(g.rings):
        try:
            parsed = parse_ring(ring)
        except TensorGameError as exc:
            raise ConfigError(f"game.rings[{i}]: {exc}") from None
        _need(not parsed.allows_denominators, f"game.rings[{i}]", "Z or Z<p>", ring)
    _need(g.max_side == 0 or g.max_side >= max(sides), "game.max_side",
          f"0 or at least the largest target side {max(sides)}", g.max_side)
    _need(0 <= g.max_side <= 64, "game.max_side", "in 0..64", g.max_side)
    _need(g.history >= 0, "game.history", ">= 0", g.history)
    _need(g.max_steps >= 0, "game.max_steps", ">= 0", g.max_steps)
    _need(g.penalty_scale >= 0, "game.penalty_scale", ">= 0", g.penalty_scale)
    for name in ("chunk", "d_model", "heads", "torso_layers", "policy_layers", "ffn_ratio", "quantiles"):
        _need(getattr(n, name) >= 1, f"network.{name}", ">= 1", getattr(n, name))
    _need(0 < n.risk_quantile_fraction <= 1, "network.risk_quantile_fraction", "in (0, 1]",
          n.risk_quantile_fraction)
    _need(n.value_scale > 0, "network.value_scale", "> 0", n.value_scale)
    _need(0 <= n.dropout < 1, "network.dropout", "in [0, 1)", n.dropout)
    _need(le.batch_size >= 1, "learner.batch_size", ">= 1", le.batch_size)
    _need(le.lr > 0, "learner.lr", "> 0", le.lr)
    _need(le.weight_decay >= 0, "learner.weight_decay", ">= 0", le.weight_decay)
    for name in ("supervised_fraction", "solution_fraction", "demo_basis_fraction"):
        _need(0 <= getattr(le, name) <= 1, f"learner.{name}", "in [0, 1]", getattr(le, name))
    _need(le.demo_max_rank >= 0, "learner.demo_max_rank", ">= 0", le.demo_max_rank)
    _need(0 <= le.demo_block_fraction <= 1, "learner.demo_block_fraction", "in [0, 1]",
          le.demo_block_fraction)
    _need(le.replay_capacity >= 1, "learner.replay_capacity", ">= 1", le.replay_capacity)
    _need(le.min_replay >= 0, "learner.min_replay", ">= 0", le.min_replay)
    _need(le.steps_per_game > 0, "learner.steps_per_game", "> 0", le.steps_per_game)
    _need(le.warmup_steps >= 0, "learner.warmup_steps", ">= 0", le.warmup_steps)
    _need(le.expert_flip_s >= 0, "learner.expert_flip_s", ">= 0", le.expert_flip_s)
    _need(le.value_weight >= 0, "learner.value_weight", ">= 0", le.value_weight)
    _need(le.grad_clip >= 0, "learner.grad_clip", ">= 0", le.grad_clip)
    _need(0 <= a.num_actors <= 256, "actors.num_actors", "in 0..256", a.num_actors)
    _need(a.games_per_batch >= 1, "actors.games_per_batch", ">= 1", a.games_per_batch)
    _need(a.basis_pool_size >= 1, "actors.basis_pool_size", ">= 1", a.basis_pool_size)
    _need(0 <= a.canonical_fraction <= 1, "actors.canonical_fraction", "in [0, 1]", a.canonical_fraction)
    _need(0 <= a.naive_prefix_fraction <= 1, "actors.naive_prefix_fraction", "in [0, 1]",
          a.naive_prefix_fraction)
    _need(0 <= a.prefix_block_fraction <= 1, "actors.prefix_block_fraction", "in [0, 1]",
          a.prefix_block_fraction)
    _need(0 <= a.best_prefix_fraction <= 1, "actors.best_prefix_fraction", "in [0, 1]",
          a.best_prefix_fraction)
    _need(a.basis_max_entry >= 1, "actors.basis_max_entry", ">= 1", a.basis_max_entry)
    _check_runtime_reward(g, a)
    _need(r.checkpoint_every_s > 0, "run.checkpoint_every_s", "> 0", r.checkpoint_every_s)
    _need(r.log_every_steps >= 1, "run.log_every_steps", ">= 1", r.log_every_steps)
    _need(r.time_limit_s >= 0, "run.time_limit_s", ">= 0", r.time_limit_s)
    _need(r.max_steps >= 0, "run.max_steps", ">= 0", r.max_steps)
    _need(r.seed >= 0, "run.seed", ">= 0", r.seed)
    _need(r.publish_every_steps >= 1, "run.publish_every_steps", ">= 1", r.publish_every_steps)
    try:  # the network's own checks (vocabulary size, heads dividing d_model, its size, ...)
        network_config(cfg)
    except TensorGameError as exc:
        raise ConfigError(f"network: {exc}") from None
    _check_memory(cfg)


def _check_runtime_reward(g: GameSection, a: ActorsConfig) -> None:
    """The runtime term's settings, and that it can apply: a kernel needs a matrix
    multiplication scheme over Z, so some ring must be Z and every target a product."""
    from tensorgame.tensors.rings import parse_ring
    from tensorgame.tensors.target_names import parse_target
    from tensorgame.training.runtime_reward import DTYPES, MAX_SIZE, MIN_SIZE

    _need(a.runtime_weight > 0, "actors.runtime_weight", "> 0", a.runtime_weight)
    _need(MIN_SIZE <= a.runtime_size <= MAX_SIZE, "actors.runtime_size", f"in {MIN_SIZE}..{MAX_SIZE}",
          a.runtime_size)
    _need(a.runtime_dtype in DTYPES, "actors.runtime_dtype", " or ".join(DTYPES), a.runtime_dtype)
    if not a.runtime_reward:
        return
    if all(parse_ring(r).is_modular for r in g.rings):
        raise ConfigError("actors.runtime_reward needs Z among game.rings (a scheme mod p is no kernel over "
                          f"the reals), got {list(g.rings)!r}")
    for i, t in enumerate(g.targets):
        _need(parse_target(t).is_matmul, f"game.targets[{i}]", "a matrix multiplication with "
              "actors.runtime_reward (kernels exist only for those)", t)


def memory_estimate(cfg: TrainConfig) -> dict[str, int]:
    """Bytes a run plans to hold, by part, estimated from the sizes alone (before
    anything is built): the network in training (weights, gradients, Adam moments,
    plus a weight copy per actor process), the replay buffer (allocated whole at
    start), the runtime term's timed products (per actor) and one learner batch's
    float32 activations (torso attention blocks, attention weights, policy decoder and
    logits; an order of magnitude, not exact)."""
    from tensorgame.network.config import TRAINING_BYTES_PER_PARAMETER
    from tensorgame.training.runtime_reward import timing_bytes

    net = network_config(cfg)
    s, h, d, f = net.max_side, net.history, net.d_model, net.ffn_ratio
    b, k, length = cfg.learner.batch_size, cfg.mcts.num_samples, net.move_length
    params = net.parameter_count
    position = 2 * s**3 + 3 * h * s + 3 * k * s + 4 * k + 3 * 8 + 3 * 8 + 4 + 8  # replay row
    torso = 3 * net.torso_layers * (2 * b * s * s * (8 + 2 * f) * d + b * s * net.heads * 4 * s * s)
    policy = b * length * (net.policy_layers * ((12 + 2 * f) * d + net.heads * 3 * s * s) + 2 * net.vocabulary)
    a = cfg.actors
    timing = timing_bytes(a.runtime_size, a.runtime_dtype) * max(1, a.num_actors) if a.runtime_reward else 0
    return {
        "network": params * TRAINING_BYTES_PER_PARAMETER + a.num_actors * params * 4,
        "replay buffer": cfg.learner.replay_capacity * position,
        "learner batch": 4 * (2 * b * s**3 * (h + 2) + torso + policy),
        "runtime timing": timing,
    }


def _check_memory(cfg: TrainConfig) -> None:
    """ConfigError when :func:`memory_estimate` exceeds the machine's budget
    (:func:`~tensorgame.network.config.memory_budget_bytes`), naming the largest part."""
    from tensorgame.network.config import MEMORY_FRACTION, memory_budget_bytes

    parts = memory_estimate(cfg)
    need, budget = sum(parts.values()), memory_budget_bytes()
    if need > budget:
        detail = ", ".join(f"{name} {size / 2**30:,.1f} GiB" for name, size in parts.items())
        raise ConfigError(
            f"the run needs about {need / 2**30:,.1f} GiB ({detail}), above the {budget / 2**30:,.1f} GiB "
            f"allowed ({MEMORY_FRACTION:.0%} of this machine's memory); lower the largest part "
            "(network sizes, learner.replay_capacity or learner.batch_size)")


def config_from_dict(data: Any) -> TrainConfig:
    """A validated TrainConfig from nested dicts (missing tables/keys take defaults)."""
    if not isinstance(data, dict):
        raise ConfigError(f"a training config must be a table/object, got {type(data).__name__}")
    unknown = sorted(str(k) for k in data if k not in _SECTION_TYPES)
    if unknown:
        raise ConfigError(f"unknown table [{unknown[0]}] (known: {', '.join(_SECTION_TYPES)})")
    parts = {name: _section(cls, data[name], name) for name, cls in _SECTION_TYPES.items() if name in data}
    cfg = TrainConfig(**parts)
    _validate(cfg)
    return cfg


def load_config(path: str | Path) -> TrainConfig:
    """Read a ``.toml`` or ``.json`` training config (by extension; other names are
    tried as TOML). Every error is one line that starts with the path."""
    path = Path(path)
    text = read_text(path)
    try:
        data = load_json(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except TensorGameError as exc:  # the JSON guards of every reader (fileio.load_json)
        raise ConfigError(f"{path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({str(exc).splitlines()[0]})") from None
    except RecursionError:  # tomllib parses nested arrays recursively
        raise ConfigError(f"{path}: not valid TOML (nested too deeply)") from None
    try:
        return config_from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


# --- derived objects --------------------------------------------------------------------
#: The learner's phase before step ``warmup_steps``: supervised steps only, no game played.
WARMUP = "warm-up"
SELF_PLAY = "self-play"


def phase(step: int, warmup_steps: int) -> str:
    """:data:`WARMUP` or :data:`SELF_PLAY` at learner step ``step``: a run (or its
    checkpoint) in warm-up has played no game, which its display, summary and
    ``discover`` say, so that ``0 games`` needs no guessing."""
    return WARMUP if step < warmup_steps else SELF_PLAY


def targets_of(cfg: TrainConfig) -> list[Any]:
    """The :class:`~tensorgame.tensors.targets.Target` objects of [game].targets."""
    from tensorgame.tensors.target_names import parse_target

    return [parse_target(t) for t in cfg.game.targets]


def rings_of(cfg: TrainConfig) -> list[Any]:
    from tensorgame.tensors.rings import parse_ring

    return [parse_ring(r) for r in cfg.game.rings]


def game_config(cfg: TrainConfig) -> Any:
    """The :class:`~tensorgame.game.GameConfig` the run plays (side resolved)."""
    from tensorgame.tensors.target_names import parse_target
    from tensorgame.game import GameConfig

    g = cfg.game
    side = g.max_side or max(max(parse_target(t).dims) for t in g.targets)
    return GameConfig(max_side=side, history=g.history, coefficients=g.coefficients,
                      max_steps=g.max_steps or None, penalty_scale=g.penalty_scale, cyclic=g.cyclic)


def network_config(cfg: TrainConfig) -> Any:
    from tensorgame.network import NetworkConfig

    return NetworkConfig.for_game(game_config(cfg), **asdict(cfg.network))


def mcts_config(cfg: TrainConfig, *, evaluation: bool = False) -> MCTSConfig:
    """The search settings; ``evaluation`` turns root noise off and picks the most
    visited move (for discover/benchmarks, not for self-play)."""
    if evaluation:
        return replace(cfg.mcts, dirichlet_fraction=0.0, temperature=0.0)
    return cfg.mcts
