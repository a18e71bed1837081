"""Hostile input over real HTTP: the mock answers 4xx with the error envelope, never 5xx, changes nothing
it rejected, and keeps answering.

The seeded world of `tests/rich_world.py` is served on a loopback port (werkzeug's threaded server,
`mockserver.testing.serve_in_thread`); requests go out with `http.client`, which sends paths and bodies
byte for byte. Every rejected request is followed by a comparison of the organization's export with the
one before it, and by `GET /projects`. Free text that is accepted (injection strings are just text)
must come back byte-exact, in the answer and in the listing. The raw-socket cases also run against
`modelux-mock serve` itself (granian where it can run), the server users start.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import time
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from mockserver.api import MAX_BODY_BYTES, MAX_DEPTH, MAX_MEMBERS, MAX_QUERY_BYTES
from mockserver.server import granian_available
from mockserver.testing import free_port, serve_in_thread
from modelux_spec import resolve

from .rich_world import API, COMPILED, TOKEN, World, requests_of

AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Target:
    def __init__(self, world: World, url: str):
        self.world = world
        self.host, self.port = url.removeprefix("http://").split(":")
        self.port = int(self.port)
        self.valid = requests_of(world)

    def send(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
             content_type: str | None = "application/json") -> tuple[int, Any]:
        """(status, decoded JSON or raw text) of one request, path sent as given."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=10)
        sent = {**AUTH, **(headers or {})}
        if body is not None and content_type is not None:
            sent.setdefault("Content-Type", content_type)
        try:
            connection.request(method, path if path.startswith("/") else API + "/" + path, body=body, headers=sent)
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        try:
            return response.status, json.loads(raw)
        except ValueError:
            return response.status, raw.decode("utf-8", "replace")

    def still_serves(self) -> None:
        status, body = self.send("GET", API + "/projects")
        assert status == 200 and isinstance(body["data"], list), body

    def rejected(self, method: str, path: str, body: bytes | None = None, statuses: tuple[int, ...] = (400,),
                 **kwargs: Any) -> dict:
        """Send a request that must be refused: a 4xx in `statuses` with the envelope, the world untouched."""
        before = self.world.export()
        status, answer = self.send(method, path, body, **kwargs)
        assert status in statuses, (status, answer)
        assert isinstance(answer, dict) and set(answer) == {"error", "code"} and answer["error"], answer
        assert self.world.export() == before, f"{method} {path[:80]}: a rejected request changed the world"
        self.still_serves()
        return answer


@pytest.fixture(scope="module")
def target():
    world = World()
    try:
        with serve_in_thread(world.app) as url:
            yield Target(world, url)
    finally:
        world.services.stop()


def nested(depth: int) -> bytes:
    return b'{"name": "deep", "x": ' + b"[" * depth + b"]" * depth + b"}"


# ── the two requests of the issue ────────────────────────────────────────────


def test_a_body_nested_100000_levels_deep_is_a_400_naming_the_limit(target):
    answer = target.rejected("POST", API + "/projects", nested(100_000))
    assert answer["code"] == "body_too_deep" and f"{MAX_DEPTH} levels" in answer["error"]


def test_a_lone_surrogate_is_a_400_and_the_listing_keeps_working(target):
    answer = target.rejected("POST", API + "/projects", b'{"name": "\\ud800"}')
    assert answer["code"] == "invalid_text" and "surrogate" in answer["error"]


# ── body limits, JSON, media types, encodings ───────────────────────────────

