"""`modelux-contracts replay ID`: one failure of a JSON report, sent again to a target and judged again."""

from __future__ import annotations

import json
from typing import Any, Callable

import httpx

from .repro import replay
from .specs import load_spec
from .target import api_root, replace_strings

PLACEHOLDERS = ("$MODELUX_TOKEN", "$MODELUX_OTHER_TOKEN")


class ReplayError(ValueError):
    """The failure cannot be replayed as asked (unknown id, a step needing a key that was not given)."""


def find_failure(report: dict[str, Any], failure_id: str) -> dict[str, Any]:
    found = [f for f in report.get("failures") or () if f["id"].startswith(failure_id)]
    if len({f["id"] for f in found}) != 1:
        known = ", ".join(sorted({f["id"] for f in report.get("failures") or ()})) or "none"
        raise ReplayError(f"{'no' if not found else 'more than one'} failure {failure_id!r} in the report "
                          f"(its failures: {known})")
    return found[0]


def _schema_checker(strict_spec: bool) -> Callable[[dict[str, Any], Any], str | None]:
    """Whether a replayed answer matches the spec's schema for its operation (schemathesis validates it)."""

    def problem(step: dict[str, Any], response: httpx.Response) -> str | None:
        import schemathesis
        from schemathesis.core.failures import FailureGroup

        if not step.get("operation"):
            return None
        method, template = step["operation"].split(" ", 1)
        schema = schemathesis.openapi.from_dict(load_spec(strict_spec))
        try:
            schema[template][method].validate_response(response)
        except (AssertionError, FailureGroup) as exc:
            return f"the {response.status_code} answer violates its schema: {str(exc).strip().splitlines()[0][:300]}"
        return None

    return problem


def replay_failure(report: dict[str, Any], failure_id: str, *, base_url: str | None, token: str,
                   other_token: str | None = None, api_at_root: bool = False,
                   log: Callable[[str], None] = print) -> tuple[bool, str]:
    failure = find_failure(report, failure_id)
    if not failure.get("steps"):
        raise ReplayError(f"failure {failure['id']} has no recorded request to replay: {failure.get('detail', '')}")
    api = api_root(base_url, api_at_root) if base_url else failure["api_url"]
    keys = {"$MODELUX_TOKEN": token, "$MODELUX_OTHER_TOKEN": other_token}
    client = httpx.Client(timeout=30, follow_redirects=False)
    last: list[httpx.Response] = []

    def send(step: dict[str, Any]) -> tuple[int, Any, str]:
        if other_token is None and "$MODELUX_OTHER_TOKEN" in json.dumps(step):
            raise ReplayError("a step sends the second organization's key: pass --other-token")
        step = replace_strings(step, {k: v for k, v in keys.items() if v}) | {"token": step.get("token")}
        headers = dict(step.get("headers") or {})
        key = step.get("token")
        if key in PLACEHOLDERS:
            key = keys[key]
        if key:
            headers["Authorization"] = f"Bearer {key}"
        response = client.request(step["method"], api + step["path"], params=step.get("query") or None,
                                  json=step.get("body"), headers=headers,
                                  content=step.get("content") if step.get("body") is None else None)
        last[:] = [response]
        try:
            payload = response.json()
        except ValueError:
            payload = None
        return response.status_code, payload, response.text

    strict_spec = (report.get("spec") == "pristine")
    checker = _schema_checker(strict_spec)
    log(f"Replaying {failure['id']}  {failure['fingerprint']} against {api}")
    log(f"  failed with: {failure['detail'][:300]}")
    try:
        return replay(failure, send, lambda step, status, payload, text: checker(step, last[0]), log)
    except httpx.RequestError as exc:
        raise ReplayError(f"cannot reach {api}: {exc}") from None
    finally:
        client.close()
