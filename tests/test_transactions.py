"""Requests are all or nothing: a failure at any stage of a writing request leaves the world as it was.

For every operation of the spec that is not a read, a valid request against a seeded world is made
to fail after its handler has changed the world (the handler raises once done), when its answer is
encoded, and when its answer is validated. Each time the answer is a 500 envelope, the
organization's export (`fixtures.loader.dump_world`, the `modelux-mock export` document) is
byte-for-byte what it was before, the world's organizations and key index are unchanged, and no
webhook delivery is sent. The same request without a failure then succeeds, so each case really
changed something before it was undone.
"""

from __future__ import annotations

import json
from typing import Callable

import pytest

import mockserver.api as api_module
from mockserver.compiled import Operation
from mockserver.tables import Journal, Table, active
from mockserver.validation import Oracle

from .rich_world import WRITES, World, requests_of


READ_ONLY = {"replayLog", "dryRunRoutingConfig"}  # POSTs that store nothing


def test_every_writing_operation_has_a_request_here():
    assert sorted(requests_of(World())) == WRITES


def fail_in_handler(w: World, operation_id: str, monkeypatch) -> None:
    handlers = w.app.extensions["modelux.api"].handlers
    real = handlers[operation_id]

    def changed_then_failed(call):
        real(call)
        raise RuntimeError("injected: the handler fails after changing the world")

    monkeypatch.setitem(handlers, operation_id, changed_then_failed)


def fail_in_encoding(w: World, operation_id: str, monkeypatch) -> None:
    real = api_module.encode

    def refusing(payload):
        if isinstance(payload, dict) and "data" in payload:
            raise TypeError("injected: the answer cannot be encoded")
        return real(payload)

    monkeypatch.setattr(api_module, "encode", refusing)


def fail_in_validation(w: World, operation_id: str, monkeypatch) -> None:
    monkeypatch.setattr(Operation, "response_accepted", lambda self, status, payload: False)
    monkeypatch.setattr(Oracle, "response_problems", lambda self, *args, **kwargs: ["injected: invalid answer"])


STAGES: dict[str, Callable] = {"handler": fail_in_handler, "encode": fail_in_encoding, "validate": fail_in_validation}


@pytest.mark.parametrize("operation_id", WRITES)
def test_a_failure_at_any_stage_leaves_the_world_unchanged(operation_id, monkeypatch):
    w = World()
    method, path, body = requests_of(w)[operation_id]
    before = w.export()
    for stage, inject in STAGES.items():
        with monkeypatch.context() as patched:
            inject(w, operation_id, patched)
            response = w.call(method, path, body)
        assert response.status_code == 500, (stage, response.get_data(as_text=True))
        assert set(response.json) == {"error", "code"}
        assert active() is None
        assert w.export() == before, f"{operation_id}: a failure at the {stage} stage left changes behind"
        w.services.webhooks.deliver_due()
        assert w.sent == [], f"{operation_id}: a failure at the {stage} stage sent a webhook"
        assert w.export() == before
    response = w.call(method, path, body)
    assert response.status_code < 300, response.get_data(as_text=True)
    if operation_id not in READ_ONLY:
        assert w.export() != before, f"{operation_id}: the request changed nothing, so the test proves nothing"


def test_a_committed_request_sends_its_webhooks_and_a_rolled_back_one_never(monkeypatch):
    w = World()
    with monkeypatch.context() as patched:
        fail_in_encoding(w, "testWebhookEndpoint", patched)
        assert w.call("POST", f"/webhooks/endpoints/{w.endpoint}/test").status_code == 500
    w.services.webhooks.deliver_due()
    assert w.sent == []
    assert w.call("POST", f"/webhooks/endpoints/{w.endpoint}/test").status_code == 202
    w.services.webhooks.deliver_due()
    assert w.sent == ["http://127.0.0.1:9/hook"]


def test_rollback_restores_records_membership_order_and_indexes():
    from mockserver.domain.world import ProjectTable

    table = ProjectTable({f"p{i}": {"id": f"p{i}", "slug": f"s{i}", "settings": {"a": [1]}} for i in range(5)})
    other = Table(k=1)
    before = json.dumps([table, other])
    journal = Journal().open()
    journal.touch(table["p1"])["settings"]["a"].append(2)
    del table["p0"]
    table["p9"] = {"id": "p9", "slug": "s1"}
    table["p3"] = {"id": "p3", "slug": "new"}
    table.remove_many(["p2", "p4"])
    table.popitem()
    other.clear()
    done: list[int] = []
    journal.after_commit(lambda: done.append(1))
    journal.rollback()
    assert json.dumps([table, other]) == before
    assert list(table) == [f"p{i}" for i in range(5)]
    assert dict(table.slugs) == {f"s{i}": 1 for i in range(5)}
    assert done == [] and active() is None


def test_rollback_puts_back_what_retention_dropped_in_front():
    table = Table({f"k{i}": {"id": f"k{i}"} for i in range(5)})
    before = list(table.items())
    journal = Journal().open()
    table["k5"] = {"id": "k5"}
    table.keep_latest(5)  # drops k0
    del table["k3"]
    table["k6"] = {"id": "k6"}
    table.keep_latest(4)  # drops k1, k2
    journal.rollback()
    assert list(table.items()) == before


def test_reads_open_no_transaction_and_writes_do(monkeypatch):
    w = World()
    seen: dict[str, object] = {}
    handlers = w.app.extensions["modelux.api"].handlers
    for operation_id in ("listProjects", "createProject"):
        real = handlers[operation_id]
        monkeypatch.setitem(handlers, operation_id,
                            lambda call, real=real, name=operation_id: (seen.__setitem__(name, active()), real(call))[1])
    assert w.call("GET", "/projects").status_code == 200
    assert w.call("HEAD", "/projects").status_code == 200
    assert w.call("POST", "/projects", {"name": "T"}).status_code == 201
    assert seen["listProjects"] is None and isinstance(seen["createProject"], Journal)
    assert active() is None
