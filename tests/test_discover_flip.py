"""``tensorgame discover --method flip`` forwards to the flip-graph search."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tensorgame.cli.main import cli


@pytest.mark.slow
def test_discover_flip_reaches_strassen_rank(tmp_path):
    result = CliRunner().invoke(cli, [
        "--catalog", str(tmp_path / "c.sqlite"), "discover", "2", "2", "2", "--method", "flip",
        "--ring", "Z2", "--time", "20", "--goal", "7", "--workers", "1", "--out", str(tmp_path / "b.json"),
        "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["best"]["rank"] == 7 and doc["best"]["ring"] == "Z2"
    assert CliRunner().invoke(cli, ["verify", str(tmp_path / "b.json")]).exit_code == 0
