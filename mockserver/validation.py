"""Turn openapi-core's validation errors into messages that name the offending field."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from jsonschema.exceptions import ValidationError, best_match
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIResponse
from werkzeug.wrappers import Response

MAX_MESSAGES = 5


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
    shown = messages[:MAX_MESSAGES]
    more = len(messages) - len(shown)
    text = "; ".join(shown)
    if more > 0:
        text += f"; and {more} more"
    return f"invalid request: {text}"


def describe_response_errors(api: OpenAPI, openapi_request: Any, response: Response) -> str | None:
    # Validation only: unmarshalling (building Python values) would cost ten times more.
    errors = list(api.iter_response_errors(openapi_request, WerkzeugOpenAPIResponse(response)))
    if not errors:
        return None
    messages = []
    for error in errors:
        messages.extend(_schema_messages("response", error.__cause__) or [f"{type(error).__name__}: {error}"])
    return "; ".join(messages[:MAX_MESSAGES])
