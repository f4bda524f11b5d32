"""Serving the application with uvicorn: in the foreground (``rca serve``) or on a background thread
(:class:`BackgroundServer`, for tests, notebooks and benchmarks). Binds 127.0.0.1 by default."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from service.errors import ServiceError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def _socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServiceError(f"serve: cannot listen on {host}:{port}: {exc}") from exc
    return sock


class BackgroundServer:
    """``app`` served on ``host:port`` (0: a free port) on a daemon thread; a context manager."""

    def __init__(self, app, host: str = DEFAULT_HOST, port: int = 0, start_timeout_s: float = 10.0):
        self.app = app
        self.host = host
        self.port = port
        self.start_timeout_s = start_timeout_s
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> BackgroundServer:
        sock = _socket(self.host, self.port)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self.start_timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.close()
                raise ServiceError(f"serve: the server on {self.host}:{self.port} did not start")
            time.sleep(0.005)
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        service = getattr(getattr(self.app, "state", None), "service", None)
        if service is not None:
            service.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


def serve(app, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Serve ``app`` in the foreground until interrupted."""
    sock = _socket(host, port)
    try:
        uvicorn.Server(uvicorn.Config(app, log_level="info")).run(sockets=[sock])
    finally:
        service = getattr(app.state, "service", None)
        if service is not None:
            service.close()
