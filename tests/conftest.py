"""Shared fixtures: Strassen's scheme in the project's convention, shared/ data, a
private catalogue for every test, and the CLI runner with its one-line-error check."""

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import tensorgame as tg
from tensorgame.cli.main import cli

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


@pytest.fixture(autouse=True)
def _private_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test, nor anything it starts, can touch the user's real catalogue."""
    monkeypatch.setenv("TENSORGAME_CATALOG", str(tmp_path / "default-catalog.sqlite"))


@pytest.fixture
def catalog_path(tmp_path: Path) -> Path:
    return tmp_path / "cat" / "c.sqlite"


@pytest.fixture
def run(catalog_path: Path):
    """Invoke the CLI (as the console script would) with the catalogue at ``catalog_path``."""
    runner = CliRunner(env={"TENSORGAME_CATALOG": str(catalog_path)})

    def invoke(*args: object) -> Result:
        return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)

    return invoke


def assert_user_error(result: Result) -> None:
    """Exit 2 with exactly one line on stderr and no traceback."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
