"""The learner: the loss and one optimisation step.

Loss of a batch = policy loss + ``value_weight`` × value loss, where

* the policy loss is the cross-entropy toward the batch's target moves: a
  demonstration's next term (weight 1; supervised learning on synthetic or found
  decompositions) or a self-play position's root candidates weighted by the search's
  visit distribution (the AlphaZero / Sampled AlphaZero policy target). Both use the
  masked policy the sampler draws from (:func:`tensorgame.network.policy_loss`'s
  definition, computed per part here so that demonstrations and search targets are
  reported separately and a 1-candidate demonstration is not padded to K);
* the value loss is the quantile regression loss of the value head toward the
  observed return from each position (self-play: the return-to-go, terminal penalty
  included; demonstrations: minus the terms still to play), so the risk-seeking value
  the search uses is an upper quantile of the returns.

Why one step mixes both (rather than pre-training then fine-tuning): the paper
trained on a mix throughout, and the demonstrations keep the policy able to decompose
low-rank residuals while self-play moves it toward the targets.

On the network's region board a batch is computed in groups of equal board side
(:func:`~tensorgame.network.board_sides`), so small formats in a run padded for large
ones cost what they cost on their own board; the loss is the same as on one batch.

``torch.set_num_threads(1)``: measured on these shared CPUs, two threads made the
S = 4 step 30x slower; every process that runs the network sets it (see
:func:`single_thread`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from tensorgame.network import (
    AlphaTensorNet,
    NetInput,
    NetworkConfig,
    board_sides,
    quantile_loss,
)
from tensorgame.network.errors import NetworkError
from tensorgame.training.config import LearnerConfig
from tensorgame.training.replay import TrainBatch


def single_thread() -> None:
    """One intra-op thread (see the module doc); safe to call repeatedly."""
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


def _take(inp: NetInput, rows: torch.Tensor) -> NetInput:
    return NetInput(inp.residual[rows], inp.history[rows], inp.step[rows], inp.remaining[rows],
                    inp.modulus[rows], inp.dims[rows])


@dataclass(frozen=True)
class StepStats:
    """Losses of one step (floats, for logging)."""

    loss: float
    policy_demo: float
    policy_play: float
    value: float
    value_error: float  # mean |risk-seeking value - target| on the batch (a readable scale)
    grad_norm: float

    def to_dict(self) -> dict[str, float]:
        return {"loss": self.loss, "policy_demo": self.policy_demo, "policy_play": self.policy_play,
                "value": self.value, "value_error": self.value_error, "grad_norm": self.grad_norm}


class Learner:
    """A network, its AdamW optimiser and the step counter."""

    def __init__(self, network: NetworkConfig, config: LearnerConfig, seed: int = 0,
                 device: str | torch.device = "cpu") -> None:
        single_thread()
        torch.manual_seed(int(seed))
        self.config = config
        self.device = torch.device(device)
        self.model = AlphaTensorNet(network).to(self.device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr,
                                           weight_decay=config.weight_decay)
        self.step = 0

    def load(self, model: AlphaTensorNet, optimizer_state: dict[str, Any] | None, step: int) -> None:
        """Continue from a checkpoint's weights, optimiser state and step."""
        self.model.load_state_dict(model.state_dict())
        if optimizer_state is not None:
            try:
                self.optimizer.load_state_dict(optimizer_state)
            except (ValueError, KeyError, RuntimeError) as exc:
                raise NetworkError(f"the checkpoint's optimiser state does not fit ({exc})") from None
        self.step = int(step)

    def _policy(self, inp: NetInput, embedding: torch.Tensor, moves: np.ndarray,
                weights: np.ndarray) -> torch.Tensor:
        """Per-position -Σ_k w_k log p(move_k) (B,)."""
        mv = torch.from_numpy(np.ascontiguousarray(moves)).to(self.device)
        w = torch.from_numpy(np.ascontiguousarray(weights, dtype=np.float32)).to(self.device)
        logp = self.model.log_prob(inp, embedding, mv)
        live = w > 0
        if torch.isinf(logp[live]).any():
            raise NetworkError("a policy target move is illegal for its game (a data bug)")
        return -(torch.where(live, logp, torch.zeros_like(logp)) * w).sum(dim=1)

    def _batch_order(self, parts: list[np.ndarray]) -> torch.Tensor:
        """Index that puts rows computed part by part back in batch order."""
        return torch.from_numpy(np.argsort(np.concatenate(parts))).to(self.device)

    def losses(self, batch: TrainBatch, num_demos: int) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss of a batch whose first ``num_demos`` rows are demonstrations."""
        model = self.model
        sides = board_sides(model.config, batch.dims)
        group_rows, quantile_parts, policy_rows, policies = [], [], [], []
        for side in np.unique(sides):
            rows = np.flatnonzero(sides == side)
            group = batch.take(rows)
            inp = model.prepare(group.observation(), group.dims)
            embedding, quantiles = model(inp)
            group_rows.append(rows)
            quantile_parts.append(quantiles)
            demo_rows = int(np.searchsorted(rows, num_demos))  # rows are sorted
            for part in (slice(0, demo_rows), slice(demo_rows, len(rows))):  # demos: width 1
                if part.stop > part.start:
                    idx = torch.arange(part.start, part.stop, device=self.device)
                    width = int((group.weights[part] > 0).sum(axis=1).max())
                    policies.append(self._policy(_take(inp, idx), embedding[idx], group.moves[part, :width],
                                                 group.weights[part, :width]))
                    policy_rows.append(rows[part])
        per_row = torch.cat(policies)[self._batch_order(policy_rows)]
        quantiles = torch.cat(quantile_parts)[self._batch_order(group_rows)]
        policy = per_row.mean()
        demo = float(per_row[:num_demos].detach().mean()) if num_demos > 0 else float("nan")
        play = float(per_row[num_demos:].detach().mean()) if num_demos < len(batch) else float("nan")
        mask = torch.from_numpy(batch.value_mask).to(self.device)
        target = torch.from_numpy(batch.value.astype(np.float32)).to(self.device)
        if bool(mask.any()):
            value = quantile_loss(quantiles[mask], target[mask])
            with torch.no_grad():
                err = float((model.risk_seeking_value(quantiles[mask]) - target[mask]).abs().mean())
        else:
            value = quantiles.sum() * 0.0
            err = float("nan")
        loss = policy + self.config.value_weight * value
        return loss, {"policy_demo": demo, "policy_play": play, "value": float(value.detach()), "value_error": err}

    def train_step(self, batch: TrainBatch, num_demos: int) -> StepStats:
        """One AdamW step on ``batch`` (first ``num_demos`` rows are demonstrations)."""
        self.model.train()
        loss, parts = self.losses(batch, num_demos)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip > 0:
            norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip))
        else:
            norm = float(torch.sqrt(sum((p.grad.detach() ** 2).sum() for p in self.model.parameters()
                                        if p.grad is not None)))
        self.optimizer.step()
        self.step += 1
        return StepStats(loss=float(loss.detach()), grad_norm=norm, **parts)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """CPU copies of the weights (what actors receive)."""
        return {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
