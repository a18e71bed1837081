"""Routing configs: versions, restore, unique names, policy validation, dry-run."""

from __future__ import annotations

import threading

import pytest

from mockserver.testing import serve_in_thread
from tests.conftest import TOKEN

SINGLE = {"model": "gpt-4o-mini"}
FALLBACK = {"attempts": [{"model": "claude-3-5-haiku-20241022", "timeout_ms": 8000}, {"model": "gpt-4o-mini"}],
            "retry_on": ["timeout", "rate_limit"]}


@pytest.fixture
def project(api):
    return api.post("/projects", json={"name": "Support"}).json["data"]


@pytest.fixture
def rc(api, project):
    response = api.post("/routing-configs", json={"projectId": project["id"], "name": "support-bot",
                                                  "policy": "single", "config": SINGLE})
    assert response.status_code == 201
    return response.json["data"]


def versions(api, rc):
    return api.get(f"/routing-configs/{rc['id']}/versions").json["data"]


def test_create_is_version_one_with_its_author(api, rc, services):
    assert rc["version"] == 1
    history = versions(api, rc)
    assert [(v["version"], v["policy"], v["config"]) for v in history] == [(1, "single", SINGLE)]
    assert history[0]["created_by"] == next(iter(services.org.management_keys))


def test_policy_or_config_change_is_a_new_version(api, rc):
    updated = api.patch(f"/routing-configs/{rc['id']}", json={"policy": "fallback", "config": FALLBACK})
    assert updated.json["data"]["version"] == 2
    assert [v["version"] for v in versions(api, rc)] == [1, 2]
    assert api.get(f"/routing-configs/{rc['id']}/versions/2").json["data"]["config"] == FALLBACK
    assert api.get(f"/routing-configs/{rc['id']}/versions/1").json["data"]["config"] == SINGLE


def test_changes_without_policy_or_config_keep_the_version(api, rc):
    for body in ({"name": "renamed"}, {"enforce_budgets": True}, {"is_active": False},
                 {"policy": "single", "config": SINGLE}):
        assert api.patch(f"/routing-configs/{rc['id']}", json=body).json["data"]["version"] == 1
    assert len(versions(api, rc)) == 1
    current = api.get(f"/routing-configs/{rc['id']}").json["data"]
    assert (current["name"], current["enforce_budgets"], current["is_active"]) == ("renamed", True, False)


def test_config_alone_is_checked_against_the_current_policy_and_bumps_the_version(api, rc):
    response = api.patch(f"/routing-configs/{rc['id']}", json={"config": {"model": "gpt-4o"}})
    assert response.status_code == 200, response.json
    data = response.json["data"]
    assert (data["version"], data["policy"], data["config"]) == (2, "single", {"model": "gpt-4o"})
    assert api.get(f"/routing-configs/{rc['id']}").json["data"]["config"] == {"model": "gpt-4o"}
    assert [(v["version"], v["policy"], v["config"]) for v in versions(api, rc)] == [
        (1, "single", SINGLE), (2, "single", {"model": "gpt-4o"})]
    restored = api.post(f"/routing-configs/{rc['id']}/restore", json={"version": 1}).json["data"]
    assert (restored["version"], restored["policy"], restored["config"]) == (3, "single", SINGLE)
    same = api.patch(f"/routing-configs/{rc['id']}", json={"config": SINGLE}).json["data"]
    assert same["version"] == 3  # the same pair is no new version


def test_a_config_alone_that_does_not_fit_the_policy_is_a_400_naming_config(api, rc):
    response = api.patch(f"/routing-configs/{rc['id']}", json={"config": FALLBACK})
    assert response.status_code == 400
    assert response.json["code"] == "invalid_policy_config"
    assert response.json["error"].startswith("config: does not fit the current policy 'single'")
    assert len(versions(api, rc)) == 1


