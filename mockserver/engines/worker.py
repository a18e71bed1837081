"""One background loop shape for the engines: tick, then wait (or be woken), until stopped."""

from __future__ import annotations

import logging
import threading
from typing import Callable

log = logging.getLogger("modelux.worker")


class Worker:
    """A daemon thread calling `tick()` until stopped.

    `tick` returns how long to wait before the next call; `wake()` cuts the wait short. A tick
    that raises is logged and the loop goes on, so one bad item never stops the engine.
    """

    def __init__(self, name: str, tick: Callable[[], float], idle_seconds: float):
        self.name = name
        self._tick = tick
        self._idle_seconds = idle_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                wait = self._tick()
            except Exception:
                log.exception("%s: iteration failed", self.name)
                wait = self._idle_seconds
            if wait > 0:
                self._wake.wait(wait)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
