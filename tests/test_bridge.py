"""The RSGI bridge granian serves the mock through (`mockserver.bridge`): the WSGI environ it builds, the bodies it
reads, and, over HTTP against `modelux-mock serve`, that one request waiting out a delay holds up no other."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from mockserver.api import MAX_BODY_BYTES
from mockserver.bridge import RsgiBridge, read_body, wsgi_environ
from mockserver.server import granian_available

from .test_cli import TOKEN, start, stop

AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Headers:
    """granian's RSGIHeaders: repeated names kept, `get` gives the first."""

    def __init__(self, pairs: list[tuple[str, str]]):
        self.pairs = pairs

    def get(self, name: str, default: Any = None) -> Any:
        return next((v for k, v in self.pairs if k == name), default)

    def items(self) -> list[tuple[str, str]]:
        return list(self.pairs)

    def __contains__(self, name: str) -> bool:
        return any(k == name for k, _ in self.pairs)


def scope(method: str = "GET", path: str = "/", query: str = "", headers: list[tuple[str, str]] = ()) -> Any:
    return SimpleNamespace(proto="http", http_version="1.1", server="127.0.0.1:8000", client="127.0.0.1:51000",
                           scheme="http", method=method, path=path, query_string=query, authority=None,
                           headers=Headers(list(headers)))


class Proto:
    """An RSGI HTTP protocol whose body arrives in `chunks`, then ends (or breaks off with `error`)."""

    def __init__(self, chunks: list[bytes], error: Exception | None = None):
        self.chunks, self.error, self.read = chunks, error, 0
        self.answer: tuple | None = None

    def __aiter__(self) -> Any:
        return self._stream()

    async def _stream(self) -> Any:
        for chunk in self.chunks:
            self.read += 1
            yield chunk
        if self.error is not None:
            raise self.error

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.answer = (status, headers, body)


def test_the_environ_is_what_a_wsgi_server_builds():
    environ = wsgi_environ(scope("POST", "/api/manage/v1/projects/€", "a=%20b&c", [
        ("host", "127.0.0.1:8000"), ("content-type", "application/json"), ("content-length", "2"),
        ("x-dup", "1"), ("x-dup", "2"), ("cookie", "a=1"), ("cookie", "b=2"), ("authorization", "Bearer k")]), b"{}")
    assert environ["REQUEST_METHOD"] == "POST" and environ["QUERY_STRING"] == "a=%20b&c"
    assert environ["PATH_INFO"] == "/api/manage/v1/projects/€".encode().decode("latin-1")  # PEP 3333: bytes as latin-1
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"], environ["REMOTE_ADDR"]) == ("127.0.0.1", "8000", "127.0.0.1")
    assert (environ["CONTENT_TYPE"], environ["CONTENT_LENGTH"]) == ("application/json", "2")
    assert environ["HTTP_X_DUP"] == "1,2" and environ["HTTP_COOKIE"] == "a=1;b=2"
    assert environ["HTTP_AUTHORIZATION"] == "Bearer k" and environ["HTTP_HOST"] == "127.0.0.1:8000"
    assert "HTTP_CONTENT_TYPE" not in environ and environ["wsgi.input"].read() == b"{}"
    chunked = wsgi_environ(scope("POST", headers=[("transfer-encoding", "chunked")]), b'{"a": 1}')
    assert chunked["CONTENT_LENGTH"] == "8" and "HTTP_TRANSFER_ENCODING" not in chunked


def read(s: Any, proto: Proto) -> bytes:
    return asyncio.run(read_body(s, proto))


def test_bodies_are_read_whole_up_to_the_limit():
    assert read(scope("POST", headers=[("content-length", "6")]), Proto([b"ab", b"cd", b"ef"])) == b"abcdef"
    chunked = [("transfer-encoding", "chunked")]
    assert read(scope("POST", headers=chunked), Proto([b"x" * 1000])) == b"x" * 1000
    endless = Proto([b"y" * 65536] * 100)  # 6.4 MiB offered: reading stops just past the limit
    assert read(scope("POST", headers=chunked), endless) == b"y" * (MAX_BODY_BYTES + 1)
    assert endless.read == MAX_BODY_BYTES // 65536 + 1
    too_long = Proto([b"z"])
    assert read(scope("POST", headers=[("content-length", str(MAX_BODY_BYTES + 1))]), too_long) == b""
    assert too_long.read == 0  # declared over the limit: not read at all, the app answers 413 from the header
    assert read(scope("GET"), Proto([b"ignored"])) == b""
    cut = Proto([b'{"name": '], error=ConnectionResetError("gone"))
    assert read(scope("POST", headers=[("content-length", "20")]), cut) == b'{"name": '


