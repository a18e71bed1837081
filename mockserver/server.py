"""Serving a built mock over HTTP: granian by default, waitress where granian cannot run.

granian parses HTTP in Rust. The mock runs behind its RSGI interface through `bridge.RsgiBridge`, which answers
each request inline on one thread (requests that may sleep, on a pool of `threads`): on two cores that answers
several times more requests per second than a pure-Python server, and about half again as many as granian's own
WSGI interface, whose thread pool spends its time handing the GIL around. Its worker is a child process forked
from this one, so the world built here (seeded, possibly large) is inherited as it is, not rebuilt; the
background workers (webhook deliveries, simulations) start in the child, where the requests are served. One
worker only: the world lives in memory.

waitress (pure Python, `threads` threads in this process) serves where forking is not the start method (macOS,
Windows) or when asked for (`--server waitress`). The contract suite embeds the mock in-process with waitress too
(`mockserver.testing.serve_pooled_in_thread`), tests mostly with werkzeug's threaded server (`serve_in_thread`).
"""

from __future__ import annotations

import importlib.util
import logging
import multiprocessing
import multiprocessing.util
import signal
from typing import Any, Callable

from .bridge import RsgiBridge

SERVERS = ("auto", "granian", "waitress")


def granian_available() -> bool:
    return importlib.util.find_spec("granian") is not None and multiprocessing.get_start_method() == "fork"


def choose(server: str) -> str:
    if server == "auto":
        return "granian" if granian_available() else "waitress"
    if server == "granian" and not granian_available():
        raise RuntimeError("granian is not installed or this platform does not fork; use --server waitress")
    return server


def serve(app: Any, *, host: str, port: int, threads: int, server: str = "auto", verbose: bool = False,
          on_start: Callable[[], None] | None = None, on_stop: Callable[[], None] | None = None,
          may_wait: Callable[[dict[str, Any]], bool] = lambda environ: True) -> None:
    """Serve `app` until interrupted. `on_start` runs where requests are served, before the first one. Under
    granian, requests for which `may_wait(environ)` is true (they may sleep) are answered on a pool of `threads`
    threads, the others inline on one thread."""
    chosen = choose(server)
    if chosen == "granian":
        _serve_granian(RsgiBridge(app, may_wait, threads), host=host, port=port, verbose=verbose, on_start=on_start,
                       on_stop=on_stop)
    else:
        _serve_waitress(app, host=host, port=port, threads=threads, verbose=verbose, on_start=on_start,
                        on_stop=on_stop)


def _serve_waitress(app: Any, *, host: str, port: int, threads: int, verbose: bool,
                    on_start: Callable[[], None] | None, on_stop: Callable[[], None] | None) -> None:
    from waitress.server import create_server

    server = create_server(app, host=host, port=port, threads=threads, ident="modelux-mock")

    def terminate(signum: int, frame: Any) -> None:
        raise SystemExit(0)  # waitress stops accepting and lets its threads finish what they are answering

    signal.signal(signal.SIGTERM, terminate)
    if on_start:
        on_start()
    try:
        server.run()
    finally:
        server.close()
        if on_stop:
            on_stop()


def _serve_granian(bridge: RsgiBridge, *, host: str, port: int, verbose: bool,
                   on_start: Callable[[], None] | None, on_stop: Callable[[], None] | None) -> None:
    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server import Server

    def load(_target: str) -> Any:
        # Runs in the forked worker, where requests are served.
        if on_start:
            on_start()
        # The worker is a multiprocessing child: it ends with os._exit, which skips atexit, after running
        # multiprocessing's finalizers (on SIGTERM or SIGINT, granian lets it return first).
        multiprocessing.util.Finalize(None, bridge.close, exitpriority=20)
        if on_stop:
            multiprocessing.util.Finalize(None, on_stop, exitpriority=10)
        return bridge

    granian = Server(
        "modelux-mock",
        address=host,
        port=port,
        interface=Interfaces.RSGI,
        workers=1,
        log_enabled=verbose,
        log_level=LogLevels.info if verbose else LogLevels.warning,
        log_access=verbose,
        websockets=False,
        process_name=None,
    )
    logging.getLogger("granian").setLevel(logging.INFO if verbose else logging.WARNING)
    granian.serve(target_loader=load)
