"""Sampled AlphaZero tree search for TensorGame (network-agnostic).

* :mod:`.types` — the evaluator contract (:class:`Evaluation`, :class:`Evaluator`);
* :mod:`.config` — :class:`MCTSConfig`;
* :mod:`.tree` — the flat-array forest and :func:`advance` (tree reuse);
* :mod:`.search` — :func:`run_search` over one or many roots at once;
* :mod:`.play` — self-play games with their training targets;
* :mod:`.evaluators` — :class:`UniformEvaluator`, a network-free baseline.
"""

from tensorgame.search.mcts.config import MCTSConfig
from tensorgame.search.mcts.evaluators import UniformEvaluator
from tensorgame.search.mcts.play import EpisodeResult, play_episode, play_games
from tensorgame.search.mcts.search import SearchOutput, run_search
from tensorgame.search.mcts.tree import Tree, advance
from tensorgame.search.mcts.types import Evaluation, Evaluator

__all__ = [
    "EpisodeResult", "Evaluation", "Evaluator", "MCTSConfig", "SearchOutput", "Tree",
    "UniformEvaluator", "advance", "play_episode", "play_games", "run_search",
]
