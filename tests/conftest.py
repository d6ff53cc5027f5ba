"""Shared fixtures: Strassen's scheme in the project's convention, and shared/ data."""

from pathlib import Path

import pytest

import tensorgame as tg

STRASSEN_U = [[1, 0, 0, 1], [0, 0, 1, 1], [1, 0, 0, 0], [0, 0, 0, 1], [1, 1, 0, 0], [-1, 0, 1, 0], [0, 1, 0, -1]]
STRASSEN_V = [[1, 0, 0, 1], [1, 0, 0, 0], [0, 1, 0, -1], [-1, 0, 1, 0], [0, 0, 0, 1], [1, 1, 0, 0], [0, 0, 1, 1]]
STRASSEN_W = [[1, 0, 0, 1], [0, 0, 1, -1], [0, 1, 0, 1], [1, 0, 1, 0], [-1, 1, 0, 0], [0, 0, 0, 1], [1, 0, 0, 0]]

SHARED = Path(__file__).resolve().parents[2] / "shared"
ALPHATENSOR_DIR = SHARED / "alphatensor"


@pytest.fixture
def strassen() -> tg.Scheme:
    return tg.Scheme(tg.matmul_target(2, 2, 2), "Z", STRASSEN_U, STRASSEN_V, STRASSEN_W)


@pytest.fixture
def alphatensor_dir() -> Path:
    if not ALPHATENSOR_DIR.is_dir():
        pytest.skip("../shared/alphatensor is not beside this checkout")
    return ALPHATENSOR_DIR
