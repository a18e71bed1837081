"""Errata: reviewed corrections applied to the pristine spec to build the effective spec.

Each erratum names what it changes and why. `spec/ERRATA.md` lists the same entries for
readers; `tests/test_spec.py` keeps the two in step. Corrections fall in three groups:

* defects: the document says one thing and means another (3.0 `nullable` in a 3.1 file);
* gaps: answers a correct server must give that the document forgot (400, 409);
* constraints the product documentation states but the schema does not (limits, money,
  policy config shapes), written as JSON Schema so generators and validators both see them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .document import HTTP_METHODS, Spec, resolve
from .vocabulary import EVENT_TYPES, EVENTS, MONEY_PATTERN, POLICIES, POLICY_CONFIG_SCHEMAS

@dataclass(frozen=True)
class Erratum:
    id: str
    kind: str  # "defect" | "gap" | "constraint" | "note"
    summary: str
    reason: str
    apply: Callable[[Spec], None] | None = None


# ── helpers ─────────────────────────────────────────────────────────────────


def _walk(node: Any, visit: Callable[[dict[str, Any]], None]) -> None:
    if isinstance(node, dict):
        visit(node)
        for value in list(node.values()):
            _walk(value, visit)
    elif isinstance(node, list):
        for item in node:
            _walk(item, visit)


def _ops(spec: Spec):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in HTTP_METHODS:
                yield path, method, op


def _all_parameters(spec: Spec) -> list[dict[str, Any]]:
    found = list(spec["components"].get("parameters", {}).values())
    for _, _, op in _ops(spec):
        found.extend(p for p in op.get("parameters", []) if "$ref" not in p)
    return found


def _op(spec: Spec, operation_id: str) -> dict[str, Any]:
    for _, _, op in _ops(spec):
        if op["operationId"] == operation_id:
            return op
    raise KeyError(operation_id)


def _body_schema(spec: Spec, operation_id: str) -> dict[str, Any]:
    return _op(spec, operation_id)["requestBody"]["content"]["application/json"]["schema"]


def _query_param(spec: Spec, operation_id: str, name: str) -> dict[str, Any]:
    for param in _op(spec, operation_id).get("parameters", []):
        param = resolve(spec, param)
        if param["name"] == name:
            return param["schema"]
    raise KeyError((operation_id, name))


def _add_response(spec: Spec, operation_id: str, status: str, ref: str) -> None:
    responses = _op(spec, operation_id)["responses"]
    responses.setdefault(status, {"$ref": ref})


# ── the corrections ─────────────────────────────────────────────────────────


def _nullable_to_null_type(spec: Spec) -> None:
    # A query value is always text; "null" is spelled out (`?projectId=null`), so parameter
    # schemas keep their scalar type (openapi-core cannot deserialize a type list there).
    for param in _all_parameters(spec):
        param.get("schema", {}).pop("nullable", None)

    def visit(node: dict[str, Any]) -> None:
        if node.get("nullable") is True:
            del node["nullable"]
            kind = node.get("type")
            if isinstance(kind, str):
                node["type"] = [kind, "null"]
            elif isinstance(kind, list) and "null" not in kind:
                node["type"] = [*kind, "null"]
            if "enum" in node and None not in node["enum"]:
                node["enum"] = [*node["enum"], None]
        elif node.get("nullable") is False:
            del node["nullable"]

    _walk(spec, visit)


def _can_be_invalid(spec: Spec, op: dict[str, Any]) -> bool:
    if "requestBody" in op:
        return True
    for param in op.get("parameters", []):
        param = resolve(spec, param)
        schema = param.get("schema", {})
        constrained = set(schema) - {"type", "description"} or schema.get("type") not in ("string", None)
        if constrained or (param.get("required") and param["in"] == "query"):
            return True
    return False


def _missing_400(spec: Spec) -> None:
    spec["components"]["responses"].setdefault(
        "Conflict",
        {
            "description": "The request conflicts with the resource's current state",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        },
    )
    for _, _, op in _ops(spec):
        if "400" not in op["responses"] and _can_be_invalid(spec, op):
            op["responses"]["400"] = {"$ref": "#/components/responses/BadRequest"}


CONFLICT_OPERATIONS = (
    "inviteMember",  # already a member
    "updateMemberRole",  # would leave the organization without an owner
    "removeMember",  # would leave the organization without an owner
    "createRoutingConfig",  # name taken in the project
    "updateRoutingConfig",  # name taken in the project
    "createSimulation",  # the baseline config belongs to another project
    "cancelSimulation",  # already finished
    "promoteSimulation",  # not completed, or nothing to promote into
    "replayWebhookDelivery",  # delivery already pending or delivered
    "updateBudget",  # downgrade without a model to downgrade to
    "revokeManagementKey",  # the key making the request
    "dryRunRoutingConfig",  # the project's configs cannot route the request (no rule, cycle)
    "replayLog",  # likewise for the current config
)

# Bodies that name another resource (project, config): a missing one is a 404, not a 400.
REFERENCING_OPERATIONS = (
    "createApiKey",
    "createRoutingConfig",
    "createBudget",
    "createWebhookEndpoint",
    "createSimulation",
)


def _conflicts(spec: Spec) -> None:
    for operation_id in CONFLICT_OPERATIONS:
        _add_response(spec, operation_id, "409", "#/components/responses/Conflict")


def _missing_references(spec: Spec) -> None:
    for operation_id in REFERENCING_OPERATIONS:
        _add_response(spec, operation_id, "404", "#/components/responses/NotFound")


def _paging_limits(spec: Spec) -> None:
    for operation_id in ("listLogs", "listAuditLogs", "listBudgetEvents"):
        limit = _query_param(spec, operation_id, "limit")
        limit.update({"minimum": 1, "maximum": 200})
    for operation_id in ("listLogs", "listAuditLogs"):
        _query_param(spec, operation_id, "offset")["minimum"] = 0


def _money(spec: Spec) -> None:
    for operation_id in ("createBudget", "updateBudget"):
        _body_schema(spec, operation_id)["properties"]["amount_usd"]["pattern"] = MONEY_PATTERN


def _percentages(spec: Spec) -> None:
    props = _body_schema(spec, "updateBudget")["properties"]
    props["soft_cap_pct"].update({"minimum": 0, "maximum": 100})


def _downgrade_needs_model(spec: Spec) -> None:
    # anyOf rather than if/then: generators (schemathesis) handle it, and it reads the same.
    rule = {
        "anyOf": [
            {"properties": {"hard_cap_action": {"const": "block"}}},
            {
                "required": ["hard_cap_action", "downgrade_to"],
                "properties": {"hard_cap_action": {"const": "downgrade"}, "downgrade_to": {"type": "string", "minLength": 1}},
            },
        ]
    }
    for operation_id in ("createBudget", "updateBudget"):
        _body_schema(spec, operation_id).setdefault("allOf", []).append(rule)


def _budget_scope(spec: Spec) -> None:
    _body_schema(spec, "createBudget").setdefault("allOf", []).append(
        {
            "oneOf": [
                {"properties": {"scope_type": {"const": "org"}, "scope_id": {"type": "null"}}},
                {
                    "required": ["scope_id"],
                    "properties": {"scope_type": {"enum": ["project", "end_user"]},
                                   "scope_id": {"type": "string", "minLength": 1}},
                },
            ]
        }
    )


def _names_not_empty(spec: Spec) -> None:
    for operation_id in (
        "createProject",
        "createProvider",
        "createApiKey",
        "createRoutingConfig",
        "createBudget",
        "createWebhookEndpoint",
        "createSimulation",
        "createManagementKey",
        "updateOrg",
        "updateProject",
        "updateProvider",
        "updateRoutingConfig",
        "updateBudget",
        "updateWebhookEndpoint",
    ):
        props = _body_schema(spec, operation_id)["properties"]
        props["name"].update({"minLength": 1, "maxLength": 200})


def _slug_names(spec: Spec) -> None:
    for operation_id in ("createRoutingConfig", "updateRoutingConfig"):
        props = _body_schema(spec, operation_id)["properties"]
        props["name"]["pattern"] = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


ABSENT = {"not": {}}


def _policy_variants(policy_key: str, config_key: str) -> list[dict[str, Any]]:
    """One variant per policy: the policy name and that policy's config shape, together."""
    return [
        {"required": [policy_key, config_key], "properties": {policy_key: {"const": name}, config_key: schema}}
        for name, schema in POLICY_CONFIG_SCHEMAS.items()
    ]


