"""Fail fast on a scheduler address nothing listens at; standard library only (cheap to import).

The command line calls :func:`probe_scheduler` before any heavy import, so ``--scheduler
tcp://127.0.0.1:1`` fails in a fraction of a second instead of after a 30 s connect timeout.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

__all__ = ["UnreachableSchedulerError", "probe_scheduler"]


class UnreachableSchedulerError(ConnectionError):
    """A scheduler address that is malformed, refuses connections or does not resolve."""


def probe_scheduler(address: str, timeout: float = 3.0) -> None:
    """Raise :class:`UnreachableSchedulerError` when nothing can listen at a tcp/tls address.

    A refused connection or an unknown host fails at once; an address that does not answer
    within ``timeout`` passes (the scheduler may be busy, or far away): the Dask client's own,
    longer wait applies then. Other schemes (inproc, ucx, ...) are not probed.
    """
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if parts.scheme not in ("tcp", "tls"):
        return
    try:
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise UnreachableSchedulerError(
            f"scheduler address {address!r} is not valid: {exc}"
        ) from None
    if not host or port is None:
        raise UnreachableSchedulerError(
            f"scheduler address {address!r} is not valid: expected tcp://HOST:PORT"
        )
    where = f"cannot connect to the Dask scheduler at {address}"
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except TimeoutError:
        return
    except ConnectionRefusedError:
        raise UnreachableSchedulerError(
            f"{where}: connection refused (is a scheduler running there?)"
        ) from None
    except socket.gaierror as exc:
        raise UnreachableSchedulerError(
            f"{where}: unknown host {host!r} ({exc.strerror})"
        ) from None
    except OSError as exc:
        raise UnreachableSchedulerError(f"{where}: {exc.strerror or exc}") from None