def test_an_answer_goes_back_whole_and_a_body_that_ended_early_is_a_400():
    seen: list[dict] = []

    def app(environ: dict, start_response: Any) -> list[bytes]:
        seen.append(environ)
        body = environ["wsgi.input"].read()
        status = "400 BAD REQUEST" if len(body) < int(environ.get("CONTENT_LENGTH") or 0) else "201 CREATED"
        start_response(status, [("Content-Type", "application/json")])
        return [b'{"got": ', str(len(body)).encode(), b"}"]

    bridge = RsgiBridge(app, may_wait=lambda environ: False, threads=2)
    whole = Proto([b"abcd"])
    asyncio.run(bridge(scope("POST", "/x", headers=[("content-length", "4")]), whole))
    assert whole.answer == (201, [("Content-Type", "application/json")], b'{"got": 4}')
    cut = Proto([b"ab"], error=ConnectionResetError("gone"))
    asyncio.run(bridge(scope("POST", "/x", headers=[("content-length", "4")]), cut))
    assert cut.answer is not None and cut.answer[0] == 400
    waited = Proto([])
    bridge.may_wait = lambda environ: True  # answered on the pool, the same way
    asyncio.run(bridge(scope("GET", "/y"), waited))
    assert waited.answer is not None and waited.answer[0] == 201 and seen[-1]["PATH_INFO"] == "/y"
    assert seen[-1]["wsgi.input"] is not seen[0]["wsgi.input"]
    bridge.close()


# ── served by granian, as `modelux-mock serve` runs ────────────────────────────────────────────

served = pytest.mark.skipif(not granian_available(), reason="granian does not run on this platform")


@pytest.fixture(scope="module")
def server():
    process, url = start("--empty", "--threads", "4")
    try:
        yield url
    finally:
        stop(process)


def journal(url: str, **filters: str) -> list[dict]:
    answer = httpx.get(url + "/__mock/requests", params=filters, headers=AUTH, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def interval(entry: dict) -> tuple[float, float]:
    """When the mock began and finished answering a journaled request (its own clock, in seconds)."""
    begun = datetime.fromisoformat(entry["at"].replace("Z", "+00:00")).timestamp()
    return begun, begun + entry["duration_ms"] / 1000


@served
def test_requests_are_answered_while_another_waits_out_its_delay(server):
    slow: dict[str, httpx.Response] = {}
    waiting = threading.Thread(target=lambda: slow.setdefault("answer", httpx.get(
        server + "/api/manage/v1/projects", params={"slow": "1"}, headers={**AUTH, "Prefer": "delay=2500"},
        timeout=30)))
    waiting.start()
    quick = 0
    with httpx.Client(headers=AUTH, timeout=30) as client:
        while waiting.is_alive() and quick < 2000:  # bounded: each is answered at once unless held behind the delay
            assert client.post(server + "/api/manage/v1/projects", json={"name": f"quick {quick}"}).status_code == 201
            quick += 1
    waiting.join(timeout=30)
    assert slow["answer"].status_code == 200 and slow["answer"].headers["Preference-Applied"] == "delay=2500"
    [delayed] = [e for e in journal(server, method="GET", path="/projects") if e["query"] == "slow=1"]
    begun, ended = interval(delayed)
    assert ended - begun >= 2.5  # it did wait out its delay...
    during = [e for e in journal(server, method="POST", limit="2000") if begun < interval(e)[0] < ended]
    assert during  # ...and other requests were answered meanwhile, not after it


@served
def test_delayed_requests_wait_side_by_side(server):
    answers: list[httpx.Response] = []
    waiting = [threading.Thread(target=lambda i=i: answers.append(httpx.get(
        server + "/api/manage/v1/projects", params={"side": str(i)}, headers={**AUTH, "Prefer": "delay=1500"},
        timeout=30))) for i in range(3)]
    for thread in waiting:
        thread.start()
    for thread in waiting:
        thread.join(timeout=30)
    assert [a.status_code for a in answers] == [200] * 3
    spans = [interval(e) for e in journal(server, method="GET", path="/projects") if e["query"].startswith("side=")]
    assert len(spans) == 3
    assert max(begun for begun, _ in spans) < min(ended for _, ended in spans)  # all three were waiting at once


@served
def test_head_chunked_and_oversized_bodies_over_http(server):
    api = server + "/api/manage/v1"
    listed = httpx.get(api + "/projects", headers=AUTH)
    head = httpx.head(api + "/projects", headers=AUTH)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == listed.headers["content-length"]

    def chunks(data: bytes) -> Any:
        for start_at in range(0, len(data), 4096):
            yield data[start_at:start_at + 4096]

    created = httpx.post(api + "/projects", content=chunks(b'{"name": "Sent in chunks"}'),
                         headers={**AUTH, "Content-Type": "application/json"})
    assert created.status_code == 201 and created.json()["data"]["name"] == "Sent in chunks"
    too_big = httpx.post(api + "/projects", content=chunks(b" " * (MAX_BODY_BYTES + 10)),
                         headers={**AUTH, "Content-Type": "application/json"})
    assert too_big.status_code == 413 and too_big.json()["code"] == "payload_too_large"
    names = [p["name"] for p in httpx.get(api + "/projects", headers=AUTH).json()["data"]]
    assert names.count("Sent in chunks") == 1
