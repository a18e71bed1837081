def test_projects_roundtrip(api):
    created = api.post("/projects", json={"name": "Support Bot"})
    assert created.status_code == 201
    project = created.json["data"]
    listed = api.get("/projects").json["data"]
    assert [p["id"] for p in listed] == [project["id"]]
