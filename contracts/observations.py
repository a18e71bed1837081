"""What one process saw during a run, in a form that merges across pytest-xdist workers.

Test outcomes travel with pytest's own reports; everything else the summary needs (answers
per operation, spec gaps, what was created and what was left behind) is collected here, sent
to the controller as `workeroutput`, and merged there.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from typing import Any


class Observations:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.statuses: dict[str, Counter[str]] = defaultdict(Counter)  # "METHOD /path" -> status -> count
        self.gaps: dict[str, dict[str, Any]] = {}  # "opId status" -> {operation, status, erratum, summary, count, example}
        self.created = 0
        self.cleaned = 0
        self.left: list[dict[str, str]] = []
        self.notes: list[str] = []
        self.requests = 0
        self.oracles: Counter[str] = Counter()  # generic oracle code -> exchanges of the phases it judged

    # ── recording ───────────────────────────────────────────────────────

    def status(self, label: str, status: int) -> None:
        with self._lock:
            self.statuses[label][str(status)] += 1
            self.requests += 1

    def gap(self, operation_id: str, label: str, status: int, erratum: str, summary: str, example: str) -> None:
        key = f"{operation_id} {status}"
        with self._lock:
            entry = self.gaps.setdefault(key, {"operation_id": operation_id, "operation": label, "status": status,
                                               "erratum": erratum, "summary": summary, "count": 0,
                                               "example": example})
            entry["count"] += 1

    def note(self, text: str) -> None:
        with self._lock:
            if text not in self.notes:
                self.notes.append(text)

    # ── transport ───────────────────────────────────────────────────────

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {
                "statuses": {k: dict(v) for k, v in self.statuses.items()},
                "gaps": {k: dict(v) for k, v in self.gaps.items()},
                "created": self.created,
                "cleaned": self.cleaned,
                "left": list(self.left),
                "notes": list(self.notes),
                "requests": self.requests,
                "oracles": dict(self.oracles),
            }

    def merge(self, data: dict[str, Any]) -> None:
        with self._lock:
            for label, counts in data.get("statuses", {}).items():
                self.statuses[label].update(counts)
            for key, entry in data.get("gaps", {}).items():
                if key in self.gaps:
                    self.gaps[key]["count"] += entry["count"]
                else:
                    self.gaps[key] = dict(entry)
            self.created += data.get("created", 0)
            self.cleaned += data.get("cleaned", 0)
            self.left.extend(data.get("left", []))
            for note in data.get("notes", []):
                if note not in self.notes:
                    self.notes.append(note)
            self.requests += data.get("requests", 0)
            self.oracles.update(data.get("oracles", {}))


# One per process: the suite's client, schemathesis checks and the plugin all write here.
OBSERVED = Observations()
