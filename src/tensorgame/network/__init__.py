"""The AlphaTensor network: torso with axial attention over three grids, autoregressive
policy head over move tokens, quantile value head; losses, the search evaluator and
checkpoints.

* :mod:`.config` — :class:`NetworkConfig` (JSON round trip);
* :mod:`.tokens` — moves <-> token sequences, legality masks;
* :mod:`.model` — :class:`AlphaTensorNet`, :class:`NetInput`, :func:`widened`, :func:`signed`;
* :mod:`.losses` — :func:`policy_loss`, :func:`quantile_loss`;
* :mod:`.evaluator` — :class:`NetworkEvaluator` (the tree search's evaluator);
* :mod:`.checkpoint` — :func:`save_checkpoint`, :func:`load_checkpoint`.
"""

from tensorgame.network.checkpoint import load_checkpoint, save_checkpoint
from tensorgame.network.config import NetworkConfig
from tensorgame.network.errors import CheckpointError, NetworkError
from tensorgame.network.evaluator import NetworkEvaluator
from tensorgame.network.losses import policy_loss, quantile_loss
from tensorgame.network.model import (
    AlphaTensorNet,
    NetInput,
    board_sides,
    signed,
    widened,
)
from tensorgame.network.tokens import MoveCodec, TokenMasks, detokenize, tokenize

__all__ = [
    "AlphaTensorNet", "CheckpointError", "MoveCodec", "NetInput", "NetworkConfig",
    "NetworkError", "NetworkEvaluator", "TokenMasks", "board_sides", "detokenize", "load_checkpoint",
    "policy_loss", "quantile_loss", "save_checkpoint", "signed", "tokenize", "widened",
]
