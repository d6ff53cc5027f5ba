"""AlphaTensorNet: torso with axial attention over three grids, an autoregressive policy
head and a distributional value head.

Input (:class:`NetInput`, built from a game :class:`~tensorgame.game.state.Observation`
plus the games' real sides by :meth:`AlphaTensorNet.prepare`):

* a cube of C = h + 2 channels per entry (i, j, k) of the padded S×S×S state: the
  residual, an indicator of the game's real region (i < I, j < J, k < K: the network
  then knows the target's shape even where the residual is zero) and, for each of the h
  past moves, the outer product u⊗v⊗w of that move — the exact change it made to the
  state, in the same coordinates as the residual. Values pass through
  sign(x)·log(1 + |x|) so that large integer residuals stay in a trainable range
  while 0, ±1 and ±2 remain distinct;
* scalars: log(1 + step), log(1 + remaining), step/32, remaining/32 (a linear map),
  and the ring as a learned embedding of min(modulus, 7) (Z, Z2, Z3, Z5, larger p).

Torso. The cube is turned into three S×S grids, one per pair of axes: G0 over (i, j),
G1 over (j, k), G2 over (k, i); each cell of G0 is a learned linear map of the S·C
values along the third axis k (likewise i for G1, j for G2). Learned position
embeddings (per grid and cell) and the scalar embedding (same for every cell) are
added. Each torso layer then applies three pre-norm attention blocks, one per pair of
grids sharing an axis, (G0, G1) share j, (G1, G2) share k, (G2, G0) share i: for each
value of the shared axis the row of one grid and the matching row of the other are
concatenated into a sequence of 2S cells and attended over (then a feed-forward
block). So every grid attends along both of its axes once per layer and exchanges
information with both other grids: the generalised axial attention of AlphaTensor in
its simplest faithful form. The output is the 3·S² cell embeddings (layer-normed).
On the ``padded`` board, padding cells are not masked: they carry the region indicator
and the attention learns to ignore them. On the ``region`` board (``NetworkConfig.board``)
attention only reads cells inside the game's region, the value head averages those
cells only, the policy's cross-attention reads only them and moves are spelled over the
real coefficients (:mod:`~tensorgame.network.tokens`): a game's outputs are then those
of the same weights cut down to its own sides, whatever S and whatever else is in the
batch. So the region board also computes on a board cut down to the batch's largest
game (:meth:`AlphaTensorNet.prepare`; the input maps read the first s entries of each
line, the position tables their first s rows), and :func:`board_sides` lets callers
group games of equal sides: a <2,2,2> game in a network built for side 9 costs what it
costs on a board of 4.

Policy head. A pre-norm transformer decoder over the L move tokens (see
:mod:`~tensorgame.network.tokens`): causal self-attention among the tokens emitted so
far, cross-attention to the 3·S² torso cells, feed-forward. K sequences per game
(sampled candidates, or candidates scored for the search's policy target) are folded
into the query axis of the cross-attention, so the torso cells are never copied K
times. Sampling is incremental (cached self-attention keys/values, L decoder steps),
and masks illegal tokens before each draw (padding, Z_p range, no zero factor).

Value head. Mean of the torso cells -> MLP -> ``quantiles`` values (times
``value_scale``), read as quantiles at levels (2i+1)/(2N) of the return (QR-DQN).
The search uses the risk-seeking value: the mean of the largest
``risk_quantile_fraction`` of them.

The output layers of both heads start at zero: a fresh network's policy is uniform over
the legal tokens and its value is 0.

Everything is created on the module's device (``model.to(device)``); nothing assumes
CUDA.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tensorgame.game.state import Observation
from tensorgame.network.config import NetworkConfig
from tensorgame.network.errors import NetworkError
from tensorgame.network.tokens import MoveCodec, TokenMasks, codec_for

#: Ring embedding rows: modulus clipped to 0..RING_BUCKETS-1 (0 = Z).
RING_BUCKETS = 8
#: Scale of the linear step features (a game rarely lasts more than a few dozen moves).
STEP_SCALE = 32.0

KeyValue = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True, eq=False)
class NetInput:
    """A batch of observations as tensors on the network's device.

    ``residual`` (B, s, s, s) and ``history`` (B, h, 3, s) float32 (raw integer values;
    s = S on the padded board, the batch's largest side on the region board),
    ``step`` and ``remaining`` (B,) float32, ``modulus`` (B,) int64 (0 = Z, p = Z_p),
    ``dims`` (B, 3) int64: the real sides of each game's target (legality masks and the
    region channel depend on them; an observation does not carry them).
    """

    residual: torch.Tensor
    history: torch.Tensor
    step: torch.Tensor
    remaining: torch.Tensor
    modulus: torch.Tensor
    dims: torch.Tensor

    @property
    def batch_size(self) -> int:
        return int(self.residual.shape[0])

    @property
    def side(self) -> int:
        """The side s of the board these games are computed on."""
        return int(self.residual.shape[1])


def _squash(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.log1p(torch.abs(x))


class _Attention(nn.Module):
    """Multi-head attention whose keys/values can be computed once and reused (cross-
    attention memory, incremental decoding)."""

    def __init__(self, d: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.query = nn.Linear(d, d)
        self.key_value = nn.Linear(d, 2 * d)
        self.out = nn.Linear(d, d)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        return x.reshape(n, t, self.heads, d // self.heads).transpose(1, 2)

    def keys_values(self, x: torch.Tensor) -> KeyValue:
        """(N, T, d) -> keys and values, each (N, heads, T, d/heads)."""
        k, v = self.key_value(x).chunk(2, dim=-1)
        return self._split(k), self._split(v)

    def forward(self, x: torch.Tensor, kv: KeyValue, causal: bool = False,
                keys: torch.Tensor | None = None) -> torch.Tensor:
        """Queries from x (N, T, d) attend over kv (only the keys where ``keys`` (N, T_kv)
        is True, if given); returns (N, T, d)."""
        n, t, d = x.shape
        out = F.scaled_dot_product_attention(
            self._split(self.query(x)), kv[0], kv[1], is_causal=causal,
            attn_mask=None if keys is None else keys[:, None, None, :],
            dropout_p=self.dropout if self.training else 0.0)
        return self.out(out.transpose(1, 2).reshape(n, t, d))


class _FeedForward(nn.Sequential):
    def __init__(self, d: int, ratio: int, dropout: float) -> None:
        super().__init__(nn.LayerNorm(d), nn.Linear(d, ratio * d), nn.GELU(),
                         nn.Linear(ratio * d, d), nn.Dropout(dropout))


class _AxialBlock(nn.Module):
    """Pre-norm self-attention + feed-forward over sequences (N, T, d)."""

    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(cfg.d_model)
        self.attention = _Attention(cfg.d_model, cfg.heads, cfg.dropout)
        self.drop = nn.Dropout(cfg.dropout)
        self.ffn = _FeedForward(cfg.d_model, cfg.ffn_ratio, cfg.dropout)

    def forward(self, x: torch.Tensor, keys: torch.Tensor | None = None) -> torch.Tensor:
        y = self.norm(x)
        x = x + self.drop(self.attention(y, self.attention.keys_values(y), keys=keys))
        return x + self.ffn(x)


#: Grid pairs attended together and the axis they share: G0=(i,j), G1=(j,k), G2=(k,i).
_GRID_PAIRS = ((0, 1), (1, 2), (2, 0))


def _sequence_keys(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Key mask (B·S, 2S) of the sequences a torso block attends over (rows of grid
    ``first`` (B, S, S) along the shared axis, next to rows of ``second``). A sequence
    wholly outside the region attends over everything: its cells are never read."""
    keys = torch.cat([first.transpose(1, 2), second], dim=2)
    keys = keys.reshape(-1, keys.shape[-1])
    return keys | ~keys.any(dim=1, keepdim=True)


