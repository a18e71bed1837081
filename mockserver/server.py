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

granian binds its port with SO_REUSEPORT: on a port another process holds that way it would share the
connections rather than fail. So the port is claimed first, the plain way, before the world is built
(`claim_port`), and held until the server binds it: a taken port is an error at once. And granian's worker
ends when this process does, however it ends (`_end_with_parent`): killed with SIGKILL, this process would
otherwise leave an orphaned worker answering from its old world on the port, beside the next mock started there.
"""

from __future__ import annotations

import ctypes
import errno
import importlib.util
import logging
import multiprocessing
import multiprocessing.util
import os
import signal
import socket
import threading
import time
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


class PortTaken(OSError):
    """The port to serve on is taken."""


def claim_port(host: str, port: int) -> socket.socket | None:
    """Bind `host`:`port` as most servers do (SO_REUSEADDR, so connections of an earlier run still in TIME_WAIT
    do not count, but no SO_REUSEPORT) and hold it until `serve` lets the server bind it; None for port 0.
    Raises PortTaken when anything listens there, or holds it, whether or not with SO_REUSEPORT."""
    if port == 0:
        return None
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise PortTaken(errno.EADDRNOTAVAIL, f"cannot listen on {host}: {exc.strerror}") from None
    claim = socket.socket(family, kind, proto)
    try:
        claim.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        claim.bind(address)
    except OSError as exc:
        claim.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortTaken(exc.errno, f"port {port} on {host} is in use: another server (an earlier mock, maybe) "
                                       "is listening there; stop it or choose another --port") from None
        raise PortTaken(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return claim


def serve(app: Any, *, host: str, port: int, threads: int, server: str = "auto", verbose: bool = False,
          on_start: Callable[[], None] | None = None, on_stop: Callable[[], None] | None = None,
          may_wait: Callable[[dict[str, Any]], bool] = lambda environ: True,
          claim: socket.socket | None = None) -> None:
    """Serve `app` until interrupted. `on_start` runs where requests are served, before the first one. Under
    granian, requests for which `may_wait(environ)` is true (they may sleep) are answered on a pool of `threads`
    threads, the others inline on one thread. `claim`: the port's socket from `claim_port`, let go just before
    the server binds the port."""
    chosen = choose(server)
    if claim is not None:
        claim.close()
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

    parent = os.getpid()

    def load(_target: str) -> Any:
        # Runs in the forked worker, where requests are served.
        _end_with_parent(parent)
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


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _end_with_parent(parent: int) -> None:
    """In granian's worker: SIGTERM (granian's own graceful stop: finalizers run, the state file is written) as
    soon as `parent`, the process that forked it, is gone, however it ended. Linux says so at once
    (PR_SET_PDEATHSIG); elsewhere a thread looks once a second."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        told = libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0
    except (OSError, AttributeError):  # no prctl here
        told = False
    if not told:
        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(1.0)  # how often to look, not a wait for something: no deadline applies
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=watch, name="modelux-parent-watch", daemon=True).start()
    elif os.getppid() != parent:  # gone before the request to be told took effect
        os.kill(os.getpid(), signal.SIGTERM)
