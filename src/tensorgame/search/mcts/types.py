"""The evaluator contract between the tree search and whatever proposes moves.

The search never imports a network library: anything callable with this signature can
guide it (a torch network wrapped by an actor, a toy sampler in the tests, a
heuristic). The evaluator *samples* the candidate moves itself because only it knows
how to draw legal moves from its policy (an autoregressive head, for instance); the
search only sees the samples, their log-probabilities and a value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from tensorgame.game.state import Observation


@dataclass(frozen=True)
class Evaluation:
    """What an evaluator returns for a batch of B observations.

    ``moves`` (B, K, 3, S) int8: K candidate moves drawn from the sampling policy β,
    duplicates allowed (the search merges them and uses their frequencies);
    ``log_probs`` (B, K) float32: log β of each candidate (only used to correct the
    priors when β is a tempered policy, see :class:`~.config.MCTSConfig`);
    ``values`` (B,) float32: expected future return of the observation (<= 0, in the
    game's units: minus the moves still to come, plus any terminal penalty).
    """

    moves: np.ndarray
    log_probs: np.ndarray
    values: np.ndarray


class Evaluator(Protocol):
    """Proposes K legal candidate moves and a value for each observation.

    ``dims`` is ``state.dims`` (B, 3): the real factor lengths, which legal sampling
    needs (coefficients past a factor's length must be zero).
    """

    def __call__(self, obs: Observation, num_samples: int, dims: np.ndarray) -> Evaluation: ...
