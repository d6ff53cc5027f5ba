"""Tokenisation of moves for the autoregressive policy head, and legality masks.

A move is a (3, S) int8 array (u, v, w), zero past each factor's real length. The
policy emits it as a sequence of L = ceil(3·S / chunk) tokens over a flat list of
coefficients laid out by the network's board (:attr:`NetworkConfig.board`):

* ``padded``: u[0..S-1], v[0..S-1], w[0..S-1], the padding past the game's real sides
  included (every game on the S-board);
* ``region``: u[0..I-1], v[0..J-1], w[0..K-1], only the game's real coefficients (each
  game on a board of its own sides, so a <2,2,2> game spells its moves the same way
  whatever S the network was built for);

followed by zeros up to L·chunk. Token l covers coefficients l·chunk .. l·chunk +
chunk - 1; with n = |coefficients| and d_j the index of coefficient j of the token in
the sorted alphabet, the token is the base-n number d_0 d_1 ... d_{chunk-1} (d_0 most
significant), so the vocabulary has n ** chunk entries (625 for the default alphabet
{-2..2} and chunk 4). E.g. S = 4 (<2,2,2>), chunk 4: a move has 12 coefficients and 3
tokens, one per factor. With S = 9 and chunk 4 the 27 coefficients take 7 tokens and
a token may straddle two factors; nothing below assumes alignment.

:meth:`MoveCodec.tokenize` and :meth:`MoveCodec.detokenize` are exact inverses on
moves whose values lie in the alphabet (a value outside it cannot be spelled:
:class:`NetworkError`); the region layout needs the games' sides for both.

Legality (what the sampler masks, and what the teacher-forced log-probability masks the
same way, so that both describe one distribution): a token is allowed at position l
of a game when every coefficient it sets is

* zero if it lies in the padding (past the game's real side of its factor, or past
  the last factor), and
* legal in the game's ring otherwise: any alphabet value over Z, only reduced values
  0 <= c < p over Z_p (so {0, 1} over Z2 with the default alphabet).

No factor may be all zero (a zero factor is an illegal game move). This is enforced by
masking rather than resampling, so a sample costs exactly L decoder steps and its
log-probability is exact: at the token that holds the last real coefficient of factor f,
if f is still all zero, only tokens that put a non-zero value in one of f's real
coefficients of that token are allowed. Such a token always exists (the last real
coefficient can take a non-zero legal value and the constraints of different factors
touch disjoint coefficients), so no row of a mask is ever empty. Past the token that
holds the game's last real coefficient only the all-zero token is allowed, so the
sampler stops there (:attr:`TokenMasks.used_length`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from tensorgame.network.config import NetworkConfig
from tensorgame.network.errors import NetworkError


@dataclass(frozen=True, eq=False)
class TokenMasks:
    """Legality of tokens for a batch of B games (see the module doc).

    ``allowed`` (B, L, V): the padding and ring constraints. ``closing`` (B, 3): the
    token holding the last real coefficient of each factor. ``makes_nonzero``
    (B, L, 3, V): token v at position l sets a non-zero value in a real coefficient
    of factor f.
    """

    allowed: torch.Tensor
    closing: torch.Tensor
    makes_nonzero: torch.Tensor

    @property
    def used_length(self) -> int:
        """Tokens up to the batch's last real coefficient; every later position allows
        only the all-zero token, so a sampler may stop here."""
        return int(self.closing[:, 2].max()) + 1 if self.closing.shape[0] else 0

    def step(self, position: int, nonzero: torch.Tensor) -> torch.Tensor:
        """Allowed tokens (B, K, V) at ``position`` for K sequences per game whose
        factors are already non-zero where ``nonzero`` (B, K, 3) says so."""
        need = ~nonzero & (self.closing[:, None, :] == position)  # (B, K, 3)
        out = self.allowed[:, None, position, :].expand(-1, need.shape[1], -1)
        for f in range(3):
            out = out & (~need[:, :, f, None] | self.makes_nonzero[:, None, position, f, :])
        return out

    def nonzero_after(self, position: int, nonzero: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """``nonzero`` (B, K, 3) updated with the tokens (B, K) chosen at ``position``."""
        rows = torch.arange(tokens.shape[0], device=tokens.device)[:, None]
        return nonzero | self.makes_nonzero[:, position][rows, :, tokens]

    def sequence(self, tokens: torch.Tensor) -> torch.Tensor:
        """Allowed tokens (B, K, L, V) at every position of K token sequences per game
        (B, K, L), each position conditioned on the tokens before it (teacher forcing)."""
        b, k, length = tokens.shape
        rows = torch.arange(b, device=tokens.device)[:, None, None]
        cols = torch.arange(length, device=tokens.device)[None, None, :]
        hit = self.makes_nonzero[rows, cols, :, tokens]  # (B, K, L, 3)
        before = (hit.long().cumsum(dim=2) - hit.long()) > 0
        need = ~before & (self.closing[:, None, None, :] == cols[..., None])  # (B, K, L, 3)
        out = self.allowed[:, None].expand(-1, k, -1, -1)
        for f in range(3):
            out = out & (~need[..., f, None] | self.makes_nonzero[:, None, :, f, :])
        return out


class MoveCodec:
    """Lookup tables of one tokenisation (alphabet, chunk, side, board) on one device."""

    def __init__(self, coefficients: tuple[int, ...], chunk: int, side: int,
                 device: torch.device | str = "cpu", board: str = "padded") -> None:
        self.device = torch.device(device)
        self.side = side
        self.chunk = chunk
        self.region = board == "region"
        n = len(coefficients)
        self.length = -(-3 * side // chunk)
        self.vocabulary = n ** chunk
        self.values = torch.tensor(coefficients, dtype=torch.long, device=self.device)
        index = torch.full((256,), -1, dtype=torch.long)
        index[torch.tensor(coefficients) + 128] = torch.arange(n)
        self.value_index = index.to(self.device)
        self.powers = n ** torch.arange(chunk - 1, -1, -1, device=self.device)
        digits = (torch.arange(self.vocabulary, device=self.device)[:, None] // self.powers) % n
        self.digit_values = self.values[digits]  # (V, chunk)
        self.zero_token = int(self.token_of(torch.zeros(chunk, dtype=torch.long, device=self.device)))
        self.positions = torch.arange(self.length * chunk, device=self.device)

    def token_of(self, values: torch.Tensor) -> torch.Tensor:
        """The tokens of chunks of coefficient values (..., chunk), all in the alphabet."""
        return (self.value_index[values.to(self.device, torch.long) + 128] * self.powers).sum(dim=-1)

    def layout(self, dims: torch.Tensor | None, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Per game, for each of the L·chunk coefficient positions: the factor it
        belongs to (3 past the last factor) and its index in that factor, each
        (B, L·chunk); see the module doc for the two boards."""
        if self.region:
            if dims is None:
                raise NetworkError("the region board needs the games' sides to spell a move")
            lengths = dims.to(self.device, torch.long)
        else:
            lengths = torch.full((batch, 3), self.side, dtype=torch.long, device=self.device)
        ends = lengths.cumsum(dim=1)  # (B, 3)
        factor = (self.positions[None, :, None] >= ends[:, None, :]).sum(dim=-1)  # (B, P)
        starts = ends - lengths
        offset = self.positions[None] - starts.gather(1, factor.clamp(max=2))
        return factor, offset

    def _sources(self, dims: torch.Tensor | None, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Index into the flat (3·S) move of each coefficient position, and whether the
        position holds a coefficient at all, each (B, L·chunk)."""
        factor, offset = self.layout(dims, batch)
        inside = (factor < 3) & (offset < self.side)
        return torch.where(inside, factor.clamp(max=2) * self.side + offset, 0), inside

    def tokenize(self, moves: torch.Tensor, dims: torch.Tensor | None = None) -> torch.Tensor:
        """Tokens (B, ..., L) int64 of moves (B, ..., 3, S) of games of sides ``dims``
        (B, 3) (needed by the region board only); one move (3, S) gives (L,)."""
        if moves.shape[-2:] != (3, self.side):
            raise NetworkError(f"moves must have shape (..., 3, {self.side}), got {tuple(moves.shape)}")
        if moves.dim() == 2:
            return self.tokenize(moves[None], None if dims is None else dims.reshape(1, 3))[0]
        lead = moves.shape[:-2]
        flat = moves.to(self.device, torch.long).reshape(*lead, 3 * self.side)
        if flat.numel() and (flat.min() < -128 or flat.max() > 127):
            raise NetworkError("a move coefficient is outside the int8 range")
        idx = self.value_index[flat + 128]
        if (idx < 0).any():
            bad = sorted({int(x) for x in flat[idx < 0].unique().tolist()})
            raise NetworkError(f"move values {bad} are not in the network's alphabet "
                               f"{tuple(self.values.tolist())}")
        source, inside = self._sources(dims, lead[0])
        shape = (lead[0],) + (1,) * (len(lead) - 1) + (source.shape[1],)
        source, inside = source.reshape(shape), inside.reshape(shape)
        picked = idx.gather(-1, source.expand(*lead, -1))
        zero = int(self.value_index[128])
        picked = torch.where(inside, picked, zero)
        return (picked.reshape(*lead, self.length, self.chunk) * self.powers).sum(-1)

    def detokenize(self, tokens: torch.Tensor, dims: torch.Tensor | None = None) -> torch.Tensor:
        """Moves (B, ..., 3, S) int8 of tokens (B, ..., L); the inverse of :meth:`tokenize`."""
        if tokens.shape[-1:] != (self.length,):
            raise NetworkError(f"token sequences must have length {self.length}, got {tuple(tokens.shape)}")
        if tokens.dim() == 1:
            return self.detokenize(tokens[None], None if dims is None else dims.reshape(1, 3))[0]
        tokens = tokens.to(self.device, torch.long)
        if tokens.numel() and (tokens.min() < 0 or tokens.max() >= self.vocabulary):
            raise NetworkError(f"a token is outside 0..{self.vocabulary - 1}")
        lead = tokens.shape[:-1]
        vals = self.digit_values[tokens].reshape(*lead, self.length * self.chunk)
        source, inside = self._sources(dims, lead[0])
        shape = (lead[0],) + (1,) * (len(lead) - 1) + (source.shape[1],)
        source, inside = source.reshape(shape), inside.reshape(shape)
        out = torch.zeros(*lead, 3 * self.side + 1, dtype=torch.long, device=self.device)
        # positions without a coefficient go to a spare last slot, dropped below
        out.scatter_(-1, torch.where(inside, source, 3 * self.side).expand(*lead, -1), vals)
        return out[..., :-1].reshape(*lead, 3, self.side).to(torch.int8)

    def masks(self, dims: torch.Tensor, modulus: torch.Tensor) -> TokenMasks:
        """Legality masks for games of real sides ``dims`` (B, 3) over rings
        ``modulus`` (B,) (0 = Z, p = Z_p); see the module doc."""
        dims = dims.to(self.device, torch.long)
        modulus = modulus.to(self.device, torch.long)
        b, length, chunk = dims.shape[0], self.length, self.chunk
        factor, offset = self.layout(dims, b)
        real = (factor < 3) & (offset < dims.gather(1, factor.clamp(max=2)))  # (B, P)
        vals = self.values[None]
        ring_ok = (modulus[:, None] == 0) | ((vals >= 0) & (vals < modulus[:, None]))  # (B, n)
        if not ((vals != 0) & ring_ok).any(dim=1).all():
            raise NetworkError("a game's ring leaves no non-zero coefficient of the alphabet legal")
        value_ok = (vals[:, None, :] == 0) | (real[:, :, None] & ring_ok[:, None, :])  # (B, P, n)
        value_ok = value_ok.reshape(b, length, chunk, len(self.values))
        digit_index = self.value_index[self.digit_values + 128]  # (V, chunk)
        allowed = torch.ones(b, length, self.vocabulary, dtype=torch.bool, device=self.device)
        for j in range(chunk):
            allowed &= value_ok[:, :, j, digit_index[:, j]]
        member = real.reshape(b, length, 1, chunk) & (
            factor.reshape(b, length, 1, chunk)
            == torch.arange(3, device=self.device).reshape(1, 1, 3, 1))  # (B, L, 3, chunk)
        nonzero_digit = (self.digit_values != 0).to(torch.float32)  # (V, chunk)
        makes_nonzero = (member.to(torch.float32) @ nonzero_digit.T) > 0  # (B, L, 3, V)
        starts = dims.cumsum(dim=1) - dims if self.region else (
            torch.arange(3, device=self.device)[None] * self.side)
        closing = torch.div(starts + dims - 1, chunk, rounding_mode="floor")
        return TokenMasks(allowed, closing, makes_nonzero)


@lru_cache(maxsize=32)
def _codec(coefficients: tuple[int, ...], chunk: int, side: int, device: str, board: str) -> MoveCodec:
    return MoveCodec(coefficients, chunk, side, device, board)


def codec_for(config: NetworkConfig, device: torch.device | str = "cpu", side: int | None = None
              ) -> MoveCodec:
    """The (cached, read-only) codec of ``config`` on ``device``, for a board of ``side``
    (default: the network's S; smaller ones on the region board only)."""
    return _codec(config.coefficients, config.chunk, config.max_side if side is None else side,
                  str(torch.device(device)), config.board)


def _as_torch(x: np.ndarray | torch.Tensor | None) -> torch.Tensor | None:
    return x if x is None or isinstance(x, torch.Tensor) else torch.from_numpy(np.array(x))


def tokenize(moves: np.ndarray | torch.Tensor, config: NetworkConfig,
             dims: np.ndarray | torch.Tensor | None = None) -> np.ndarray | torch.Tensor:
    """Tokens (..., L) int64 of moves (..., 3, S) of games of sides ``dims`` (region
    board only): numpy in, numpy out; torch in, torch out (on the moves' device)."""
    if isinstance(moves, torch.Tensor):
        return codec_for(config, moves.device).tokenize(moves, _as_torch(dims))
    return codec_for(config).tokenize(_as_torch(moves), _as_torch(dims)).numpy()


def detokenize(tokens: np.ndarray | torch.Tensor, config: NetworkConfig,
               dims: np.ndarray | torch.Tensor | None = None) -> np.ndarray | torch.Tensor:
    """Moves (..., 3, S) int8 of tokens (..., L); the exact inverse of :func:`tokenize`."""
    if isinstance(tokens, torch.Tensor):
        return codec_for(config, tokens.device).detokenize(tokens, _as_torch(dims))
    return codec_for(config).detokenize(_as_torch(tokens), _as_torch(dims)).numpy()
