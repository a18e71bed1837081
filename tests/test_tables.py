"""Tables keep their indexes through every way a dict can change."""

from __future__ import annotations

import copy
import pickle

from mockserver.domain.world import ProjectTable


def slugs_of(table: ProjectTable) -> dict[str, int]:
    expected: dict[str, int] = {}
    for project in table.values():
        expected[project["slug"]] = expected.get(project["slug"], 0) + 1
    return expected


def test_project_slugs_follow_every_change():
    table = ProjectTable({"p1": {"id": "p1", "slug": "alpha"}})
    table["p2"] = {"id": "p2", "slug": "beta"}
    table.update({"p3": {"id": "p3", "slug": "alpha"}}, p4={"id": "p4", "slug": "gamma"})
    table |= {"p5": {"id": "p5", "slug": "delta"}}
    table.setdefault("p6", {"id": "p6", "slug": "eps"})
    table.setdefault("p6", {"id": "p6", "slug": "ignored"})
    assert dict(table.slugs) == slugs_of(table)
    table["p2"] = {"id": "p2", "slug": "beta-2"}  # replaced under the same key
    del table["p1"]
    table.pop("p4")
    assert table.pop("nope", None) is None
    table.popitem()
    table.remove_many(["p5"])
    assert dict(table.slugs) == slugs_of(table) == {"beta-2": 1, "alpha": 1}
    for twin in (copy.copy(table), copy.deepcopy(table), pickle.loads(pickle.dumps(table))):
        assert dict(twin.slugs) == slugs_of(twin)
    table.clear()
    assert not table.slugs


def test_a_new_project_slug_is_unique_among_the_org(api):
    first = api.post("/projects", json={"name": "Support Bot"}).json["data"]
    second = api.post("/projects", json={"name": "Support  bot"}).json["data"]
    assert (first["slug"], second["slug"]) == ("support-bot", "support-bot-2")
    assert api.delete(f"/projects/{first['id']}").status_code == 200
    third = api.post("/projects", json={"name": "Support Bot"}).json["data"]
    assert third["slug"] == "support-bot"