def _policy_configs(spec: Spec) -> None:
    for operation_id, policy_key, config_key in (
        ("createRoutingConfig", "policy", "config"),
        ("updateRoutingConfig", "policy", "config"),
        ("dryRunRoutingConfig", "policy", "config"),
        ("createSimulation", "candidate_policy", "candidate_config"),
    ):
        schema = _body_schema(spec, operation_id)
        schema["properties"][policy_key]["enum"] = list(POLICIES)
        variants = _policy_variants(policy_key, config_key)
        if operation_id == "updateRoutingConfig":
            # Either alone is valid (the spec makes every field optional): the server checks it against the
            # config's current policy or config, which no schema can see.
            variants.append({"not": {"required": [policy_key, config_key]}})
        schema.setdefault("allOf", []).append({"oneOf": variants})


def _event_types(spec: Spec) -> None:
    for operation_id in ("createWebhookEndpoint", "updateWebhookEndpoint"):
        prop = _body_schema(spec, operation_id)["properties"]["event_types"]
        prop["items"]["enum"] = list(EVENT_TYPES)
        prop["minItems"] = 1
        prop["uniqueItems"] = True


_URL_CHAR = r"([A-Za-z0-9._~!$&'()*+,;=:@/-]|%[0-9A-Fa-f]{2})"
URL_PATTERN = rf"^https?://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{{1,5}})?(/{_URL_CHAR}*)?(\?({_URL_CHAR}|\?)*)?$"


