"""Peers to measure and judge side by side with the mock: Prism 5.16 and the load generator.

Prism is installed with npm into a cache folder (never into the repository) the first time it is
asked for, when node and npm are on the machine; `prism_command()` says None when they are not, and
callers say so and fall back. wrk comes from Debian's packages (`apt-get install wrk`).

    from benchmarks.peers import serve_prism
    with serve_prism() as url:      # None when Prism cannot be had here
        ...                          # url serves spec/openapi.yaml at its root, e.g. http://127.0.0.1:4077
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx

PRISM_PACKAGE = "@stoplight/prism-cli"
PRISM_VERSION = "5.16.0"
ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "spec" / "openapi.yaml"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "modelux-mock" / f"prism-{PRISM_VERSION}"


def prism_command(install: bool = True) -> list[str] | None:
    """The command that runs Prism 5.16, installing it into the cache folder on first use; None without npm."""
    binary = cache_dir() / "node_modules" / ".bin" / "prism"
    if binary.exists():
        return [str(binary)]
    if not install or shutil.which("npm") is None or shutil.which("node") is None:
        return None
    cache_dir().mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["npm", "install", "--prefix", str(cache_dir()), "--no-audit", "--no-fund",
                           "--loglevel=error", f"{PRISM_PACKAGE}@{PRISM_VERSION}"],
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0 or not binary.exists():
        print(f"could not install Prism with npm: {done.stderr.strip()[-400:]}")
        return None
    return [str(binary)]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, deadline_s: float = 60.0) -> bool:
    """Poll `url` until anything answers, or the deadline passes."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1.0)
            return True
        except httpx.TransportError:
            time.sleep(0.1)
    return False


@contextmanager
def serve_prism(spec: Path = SPEC, port: int | None = None, dynamic: bool = False) -> Iterator[str | None]:
    """Prism mocking `spec` on a loopback port for the block; yields its URL (the API at its root) or None."""
    command = prism_command()
    if command is None:
        yield None
        return
    port = port or free_port()
    args = [*command, "mock", "--host", "127.0.0.1", "--port", str(port), str(spec)]
    if dynamic:
        args.append("--dynamic")
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        if not wait_until_up(url):
            raise RuntimeError(f"Prism did not start on {url}")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
