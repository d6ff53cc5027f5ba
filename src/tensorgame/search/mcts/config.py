"""Search settings (explicit, immutable, validated once)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MCTSConfig:
    """Settings of the sampled tree search.

    ``num_simulations``: new simulations per search and per root (a reused subtree's
    visits come on top). ``num_samples``: K, candidates the evaluator draws per expanded
    node; a node's children are the distinct ones among them.

    Selection uses MuZero's pUCT: score = Q̄ + P·√N·(c1 + log((N + c2 + 1)/c2))/(1 + n),
    with Q̄ the child's Q = reward + mean value, min-max normalised to [0, 1] over the
    tree (values are returns in [-limit - penalty, 0], an unknown scale). An unvisited
    child takes its parent's mean value as Q (neither optimistic nor pessimistic about
    moves nobody has tried, which suits a game where every move costs -1).

    ``dirichlet_alpha``/``dirichlet_fraction``: noise mixed into the root priors at
    every search (exploration for self-play; use fraction 0 to evaluate).
    ``temperature``: the final move is drawn with probability ∝ visits^(1/T); 0 picks
    the most visited (ties: the larger prior, then the first sampled).

    ``sampling_temperature``: τ of the evaluator's sampling policy β ∝ π^(1/τ). Sampled
    AlphaZero uses the prior (β̂/β)·π, β̂ the empirical frequency of a move among the K
    samples; with β = π (τ = 1) that is β̂ itself, otherwise π/β ∝ β^(τ-1), so the prior
    is β̂·β^(τ-1), renormalised over the node's children.

    ``leaf_batch``: leaves selected per tree before one evaluator call (virtual loss
    keeps them apart); the call evaluates up to roots × leaf_batch observations, so
    several roots searched together fill a batch with a small ``leaf_batch``.
    """

    num_simulations: int = 64
    num_samples: int = 16
    c1: float = 1.25
    c2: float = 19652.0
    dirichlet_alpha: float = 0.3
    dirichlet_fraction: float = 0.25
    temperature: float = 1.0
    sampling_temperature: float = 1.0
    leaf_batch: int = 4

    def __post_init__(self) -> None:
        if self.num_simulations < 0:
            raise ValueError(f"num_simulations must be >= 0, got {self.num_simulations}")
        if self.num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {self.num_samples}")
        if self.leaf_batch < 1:
            raise ValueError(f"leaf_batch must be >= 1, got {self.leaf_batch}")
        if self.c1 < 0 or self.c2 <= 0:
            raise ValueError(f"need c1 >= 0 and c2 > 0, got {self.c1}, {self.c2}")
        if not 0.0 <= self.dirichlet_fraction <= 1.0:
            raise ValueError(f"dirichlet_fraction must be in [0, 1], got {self.dirichlet_fraction}")
        if self.dirichlet_fraction > 0 and self.dirichlet_alpha <= 0:
            raise ValueError(f"dirichlet_alpha must be > 0, got {self.dirichlet_alpha}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.sampling_temperature <= 0:
            raise ValueError(f"sampling_temperature must be > 0, got {self.sampling_temperature}")
