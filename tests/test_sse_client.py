"""The client against a real SSE server on 127.0.0.1 that writes each chunk separately."""

from __future__ import annotations

import json
import threading
import time

import pytest

from devkit.sse_server import Request, Writer
from tests.helpers import collect, options, run
from utils.errors import ConnectFailed, HTTPStatusError, NotEventStream
from utils.sse_client import SSEClient


def test_split_crlf_and_split_utf8_across_network_chunks(server):
    text = "data: 你好\r\n\r\n".encode()
    server.route("/s", None, b"data: a\r", b"\ndata: b\r\n", b"\r", b"\n", text[:7], text[7:9], text[9:])
    assert collect(SSEClient(options(url=server.url + "/s"))) == [
        ("message", "a\nb", ""), ("message", "你好", "")]


def test_each_event_is_yielded_before_the_server_sends_the_next(server):
    gate = threading.Event()

    def slow(request: Request, writer: Writer) -> None:
        writer.send("data: first\n\n")
        gate.wait(10)  # the second event waits until the client has the first
        writer.send("data: second\n\n")
        writer.end()

    server.route("/s", slow)
    stream = SSEClient(options(url=server.url + "/s")).stream()
    first = next(stream)
    assert [e.data for e in first] == ["first"]
    gate.set()
    assert [e.data for batch in stream for e in batch] == ["second"]


def test_request_carries_sse_headers_method_query_body_and_auth(server):
    server.route("/s", None, "data: ok\n\n")
    client = SSEClient(options(url=server.url + "/s?x=1", method="POST", query_params="a=1&b=2",
                               body='{"q": "hi"}', headers="X-One: 1\nAccept: text/event-stream",
                               auth_type="bearer", auth_token="tok-123456"))
    assert collect(client) == [("message", "ok", "")]
    req = server.requests[0]
    assert req.method == "POST"
    assert req.query == {"x": "1", "a": "1", "b": "2"}
    assert json.loads(req.body) == {"q": "hi"}
    assert req.headers["content-type"] == "application/json"
    assert req.headers["accept"] == "text/event-stream"
    assert req.headers["cache-control"] == "no-cache"
    assert req.headers["authorization"] == "Bearer tok-123456"
    assert req.headers["x-one"] == "1"
    assert "last-event-id" not in req.headers


def test_user_content_type_is_kept(server):
    server.route("/s", None, "data: ok\n\n")
    collect(SSEClient(options(url=server.url + "/s", method="POST", body='{"a": 1}',
                              headers='{"Content-Type": "application/vnd.api+json"}')))
    assert server.requests[0].headers["content-type"] == "application/vnd.api+json"


def test_non_2xx_fails_with_status_and_start_of_body(server):
    server.route("/s", lambda r, w: w.body(401, '{"code": "unauthorized", "message": "Access token is invalid"}'))
    with pytest.raises(HTTPStatusError) as err:
        collect(SSEClient(options(url=server.url + "/s", max_retries=3)))
    message = str(err.value)
    assert message.startswith("HTTP 401 Unauthorized")
    assert "Access token is invalid" in message and "\n" not in message
    assert len(server.requests) == 1  # never retried


def test_error_body_is_cut_to_a_few_hundred_bytes(server):
    server.route("/s", lambda r, w: w.body(400, "x" * 5000))
    with pytest.raises(HTTPStatusError) as err:
        collect(SSEClient(options(url=server.url + "/s")))
    assert len(str(err.value)) < 400


def test_wrong_content_type_fails_with_body(server):
    server.route("/s", lambda r, w: w.body(200, '{"answer": "not a stream"}'))
    with pytest.raises(NotEventStream) as err:
        collect(SSEClient(options(url=server.url + "/s")))
    assert "application/json" in str(err.value) and "not a stream" in str(err.value)


@pytest.mark.parametrize("content_type", ["Text/Event-Stream", "text/event-stream;", "TEXT/EVENT-STREAM; charset=utf-8"])
def test_content_type_essence_is_case_insensitive(server, content_type):
    def route(r, w):
        w.start(content_type=content_type)
        w.send("data: ok\n\n")
        w.end()

    server.route("/s", route)
    assert collect(SSEClient(options(url=server.url + "/s"))) == [("message", "ok", "")]


@pytest.mark.parametrize("content_type", ["text/event-streams", "application/json, text/event-stream", None])
def test_lookalike_or_missing_content_type_fails(server, content_type):
    def route(r, w):
        w.start(content_type=content_type)
        w.send("data: ok\n\n")
        w.end()

    server.route("/s", route)
    with pytest.raises(NotEventStream):
        collect(SSEClient(options(url=server.url + "/s")))


def test_charset_in_content_type_is_ignored(server):
    def route(r, w):
        w.start(content_type="text/event-stream; charset=windows-1252")
        w.send("data: é\n\n".encode())
        w.end()

    server.route("/s", route)
    assert collect(SSEClient(options(url=server.url + "/s"))) == [("message", "é", "")]


def test_connection_refused_fails_with_one_line():
    client = SSEClient(options(url="http://127.0.0.1:9/s", max_retries=0))
    with pytest.raises(ConnectFailed) as err:
        collect(client)
    assert "\n" not in str(err.value) and "127.0.0.1:9" in str(err.value)


def test_unterminated_final_event_is_not_delivered_on_close(server):
    server.route("/s", None, "data: a\n\n", "data: half")
    assert collect(SSEClient(options(url=server.url + "/s"))) == [("message", "a", "")]


def test_summary_of_a_plain_run(server):
    server.route("/s", None, "id: 1\ndata: a\n\n", "data: b\n\n", "event: done\ndata: c\n\n")
    chunks, summary = run({"url": server.url + "/s"})
    assert "".join(c.text for c in chunks) == "a\nb\nc\n"
    assert summary["success"] is True and summary["status"] == "completed"
    assert summary["total_events"] == 3 and summary["http_status"] == 200
    assert [(e["event_type"], e["data"], e["event_id"]) for e in summary["events"]] == [
        ("message", "a", "1"), ("message", "b", "1"), ("done", "c", "1")]
    assert summary["connection_duration"] >= 0 and isinstance(summary["summary"], str)


def test_redirect_is_followed(server):
    server.route("/old", lambda r, w: w.body(302, "", headers={"Location": "/new"}))
    server.route("/new", None, "data: moved\n\n")
    assert collect(SSEClient(options(url=server.url + "/old"))) == [("message", "moved", "")]


def test_gzip_encoded_stream_is_decoded(server):
    import gzip

    body = gzip.compress(b"data: zipped\n\n")

    def route(r, w):
        w.start(headers={"Content-Encoding": "gzip"})
        w.send(body)
        w.end()

    server.route("/s", route)
    assert collect(SSEClient(options(url=server.url + "/s"))) == [("message", "zipped", "")]


def test_timestamps_are_iso_utc(server):
    server.route("/s", None, "data: a\n\n")
    _, summary = run({"url": server.url + "/s"})
    stamp = summary["events"][0]["timestamp"]
    assert stamp.endswith("Z") and time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")
