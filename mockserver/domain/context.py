"""Who acts, in which organization, and the engines that serve the world while it runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from .world import Actor, OrgState, Resource, World


class Runtime(Protocol):
    """What a running mock adds to its world: the webhook dispatcher, the simulation runner, the
    proxy's reachability. Workflows that queue or kick background work ask it; a world being built
    (the seeded world, a fixtures file) runs with `IDLE`."""

    proxy_unreachable: bool

    def enqueue_webhook(self, org: OrgState, endpoint: Resource, event_type: str, data: dict[str, Any]) -> Resource: ...

    def replay_delivery(self, delivery: Resource) -> None: ...

    def wake_webhooks(self) -> None: ...

    def kick_simulations(self) -> None: ...


class Idle:
    """A runtime with no background work: queued deliveries and simulations wait for a real one."""

    proxy_unreachable = False

    def enqueue_webhook(self, org: OrgState, endpoint: Resource, event_type: str, data: dict[str, Any]) -> Resource:
        raise RuntimeError("no webhook dispatcher runs for this world")

    def replay_delivery(self, delivery: Resource) -> None:
        raise RuntimeError("no webhook dispatcher runs for this world")

    def wake_webhooks(self) -> None:
        pass

    def kick_simulations(self) -> None:
        pass


IDLE = Idle()


@dataclass(frozen=True)
class Context:
    world: World
    org: OrgState
    actor: Actor | None = None
    runtime: Runtime = field(default=IDLE)

    @property
    def actor_id(self) -> str | None:
        return self.actor.id if self.actor is not None else None

    def audit(self, resource_type: str, resource_id: str, action: str, changes: dict[str, Any] | None = None,
              metadata: dict[str, Any] | None = None) -> Resource:
        return self.world.audit(self.org, self.actor, resource_type, resource_id, action, changes, metadata)

    def emit(self, event_type: str, data: dict[str, Any], project_id: str | None = None) -> None:
        self.world.emit(self.org, event_type, data, project_id)

    def now_iso(self) -> str:
        return self.world.now_iso()
