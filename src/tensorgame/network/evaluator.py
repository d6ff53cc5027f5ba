"""The network as the tree search's evaluator.

Implements the contract of :mod:`tensorgame.search.mcts.types`: called with a batch of
observations, the number K of candidates wanted and the games' real sides
(``state.dims``, which the legality masks need and an observation does not carry), it
returns K legal moves per game sampled from the policy, their log-probabilities under
the sampling policy, and the risk-seeking value of each observation.

Sampling temperature. With ``temperature`` T != 1 the logits of every token are divided
by T (per-token tempering; tempering the distribution over whole moves exactly would
need a sum over all |C|^(3S) moves). ``log_probs`` are then the exact log-probabilities
under this tempered policy β, which is close to, but not exactly, the β ∝ π^(1/T) that
the search's prior correction assumes; at T = 1 (the default) β = π exactly. Set T to
the search's ``MCTSConfig.sampling_temperature``.

On the network's region board the batch is evaluated in groups of equal board side
(:func:`~tensorgame.network.model.board_sides`): each game costs what it costs on its
own board, and gets the same outputs as in any other batch.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import torch

from tensorgame.game.state import Observation
from tensorgame.network.model import AlphaTensorNet, board_sides
from tensorgame.search.mcts.types import Evaluation


class NetworkEvaluator:
    """Wraps an :class:`AlphaTensorNet` (moved to ``device``; ``.to`` works in place,
    so give each actor its own copy of a model that a learner keeps training).
    ``seed`` makes the sampling reproducible (a generator on ``device``)."""

    def __init__(self, model: AlphaTensorNet, device: torch.device | str = "cpu",
                 temperature: float = 1.0, seed: int | None = None) -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.temperature = float(temperature)
        self.generator: torch.Generator | None = None
        if seed is not None:
            self.generator = torch.Generator(device=self.device)
            self.generator.manual_seed(int(seed))

    def __call__(self, obs: Observation, num_samples: int, dims: np.ndarray) -> Evaluation:
        """K = ``num_samples`` candidates per observation (see the module doc)."""
        model = self.model
        dims = np.asarray(dims)
        sides = board_sides(model.config, dims)
        b, s = len(sides), model.config.max_side
        out = Evaluation(np.zeros((b, num_samples, 3, s), np.int8), np.zeros((b, num_samples), np.float32),
                         np.zeros(b, np.float32))
        was_training = model.training
        model.eval()  # no dropout while searching; the mode is restored afterwards
        try:
            with torch.inference_mode():
                for side in np.unique(sides):
                    rows = np.flatnonzero(sides == side)
                    group = obs if len(rows) == b else Observation(
                        *(np.asarray(getattr(obs, f.name))[rows] for f in fields(Observation)))
                    inp = model.prepare(group, dims[rows])
                    embedding, quantiles = model(inp)
                    moves, log_probs = model.sample(inp, num_samples, self.temperature,
                                                    embedding=embedding, generator=self.generator)
                    out.moves[rows] = moves.cpu().numpy()
                    out.log_probs[rows] = log_probs.cpu().numpy()
                    out.values[rows] = model.risk_seeking_value(quantiles).cpu().numpy()
        finally:
            model.train(was_training)
        return out
