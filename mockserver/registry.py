"""Handlers registered per `operationId`: the spec is the router, this is the switchboard."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .domain.context import Context, Runtime
from .domain.world import Actor, OrgState, World

Reply = tuple[int, Any]


@dataclass
class Call:
    """One validated request, as a handler sees it: no HTTP, plain values."""

    world: World
    org: OrgState
    actor: Actor
    path: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    runtime: Runtime | None = None

    @property
    def ctx(self) -> Context:
        """The domain's view of this call: who acts, in which organization, with which engines."""
        if self.runtime is None:
            return Context(self.world, self.org, self.actor)
        return Context(self.world, self.org, self.actor, self.runtime)


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
