"""The effective spec compiled once per process: a route table and per-operation validators.

openapi-core re-walks the spec on every call (about a hundred path resolutions and a pure-Python
JSON Schema run per request and per response). Here each operation's parameters, request body and
documented responses are dereferenced once and compiled with jsonschema-rs, which validates in
microseconds. openapi-core stays the reference for what is valid (`validation.Oracle`):

* the served path *accepts* on its own only what its compiled validators accept;
* whatever it would reject (or cannot judge) is handed to the oracle, which writes the error
  message — or accepts, and then its verdict is served.

So a request or response the oracle rejects is never served as valid as long as the compiled
validators are no looser than the oracle; `tests/test_validation_differential.py` shows, over
generated valid and invalid input for every operation, that the served path and openapi-core
accept, reject and unmarshal alike. Format checks call the oracle's own format checker, so a
`date-time` or `email` means exactly what it means to openapi-core.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import jsonschema_rs

from modelux_spec import BASE_PATH, HTTP_METHODS, operations, resolve

Spec = dict[str, Any]
MISSING = object()
JSON = "application/json"


class Rejected(Exception):
    """The compiled validators do not accept this input; the oracle decides and explains."""


# openapi-core re-reads the decoded request path as a URL: urllib drops tabs and newlines from it, and
# a `?` or `#` starts its query or fragment, so it would judge another path (`/projects/a%0Ab` names
# `ab`). For such paths the compiled validators are the only judge, and they write the message.
URL_MISREAD = frozenset("\t\r\n?#")


def oracle_misreads(path: str) -> bool:
    return not URL_MISREAD.isdisjoint(path)


def _messages(location: str, validator: Any, value: Any) -> list[str]:
    found = []
    for error in validator.iter_errors(value):
        where = location + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.instance_path)
        found.append(f"{where}: {error.message}")
    return found


def inline(spec: Spec, node: Any, seen: tuple[str, ...] = ()) -> Any:
    """`node` with every local `$ref` replaced by what it names (the effective spec has no cycles)."""
    if isinstance(node, list):
        return [inline(spec, item, seen) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        if ref in seen:
            raise ValueError(f"recursive $ref {ref}: compile with a registry instead of inlining")
        target = inline(spec, resolve(spec, {"$ref": ref}), seen + (ref,))
        siblings = {k: inline(spec, v, seen) for k, v in node.items() if k != "$ref"}
        return {"allOf": [target], **siblings} if siblings else target
    return {key: inline(spec, value, seen) for key, value in node.items()}


def _format_names(node: Any, found: set[str]) -> set[str]:
    if isinstance(node, dict):
        if isinstance(node.get("format"), str):
            found.add(node["format"])
        for value in node.values():
            _format_names(value, found)
    elif isinstance(node, list):
        for value in node:
            _format_names(value, found)
    return found


@functools.lru_cache(maxsize=None)
def _oracle_format(name: str) -> Callable[[Any], bool]:
    """openapi-core's own (OAS 3.1) check of format `name`, as `FormatChecker.conforms` decides it: the format's
    function, what it raises read as "does not conform", an unknown format always conforming (without the
    checker's exception round trip). Built on first use: importing openapi_schema_validator costs 0.2 s at boot."""
    from openapi_schema_validator import OAS31Validator

    found = OAS31Validator.FORMAT_CHECKER.checkers.get(name)
    if found is None:
        return lambda value: True
    func, raises = found

    def conforms(value: Any) -> bool:
        try:
            return bool(func(value))
        except raises:
            return False

    return conforms


def oracle_formats(spec: Spec) -> dict[str, Callable[[str], bool]]:
    """Every format the spec names, checked by openapi-core's own (OAS 3.1) format checker."""
    return {name: functools.partial(_checked_format, name) for name in sorted(_format_names(spec, set()))}


def _checked_format(name: str, value: Any) -> bool:
    return _oracle_format(name)(value)


class Compiled:
    """A JSON Schema compiled with jsonschema-rs the first time it is used (boot compiles nothing)."""

    __slots__ = ("schema", "formats", "_validator")

    def __init__(self, schema: dict[str, Any], formats: dict[str, Callable[[str], bool]]):
        self.schema = schema
        self.formats = formats
        self._validator: Any = None

    @property
    def validator(self) -> Any:
        if self._validator is None:
            self._validator = jsonschema_rs.Draft202012Validator(self.schema, formats=self.formats,
                                                                 validate_formats=True)
        return self._validator

    def is_valid(self, value: Any) -> bool:
        return self.validator.is_valid(value)

    def iter_errors(self, value: Any) -> Any:
        return self.validator.iter_errors(value)


def compile_schema(schema: dict[str, Any], formats: dict[str, Callable[[str], bool]]) -> Compiled:
    return Compiled(schema, formats)


# ── parameters ──────────────────────────────────────────────────────────────────────────────────


def _cast_integer(text: str) -> int:
    return int(text)  # openapi-core casts with int(): "+3", " 3", "1_0" and "３" are all 3


def _cast_number(text: str) -> float:
    return float(text)


def _cast_boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered not in ("true", "false"):
        raise ValueError(text)
    return lowered == "true"


CASTS: dict[str, Callable[[str], Any]] = {"integer": _cast_integer, "number": _cast_number,
                                          "boolean": _cast_boolean, "string": str}


def _parse_datetime(value: str) -> Any:
    from isodate.isodatetime import parse_datetime

    return parse_datetime(value)


# What openapi-core's unmarshaller turns a valid string of these formats into (it keeps the
# string when the conversion fails).
FORMAT_VALUES: dict[str, Callable[[str], Any]] = {"date-time": _parse_datetime}


def format_value(fmt: str | None, value: Any) -> Any:
    convert = FORMAT_VALUES.get(fmt) if fmt else None
    if convert is None or not isinstance(value, str):
        return value
    try:
        return convert(value)
    except (AttributeError, ValueError, TypeError):
        return value


@dataclass
class Parameter:
    name: str
    location: str
    required: bool
    allow_empty: bool
    kind: str
    fmt: str | None
    default: Any
    validator: Any

    def read(self, raw: str, check: bool = True) -> Any:
        """The unmarshalled value of a raw string, or Rejected."""
        try:
            value = CASTS.get(self.kind, str)(raw)
        except (ValueError, OverflowError):
            raise Rejected(self.name)
        if not check:
            return format_value(self.fmt, value)
        if raw == "" and not self.allow_empty and self.location == "query":
            raise Rejected(self.name)
        try:
            valid = self.validator.is_valid(value)
        except (ValueError, OverflowError):  # beyond what the compiled validator can represent
            raise Rejected(self.name)
        if not valid:
            raise Rejected(self.name)
        return format_value(self.fmt, value)


# ── operations ──────────────────────────────────────────────────────────────────────────────────


@dataclass
class Operation:
    operation_id: str
    method: str
    template: str
    public: bool
    parameters: list[Parameter]
    body: Any  # compiled validator of the JSON body, or None when the operation takes none
    body_required: bool
    body_schema: dict[str, Any] | None
    responses: dict[str, Any]  # status ("200", "default") -> compiled validator, or None for no content
    raw: dict[str, Any] = field(repr=False)

    def read_request(self, path_vars: Mapping[str, str], query: Any, body: Any,
                     check: bool = True) -> tuple[dict, dict, Any]:
        """Path and query values and the body, as openapi-core would unmarshal them; Rejected otherwise.

        `check=False` only casts (measurements of what validation costs).
        """
        path: dict[str, Any] = {}
        params: dict[str, Any] = {}
        for param in self.parameters:
            source = path_vars if param.location == "path" else query
            raw = source.get(param.name) if source is not None else None
            if raw is None:
                if param.required:
                    raise Rejected(param.name)
                if param.default is not MISSING:
                    (path if param.location == "path" else params)[param.name] = param.default
                continue
            (path if param.location == "path" else params)[param.name] = param.read(raw, check)
        if self.body is None:
            return path, params, None
        if body is MISSING:
            if self.body_required:
                raise Rejected("body")
            return path, params, None
        try:
            valid = self.body.is_valid(body) if check else True
        except (ValueError, OverflowError):
            raise Rejected("body")
        if not valid:
            raise Rejected("body")
        return path, params, unmarshal_formats(self.body_schema, body)

    def explain(self, path_vars: Mapping[str, str], query: Any, body: Any) -> str:
        """What is wrong with a request, in the oracle's words as far as they go (for paths it misreads)."""
        messages = []
        for param in self.parameters:
            source = path_vars if param.location == "path" else query
            raw = source.get(param.name) if source is not None else None
            label = f"{param.location} parameter '{param.name}'"
            if raw is None:
                if param.required:
                    messages.append(f"{label} is required")
                continue
            try:
                value = CASTS.get(param.kind, str)(raw)
            except (ValueError, OverflowError):
                messages.append(f"{label}: Failed to cast value to {param.kind} type: {raw}")
                continue
            if raw == "" and not param.allow_empty and param.location == "query":
                messages.append(f"{label}: Value of {param.name} {param.location} parameter cannot be empty")
                continue
            messages.extend(_messages(label, param.validator, value))
        if self.body is not None:
            if body is MISSING:
                if self.body_required:
                    messages.append("body: Missing required request body")
            else:
                messages.extend(_messages("body", self.body, body))
        return "invalid request: " + "; ".join(messages[:5] or ["rejected"])

    def response_accepted(self, status: int, payload: Any) -> bool:
        """Whether the compiled validators accept this answer (False: ask the oracle)."""
        key = str(status)
        if key in self.responses:
            validator = self.responses[key]
        elif f"{key[0]}XX" in self.responses:
            validator = self.responses[f"{key[0]}XX"]
        elif "default" in self.responses:
            validator = self.responses["default"]
        else:
            return False
        if validator is None:
            return payload is None
        try:
            return validator.is_valid(payload)
        except (ValueError, OverflowError):
            return False


def unmarshal_formats(schema: Any, value: Any) -> Any:
    """Convert formatted strings (date-time) the way openapi-core's unmarshaller does.

    Only `properties`, `items` and `allOf` are followed; tests/test_validation_differential.py shows
    this equals openapi-core's unmarshalled body for every operation of the effective spec.
    """
    if not isinstance(schema, dict):
        return value
    if isinstance(value, str):
        return format_value(schema.get("format"), value)
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        nested = [s for s in schema.get("allOf", []) if isinstance(s, dict)]
        if not properties and not nested:
            return value
        out = dict(value)
        for name, sub in properties.items():
            if name in out:
                out[name] = unmarshal_formats(sub, out[name])
        for sub in nested:
            out = unmarshal_formats(sub, out)
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [unmarshal_formats(schema["items"], item) for item in value]
    return value


def _compile_operation(spec: Spec, path: str, method: str, op: dict[str, Any],
                       formats: dict[str, Callable[[str], bool]]) -> Operation:
    declared = [resolve(spec, p) for p in spec["paths"][path].get("parameters", [])]
    declared += [resolve(spec, p) for p in op.get("parameters", [])]
    merged: dict[tuple[str, str], dict[str, Any]] = {(p["in"], p["name"]): p for p in declared}
    parameters = []
    for param in merged.values():
        if param["in"] not in ("path", "query"):
            raise ValueError(f"{op['operationId']}: {param['in']} parameters are not compiled")
        schema = inline(spec, param.get("schema", {}))
        parameters.append(Parameter(
            name=param["name"], location=param["in"], required=bool(param.get("required")),
            allow_empty=bool(param.get("allowEmptyValue")), kind=schema.get("type", "string"), fmt=schema.get("format"),
            default=schema.get("default", MISSING), validator=compile_schema(schema, formats)))
    body = body_schema = None
    body_required = False
    if "requestBody" in op:
        request_body = resolve(spec, op["requestBody"])
        media = request_body.get("content", {})
        if set(media) != {JSON}:
            raise ValueError(f"{op['operationId']}: only {JSON} request bodies are compiled")
        body_schema = inline(spec, media[JSON].get("schema", {}))
        body = compile_schema(body_schema, formats)
        body_required = bool(request_body.get("required"))
    responses: dict[str, Any] = {}
    for status, response in op.get("responses", {}).items():
        response = resolve(spec, response)
        media = response.get("content") or {}
        if not media:
            responses[str(status)] = None
        elif set(media) == {JSON}:
            responses[str(status)] = compile_schema(inline(spec, media[JSON].get("schema", {})), formats)
        else:
            raise ValueError(f"{op['operationId']} {status}: only {JSON} responses are compiled")
    security = op.get("security", spec.get("security"))
    return Operation(op["operationId"], method, path, security == [], parameters, body, body_required, body_schema,
                     responses, op)


# ── routes ──────────────────────────────────────────────────────────────────────────────────────


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{([^}]+)\}", template)
    pattern = "".join(f"(?P<{part}>[^/]+)" if i % 2 else re.escape(part) for i, part in enumerate(parts))
    return re.compile(pattern, re.DOTALL)


