"""End to end in the SDK's serverless mode: ``INSTALL_METHOD=serverless`` on a loopback port,
``GET /health``, then ``POST /invoke`` with one request frame per call (what Dify's serverless
runtime does). The plugin must behave there as it does over stdio.

Timing checks are ordering facts only (the client saw event 1 before the server sent event 2),
made deterministic by routes that wait for the test instead of sleeping a fixed time.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from devkit.plugin_runner import tool_outputs
from devkit.serverless_runner import ServerlessPlugin, error_of, free_port, summary_of, texts
from devkit.sse_server import Request, SSEServer, Writer

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
PYTHON = str(VENV_PYTHON) if VENV_PYTHON.exists() else None
TOOL = "sse_request"
CONCURRENT = 20
GATE_S = 15.0  # how long a route waits for the test before going on anyway (only reached on failure)


@pytest.fixture(scope="module")
def server():
    with SSEServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def plugin():
    kwargs = {"python": PYTHON} if PYTHON else {}
    with ServerlessPlugin(**kwargs) as proc:
        proc.wait_ready(60)
        yield proc


def stream_frames(frames):
    return [f for f in frames if f.kind == "stream"]


def test_health_and_provider_validation(plugin: ServerlessPlugin, server: SSEServer) -> None:
    assert plugin.client.get("/health").text == "OK"
    server.route("/validate", None, "data: ok\n\n")

    ok = plugin.validate({"test_url": f"{server.url}/validate", "default_headers": "X-Gateway: v1"})
    assert [f.kind for f in ok] == ["stream", "end"]
    assert ok[0].obj["data"]["data"] == {"result": True}
    assert server.requests[-1].headers.get("x-gateway") == "v1"

    empty = plugin.validate({})
    assert empty[0].obj["data"]["data"] == {"result": True}

    bad = plugin.validate({"test_url": f"{server.url}/no-such-route"})
    assert bad[-1].kind == "end"
    error = error_of(bad)
    assert error is not None, [f.obj for f in bad]
    assert "404" in error["message"]


def test_first_event_arrives_before_the_server_sends_the_second(plugin: ServerlessPlugin,
                                                                 server: SSEServer) -> None:
    first_seen = threading.Event()
    writers: list[Writer] = []

    def route(request: Request, writer: Writer) -> None:
        writers.append(writer)
        writer.start()
        writer.send("data: one\n\n")
        first_seen.wait(GATE_S)  # event 2 waits until the client has event 1 (or the gate times out)
        writer.send("data: two\n\n")
        writer.send("data: three\n\n")
        writer.end()

    server.route("/gated", route)
    frames = []
    first_text_at = None
    for frame in plugin.invoke_stream(TOOL, {"url": f"{server.url}/gated"}):
        frames.append(frame)
        if first_text_at is None and frame.kind == "stream" and frame.message.get("type") == "text":
            first_text_at = frame.at
            assert frame.message["message"]["text"].strip() == "one"
            first_seen.set()

    (writer,) = writers
    assert first_text_at is not None
    assert len(writer.sent_at) == 3
    assert first_text_at < writer.sent_at[1], "event 1 was held back until the server sent event 2"
    assert "".join(texts(frames)).split() == ["one", "two", "three"]


def test_summary_is_last_and_well_formed(plugin: ServerlessPlugin, server: SSEServer) -> None:
    server.route("/three", None, "data: a\n\n", 0.05, "id: 7\ndata: b\n\n", 0.05, "data: c\n\n")
    frames = plugin.invoke(TOOL, {"url": f"{server.url}/three"})

    assert frames[-1].kind == "end"
    body = stream_frames(frames)
    assert all(f.session == frames[0].session for f in frames)
    last = body[-1].message
    assert last["type"] == "json"
    summary = last["message"]["json_object"]
    json.dumps(summary)  # serializable as it is
    assert summary == summary_of(frames)
    assert summary["success"] is True
    assert summary["status"] == "completed"
    assert summary["total_events"] == 3
    assert summary["http_status"] == 200
    assert summary["last_event_id"] == "7"
    assert summary["answer"] == "".join(texts(frames))
    assert summary["answer"].split() == ["a", "b", "c"]
    # Nothing but the summary's variables sits between the text and the summary.
    kinds = [f.message["type"] if not f.message["message"].get("stream") else "stream_variable" for f in body]
    assert kinds[-1] == "json" and "text" not in kinds[kinds.index("variable"):]
    variables = tool_outputs(body)
    assert variables["success"] is True and variables["total_events"] == 3


def test_connection_refused_is_an_error_frame(plugin: ServerlessPlugin) -> None:
    closed = free_port()  # nothing listens there
    frames = plugin.invoke(TOOL, {"url": f"http://127.0.0.1:{closed}/stream", "max_retries": 0})
    assert frames[-1].kind == "end"
    error = error_of(frames)
    assert error is not None
    assert error["error_type"] == "ConnectFailed"
    assert "refused" in error["message"].lower()
    assert summary_of(frames) is None


def test_bad_parameter_is_an_error_frame(plugin: ServerlessPlugin, server: SSEServer) -> None:
    before = len(server.requests)
    frames = plugin.invoke(TOOL, {"url": f"{server.url}/three", "method": "FETCH"})
    assert frames[-1].kind == "end"
    error = error_of(frames)
    assert error is not None
    assert error["error_type"] == "InvalidParameter"
    assert "'method'" in error["message"]
    assert len(server.requests) == before  # refused before any connection


def test_twenty_invocations_at_once(plugin: ServerlessPlugin, server: SSEServer) -> None:
    # Every call waits at the barrier until all of them are open, so they really run at once;
    # a plugin that served them one by one would break the barrier and fail the calls.
    barrier = threading.Barrier(CONCURRENT, timeout=GATE_S)

    def route(request: Request, writer: Writer) -> None:
        n = request.query["n"]
        writer.start()
        writer.send(f"data: {n}-start\n\n")
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            writer.send("event: error\ndata: barrier broken\n\n")
        for i in range(3):
            writer.send(f"data: {n}-{i}\n\n")
        writer.end()

    server.route("/many", route)

    def call(n: int):
        return plugin.invoke(TOOL, {"url": f"{server.url}/many?n={n}"}, timeout=60)

    with ThreadPoolExecutor(CONCURRENT) as pool:
        results = list(pool.map(call, range(CONCURRENT)))

    assert not barrier.broken
    sessions = set()
    for n, frames in enumerate(results):
        assert frames[-1].kind == "end"
        assert error_of(frames) is None
        sessions.add(frames[0].session)
        expected = [f"{n}-start", *(f"{n}-{i}" for i in range(3))]
        assert "".join(texts(frames)).split() == expected
        summary = summary_of(frames)
        assert summary is not None
        assert summary["success"] is True and summary["total_events"] == 4
        assert summary["answer"] == "".join(texts(frames))
    assert len(sessions) == CONCURRENT


def test_a_silent_server_ends_at_max_duration_with_an_error_frame(plugin: ServerlessPlugin,
                                                                    server: SSEServer) -> None:
    """The reply is never left to the SDK's idle cut-off (which ends it without an end frame):
    a server that never answers ends the call at max_duration, with an error frame."""
    release = threading.Event()

    def route(request: Request, writer: Writer) -> None:
        release.wait(GATE_S)  # no status line, no headers

    server.route("/silent", route)
    try:
        frames = plugin.invoke(TOOL, {"url": f"{server.url}/silent", "read_timeout": 60, "max_duration": 1,
                                      "max_retries": 0}, timeout=30)
    finally:
        release.set()
    assert frames[-1].kind == "end"
    error = error_of(frames)
    assert error is not None and "max_duration" in error["message"], [f.obj for f in frames]
