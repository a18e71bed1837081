"""The conformance layer: schemathesis over *our* spec, pointed at the target.

`build_schema()` loads the effective spec (or the pristine one with `--strict-spec`), applies the
run's options, and excludes what must never be fuzzed. `GuardedSession` is the requests session
schemathesis sends through: it paces, honours `Retry-After`, bounds each request in time and size and
follows no redirect (`contracts.transport`), refuses (in staging mode) requests that could harm what the run
did not create, and registers what fuzzing creates for cleanup.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

import requests
import schemathesis
import urllib3
from schemathesis.config import SchemathesisConfig

from . import hooks  # noqa: F401  (registers the filters of generated cases)
from .exchanges import RECORDER
from .observations import OBSERVED
from .oracles import Exchange, OracleRun, Send
from .pacing import Pacer
from .settings import RunSettings
from .shard import keeps
from .specs import load_spec, operation_index
from .target import Guard, Registry, StagingRefusal, TargetFault, TargetUnavailable, api_path, json_or_none, \
    record_exchange
from .transport import CHUNK_BYTES, DEFAULT_REQUEST_TIMEOUT, read_body, refuse_redirect, transport_error, within

# Never fuzzed: deleting the organization would end the run (and, on a real backend, the org).
# `DELETE /orgs/{id}` is still judged by MX-AUTH-REQUIRED (401) with a made-up id, never the real one.
NEVER_FUZZED = ("deleteOrg",)

# In staging mode these are not fuzzed either: they change the organization itself, send mail or
# webhooks to generated addresses, act on deliveries and simulations the run did not make, or
# create simulations (the API cannot delete them, so cleanup could not keep its promise).
# The domain rules still exercise the webhook operations against the suite's own receiver.
STAGING_NOT_FUZZED = (
    "updateOrg", "inviteMember", "updateMemberRole", "removeMember", "createWebhookEndpoint", "updateWebhookEndpoint",
    "testWebhookEndpoint", "rotateWebhookSecret", "replayWebhookDelivery", "createBudgetAlert", "promoteSimulation",
    "resetBudgetSpend", "replayLog", "createSimulation", "cancelSimulation",
)

# `ensure_resource_availability` reads a 404 right after a creation as "the created resource is
# missing". On these operations a 404 names something else: the alert id in the body of
# `DELETE /budgets/{id}/alerts`, or a version number that does not exist. (Schemathesis false
# positive, see contracts/README.md.)
SUB_RESOURCE_404 = ("deleteBudgetAlert", "getRoutingConfigVersion", "restoreRoutingConfigVersion")


# Schemathesis false positive (4.32.5, stateful phase): a link whose source value is `null` (e.g. a
# simulation's nullable `project_id`, extracted with a wildcard) is substituted into the *required*
# query parameter `projectId` of `GET /simulations/estimate`; `null` is then not sent at all, yet the
# case is still labelled schema-valid, so the target's correct 400 ("projectId is required") is
# reported as "ST202 Schema-valid request rejected". Only that check, only in the stateful phase,
# only on this operation is turned off; the conformance phases still check it there.
NULL_LINKED_REQUIRED_QUERY = ("estimateSimulation",)

# Schemathesis false positive (stateful phase), and a limit of JSON Schema: a PATCH of a routing config may send
# `policy` alone or `config` alone (the upstream spec makes every field optional), and whether the target accepts
# one depends on the config's CURRENT policy, which no schema can say: a correct 400 ("the config does not fit the
# policy") would read as "ST202 Schema-valid request rejected". The hook `contracts.hooks.policy_with_config` keeps
# generated bodies from sending exactly one of the two; the stateful phase merges values from links (a `policy`
# taken from another config's answer) after all hooks, so there the check is off for this operation. Partial PATCHes
# are judged by the rule MX-PATCH-PARTIAL instead, which knows the config it patches.
PARTIAL_PATCH = ("updateRoutingConfig",)

# Schemathesis false positive (4.32.5, stateful phase): a negative step that only adds an undeclared
# query parameter with an empty name (`GET /logs?limit=1&=null`) is reported as "ST201 Schema-violating
# request accepted". Ignoring unknown query parameters is conformant (OpenAPI does not forbid them, and
# schemathesis itself means to skip such cases); its skip misses this shape. Stateful steps therefore
# do not generate undeclared parameters; the conformance phases still do, where the skip works.
EXTRA_QUERY_PARAMETERS = "allow-extra-parameters = false in the stateful phase"


# The schemathesis settings above, as config data. The repository's `schemathesis.toml` holds the
# same, so a plain `schemathesis run` from the repository judges a target as the suite does.
# `contracts.hooks.created_resource_available` replaces `ensure_resource_availability` (ST302) everywhere: the same
# check, except after the created resource's project was deleted, which may take the resource with it.
GLOBAL_CHECKS: dict[str, Any] = {"ensure_resource_availability": {"enabled": False}}
FALSE_POSITIVE_OPERATIONS: list[dict[str, Any]] = [
    {"include-operation-id": list(SUB_RESOURCE_404),
     "checks": {"created_resource_available": {"enabled": False}}},
    {"include-operation-id": list(NULL_LINKED_REQUIRED_QUERY),
     "phases": {"stateful": {"checks": {"positive_data_acceptance": {"enabled": False}}}}},
    {"include-operation-id": list(PARTIAL_PATCH),
     "phases": {"stateful": {"checks": {"positive_data_acceptance": {"enabled": False}}}}},
]
STATEFUL_GENERATION: dict[str, Any] = {"allow-extra-parameters": False}  # see EXTRA_QUERY_PARAMETERS


def schemathesis_config(settings: RunSettings, max_examples: int | None = None) -> SchemathesisConfig:
    phases = set(settings.phases)
    data: dict[str, Any] = {
        "cache": {"enabled": False},
        "generation": {"max-examples": max_examples or settings.max_examples, "database": "none"},
        "phases": {name: {"enabled": name in phases} for name in ("examples", "coverage", "fuzzing", "stateful")},
        "checks": GLOBAL_CHECKS,
        "operations": FALSE_POSITIVE_OPERATIONS,
        "output": {"sanitization": {"enabled": True}},
    }
    if settings.seed is not None:
        data["seed"] = settings.seed
    data["phases"]["stateful"]["generation"] = dict(STATEFUL_GENERATION)
    return SchemathesisConfig.from_dict(data)


def build_schema(settings: RunSettings, max_examples: int | None = None):
    config = schemathesis_config(settings, max_examples)
    schema = schemathesis.openapi.from_dict(load_spec(settings.strict_spec), config=config)
    schema.config.update(base_url=settings.api_url,
                         headers={"Authorization": f"Bearer {settings.token}"})
    excluded = NEVER_FUZZED + (STAGING_NOT_FUZZED if settings.staging else ())
    return schema.exclude(operation_id=list(excluded))


def conformance_schema(settings: RunSettings, in_shard: tuple[int, int] | None = None):
    """The schema the phases judge operation by operation: `build_schema` without the operations `--operations`
    leaves out, nor those of other shards than `in_shard` (K, N) — the items `--shard` keeps, by the same key.
    They are left out of the schema rather than deselected, because schemathesis builds each operation's test,
    coverage cases included, while it collects (most of the time a narrow run would spend)."""
    schema = build_schema(settings)
    if settings.operations is None and in_shard is None:
        return schema

    def left_out(ctx: Any) -> bool:
        operation = ctx.operation
        if in_shard is not None and not keeps(in_shard, "conformance", operation.label):
            return True
        return not settings.wants_operation(operation.label, operation.definition.raw.get("operationId"))

    return schema.exclude(func=left_out)


def _payload(response: requests.Response) -> Any:
    return json_or_none(response.content)


def bounded(send: Callable[..., requests.Response], method: str, url: str, label: str, seconds: float,
            **kwargs: Any) -> requests.Response:
    """One request through a requests session, the way the suite sends every request: `seconds` to connect and as
    many for the whole answer (whatever `timeout` the caller asked for), at most `MAX_ANSWER_BYTES` of it read, no
    redirect followed (a 3xx is a fault), any transport failure a `TargetFault` (or `TargetUnavailable`) naming the
    request."""
    def exchange() -> requests.Response:
        started = time.monotonic()
        try:
            response = send(method, url, **{**kwargs, "timeout": (seconds, seconds), "stream": True,
                                            "allow_redirects": False})
            try:
                response._content = read_body(_arriving(response), label, started, seconds)
            finally:
                response.close()
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise transport_error(label, exc, seconds) from None
        response._content_consumed = True
        return response

    response = within(seconds, label, exchange)
    refuse_redirect(label, response.status_code, response.headers, url)
    return response


def _arriving(response: requests.Response) -> Iterator[bytes]:
    """The body's chunks as they arrive (`iter_content` waits to fill a chunk: a dripping body would never end)."""
    while chunk := response.raw.read1(CHUNK_BYTES, decode_content=True):
        yield chunk