class _Torso(nn.Module):
    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__()
        s, d = cfg.max_side, cfg.d_model
        channels = cfg.history + 2
        self.region = cfg.board == "region"
        self.project = nn.ModuleList(nn.Linear(s * channels, d) for _ in range(3))
        self.position = nn.Parameter(torch.randn(3, s, s, d) * 0.02)
        self.scalars = nn.Linear(4, d)
        self.ring = nn.Embedding(RING_BUCKETS, d)
        self.layers = nn.ModuleList(
            nn.ModuleList(_AxialBlock(cfg) for _ in _GRID_PAIRS) for _ in range(cfg.torso_layers))
        self.norm = nn.LayerNorm(d)

    def cells(self, inp: NetInput) -> torch.Tensor | None:
        """(B, 3, S, S) True on the cells of each grid inside the game's region, on the
        region board (None on the padded board: every cell counts)."""
        if not self.region:
            return None
        ar = torch.arange(inp.side, device=inp.dims.device)
        inside = ar[None] < inp.dims[:, :, None]  # (B, 3, s)
        return torch.stack([inside[:, a, :, None] & inside[:, (a + 1) % 3, None, :] for a in range(3)],
                           dim=1)

    def cube(self, inp: NetInput) -> torch.Tensor:
        """(B, s, s, s, h + 2) input channels (see the module doc)."""
        s = inp.side
        ar = torch.arange(s, device=inp.dims.device)
        inside = ar[None] < inp.dims[:, :, None]  # (B, 3, S)
        region = inside[:, 0, :, None, None] & inside[:, 1, None, :, None] & inside[:, 2, None, None, :]
        h = inp.history
        past = torch.einsum("bti,btj,btk->bijkt", h[:, :, 0], h[:, :, 1], h[:, :, 2])
        return torch.cat([_squash(inp.residual)[..., None], region[..., None].to(h.dtype),
                          _squash(past)], dim=-1)

    def forward(self, inp: NetInput) -> torch.Tensor:
        cube = self.cube(inp)
        b, s = cube.shape[0], inp.side
        width = s * cube.shape[-1]
        views = (cube, cube.permute(0, 2, 3, 1, 4), cube.permute(0, 3, 1, 2, 4))  # (i,j), (j,k), (k,i)
        steps = torch.stack([torch.log1p(inp.step), torch.log1p(inp.remaining.clamp(min=0)),
                             inp.step / STEP_SCALE, inp.remaining / STEP_SCALE], dim=-1)
        scalar = self.scalars(steps) + self.ring(inp.modulus.clamp(0, RING_BUCKETS - 1))
        d = scalar.shape[-1]
        # on a cut-down board: the weights of the first s entries of each line
        grids = [F.linear(v.reshape(b, s, s, width), proj.weight[:, :width], proj.bias)
                 + self.position[g, :s, :s] + scalar[:, None, None, :]
                 for g, (proj, v) in enumerate(zip(self.project, views))]
        cells = self.cells(inp)
        keys = None if cells is None else [_sequence_keys(cells[:, a], cells[:, c]) for a, c in _GRID_PAIRS]
        for layer in self.layers:
            for pair, (block, (a, c)) in enumerate(zip(layer, _GRID_PAIRS)):
                # rows of grid a along the shared axis, next to rows of grid c
                seq = torch.cat([grids[a].transpose(1, 2), grids[c]], dim=2)
                out = block(seq.reshape(b * s, 2 * s, d), None if keys is None else keys[pair]
                            ).reshape(b, s, 2 * s, d)
                grids[a] = out[:, :, :s].transpose(1, 2)
                grids[c] = out[:, :, s:]
        return self.norm(torch.stack(grids, dim=1).reshape(b, 3 * s * s, d))


