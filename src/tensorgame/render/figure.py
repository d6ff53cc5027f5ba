"""The factor matrices U, V, W of a scheme as coloured grids (AlphaTensor, Fig. 1c).

One column per term and one row per coordinate (a11.., b11.., c11..), one colour per
distinct coefficient on a diverging map centred at zero, so the sparsity and the
structure of an algorithm are visible at a glance.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from tensorgame.fileio import atomic_write
from tensorgame.render.coefficients import display_factors, format_value
from tensorgame.tensors.scheme import Scheme

#: Figure size limits in inches: wide enough to read rank ~100, never unbounded.
_INCH_PER_CELL = 0.16
_MAX_WIDTH = 24.0
_MAX_HEIGHT = 30.0
#: Beyond this many rows or columns, label only every k-th one.
_MAX_TICKS = 40
_DPI = 150


def _ticks(count: int) -> range:
    return range(0, count, max(1, math.ceil(count / _MAX_TICKS)))


def plot_factors(scheme: Scheme, path: str | Path) -> None:
    """Write a PNG of the scheme's factors to ``path`` (atomically: temp file + rename)."""
    # The object-oriented API with the Agg canvas needs no GUI and does not touch
    # pyplot's global backend; imported here so the CLI starts fast without it.
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.figure import Figure

    factors = display_factors(scheme)
    values = sorted(set().union(*(set(f.ravel().tolist()) for f in factors)) | {0})
    index = {val: i for i, val in enumerate(values)}
    extent = max(abs(val) for val in values) or 1
    diverging = colormaps["RdBu_r"]
    cmap = ListedColormap([diverging(0.5 + 0.5 * float(val) / float(extent)) for val in values])
    norm = BoundaryNorm(np.arange(len(values) + 1) - 0.5, len(values))

    labels = scheme.target.labels()
    rows = [len(names) for names in labels]
    cols = max(scheme.rank, 1)
    width = min(_MAX_WIDTH, 2.5 + _INCH_PER_CELL * cols)
    height = min(_MAX_HEIGHT, 1.2 + _INCH_PER_CELL * sum(rows) + 0.4 * len(rows))
    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": rows})
    edge = 0.4 if cols <= 150 else 0.0
    mesh = None
    for ax, factor, names, letter in zip(axes, factors, labels, "UVW"):
        grid = np.array([[index[x] for x in row] for row in factor.T.tolist()],
                        dtype=np.int64).reshape(len(names), -1)
        mesh = ax.pcolormesh(grid, cmap=cmap, norm=norm, edgecolors="white", linewidth=edge)
        ax.invert_yaxis()
        ax.set_ylabel(letter, rotation=0, labelpad=12, fontweight="bold")
        ticks = _ticks(len(names))
        ax.set_yticks([t + 0.5 for t in ticks], [names[t] for t in ticks], fontsize=7)
        ax.tick_params(length=0)
    term_ticks = _ticks(cols)
    axes[-1].set_xticks([t + 0.5 for t in term_ticks], [str(t + 1) for t in term_ticks], fontsize=7)
    axes[-1].set_xlabel("term")
    axes[0].set_title(f"{scheme.target.name} over {scheme.ring}, rank {scheme.rank}")
    bar = fig.colorbar(mesh, ax=list(axes), ticks=range(len(values)), shrink=0.8,
                       fraction=0.04 if cols > 20 else 0.08)
    bar.ax.set_yticklabels([format_value(val) for val in values], fontsize=8)
    bar.set_label("coefficient")

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    atomic_write(path, buffer.getvalue())
