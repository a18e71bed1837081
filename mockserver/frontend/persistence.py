"""`--state FILE`: the boot organization written back to FILE, in the `export` format, as it changes.

A background thread writes the file `delay` seconds after a change — a request that is not a GET, HEAD or
OPTIONS (on the API or the control surface), or progress of the engines (delivery attempts, simulations),
which it looks for every `ENGINE_CHECK` seconds — and once more at shutdown. Each write is atomic:
the document goes to a temporary file in the same directory, is flushed and fsync'ed, then renamed over
FILE with `os.replace` (and the directory fsync'ed), so FILE is always a whole document — the previous one
or the new one. A crash (SIGKILL, power loss) loses at most the changes of the last `delay` seconds plus
the time of one write.

What is written is what the mock's own database would hold: hashes of management and proxy keys (so the
keys keep working after a restart), never a key's plaintext — the document's `token` is null; webhook
signing secrets stay, since the mock signs deliveries with them. Sandboxes are not written: they are
minted per run.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from typing import Any

from fixtures.loader import FORMAT, FORMAT_VERSION

from ..domain.world import COLLECTIONS, OrgState, World
from ..engines.worker import Worker
from ..ids import sha256_hex
from .snapshots import freeze, thaw

log = logging.getLogger("modelux.state")

DEFAULT_DELAY = 0.5
ENGINE_CHECK = 0.5  # nothing to write: look again after this long for the engines' own changes


def document(org: OrgState, token: str | None, seed: int | None, anchor: str | None) -> dict[str, Any]:
    """The export document of `org` (a detached copy), without any plaintext key."""
    digest = sha256_hex(token) if token else None
    primary = next((k["id"] for k in org.management_keys.values() if k["_hash"] == digest),
                   next(iter(org.management_keys), None))
    doc: dict[str, Any] = {"format": FORMAT, "version": FORMAT_VERSION, "seed": seed, "anchor": anchor,
                           "requests": None, "primary_key_id": primary, "token": None, "org": org.org}
    for collection in COLLECTIONS:
        doc[collection] = list(getattr(org, collection).values())
    doc["config_versions"] = dict(org.config_versions)
    doc["simulation_results"] = dict(org.simulation_results)
    return doc


def write_atomically(path: str, text: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=".state-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # a platform whose directories cannot be opened
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class StateFile:
    def __init__(self, path: str, world: World, org: OrgState, token: str | None, seed: int | None = None,
                 anchor: str | None = None, delay: float = DEFAULT_DELAY):
        self.path = path
        self.world, self.org = world, org
        self.token, self.seed, self.anchor = token, seed, anchor
        self.delay = delay
        self.writes = 0
        self._since: float | None = None  # monotonic time of the first change not yet written
        self._written: int | None = None  # the engines' progress in the last write
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._worker = Worker("state-writer", self._tick, idle_seconds=1.0)

    def changed(self) -> None:
        with self._lock:
            if self._since is None:
                self._since = time.monotonic()
        self._worker.wake()

    def _progress(self) -> int:
        """What the engines change without a request (delivery attempts, simulation progress), in one number."""
        return hash((tuple((d["status"], d["attempt_count"]) for d in self.org.webhook_deliveries.values()),
                     tuple((s["status"], s["processed_count"]) for s in self.org.simulations.values())))

    def _tick(self) -> float:
        """Write once the oldest unwritten change is `delay` old (a burst of changes makes one write)."""
        with self._lock:
            since = self._since
        if since is None:
            with self.world.lock:
                progress = self._progress()
            if progress == self._written:
                return ENGINE_CHECK
            self.changed()
            return self.delay
        wait = since + self.delay - time.monotonic()
        if wait > 0:
            return wait
        self.write()
        return ENGINE_CHECK

    def write(self) -> None:
        with self._write_lock:
            with self._lock:
                since, self._since = self._since, None
            try:
                with self.world.lock:
                    frozen = freeze(self.org)  # milliseconds under the lock; the JSON is made outside it
                    progress = self._progress()
                text = json.dumps(document(thaw(frozen), self.token, self.seed, self.anchor), ensure_ascii=False)
                write_atomically(self.path, text)
            except BaseException:
                with self._lock:  # written next time
                    self._since = since if self._since is None else min(self._since, since or self._since)
                raise
            self._written = progress
            self.writes += 1

    def start(self) -> None:
        self._worker.start()

    def stop(self) -> None:
        """Stop the writer and write the world once more."""
        self._worker.stop()
        try:
            self.write()
        except Exception:
            log.exception("could not write the state file %s at shutdown", self.path)
