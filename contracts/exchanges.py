"""The requests each test item of the suite sent, and what they answered — kept to reproduce its failures.

`RECORDER.record(...)` is called by the suite's own client (`Target.request`) and by the session of the schemathesis
phases (`GuardedSession.request`). The plugin (`contracts.reporting`) tells the recorder which test item is running;
an item that passes forgets its exchanges (a full run sends thousands), one that fails hands them to
`contracts.repro`, which keeps the ones that matter. Every exchange also counts, for spec coverage, the parameters
it sent (`contracts.coverage`).
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .specs import operation_index

# Kept per item: enough for a rule's scenario or Hypothesis' final replays, bounded for a long fuzzing run.
MAX_PER_ITEM = 400
# Headers a reproduction does not need to carry (the client sets them, or they are the token, masked apart).
_PLAIN_HEADERS = {"authorization", "user-agent", "accept", "accept-encoding", "connection", "content-length",
                  "content-type", "host", "x-schemathesis-testcaseid"}


def _text(value: Any) -> Any:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


class Recorder:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.item: str | None = None
        self.frozen = False
        self.exchanges: list[dict[str, Any]] = []
        self.parameters: dict[str, set[str]] = {}  # operation label -> "in:name" of parameters sent

    def start(self, nodeid: str) -> None:
        with self._lock:
            self.item, self.frozen, self.exchanges = nodeid, False, []

    def freeze(self) -> None:
        """What follows (a rule's cleanup) is not part of what the item's failure depends on."""
        self.frozen = True

    def take(self) -> list[dict[str, Any]]:
        with self._lock:
            taken, self.exchanges, self.item = self.exchanges, [], None
        return taken

    def record(self, method: str, path: str, *, query: Any = None, body: Any = None, content: Any = None,
               headers: Any = None, token: str | None = None, status: int, payload: Any = None,
               text: str = "", source: str = "suite") -> None:
        """One exchange. `path` is relative to the API root, with its query string or not; `token` is the bearer
        token it carried (None: none)."""
        split = urlsplit(path)
        params: dict[str, Any] = dict(parse_qsl(split.query, keep_blank_values=True))
        params.update({str(k): v for k, v in dict(query or {}).items()})
        found = operation_index().find(method, split.path)
        raw = body is None and content is not None  # a raw body keeps its Content-Type
        given = {str(k): str(_text(v)) for k, v in dict(headers or {}).items()
                 if not (str(k).lower() == "authorization" and token and _text(v) == f"Bearer {token}")}
        kept = {"authorization"} if any(k.lower() == "authorization" for k in given) else set()
        if kept:
            token = None  # an Authorization header of its own (a Basic one, say) is sent as it was
        if raw:
            kept.add("content-type")
        extra = {k: v for k, v in given.items() if k.lower() not in _PLAIN_HEADERS or k.lower() in kept}
        exchange = {"method": method.upper(), "path": split.path, "query": params, "body": body,
                    "content": _text(content) if body is None else None, "headers": extra, "token": token,
                    "status": status, "payload": payload, "text": (text or "")[:2000],
                    "operation": found[1] if found else None, "source": source}
        with self._lock:
            if found:
                sent = self.parameters.setdefault(found[1], set())
                sent.update(f"path:{name}" for name in found[2])
                sent.update(f"query:{name}" for name in params)
                sent.update(f"header:{name.lower()}" for name in extra if name.lower() not in _PLAIN_HEADERS)
            if self.item is None or self.frozen:
                return
            self.exchanges.append(exchange)
            if len(self.exchanges) > MAX_PER_ITEM:
                del self.exchanges[: len(self.exchanges) - MAX_PER_ITEM]

    # ── transport of the coverage tallies across pytest-xdist workers ────

    def parameters_json(self) -> dict[str, list[str]]:
        with self._lock:
            return {label: sorted(names) for label, names in self.parameters.items()}

    def merge_parameters(self, data: dict[str, list[str]]) -> None:
        with self._lock:
            for label, names in data.items():
                self.parameters.setdefault(label, set()).update(names)


RECORDER = Recorder()
