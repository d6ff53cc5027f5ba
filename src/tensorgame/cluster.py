"""Joining a Ray cluster (the optional ``ray`` extra), for ``flip --ray`` and ``train --ray``.

One place decides what an address means and fails fast: Ray itself retries an
unreachable ``host:port`` for over a minute before giving up, so such an address is
probed with a plain TCP connection first (a few seconds) and refused in one line.
"""

from __future__ import annotations

import socket
from types import ModuleType

from tensorgame.errors import TensorGameError

#: Seconds the TCP probe of a ``host:port`` address waits for an answer.
PROBE_TIMEOUT_S = 3.0


def import_ray() -> ModuleType:
    """The ``ray`` module, or one line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise TensorGameError("--ray needs the optional 'ray' extra (pip install 'tensorgame[ray]')") from None
    return ray


def _host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of a ``host:port`` / ``ray://host:port`` address, None for other forms."""
    text = address.removeprefix("ray://")
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def probe(address: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Raise a one-line error unless something accepts TCP connections at ``address``
    (addresses that are not ``host:port`` are left to Ray)."""
    target = _host_port(address)
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=timeout_s):
            pass
    except OSError as exc:
        raise TensorGameError(f"--ray {address}: no Ray cluster answers there "
                              f"({exc.strerror or type(exc).__name__} within {timeout_s:g} s)") from None


def connect_ray(address: str, *, local_cpus: int | None = None) -> ModuleType:
    """Ray, initialised for ``address``: "local" starts a local instance (``local_cpus``
    CPUs, or all), "auto" joins the cluster running on this machine, anything else is a
    cluster address (probed first). An instance already initialised in this process
    (e.g. ``ray.init(num_cpus=2)`` in a test) is used as it is."""
    ray = import_ray()
    if ray.is_initialized():
        return ray
    try:
        if address == "local":
            ray.init(num_cpus=local_cpus, include_dashboard=False)
        else:
            probe(address)
            ray.init(address=address)
    except ConnectionError as exc:
        raise TensorGameError(f"--ray {address}: no Ray cluster there ({str(exc).splitlines()[0]})") from None
    return ray
