"""The transport's one-line failures and its limits, through the plugin started as the daemon
starts it: what a Dify user sees is an error frame with one line, never a traceback."""

from __future__ import annotations

import time

import pytest

from devkit.bench.transport import bomb, encoded_route
from devkit.plugin_runner import error_of, summary_of
from devkit.sse_server import Request, Writer
from tests.raw_server import RawServer, trickle


def one_line_error(frames) -> dict:
    error = error_of(frames)
    assert error is not None, [f.obj for f in frames]
    assert "\n" not in error["message"] and "Traceback" not in error["message"]
    return error


@pytest.mark.parametrize("status", [202, 204])
def test_a_2xx_other_than_200_fails_the_node_naming_the_status(plugin, server, status):
    server.route("/s", lambda r, w: w.body(status, "", content_type="text/event-stream"))
    error = one_line_error(plugin.collect(plugin.invoke("sse_request", {"url": server.url + "/s"})))
    assert error["message"].startswith(f"HTTP {status} ") and "must answer 200" in error["message"]


def test_a_redirect_to_a_bad_idna_host_fails_with_one_line(plugin, server):
    server.route("/r", lambda r, w: w.body(302, "", headers={"Location": "http://xn--a-.com/x"}))
    error = one_line_error(plugin.collect(plugin.invoke("sse_request", {"url": server.url + "/r"})))
    assert error["error_type"] == "BlockedAddress" and "invalid URL" in error["message"]


def test_a_corrupt_gzip_body_fails_with_one_line(plugin, server):
    def route(request: Request, writer: Writer) -> None:
        writer.start(headers={"Content-Encoding": "gzip"})
        writer.send(b"\x1f\x8b\x08\x00" + b"\xff" * 60)
        writer.end()

    server.route("/s", route)
    error = one_line_error(plugin.collect(plugin.invoke("sse_request", {"url": server.url + "/s"})))
    assert error["message"].startswith("The response body is not valid gzip data")


def test_a_gzip_bomb_ends_at_max_stream_mb_with_its_summary(plugin, server):
    server.route("/s", encoded_route(bomb(64), "gzip, gzip"))
    params = {"url": server.url + "/s", "max_stream_mb": 1, "output_mode": "summary", "stream_format": "raw"}
    # A size limit makes the run incomplete (issue 12): the node fails, the error line naming the limit...
    failed = plugin.collect(plugin.invoke("sse_request", params), 60)
    assert "max_stream_bytes" in one_line_error(failed)["message"] and summary_of(failed) is None
    # ...and with fail_on_stream_error off the run finishes with its summary.
    frames = plugin.collect(plugin.invoke("sse_request", {**params, "fail_on_stream_error": False}), 60)
    summary = summary_of(frames)
    assert summary["status"] == "max_stream_bytes" and summary["bytes_received"] < 2 * 1024 * 1024
    assert summary["success"] is False and "max_stream_mb" in summary["error"]


def test_max_duration_holds_through_the_plugin_when_headers_trickle(plugin):
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nX-Pad: " + b"a" * 400 + b"\r\n\r\n"
    with RawServer(lambda conn, request, stop: trickle(conn, head, 0.25, stop)) as raw:
        started = time.monotonic()
        frames = plugin.collect(plugin.invoke("sse_request", {"url": raw.url + "/s", "max_duration": 2,
                                                              "read_timeout": 60, "timeout": 60}), 30)
        elapsed = time.monotonic() - started
    assert elapsed < 2 + 2.0  # max_duration plus a loose margin for the plugin's own work
    assert "max_duration" in one_line_error(frames)["message"]
