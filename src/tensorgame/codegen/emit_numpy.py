"""The NumPy backend of the generated modules (see :mod:`tensorgame.codegen.emit`)."""

from tensorgame.codegen.emit import Backend

NUMPY = Backend(
    name="numpy",
    library="numpy.matmul",
    imports="import numpy as np",
    add="np.add",
    sub="np.subtract",
    mul="np.multiply",
    neg="np.negative",
    matmul="np.matmul",
    prepare="\n".join([
        "    A = np.asarray(A)",
        "    B = np.asarray(B)",
        "    if not _plain(A, B):",
        "        return np.matmul(A, B)",
        "    dtype = np.result_type(A, B)",
        "    A, B = A.astype(dtype, copy=False), B.astype(dtype, copy=False)",
    ]),
    empty="np.empty({shape}, dtype={like}.dtype)",
    numeric='{X}.dtype.kind in "iufc"',
    integer='{X}.dtype.kind in "iu"',
    result="    C = np.empty((A.shape[0], B.shape[1]), dtype=dtype)",
    device="None",
)
