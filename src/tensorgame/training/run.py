"""A training run: run directory, the learner/actor loop, checkpoints, resume, signals.

Run directory layout::

    config.json          the resolved TrainConfig (every default filled in)
    run.json             run id, creation time, the config file it came from
    metrics.jsonl        metrics (see tensorgame.training.metrics)
    tb/                  TensorBoard event files (tensorboardX, when installed)
    checkpoints/latest.pt  network + optimiser + step + run state (atomic write)
    replay.npz           replay buffer + found-solution bank (no pickle; atomic write)
    weights.pt           weights published to local actor processes (num_actors > 0)

The loop (one process): ``warmup_steps`` supervised learner steps first, with no game
played (the display, the summary and the checkpoint say so); then learner steps on
mixed batches (demonstrations + replay) and self-play games whenever the replay ratio
asks for them (``steps_per_game`` learner steps per game; inline actors play right
there, actor processes/Ray actors play concurrently and the learner waits only if it
gets ahead of the ratio). Every scheme an actor finds is verified and feeds the
solution bank; it is stored in the catalogue at once (by the actor when it can reach
the catalogue file, else by the learner on arrival) when it is worth storing
(:func:`~tensorgame.training.agent.worth_storing`: below the target's naive rank and
no worse than the run's best for its target and ring), so killing the run at any
moment loses no improvement.

Checkpoints: every ``checkpoint_every_s`` seconds, at the end, on Ctrl-C (SIGINT)
and on SIGTERM (the first signal asks the loop to stop after the current unit of
work, writes the checkpoint and exits; a second Ctrl-C aborts at once). The replay
buffer is written first, then the checkpoint, both atomically, so neither is ever
half-written.

Resume (``--resume``, also after ``kill -9``): the run directory's config.json is the
config (a config file given as well must agree with it except in [run]); the learner
continues from ``checkpoints/latest.pt`` with its optimiser state and step counter;
the replay buffer and solution bank are reloaded from replay.npz when it is readable
(otherwise the buffer is rebuilt by playing, and the bank from the catalogue); the
demonstration stream and actors' seed sequences continue where the checkpoint left
them; training lines of metrics.jsonl logged after the checkpoint are dropped (those
steps are redone); schemes stored after the checkpoint are already in the catalogue
and are read back into the run's best ranks and solution bank. A corrupted checkpoint
is a one-line error.
"""

from __future__ import annotations

import json
import secrets
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from tensorgame.catalog import Catalog
from tensorgame.errors import FormatError, TensorGameError
from tensorgame.fileio import atomic_write, read_text
from tensorgame.network import load_checkpoint, save_checkpoint, signed, widened
from tensorgame.training.actors import (
    METHOD,
    ActorOutput,
    ActorSpec,
    InlineActors,
    ProcessActors,
    RayActors,
    basis_pools,
)
from tensorgame.training.agent import worth_storing
from tensorgame.training.config import (
    WARMUP,
    ConfigError,
    TrainConfig,
    config_from_dict,
    game_config,
    network_config,
    phase,
    rings_of,
    targets_of,
)
from tensorgame.training.demos import DemoSource
from tensorgame.training.learner import Learner
from tensorgame.training.metrics import MetricsLog, ProgressDisplay, summarize
from tensorgame.training.replay import ReplayBuffer, concat_batches

CONFIG_FILE = "config.json"
RUN_FILE = "run.json"
CHECKPOINT = Path("checkpoints") / "latest.pt"
REPLAY_FILE = "replay.npz"
WEIGHTS_FILE = "weights.pt"
#: Games per (target, ring) remembered for the solve-rate and mean-return statistics.
WINDOW = 100


class RunError(TensorGameError):
    """A run directory cannot be started or resumed as asked."""


def checkpoint_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / CHECKPOINT


