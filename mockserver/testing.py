"""Helpers for running the mock inside tests and tools: a real server on a loopback port."""

from __future__ import annotations

import socket
import threading
from contextlib import contextmanager
from typing import Iterator

from waitress.server import create_server


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@contextmanager
def serve_in_thread(app, host: str = "127.0.0.1", port: int = 0, threads: int = 8) -> Iterator[str]:
    """Serve a WSGI app with waitress on a loopback port; yields its base URL."""
    server = create_server(app, host=host, port=port or free_port(host), threads=threads)
    thread = threading.Thread(target=server.run, name="mock-server", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.effective_port}"
    finally:
        server.close()
        thread.join(timeout=5)
