"""The options of one contract run, as the plugin, the suite modules and the rules see them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .target import api_root
from .transport import DEFAULT_REQUEST_TIMEOUT

PHASES = ("examples", "coverage", "fuzzing", "stateful")
PROFILES = ("default", "strict")
SOURCES = ("spec", "docs", "ours")  # what a rule or oracle cites: the spec, the product docs, or our own decision
DEFAULT_MAX_EXAMPLES = 100
STAGING_MAX_EXAMPLES = 5
STAGING_RATE_PER_MIN = 60.0


@dataclass
class RunSettings:
    base_url: str
    token: str
    api_at_root: bool = False  # a bare-origin base URL is the API root itself (no /api/manage/v1 appended)
    other_token: str | None = None  # a management key of ANOTHER organization on the same target
    embedded: bool = False  # the target is our own mock, started by the plugin
    strict_spec: bool = False
    staging: bool = False
    rate_per_min: float | None = None
    profile: str = "default"
    max_examples: int = DEFAULT_MAX_EXAMPLES
    seed: int | None = None
    phases: tuple[str, ...] = PHASES
    rules: tuple[str, ...] = ()  # only these rule codes (and no schemathesis phases) when given
    operations: str | None = None  # a regular expression: the phases judge only the operations it finds
    webhook_host: str | None = None
    webhook_port: int = 0
    webhook_wait: float = 120.0  # seconds to wait for a delivery (a retry) from a remote target
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT  # seconds one request may take, to connect and to answer in full
    max_time: float | None = None  # seconds the whole run may take (`--max-time`); then it stops, cleans up, reports
    workers: int = 1
    notes: list[str] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        return api_root(self.base_url, self.api_at_root)

    @property
    def strict(self) -> bool:
        return self.profile == "strict"

    @property
    def rules_only(self) -> bool:
        return bool(self.rules)

    def wants_rule(self, code: str) -> bool:
        return not self.rules or code in self.rules

    def wants_operation(self, label: str, operation_id: str | None) -> bool:
        """Whether the phases judge this operation (`--operations` finds it)."""
        return self.operations is None or finds_operation(self.operations, label, operation_id)


def finds_operation(pattern: str, label: str, operation_id: str | None) -> bool:
    """Whether the regular expression `pattern` finds an operation's `METHOD /path` or its operationId."""
    found = re.compile(pattern)
    return bool(found.search(label) or operation_id and found.search(operation_id))