class _DecoderLayer(nn.Module):
    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.self_norm = nn.LayerNorm(d)
        self.self_attention = _Attention(d, cfg.heads, cfg.dropout)
        self.cross_norm = nn.LayerNorm(d)
        self.cross_attention = _Attention(d, cfg.heads, cfg.dropout)
        self.drop = nn.Dropout(cfg.dropout)
        self.ffn = _FeedForward(d, cfg.ffn_ratio, cfg.dropout)

    def forward(self, x: torch.Tensor, memory: KeyValue, cells: torch.Tensor | None) -> torch.Tensor:
        """Teacher forcing: x (B, K, L, d) -> (B, K, L, d), reading the torso cells
        where ``cells`` (B, 3·S²) is True (all if None)."""
        b, k, length, d = x.shape
        y = self.self_norm(x).reshape(b * k, length, d)
        x = x + self.drop(self.self_attention(y, self.self_attention.keys_values(y), causal=True)
                          ).reshape(b, k, length, d)
        y = self.cross_norm(x).reshape(b, k * length, d)
        x = x + self.drop(self.cross_attention(y, memory, keys=cells)).reshape(b, k, length, d)
        return x + self.ffn(x)

    def step(self, x: torch.Tensor, cache: KeyValue | None, memory: KeyValue,
             cells: torch.Tensor | None) -> tuple[torch.Tensor, KeyValue]:
        """One new token per sequence: x (B, K, d) -> (B, K, d) and the grown cache."""
        b, k, d = x.shape
        y = self.self_norm(x).reshape(b * k, 1, d)
        key, value = self.self_attention.keys_values(y)
        if cache is not None:
            key, value = torch.cat([cache[0], key], dim=2), torch.cat([cache[1], value], dim=2)
        x = x + self.drop(self.self_attention(y, (key, value))).reshape(b, k, d)
        x = x + self.drop(self.cross_attention(self.cross_norm(x), memory, keys=cells))
        return x + self.ffn(x), (key, value)


