"""Reproducing one failure: its minimal request sequence, as curl lines and as `modelux-contracts replay ID`.

A failing test item hands over the exchanges it made (`contracts.exchanges`). `failures_of` keeps the ones that
matter — the failing exchange (the one its message describes, else the item's last), the exchanges that produced
the ids it sends (a creation, a listing), and the requests other than reads that touched those ids before it —,
names each failure by a stable fingerprint (rule or check, operation, status; never ids or timestamps) and its hash,
and records what the failing answer broke, so that a replay can judge the same thing again:

* `status`: the answer's status must be one of `expected` (a rule's `ctx.expect`, a documented status);
* `no-server-error`: the answer is not a 5xx;
* `schema`: the answer matches the spec's schema for its operation and status (schemathesis validates it);
* `same-answer`: otherwise (a rule's own condition on the answer, an oracle) the replay still fails while the last
  answer is the failing one again — same status, same body apart from ids and timestamps.

The token of the run is never written down: curl lines read `$MODELUX_TOKEN` (and `$MODELUX_OTHER_TOKEN` for the
second organization's key), and the API root `$MODELUX_API` (defaulting to the run's).
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from typing import Any, Callable, Iterable

from .target import replace_strings

ID_KEYS = ("id", "key", "secret", "signing_secret", "signingSecret")
_VOLATILE = re.compile(r"(^id$|_id$|_at$|^key$|^key_prefix$|secret|^timestamp$|^request_id$|^delivery_id$)",
                       re.I)
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
_DESCRIBED = re.compile(r"\b(GET|POST|PATCH|PUT|DELETE|HEAD|OPTIONS) (/[^\s?]*)\S* → (\d{3})")
_EXPECTED = re.compile(r"expected ((?:\d{3})(?: or \d{3})*), got (GET|POST|PATCH|PUT|DELETE|HEAD|OPTIONS) "
                       r"(/[^\s?]*)\S* → (\d{3})")
_CODE = re.compile(r"\b(MX-[A-Z0-9-]+[A-Z0-9])\b")
READS = ("GET", "HEAD", "OPTIONS")


# ── fingerprints ─────────────────────────────────────────────────────────────


def check_of(detail: str) -> str:
    """The rule or check a verdict line names: `MX-VERSION-BUMP`, `Undocumented status code`, …"""
    found = _CODE.search(detail)
    if found and detail.lstrip().startswith(found.group(1)):
        return found.group(1)
    return re.sub(r"\s+", " ", detail.split(":")[0]).strip()[:80] or "failed"


def fingerprint(check: str, operation: str | None, status: Any) -> str:
    return f"{check} | {operation or '-'} | {status if status is not None else '-'}"


def failure_id(fingerprint_text: str) -> str:
    return hashlib.sha256(fingerprint_text.encode()).hexdigest()[:10]


# ── the minimal sequence ─────────────────────────────────────────────────────


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _sent(exchange: dict[str, Any]) -> set[str]:
    """The values a request carries (path segments, query and body strings, its token)."""
    values = {seg for seg in exchange["path"].split("/") if seg}
    values.update(_strings(exchange.get("query")))
    values.update(_strings(exchange.get("body")))
    if exchange.get("token"):
        values.add(exchange["token"])
    return values


def _produced(payload: Any, at: tuple = ()) -> Iterable[tuple[tuple, str]]:
    """(JSON path, value) of the ids and secrets an answer hands out."""
    if isinstance(payload, dict):
        for key, value in payload.items():
            if isinstance(value, str) and value and (key in ID_KEYS or key.endswith("_id")):
                yield at + (key,), value
            else:
                yield from _produced(value, at + (key,))
    elif isinstance(payload, list):
        for index, item in enumerate(payload):
            yield from _produced(item, at + (index,))


def failing_index(exchanges: list[dict[str, Any]], message: str) -> int:
    """The exchange the failure's message describes (`GET /x → 400`), else the last one."""
    for method, path, status in reversed(_DESCRIBED.findall(message)):
        for index in range(len(exchanges) - 1, -1, -1):
            ex = exchanges[index]
            if (ex["method"], ex["path"], str(ex["status"])) == (method, path, status):
                return index
    return len(exchanges) - 1


def minimal_sequence(exchanges: list[dict[str, Any]], last: int) -> list[int]:
    """Indexes of the exchanges the failing one depends on, and itself, in order."""
    needed = {last}
    origin: dict[str, int] = {}  # value -> the first exchange that handed it out
    for index, ex in enumerate(exchanges[:last]):
        if ex["status"] < 300:
            for _, value in _produced(ex.get("payload")):
                origin.setdefault(value, index)
    changed = True
    while changed:
        changed = False
        wanted = set().union(*(_sent(exchanges[i]) for i in needed))
        ids = {value for value in wanted if value in origin}
        for index, ex in enumerate(exchanges[:last]):
            if index in needed:
                continue
            makes = any(origin.get(value) == index for value in ids)
            touches = ex["method"] not in READS and bool(_sent(ex) & ids)
            if makes or touches:
                needed.add(index)
                changed = True
    return sorted(needed)


