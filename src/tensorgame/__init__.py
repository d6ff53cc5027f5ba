"""tensorgame: discovery of fast bilinear algorithms with exact verification.

Conventions: vec(A), vec(B), vec(C) are row-major and the matmul tensor is
``T[i*m + j, j*p + k, i*p + k] = 1`` (C not transposed).
"""

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

__all__ = [
    "Q", "Z", "Z2", "Z3", "Ring", "Scheme", "Target", "TensorGameError", "Verification",
    "complex_target", "known_ranks", "load_target_file", "matmul_target", "matmul_tensor",
    "naive_scheme", "parse_ring", "polymul_target", "skew_matvec_target", "target_from_json",
    "tensor_target",
]
