"""The one parser of time budgets (``--time`` of every command, ``time_limit`` in configs).

Accepted: plain seconds (``90``, ``1.5``) or numbers with units ``s``, ``m``, ``h``,
``d``, in any combination and spacing (``90s``, ``10m``, ``1h30m``, ``"1 h"``, ``1d``).
"""

from __future__ import annotations

import math
import re

from tensorgame.errors import TensorGameError

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([smhd]?)")
_SYNTAX = "seconds, or 90s, 10m, 2h, 1h30m, 1d"


class DurationError(TensorGameError):
    """A time budget that is not a positive, finite duration."""


def parse_duration(text: str | float, *, what: str = "--time") -> float:
    """Seconds from a duration (see the module docstring); ``what`` names the option in
    the error message."""
    if isinstance(text, bool):
        raise DurationError(f"{what}: {text!r} is not a duration (use {_SYNTAX})")
    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        compact = re.sub(r"\s+", "", str(text)).lower()
        parts = _PART.findall(compact) if len(compact) <= 64 else []
        if not parts or "".join(a + b for a, b in parts) != compact or (
            len(parts) > 1 and any(not unit for _, unit in parts)
        ):
            raise DurationError(f"{what}: {str(text)[:64]!r} is not a duration (use {_SYNTAX})")
        seconds = sum(float(number) * _UNITS[unit] for number, unit in parts)
    if not (seconds > 0 and math.isfinite(seconds)):
        raise DurationError(f"{what} must be a positive, finite duration, got {str(text)[:64]!r}")
    return seconds