BODIES = {
    "nested one level too deep": (nested(MAX_DEPTH), "body_too_deep", f"{MAX_DEPTH} levels"),
    "10,000 keys": (json.dumps({"name": "k", **{f"k{i}": i for i in range(10_000)}}).encode(), "body_too_large",
                    f"more than {MAX_MEMBERS} keys"),
    "10,000 items": (json.dumps({"name": "k", "x": list(range(10_000))}).encode(), "body_too_large",
                     f"more than {MAX_MEMBERS} items"),
    "NaN": (b'{"name": "n", "x": NaN}', "malformed_json", "NaN"),
    "Infinity": (b'{"name": "n", "x": -Infinity}', "malformed_json", "Infinity"),
    "a number beyond float": (b'{"name": "n", "x": 1e999}', "invalid_number", "finite"),
    "an escaped lone low surrogate key": (b'{"name": "n", "\\udc00": 1}', "invalid_text", "surrogate"),
    "an encoded surrogate": (b'{"name": "\xed\xa0\x80"}', "malformed_json", "UTF-8"),
    "invalid UTF-8": (b'{"name": "\xff\xfe\xfd"}', "malformed_json", "UTF-8"),
    "overlong UTF-8": (b'{"name": "\xc0\xaf"}', "malformed_json", "UTF-8"),
    "UTF-16 with a BOM": ('{"name": "utf16"}'.encode("utf-16"), "malformed_json", "UTF-8"),
    "UTF-16 without a BOM": ('{"name": "utf16"}'.encode("utf-16-le"), "malformed_json", "JSON"),  # NULs are UTF-8
    "UTF-8 with a BOM": (b'\xef\xbb\xbf{"name": "bom"}', "malformed_json", "byte order mark"),
    "truncated": (b'{"name": "x', "malformed_json", "JSON"),
    "trailing garbage": (b'{"name": "x"} {}', "malformed_json", "JSON"),
    "single quotes": (b"{'name': 'x'}", "malformed_json", "JSON"),
    "a comment": (b'{"name": "x" /* c */}', "malformed_json", "JSON"),
    "a NUL byte outside strings": (b'{"name": "x"}\x00', "malformed_json", "JSON"),
    "a raw control character in a string": (b'{"name": "a\x01b"}', "malformed_json", "JSON"),
    "null": (b"null", "validation_failed", "body"),
    "an array": (b'[{"name": "x"}]', "validation_failed", "body"),
    "a string": (b'"name"', "validation_failed", "body"),
    "whitespace only": (b"   \n\t ", "malformed_json", "JSON"),
}


@pytest.mark.parametrize("case", BODIES)
def test_hostile_bodies_are_400s_naming_the_problem(target, case):
    body, code, words = BODIES[case]
    answer = target.rejected("POST", API + "/projects", body)
    assert answer["code"] == code and words in answer["error"], answer


def test_a_body_over_one_mebibyte_is_a_413(target):
    body = json.dumps({"name": "x" * (MAX_BODY_BYTES + 1)}).encode()
    assert target.rejected("POST", API + "/projects", body, statuses=(413,))["code"] == "payload_too_large"


def test_a_huge_string_under_the_body_limit_is_a_400_naming_the_field(target):
    body = json.dumps({"name": "x" * (MAX_BODY_BYTES - 100)}).encode()
    assert "name" in target.rejected("POST", API + "/projects", body)["error"]


def test_a_query_string_over_the_limit_is_a_400_naming_it(target):
    query = "projectId=" + "a" * MAX_QUERY_BYTES
    answer = target.rejected("GET", API + "/logs?" + query)
    assert answer["code"] == "query_too_long" and str(MAX_QUERY_BYTES) in answer["error"]


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/jsonx", "application/xml",
                                          "json", "application/json-patch+json"])
def test_bodies_of_other_media_types_are_400s(target, content_type):
    headers = {} if content_type is None else {"Content-Type": content_type}
    answer = target.rejected("POST", API + "/projects", b'{"name": "typed"}', headers=headers, content_type=None)
    assert answer["code"] == "unsupported_media_type" and "Content-Type" in answer["error"]


# ── wrong types, field by field ──────────────────────────────────────────────

_SAMPLES = (("integer", 12345), ("string", "text"), ("boolean", True), ("array", [1]), ("object", {"k": 1}))


def _json_types(schema: dict) -> set[str] | None:
    kind = resolve(COMPILED.spec, schema).get("type")
    if kind is None:
        return None
    kinds = {kind} if isinstance(kind, str) else set(kind)
    return kinds | {"integer"} if "number" in kinds else kinds


def wrong_type_cases() -> list[tuple[str, str, Any]]:
    cases = []
    for op in sorted(COMPILED.by_id.values(), key=lambda o: o.operation_id):
        if op.body_schema is None:
            continue
        for field, schema in (resolve(COMPILED.spec, op.body_schema).get("properties") or {}).items():
            allowed = _json_types(schema)
            if allowed is not None:
                cases.append((op.operation_id, field, next(v for t, v in _SAMPLES if t not in allowed)))
    return cases


@pytest.mark.parametrize("operation_id, field, value", wrong_type_cases())
def test_a_field_of_the_wrong_json_type_is_a_400_naming_it(target, operation_id, field, value):
    method, path, body = target.valid[operation_id]
    answer = target.rejected(method, API + quote(path), json.dumps({**(body or {}), field: value}).encode())
    assert answer["code"] == "validation_failed" and field in answer["error"], answer


