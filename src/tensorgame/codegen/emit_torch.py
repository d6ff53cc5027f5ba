"""The PyTorch backend of the generated modules (see :mod:`tensorgame.codegen.emit`).

Tensors stay on the device and dtype they come with; NumPy arrays are accepted and
converted with ``torch.as_tensor``. Only the generated module imports torch.
"""

from tensorgame.codegen.emit import Backend

TORCH = Backend(
    name="torch",
    library="torch.matmul",
    imports="import torch",
    add="torch.add",
    sub="torch.sub",
    mul="torch.mul",
    neg="torch.neg",
    matmul="torch.matmul",
    prepare="\n".join([
        "    A = torch.as_tensor(A)",
        "    B = torch.as_tensor(B, device=A.device)",
        "    if not _plain(A, B):",
        "        return torch.matmul(A, B)",
        "    dtype = torch.promote_types(A.dtype, B.dtype)",
        "    A, B = A.to(dtype), B.to(dtype)",
    ]),
    empty="torch.empty({shape}, dtype={like}.dtype, device={like}.device)",
    numeric="{X}.dtype != torch.bool",
    integer="not ({X}.is_floating_point() or {X}.is_complex())",
    result="    C = torch.empty((A.shape[0], B.shape[1]), dtype=dtype, device=A.device)",
    device="{X}.device",
)
