"""Shared fixtures: a fresh mock per test, as a Flask test client or a real loopback server."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from mockserver.app import create_app
from mockserver.clock import ManualClock
from mockserver.services import MockConfig, Services
from mockserver.testing import serve_in_thread

TOKEN = "mlx_mgmt_test_token_0123456789"
API = "/api/manage/v1"


class Api:
    """A Flask test client that speaks the API: base path and bearer token built in."""

    def __init__(self, app, token: str = TOKEN):
        self.client = app.test_client()
        self.token = token

    def request(self, method: str, path: str, token: str | None = None, **kwargs):
        headers = dict(kwargs.pop("headers", {}) or {})
        use = self.token if token is None else token
        if use:
            headers.setdefault("Authorization", f"Bearer {use}")
        return self.client.open(API + path, method=method.upper(), headers=headers, **kwargs)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


def pytest_collection_modifyitems(items):
    """Tests marked `longest` go first: with several workers, the longest test must not start last and then run
    alone while the other workers have nothing left to do."""
    items.sort(key=lambda item: item.get_closest_marker("longest") is None)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 2, 12, 0, tzinfo=timezone.utc))


@pytest.fixture
def config(clock) -> MockConfig:
    return MockConfig(token=TOKEN, seed=7, clock=clock, start_workers=False)


@pytest.fixture
def services(config) -> Services:
    built = Services.build(config)
    yield built
    built.stop()


@pytest.fixture
def app(config, services):
    return create_app(config, services)


@pytest.fixture
def api(app) -> Api:
    return Api(app)


@pytest.fixture
def live_url(app):
    """The same app served by waitress on a loopback port."""
    with serve_in_thread(app) as url:
        yield url