def _binds(steps: list[dict[str, Any]]) -> None:
    """Each step says which values of its answer later steps send (replaced by the new ones on a replay)."""
    seen: set[str] = set()
    for index, step in enumerate(steps):
        later = set().union(*(_sent(s) for s in steps[index + 1:])) if index + 1 < len(steps) else set()
        step["binds"] = []
        for path, value in _produced(step.get("payload")):
            if value in later and value not in seen:
                seen.add(value)
                step["binds"].append({"path": list(path), "value": value})


# ── what the failing answer broke ────────────────────────────────────────────


def normalized(value: Any, key: str = "") -> Any:
    """An answer's body without what differs between two correct replays (ids, timestamps, secrets)."""
    if isinstance(value, dict):
        return {k: normalized(v, k) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [normalized(v) for v in value]
    if isinstance(value, str) and (_VOLATILE.search(key) or _ISO.match(value)):
        return "<varies>"
    return value


def expectation(check: str, message: str, failing: dict[str, Any], documented: Callable[[str | None], list[str]]
                ) -> dict[str, Any]:
    found = [m for m in _EXPECTED.findall(message) if (m[1], m[2], m[3]) ==
             (failing["method"], failing["path"], str(failing["status"]))]
    if found:
        return {"kind": "status", "expected": [int(s) for s in found[-1][0].split(" or ")]}
    lowered = check.lower()
    if "server error" in lowered:
        return {"kind": "no-server-error"}
    if "undocumented status code" in lowered and documented(failing.get("operation")):
        return {"kind": "status", "expected": [int(s) if s.isdigit() else s for s in
                                               documented(failing.get("operation"))]}
    if "violates schema" in lowered:
        return {"kind": "schema"}
    return {"kind": "same-answer", "status": failing["status"], "body": normalized(failing.get("payload"))}


def still_fails(expect: dict[str, Any], status: int, payload: Any, schema_problem: Callable[[], str | None]
                ) -> tuple[bool, str]:
    """Whether an answer still breaks what the failing one broke, and why."""
    kind = expect["kind"]
    if kind == "status":
        allowed = expect["expected"]
        ok = status in allowed or any(isinstance(a, str) and str(status).startswith(a[0]) and a.endswith("XX")
                                      for a in allowed)
        return (not ok, f"answered {status}, expected {' or '.join(str(a) for a in allowed)}")
    if kind == "no-server-error":
        return (status >= 500, f"answered {status}" + (" (a server error)" if status >= 500 else ""))
    if kind == "schema":
        problem = schema_problem()
        return (problem is not None, problem or f"the {status} answer matches its schema")
    if status != expect["status"]:
        return (False, f"answered {status}, not the failing answer's {expect['status']}")
    where = _difference(normalized(payload), expect["body"])
    if where is None:
        return (True, f"answered {status}: the same answer as the failing one (ids and timestamps aside)")
    return (False, f"answered {status}, not the failing answer: {where}")


def _difference(now: Any, then: Any, at: str = "$") -> str | None:
    """Where two normalized bodies first differ (None: nowhere)."""
    if isinstance(now, dict) and isinstance(then, dict):
        for key in sorted(set(now) | set(then)):
            found = _difference(now.get(key), then.get(key), f"{at}.{key}")
            if found:
                return found
        return None
    if isinstance(now, list) and isinstance(then, list) and len(now) == len(then):
        return next((d for i, (a, b) in enumerate(zip(now, then)) if (d := _difference(a, b, f"{at}[{i}]"))), None)
    if now != then:
        return f"{at} is {json.dumps(now)[:80]}, was {json.dumps(then)[:80]}"
    return None


# ── failures of one test item ────────────────────────────────────────────────


def failures_of(entry: dict[str, Any], message: str, exchanges: list[dict[str, Any]], *, api_url: str, token: str,
                other_token: str | None, documented: Callable[[str | None], list[str]]) -> list[dict[str, Any]]:
    """One failure per check a failed test item names, each with its id, fingerprint and reproduction."""
    secrets = {token: "$MODELUX_TOKEN", **({other_token: "$MODELUX_OTHER_TOKEN"} if other_token else {})}
    steps: list[dict[str, Any]] = []
    failing: dict[str, Any] | None = None
    if exchanges:
        last = failing_index(exchanges, message)
        failing = exchanges[last]
        steps = [dict(exchanges[i]) for i in minimal_sequence(exchanges, last)]
        _binds(steps)
    out: list[dict[str, Any]] = []
    checks: list[tuple[str, str]] = []
    for detail in entry.get("details") or ["failed"]:
        check = check_of(detail)
        if check not in (c for c, _ in checks):
            checks.append((check, detail))
    for check, detail in checks:
        operation = failing["operation"] if failing else (entry["key"] if entry["kind"] == "conformance" else None)
        status = failing["status"] if failing else None
        text = fingerprint(check, operation, status)
        expect = expectation(check, message, failing, documented) if failing else {"kind": "none"}
        replay_steps = [{k: v for k, v in step.items() if k not in ("text",)} for step in steps]
        for step in replay_steps[:-1]:
            step.pop("payload", None)  # only the bound values of earlier answers are needed
        out.append(replace_strings({
            "id": failure_id(text), "fingerprint": text, "check": check, "operation": operation, "status": status,
            "kind": entry["kind"], "key": entry["key"], "detail": detail, "api_url": api_url,
            "expect": expect, "steps": replay_steps, "curl": curl_lines(steps, api_url, secrets),
        }, secrets))
    return out


# ── curl ─────────────────────────────────────────────────────────────────────


def _shell(text: str, variables: dict[str, str]) -> str:
    """`text` quoted for a POSIX shell, with the values bound to shell variables spliced in as `"$VAR"`."""
    if not variables:
        return shlex.quote(text)
    pattern = re.compile("|".join(re.escape(v) for v in sorted(variables, key=len, reverse=True)))
    parts, at = [], 0
    for match in pattern.finditer(text):
        if match.start() > at:
            parts.append(shlex.quote(text[at:match.start()]))
        parts.append(f'"${variables[match.group(0)]}"')
        at = match.end()
    if at < len(text):
        parts.append(shlex.quote(text[at:]))
    return "".join(parts) or "''"


def _url(step: dict[str, Any]) -> str:
    from urllib.parse import urlencode

    query = urlencode({k: v if not isinstance(v, (list, dict)) else json.dumps(v) for k, v in
                       (step.get("query") or {}).items()}, doseq=True)
    return step["path"] + (f"?{query}" if query else "")


def curl_lines(steps: list[dict[str, Any]], api_url: str, secrets: dict[str, str]) -> list[str]:
    """The sequence as shell lines: `curl` with the token from the environment; ids handed out by an earlier step
    are read from its answer (with python3) into variables the later steps use."""
    lines = [f': "${{MODELUX_API:={api_url}}}"']
    variables: dict[str, str] = {secret: placeholder[1:] for secret, placeholder in secrets.items() if secret}
    for number, step in enumerate(steps, 1):
        token = step.get("token")
        parts = ["curl", "-sS", "-X", step["method"]]
        if token in secrets:
            parts += ["-H", f'"Authorization: Bearer {secrets[token]}"']
        elif token:
            parts += ["-H", _shell(f"Authorization: Bearer {token}", variables)]
        for name, value in (step.get("headers") or {}).items():
            parts += ["-H", _shell(f"{name}: {value}", variables)]
        if step.get("body") is not None:
            parts += ["-H", "'Content-Type: application/json'", "--data-binary",
                      _shell(json.dumps(step["body"], separators=(",", ":")), variables)]
        elif step.get("content"):
            parts += ["--data-binary", _shell(str(step["content"]), variables)]
        last = number == len(steps)
        if last:
            parts += ["-w", shlex.quote("\\nHTTP %{http_code}\\n")]
        parts.append('"$MODELUX_API"' + _shell(_url(step), variables))
        command = " ".join(parts)
        binds = step.get("binds") or []
        if binds and not last:
            lines.append(f"R{number}=$({command})")
            for bind_number, bind in enumerate(binds, 1):
                name = f"V{number}_{bind_number}"
                lookup = "".join(f"[{json.dumps(k)}]" for k in bind["path"])
                lines.append(f"{name}=$(printf '%s' \"$R{number}\" | python3 -c "
                             f"{shlex.quote(f'import json,sys; print(json.load(sys.stdin){lookup})')})")
                variables[bind["value"]] = name
        else:
            lines.append(command)
    return lines


# ── replay ───────────────────────────────────────────────────────────────────


def _at(payload: Any, path: list[Any]) -> Any:
    for part in path:
        try:
            payload = payload[part]
        except (KeyError, IndexError, TypeError):
            return None
    return payload


def replay(failure: dict[str, Any], send: Callable[[dict[str, Any]], tuple[int, Any, str]],
           schema_problem: Callable[[dict[str, Any], int, Any, str], str | None], log: Callable[[str], None]
           ) -> tuple[bool, str]:
    """Send the failure's steps (`send(step)` → status, JSON, text), ids of earlier answers replaced by the new ones;
    judge the last answer as the failing one was judged. Returns (still fails, why)."""
    mapping: dict[str, str] = {}
    status, payload, text = 0, None, ""
    for number, recorded in enumerate(failure["steps"], 1):
        step = replace_strings({k: v for k, v in recorded.items() if k not in ("binds", "payload")}, mapping)
        status, payload, text = send(step)
        log(f"  {number}. {step['method']} {_url(step)} → {status} (recorded: {recorded['status']})")
        for bind in recorded.get("binds") or []:
            new = _at(payload, bind["path"])
            if isinstance(new, str):
                mapping[bind["value"]] = new
    last = failure["steps"][-1] if failure["steps"] else {}
    return still_fails(failure["expect"], status, payload,
                       lambda: schema_problem(last, status, payload, text))
