"""Training the AlphaTensor-style agent: config, demonstrations, replay, learner,
self-play actors, the run loop with checkpoints and resume, reports, and acting with
a trained agent.

* :mod:`.config` — :class:`TrainConfig` (TOML/JSON, strict);
* :mod:`.demos` — synthetic and self-found demonstrations as game positions;
* :mod:`.replay` — :class:`TrainBatch`, the self-play :class:`ReplayBuffer` (npz);
* :mod:`.learner` — the loss and the optimisation step;
* :mod:`.actors` — the self-play worker, inline / process / Ray;
* :mod:`.metrics` — metrics.jsonl, TensorBoard, the progress display;
* :mod:`.run` — :class:`Trainer`: run directory, loop, checkpoints, resume, signals;
* :mod:`.report` — PNG plots from metrics.jsonl;
* :mod:`.agent` — load a checkpoint and play (discover, benchmarks).
"""

from tensorgame.training.config import ConfigError, TrainConfig, config_from_dict, load_config

__all__ = ["ConfigError", "TrainConfig", "config_from_dict", "load_config"]