class _PolicyHead(nn.Module):
    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.vocabulary = cfg.vocabulary
        self.start = cfg.vocabulary  # extra embedding row: the start-of-move token
        self.embed = nn.Embedding(cfg.vocabulary + 1, d)
        self.position = nn.Parameter(torch.randn(cfg.move_length, d) * 0.02)
        self.layers = nn.ModuleList(_DecoderLayer(cfg) for _ in range(cfg.policy_layers))
        self.norm = nn.LayerNorm(d)
        self.out = nn.Linear(d, cfg.vocabulary)

    def memory(self, embedding: torch.Tensor) -> list[KeyValue]:
        return [layer.cross_attention.keys_values(embedding) for layer in self.layers]

    def logits(self, embedding: torch.Tensor, tokens: torch.Tensor, cells: torch.Tensor | None
               ) -> torch.Tensor:
        """(B, K, L) target tokens -> (B, K, L, V) logits, position l seeing tokens < l."""
        shifted = torch.cat([torch.full_like(tokens[..., :1], self.start), tokens[..., :-1]], dim=-1)
        x = self.embed(shifted) + self.position[: tokens.shape[-1]]
        for layer, memory in zip(self.layers, self.memory(embedding)):
            x = layer(x, memory, cells)
        return self.out(self.norm(x))

    def step(self, x: torch.Tensor, caches: list[KeyValue | None], memory: list[KeyValue],
             cells: torch.Tensor | None) -> torch.Tensor:
        """Logits (B, K, V) of the next token; updates ``caches`` in place."""
        for i, layer in enumerate(self.layers):
            x, caches[i] = layer.step(x, caches[i], memory[i], cells)
        return self.out(self.norm(x))


