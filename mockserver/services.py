"""What a running mock is made of: its configuration, its world, its background workers.

`Services` is the domain's runtime (`domain.context.Runtime`): workflows queue deliveries and kick
simulations through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .clock import Clock, SystemClock
from .domain.orgs import bootstrap_org
from .domain.routing_configs import resolver
from .domain.world import OrgState, Resource, World
from .engines.simulations import SimulationRunner
from .engines.webhooks import DeliveryPolicy, WebhookEngine
from .ids import IdFactory


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
    # Frontend kit (mockserver/frontend): all off by default
    latency: str | None = None  # "MS" or "MIN-MAX", every API answer
    fault_rate: float = 0.0  # share of API requests answered with a documented error
    rate_limit: str | None = None  # "COUNT/UNIT" per management key or session, e.g. "60/min"
    # Seeded world (None: just the organization and its key)
    world_seed: int | None = None
    scale: int | None = None
    anchor: str | None = None
    fixtures: str | None = None
    # Frontend kit, part 2: state and time
    state: str | None = None  # --state FILE: the world written back there as it changes
    max_sandboxes: int = 32
    max_snapshots: int = 10  # per organization
    journal_size: int = 500  # requests kept per organization


@dataclass
class Services:
    config: MockConfig
    world: World
    token: str | None
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
        assert org is not None  # token: None when booting a state file, which keeps only the keys' hashes
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

    # ── the domain's runtime ────────────────────────────────────────────

    @property
    def proxy_unreachable(self) -> bool:
        return self.config.proxy_unreachable

    def enqueue_webhook(self, org: OrgState, endpoint: Resource, event_type: str, data: dict[str, Any]) -> Resource:
        return self.webhooks.enqueue(org, endpoint, event_type, data)

    def replay_delivery(self, delivery: Resource) -> None:
        self.webhooks.replay(delivery)

    def wake_webhooks(self) -> None:
        self.webhooks.wake()

    def kick_simulations(self) -> None:
        self.simulations.kick()
