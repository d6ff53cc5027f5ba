"""Fuzzing every reader of user files: random bytes and mutations of valid files must
either give verified schemes (targets) or raise a TensorGameError, never anything
else. Deterministic (derandomized hypothesis) and small enough to stay fast."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tensorgame as tg
from tensorgame.errors import TensorGameError
from tensorgame.formats import read_schemes, write_scheme
from tests.conftest import STRASSEN_U, STRASSEN_V, STRASSEN_W

FUZZ = settings(max_examples=120, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

#: Fragments that push parsers to their edges: nesting, huge or odd numbers, bytes
#: that are not UTF-8, the tokens of the text format, npy/zip magic.
SNIPPETS = [b"[", b"]", b"{", b"}", b'"', b",", b"-", b"9" * 40, b"9" * 5000, b"[" * 3000, b"1e999", b"NaN", b"-0.5", b"\x00",
            b"\xff\xfe", b"[[[[[[[[", b"a99", b"c1_1", b"*", b"(", b")", b"+", b"\n# format 9 9 9\n",
            b"\n# ring Z7\n", b"PK\x03\x04", b"\x93NUMPY", b"'shape': (99999, 99999, 99999)",
            b"'descr': '|O'", b"'descr': '<c16'", b"true", b"null", b"2147483648"]


@st.composite
def mutations(draw: st.DrawFn, seed: bytes) -> bytes:
    """``seed`` after a few edits: flipped bytes, inserted fragments, cut ranges, truncation."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["flip", "insert", "cut", "truncate"]))
        if kind == "flip" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[pos:pos] = draw(st.sampled_from(SNIPPETS) | st.binary(min_size=1, max_size=8))
        elif kind == "cut":
            del data[pos:pos + draw(st.integers(1, 16))]
        elif kind == "truncate":
            del data[pos:]
    return bytes(data)


def inputs(seed: bytes) -> st.SearchStrategy[bytes]:
    return mutations(seed) | st.binary(max_size=256)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def seeds(workdir: Path) -> dict[str, bytes]:
    """One valid file per reader (the mutations start from these)."""
    strassen = tg.Scheme(tg.matmul_target(2, 2, 2), "Z", STRASSEN_U, STRASSEN_V, STRASSEN_W)
    out: dict[str, bytes] = {}
    for name in ("s.json", "s.txt", "s.npz"):
        write_scheme(strassen, workdir / name)
        out[name] = (workdir / name).read_bytes()
    upstream = io.BytesIO()  # AlphaTensor's pickled layout, uncompressed: mutations reach the pickle
    factors = np.empty(3, dtype=object)
    factors[:] = [strassen.u.T.copy(), strassen.v.T.copy(),
                  strassen.w.reshape(-1, 2, 2).transpose(0, 2, 1).reshape(-1, 4).T.copy()]
    np.savez(upstream, **{"2,2,2": factors})
    out["upstream.npz"] = upstream.getvalue()
    plain = io.BytesIO()
    np.savez(plain, **{"2,2,2/u": strassen.u.T.copy(), "2,2,2/v": strassen.v.T.copy(),
                       "2,2,2/w": strassen.w.reshape(-1, 2, 2).transpose(0, 2, 1).reshape(-1, 4).T.copy()})
    out["plain.npz"] = plain.getvalue()
    tensor = tg.polymul_target(2, 2).tensor
    out["t.json"] = json.dumps(tg.tensor_target(tensor).to_json()).encode()
    npy = io.BytesIO()
    np.save(npy, np.asarray(tensor, dtype=np.int64))
    out["t.npy"] = npy.getvalue()
    return out


def read_verified(path: Path) -> None:
    for scheme in read_schemes(path):
        assert scheme.verify().ok


def read_target(path: Path) -> None:
    assert isinstance(tg.load_target_file(path), tg.Target)


def survives(reader: Callable[[Path], None], path: Path, data: bytes) -> None:
    """The reader's only allowed failure is a TensorGameError."""
    path.write_bytes(data)
    try:
        reader(path)
    except TensorGameError:
        pass


@pytest.mark.parametrize("seed_name, reader", [
    ("s.json", read_verified), ("s.txt", read_verified), ("s.npz", read_verified),
    ("upstream.npz", read_verified), ("plain.npz", read_verified),
    ("t.json", read_target), ("t.npy", read_target),
])
def test_reader_raises_only_tensorgame_errors(workdir: Path, seeds: dict[str, bytes], seed_name: str,
                                              reader: Callable[[Path], None]) -> None:
    path = workdir / f"fuzz-{seed_name}"
    path.write_bytes(seeds[seed_name])
    reader(path)  # the unmutated seed is valid

    @FUZZ
    @given(data=inputs(seeds[seed_name]))
    def fuzz(data: bytes) -> None:
        survives(reader, path, data)

    fuzz()
