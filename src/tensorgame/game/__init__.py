"""TensorGame: the environment, synthetic demonstrations, bases and augmentations.

This layer is pure numpy/numba (no network code): a tree search or a trainer drives
it through :class:`TensorGame` and the batched :class:`GameState`.

* :mod:`.env` — reset / legal / step / terminal / scheme extraction / catalogue store;
* :mod:`.state` — the struct-of-arrays state with cheap clone, restore, take, put;
* :mod:`.rank_bound` — the terminal penalty (min over modes of summed slice ranks);
* :mod:`.basis` — unimodular changes of basis, exact inverse maps, basis pools;
* :mod:`.synthetic` — seeded <tensor, factors> demonstrations; :mod:`.shards` — npz shards;
* :mod:`.augment` — term-order, sign and matmul-symmetry augmentations;
* :mod:`.cyclic` — cyclic-symmetric moves of <n,n,n> (a move places a whole orbit).
"""

from tensorgame.game.augment import (
    augment,
    augment_scheme,
    flip_signs,
    matmul_symmetry,
    permute_terms,
    random_square_symmetry,
    swap_with_last,
)
from tensorgame.game.basis import Basis, BasisPool, unimodular_inverse
from tensorgame.game.config import GameConfig
from tensorgame.game.env import TensorGame
from tensorgame.game.errors import GameError, IllegalMoveError
from tensorgame.game.rank_bound import matrix_rank, mode_slice_rank_sums, rank_upper_bound
from tensorgame.game.shards import iter_shards, load_shard, save_shard, write_shards
from tensorgame.game.state import GameSpec, GameState, Observation
from tensorgame.game.synthetic import (
    DemoBatch,
    SyntheticConfig,
    SyntheticGenerator,
    compose,
    matmul_formats,
)

__all__ = [
    "Basis", "BasisPool", "DemoBatch", "GameConfig", "GameError", "GameSpec", "GameState",
    "IllegalMoveError", "Observation", "SyntheticConfig", "SyntheticGenerator", "TensorGame",
    "augment", "augment_scheme", "compose", "flip_signs", "iter_shards", "load_shard",
    "matmul_formats", "matmul_symmetry", "matrix_rank", "mode_slice_rank_sums",
    "permute_terms", "random_square_symmetry", "rank_upper_bound", "save_shard",
    "swap_with_last", "unimodular_inverse", "write_shards",
]
