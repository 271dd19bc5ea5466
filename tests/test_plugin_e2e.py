"""End to end: the plugin started as Dify's daemon starts it (python -m main, INSTALL_METHOD=local,
JSON lines over stdio), against a real SSE server on 127.0.0.1."""

from __future__ import annotations

import json
import threading

from devkit.plugin_runner import error_of, summary_of, texts
from devkit.sse_server import Request, Writer
from tests.helpers import resumable


def test_provider_validates_an_empty_credential_set(plugin):
    frames = plugin.collect(plugin.validate({}))
    assert frames[0].obj["data"]["data"] == {"result": True} and frames[-1].kind == "end"


def test_first_event_frame_arrives_before_the_server_sends_the_second(plugin, server):
    gate = threading.Event()

    def gated(request: Request, writer: Writer) -> None:
        writer.send("data: first\n\n")
        gate.wait(20)  # held until the test has seen the first frame (or gives up)
        writer.send("data: second\n\n")
        writer.end()

    server.route("/s", gated)
    session = plugin.invoke("sse_request", {"url": server.url + "/s"})
    frames = plugin.frames_of(session, timeout=30)
    first = next(f for f in frames if f.kind == "stream")
    assert first.message["type"] == "text" and first.message["message"]["text"] == "first\n"
    assert not gate.is_set()  # the server has not sent the second event yet
    gate.set()
    rest = list(frames)
    assert texts(rest) == ["second\n"]


def test_summary_is_last_and_well_formed(plugin, server):
    server.route("/s", None, "id: 7\nevent: greet\ndata: hello\n\n", "data: world\n\n")
    frames = plugin.collect(plugin.invoke("sse_request", {"url": server.url + "/s"}))
    kinds = [f.message.get("type") for f in frames if f.kind == "stream"]
    assert kinds[-1] == "json" and frames[-1].kind == "end"
    summary = summary_of(frames)
    assert summary["success"] is True and summary["status"] == "completed"
    assert summary["total_events"] == 2 and summary["http_status"] == 200
    assert summary["events"] == [
        {"event_type": "greet", "data": "hello", "event_id": "7", "timestamp": summary["events"][0]["timestamp"]},
        {"event_type": "message", "data": "world", "event_id": "7", "timestamp": summary["events"][1]["timestamp"]},
    ]
    assert isinstance(summary["connection_duration"], float) and summary["summary"]
    variables = {f.message["message"]["variable_name"]: f.message["message"]["variable_value"]
                 for f in frames if f.kind == "stream" and f.message.get("type") == "variable"}
    assert variables["status"] == "completed" and variables["total_events"] == 2 and variables["success"] is True
    assert max(len(f.raw) for f in frames) < 5 * 1024 * 1024


def test_events_mode_streams_one_json_line_per_event(plugin, server):
    server.route("/s", None, "event: a\nid: 1\ndata: x\n\nevent: b\ndata: y\n\n")  # both in one network chunk
    frames = plugin.collect(plugin.invoke("sse_request", {"url": server.url + "/s", "output_mode": "events"}))
    lines = "".join(texts(frames)).splitlines()
    records = [json.loads(line) for line in lines]
    assert [(r["type"], r["event_type"], r["data"], r["event_id"]) for r in records] == [
        ("event", "a", "x", "1"), ("event", "b", "y", "1")]
    assert all(r["timestamp"].endswith("Z") for r in records)


def test_summary_mode_sends_nothing_per_event(plugin, server):
    server.route("/s", None, *[f"data: {n}\n\n" for n in range(5)])
    frames = plugin.collect(plugin.invoke("sse_request", {"url": server.url + "/s", "output_mode": "summary"}))
    assert texts(frames) == [] and summary_of(frames)["total_events"] == 5


def test_refused_connection_ends_in_error_frame_then_end(plugin):
    frames = plugin.collect(plugin.invoke("sse_request", {"url": "http://127.0.0.1:9/s", "max_retries": 0}))
    assert [f.kind for f in frames] == ["error", "end"]
    error = error_of(frames)
    assert error["error_type"] == "ConnectFailed" and "\n" not in error["message"]


def test_non_2xx_ends_in_error_frame_with_status_and_body(plugin, server):
    server.route("/s", lambda r, w: w.body(404, '{"code": "not_found", "message": "Conversation Not Exists."}'))
    frames = plugin.collect(plugin.invoke("sse_request", {"url": server.url + "/s"}))
    assert [f.kind for f in frames] == ["error", "end"]
    assert error_of(frames)["message"].startswith("HTTP 404") and "Conversation Not Exists." in error_of(frames)[
        "message"]


def test_reconnect_resumes_without_duplicates_through_the_plugin(plugin, server):
    server.route("/s", resumable(last=5, drop_after=3, data="{n}"))
    frames = plugin.collect(plugin.invoke("sse_request", {"url": server.url + "/s"}))
    assert "".join(texts(frames)) == "1\n2\n3\n4\n5\n"
    summary = summary_of(frames)
    assert summary["reconnects"] == 1 and summary["total_events"] == 5 and summary["last_event_id"] == "5"


def test_timeout_still_yields_the_summary(plugin, server):
    server.route("/s", None, "data: a\n\n", 5.0, "data: late\n\n")
    frames = plugin.collect(plugin.invoke("sse_request", {"url": server.url + "/s", "max_duration": 1}))
    summary = summary_of(frames)
    assert summary["status"] == "timeout" and summary["total_events"] == 1 and frames[-1].kind == "end"
    assert error_of(frames) is None


def test_provider_accepts_good_credentials_and_checks_test_url(plugin, server):
    server.route("/events", None, ": hello\n\n")
    good = {"allowed_hosts": "127.0.0.1, *.example.com, 10.0.0.0/8", "allow_private_networks": "true",
            "default_headers": "X-Gateway-Key: gk-1", "test_url": server.url + "/events"}
    frames = plugin.collect(plugin.validate(good))
    assert frames[0].obj["data"]["data"] == {"result": True}
    assert server.requests[-1].headers["x-gateway-key"] == "gk-1"


def test_provider_refuses_bad_credentials_with_a_clear_message(plugin, server):
    server.route("/json", lambda r, w: w.body(200, '{"not": "a stream"}'))
    cases = [
        ({"allowed_hosts": "not a host!"}, "allowed_hosts"),
        ({"default_headers": "Bad Header: x"}, "default_headers"),
        ({"test_url": "ftp://x"}, "test_url"),
        ({"test_url": server.url + "/json"}, "text/event-stream"),
        ({"test_url": "http://169.254.169.254/latest"}, "metadata"),
        ({"test_url": server.url + "/json", "allow_private_networks": "false"}, "private"),
    ]
    for credentials, word in cases:
        frames = plugin.collect(plugin.validate(credentials))
        error = error_of(frames)
        assert error is not None, credentials
        assert error["error_type"] == "ToolProviderCredentialValidationError"
        assert word in error["message"] and "\n" not in error["message"]