class AlphaTensorNet(nn.Module):
    """The AlphaTensor network (see the module doc for the architecture)."""

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        self.config = config
        self.torso = _Torso(config)
        self.policy = _PolicyHead(config)
        d = config.d_model
        self.value = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, config.quantiles))
        # Zero output layers: an untrained network is uniform over the legal tokens and
        # predicts a return of 0, neutral priors and values for a search instead of
        # arbitrary ones (the gradients of these layers are not zero, so they learn).
        for layer in (self.policy.out, self.value[-1]):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    @property
    def device(self) -> torch.device:
        return self.policy.position.device

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def codec(self, side: int | None = None) -> MoveCodec:
        """Tokeniser tables on the model's device, for a board of ``side`` (default S)."""
        return codec_for(self.config, self.device, side)

    # --- inputs --------------------------------------------------------------------------
    def prepare(self, obs: Observation, dims: np.ndarray | torch.Tensor) -> NetInput:
        """Tensors on the model's device from an Observation and the games' real sides
        ``dims`` (B, 3) (``GameState.dims``, ``DemoBatch.dims``)."""
        cfg = self.config
        s, h = cfg.max_side, cfg.history
        residual = np.asarray(obs.residual)
        if residual.ndim != 4:
            raise NetworkError(f"observation residual must be (B, S, S, S), got shape {residual.shape}")
        b = residual.shape[0]
        expect = {"residual": (b, s, s, s), "history": (b, h, 3, s), "step": (b,),
                  "remaining": (b,), "modulus": (b,)}
        for name, shape in expect.items():
            got = np.shape(getattr(obs, name))
            if got != shape:
                raise NetworkError(f"observation {name} has shape {got}, the network expects {shape}")
        dims_t = torch.as_tensor(np.array(dims) if not isinstance(dims, torch.Tensor) else dims,
                                 dtype=torch.long, device=self.device)
        if tuple(dims_t.shape) != (b, 3):
            raise NetworkError(f"dims must have shape ({b}, 3), got {tuple(dims_t.shape)}")
        if b and (dims_t.min() < 1 or dims_t.max() > s):
            raise NetworkError(f"dims must lie in 1..{s}")

        def tensor(x: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
            return torch.from_numpy(np.array(x)).to(self.device, dtype)

        modulus = tensor(obs.modulus, torch.long)
        if b and modulus.min() < 0:
            raise NetworkError("a modulus is negative")
        c = int(board_sides(self.config, np.asarray(dims_t.cpu())).max()) if b else s
        residual, history = residual[:, :c, :c, :c], np.asarray(obs.history)[..., :c]
        return NetInput(tensor(residual, torch.float32), tensor(history, torch.float32),
                        tensor(obs.step, torch.float32), tensor(obs.remaining, torch.float32),
                        modulus, dims_t)

    # --- torso and value -----------------------------------------------------------------
    def embed(self, inp: NetInput) -> torch.Tensor:
        """Torso embeddings (B, 3·S², d_model)."""
        return self.torso(inp)

    def cells(self, inp: NetInput) -> torch.Tensor | None:
        """(B, 3·S²) True on the torso cells a game's heads read: those inside its region
        on the region board; None (all of them) on the padded board."""
        cells = self.torso.cells(inp)
        return None if cells is None else cells.reshape(cells.shape[0], -1)

    def value_quantiles(self, embedding: torch.Tensor, inp: NetInput) -> torch.Tensor:
        """(B, quantiles) predicted quantiles of the return (unsorted)."""
        cells = self.cells(inp)
        if cells is None:
            pooled = embedding.mean(dim=1)
        else:
            weight = cells.to(embedding.dtype)[..., None]
            pooled = (embedding * weight).sum(dim=1) / weight.sum(dim=1)
        return self.value(pooled) * self.config.value_scale

    def forward(self, inp: NetInput) -> tuple[torch.Tensor, torch.Tensor]:
        """(embedding (B, 3·S², d), value quantiles (B, quantiles))."""
        embedding = self.embed(inp)
        return embedding, self.value_quantiles(embedding, inp)

    def risk_seeking_value(self, quantiles: torch.Tensor) -> torch.Tensor:
        """(B,) mean of the largest ``risk_quantile_fraction`` of the quantiles: an
        optimistic value, as the search is after the best outcome, not the average."""
        return quantiles.topk(self.config.risk_quantile_count, dim=-1).values.mean(dim=-1)

    # --- policy --------------------------------------------------------------------------
    def policy_logits(self, embedding: torch.Tensor, tokens: torch.Tensor,
                      inp: NetInput | None = None) -> torch.Tensor:
        """Raw (unmasked) teacher-forced logits: tokens (B, L) -> (B, L, V), or
        (B, K, L) -> (B, K, L, V); position l is conditioned on the tokens before it.
        The region board needs the games (``inp``) to know which cells to read."""
        if inp is None and self.torso.region:
            raise NetworkError("the region board needs the games' inputs to read the policy")
        single = tokens.dim() == 2
        logits = self.policy.logits(embedding, tokens[:, None] if single else tokens,
                                    None if inp is None else self.cells(inp))
        return logits[:, 0] if single else logits

    def log_prob(self, inp: NetInput, embedding: torch.Tensor, moves: torch.Tensor,
                 temperature: float = 1.0) -> torch.Tensor:
        """Log-probability of moves (B, 3, S) -> (B,) or (B, K, 3, S) -> (B, K) under the
        masked policy at ``temperature`` (the distribution :meth:`sample` draws from).
        An illegal move has probability 0 (-inf)."""
        _check_temperature(temperature)
        single = moves.dim() == 3
        moves = moves[:, None] if single else moves
        s = inp.side
        beyond = moves[..., s:].reshape(*moves.shape[:2], -1).any(dim=-1)  # off the cut-down board
        codec = self.codec(s)
        tokens = codec.tokenize(moves[..., :s], inp.dims)
        logits = self.policy.logits(embedding, tokens, self.cells(inp)) / temperature
        allowed = codec.masks(inp.dims, inp.modulus).sequence(tokens)
        logp = torch.log_softmax(logits.masked_fill(~allowed, float("-inf")), dim=-1)
        out = logp.gather(-1, tokens[..., None])[..., 0].sum(dim=-1).masked_fill(beyond, float("-inf"))
        return out[:, 0] if single else out

    def sample(self, inp: NetInput, k: int, temperature: float = 1.0,
               embedding: torch.Tensor | None = None, generator: torch.Generator | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """K legal moves per game, batched over games and samples: (moves (B, K, 3, S)
        int8, log_probs (B, K) float32 under the masked policy at ``temperature``).
        Duplicates are possible (independent draws)."""
        _check_temperature(temperature)
        if int(k) < 1:
            raise NetworkError(f"the number of samples must be >= 1, got {k}")
        if embedding is None:
            embedding = self.embed(inp)
        codec = self.codec(inp.side)
        b, dev = embedding.shape[0], embedding.device
        if b == 0:  # an empty batch (e.g. every game of a search already finished)
            return (torch.zeros(0, k, 3, self.config.max_side, dtype=torch.int8, device=dev),
                    torch.zeros(0, k, device=dev))
        masks: TokenMasks = codec.masks(inp.dims, inp.modulus)
        head = self.policy
        memory = head.memory(embedding)
        cells = self.cells(inp)
        caches: list[KeyValue | None] = [None] * len(head.layers)
        nonzero = torch.zeros(b, k, 3, dtype=torch.bool, device=dev)
        # past the batch's last real coefficient only the zero token is legal
        tokens = torch.full((b, k, codec.length), codec.zero_token, dtype=torch.long, device=dev)
        total = torch.zeros(b, k, device=dev)
        prev = torch.full((b, k), head.start, dtype=torch.long, device=dev)
        for pos in range(masks.used_length):
            x = head.embed(prev) + head.position[pos]
            logits = head.step(x, caches, memory, cells) / temperature
            allowed = masks.step(pos, nonzero)
            logp = torch.log_softmax(logits.masked_fill(~allowed, float("-inf")), dim=-1)
            probs = logp.exp().reshape(b * k, codec.vocabulary)
            tok = torch.multinomial(probs, 1, generator=generator).reshape(b, k)
            total = total + logp.gather(-1, tok[..., None])[..., 0]
            nonzero = masks.nonzero_after(pos, nonzero, tok)
            tokens[:, :, pos] = tok
            prev = tok
        moves = torch.zeros(b, k, 3, self.config.max_side, dtype=torch.int8, device=dev)
        moves[..., : inp.side] = codec.detokenize(tokens, inp.dims)
        return moves, total


def widened(model: AlphaTensorNet, max_side: int) -> AlphaTensorNet:
    """The same network on a larger board of side ``max_side`` (region board only).

    Why: a curriculum that starts on small formats can go on to larger ones with what
    it learnt. The input maps and position tables keep their entries for the first S
    sides and get fresh ones past them, so every game the network could play before is
    played exactly as before (a region-board game is computed on its own sides); on
    the padded board every game would see the new padding, so that is refused."""
    cfg = model.config
    if cfg.board != "region":
        raise NetworkError("only a region-board network can be widened: on the padded board "
                           "every game would see the new padding")
    if int(max_side) < cfg.max_side:
        raise NetworkError(f"cannot widen a side-{cfg.max_side} network to side {max_side}")
    big = AlphaTensorNet(NetworkConfig.from_dict({**cfg.to_dict(), "max_side": int(max_side)}))
    big = big.to(model.device)
    state = big.state_dict()
    s, width = cfg.max_side, cfg.max_side * (cfg.history + 2)
    for key, value in model.state_dict().items():
        if key.startswith("torso.project.") and key.endswith(".weight"):
            state[key][:, :width] = value
        elif key == "torso.position":
            state[key][:, :s, :s] = value
        elif key == "policy.position":
            state[key][: len(value)] = value
        else:
            state[key] = value
    big.load_state_dict(state)
    return big


def signed(model: AlphaTensorNet, coefficients: tuple[int, ...]) -> AlphaTensorNet:
    """A network of the mod-2 alphabet {0, 1} spelled over a signed one (e.g. {-1, 0, 1}),
    every coefficient read mod 2.

    Why: a network trained over Z2 knows where a move's non-zero coefficients go, and
    over Z the same supports are played with signs, so a Z curriculum can start from it.
    Each new token starts as the old token of its reduction mod 2 (embedding and output
    row), its output bias lowered by the log of the number of new tokens sharing that
    reduction, and the Z ring's embedding starts as Z2's: in a Z game each move's
    reduction mod 2 is as likely as that move was in the Z2 game, its signs uniform
    (exactly so while no coefficient is even but 0)."""
    cfg = model.config
    if cfg.coefficients != (0, 1):
        raise NetworkError(f"only a network of the alphabet (0, 1) can be signed, not {cfg.coefficients}")
    wide = NetworkConfig.from_dict({**cfg.to_dict(), "coefficients": tuple(coefficients)})
    new = AlphaTensorNet(wide).to(model.device)
    before, after = codec_for(cfg, model.device), codec_for(wide, model.device)
    residues = after.digit_values % 2  # (V', chunk): each new token's coefficients mod 2
    old = before.token_of(residues)  # its old token
    sharing = torch.bincount(old, minlength=cfg.vocabulary)[old].to(torch.float32)
    state = new.state_dict()
    for key, value in model.state_dict().items():
        if key == "policy.embed.weight":
            state[key] = torch.cat([value[old], value[-1:]])  # the start token stays last
        elif key == "policy.out.weight":
            state[key] = value[old]
        elif key == "policy.out.bias":
            state[key] = value[old] - sharing.log()
        elif key == "torso.ring.weight":
            state[key] = value.clone()
            state[key][0] = value[2]
        else:
            state[key] = value
    new.load_state_dict(state)
    return new


def board_sides(config: NetworkConfig, dims: np.ndarray) -> np.ndarray:
    """(B,) side of the board each game of sides ``dims`` (B, 3) is computed on: its
    largest side on the region board, S on the padded one. Games of one side batch
    together without padding."""
    dims = np.asarray(dims).reshape(-1, 3)
    if config.board == "region":
        return dims.max(axis=1)
    return np.full(len(dims), config.max_side)


def _check_temperature(temperature: float) -> None:
    if not float(temperature) > 0.0:
        raise NetworkError(f"the sampling temperature must be > 0, got {temperature}")