def test_a_policy_alone_must_fit_the_current_config(api, rc):
    response = api.patch(f"/routing-configs/{rc['id']}", json={"policy": "fallback", "name": "renamed"})
    assert response.status_code == 400
    assert response.json["error"].startswith("policy: the current config does not fit policy 'fallback'")
    assert "attempts" in response.json["error"]
    after = api.get(f"/routing-configs/{rc['id']}").json["data"]
    assert (after["version"], after["policy"], after["name"]) == (1, "single", rc["name"])  # nothing applied
    fitting = api.patch(f"/routing-configs/{rc['id']}", json={"policy": "latency_optimized"})
    # latency_optimized requires nothing, but {"model": ...} is not one of its fields: a schema with
    # additional properties allowed accepts it, so the policy changes and the config stays.
    assert fitting.status_code == 200, fitting.json
    data = fitting.json["data"]
    assert (data["version"], data["policy"], data["config"]) == (2, "latency_optimized", SINGLE)


def test_restore_creates_a_new_version_with_the_old_content(api, rc):
    api.patch(f"/routing-configs/{rc['id']}", json={"policy": "fallback", "config": FALLBACK})
    restored = api.post(f"/routing-configs/{rc['id']}/restore", json={"version": 1})
    assert restored.status_code == 200
    data = restored.json["data"]
    assert (data["version"], data["policy"], data["config"]) == (3, "single", SINGLE)
    assert [(v["version"], v["policy"]) for v in versions(api, rc)] == [(1, "single"), (2, "fallback"), (3, "single")]
    entry = api.get("/audit-logs", query_string={"resourceId": rc["id"], "action": "restored"}).json
    assert entry["total"] == 1 and entry["data"][0]["metadata"]["restored_from_version"] == 1


def test_restore_of_an_unknown_version_is_404(api, rc):
    assert api.post(f"/routing-configs/{rc['id']}/restore", json={"version": 9}).status_code == 404
    assert api.get(f"/routing-configs/{rc['id']}/versions/9").status_code == 404
    assert len(versions(api, rc)) == 1


def test_names_are_unique_within_a_project(api, project, rc):
    duplicate = api.post("/routing-configs", json={"projectId": project["id"], "name": "support-bot",
                                                   "policy": "single", "config": SINGLE})
    assert duplicate.status_code == 409 and duplicate.json["code"] == "name_taken"
    other = api.post("/projects", json={"name": "Other"}).json["data"]
    elsewhere = api.post("/routing-configs", json={"projectId": other["id"], "name": "support-bot",
                                                   "policy": "single", "config": SINGLE})
    assert elsewhere.status_code == 201
    second = api.post("/routing-configs", json={"projectId": project["id"], "name": "second",
                                                "policy": "single", "config": SINGLE}).json["data"]
    assert api.patch(f"/routing-configs/{second['id']}", json={"name": "support-bot"}).status_code == 409


def test_list_filters_by_project(api, project, rc):
    other = api.post("/projects", json={"name": "Other"}).json["data"]
    api.post("/routing-configs", json={"projectId": other["id"], "name": "x", "policy": "single", "config": SINGLE})
    assert [c["id"] for c in api.get("/routing-configs", query_string={"projectId": project["id"]}).json["data"]] \
        == [rc["id"]]
    assert len(api.get("/routing-configs").json["data"]) == 2


def test_delete_then_404(api, rc):
    assert api.delete(f"/routing-configs/{rc['id']}").json["data"]["deleted"] is True
    for path in ("", "/versions", "/versions/1"):
        assert api.get(f"/routing-configs/{rc['id']}{path}").status_code == 404


