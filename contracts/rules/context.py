"""The context a rule runs in: the target, verdicts, reading answers by their documented shape, builders, waits.

A rule reads the target's answers only through the readers here (`data_object`, `data_list`, `field`, `at`): when
an answer lacks the documented shape (a list where an object belongs, a missing id, a number where a string
belongs) they raise a `RuleViolation` that says so, under the rule's code. Anything else a rule's code raises is a
bug of the suite (`contracts.rules.core.SuiteError`), never blamed on the target.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field as dataclass_field
from typing import Any, Callable, NoReturn, TypeVar

from ..polling import poll
from ..settings import RunSettings
from ..target import Reply, Target, dumps, is_loopback
from .core import Rule, RuleSkip, RuleViolation

T = TypeVar("T")

DISCARD_URL = "http://127.0.0.1:9/mx-contracts"  # the discard port: nothing listens, every delivery fails

_KINDS = {dict: "an object", list: "a list", str: "a string", int: "an integer", float: "a number", bool: "a boolean",
          type(None): "null"}


def kind_of(value: Any) -> str:
    """What a JSON value is, in words."""
    for python_type, words in _KINDS.items():
        if type(value) is python_type:
            return words
    return type(value).__name__


def at(node: Any, *path: str | int) -> Any:
    """The value at `path` inside a JSON value (keys of objects, indexes of lists), or None wherever the shape does
    not allow the next step. For values a check then compares: a wrong shape reads as None and fails the check."""
    for step in path:
        if isinstance(step, int) and isinstance(node, list) and -len(node) <= step < len(node):
            node = node[step]
        elif isinstance(step, str) and isinstance(node, dict):
            node = node.get(step)
        else:
            return None
    return node


def objects(items: Any) -> list[dict[str, Any]]:
    """The objects of a list (other items, or a value that is not a list, give nothing)."""
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def id_set(items: Any, name: str = "id") -> set[str]:
    """The strings at `name` in a list of objects (an id of another shape cannot be the id looked for)."""
    return {item[name] for item in objects(items) if isinstance(item.get(name), str)}


@dataclass
class RuleContext:
    target: Target
    rule: Rule
    settings: RunSettings
    receiver: Any = None  # contracts.receiver.Receiver, for rules that need one
    data: dict[str, Any] = dataclass_field(default_factory=dict)
    cut_short: bool = False  # a wait was shortened to end at the run's deadline

    # ── verdicts ────────────────────────────────────────────────────────

    def fail(self, message: str) -> NoReturn:
        raise RuleViolation(self.rule.code, self.rule.name, message)

    def check(self, condition: Any, message: str) -> None:
        if not condition:
            self.fail(message)

    def skip(self, reason: str) -> NoReturn:
        raise RuleSkip(reason)

    def expect(self, reply: Reply, *statuses: int, what: str = "") -> Reply:
        if reply.status not in statuses:
            expected = " or ".join(str(s) for s in statuses)
            self.fail(f"{what + ': ' if what else ''}expected {expected}, got {reply.describe()}")
        return reply

    def expect_error(self, reply: Reply, *statuses: int, what: str = "") -> Reply:
        self.expect(reply, *statuses, what=what)
        problem = envelope_problem(reply)
        if problem:
            self.fail(f"{what + ': ' if what else ''}{problem}: {reply.describe()}")
        return reply

    # ── reading answers by their documented shape ───────────────────────

    def expect_data(self, reply: Reply, *statuses: int, what: str = "") -> Any:
        """`data` of a success answer with one of `statuses`, whatever its shape."""
        self.expect(reply, *statuses, what=what)
        if not isinstance(reply.json, dict) or "data" not in reply.json:
            self.fail(f"{what + ': ' if what else ''}success answer without the `data` envelope: {reply.describe()}")
        return reply.data

    def data_object(self, reply: Reply, *statuses: int, what: str = "") -> dict[str, Any]:
        """`data` of a success answer, which the spec documents as an object."""
        data = self.expect_data(reply, *statuses, what=what)
        return self.object(data, what or f"{reply.method} {reply.path}")

    def data_list(self, reply: Reply, *statuses: int, what: str = "") -> list[dict[str, Any]]:
        """`data` of a success answer, which the spec documents as a list of objects."""
        data = self.expect_data(reply, *statuses, what=what)
        return self.list_of_objects(data, what or f"{reply.method} {reply.path}")

    def object(self, value: Any, what: str) -> dict[str, Any]:
        """`value`, which must be a JSON object."""
        if not isinstance(value, dict):
            self.fail(f"{what}: expected an object, got {kind_of(value)}: {dumps(value)}")
        return value

    def list_of_objects(self, value: Any, what: str) -> list[dict[str, Any]]:
        """`value`, which must be a list of JSON objects."""
        if not isinstance(value, list):
            self.fail(f"{what}: expected a list, got {kind_of(value)}: {dumps(value)}")
        strays = [item for item in value if not isinstance(item, dict)]
        if strays:
            self.fail(f"{what}: expected a list of objects, it holds {kind_of(strays[0])}: {dumps(strays[0])}")
        return value

    def field(self, obj: Any, name: str, *types: type, what: str = "") -> Any:
        """`obj[name]`, which the spec documents (of one of `types`, when given; a non-empty string for `str`)."""
        label = f"{what + ': ' if what else ''}`{name}`"
        if not isinstance(obj, dict):
            self.fail(f"{label}: expected an object holding it, got {kind_of(obj)}: {dumps(obj)}")
        if name not in obj:
            self.fail(f"{label} is missing from {dumps(obj)}")
        value = obj[name]
        if types and (not isinstance(value, types) or isinstance(value, bool) and bool not in types):
            expected = " or ".join(_KINDS.get(t, t.__name__) for t in types)
            self.fail(f"{label} is {kind_of(value)} ({dumps(value)}), expected {expected}")
        if str in types and value == "":
            self.fail(f"{label} is an empty string")
        return value

    def ident(self, obj: Any, what: str = "", name: str = "id") -> str:
        """The id of a resource the target answered (a non-empty string)."""
        return self.field(obj, name, str, what=what)

    # ── the run ─────────────────────────────────────────────────────────

    @property
    def t(self) -> Target:
        return self.target

    @property
    def remote(self) -> bool:
        return not is_loopback(self.target.base_url)

    def timeout(self, seconds: float) -> float:
        """How long to wait for something asynchronous (a delivery, a retry, a simulation).

        The embedded mock retries within a second; any other target gets `--webhook-wait` (default 120 s),
        since its backoff is unknown. Waits end as soon as the awaited thing happens, and never after the run's
        deadline (a rule that then finds nothing is not judged, rather than failed).
        """
        wait = seconds if self.settings.embedded else max(seconds, self.settings.webhook_wait)
        remaining = self.target.pacer.deadline.remaining()
        if remaining is not None and remaining < wait:
            self.cut_short = True
            return remaining
        return wait

    def poll(self, probe: Callable[[], T | None], timeout: float, interval: float = 0.2) -> T | None:
        """`contracts.polling.poll` over the target: a paced run asks no more often than its rate allows."""
        pacer = self.target.pacer
        if pacer.paced and pacer.rate_per_min:
            interval = max(interval, 60.0 / pacer.rate_per_min)
        return poll(probe, timeout=timeout, interval=interval)

    # ── builders: every creation is registered by the target and cleaned up after the rule ──

    def name(self, what: str = "x") -> str:
        return f"mx-{what}-{uuid.uuid4().hex[:10]}"

    def project(self) -> dict[str, Any]:
        data = self.data_object(self.t.post("/projects", json={"name": self.name("project")}), 201,
                                what="setup: POST /projects")
        self.ident(data, "setup: POST /projects")
        return data

    def routing_config(self, project_id: str, policy: str = "single", config: dict | None = None,
                       name: str | None = None) -> dict[str, Any]:
        body = {"projectId": project_id, "name": name or self.name("rc"), "policy": policy,
                "config": config if config is not None else {"model": "gpt-4o-mini"}}
        data = self.data_object(self.t.post("/routing-configs", json=body), 201, what="setup: POST /routing-configs")
        self.ident(data, "setup: POST /routing-configs")
        return data

    def management_key(self, what: str = "POST /management-keys") -> dict[str, Any]:
        """A new management key: the creation answer, with its `id` and its plaintext `key`."""
        created = self.data_object(self.t.post("/management-keys", json={"name": self.name("key")}), 201, what=what)
        self.ident(created, what)
        self.field(created, "key", str, what=f"{what} (the plaintext)")
        return created

    def project_budget(self, project_id: str, period: str, amount_usd: str,
                       what: str = "setup: POST /budgets") -> dict[str, Any]:
        body = {"name": self.name("budget"), "scope_type": "project", "scope_id": project_id, "period": period,
                "amount_usd": amount_usd}
        data = self.data_object(self.t.post("/budgets", json=body), 201, what=what)
        self.ident(data, what)
        return data

    def project_webhook(self, project_id: str, what: str = "setup: POST /webhooks/endpoints") -> dict[str, Any]:
        """A project-scoped endpoint subscribed to `webhook.test`, pointing at the receiver."""
        body = {"name": self.name("hook"), "url": self.webhook_url(), "event_types": ["webhook.test"],
                "project_id": project_id}
        created = self.data_object(self.t.post("/webhooks/endpoints", json=body), 201, what=what)
        endpoint = self.object(self.field(created, "endpoint", what=what), f"{what}: `endpoint`")
        self.ident(endpoint, f"{what}: `endpoint`")
        return endpoint

    def webhook_url(self) -> str:
        if self.receiver is not None:
            return self.receiver.channel("unused").url
        return DISCARD_URL

    def org_id(self) -> str:
        org = self.t.org_id()
        if org is None:  # a fresh org has no audit entries yet: make one
            self.project()
            org = self.t.org_id()
        if org is None:
            self.skip("the organization id is not discoverable (no `org_id` on audit entries)")
        return org

    def logs(self, limit: int = 200, **params: Any) -> list[dict[str, Any]]:
        """A page of request logs, each with the `id` and `project_id` the spec requires."""
        what = f"GET /logs?{params}" if params else "GET /logs"
        logs = self.data_list(self.t.get("/logs", params={"limit": limit, **params}), 200, what=what)
        for log in logs:
            self.ident(log, f"{what}: a log")
            self.ident(log, f"{what}: a log", name="project_id")
        return logs

    def logs_or_skip(self) -> list[dict[str, Any]]:
        logs = self.logs()
        if not logs:
            self.skip("the target has no request logs to check against (the API cannot create them)")
        return logs


def envelope_problem(reply: Reply) -> str | None:
    """Why an error answer is not `{"error": "<message>", "code": "<machine code>"}`, or None."""
    body = reply.json
    if not isinstance(body, dict):
        return "error answer is not a JSON object with `error` and `code`"
    if not isinstance(body.get("error"), str) or not body["error"]:
        return "error answer lacks a non-empty string `error`"
    if not isinstance(body.get("code"), str) or not body["code"]:
        return "error answer lacks a non-empty string `code`"
    return None
