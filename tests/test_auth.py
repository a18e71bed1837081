"""Authentication and organization scoping."""

from __future__ import annotations

import pytest

from mockserver.app import create_app
from mockserver.ids import sha256_hex
from mockserver.domain.orgs import bootstrap_org
from tests.conftest import TOKEN, Api


@pytest.mark.parametrize(
    "header, code",
    [
        (None, "missing_credentials"),
        ("Basic dXNlcjpwYXNz", "invalid_credentials"),
        ("Bearer", "invalid_credentials"),
        ("Bearer mlx_mgmt_unknown", "invalid_credentials"),
    ],
)
def test_missing_malformed_or_unknown_keys_are_401_envelopes(api, header, code):
    headers = {"Authorization": header} if header else {}
    response = api.client.get("/api/manage/v1/projects", headers=headers)
    assert response.status_code == 401
    assert response.json["code"] == code and response.json["error"]


def test_event_types_are_public(api):
    response = api.client.get("/api/manage/v1/webhooks/event-types")
    assert response.status_code == 200 and len(response.json["data"]) == 9


def test_auth_comes_before_validation(api):
    response = api.get("/logs", token="", query_string={"status": "AAA"})
    assert response.status_code == 401


def test_created_management_key_works_at_once_and_stops_after_revocation(api):
    created = api.post("/management-keys", json={"name": "CI"}).json["data"]
    assert created["key"].startswith("mlx_mgmt_")
    assert created["key"].startswith(created["key_prefix"]) and created["key_prefix"] != created["key"]
    assert api.get("/projects", token=created["key"]).status_code == 200
    assert api.delete(f"/management-keys/{created['id']}").json["data"] == {"id": created["id"], "deleted": True}
    assert api.get("/projects", token=created["key"]).status_code == 401
    listed = {k["id"]: k for k in api.get("/management-keys").json["data"]}
    assert listed[created["id"]]["revoked_at"] is not None
    assert api.delete(f"/management-keys/{created['id']}").status_code == 404


def test_a_key_cannot_revoke_itself(api, services):
    own = next(iter(services.org.management_keys))
    response = api.delete(f"/management-keys/{own}")
    assert response.status_code == 409 and response.json["code"] == "self_revocation"
    assert api.get("/projects").status_code == 200


def test_plaintext_management_key_is_shown_once(api):
    created = api.post("/management-keys", json={"name": "CI"}).json["data"]
    listing = api.get("/management-keys").get_data(as_text=True)
    assert created["key"] not in listing
    assert all("key" not in k for k in api.get("/management-keys").json["data"])


def test_last_used_at_moves_on_use(api, clock):
    created = api.post("/management-keys", json={"name": "CI"}).json["data"]
    assert created["last_used_at"] is None
    clock.advance(90)
    api.get("/projects", token=created["key"])
    first = {k["id"]: k for k in api.get("/management-keys").json["data"]}[created["id"]]["last_used_at"]
    clock.advance(90)
    api.get("/projects", token=created["key"])
    second = {k["id"]: k for k in api.get("/management-keys").json["data"]}[created["id"]]["last_used_at"]
    assert first is not None and second > first


def test_keys_are_stored_as_sha256_hashes_only(services):
    for key in services.org.management_keys.values():
        assert key["_hash"] == sha256_hex(TOKEN)
        assert TOKEN not in repr(key)


@pytest.fixture
def neighbour(services):
    """A second organization with its own key and project, in the same world."""
    with services.world.lock:
        org, token = bootstrap_org(services.world, "Globex", "mlx_mgmt_neighbour_key_0000000000")
    return org, token


def test_another_orgs_resources_are_indistinguishable_from_missing(app, api, neighbour):
    org, token = neighbour
    other = Api(app, token=token)
    foreign = other.post("/projects", json={"name": "Secret"}).json["data"]
    key = other.post("/keys", json={"projectId": foreign["id"], "name": "k"}).json["data"]
    assert api.get(f"/projects/{foreign['id']}").status_code == 404
    assert api.get(f"/projects/{foreign['id']}").json == {"error": f"project '{foreign['id']}' not found",
                                                          "code": "not_found"}
    assert api.delete(f"/keys/{key['id']}").status_code == 404
    assert api.post("/keys", json={"projectId": foreign["id"], "name": "x"}).status_code == 404
    assert api.get("/projects").json["data"] == []
    assert api.get(f"/orgs/{org.id}/members").status_code == 404
    assert api.patch(f"/orgs/{org.id}", json={"name": "Mine"}).status_code == 404
    assert api.get("/audit-logs").json["total"] == 0


def test_deleting_the_org_invalidates_its_keys(api, services):
    org_id = services.org.id
    response = api.delete(f"/orgs/{org_id}")
    assert response.json["data"] == {"id": org_id, "deleted": True}
    assert api.get("/projects").status_code == 401