def oracle_reader(settings: RunSettings, pacer: Pacer) -> Send:
    """How the oracles look again at the target during the phases: a paced GET with the run's key (or another)."""
    session = requests.Session()

    def send(path: str, token: str | None = None, query: Any = None) -> Exchange:
        response = pacer.send(lambda: bounded(session.request, "GET", settings.api_url + path, f"GET {path}",
                                              pacer.deadline.bound(settings.request_timeout), params=query,
                                              headers={"Authorization": f"Bearer {token or settings.token}"}))
        RECORDER.record("GET", path, query=query, token=token or settings.token, status=response.status_code,
                        payload=_payload(response), text=response.text, source="oracle")
        return Exchange("GET", path, response.status_code, _payload(response), response.text, query=dict(query or {}),
                        foreign=bool(token) and token != settings.token)

    return send


def phase_oracles(settings: RunSettings, pacer: Pacer) -> OracleRun:
    """The generic oracles over every exchange of the schemathesis phases (one memory per process)."""
    return OracleRun(oracle_reader(settings, pacer), strict=settings.strict, other_token=settings.other_token,
                     tally=OBSERVED.oracles)


class GuardedSession(requests.Session):
    """What schemathesis sends through: pacing, Retry-After, limits of time and size, no redirects, the staging guard,
    creation tracking, and the generic oracles (`contracts.oracles`), whose findings ride on the request for the
    checks in `contracts.checks`.

    A request that meets a fault (`TargetFault`: no answer in time, a reset, too large an answer, a redirect) raises
    it, and so does every later request of the same operation without being sent: Hypothesis replays and shrinks a
    failing example, and a target that hangs must not be waited for again each time."""

    def __init__(self, pacer: Pacer, guard: Guard, registry: Registry, staging: bool, api_url: str = "",
                 oracles: OracleRun | None = None, timeout: float = DEFAULT_REQUEST_TIMEOUT):
        super().__init__()
        self.timeout = timeout
        self.faults: dict[str, TargetUnavailable] = {}  # operation label -> the fault it met
        self.pacer = pacer
        self.guard = guard
        self.registry = registry
        self.staging = staging
        self.api_path = api_path(api_url)
        self.oracles = oracles

    def request(self, method: str | bytes, url: str | bytes, **kwargs: Any) -> requests.Response:
        method = method.decode() if isinstance(method, bytes) else method
        url = url.decode() if isinstance(url, bytes) else url
        body = kwargs.get("json")
        path = urlsplit(url).path
        if self.api_path and path.startswith(self.api_path):
            path = path[len(self.api_path):]
        self.guard.check(method, path, body)  # StagingRefusal propagates: the caller skips the case
        found = operation_index().find(method, path)
        operation = found[1] if found else f"{method.upper()} {path}"
        if operation in self.faults:
            raise self.faults[operation]
        try:
            before = self.oracles.before(method, path, body) if self.oracles is not None else None
            response = self.pacer.send(lambda: bounded(super(GuardedSession, self).request, method, url,
                                                       f"{method.upper()} {path}",
                                                       self.pacer.deadline.bound(self.timeout), **kwargs))
        except TargetUnavailable as exc:
            self.faults[operation] = exc
            raise
        payload = _payload(response)
        if response.status_code < 300 or self.staging:
            # Statuses are counted by the `mx_observe` check; here only creations, deletions and ids.
            record_exchange(self.registry, OBSERVED, method, path, body, response.status_code, payload,
                            track_ids=self.staging, count_status=False)
        RECORDER.record(method, urlsplit(url).query and f"{path}?{urlsplit(url).query}" or path,
                        query=kwargs.get("params"), body=body, content=kwargs.get("data"),
                        headers=kwargs.get("headers"), token=_bearer(kwargs.get("headers")),
                        status=response.status_code, payload=payload, text=response.text, source="schemathesis")
        if self.oracles is not None:
            exchange = Exchange(method, path, response.status_code, payload, response.text, body=body,
                                query=dict(kwargs.get("params") or {}), before=before)
            response.request.mx_findings = self.oracles.after(exchange)  # type: ignore[union-attr]
        return response


def _bearer(headers: Any) -> str | None:
    value = next((v for k, v in dict(headers or {}).items() if str(k).lower() == "authorization"), None)
    value = value.decode() if isinstance(value, bytes) else value
    return value[7:] if isinstance(value, str) and value.startswith("Bearer ") else None


__all__ = ["build_schema", "conformance_schema", "bounded", "GuardedSession", "StagingRefusal", "TargetFault",
           "NEVER_FUZZED", "STAGING_NOT_FUZZED"]
