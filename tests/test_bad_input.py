"""Bad input, class by class: every one is refused with one line and the right exit
status (1 for a wrong scheme, 2 for anything else), and refused before it can cost
memory or minutes."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.lib import format as npy_format

import tensorgame as tg
from tensorgame.errors import FormatError, TargetError
from tensorgame.fileio import load_json, read_bytes
from tensorgame.formats import (
    alphatensor_npz,
    flipgraph_text,
    read_schemes,
    write_scheme,
)
from tensorgame.network import config as network_config
from tensorgame.network.checkpoint import load_checkpoint, save_checkpoint
from tensorgame.network.config import NetworkConfig
from tensorgame.network.errors import CheckpointError, NetworkError
from tensorgame.network.model import AlphaTensorNet
from tensorgame.tensors import targets
from tensorgame.tensors.canonical import canonical_hash
from tensorgame.training.config import ConfigError, config_from_dict, memory_estimate
from tests.conftest import assert_user_error

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
WRONG = EXAMPLES / "strassen_wrong.json"


def assert_wrong_scheme(result) -> None:
    """Exit 1 and no traceback (the status of a wrong scheme in every command)."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output


def zero_target_scheme_doc() -> dict:
    return {"format": "tensorgame-scheme", "version": 1,
            "target": {"kind": "tensor", "dims": [2, 2, 2], "entries": []},
            "ring": "Z", "rank": 0, "u": [], "v": [], "w": []}


def npy_header_only(shape: tuple[int, ...], descr: str = "<i8") -> bytes:
    buffer = io.BytesIO()
    npy_format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


# --- 1. degenerate but valid objects ------------------------------------------------------
@pytest.mark.parametrize("ring", ["Z", "Z2", "Q"])
def test_rank_zero_scheme_is_valid_only_for_the_zero_tensor(ring: str) -> None:
    zero = tg.tensor_target(np.zeros((2, 2, 2), dtype=np.int64))
    for target in (zero, tg.matmul_target(2, 2, 2), tg.polymul_target(2, 2)):
        empty = tg.Scheme(target, ring, np.zeros((0, target.dims[0])), np.zeros((0, target.dims[1])),
                          np.zeros((0, target.dims[2])))
        assert empty.verify().ok == (target is zero)
        assert len(canonical_hash(empty)) == 64  # hashes without crashing


def test_rank_zero_scheme_of_the_zero_tensor_is_stored_once(run, tmp_path: Path) -> None:
    path = tmp_path / "rank0.json"
    path.write_text(json.dumps(zero_target_scheme_doc()))
    assert run("verify", path).exit_code == 0
    first = json.loads(run("catalog", "import", path, "--json").stdout)
    again = json.loads(run("catalog", "import", path, "--json").stdout)
    assert first["stored"] == 1 and again["duplicates"] == 1


def test_rank_zero_scheme_of_matmul_is_wrong_everywhere(run, tmp_path: Path, strassen: tg.Scheme) -> None:
    doc = json.loads((EXAMPLES / "strassen.json").read_text())
    doc.update(rank=0, u=[], v=[], w=[])
    path = tmp_path / "rank0.json"
    path.write_text(json.dumps(doc))
    for args in (["verify", path], ["catalog", "import", path], ["show", path],
                 ["codegen", path, "-o", tmp_path / "m.py"], ["lift", path, "--no-store"]):
        assert_wrong_scheme(run(*args))


def test_zero_target_is_refused_in_one_line(run, tmp_path: Path) -> None:
    zero_npy, zero_json = tmp_path / "zero.npy", tmp_path / "zero.json"
    np.save(zero_npy, np.zeros((2, 2, 2), dtype=np.int64))
    zero_json.write_text(json.dumps(zero_target_scheme_doc()["target"]))
    for path in (zero_npy, zero_json):
        with pytest.raises(TargetError, match="zero, so its rank is 0"):
            tg.load_target_file(path)
        assert_user_error(run("target", "--target", path))
        assert_user_error(run("flip", "--target", path, "--time", "1"))


