"""Joining a Ray cluster fails fast and in one line when nothing answers."""

from __future__ import annotations

import socket

import pytest

from tensorgame.cluster import _host_port, probe
from tensorgame.errors import TensorGameError


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_addresses_are_read_as_host_and_port():
    assert _host_port("10.0.0.5:6379") == ("10.0.0.5", 6379)
    assert _host_port("ray://head.example:10001") == ("head.example", 10001)
    assert _host_port("[::1]:6379") == ("::1", 6379)
    assert _host_port("auto") is None and _host_port("local") is None and _host_port("host:port") is None


def test_nothing_listening_is_refused_at_once():
    port = _closed_port()
    with pytest.raises(TensorGameError, match=f"127.0.0.1:{port}: no Ray cluster answers there"):
        probe(f"127.0.0.1:{port}")


def test_a_listening_address_passes_the_probe():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        probe(f"127.0.0.1:{server.getsockname()[1]}")
    probe("auto")  # left to Ray