class CompiledSpec:
    """Routes and validators of one effective spec; built once per process (`compiled_spec()`)."""

    def __init__(self, spec: Spec):
        self.spec = spec
        formats = oracle_formats(spec)
        self.operations: dict[tuple[str, str], Operation] = {
            (path, method): _compile_operation(spec, path, method, op, formats) for path, method, op in operations(spec)
        }
        self.by_id = {op.operation_id: op for op in self.operations.values()}
        # Most specific first: `/routing-configs/dry-run` is its own resource, not `{id}`.
        self.templates = sorted(((_template_regex(path), path) for path in spec["paths"]),
                                key=lambda item: (item[1].count("{"), -len(item[1])))
        # The same order, looked up by shape: a literal path by itself; a template among those with as many
        # segments and the same first one (a variable matches exactly one segment: no '/').
        self.literal = frozenset(path for _, path in self.templates if "{" not in path)
        self.by_shape: dict[tuple[str, int], list[tuple[re.Pattern[str], str]]] = {}
        for regex, path in self.templates:
            if "{" in path:
                segments = path.split("/")
                first = segments[1] if len(segments) > 1 and "{" not in segments[1] else ""
                self.by_shape.setdefault((first, len(segments)), []).append((regex, path))
        if any(first == "" for first, _ in self.by_shape):  # a template starting with a variable: scan them all
            self.by_shape = {}

    def resource(self, path: str) -> tuple[str, dict[str, str]] | None:
        """The spec path template a request path names, and its path variables; None if none."""
        if not path.startswith(BASE_PATH):
            return None
        relative = path[len(BASE_PATH):]
        if relative in self.literal:
            return relative, {}
        if self.by_shape:
            segments = relative.split("/", 2)
            candidates = self.by_shape.get((segments[1] if len(segments) > 1 else "", relative.count("/") + 1), ())
        else:
            candidates = self.templates
        for regex, template in candidates:
            match = regex.fullmatch(relative)
            if match:
                return template, match.groupdict()
        return None

    def allowed_methods(self, template: str) -> list[str]:
        allowed = [m.upper() for m in HTTP_METHODS if (template, m) in self.operations]
        if "GET" in allowed:
            allowed.append("HEAD")
        allowed.append("OPTIONS")
        return allowed