def _absolute_urls(spec: Spec) -> None:
    for operation_id in ("createWebhookEndpoint", "updateWebhookEndpoint"):
        prop = _body_schema(spec, operation_id)["properties"]["url"]
        prop["pattern"] = URL_PATTERN
        prop["maxLength"] = 2048


def _link(spec: Spec, source: str, status: str, name: str, target: str, parameters: dict[str, str],
          body: dict[str, str] | None = None) -> None:
    link: dict[str, Any] = {"operationId": target, "parameters": parameters}
    if body is not None:
        link["requestBody"] = body
    _op(spec, source)["responses"][status].setdefault("links", {})[name] = link


def _links(spec: Spec) -> None:
    _link(spec, "createBudgetAlert", "201", "DeleteBudgetAlert", "deleteBudgetAlert",
          {"id": "$request.path.id"}, {"alertId": "$response.body#/data/id"})
    for name, target in (("UpdateMemberRole", "updateMemberRole"), ("RemoveMember", "removeMember")):
        _link(spec, "inviteMember", "201", name, target,
              {"id": "$request.path.id", "userId": "$response.body#/data/user_id"})
    _link(spec, "createRoutingConfig", "201", "GetRoutingConfigVersion", "getRoutingConfigVersion",
          {"id": "$response.body#/data/id", "version": "$response.body#/data/version"})
    _link(spec, "createRoutingConfig", "201", "RestoreRoutingConfigVersion", "restoreRoutingConfigVersion",
          {"id": "$response.body#/data/id"}, {"version": "$response.body#/data/version"})
    for name, target in (("CancelSimulation", "cancelSimulation"), ("GetSimulationResults", "getSimulationResults"),
                         ("PromoteSimulation", "promoteSimulation")):
        _link(spec, "createSimulation", "201", name, target, {"id": "$response.body#/data/id"})
    for name, target in (("GetLog", "getLog"), ("GetDecisionTrace", "getDecisionTrace"), ("ReplayLog", "replayLog")):
        _link(spec, "listLogs", "200", name, target, {"id": "$response.body#/data/0/id"})


def _empty_query_values(spec: Spec) -> None:
    for param in _all_parameters(spec):
        schema = param.get("schema", {})
        if param.get("in") == "query" and schema.get("type") == "string" and not {"enum", "format", "pattern"} & set(schema):
            param["allowEmptyValue"] = True


