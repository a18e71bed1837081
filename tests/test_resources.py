"""Resource semantics of the foundation: projects, members, providers, API keys, audit."""

from __future__ import annotations

import pytest

from mockserver.domain.world import Slugs


@pytest.fixture
def project(api):
    return api.post("/projects", json={"name": "Support Assistant"}).json["data"]


def audit(api, **filters):
    return api.get("/audit-logs", query_string=filters).json


# ── organizations and members ────────────────────────────────────────────────


def test_update_org_and_audit(api, services):
    org_id = services.org.id
    updated = api.patch(f"/orgs/{org_id}", json={"name": "Acme Labs", "billing_email": "ap@acme.test"}).json["data"]
    assert updated["name"] == "Acme Labs" and updated["billing_email"] == "ap@acme.test"
    entry = audit(api, resourceType="organization")["data"][0]
    assert entry["changes"]["name"] == {"before": "Acme AI", "after": "Acme Labs"}
    assert entry["org_id"] == org_id


def test_invite_change_role_and_remove_member(api, services):
    org_id = services.org.id
    invite = api.post(f"/orgs/{org_id}/members", json={"email": "dev@acme.test", "role": "member"})
    assert invite.status_code == 201
    invitation = invite.json["data"]
    assert invitation["status"] == "pending" and invitation["email"] == "dev@acme.test"
    members = {m["user_id"]: m for m in api.get(f"/orgs/{org_id}/members").json["data"]}
    assert members[invitation["user_id"]]["user"]["email"] == "dev@acme.test"
    again = api.post(f"/orgs/{org_id}/members", json={"email": "DEV@acme.test", "role": "admin"})
    assert again.status_code == 409
    promoted = api.patch(f"/orgs/{org_id}/members/{invitation['user_id']}", json={"role": "admin"}).json["data"]
    assert promoted["role"] == "admin"
    removed = api.delete(f"/orgs/{org_id}/members/{invitation['user_id']}").json["data"]
    assert removed == {"id": invitation["user_id"], "deleted": True}
    assert invitation["user_id"] not in {m["user_id"] for m in api.get(f"/orgs/{org_id}/members").json["data"]}
    actions = [e["action"] for e in audit(api, resourceType="member")["data"]]
    assert actions == ["deleted", "updated", "invited"]


def test_last_owner_cannot_leave_or_be_demoted(api, services):
    org_id = services.org.id
    owner = next(m for m in api.get(f"/orgs/{org_id}/members").json["data"] if m["role"] == "owner")
    assert api.patch(f"/orgs/{org_id}/members/{owner['user_id']}", json={"role": "member"}).status_code == 409
    assert api.delete(f"/orgs/{org_id}/members/{owner['user_id']}").status_code == 409
    assert api.patch(f"/orgs/{org_id}/members/user_missing", json={"role": "member"}).status_code == 404


# ── projects ─────────────────────────────────────────────────────────────────


def test_project_settings_come_from_patch(api, project):
    updated = api.patch(f"/projects/{project['id']}", json={"logging_mode": "metadata", "semantic_cache": True})
    settings = updated.json["data"]["settings"]
    assert settings == {"logging_mode": "metadata", "semantic_cache": True}
    assert api.get(f"/projects/{project['id']}").json["data"]["settings"] == settings
    entry = audit(api, resourceId=project["id"], action="updated")["data"][0]
    assert entry["changes"]["logging_mode"] == {"before": "full", "after": "metadata"}


def test_project_list_counts_keys_and_configs(api, project):
    for name in ("a", "b"):
        api.post("/keys", json={"projectId": project["id"], "name": name})
    api.post("/routing-configs", json={"projectId": project["id"], "name": "main", "policy": "single",
                                       "config": {"model": "gpt-4o-mini"}})
    listed = api.get("/projects").json["data"][0]
    assert (listed["api_key_count"], listed["routing_config_count"]) == (2, 1)


