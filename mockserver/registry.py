"""Handlers registered per `operationId`: the spec is the router, this is the switchboard."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .store import Actor, OrgState, World

Reply = tuple[int, Any]


@dataclass
class Call:
    """One validated request, as a handler sees it: no Flask, plain values."""

    world: World
    org: OrgState
    actor: Actor
    path: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    services: Any = None


Handler = Callable[[Call], Reply]

HANDLERS: dict[str, Handler] = {}


def operation(operation_id: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        if operation_id in HANDLERS:
            raise RuntimeError(f"two handlers for {operation_id}: {HANDLERS[operation_id].__qualname__}, {fn.__qualname__}")
        HANDLERS[operation_id] = fn
        return fn

    return register


def ok(data: Any, status: int = 200) -> Reply:
    return status, {"data": data}


def created(data: Any) -> Reply:
    return 201, {"data": data}


def deleted(ident: str) -> Reply:
    return 200, {"data": {"id": ident, "deleted": True}}


def load_handlers() -> dict[str, Handler]:
    from . import handlers  # noqa: F401  (importing registers every handler)

    return HANDLERS
