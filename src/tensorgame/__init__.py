"""tensorgame: discovery of fast bilinear algorithms with exact verification.

Conventions: vec(A), vec(B), vec(C) are row-major and the matmul tensor is
``T[i*m + j, j*p + k, i*p + k] = 1`` (C not transposed).

The verbs of the command line are functions here (``flip``, ``lift``, ``discover``,
``train``, ``generate_code`` for ``codegen``, ``verify``, ``open_catalog``,
``read_scheme`` ...; see ``docs/api.md``). They load on first use, so
``import tensorgame`` stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from tensorgame.errors import TensorGameError
from tensorgame.tensors.rings import Q, Z, Z2, Z3, Ring, parse_ring
from tensorgame.tensors.scheme import Scheme, naive_scheme
from tensorgame.tensors.targets import (
    Target,
    complex_target,
    known_ranks,
    load_target_file,
    matmul_target,
    matmul_tensor,
    polymul_target,
    skew_matvec_target,
    target_from_json,
    tensor_target,
)
from tensorgame.tensors.verify import Verification

__version__ = "0.1.0"

#: name -> module of the objects loaded on first use.
_LAZY = {
    **{name: "tensorgame.api" for name in (
        "AdditionsOutcome", "CodegenOutcome", "DiscoverOutcome", "LiftOutcome", "discover", "flip",
        "generate_code", "import_schemes", "lift", "minimise_additions", "open_catalog", "scheme", "target",
        "train", "verify", "write_program",
    )},
    **{name: "tensorgame.formats" for name in ("read_scheme", "read_schemes", "write_scheme", "write_schemes")},
    **{name: "tensorgame.codegen.bench" for name in ("bench", "rank_by_runtime")},
    "tune": "tensorgame.codegen.tune",
    "kernel_accuracy": "tensorgame.codegen.accuracy",
    "Catalog": "tensorgame.catalog",
    "CatalogEntry": "tensorgame.catalog",
    "parse_duration": "tensorgame.durations",
    "parse_target": "tensorgame.tensors.target_names",
}

__all__ = [
    "Q", "Z", "Z2", "Z3", "Ring", "Scheme", "Target", "TensorGameError", "Verification",
    "complex_target", "known_ranks", "load_target_file", "matmul_target", "matmul_tensor",
    "naive_scheme", "parse_ring", "polymul_target", "skew_matvec_target", "target_from_json",
    "tensor_target", *sorted(_LAZY),
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tensorgame' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
