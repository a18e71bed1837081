"""openapi-core as the oracle: the reference for what is valid, and the author of every message.

The served path (`compiled.py`) accepts on its own what its compiled validators accept; anything
else comes here. openapi-core is built lazily (it costs a quarter of a second and most sessions
never send invalid input) and warmed in the background after boot, so the first 400 is not slow.
Its messages name the offending field: `query parameter 'limit': 0 is less than the minimum of 1`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any, Callable

from jsonschema.exceptions import ValidationError, best_match

MAX_MESSAGES = 5


def quick_json_node_checks() -> None:
    """Let openapi-core's walks through the spec ask each node's type once, not the protocol every time.

    openapi-core reads the spec through jsonschema-path, and pathable asks of every node on the way whether it is
    `Subscriptable`, a runtime-checkable protocol. On Python 3.11 each such `isinstance` collects the protocol's
    members again (about 20 µs): a quarter of the time openapi-core takes to explain a rejected request. A spec's
    nodes are dicts, lists, strings, numbers, booleans and None, whose answer cannot change: it is kept by type.
    Nodes of any other type are asked as before, and the step itself is pathable's (`tests/test_validation.py`
    shows both agree on every kind of node). Idempotent.
    """
    from pathable.accessors import SubscriptableAccessor
    from pathable.protocols import Subscriptable

    original = SubscriptableAccessor.__dict__.get("_get_subnode")
    if not isinstance(original, classmethod) or getattr(original.__func__, "by_type", None) is not None:
        return
    step = original.__func__
    by_type = {kind: isinstance(sample, Subscriptable)
               for kind, sample in ((dict, {}), (list, []), (str, ""), (int, 0), (float, 0.0), (bool, False),
                                    (type(None), None))}

    def _get_subnode(cls: type, node: Any, part: Any) -> Any:
        subscriptable = by_type.get(type(node))
        if subscriptable is None:
            return step(cls, node, part)
        if not subscriptable:
            raise KeyError(part)
        try:
            return node[part]
        except (KeyError, IndexError, TypeError) as exc:
            raise KeyError(part) from exc

    _get_subnode.by_type = by_type  # type: ignore[attr-defined]
    _get_subnode.original = step  # type: ignore[attr-defined]
    SubscriptableAccessor._get_subnode = classmethod(_get_subnode)  # type: ignore[method-assign,assignment]


class Oracle:
    def __init__(self, spec: dict[str, Any]):
        self._spec = spec
        self._api: Any = None
        self._lock = threading.Lock()

    @property
    def api(self) -> Any:
        if self._api is None:
            with self._lock:
                if self._api is None:
                    from openapi_core import Config, OpenAPI

                    quick_json_node_checks()
                    # The effective spec is validated by the test suite; not again at every boot.
                    self._api = OpenAPI.from_dict(self._spec, config=Config(spec_validator_cls=None))
        return self._api

    def warm(self, then: Callable[[], Any] = lambda: None) -> None:
        """Build openapi-core in the background (a daemon thread: never holds up shutdown), then call `then`."""
        threading.Thread(target=lambda: (self.api, then()), name="oracle-warmup", daemon=True).start()

    def unmarshal_request(self, request: Any, as_get: bool = False) -> tuple[str | None, dict, dict, Any]:
        """openapi-core's verdict on a werkzeug request: (message or None, path values, query values, body).

        Security requirements are left out: the shell authenticates before validating.
        """
        from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest
        from openapi_core.validation.request.exceptions import SecurityValidationError

        openapi_request: Any = WerkzeugOpenAPIRequest(request)
        if as_get:
            openapi_request = _AsGet(openapi_request)
        result = self.api.unmarshal_request(openapi_request)
        errors = [e for e in result.errors if not isinstance(e, SecurityValidationError)]
        message = describe_request_errors(errors) if errors else None
        return message, dict(result.parameters.path), dict(result.parameters.query), result.body

    def response_problems(self, request: Any, response: Any, as_get: bool = False) -> str | None:
        """What openapi-core finds wrong with an answer (a werkzeug response), or None."""
        from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse

        openapi_request: Any = WerkzeugOpenAPIRequest(request)
        if as_get:
            openapi_request = _AsGet(openapi_request)
        # Validation only: unmarshalling (building Python values) would cost ten times more.
        errors = list(self.api.iter_response_errors(openapi_request, WerkzeugOpenAPIResponse(response)))
        if not errors:
            return None
        messages = []
        for error in errors:
            messages.extend(_schema_messages("response", error.__cause__) or [f"{type(error).__name__}: {error}"])
        return "; ".join(list(dict.fromkeys(messages))[:MAX_MESSAGES])


class _AsGet:
    """HEAD is answered as GET (without a body); openapi-core knows only GET."""

    def __init__(self, inner: Any):
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    @property
    def method(self) -> str:
        return "get"


def _pointer(location: str, path: Iterable[Any]) -> str:
    text = location
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _explain(error: ValidationError) -> ValidationError:
    """The most telling error of a oneOf/anyOf: from the variant whose discriminator matched."""
    while error.context:
        branches: dict[Any, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        chosen = [errs for errs in branches.values() if not any(e.validator in ("const", "not") for e in errs)]
        candidates = [e for errs in (chosen or list(branches.values())) for e in errs]
        picked = best_match(candidates)
        if picked is None:
            break
        error = picked
    return error


def _schema_messages(location: str, cause: BaseException | None) -> list[str]:
    messages = []
    for error in list(getattr(cause, "schema_errors", None) or []):
        leaf = _explain(error)
        messages.append(f"{_pointer(location, leaf.absolute_path)}: {leaf.message}")
    return messages


def describe_request_errors(errors: Iterable[BaseException]) -> str:
    messages: list[str] = []
    for error in errors:
        name = getattr(error, "name", None)
        where = getattr(error, "location", None)
        cause = error.__cause__
        if name is not None:  # a parameter
            label = f"{where} parameter '{name}'"
            detail = _schema_messages(label, cause)
            if detail:
                messages.extend(detail)
            elif cause is not None and type(cause).__name__ == "CastError":
                messages.append(f"{label}: {cause}")
            elif "Missing" in type(error).__name__:
                messages.append(f"{label} is required")
            else:
                messages.append(f"{label}: {cause or error}")
        else:  # the body
            detail = _schema_messages("body", cause)
            messages.extend(detail or [f"body: {cause or error}"])
    messages = list(dict.fromkeys(messages))  # alternatives of a oneOf can say the same thing twice
    shown = messages[:MAX_MESSAGES]
    more = len(messages) - len(shown)
    text = "; ".join(shown)
    if more > 0:
        text += f"; and {more} more"
    return f"invalid request: {text}"
