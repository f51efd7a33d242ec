"""uvicorn inside Chiffon's event loop: ``chiffon serve`` runs the HTTP API next to its actors.

Chiffon owns the process's signals (uvicorn would install its own handlers and re-raise the
signal after shutdown): ``HttpServer`` turns uvicorn's signal capture off, and the caller stops
it with ``stop()``. The listening socket is bound first, so a caller knows the address (a port
of 0 picks a free one) and clients queue in the backlog until uvicorn accepts.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import socket
import ssl
from collections.abc import Generator
from pathlib import Path
from typing import Any

import uvicorn


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # Chiffon's, not uvicorn's: ``chiffon serve`` listens for SIGTERM/SIGINT


class HttpServer:
    """One uvicorn server for ``app`` on ``host:port``, TLS when given a certificate and key.

    ``bind()`` listens and answers the bound ``(host, port)``; ``serve()`` serves until
    ``stop()``, which closes the listener and asks open connections to finish: ``serve``
    returns once they have, or after ``grace_s``.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
        grace_s: float = 5.0,
    ) -> None:
        self.host = host
        self.port = port
        ssl_options: dict[str, Any] = {}
        if tls_cert is not None:
            ssl_options = {"ssl_certfile": str(tls_cert), "ssl_keyfile": str(tls_key)}
        self._options: dict[str, Any] = dict(
            lifespan="off",  # the System is started and stopped by chiffon serve, not by uvicorn
            log_config=None,
            access_log=False,
            server_header=False,
            ws="none",
            timeout_graceful_shutdown=max(1, math.ceil(grace_s)),
            **ssl_options,
        )
        self._server: _Server | None = None
        self._stopping = False
        self._listener: socket.socket | None = None

    def bind(self) -> tuple[str, int]:
        """Bind and listen (before the system starts: a port in use fails fast); answers the
        bound address. Raises ``OSError``."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.host, self.port))
            listener.listen(2048)
            listener.setblocking(False)
        except OSError:
            listener.close()
            raise
        self._listener = listener
        bound = listener.getsockname()
        return bound[0], bound[1]

    async def serve(self, app: Any) -> None:
        """Serve ``app`` on the bound socket until ``stop()``; closes it on the way out."""
        if self._listener is None:
            raise RuntimeError("HttpServer.serve before bind")
        self._server = _Server(uvicorn.Config(app, **self._options))
        self._server.should_exit = self._stopping
        try:
            await self._server.serve(sockets=[self._listener])
        finally:
            self._listener.close()

    def stop(self) -> None:
        self._stopping = True
        if self._server is not None:
            self._server.should_exit = True


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) as a pair; raises ``ValueError`` naming the form."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535 or not host:
        raise ValueError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:8080 or [::1]:8080)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def check_tls_files(cert: Path, key: Path) -> None:
    """Load the pair once, so a wrong path or a mismatched key is one sentence at start-up
    instead of a traceback from uvicorn. Raises ``ValueError``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"cannot use TLS certificate {cert} with key {key}: {exc}") from None