@pytest.mark.parametrize(
    "policy, policy_config, field",
    [
        ("single", {}, "model"),
        ("round_robin", {"models": []}, "models"),
        ("ab_test", {"variants": [{"weight": 50, "config": "no-at-sign"}]}, "config"),
        ("custom_rules", {"rules": [{"if": "__import__('os')", "then": "@x"}]}, "rules"),
        ("teleport", {}, "policy"),
    ],
)
def test_invalid_policy_config_is_rejected_everywhere(api, project, policy, policy_config, field):
    for path, body in (
        ("/routing-configs", {"projectId": project["id"], "name": "bad", "policy": policy, "config": policy_config}),
        ("/routing-configs/dry-run", {"project_id": project["id"], "policy": policy, "config": policy_config}),
    ):
        response = api.post(path, json=body)
        assert response.status_code == 400, path
        assert field in response.json["error"]
    existing = api.post("/routing-configs", json={"projectId": project["id"], "name": "good", "policy": "single",
                                                  "config": SINGLE}).json["data"]
    patched = api.patch(f"/routing-configs/{existing['id']}", json={"policy": policy, "config": policy_config})
    assert patched.status_code == 400 and field in patched.json["error"]
    assert api.get(f"/routing-configs/{existing['id']}").json["data"]["version"] == 1


def test_dry_run_routes_through_the_engine(api, project):
    response = api.post("/routing-configs/dry-run", json={
        "project_id": project["id"], "policy": "fallback", "config": FALLBACK,
        "request": {"messages": [{"role": "user", "content": "Where is my order?"}]}, "trace_id": "t-1"})
    assert response.status_code == 200
    data = response.json["data"]
    assert data["selected_model"] == "claude-3-5-haiku-20241022"
    assert data["trace"]["selected_model"] == data["selected_model"]
    assert data["trace"]["steps"] and {"rule", "result", "reason"} <= set(data["trace"]["steps"][0])
    again = api.post("/routing-configs/dry-run", json={
        "project_id": project["id"], "policy": "fallback", "config": FALLBACK,
        "request": {"messages": [{"role": "user", "content": "Where is my order?"}]}, "trace_id": "t-1"})
    assert again.json == response.json


def test_dry_run_resolves_slugs_in_the_project(api, project, rc):
    ab = {"variants": [{"weight": 1, "config": "@support-bot"}]}
    routed = api.post("/routing-configs/dry-run", json={"project_id": project["id"], "policy": "ab_test", "config": ab})
    assert routed.status_code == 200 and routed.json["data"]["selected_model"] == SINGLE["model"]
    missing = api.post("/routing-configs/dry-run", json={"project_id": project["id"], "policy": "ab_test",
                                                         "config": {"variants": [{"weight": 1, "config": "@ghost"}]}})
    assert missing.status_code == 404 and "ghost" in missing.json["error"]


def test_dry_run_in_missing_project_is_404(api):
    response = api.post("/routing-configs/dry-run", json={"project_id": "proj_x", "policy": "single", "config": SINGLE})
    assert response.status_code == 404


def test_concurrent_creates_and_patches_keep_ids_unique_and_versions_contiguous(app, project, rc):
    """8 threads over a real threaded server: no duplicate ids, no lost or repeated version."""
    import httpx

    per_thread = 12
    with serve_in_thread(app) as url:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        created_ids: list[str] = []
        version_numbers: list[int] = []
        errors: list[str] = []
        lock = threading.Lock()

        def work(n: int) -> None:
            with httpx.Client(base_url=url + "/api/manage/v1", headers=headers, timeout=30) as client:
                for i in range(per_thread):
                    made = client.post("/projects", json={"name": f"T{n}-{i}"})
                    patched = client.patch(f"/routing-configs/{rc['id']}",
                                           json={"policy": "single", "config": {"model": f"gpt-4o-mini-{n}-{i}"}})
                    with lock:
                        if made.status_code != 201 or patched.status_code != 200:
                            errors.append(f"{made.status_code} {patched.status_code}")
                            continue
                        created_ids.append(made.json()["data"]["id"])
                        version_numbers.append(patched.json()["data"]["version"])

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        history = httpx.get(f"{url}/api/manage/v1/routing-configs/{rc['id']}/versions", headers=headers).json()
    assert not errors
    assert len(created_ids) == len(set(created_ids)) == 8 * per_thread
    assert sorted(version_numbers) == list(range(2, 2 + 8 * per_thread))
    assert [v["version"] for v in history["data"]] == list(range(1, 2 + 8 * per_thread))
