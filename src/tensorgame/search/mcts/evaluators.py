"""Network-free evaluators: uniform legal sampling (a baseline, the benchmark's cheap
evaluator, and the "no knowledge" arm of the tests)."""

from __future__ import annotations

import numpy as np

from tensorgame.game.config import GameConfig
from tensorgame.game.state import Observation
from tensorgame.search.mcts.types import Evaluation


class UniformEvaluator:
    """Samples each factor uniformly among the non-zero vectors over the game's legal
    coefficients (its real length only, zero padding), independently; constant value.

    ``log_probs`` are exact: -Σ_f log(|C|^d_f - 1), C the legal coefficients of the
    game's ring and d_f the factor lengths.
    """

    def __init__(self, config: GameConfig, seed: int | np.random.Generator = 0,
                 value: float = 0.0) -> None:
        self.config = config
        self.rng = np.random.default_rng(seed)
        self.value = float(value)

    def sample(self, num_samples: int, dims: np.ndarray, modulus: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(B, K, 3, S) int8 legal moves and their (B, K) log-probabilities."""
        batch, side = dims.shape[0], self.config.max_side
        moves = np.zeros((batch, num_samples, 3, side), dtype=np.int8)
        log_probs = np.zeros((batch, num_samples), dtype=np.float32)
        position = np.arange(side)
        for p in np.unique(modulus):
            games = np.flatnonzero(modulus == p)
            values = np.asarray(self.config.legal_values(int(p)), dtype=np.int8)
            mask = position[None, None, :] < dims[games][:, :, None]  # (g, 3, S)
            draw = values[self.rng.integers(len(values), size=(len(games), num_samples, 3, side))]
            draw *= mask[:, None]
            zero = ~draw.any(axis=3)
            while zero.any():  # rejection keeps the distribution uniform over non-zero vectors
                g, k, f = np.nonzero(zero)
                draw[g, k, f] = values[self.rng.integers(len(values), size=(len(g), side))] * mask[g, f]
                zero = ~draw.any(axis=3)
            moves[games] = draw
            sizes = np.log(np.power(float(len(values)), dims[games]) - 1.0).sum(axis=1)
            log_probs[games] = -sizes[:, None]
        return moves, log_probs

    def __call__(self, obs: Observation, num_samples: int, dims: np.ndarray) -> Evaluation:
        moves, log_probs = self.sample(num_samples, np.asarray(dims), np.asarray(obs.modulus))
        return Evaluation(moves, log_probs, np.full(len(dims), self.value, dtype=np.float32))
