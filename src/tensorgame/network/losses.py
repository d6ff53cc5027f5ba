"""Training losses of the network.

* :func:`policy_loss`: cross-entropy toward target moves. A demonstration is one
  target move per observation (weight 1); a search result is K candidate moves with
  the search's improved policy π over them (e.g. normalised visit counts), and the loss
  is -Σ_k π_k log p(move_k), as in Sampled AlphaZero. log p is the probability of the
  whole move (the sum of its token log-probabilities) under the *masked* policy, the
  same distribution the sampler draws from, so the network never spends capacity on
  illegal tokens.
* :func:`quantile_loss`: quantile regression with the Huber loss (QR-DQN): for
  quantile i at level τ_i = (2i + 1) / (2N) and error u = target - prediction,
  |τ_i - 1{u < 0}| · Huber_κ(u) / κ, summed over quantiles and averaged over targets
  and batch. Its minimiser is the τ_i-quantile of the return distribution, which is
  what the risk-seeking value needs (a mean-squared value would only give the mean).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tensorgame.network.errors import NetworkError
from tensorgame.network.model import AlphaTensorNet, NetInput


def policy_loss(model: AlphaTensorNet, inp: NetInput, embedding: torch.Tensor,
                moves: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over the batch of -Σ_k weights_k · log p(moves_k).

    ``moves``: (B, 3, S) demonstrations (weight 1 each) or (B, K, 3, S) candidates with
    ``weights`` (B, K) (the search's target probabilities; rows normally sum to 1;
    candidates of weight 0 do not contribute even if illegal). A target move of positive
    weight that is illegal for its game (zero factor, non-zero padding, a value outside
    the ring) has probability 0 under the masked policy: NetworkError.
    """
    if moves.dim() == 3:
        moves = moves[:, None]
        if weights is not None:
            raise NetworkError("weights are for (B, K, 3, S) candidate moves")
    if weights is None:
        weights = torch.ones(moves.shape[:2], device=embedding.device)
    weights = weights.to(embedding.device, torch.float32)
    if weights.shape != moves.shape[:2]:
        raise NetworkError(f"weights must have shape {tuple(moves.shape[:2])}, got {tuple(weights.shape)}")
    logp = model.log_prob(inp, embedding, moves)
    live = weights > 0
    if torch.isinf(logp[live]).any():
        b, k = (int(x) for x in torch.nonzero(live & torch.isinf(logp))[0])
        raise NetworkError(f"target move {k} of game {b} is illegal for that game")
    return -(torch.where(live, logp, torch.zeros_like(logp)) * weights).sum(dim=1).mean()


def quantile_loss(pred_quantiles: torch.Tensor, target_returns: torch.Tensor,
                  kappa: float = 1.0) -> torch.Tensor:
    """QR-DQN quantile Huber loss of predictions (B, N) against returns (B,) or (B, M)
    (M samples of the return per observation)."""
    if kappa <= 0:
        raise NetworkError(f"kappa must be > 0, got {kappa}")
    target = target_returns.to(pred_quantiles.device, pred_quantiles.dtype)
    if target.dim() == 1:
        target = target[:, None]
    if target.dim() != 2 or target.shape[0] != pred_quantiles.shape[0]:
        raise NetworkError(f"targets of shape {tuple(target_returns.shape)} do not fit predictions "
                           f"of shape {tuple(pred_quantiles.shape)}")
    n = pred_quantiles.shape[1]
    tau = (torch.arange(n, device=pred_quantiles.device, dtype=pred_quantiles.dtype) + 0.5) / n
    error = target[:, None, :] - pred_quantiles[:, :, None]  # (B, N, M)
    huber = F.huber_loss(pred_quantiles[:, :, None].expand_as(error), target[:, None, :].expand_as(error),
                         reduction="none", delta=kappa)
    weight = torch.abs(tau[None, :, None] - (error.detach() < 0).to(error.dtype))
    return (weight * huber / kappa).sum(dim=1).mean()
