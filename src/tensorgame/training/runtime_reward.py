"""The runtime term of the agent's return, as AlphaTensor's hardware-aware games had:
a game that ends with a complete scheme over Z gains ``-weight × (kernel time /
library time)``, so that among schemes of one rank the network learns to value the
faster ones on this machine.

The kernel is the scheme's generated NumPy module at one level (codegen's form search
and CSE included), multiplying ``size``×``size`` matrices of ``dtype``, timed against
``numpy.matmul`` in the same rounds by bench's timer
(:func:`tensorgame.codegen.bench.time_calls`; medians of :data:`REPEATS` rounds
after one warm-up call each). Timing costs far more than a game, and equivalent
schemes are one kernel up to renaming, so each class
(:func:`~tensorgame.tensors.canonical.canonical_hash`) is timed once per process.
A scheme mod p is no algorithm over the reals: it gets no term.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tensorgame.tensors.canonical import canonical_hash
from tensorgame.tensors.scheme import Scheme

#: Timed rounds per class (the median is kept).
REPEATS = 3
#: Sides the timed product may have (a 4096 float64 product holds 128 MiB a matrix).
MIN_SIZE, MAX_SIZE = 16, 4096
DTYPES = ("float32", "float64")

Timer = Callable[[Sequence[Callable[[], Any]], int], tuple[list[list[float]], list[list[float]]]]


def timing_bytes(size: int, dtype: str) -> int:
    """Memory the timing holds at once: the two inputs, the library's and the kernel's
    results, and about as much again for one level's block temporaries."""
    return 8 * size * size * np.dtype(dtype).itemsize


class RuntimeReward:
    """Times the kernels of finished games' schemes, once per class (module doc).
    ``timer`` has :func:`~tensorgame.codegen.bench.time_calls`'s signature (tests
    pass a fake one); ``measured`` holds the ratio of every class timed."""

    def __init__(self, weight: float, size: int, dtype: str, *, timer: Timer | None = None, seed: int = 0) -> None:
        if timer is None:
            from tensorgame.codegen.bench import time_calls

            timer = time_calls
        self.weight, self.size, self.dtype = float(weight), int(size), np.dtype(dtype)
        self.timer = timer
        self.seed = seed
        self.measured: dict[str, float] = {}

    def ratio(self, scheme: Scheme) -> tuple[float, bool] | None:
        """(kernel time / library time, newly measured), or None for a scheme mod p;
        the return's term is ``-weight`` times the ratio."""
        if scheme.ring.modulus is not None or not scheme.target.is_matmul:
            return None
        key = canonical_hash(scheme)
        if key in self.measured:
            return self.measured[key], False
        self.measured[key] = self._time(scheme)
        return self.measured[key], True

    def _time(self, scheme: Scheme) -> float:
        from tensorgame.codegen.generate import build_module

        module = build_module(scheme, levels=1, threshold=1)
        rng = np.random.default_rng(self.seed)
        a = rng.standard_normal((self.size, self.size)).astype(self.dtype)
        b = rng.standard_normal((self.size, self.size)).astype(self.dtype)
        calls = [lambda: np.matmul(a, b), lambda: module.matmul(a, b)]
        for call in calls:  # warm-up: first-touch allocations, workspaces
            call()
        times, _ = self.timer(calls, REPEATS)
        return statistics.median(times[1]) / statistics.median(times[0])
