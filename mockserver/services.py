"""What a running mock is made of: its configuration, its world, its background workers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .clock import Clock, SystemClock
from .engines.simulations import SimulationRunner
from .engines.webhooks import DeliveryPolicy, WebhookEngine
from .ids import IdFactory
from .store import OrgState, World


def resolver(org: OrgState, project_id: str | None):
    from .handlers.routing import resolver as project_resolver

    if project_id is None:
        return lambda slug: None
    return project_resolver(org, project_id)


@dataclass
class MockConfig:
    token: str | None = None
    seed: int | None = None
    org_name: str = "Acme AI"
    validate_responses: bool = True
    validate_requests: bool = True  # off only for measurements
    proxy_unreachable: bool = False
    cors_origins: Any = "*"
    clock: Clock | None = None
    # Webhook delivery
    webhook_max_attempts: int = 5
    webhook_backoff: float = 30.0
    webhook_timeout: float = 5.0
    webhook_allow_hosts: tuple[str, ...] = ()
    start_workers: bool = True
    # Seeded world (None: just the organization and its key)
    world_seed: int | None = None
    scale: int | None = None
    anchor: str | None = None
    fixtures: str | None = None


@dataclass
class Services:
    config: MockConfig
    world: World
    token: str
    org: OrgState
    webhooks: WebhookEngine
    simulations: SimulationRunner
    started: bool = False

    @classmethod
    def build(cls, config: MockConfig, world: World | None = None, org: OrgState | None = None,
              token: str | None = None) -> "Services":
        """A world (the given one, or a bare organization with its key) and its engines."""
        if world is None:
            world = World(clock=config.clock or SystemClock(), ids=IdFactory(config.seed))
            org, token = bootstrap_org(world, config.org_name, config.token)
        assert org is not None and token is not None
        policy = DeliveryPolicy(max_attempts=config.webhook_max_attempts, backoff_seconds=config.webhook_backoff,
                                timeout_seconds=config.webhook_timeout, allow_hosts=tuple(config.webhook_allow_hosts))
        webhooks = WebhookEngine(world, policy)
        simulations = SimulationRunner(world, resolver)
        services = cls(config=config, world=world, token=token, org=org, webhooks=webhooks, simulations=simulations)
        if config.start_workers:
            services.start()
        return services

    def start(self) -> None:
        if not self.started:
            self.webhooks.start()
            self.simulations.start()
            self.started = True

    def stop(self) -> None:
        if self.started:
            self.webhooks.stop()
            self.simulations.stop()
            self.started = False


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "untitled"


def bootstrap_org(world: World, name: str, token: str | None = None, owner_email: str = "owner@example.com",
                  owner_name: str = "Org Owner") -> tuple[OrgState, str]:
    """An organization with one owner and one management key (the given token, or a new one)."""
    now = world.now_iso()
    org = world.add_org({
        "id": world.new_id("org"),
        "name": name,
        "slug": slugify(name),
        "plan": "pro",
        "billing_email": owner_email,
        "created_at": now,
    })
    user_id = world.new_id("user")
    org.members[user_id] = {
        "user_id": user_id,
        "role": "owner",
        "created_at": now,
        "user": {"id": user_id, "name": owner_name, "email": owner_email, "image": None},
    }
    key, plaintext = world.add_management_key(org, "Bootstrap key", plaintext=token)
    key["_email"] = owner_email
    return org, plaintext