@dataclass
class RunSummary:
    """What a finished (or stopped) session reports."""

    run_id: str
    run_dir: Path
    step: int
    elapsed_s: float
    session_s: float
    games: int
    found: int
    best: dict[str, int | None]
    reason: str
    checkpoint: Path
    warmup_steps: int
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def phase(self) -> str:
        """"warm-up" (supervised steps only, no game played yet) or "self-play"."""
        return phase(self.step, self.warmup_steps)

    def progress(self) -> str:
        """Where the run got to, in words: the step and games, or why there are no games."""
        if self.phase == WARMUP:
            return f"still in supervised warm-up (step {self.step} of {self.warmup_steps}): no games played yet"
        return f"step {self.step}, {self.games} games"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _diff(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> str | None:
    for k in sorted(set(a) | set(b)):
        if k == "run" and not prefix:
            continue
        x, y = a.get(k), b.get(k)
        if isinstance(x, dict) and isinstance(y, dict):
            d = _diff(x, y, f"{prefix}{k}.")
            if d:
                return d
        elif x != y:
            return f"{prefix}{k}"
    return None


class _Signals:
    """SIGINT/SIGTERM -> a stop request (the loop checks it between units of work); a
    second SIGINT raises KeyboardInterrupt. Handlers are restored on exit; nothing is
    installed outside the main thread (signals only reach the main thread)."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _Signals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.reason is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.reason = "interrupted" if signum == signal.SIGINT else "terminated"

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


class Trainer:
    """One session of a run (see the module doc)."""

    def __init__(self, config: TrainConfig | None, run_dir: str | Path, *, catalog_path: str | Path,
                 resume: bool = False, ray_address: str | None = None,
                 time_limit_s: float | None = None, quiet: bool = False,
                 console: Console | None = None, config_source: str | None = None,
                 on_progress: Callable[[dict[str, Any]], None] | None = None,
                 init: str | Path | None = None) -> None:
        if init is not None and resume:
            raise RunError("--init starts a new run from other weights; a resumed run continues its own")
        self.init = init
        self.run_dir = Path(run_dir)
        self.catalog_path = Path(catalog_path)
        self.resume = resume
        self.ray_address = ray_address
        self.console = console or Console(stderr=True, highlight=False)
        self.quiet = quiet
        self.on_progress = on_progress  # sees every metrics record the run logs
        self.cfg = self._prepare(config, config_source)
        if time_limit_s is not None:
            self.cfg = self.cfg.with_time_limit(time_limit_s)

    # --- run directory -------------------------------------------------------------------
    def _prepare(self, config: TrainConfig | None, source: str | None) -> TrainConfig:
        d = self.run_dir
        cfg_file, ckpt = d / CONFIG_FILE, d / CHECKPOINT
        if self.resume:
            if not cfg_file.exists():
                raise RunError(f"{d}: nothing to resume (no {CONFIG_FILE})")
            try:
                stored = config_from_dict(json.loads(read_text(cfg_file)))
            except (json.JSONDecodeError, ConfigError) as exc:
                raise RunError(f"{cfg_file}: unreadable run config ({exc})") from None
            if config is not None:
                where = _diff(stored.to_dict(), config.to_dict())
                if where:
                    raise RunError(f"the config differs from the run's {CONFIG_FILE} in {where}; "
                                   "resume without a config file or start a new --run-dir")
                stored = config_from_dict({**stored.to_dict(), "run": config.to_dict()["run"]})
            try:
                self.run_id = json.loads(read_text(d / RUN_FILE))["run_id"]
            except (TensorGameError, json.JSONDecodeError, KeyError, TypeError):
                raise RunError(f"{d / RUN_FILE}: missing or unreadable run identity") from None
            return stored
        if config is None:
            raise RunError("a config file is needed to start a run")
        if cfg_file.exists() or ckpt.exists():
            raise RunError(f"{d} already holds a run; pass --resume to continue it or choose another --run-dir")
        (d / "checkpoints").mkdir(parents=True, exist_ok=True)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        self.run_id = f"{d.name}-{stamp}-{secrets.token_hex(2)}"
        atomic_write(cfg_file, (json.dumps(config.to_dict(), indent=2) + "\n").encode())
        atomic_write(d / RUN_FILE, (json.dumps({"run_id": self.run_id, "created": _now(),
                                                "config_file": source}, indent=2) + "\n").encode())
        return config

    # --- the session ----------------------------------------------------------------------
    def _build(self) -> None:
        cfg = self.cfg
        self.game = game_config(cfg)
        self.targets = targets_of(cfg)
        self.rings = rings_of(cfg)
        self.sources = [f"{t.name}/{r}" for t in self.targets for r in self.rings]
        self.learner = Learner(network_config(cfg), cfg.learner, seed=cfg.run.seed)
        self.pools = basis_pools(cfg)
        self.demos = DemoSource(self.targets, self.rings, self.game, self.pools, seed=cfg.run.seed,
                                max_rank=cfg.learner.demo_max_rank,
                                block_fraction=cfg.learner.demo_block_fraction,
                                basis_fraction=cfg.learner.demo_basis_fraction,
                                canonical_fraction=cfg.actors.canonical_fraction)
        self.replay = ReplayBuffer(cfg.learner.replay_capacity, self.game.max_side, self.game.history,
                                   cfg.mcts.num_samples)
        self.games = 0
        self.moves = 0
        self.found = 0
        self.naive = [t.naive_rank for t in self.targets]
        self.elapsed_before = 0.0
        self.best: dict[str, int | None] = {s: None for s in self.sources}
        self.recent: dict[str, deque] = {s: deque(maxlen=WINDOW) for s in self.sources}
        self.actor_counters: list[int] = []

    def _initialise(self) -> Path:
        """Start from another network's weights (``--init``: the bundled network or a
        checkpoint), e.g. to fine-tune it on other targets; its shape must be the config's,
        except that a region-board network is widened to a larger board (``widened``) and
        a mod-2 network is spelled over the config's signed alphabet (``signed``)."""
        from tensorgame.training.agent import checkpoint_path

        path = checkpoint_path(self.init)
        model, _, _, _ = load_checkpoint(path)
        mine = self.learner.model.config
        if model.config.board == "region" and model.config.max_side < mine.max_side:
            side = model.config.max_side
            model = widened(model, mine.max_side)
            self.display.message(f"widened the network of {path} from side {side} to {mine.max_side}")
        if model.config.coefficients == (0, 1) and mine.coefficients != (0, 1):
            model = signed(model, mine.coefficients)
            self.display.message(f"signed the network of {path}: coefficients {list(mine.coefficients)}, "
                                 "each read mod 2")
        if model.config != mine:
            diff = ", ".join(f"{f} {getattr(model.config, f)!r} (config: {getattr(mine, f)!r})"
                             for f in mine.__dataclass_fields__ if getattr(model.config, f) != getattr(mine, f))
            raise RunError(f"--init {self.init}: that network differs from the config's: {diff}")
        self.learner.model.load_state_dict(model.state_dict())
        return path

    def _restore(self) -> int:
        """Load the checkpoint and what goes with it; returns the step resumed at."""
        path = self.run_dir / CHECKPOINT
        model, opt, step, extra = load_checkpoint(path)
        if model.config != self.learner.model.config:
            raise RunError(f"{path}: the network does not match the run's config")
        self.learner.load(model, opt, step)
        if extra.get("run_id") not in (None, self.run_id):
            raise RunError(f"{path}: checkpoint of another run ({extra.get('run_id')})")
        self.games = int(extra.get("games", 0))
        self.moves = int(extra.get("moves", 0))
        self.found = int(extra.get("found", 0))
        self.elapsed_before = float(extra.get("elapsed_s", 0.0))
        self.demos.index = int(extra.get("demo_index", 0))
        self.actor_counters = [int(x) for x in extra.get("actor_counters", [])]
        for k, v in dict(extra.get("best", {})).items():
            if k in self.best:
                self.best[k] = None if v is None else int(v)
        replay = self.run_dir / REPLAY_FILE
        if replay.exists():
            try:
                bank = self.replay.load_bytes(replay.read_bytes(), str(replay))
                self.demos.load_bank(bank)
            except (FormatError, OSError) as exc:
                self.display.message(f"warning: {exc}; the replay buffer will be rebuilt by playing")
        self._rescan_catalog()
        return step

    def _rescan_catalog(self) -> None:
        """Schemes this run stored (possibly after its last checkpoint): best ranks and
        the solution bank, so nothing found is forgotten by a resume."""
        if not self.catalog_path.exists():
            return
        with Catalog(self.catalog_path) as cat:
            entries = cat.list(method=METHOD)
        index = {t.key: i for i, t in enumerate(self.targets)}
        for e in entries:
            try:
                prov = json.loads(e.source or "{}")
            except json.JSONDecodeError:
                continue
            if not isinstance(prov, dict) or prov.get("run") != self.run_id or e.target_key not in index:
                continue
            src = f"{e.target_name}/{e.ring}"
            if src in self.best and (self.best[src] is None or e.rank < self.best[src]):
                self.best[src] = e.rank
            self._bank(index[e.target_key], e.scheme)

    def _bank(self, target: int, scheme: Any) -> None:
        """Add a found scheme (and, for a Z scheme, its reduction mod each modular ring
        of the run: a decomposition over Z holds mod p) to the solution bank."""
        self.demos.add_scheme(target, scheme)
        if self.demos.cyclic(target):  # a lift or reduction need not be a cyclic game's moves
            return
        p = int(scheme.ring.modulus or 0)
        if p and self.cfg.learner.lift_solutions and any(not r.modulus for r in self.rings):
            from tensorgame.search.lifting import hensel_lift

            lifted = hensel_lift(scheme, attempts=2, seed=0).scheme
            if lifted is not None and lifted.ring.modulus is None and not lifted.ring.allows_denominators:
                self.demos.add_scheme(target, lifted)
        if p == 0:
            f = self.game.moves_of(scheme)  # (the target is not cyclic here: a term per move)
            for ring in self.rings:
                q = int(ring.modulus or 0)
                if q:
                    g = np.mod(f, q)
                    keep = g.any(axis=2).all(axis=1)  # terms with a zero factor vanish mod q
                    self.demos.add_solution(target, q, g[keep])

    def _expert_demonstrations(self) -> None:
        """Expert iteration (``learner.expert_flip_s``): a flip-graph search from the naive
        scheme per target and ring (Z: the ternary walk, whose schemes hold over Z); each
        best scheme is stored by the search itself (method "flip") and joins the solution
        bank, so the agent imitates it in random bases like one of its own finds."""
        from tensorgame.search.flipgraph.session import flip_search

        seconds = self.cfg.learner.expert_flip_s
        for ti, target in enumerate(self.targets):
            for ring in self.rings:
                walk = "ZT" if ring.modulus is None else str(ring)
                folder = self.run_dir / "expert" / f"{target.key}-{walk}".replace(",", "_").replace(":", "_")
                t0 = time.monotonic()
                outcome = flip_search(target, ring=walk, time=seconds, workers=1, seed=self.cfg.run.seed,
                                      catalog=self.catalog_path, run_dir=folder)
                self._bank(ti, outcome.best)
                self.metrics.write({"kind": "expert", "step": 0, "target": target.name, "ring": str(ring),
                                    "rank": outcome.best.rank, "seconds": round(time.monotonic() - t0, 3),
                                    "catalog_id": outcome.best_catalog_id, "wall": time.time()})
                self.display.message(f"expert demonstrations: flip graph found {target.name} rank "
                                     f"{outcome.best.rank} over {ring} in {seconds:g} s")

    def _spec(self) -> ActorSpec:
        return ActorSpec(self.cfg.to_dict(), self.run_id, str(self.catalog_path))

    def _actors(self) -> Any:
        a = self.cfg.actors
        if self.ray_address is not None:
            return RayActors(self._spec(), max(1, a.num_actors), self.ray_address, self.actor_counters)
        if a.num_actors > 0:
            (self.run_dir / WEIGHTS_FILE).unlink(missing_ok=True)
            return ProcessActors(self._spec(), a.num_actors, self.run_dir / WEIGHTS_FILE, self.actor_counters)
        actors = InlineActors(self._spec())
        if self.actor_counters:
            actors.worker.set_counter(self.actor_counters[0])
        return actors

    def _publish(self) -> None:
        if self.published < 0 and self.games == 0 and self.cfg.learner.warmup_steps:
            self.display.message(f"supervised warm-up done at step {self.learner.step}: self-play starts")
        self.actors.publish(self.learner.state_dict(), self.learner.step, self.learner.model, dict(self.best))
        self.published = self.learner.step

    def _absorb(self, out: ActorOutput, catalog: Catalog | None) -> None:
        """Positions into the replay buffer, schemes into the bank and, when worth
        storing and the actor could not, the catalogue; statistics. An actor that
        reached the catalogue judged with no fresher bests than these (the learner's at
        the last publication, then its own finds, all absorbed here before), so what
        it left out is left out here too."""
        if out.positions is not None:
            self.replay.add(out.positions)
        self.games += out.games
        self.moves += out.moves
        self._window_games += out.games
        for s, solved, ret in out.log:
            self.recent[self.sources[s]].append((1.0 if solved else 0.0, float(ret)))
        for target, ring, rank, ratio in out.timings:
            self.metrics.write({"kind": "runtime", "step": self.learner.step, "time": self._elapsed(),
                                "target": target, "ring": ring, "rank": rank, "ratio": ratio,
                                "size": self.cfg.actors.runtime_size, "dtype": self.cfg.actors.runtime_dtype})
            self.display.message(f"runtime term: a {target} rank-{rank} class over {ring} runs in {ratio:.3f}× "
                                 f"numpy.matmul's time at {self.cfg.actors.runtime_size}")
        for item in out.found:
            cat_id = item.catalog_id
            key = f"{self.targets[item.target].name}/{item.scheme.ring}"
            if not item.stored and catalog is not None and \
                    worth_storing(item.scheme.rank, self.naive[item.target], self.best.get(key)):
                cat_id = catalog.add(item.scheme, method=METHOD, seed=item.seed, source=item.source,
                                     elapsed_s=item.elapsed_s).id
            self.found += 1
            self._bank(item.target, item.scheme)
            if key in self.best and (self.best[key] is None or item.scheme.rank < self.best[key]):
                self.best[key] = item.scheme.rank
                self.metrics.write({"kind": "found", "step": self.learner.step, "time": self._elapsed(),
                                    "wall": time.time(), "target": self.targets[item.target].name,
                                    "ring": str(item.scheme.ring), "rank": item.scheme.rank,
                                    "catalog_id": cat_id, "source": item.source})
                self.display.message(f"new best {key}: rank {item.scheme.rank} at step {self.learner.step}")

    def _elapsed(self) -> float:
        return self.elapsed_before + (time.monotonic() - self.t0)

    def _batch(self, rng: np.random.Generator) -> tuple[Any, int]:
        le = self.cfg.learner
        n = le.batch_size
        if len(self.replay) < max(1, le.min_replay):
            n_demo = n
        else:
            n_demo = int(round(n * le.supervised_fraction))
        n_sol = int(round(n_demo * le.solution_fraction)) if self.demos.solutions else 0
        parts = []
        if n_demo - n_sol > 0:
            parts.append(self.demos.synthetic(n_demo - n_sol, rng))
        if n_sol > 0:
            parts.append(self.demos.solution_demos(n_sol, rng))
        if n - n_demo > 0:
            parts.append(self.replay.sample(n - n_demo, rng))
        return concat_batches(parts), n_demo

    def checkpoint(self) -> Path:
        """Replay buffer (if configured), then the checkpoint, both atomic."""
        if self.cfg.run.save_replay:
            atomic_write(self.run_dir / REPLAY_FILE, self.replay.to_bytes(self.demos.bank_arrays()))
        counters = self.actors.counters() if getattr(self, "actors", None) is not None else self.actor_counters
        extra = {
            "run_id": self.run_id, "elapsed_s": self._elapsed(), "games": self.games,
            "moves": self.moves, "found": self.found, "demo_index": self.demos.index,
            "actor_counters": [int(c) for c in counters], "best": dict(self.best),
            "warmup_steps": self.cfg.learner.warmup_steps,
            "replay_size": len(self.replay), "saved_at": _now(),
            "game": {"max_steps": self.game.max_steps, "penalty_scale": self.game.penalty_scale,
                     "cyclic": self.game.cyclic,
                     "targets": list(self.cfg.game.targets), "rings": list(self.cfg.game.rings)},
            "mcts": self.cfg.to_dict()["mcts"],
            "expert": "flip" if self.cfg.learner.expert_flip_s > 0 else None,
        }
        path = save_checkpoint(self.run_dir / CHECKPOINT, self.learner.model, self.learner.optimizer,
                               self.learner.step, extra)
        self.last_checkpoint = time.monotonic()
        return path

    def _log(self, window: list[dict[str, float]], steps_in_window: int, dt: float) -> dict[str, Any]:
        doc: dict[str, Any] = {"kind": "train", "step": self.learner.step, "time": self._elapsed(),
                               "wall": time.time(),
                               "phase": phase(self.learner.step, self.cfg.learner.warmup_steps)}
        for key in ("loss", "policy_demo", "policy_play", "value", "value_error", "grad_norm"):
            doc[key] = summarize([w[key] for w in window])
        doc.update(games=self.games, positions=self.replay.added, replay=len(self.replay),
                   games_per_s=self._window_games / dt if dt > 0 else None,
                   steps_per_s=steps_in_window / dt if dt > 0 else None,
                   found=self.found, best=dict(self.best),
                   solve_rate={k: (summarize([s for s, _ in q]) if q else None) for k, q in self.recent.items()},
                   mean_return={k: (summarize([m for _, m in q]) if q else None) for k, q in self.recent.items()})
        self.metrics.write(doc)
        self.display.update(doc)
        if self.on_progress is not None:
            self.on_progress(doc)
        return doc

    def run(self) -> RunSummary:
        """Train until the time limit, the step limit or a signal; always checkpoint."""
        cfg = self.cfg
        self.display = ProgressDisplay(self.console, self.run_id, cfg.learner.warmup_steps, self.quiet)
        self._build()
        self.t0 = time.monotonic()
        start_step = self._restore() if self.resume else 0
        initial = self._initialise() if self.init is not None else None
        if self.resume and not (self.run_dir / CHECKPOINT).exists():
            raise RunError(f"{self.run_dir}: nothing to resume (no checkpoint)")
        self.metrics = MetricsLog(self.run_dir, resume_step=start_step if self.resume else None,
                                  console=None if self.quiet else self.console)
        if self.resume:
            self.metrics.write({"kind": "resume", "step": start_step, "time": self.elapsed_before,
                                "wall": time.time()})
            self.display.message(f"resumed {self.run_id} at step {start_step} "
                                 f"({len(self.replay)} replay positions, {len(self.demos.solutions)} solutions)")
        if initial is not None:
            self.metrics.write({"kind": "init", "step": 0, "from": str(initial), "wall": time.time()})
            self.display.message(f"started from the weights of {initial}")
            if cfg.learner.warmup_steps > 0:
                self.display.message(
                    f"note: {cfg.learner.warmup_steps} supervised warm-up steps come first; they can make a "
                    "trained network forget what it plays ([learner] warmup_steps = 0 fine-tunes from play)")
        if cfg.learner.expert_flip_s > 0 and not self.resume:
            self._expert_demonstrations()
        self.actors = None
        reason = "finished"
        self.last_checkpoint = time.monotonic()
        self.published = -1
        self._window_games = 0
        le, run = cfg.learner, cfg.run
        catalog = Catalog(self.catalog_path)
        try:
            self.actors = self._actors()
            with _Signals() as signals:
                window: list[dict[str, float]] = []
                t_window = time.monotonic()
                steps_window = 0
                while True:
                    if signals.reason is not None:
                        reason = signals.reason
                        break
                    session = time.monotonic() - self.t0
                    if run.time_limit_s and session >= run.time_limit_s:
                        reason = "time limit"
                        break
                    if run.max_steps and self.learner.step >= run.max_steps:
                        reason = "step limit"
                        break
                    step = self.learner.step
                    if step >= le.warmup_steps:
                        due = (step - le.warmup_steps) / le.steps_per_game
                        if self.published < 0 or (self.actors.blocking and self.published != step) or \
                                step - self.published >= run.publish_every_steps:
                            self._publish()
                        if self.actors.blocking:
                            if self.games <= due:
                                for out in self.actors.collect(wait=True):
                                    self._absorb(out, catalog)
                                continue  # re-check the stop conditions after a batch of games
                        else:
                            # concurrent actors: take what has arrived; wait (idle learner,
                            # busy actors) only when the learner is ahead of the replay ratio
                            ahead = due - self.games > cfg.actors.games_per_batch * max(1, cfg.actors.num_actors)
                            for out in self.actors.collect(wait=ahead):
                                self._absorb(out, catalog)
                            if ahead:
                                continue
                    rng = np.random.default_rng([run.seed, 1, self.learner.step])
                    batch, n_demo = self._batch(rng)
                    stats = self.learner.train_step(batch, n_demo)
                    window.append(stats.to_dict())
                    steps_window += 1
                    if self.learner.step % run.log_every_steps == 0:
                        now = time.monotonic()
                        self._log(window, steps_window, now - t_window)
                        window, steps_window, t_window, self._window_games = [], 0, now, 0
                    if time.monotonic() - self.last_checkpoint >= run.checkpoint_every_s:
                        self.checkpoint()
                path = self.checkpoint()
        finally:
            if self.actors is not None:
                self.actors.close()
            catalog.close()
            self.display.close()
            if hasattr(self, "metrics"):
                try:
                    self.metrics.write({"kind": "stop", "step": self.learner.step, "time": self._elapsed(),
                                        "wall": time.time(), "reason": reason})
                finally:
                    self.metrics.close()
        return RunSummary(self.run_id, self.run_dir, self.learner.step, self._elapsed(),
                          time.monotonic() - self.t0, self.games, self.found, dict(self.best),
                          reason, path, cfg.learner.warmup_steps)
