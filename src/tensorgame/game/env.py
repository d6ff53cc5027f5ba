"""TensorGame: the single-player game whose won positions are correct algorithms.

The state is the residual tensor (initially the target, possibly in a changed basis);
a move (u, v, w) subtracts u⊗v⊗w in the game's ring (Z, or Z_p with everything
reduced mod p, Z2 in practice). Reward: -1 per move. In a cyclic game
(``GameConfig.cyclic``, square matmul targets) a move subtracts its whole orbit
under the cyclic symmetry, 3 terms (reward -3) or 1 for a fixed term
(:mod:`tensorgame.game.cyclic`). A game ends when the residual is
zero (a correct scheme was played) or at the step limit; ending at the limit with a
non-zero residual costs ``penalty_scale`` × an upper bound on the residual's rank
(see :mod:`tensorgame.game.rank_bound`), i.e. the moves a finished algorithm would at
most still need, so the return is a pessimistic estimate of the final rank.

The environment knows nothing about networks. What a tree search needs:
``reset`` -> state, ``legal``, ``step`` (batched, in place), ``state.clone`` /
``state.restore`` / ``state.take`` / ``state.put``, ``terminal``, ``scheme``
(extraction, mapped back to the canonical basis and verified exactly) and ``store``
(into the catalogue).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tensorgame.errors import VerificationError
from tensorgame.game._kernels import legal_kernel, step_kernel, subtract_kernel
from tensorgame.game.basis import Basis
from tensorgame.game.config import GameConfig
from tensorgame.game.cyclic import orbit_terms, rotate, side_of
from tensorgame.game.errors import GameError, IllegalMoveError
from tensorgame.game.rank_bound import rank_upper_bound, slice_completion
from tensorgame.game.state import GameSpec, GameState, Observation
from tensorgame.tensors.rings import Ring, parse_ring
from tensorgame.tensors.scheme import Scheme, naive_scheme
from tensorgame.tensors.targets import Target, tensor_target


def _dtype_for(bound: int) -> np.dtype:
    for dt in (np.int8, np.int16, np.int32):
        if bound <= np.iinfo(dt).max:
            return np.dtype(dt)
    raise GameError(f"residual entries could reach {bound}, beyond 32-bit storage; "
                    "lower max_steps or the coefficient range")


def _broadcast(values: Any, n: int, what: str) -> list[Any]:
    if len(values) == n:
        return list(values)
    if len(values) == 1:
        return list(values) * n
    raise GameError(f"{len(values)} {what} for a batch of {n} games")


class TensorGame:
    """Batched TensorGame environment (see the module doc)."""

    def __init__(self, config: GameConfig | None = None) -> None:
        self.config = config if config is not None else GameConfig()
        self._table = self.config.value_table()

    # --- games ---------------------------------------------------------------------------
    def spec(self, target: Target | np.ndarray, ring: Ring | str = "Z",
             basis: Basis | None = None) -> GameSpec:
        """The fixed description of one game (validates sides, ring and basis)."""
        if not isinstance(target, Target):
            target = tensor_target(np.asarray(target))
        ring = parse_ring(ring)
        if ring.allows_denominators:
            raise GameError("TensorGame is played over Z or Z_p, not over Q")
        dims = target.dims
        if max(dims) > self.config.max_side:
            raise GameError(f"{target.name} has sides {dims}; the game pads to {self.config.max_side}")
        p = int(ring.modulus or 0)
        if p and len(self.config.legal_values(p)) < 2:
            raise GameError(f"no non-zero coefficient of {self.config.coefficients} is legal over {ring}")
        cyclic = self.config.plays_cyclic(target)
        if basis is not None:
            if cyclic and not basis.is_identity:
                raise GameError(f"{target.name} is played with cyclic moves, in its canonical basis only")
            if basis.dims != dims:
                raise GameError(f"basis of sides {basis.dims} does not fit {target.name} of sides {dims}")
            if basis.is_identity:
                basis = None
        tensor = target.tensor.astype(np.int64) if basis is None else basis.transform_tensor(target.tensor)
        tensor = ring.reduce(tensor)
        tensor = np.ascontiguousarray(tensor)
        tensor.setflags(write=False)
        return GameSpec(target, ring, basis, tensor, self.config.step_limit(target), cyclic)

    def reset(
        self,
        targets: Target | np.ndarray | Sequence[Target | np.ndarray],
        rings: Ring | str | Sequence[Ring | str] = "Z",
        bases: Basis | None | Sequence[Basis | None] = None,
        *,
        batch: int | None = None,
    ) -> GameState:
        """Start a batch of games.

        ``targets``, ``rings`` and ``bases`` are each one value or a sequence (length 1
        or B); ``batch`` repeats single values B times. A basis (e.g. drawn from a
        :class:`~tensorgame.game.basis.BasisPool`) means the game is played on
        T' = (A, B, C)·T and its scheme is mapped back to T on extraction.
        """
        tl = [targets] if isinstance(targets, (Target, np.ndarray)) else list(targets)
        rl = [rings] if isinstance(rings, (Ring, str)) else list(rings)
        bl = [bases] if bases is None or isinstance(bases, Basis) else list(bases)
        n = batch if batch is not None else max(len(tl), len(rl), len(bl))
        if n < 1:
            raise GameError("a batch needs at least one game")
        tl, rl, bl = (_broadcast(x, n, what) for x, what in
                      ((tl, "targets"), (rl, "rings"), (bl, "bases")))
        specs: list[GameSpec] = []
        index: dict[tuple[int, str, int], int] = {}
        spec_ids = np.empty(n, dtype=np.int32)
        for g, (t, r, b) in enumerate(zip(tl, rl, bl)):
            key = (id(t), str(parse_ring(r)), id(b))
            if key not in index:
                index[key] = len(specs)
                specs.append(self.spec(t, r, b))
            spec_ids[g] = index[key]
        return self._build(tuple(specs), spec_ids)

    def _build(self, specs: tuple[GameSpec, ...], spec_ids: np.ndarray) -> GameState:
        cfg = self.config
        side, n = cfg.max_side, len(spec_ids)
        cube = cfg.max_coefficient ** 3
        bound = 1
        for s in specs:
            if s.modulus:
                bound = max(bound, s.modulus - 1)
            else:
                terms = s.limit * (3 if s.cyclic else 1)
                bound = max(bound, int(np.abs(s.tensor).max(initial=0)) + terms * cube)
        dtype = _dtype_for(bound)
        starts = np.zeros((len(specs), side, side, side), dtype=dtype)
        for k, s in enumerate(specs):
            i, j, l = s.dims
            starts[k, :i, :j, :l] = s.tensor
        limits = np.asarray([s.limit for s in specs], dtype=np.int64)[spec_ids]
        dims = np.asarray([s.dims for s in specs], dtype=np.int64).reshape(-1, 3)[spec_ids]
        moduli = np.asarray([s.modulus for s in specs], dtype=np.int64)[spec_ids]
        residual = starts[spec_ids]
        nnz = np.count_nonzero(residual.reshape(n, -1), axis=1).astype(np.int64)
        return GameState(
            residual=residual,
            history=np.zeros((n, cfg.history, 3, side), dtype=np.int8),
            played=np.zeros((n, int(limits.max()), 3, side), dtype=np.int8),
            step=np.zeros(n, dtype=np.int64),
            limit=limits,
            done=nnz == 0,
            returns=np.zeros(n, dtype=np.int64),
            penalty=np.zeros(n, dtype=np.int64),
            nnz=nnz,
            dims=np.ascontiguousarray(dims),
            modulus=moduli,
            spec=spec_ids,
            specs=specs,
        )

    # --- moves ---------------------------------------------------------------------------
    def _as_moves(self, state: GameState, moves: np.ndarray) -> np.ndarray:
        arr = np.asarray(moves)
        expected = (state.batch_size, 3, state.side)
        if arr.shape != expected:
            raise GameError(f"moves must have shape {expected}, got {arr.shape}")
        if arr.dtype == np.int8:
            return np.ascontiguousarray(arr)
        if arr.dtype.kind not in "iub":
            raise IllegalMoveError(f"moves must be integer arrays, got {arr.dtype}")
        if arr.size and (arr.min() < -127 or arr.max() > 127):
            raise IllegalMoveError("a move coefficient is outside -127..127")
        return np.ascontiguousarray(arr, dtype=np.int8)

    def legal(self, state: GameState, moves: np.ndarray) -> np.ndarray:
        """bool (B,): each game's move is legal (values in the ring's coefficient set,
        zero in the padding, three non-zero factors); finished games accept any move."""
        mv = self._as_moves(state, moves)
        out = np.empty(state.batch_size, dtype=np.bool_)
        legal_kernel(mv, state.dims, state.modulus, self._table, state.done, out)
        return out

    def explain_illegal(self, state: GameState, moves: np.ndarray, game: int) -> str:
        """Why the move of ``game`` is illegal (empty string if it is legal)."""
        mv = self._as_moves(state, moves)[game]
        dims, p = state.dims[game], int(state.modulus[game])
        allowed = set(self.config.legal_values(p))
        for f, name in enumerate("uvw"):
            d = int(dims[f])
            if np.any(mv[f, d:] != 0):
                return f"factor {name} is non-zero past its length {d}"
            bad = sorted({int(x) for x in mv[f, :d]} - allowed)
            if bad:
                return f"factor {name} uses {bad}, outside the legal set {sorted(allowed)}"
            if not np.any(mv[f, :d]):
                return f"factor {name} is zero"
        return ""

    def step(self, state: GameState, moves: np.ndarray, *, check: bool = True) -> np.ndarray:
        """Play one move in every unfinished game (in place); returns the rewards (B,).

        A reward is -1 per term placed (a move, or -3 for a non-fixed move of a cyclic
        game), minus the terminal penalty for games that hit the step limit with a
        non-zero residual; finished games ignore their move and get 0.
        ``check=False`` skips the legality test (for moves already known legal).
        """
        mv = self._as_moves(state, moves)
        if check:
            ok = self.legal(state, mv)
            if not ok.all():
                bad = np.flatnonzero(~ok)
                why = self.explain_illegal(state, mv, int(bad[0]))
                raise IllegalMoveError(
                    f"illegal move in game {int(bad[0])} ({len(bad)} of {state.batch_size} games): {why}")
        orbits = self._subtract_rotations(state, mv)
        rewards = np.empty(state.batch_size, dtype=np.int64)
        hit = np.empty(state.batch_size, dtype=np.bool_)
        step_kernel(state.residual, state.nnz, state.history, state.played, state.step,
                    state.limit, state.done, state.dims, state.modulus, mv, rewards, hit)
        rewards[orbits] -= 2
        if hit.any():
            idx = np.flatnonzero(hit)
            pen = self.penalty(state, idx)
            state.penalty[idx] = pen
            rewards[idx] -= pen
        state.returns += rewards
        return rewards

    def naive_moves(self, target: Target) -> np.ndarray:
        """The naive scheme of ``target`` as moves of this game in the canonical basis,
        (N, 3, S) int8 (:meth:`GameConfig.moves_of`; the naive scheme is a union of
        orbits). Playing them all solves the game at the naive rank; playing some is
        where a naive-prefix game starts (a curriculum from scratch: no scheme but the
        definition is used)."""
        moves = self.config.moves_of(naive_scheme(target, "Z"))
        assert moves is not None
        return moves.astype(np.int8)

    def advance(self, state: GameState, games: Sequence[int], moves: Sequence[np.ndarray]) -> None:
        """Play a list of moves ((k, 3, S) each, legal) into each of ``games`` (in
        place) with the rewards of :meth:`step`; the other games do not move."""
        games = np.asarray(games, dtype=np.int64)
        lengths = np.asarray([len(m) for m in moves], dtype=np.int64)
        if len(games) != len(lengths):
            raise GameError(f"advance: {len(lengths)} move lists for {len(games)} games")
        for t in range(int(lengths.max(initial=0))):
            sel = np.flatnonzero(lengths > t)
            sub = state.take(games[sel])
            self.step(sub, np.stack([moves[i][t] for i in sel]))
            state.put(games[sel], sub)

    @staticmethod
    def _subtract_rotations(state: GameState, moves: np.ndarray) -> np.ndarray:
        """In the unfinished cyclic games, subtract σ and σ² of a non-fixed move (the
        step kernel subtracts the move itself); returns those games' indices."""
        flags = np.fromiter((s.cyclic for s in state.specs), dtype=bool, count=len(state.specs))
        if not flags.any():
            return np.zeros(0, dtype=np.int64)
        games = np.flatnonzero(flags[state.spec] & ~state.done)
        moving = []
        for length in np.unique(state.dims[games, 0]):
            sel = games[state.dims[games, 0] == length]
            n = side_of(int(length))
            once = rotate(moves[sel], n)
            keep = ~np.all(once == moves[sel], axis=(1, 2))
            if keep.any():
                sel, once = sel[keep], once[keep]
                terms = np.concatenate([once, rotate(once, n)])
                subtract_kernel(state.residual, state.nnz, state.dims, state.modulus,
                                np.concatenate([sel, sel]), np.ascontiguousarray(terms))
                moving.append(sel)
        return np.concatenate(moving) if moving else np.zeros(0, dtype=np.int64)

    def penalty(self, state: GameState, index: np.ndarray | None = None) -> np.ndarray:
        """Terminal penalty (>= 0) of the current residuals: penalty_scale × rank bound."""
        idx = np.arange(state.batch_size) if index is None else np.asarray(index)
        bound = rank_upper_bound(state.residual[idx], state.dims[idx], state.modulus[idx])
        return np.asarray(bound, dtype=np.int64) * self.config.penalty_scale

    # --- queries -------------------------------------------------------------------------
    @staticmethod
    def terminal(state: GameState) -> np.ndarray:
        """bool (B,): finished games (solved or out of moves)."""
        return state.done

    @staticmethod
    def observe(state: GameState) -> Observation:
        return state.observation()

    @staticmethod
    def moves(state: GameState, game: int) -> np.ndarray:
        """The moves played so far in ``game``, (steps, 3, S) int8, in its own basis."""
        return state.played[game, : int(state.step[game])].copy()

    @classmethod
    def terms(cls, state: GameState, game: int) -> np.ndarray:
        """The terms the moves of ``game`` placed, (terms, 3, S) int8: the moves, and in
        a cyclic game the rotations of its non-fixed moves."""
        moves = cls.moves(state, game)
        spec = state.spec_of(game)
        return orbit_terms(moves, spec.target.params[0]) if spec.cyclic else moves

    def scheme(self, state: GameState, game: int, *, canonical: bool = True) -> Scheme:
        """The scheme a solved game played, verified exactly.

        With ``canonical`` (default) a game played in a changed basis is mapped back
        to its canonical target (U = U'·A⁻ᵀ, ...); otherwise the scheme is returned for
        the transformed tensor T' as a user tensor target.
        """
        game = int(game)
        if not (state.done[game] and state.nnz[game] == 0):
            raise GameError(f"game {game} is not solved (residual non-zero or still running)")
        spec = state.spec_of(game)
        ni, nj, nk = spec.dims
        mv = self.terms(state, game).astype(np.int64)
        u, v, w = mv[:, 0, :ni], mv[:, 1, :nj], mv[:, 2, :nk]
        if spec.basis is None:
            target = spec.target
        elif canonical:
            u, v, w = (spec.ring.reduce(x) for x in spec.basis.factors_to_canonical(u, v, w))
            target = spec.target
        else:
            target = tensor_target(spec.tensor)
        scheme = Scheme(target, spec.ring, u, v, w)
        check = scheme.verify()
        if not check.ok:  # a bug, never a user error: the residual said zero
            raise VerificationError(
                f"game {game}: played scheme fails at {check.n_wrong} entries", check)
        return scheme

    def completed_scheme(self, state: GameState, game: int) -> Scheme | None:
        """A finished game's moves plus the slice decomposition of its residual (the
        scheme the terminal penalty charges for), mapped to the canonical basis and
        verified; its rank is moves + penalty. Over Z_p only (None over Z, where the
        penalty rests on a Smith normal form that is not built)."""
        game = int(game)
        if not state.done[game]:
            raise GameError(f"game {game} is still running")
        spec = state.spec_of(game)
        if not spec.ring.modulus:
            return None
        ni, nj, nk = spec.dims
        mv = self.terms(state, game).astype(np.int64)
        extra = slice_completion(state.residual[game, :ni, :nj, :nk], int(spec.ring.modulus))
        u, v, w = (np.concatenate([mv[:, f, :size], extra[f]]) for f, size in enumerate((ni, nj, nk)))
        if spec.basis is not None:
            u, v, w = (spec.ring.reduce(x) for x in spec.basis.factors_to_canonical(u, v, w))
        scheme = Scheme(spec.target, spec.ring, u, v, w)
        check = scheme.verify()
        if not check.ok:  # a bug, never a user error
            raise VerificationError(f"game {game}: completed scheme fails at {check.n_wrong} entries", check)
        return scheme

    def solved_schemes(self, state: GameState, *, canonical: bool = True) -> list[tuple[int, Scheme]]:
        """(game, scheme) for every solved game with at least one move."""
        games = np.flatnonzero(state.solved & (state.step > 0))
        return [(int(g), self.scheme(state, int(g), canonical=canonical)) for g in games]

    def store(self, state: GameState, game: int, catalog: Any, *, method: str = "tensorgame",
              seed: int | None = None, source: str | None = None) -> Any:
        """Verify the solved game's canonical scheme and add it to ``catalog``
        (a :class:`tensorgame.catalog.Catalog`); returns the catalogue's AddResult."""
        return catalog.add(self.scheme(state, game), method=method, seed=seed, source=source)
