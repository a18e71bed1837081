"""The contract itself: pristine copy, effective spec, errata, and the handler table."""

from __future__ import annotations

import hashlib
import json
import random
import re
from pathlib import Path

import jsonschema
import pytest
from openapi_spec_validator import validate

from modelux_spec import ERRATA, EVENT_TYPES
from mockserver.app import served_spec
from mockserver.compiled import BASE_PATH
from mockserver.handlers import load_handlers
from modelux_spec import effective_spec, operation_ids, operations, pristine_spec, resolve

ROOT = Path(__file__).resolve().parent.parent
UPSTREAM = ROOT.parent / "shared" / "spec" / "openapi.yaml"
# SHA-256 of the upstream openapi.yaml this copy was taken from: a clone without the upstream
# checkout beside it still proves the copy unedited. Update it only together with a new upstream copy.
UPSTREAM_SHA256 = "e757534cf603237518eba00bf8a064f4eba7f2ee4181b25414d592c413c5dc6a"


def test_spec_copy_is_byte_identical_to_upstream():
    ours = hashlib.sha256((ROOT / "spec" / "openapi.yaml").read_bytes()).hexdigest()
    assert ours == UPSTREAM_SHA256, "spec/openapi.yaml differs from the upstream version it was copied from"
    if UPSTREAM.exists():  # upstream checked out beside this repository: compare with it directly too
        assert ours == hashlib.sha256(UPSTREAM.read_bytes()).hexdigest(), f"spec/openapi.yaml differs from {UPSTREAM}"


def test_pristine_spec_has_67_operations_and_is_unchanged_by_loading():
    spec = pristine_spec()
    assert len(operations(spec)) == 67
    assert len(set(operation_ids(spec))) == 67
    assert "nullable: true" in (ROOT / "spec" / "openapi.yaml").read_text()


def test_effective_spec_is_a_valid_openapi_31_document():
    validate(effective_spec())


def test_effective_spec_has_no_nullable_keyword_left():
    assert '"nullable"' not in json.dumps(effective_spec())
    assert '"nullable"' in json.dumps(pristine_spec())


def test_nullable_became_a_null_admitting_type():
    schemas = effective_spec()["components"]["schemas"]
    assert schemas["Provider"]["properties"]["base_url"]["type"] == ["string", "null"]
    assert schemas["Log"]["properties"]["tags"]["type"] == ["object", "null"]
    jsonschema.Draft202012Validator(schemas["WebhookDelivery"]).validate(
        {"id": "d", "endpoint_id": "e", "event_type": "webhook.test", "status": "pending", "response_status": None}
    )


def test_every_invalidatable_operation_documents_400():
    spec = effective_spec()
    for path, method, op in operations(spec):
        typed = [resolve(spec, p) for p in op.get("parameters", [])]
        constrained = any(
            p["schema"].get("type") not in ("string", None) or {"enum", "format", "pattern"} & set(p["schema"])
            or (p.get("required") and p["in"] == "query")
            for p in typed
        )
        if "requestBody" in op or constrained:
            assert "400" in op["responses"], f"{method.upper()} {path} can be invalid but documents no 400"


def test_pristine_spec_lacks_the_400_that_errata_add():
    pristine = {op["operationId"]: op for _, _, op in operations(pristine_spec())}
    effective = {op["operationId"]: op for _, _, op in operations(effective_spec())}
    assert "400" not in pristine["listLogs"]["responses"]
    assert "400" in effective["listLogs"]["responses"]
    assert "409" in effective["promoteSimulation"]["responses"]


def test_errata_document_is_generated_from_the_list():
    from modelux_spec import errata_markdown

    assert (ROOT / "spec" / "ERRATA.md").read_text() == errata_markdown()


def test_errata_are_documented_one_by_one():
    text = (ROOT / "spec" / "ERRATA.md").read_text()
    documented = set(re.findall(r"^## (\w+)\b", text, flags=re.M))
    assert documented == {e.id for e in ERRATA}
    for erratum in ERRATA:
        assert erratum.reason.strip(), erratum.id


def test_decisions_document_exists_and_names_the_mocks_choices():
    text = (ROOT / "spec" / "DECISIONS.md").read_text()
    for topic in ("405", "413", "409", "version", "webhook", "loopback"):
        assert topic in text, topic


def test_every_operation_has_exactly_one_handler_and_none_is_orphaned():
    handlers = load_handlers()
    ids = operation_ids(effective_spec())
    assert sorted(ids) == sorted(handlers)
    assert len(handlers) == 67


def test_registering_a_second_handler_for_an_operation_fails():
    from mockserver.registry import operation

    with pytest.raises(RuntimeError, match="two handlers for createProject"):
        operation("createProject")(lambda call: (200, {}))


def test_every_event_type_has_a_description_and_a_valid_data_schema():
    from jsonschema import Draft202012Validator

    from modelux_spec import EVENTS, event_schema

    assert tuple(EVENTS) == EVENT_TYPES
    for name, event in EVENTS.items():
        assert event.description.strip(), name
        Draft202012Validator.check_schema(event_schema(name))
    documented = effective_spec()["components"]["schemas"]["WebhookDelivery"]["properties"]["payload"]
    assert documented["x-modelux-event-data"] == {name: event.data for name, event in EVENTS.items()}


def test_openapi_json_serves_the_effective_spec(api):
    response = api.client.get("/openapi.json")
    assert response.status_code == 200
    assert response.json == effective_spec()


def test_routes_are_found_by_shape_exactly_as_a_scan_of_every_template_finds_them():
    compiled = served_spec()[0]

    def scan(path: str):
        relative = path[len(BASE_PATH):]
        for regex, template in compiled.templates:
            match = regex.fullmatch(relative)
            if match:
                return template, match.groupdict()
        return None

    words = sorted({part for _, template in compiled.templates for part in template.split("/") if part}
                   | {"x", "", "%2F", "a\nb", "..", "proj_1"})
    rng = random.Random(7)
    paths = [BASE_PATH + t for _, t in compiled.templates] + [BASE_PATH, BASE_PATH + "/", BASE_PATH + "//projects"]
    paths += [BASE_PATH + "/" + "/".join(rng.choice(words) for _ in range(rng.randint(0, 5))) for _ in range(20000)]
    assert compiled.by_shape, "every template starts with a literal segment, so routes are looked up by shape"
    assert [compiled.resource(p) for p in paths] == [scan(p) for p in paths]
    assert sum(1 for p in paths if scan(p)) > 1000  # the sample reaches many routes, not just misses
