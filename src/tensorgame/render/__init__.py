"""Human views of a scheme: the algorithm as text and its factor matrices as a figure."""

from tensorgame.render.figure import plot_factors
from tensorgame.render.text import algorithm_text

__all__ = ["algorithm_text", "plot_factors"]
