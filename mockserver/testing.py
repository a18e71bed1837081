"""The mock's public entry for tests and tools: serve it on a loopback port, seeded or not.

The contract suite embeds the mock through this module only (`serve_embedded`), and the proof
tests serve deliberately broken variants through it (`handlers=`, `wsgi_wrapper=`). The embedded
world is an organization with its key, two projects with a production routing config each, a few
hundred request logs over the last days (the API cannot create logs, yet analytics, traces,
filters and simulation estimates need some to be checked at all), and a second organization whose
key lets organization isolation be checked. Webhook retries are fast (sub-second backoff), so
retry and replay checks run in seconds.
"""

from __future__ import annotations

import random
import secrets
import socket
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Iterator

from werkzeug.serving import WSGIRequestHandler, make_server

from .app import create_app
from .engines.routing import RouteRequest
from .domain.logs import ingest_logs, routed_log
from .domain.projects import new_project
from .domain.routing_configs import new_routing_config
from .domain.orgs import bootstrap_org
from .services import MockConfig, Services

__all__ = ["EmbeddedTarget", "build_app", "free_port", "new_token", "seed_world", "serve_embedded",
           "serve_in_thread", "serve_pooled_in_thread"]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:  # the mock logs what matters itself
        pass


@contextmanager
def serve_in_thread(app, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve a WSGI app on a loopback port from a thread of this process (werkzeug's threaded server, which
    stops cleanly); yields its base URL."""
    server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="mock-server",
                              daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def serve_pooled_in_thread(app, host: str = "127.0.0.1", port: int = 0, threads: int = 8) -> Iterator[str]:
    """Serve a WSGI app on a loopback port from this process with waitress (as `modelux-mock serve --server
    waitress` does): connections are kept alive and requests answered on a pool of `threads` threads, where
    werkzeug's server opens a connection and a thread for each request. Yields its base URL; on exit the
    connections are closed from the server's own loop and its threads joined."""
    from waitress.server import create_server

    server = create_server(app, host=host, port=port, threads=threads, ident="modelux-mock")
    thread = threading.Thread(target=server.run, name="mock-server", daemon=True)
    thread.start()

    def close_all() -> None:  # in the server's loop, which ends once nothing is left to watch
        for channel in list(server._map.values()):
            channel.close()

    try:
        yield f"http://{host}:{server.effective_port}"
    finally:
        server.trigger.pull_trigger(close_all)
        thread.join(timeout=5)
        server.task_dispatcher.shutdown(timeout=5)


MODELS = ("gpt-4o-mini", "gpt-4o", "claude-3-5-haiku-20241022", "gemini-2.0-flash", "mistral-small-latest")
END_USERS = ("user_alice", "user_bob", "user_carol", "user_dave")


def new_token() -> str:
    return "mlx_mgmt_" + secrets.token_hex(20)


def embedded_config(token: str, **overrides: Any) -> MockConfig:
    settings: dict[str, Any] = dict(token=token, start_workers=True, webhook_backoff=0.2, webhook_max_attempts=4,
                                    webhook_timeout=2.0)
    settings.update(overrides)
    return MockConfig(**settings)


def seed_world(services: Services, logs: int = 240, seed: int = 7) -> None:
    """Projects, production configs and request logs, written into the mock's world.

    Logs go through the mock's own pipeline (`routed_log` + `ingest_logs`): the trace, model,
    provider and cost of each log then agree by construction.
    """
    rng = random.Random(seed)
    world, org = services.world, services.org
    now = world.now()
    actor = next(iter(org.management_keys), None)
    fallback = {"attempts": [{"model": "gpt-4o-mini", "timeout_ms": 8000},
                             {"model": "claude-3-5-haiku-20241022", "timeout_ms": 8000}],
                "retry_on": ["timeout", "server_error"]}
    with world.lock:
        projects = [new_project(org, world, name) for name in ("Support Bot", "Search Assistant")]
        configs = {p["id"]: new_routing_config(org, world, actor, p["id"], "production", "fallback", fallback)
                   for p in projects}
        plan = []
        for n in range(logs):
            project = projects[n % len(projects)]
            plan.append(dict(
                project=project["id"], moment=now - timedelta(minutes=rng.randint(5, 3 * 24 * 60)),
                model=rng.choice(MODELS), routed=n % 3 == 0, tags={"feature": rng.choice(("chat", "search", "summary"))},
                user=rng.choice(END_USERS), status="error" if rng.random() < 0.08 else "success",
                inp=rng.randint(20, 2000), out=rng.randint(10, 800), latency=rng.randint(-100, 400), n=n))
        entries = []
        for item in plan:
            request = RouteRequest(model="@production" if item["routed"] else item["model"],
                                   messages=[{"role": "user", "content": f"question {item['n']}"}],
                                   tags=item["tags"], end_user_id=item["user"], trace_id=f"tr_{item['n']}",
                                   input_tokens=item["inp"])
            entries.append(routed_log(world, org, item["project"], request, item["moment"],
                                      config=configs[item["project"]] if item["routed"] else None,
                                      status=item["status"], output_tokens=item["out"],
                                      error_message="upstream timeout" if item["status"] == "error" else None))
        ingest_logs(world, org, entries, emit=False)


@dataclass
class EmbeddedTarget:
    base_url: str
    token: str
    services: Services
    other_token: str  # management key of a second organization on the same mock


def build_app(token: str, handlers: dict[str, Any] | None = None, seed_logs: int = 240, **config: Any):
    """A mock app (optionally with some handlers replaced) and its services, seeded.

    The world also holds a second organization (with one project) whose key is `services.other_token`,
    so organization isolation can be checked.
    """
    mock_config = embedded_config(token, **config)
    services = Services.build(mock_config)
    seed_world(services, logs=seed_logs)
    with services.world.lock:
        other, other_token = bootstrap_org(services.world, "Other Org", new_token(), owner_email="other@example.com")
        new_project(other, services.world, "Other Org's project")
    services.other_token = other_token  # type: ignore[attr-defined]
    app = create_app(mock_config, services, handlers=handlers)
    return app, services


@contextmanager
def serve_embedded(token: str | None = None, handlers: dict[str, Any] | None = None, wsgi_wrapper=None,
                   **config: Any) -> Iterator[EmbeddedTarget]:
    """Serve a seeded mock on a loopback port (`serve_pooled_in_thread`) for the duration of the block.

    `wsgi_wrapper(app, token)` may wrap the WSGI app (the proof tests break HTTP-level behaviour that way).
    """
    token = token or new_token()
    app, services = build_app(token, handlers=handlers, **config)
    served = wsgi_wrapper(app, token) if wsgi_wrapper is not None else app
    try:
        with serve_pooled_in_thread(served) as url:
            yield EmbeddedTarget(url, token, services, services.other_token)  # type: ignore[attr-defined]
    finally:
        services.stop()