# ── injection strings in every free-text field ───────────────────────────────

INJECTIONS = [
    "'; DROP TABLE projects; --", "1' OR '1'='1", "$(rm -rf /)", "`id`; ls | cat", "<script>alert(1)</script>",
    "{{7*7}}", "${7*7}", "../../etc/passwd", "..\\..\\windows\\win.ini", "nul\x00byte", "\u202eevil\u202c",
    "\u200fright-to-left\u200e", "emoji 🙂👍🏽 𝕏", "line\r\nX-Injected: 1", "%s%s%n{0}", '{"$gt": ""}',
    "e\u0301 \u200b zero-width", "\ufeffbom-in-text", "\U0010fffd last plane",
]
WRITE_ONLY = {"apiKey"}  # stored hashed, never echoed
ID_FIELDS = ("Id", "_id")


def free_text_fields() -> list[tuple[str, str]]:
    """(operation, field): string fields of writing bodies with no format, enum or pattern, naming nothing."""
    found = []
    for op in sorted(COMPILED.by_id.values(), key=lambda o: o.operation_id):
        if op.body_schema is None or op.method == "get":
            continue
        for field, schema in (resolve(COMPILED.spec, op.body_schema).get("properties") or {}).items():
            schema = resolve(COMPILED.spec, schema)
            if "string" in (_json_types(schema) or ()) and not field.endswith(ID_FIELDS) \
                    and not {"format", "enum", "pattern"} & set(schema):
                found.append((op.operation_id, field))
    return found