def _simulation_filter(spec: Spec) -> None:
    prop = _body_schema(spec, "createSimulation")["properties"]["filter"]
    prop.update({
        "additionalProperties": False,
        "properties": {
            "status": {"type": "string", "enum": ["success", "error"]},
            "end_user_id": {"type": "string"},
            "model": {"type": "string"},
            "routing_config_name": {"type": "string"},
            "tags": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    })


def _rate_limited(spec: Spec) -> None:
    def header(description: str) -> dict[str, Any]:
        return {"description": description, "schema": {"type": "integer", "minimum": 0}}

    spec["components"]["responses"].setdefault("TooManyRequests", {
        "description": "Rate limit exceeded (product docs: 60 requests per minute per management key)",
        "headers": {
            "Retry-After": header("Seconds to wait before the next request is accepted"),
            "X-RateLimit-Limit": header("Requests allowed in the window"),
            "X-RateLimit-Remaining": header("Requests left in the window"),
            "X-RateLimit-Reset": header("Unix time (seconds) at which a request is next accepted"),
        },
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    })
    for _, _, op in _ops(spec):
        if op.get("security", spec.get("security")) != []:
            op["responses"].setdefault("429", {"$ref": "#/components/responses/TooManyRequests"})


def _event_payloads(spec: Spec) -> None:
    payload = spec["components"]["schemas"]["WebhookDelivery"]["properties"]["payload"]
    payload.update({
        "description": "The event that was delivered: the JSON document POSTed to the endpoint, signed with "
                       "`X-Modelux-Signature` (hex HMAC-SHA256 of the raw body with the endpoint's signing secret). "
                       "`x-modelux-event-data` documents the `data` of each event type this mock emits.",
        "required": ["id", "type", "created_at", "data"],
        "properties": {"id": {"type": "string"}, "type": {"type": "string"},
                       "created_at": {"type": "string", "format": "date-time"}, "data": {"type": "object"}},
        "x-modelux-event-data": {name: event.data for name, event in EVENTS.items()},
    })


ERRATA: tuple[Erratum, ...] = (
    Erratum(
        "E1",
        "defect",
        "`nullable: true` becomes a null-admitting type",
        "The file says `openapi: 3.1.0` but uses the 3.0 keyword `nullable` 58 times; under 3.1 it "
        "means nothing, so strict validators reject the nulls the author allows.",
        _nullable_to_null_type,
    ),
    Erratum(
        "E2",
        "gap",
        "`400` on every operation whose parameters or body can be invalid",
        "Operations such as `GET /logs?status=AAA` document no 400, so no answer to invalid input "
        "is conformant; a 400 with the error envelope is the only sensible one.",
        _missing_400,
    ),
    Erratum(
        "E3",
        "gap",
        "`409` on operations that can conflict with current state",
        "Promote, cancel and replay are bodiless POSTs whose preconditions (completed, running, "
        "failed) can fail; names must be unique; the last owner cannot leave. None is invalid "
        "input, so 400 is wrong and nothing else is documented.",
        _conflicts,
    ),
    Erratum(
        "E4",
        "constraint",
        "`limit` is 1..200 and `offset` is at least 0 on paged lists",
        "Product docs: default 50, max 200. Negative offsets have no meaning.",
        _paging_limits,
    ),
    Erratum(
        "E5",
        "constraint",
        "`amount_usd` is a non-negative decimal string with at most two decimals",
        "Money is a decimal string (spec description), never a float or free text.",
        _money,
    ),
    Erratum(
        "E6",
        "constraint",
        "`soft_cap_pct` is 0..100 on update as on create",
        "The create body bounds it; the update body forgot.",
        _percentages,
    ),
    Erratum(
        "E7",
        "constraint",
        "`hard_cap_action: downgrade` requires `downgrade_to` in the same body",
        "Docs: downgrade needs a target model; said in the schema so clients and fuzzers know it.",
        _downgrade_needs_model,
    ),
    Erratum(
        "E8",
        "constraint",
        "`scope_id` is required for project and end-user budgets and null for org budgets",
        "`scope_id` names the project or end user; an org budget has nothing to name.",
        _budget_scope,
    ),
    Erratum(
        "E9",
        "constraint",
        "Names are 1..200 characters",
        "An empty display name is never meaningful.",
        _names_not_empty,
    ),
    Erratum(
        "E10",
        "constraint",
        "Routing config names are slugs",
        "The name is used as `model: \"@name\"` (spec description), so it must be a slug.",
        _slug_names,
    ),
    Erratum(
        "E11",
        "constraint",
        "`policy` is one of the documented policies and `config` has that policy's shape whenever both are sent",
        "Docs give each policy's config shape; invalid config must be a 400 (spec: dry-run validates "
        "locally). A PATCH may send `config` alone or `policy` alone, as the upstream spec allows: the "
        "server checks it against the config's current policy or config (see DECISIONS.md).",
        _policy_configs,
    ),
    Erratum(
        "E12",
        "constraint",
        "Webhook `event_types` are registry types, at least one, no repeats",
        "Docs: subscribing to an unknown type is an error; the registry lists the valid ones.",
        _event_types,
    ),
    Erratum(
        "E13",
        "constraint",
        "Webhook `url` is an absolute http(s) URL",
        "`format: uri` is not checked by default validators; deliveries need a reachable URL.",
        _absolute_urls,
    ),
    Erratum(
        "E14",
        "gap",
        "`404` on creations whose body names a project or config that does not exist",
        "`POST /keys {projectId}` and its siblings document only 400, yet a well-formed request "
        "naming a missing project is not invalid input: it is a missing resource, as on every "
        "other operation.",
        _missing_references,
    ),
    Erratum(
        "E15",
        "constraint",
        "A simulation `filter` selects by status, end user, model, config name and tags",
        "The spec leaves the filter free-form; a filter key the server does not understand would be "
        "silently ignored, so the known keys are listed and others rejected.",
        _simulation_filter,
    ),
    Erratum(
        "E16",
        "defect",
        "Free-text query parameters admit the empty value",
        "`?projectId=` is a valid string; strict validators reject empty query values unless "
        "`allowEmptyValue` is set. An empty filter matches only empty values.",
        _empty_query_values,
    ),
    Erratum(
        "E17",
        "gap",
        "Links from the operations that create or list data to those that use it",
        "`DELETE /budgets/{id}/alerts` takes the alert id in its body, members are addressed by "
        "`user_id`, versions by number, logs only come from listings: without links, tools infer "
        "wrong identifiers or never reach these operations. (No link leads to `DELETE /orgs/{id}`.)",
        _links,
    ),
    Erratum(
        "E18",
        "constraint",
        "A delivery's `payload` is the event envelope `{id, type, created_at, data}`; each type's `data` is "
        "documented",
        "Docs: a delivery POSTs a JSON envelope `{id, type, created_at, data}`. The shape of `data` per event "
        "type is this mock's (`x-modelux-event-data`, an annotation no validator enforces on other servers).",
        _event_payloads,
    ),
    Erratum(
        "E19",
        "gap",
        "`429` with `Retry-After` on every operation that takes a management key",
        "Product docs: the management API allows 60 requests per minute per management key. A client must "
        "be able to meet and handle the answer past it; the spec documents none. The answer is the error "
        "envelope; `Retry-After` and `X-RateLimit-Limit/Remaining/Reset` are described, not required.",
        _rate_limited,
    ),
    Erratum(
        "N1",
        "note",
        "Mixed field casing kept as written",
        "`apiKey`/`baseUrl` (providers), `projectId` (keys, routing configs), `signingSecret` on "
        "endpoint creation vs `signing_secret` on rotation, `alertId` on alert deletion: the spec "
        "is followed literally.",
    ),
    Erratum(
        "N2",
        "note",
        "No read endpoint for organizations",
        "The caller's org id is that of its key; it appears as `org_id` on audit entries.",
    ),
)


def apply_errata(spec: Spec) -> Spec:
    for erratum in ERRATA:
        if erratum.apply is not None:
            erratum.apply(spec)
    return spec



def errata_markdown() -> str:
    """`spec/ERRATA.md`, generated from the list so the two never drift."""
    lines = [
        "# Errata: how the effective spec differs from `openapi.yaml`",
        "",
        "`openapi.yaml` in this folder is byte-identical to the upstream contract. The mock, the",
        "contract suite and the tests read the *effective spec*: that file with the corrections",
        "below applied in code (`spec/errata.py`, the `modelux_spec` package). `GET /openapi.json` on a running mock",
        "serves it; `modelux-contracts run --strict-spec` judges against the pristine file instead.",
        "",
        "Kinds: **defect** (the document says something it does not mean), **gap** (an answer a",
        "correct server must give is undocumented), **constraint** (a rule stated in the product",
        "docs or descriptions, written as JSON Schema), **note** (kept as written, listed for readers).",
        "",
        "This file is generated: `modelux-mock errata > spec/ERRATA.md`.",
        "",
    ]
    for erratum in ERRATA:
        lines += [f"## {erratum.id} — {erratum.summary}", "", f"*{erratum.kind}.* {erratum.reason}", ""]
    return "\n".join(lines)
