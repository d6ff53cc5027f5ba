"""The one parser of target names: ``2 3 4`` and ``2,3,4`` are <2,3,4>; other maps are a
kind and its parameters (``skew_matvec 5``, ``polymul:3,3``, ``complex``); a path to a
``.npy``/``.json`` tensor file names a user tensor."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

from tensorgame.errors import TargetError
from tensorgame.tensors.targets import (
    Target,
    complex_target,
    load_target_file,
    matmul_target,
    polymul_target,
    skew_matvec_target,
)

_KINDS: dict[str, tuple[Callable[..., Target], tuple[str, ...]]] = {
    "matmul": (matmul_target, ("N", "M", "P")),
    "skew_matvec": (skew_matvec_target, ("N",)),
    "polymul": (polymul_target, ("N", "M")),
    "complex": (complex_target, ()),
}
TARGET_SYNTAX = "N M P, or a kind and its parameters: skew_matvec N, polymul N M, complex"
_MAX_WORD = 32


def _integer(word: str) -> int:
    if len(word) > _MAX_WORD:
        raise TargetError(f"{word[:_MAX_WORD]!r}... is not a target parameter (a target is {TARGET_SYNTAX})")
    try:
        return int(word)
    except ValueError:
        raise TargetError(f"{word!r} is not an integer (a target is {TARGET_SYNTAX})") from None


def target_from_words(words: Sequence[str]) -> Target:
    """``2 3 4`` is <2,3,4>; ``skew_matvec 5``, ``polymul 3 3``, ``complex`` name other maps."""
    words = list(words)
    if not words:
        raise TargetError(f"name a target: {TARGET_SYNTAX}")
    if words[0] not in _KINDS and not words[0].lstrip("+-").isdigit():
        raise TargetError(f"unknown target kind {words[0][:_MAX_WORD]!r}: a target is {TARGET_SYNTAX}")
    kind, params = (words[0], words[1:]) if words[0] in _KINDS else ("matmul", words)
    build, names = _KINDS[kind]
    if len(params) != len(names):
        raise TargetError(
            f"{kind} takes {len(names)} parameter(s) ({' '.join(names) or 'none'}), "
            f"got {len(params)}: a target is {TARGET_SYNTAX}"
        )
    return build(*(_integer(p) for p in params))


def parse_target(text: str) -> Target:
    """One-word form of a target: ``2,2,2``, ``2x2x2``, ``<2,2,2>``, ``skew_matvec:4``."""
    words = re.split(r"[\s,:]+|(?<=\d)x(?=\d)", str(text).strip().strip("<>"))
    return target_from_words([w for w in words if w])


def resolve_target(text: str | Path | Target) -> Target:
    """A target given any way a user may: a :class:`Target`, a tensor file (``.npy`` or
    ``.json``, recognised as <n,m,p> when it is one) or a name for :func:`parse_target`."""
    if isinstance(text, Target):
        return text
    path = Path(text)
    if isinstance(text, Path) or path.suffix.lower() in (".npy", ".json") or path.is_file():
        return load_target_file(path)
    return parse_target(str(text))


def target_key(text: str) -> str:
    """Catalogue key of a target given as for :func:`resolve_target`, or a stored key
    (a user tensor's ``tensor:<digest>`` cannot be rebuilt from its key)."""
    return text if text.startswith("tensor:") else resolve_target(text).key
