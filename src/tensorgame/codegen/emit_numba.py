"""The numba backend of the generated modules (see :mod:`tensorgame.codegen.emit`).

The products are NumPy's (``np.matmul`` into preallocated blocks); every chain of
block additions of the memory plan runs as one pass of the compiled, multi-threaded
:func:`tensorgame.codegen.kernels.combine`, so the generated module imports tensorgame.
Dtypes the kernel is not compiled for go to ``np.matmul`` unchanged.
"""

from tensorgame.codegen.emit import Backend
from tensorgame.codegen.emit_numpy import NUMPY

NUMBA = Backend(
    name="numba",
    library=NUMPY.library,
    imports="\n".join([NUMPY.imports, "", "from tensorgame.codegen.kernels import KERNEL_DTYPES, combine"]),
    add=NUMPY.add,
    sub=NUMPY.sub,
    mul=NUMPY.mul,
    neg=NUMPY.neg,
    matmul=NUMPY.matmul,
    prepare=NUMPY.prepare,
    empty=NUMPY.empty,
    numeric="{X}.dtype in KERNEL_DTYPES",
    integer=NUMPY.integer,
    result=NUMPY.result,
    device=NUMPY.device,
    combine="combine",
)
