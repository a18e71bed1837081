"""Which spec the suite judges by, and what the errata say about it.

The suite always loads *our* spec (never what a target serves): the effective spec by
default, the pristine upstream file with `--strict-spec`. The gap errata (answers a correct
server must give but the upstream document forgot, e.g. an undocumented 400) are turned into
a table so verdicts can put such answers in a category of their own.
"""

from __future__ import annotations

import functools
import re
from urllib.parse import unquote
from dataclasses import dataclass
from typing import Any

from modelux_spec import ERRATA
from modelux_spec import BASE_PATH, effective_spec, operations, pristine_spec

__all__ = ["BASE_PATH", "SpecGap", "gap_table", "load_spec", "OperationIndex", "operation_index"]


def load_spec(strict: bool) -> dict[str, Any]:
    """A fresh copy of the spec the run judges by."""
    return pristine_spec() if strict else effective_spec()


@dataclass(frozen=True)
class SpecGap:
    operation_id: str
    status: str
    erratum: str  # the erratum that documents this answer, e.g. "E2"
    summary: str


@functools.lru_cache(maxsize=1)
def gap_table() -> dict[tuple[str, str], SpecGap]:
    """(operationId, status) -> the gap erratum that documents it.

    Computed by applying each `gap` erratum alone to the pristine document and diffing the
    documented statuses, so the table follows `modelux_spec.errata` as it changes.
    """
    pristine = {op["operationId"]: set(op["responses"]) for _, _, op in operations(pristine_spec())}
    table: dict[tuple[str, str], SpecGap] = {}
    for erratum in ERRATA:
        if erratum.kind != "gap" or erratum.apply is None:
            continue
        patched = pristine_spec()
        erratum.apply(patched)
        for _, _, op in operations(patched):
            for status in set(op["responses"]) - pristine.get(op["operationId"], set()):
                table.setdefault((op["operationId"], status), SpecGap(op["operationId"], status, erratum.id,
                                                                        erratum.summary))
    # Anything else the effective spec documents and the pristine one does not.
    for _, _, op in operations(effective_spec()):
        for status in set(op["responses"]) - pristine.get(op["operationId"], set()):
            table.setdefault((op["operationId"], status), SpecGap(op["operationId"], status, "errata",
                                                                    "documented by the errata only"))
    return table


class OperationIndex:
    """Maps a concrete request (method, path under the base path) to its operation."""

    def __init__(self, spec: dict[str, Any]):
        entries = []
        for path, method, op in operations(spec):
            parts = re.split(r"(\{[^}]+\})", path)
            regex = re.compile(
                "^" + "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts) + "$"
            )
            entries.append((path.count("{"), -len(path), regex, method.upper(), path, op["operationId"]))
        # Literal segments win: `/routing-configs/dry-run` is not `/routing-configs/{id}`.
        entries.sort(key=lambda e: (e[0], e[1]))
        self._entries = entries
        self.labels = {op_id: f"{method} {path}" for _, _, _, method, path, op_id in entries}

    def find(self, method: str, path: str) -> tuple[str, str, dict[str, str]] | None:
        """(operationId, "METHOD /template", path params) for a request path under the base path."""
        path = path.split("?", 1)[0]
        if BASE_PATH in path:
            path = path[path.index(BASE_PATH) + len(BASE_PATH):]
        method = "GET" if method.upper() == "HEAD" else method.upper()
        for _, _, regex, op_method, template, op_id in self._entries:
            if op_method != method:
                continue
            match = regex.match(path)
            if match:
                return op_id, f"{op_method} {template}", {k: unquote(v) for k, v in match.groupdict().items()}
        return None


@functools.lru_cache(maxsize=1)
def operation_index() -> OperationIndex:
    return OperationIndex(effective_spec())


def api_label_map() -> dict[str, str]:
    """operationId -> "METHOD /template" for every operation of the effective spec."""
    return dict(operation_index().labels)