# --- 2. target files get the scheme readers' guards ---------------------------------------
@pytest.mark.parametrize("name, content", [
    ("deep.json", "[" * 100_000 + "]" * 100_000),
    ("digits.json", '{"kind": "tensor", "dims": [1, 1, 1], "entries": [[0, 0, 0, ' + "9" * 5000 + "]]}"),
    ("wide.json", '{"kind": "tensor", "dims": [1, 1, 1], "entries": [[0, 0, 0, 4294967296]]}'),
    ("nested.json", "[" * 40 + "]" * 40),
    ("utf.json", b"\xff\xfe{"),
    ("empty.npy", b""),
    ("garbage.npy", b"\x93NUMPY garbage"),
    ("huge.npy", npy_header_only((100_000, 100_000, 100_000))),
    ("axes.npy", npy_header_only((4, 4))),
    ("nothing.npy", npy_header_only((0, 2, 2))),
    ("truncated.npy", npy_header_only((4, 4, 4)) + b"\0" * 100),
    ("text.npy", npy_header_only((2, 2, 2), "<U1") + b"\0" * 32),
    ("complex.npy", npy_header_only((1, 1, 1), "<c16") + b"\0" * 16),
    ("record.npy", npy_header_only((1, 1, 1), "V8") + b"\0" * 8),
])
def test_bad_target_files_are_refused(run, tmp_path: Path, name: str, content: str | bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(TargetError):
        tg.load_target_file(path)
    assert_user_error(run("target", "--target", path))


def test_object_npy_target_is_refused(run, tmp_path: Path) -> None:
    path = tmp_path / "obj.npy"
    np.save(path, np.array([[[1]]], dtype=object), allow_pickle=True)
    with pytest.raises(TargetError, match="pickle"):
        tg.load_target_file(path)
    assert_user_error(run("target", "--target", path))


def test_reads_are_bounded(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_bytes(b" " * 2000)
    with pytest.raises(FormatError, match="larger than 1,000 bytes"):
        read_bytes(path, 1000)
    if Path("/dev/zero").exists():  # no size to stat: the bounded read still stops
        with pytest.raises(FormatError, match="larger than"):
            read_bytes("/dev/zero", 1 << 16)


def test_json_depth_is_bounded_without_recursion() -> None:
    assert load_json("[" * 32 + "]" * 32) is not None
    with pytest.raises(FormatError, match="nested deeper"):
        load_json("[" * 33 + "]" * 33)
    with pytest.raises(FormatError, match="nested too deeply"):
        load_json("{\"a\": " * 100_000 + "1" + "}" * 100_000)


# --- 3. catalogue ids out of range --------------------------------------------------------
@pytest.mark.parametrize("entry_id", [str(2**63), str(10**30), "-5"])
def test_out_of_range_ids_are_one_line(run, tmp_path: Path, strassen: tg.Scheme, entry_id: str) -> None:
    path = tmp_path / "s.json"
    write_scheme(strassen, path)
    assert run("catalog", "import", path).exit_code == 0
    for args in (["show", "--", entry_id], ["codegen", "-o", tmp_path / "m.py", "--", entry_id],
                 ["catalog", "show", "--", entry_id], ["catalog", "export", "-o", tmp_path / "x.json", "--", entry_id]):
        result = run(*args)
        assert_user_error(result)
        assert "no catalogue entry" in result.stderr or "matmul takes" in result.stderr


# --- 4. sizes in total, before allocating -------------------------------------------------
def test_npz_total_declared_size_is_checked_before_decompressing(
        tmp_path: Path, strassen: tg.Scheme, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.npz"
    write_scheme(strassen, path)
    declared = sum(i.file_size for i in zipfile.ZipFile(path).infolist())
    monkeypatch.setattr(alphatensor_npz, "MAX_TOTAL_BYTES", declared - 1)
    with pytest.raises(FormatError, match="declares .* bytes once decompressed"):
        read_schemes(path)
    monkeypatch.setattr(alphatensor_npz, "MAX_TOTAL_BYTES", declared)
    assert read_schemes(path)[0].rank == 7


def _patch_declared_size(data: bytes, member: str, size: int) -> bytes:
    """The zip with ``member``'s uncompressed size rewritten in both of its headers."""
    out = bytearray(data)
    name = member.encode()
    local = out.find(b"PK\x03\x04")
    while local >= 0:
        if out[local + 30: local + 30 + len(name)] == name:
            struct.pack_into("<I", out, local + 22, size)
        local = out.find(b"PK\x03\x04", local + 4)
    central = out.find(b"PK\x01\x02")
    while central >= 0:
        if out[central + 46: central + 46 + len(name)] == name:
            struct.pack_into("<I", out, central + 24, size)
        central = out.find(b"PK\x01\x02", central + 4)
    return bytes(out)


@pytest.mark.parametrize("delta", [-8, 8])
def test_npz_member_that_lies_about_its_size_is_refused(tmp_path: Path, strassen: tg.Scheme, delta: int) -> None:
    path = tmp_path / "s.npz"
    write_scheme(strassen, path)
    info = zipfile.ZipFile(path).getinfo("2,2,2/u.npy")
    path.write_bytes(_patch_declared_size(path.read_bytes(), info.filename, info.file_size + delta))
    with pytest.raises(FormatError):
        read_schemes(path)


def test_flipgraph_text_size_is_bounded(tmp_path: Path, strassen: tg.Scheme,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.txt"
    write_scheme(strassen, path)
    monkeypatch.setattr(flipgraph_text, "MAX_PRODUCTS", 6)  # Strassen has 7
    with pytest.raises(FormatError, match="more than 6 products"):
        read_schemes(path)
    monkeypatch.setattr(flipgraph_text, "MAX_LINE_CHARS", 10)
    with pytest.raises(FormatError, match="longer than 10 characters"):
        read_schemes(path)


@pytest.mark.parametrize("sizes", [
    {},
    {"max_side": 3, "history": 2, "d_model": 8, "heads": 2, "chunk": 3, "quantiles": 5,
     "torso_layers": 3, "policy_layers": 1, "ffn_ratio": 3},
])
def test_parameter_count_is_exact_without_building(sizes: dict) -> None:
    config = NetworkConfig(**sizes)
    assert config.parameter_count == AlphaTensorNet(config).num_parameters()


def test_huge_networks_are_refused_before_allocating(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(NetworkError, match="parameters .* GiB"):
        NetworkConfig(d_model=1 << 20, heads=1)
    with pytest.raises(ConfigError, match="network: a network of"):
        config_from_dict({"network": {"d_model": 1 << 20, "heads": 1}})
    with pytest.raises(ConfigError, match="replay buffer"):
        config_from_dict({"learner": {"replay_capacity": 10**12}})
    small = {"game": {"targets": ["2,2,2"]}, "network": {"d_model": 8, "heads": 2}}
    assert sum(memory_estimate(config_from_dict(small)).values()) < 1 << 30
    # the budget follows the machine: a 64 MiB machine cannot hold even the default network
    monkeypatch.setattr(network_config, "physical_memory_bytes", lambda: 64 << 20)
    with pytest.raises(NetworkError, match="50% of this machine's memory"):
        NetworkConfig(d_model=256, heads=4)


def test_checkpoint_with_a_huge_config_is_refused(tmp_path: Path) -> None:
    config = NetworkConfig(max_side=2, history=1, d_model=8, heads=2, chunk=2)
    good = save_checkpoint(tmp_path / "ok.pt", AlphaTensorNet(config), step=3)
    assert load_checkpoint(good)[2] == 3
    doc = {**config.to_dict(), "d_model": 1 << 20, "heads": 1}
    torch.save({"format": "tensorgame-network", "version": 1, "config": doc, "model": {},
                "optimizer": None, "step": 0, "extra": {}}, tmp_path / "huge.pt")
    with pytest.raises(CheckpointError, match="bad network config"):
        load_checkpoint(tmp_path / "huge.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="not a tensorgame network checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")


def test_naive_rank_is_exact_and_its_cost_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    assert tg.polymul_target(1, 8000).naive_rank == 8000  # one 8000x8000 slice: free
    rng = np.random.default_rng(0)
    for _ in range(5):
        t = rng.integers(-2, 3, (3, 4, 5)) * (rng.random((3, 4, 5)) < 0.5)
        if not t.any():
            continue
        expected = min(int(np.linalg.matrix_rank(np.moveaxis(t, mode, 0).astype(float)).sum())
                       for mode in range(3))
        assert tg.tensor_target(t).naive_rank == expected
    ones = tg.tensor_target(np.ones((3, 5, 5), dtype=np.int64))
    assert ones.naive_rank == 3  # repeated rows and columns are merged first
    dense = tg.tensor_target(np.arange(1, 76).reshape(3, 5, 5) ** 2)
    monkeypatch.setattr(targets, "NAIVE_RANK_WORK", 0)  # no work: each slice counts its size
    assert dense.naive_rank == 15


# --- 5. exit 1 for a wrong scheme, in every command ----------------------------------------
@pytest.mark.parametrize("args", [
    ["verify"], ["lift", "--no-store"], ["codegen", "-o", "{tmp}/m.py"], ["show"], ["catalog", "import"],
    ["bench", "--sizes", "8", "--repeats", "1"],
])
def test_wrong_scheme_exits_1_in_every_command(run, tmp_path: Path, args: list[str]) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = run(*argv[:1], WRONG, *argv[1:]) if argv[0] != "catalog" else run(*argv, WRONG)
    assert_wrong_scheme(result)
    if argv[0] in ("lift", "codegen", "bench"):
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "wrong over Z" in lines[0]
