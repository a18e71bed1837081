"""Typed errors raised by domain code; one handler turns each into status + envelope."""

from __future__ import annotations


class ApiError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.headers = headers or {}

    def envelope(self) -> dict[str, str]:
        return {"error": self.message, "code": self.code}


class Invalid(ApiError):
    status = 400
    code = "invalid_request"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class MethodNotAllowed(ApiError):
    status = 405
    code = "method_not_allowed"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"


class ProxyUnavailable(ApiError):
    status = 502
    code = "proxy_unreachable"


class MockBug(ApiError):
    """The mock produced a response its own spec forbids: a bug, reported loudly."""

    status = 500
    code = "mock_response_invalid"


def not_found(kind: str, ident: object) -> NotFound:
    return NotFound(f"{kind} '{ident}' not found")
