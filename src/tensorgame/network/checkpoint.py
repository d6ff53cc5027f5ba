"""Checkpoints of an :class:`AlphaTensorNet` (and optionally its optimiser).

A checkpoint is one ``torch.save`` file holding a dict of plain data only:

* ``format``: "tensorgame-network", ``version``: 1;
* ``config``: the :class:`NetworkConfig` as a JSON-style dict (the model is rebuilt from
  it, so a checkpoint is self-describing);
* ``model``: the state dict, on the CPU (loadable on any device);
* ``optimizer``: the optimiser's state dict or None; ``step``: an int;
* ``extra``: a dict of JSON-style values and tensors chosen by the caller.

Writing is atomic (bytes assembled in memory, then :func:`tensorgame.fileio.atomic_write`),
so a crash mid-save never leaves a half-written checkpoint. Reading uses
``torch.load(weights_only=True)`` only: a checkpoint is data, never code, so a file from
elsewhere cannot run anything. Sizes are checked before anything is built: the file and
the sizes its zip archive declares against the memory budget
(:func:`~tensorgame.network.config.memory_budget_bytes`), the network config's
parameter count by :class:`NetworkConfig` itself. Anything wrong with a file (unreadable, truncated,
corrupted, another program's pickle, a config or weights that do not fit) raises a
one-line :class:`CheckpointError`.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import torch

from tensorgame.errors import TensorGameError
from tensorgame.fileio import atomic_write, open_zip, read_bytes
from tensorgame.network.config import NetworkConfig, memory_budget_bytes
from tensorgame.network.errors import CheckpointError, NetworkError
from tensorgame.network.model import AlphaTensorNet

FORMAT = "tensorgame-network"
VERSION = 1
_KEYS = {"format", "version", "config", "model", "optimizer", "step", "extra"}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if len(line) <= 200 else line[:197] + "..."


def _check_plain(value: Any, where: str) -> None:
    """Only values that ``torch.load(weights_only=True)`` reads back."""
    if value is None or isinstance(value, (bool, int, float, str, torch.Tensor)):
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CheckpointError(f"{where}: keys must be strings, got {key!r}")
            _check_plain(item, f"{where}[{key!r}]")
        return
    raise CheckpointError(f"{where}: a {type(value).__name__} cannot be stored in a checkpoint "
                          "(use numbers, strings, lists, dicts or tensors)")


def save_checkpoint(path: str | Path, model: AlphaTensorNet,
                    optimizer: torch.optim.Optimizer | None = None, step: int = 0,
                    extra: dict[str, Any] | None = None) -> Path:
    """Atomically write ``model`` (config + weights), the optimiser state, ``step`` and
    ``extra`` to ``path``; returns the path."""
    extra = {} if extra is None else extra
    if not isinstance(extra, dict):
        raise CheckpointError(f"extra must be a dict, got {type(extra).__name__}")
    _check_plain(extra, "extra")
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": model.config.to_dict(),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "step": int(step),
        "extra": extra,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    path = Path(path)
    try:
        atomic_write(path, buffer.getvalue())
    except TensorGameError as exc:
        raise CheckpointError(str(exc)) from None
    return path


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu"
                    ) -> tuple[AlphaTensorNet, dict[str, Any] | None, int, dict[str, Any]]:
    """(model on ``device``, optimiser state dict or None, step, extra) of a checkpoint
    written by :func:`save_checkpoint`. Load the optimiser state with
    ``optimizer.load_state_dict`` after building the optimiser on the model."""
    path = Path(path)
    budget = memory_budget_bytes()
    try:
        data = read_bytes(path, budget)
    except TensorGameError as exc:
        raise CheckpointError(str(exc)) from None
    try:
        open_zip(data, max_member=budget, max_total=budget)  # torch.save writes a zip
    except TensorGameError as exc:
        raise CheckpointError(f"{path}: not a tensorgame network checkpoint ({exc})") from None
    try:
        with warnings.catch_warnings():  # a foreign pickle's protocol warning is noise here
            warnings.simplefilter("ignore")
            payload = torch.load(io.BytesIO(data), map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any parse failure of untrusted bytes is a bad file
        raise CheckpointError(f"{path}: not a tensorgame network checkpoint ({_first_line(exc)})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a tensorgame network checkpoint (no '{FORMAT}' marker)")
    if payload.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {payload.get('version')!r} is not "
                              f"supported (expected {VERSION})")
    if set(payload) != _KEYS:
        raise CheckpointError(f"{path}: checkpoint keys {sorted(payload)} differ from {sorted(_KEYS)}")
    try:
        config = NetworkConfig.from_dict(payload["config"])
    except NetworkError as exc:
        raise CheckpointError(f"{path}: bad network config ({exc})") from None
    weights = payload["model"]
    if not isinstance(weights, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in weights.items()):
        raise CheckpointError(f"{path}: the model weights are not a state dict")
    model = AlphaTensorNet(config)
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit the network ({_first_line(exc)})") from None
    optimizer, step, extra = payload["optimizer"], payload["step"], payload["extra"]
    if optimizer is not None and not isinstance(optimizer, dict):
        raise CheckpointError(f"{path}: the optimiser state is not a dict")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise CheckpointError(f"{path}: bad step {step!r}")
    if not isinstance(extra, dict):
        raise CheckpointError(f"{path}: 'extra' is not a dict")
    return model.to(device), optimizer, step, extra