def test_slugs_are_unique(api):
    first = api.post("/projects", json={"name": "Chat"}).json["data"]
    second = api.post("/projects", json={"name": "chat"}).json["data"]
    assert first["slug"] == "chat" and second["slug"] == "chat-2"


def test_delete_then_404_and_cascade(api, project):
    key = api.post("/keys", json={"projectId": project["id"], "name": "k"}).json["data"]
    config = api.post("/routing-configs", json={"projectId": project["id"], "name": "main", "policy": "single",
                                                "config": {"model": "gpt-4o-mini"}}).json["data"]
    assert api.delete(f"/projects/{project['id']}").json["data"] == {"id": project["id"], "deleted": True}
    assert api.get(f"/projects/{project['id']}").status_code == 404
    assert api.delete(f"/projects/{project['id']}").status_code == 404
    assert api.get(f"/routing-configs/{config['id']}").status_code == 404
    assert key["id"] not in {k["id"] for k in api.get("/keys").json["data"]}


# ── providers ────────────────────────────────────────────────────────────────


def test_provider_api_key_is_write_only(api):
    secret = "sk-live-very-secret-value-123"
    created = api.post("/providers", json={"provider": "openai", "name": "Prod", "apiKey": secret,
                                           "baseUrl": "https://api.openai.com/v1"})
    assert created.status_code == 201
    provider = created.json["data"]
    assert provider["base_url"] == "https://api.openai.com/v1" and provider["is_default"] is True
    pages = [created, api.get("/providers"), api.get(f"/providers/{provider['id']}"),
             api.patch(f"/providers/{provider['id']}", json={"apiKey": secret + "2", "baseUrl": None}),
             api.get("/audit-logs")]
    for page in pages:
        assert page.status_code == 200 or page.status_code == 201
        assert secret not in page.get_data(as_text=True)
        data = page.json["data"]
        for item in data if isinstance(data, list) else [data]:
            assert "apiKey" not in item and "api_key" not in item
    assert api.get(f"/providers/{provider['id']}").json["data"]["base_url"] is None


def test_deleting_the_default_provider_promotes_another(api):
    first = api.post("/providers", json={"provider": "anthropic", "name": "A", "apiKey": "x"}).json["data"]
    second = api.post("/providers", json={"provider": "anthropic", "name": "B", "apiKey": "y"}).json["data"]
    assert (first["is_default"], second["is_default"]) == (True, False)
    api.delete(f"/providers/{first['id']}")
    assert api.get(f"/providers/{second['id']}").json["data"]["is_default"] is True


# ── API keys ─────────────────────────────────────────────────────────────────


def test_api_key_plaintext_once_prefix_is_a_true_prefix(api, project):
    created = api.post("/keys", json={"projectId": project["id"], "name": "backend"})
    assert created.status_code == 201
    key = created.json["data"]
    assert key["key"].startswith("mlx_sk_") and key["key"].startswith(key["key_prefix"])
    assert len(key["key_prefix"]) < len(key["key"])
    assert key["project"] == {"id": project["id"], "name": project["name"]}
    for page in (api.get("/keys"), api.get("/keys", query_string={"projectId": project["id"]}), api.get("/audit-logs")):
        assert key["key"] not in page.get_data(as_text=True)
    assert all("key" not in k for k in api.get("/keys").json["data"])


def test_api_keys_filter_by_project(api, project):
    other = api.post("/projects", json={"name": "Other"}).json["data"]
    mine = api.post("/keys", json={"projectId": project["id"], "name": "a"}).json["data"]
    api.post("/keys", json={"projectId": other["id"], "name": "b"})
    filtered = api.get("/keys", query_string={"projectId": project["id"]}).json["data"]
    assert [k["id"] for k in filtered] == [mine["id"]]
    assert len(api.get("/keys").json["data"]) == 2
    assert api.get("/keys", query_string={"projectId": "proj_nope"}).json["data"] == []