def strings_in(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set().union(*(strings_in(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(strings_in(v) for v in value)) if value else set()
    return set()


def test_free_text_fields_are_found():
    fields = free_text_fields()
    assert ("createProject", "name") in fields and ("createBudgetAlert", "destination") in fields
    assert not [f for f in fields if f[1] in ("projectId", "email", "url", "window_start")]


@pytest.mark.parametrize("operation_id, field", free_text_fields())
def test_injection_strings_are_text_stored_and_returned_byte_exact(target, operation_id, field):
    method, path, body = target.valid[operation_id]
    template = COMPILED.by_id[operation_id].template
    listing = API + quote(path) if (template, "get") in COMPILED.operations else None
    for n, text in enumerate(INJECTIONS):
        value = f"{text} #{n}" if field == "name" else text  # names may have to be unique
        status, answer = target.send(method, API + quote(path), json.dumps({**(body or {}), field: value}).encode())
        assert status < 500, (text, answer)
        if status >= 400:
            assert set(answer) == {"error", "code"}, answer
        elif field not in WRITE_ONLY:
            assert value in strings_in(answer), f"{operation_id}.{field}: {value!r} did not come back as sent"
            if listing is not None:
                status, listed = target.send("GET", listing)
                assert status == 200 and value in strings_in(listed), f"{listing}: {value!r} not listed as sent"
        target.still_serves()


# ── ids of every shape in path parameters ───────────────────────────────────

ID_SHAPES = {
    "empty": "",
    "very long": "proj_" + "a" * 6000,
    "unicode": quote("проект-🙂"),
    "NUL": "%00",
    "encoded traversal": "..%2F..%2Fetc%2Fpasswd",
    "dot dot": "..",
    "encoded dot dot": "%2e%2e",
    "invalid UTF-8": "%FF%FE",
    "space": "%20",
    "SQL": quote("1' OR '1'='1"),
    "another type's prefix": "whdel_000000000000",
    "null": "null",
}


ID_OPERATIONS = sorted(op.operation_id for op in COMPILED.by_id.values() if "{" in op.template)


@pytest.mark.parametrize("operation_id", ID_OPERATIONS)
def test_ids_of_every_shape_are_4xx(target, operation_id):
    op = COMPILED.by_id[operation_id]
    valid = target.valid.get(operation_id)
    body = json.dumps(valid[2]).encode() if valid and valid[2] is not None else None
    names = [p.name for p in op.parameters if p.location == "path"]
    before = target.world.export()
    for shape, ident in ID_SHAPES.items():
        path = op.template
        for name in names:
            path = path.replace("{" + name + "}", ident)
        status, answer = target.send(op.method.upper(), API + path, body)
        assert status in (400, 404, 405, 414), (shape, status, answer)
        assert isinstance(answer, dict) and set(answer) == {"error", "code"}, (shape, answer)
    assert target.world.export() == before
    target.still_serves()


# ── the protocol itself, over raw sockets ───────────────────────────────────

LYING = b"POST /api/manage/v1/projects HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode() \
    + b"\r\nContent-Type: application/json\r\n"
RAW = {
    "garbage request line": b"\x16\x03\x01\x02\x00 garbage\r\n\r\n",
    "no version": b"FETCH /api/manage/v1/projects\r\n\r\n",
    "HTTP/0.9": b"GET /api/manage/v1/projects\r\n",
    "unknown version": b"GET /api/manage/v1/projects HTTP/9.9\r\nHost: x\r\n\r\n",
    "NUL in the path": b"GET /api/manage/v1/\x00projects HTTP/1.1\r\nHost: x\r\n\r\n",
    "spaces in the method": b"G E T /api/manage/v1/projects HTTP/1.1\r\nHost: x\r\n\r\n",
    "header without a colon": b"GET /api/manage/v1/projects HTTP/1.1\r\nHost: x\r\nnocolon\r\n\r\n",
    "header of 128 KiB": b"GET /api/manage/v1/projects HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 131072 + b"\r\n\r\n",
    "request line of 128 KiB": b"GET /api/manage/v1/" + b"a" * 131072 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "Content-Length longer than the body": LYING + b'Content-Length: 100\r\n\r\n{"name": "short"}',
    "Content-Length shorter than the body": LYING + b'Content-Length: 5\r\n\r\n{"name": "long"}',
    "negative Content-Length": LYING + b'Content-Length: -1\r\n\r\n{"name": "neg"}',
    "Content-Length not a number": LYING + b'Content-Length: abc\r\n\r\n{"name": "nan"}',
    "Content-Length beyond 64 bits": LYING + b'Content-Length: 99999999999999999999999\r\n\r\n{"name": "big"}',
    "two Content-Lengths": LYING + b'Content-Length: 2\r\nContent-Length: 15\r\n\r\n{"name": "two"}',
    "broken chunked body": LYING + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    "incomplete request, then close": b"GET /api/manage/v1/proj",
    "headers never end": b"GET /api/manage/v1/projects HTTP/1.1\r\nHost: x\r\n",
}


def raw_exchange(host: str, port: int, data: bytes, timeout: float = 3.0) -> bytes:
    """Send `data`, close our side, and read what comes back until the server closes or goes quiet."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:  # the server may hang up before reading everything: that is an answer too
            pass
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (socket.timeout, ConnectionResetError):
            pass
    return b"".join(chunks)


def assert_no_server_error(answer: bytes) -> None:
    for line in answer.split(b"\r\n"):
        if line.startswith(b"HTTP/") and len(line.split()) > 1:
            assert not line.split()[1].startswith(b"5"), answer[:500]


# werkzeug's server takes the last of two Content-Length headers (granian refuses them): a valid request.
MAY_BE_ACCEPTED = {"two Content-Lengths"}


@pytest.mark.parametrize("case", RAW)
def test_protocol_abuse_never_gets_a_5xx_nor_changes_the_world(target, case):
    before = target.world.export()
    assert_no_server_error(raw_exchange(target.host, target.port, RAW[case]))
    if case not in MAY_BE_ACCEPTED:
        assert target.world.export() == before
    target.still_serves()


@pytest.fixture(scope="module")
def cli_server():
    """`modelux-mock serve --empty` as users start it (granian where it runs, else waitress)."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "mockserver.cli", "serve", "--empty", "--port", str(port),
                                "--token", TOKEN], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None and time.monotonic() < deadline, "the mock did not start"
        try:
            httpx.get(url + "/openapi.json", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.05)
    try:
        yield port
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.mark.skipif(not granian_available(), reason="granian does not run on this platform")
def test_protocol_abuse_against_the_served_cli(cli_server):
    projects = f"http://127.0.0.1:{cli_server}{API}/projects"
    for case, data in RAW.items():
        assert_no_server_error(raw_exchange("127.0.0.1", cli_server, data, timeout=2.0))
        listed = httpx.get(projects, headers=AUTH, timeout=5)
        assert listed.status_code == 200, (case, listed.text)
    for body in (nested(100_000), b'{"name": "\\ud800"}', '{"name": "utf16"}'.encode("utf-16")):
        answer = httpx.post(projects, headers={**AUTH, "Content-Type": "application/json"}, content=body, timeout=5)
        assert answer.status_code == 400 and set(answer.json()) == {"error", "code"}, answer.text
    listed = httpx.get(projects, headers=AUTH, timeout=5)
    assert listed.status_code == 200 and {p["name"] for p in listed.json()["data"]} <= {"two"}