def test_api_key_for_missing_project_is_404(api):
    response = api.post("/keys", json={"projectId": "proj_missing", "name": "x"})
    assert response.status_code == 404 and response.json["code"] == "not_found"


def test_revocation_sets_revoked_at_once(api, project):
    key = api.post("/keys", json={"projectId": project["id"], "name": "a"}).json["data"]
    assert api.delete(f"/keys/{key['id']}").json["data"] == {"id": key["id"], "deleted": True}
    listed = api.get("/keys").json["data"][0]
    assert listed["revoked_at"] is not None
    assert api.delete(f"/keys/{key['id']}").status_code == 404
    assert audit(api, resourceId=key["id"], action="revoked")["total"] == 1


# ── audit log ────────────────────────────────────────────────────────────────


def test_every_successful_mutation_writes_one_audit_entry(api, project, services):
    before = audit(api)["total"]
    api.patch(f"/projects/{project['id']}", json={"name": "Renamed"})
    api.post("/providers", json={"provider": "google", "name": "G", "apiKey": "k"})
    api.post("/budgets", json={"name": "Org", "scope_type": "org", "period": "monthly", "amount_usd": "100"})
    api.post("/projects", json={})  # invalid: no entry
    api.get("/projects")  # read: no entry
    assert audit(api)["total"] == before + 3


def test_audit_filters_combine_and_total_counts_all_matches(api):
    for i in range(7):
        api.post("/projects", json={"name": f"P{i}"})
    page = audit(api, resourceType="project", action="created", limit=3, offset=2)
    assert page["total"] == 7 and len(page["data"]) == 3
    assert all(e["resource_type"] == "project" and e["action"] == "created" for e in page["data"])
    everything = audit(api, resourceType="project", limit=200)["data"]
    assert [e["id"] for e in everything[2:5]] == [e["id"] for e in page["data"]]
    assert audit(api, resourceType="budget")["total"] == 0


def test_audit_time_filters(api, clock):
    api.post("/projects", json={"name": "old"})
    clock.advance(3600)
    cut = "2026-11-02T12:30:00Z"
    api.post("/projects", json={"name": "new"})
    recent = audit(api, since=cut)
    assert recent["total"] == 1 and recent["data"][0]["changes"]["name"]["after"] == "new"
    assert audit(api, until=cut)["total"] == 1
    entry = recent["data"][0]
    assert api.get(f"/audit-logs/{entry['id']}").json["data"] == entry
    assert api.get("/audit-logs/aud_missing").status_code == 404


def test_a_project_gets_the_first_free_slug_of_its_name_however_many_share_it():
    slugs = Slugs()
    made = []
    for _ in range(6):
        made.append(slugs.free("acme"))
        slugs[made[-1]] += 1
    assert made == ["acme", "acme-2", "acme-3", "acme-4", "acme-5", "acme-6"]
    for gone in ("acme-3", "acme-5"):
        del slugs[gone]
        slugs.let_go(gone)
    assert slugs.free("acme") == "acme-3"
    slugs["acme-3"] += 1
    assert slugs.free("acme") == "acme-5"
    slugs["acme-5"] += 1
    assert slugs.free("acme") == "acme-7"
    slugs["acme-2-2"] += 1  # another name's slugs do not count
    assert slugs.free("acme-2") == "acme-2-3" and slugs.free("other") == "other"


def test_projects_of_one_name_get_slugs_in_order_and_reuse_a_freed_one(api):
    slugs = [api.post("/projects", json={"name": "Same Name"}).json["data"] for _ in range(4)]
    assert [p["slug"] for p in slugs] == ["same-name", "same-name-2", "same-name-3", "same-name-4"]
    assert api.delete(f"/projects/{slugs[1]['id']}").status_code == 200
    assert api.post("/projects", json={"name": "Same Name"}).json["data"]["slug"] == "same-name-2"
    assert api.post("/projects", json={"name": "Same Name"}).json["data"]["slug"] == "same-name-5"
