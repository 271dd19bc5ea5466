"""The HTTP attempt (utils/http_attempt.py) against real servers on 127.0.0.1: bounded decoding of
compressed bodies, the run's deadline over every phase, redirects that are refused or lose their
credentials, and the blocking client's oversized answer."""

from __future__ import annotations

import gzip
import json
import time
import zlib
from pathlib import Path

import pytest

from devkit.bench.transport import EVENT, bomb, encoded_route, peak_rss_of_one_stream
from devkit.sse_server import Request, SSEServer, Writer
from tests.helpers import collect, options
from tests.raw_server import RawServer, trickle
from tests.test_reconnect import resumed_with
from utils.errors import BadBody, BlockedAddress, ConnectFailed, HTTPStatusError, SSERequestError
from utils.http_attempt import PIECE
from utils.json_client import JSONClient
from utils.report import EndState
from utils.request_options import build_request_options
from utils.sse_client import SSEClient
from utils.sse_decoder import OversizedEvent

ROOT = Path(__file__).resolve().parent.parent
MARGIN_S = 1.5  # a bound on how late a run may end after max_duration, not a speed target


def compress(data: bytes, coding: str) -> bytes:
    if coding in ("gzip", "x-gzip"):
        return gzip.compress(data)
    if coding == "deflate":
        return zlib.compress(data)
    if coding == "raw-deflate":
        c = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        return c.compress(data) + c.flush()
    raise AssertionError(coding)


@pytest.fixture(scope="module")
def bomb_256() -> bytes:
    return bomb(256)


# -- 18.1 compressed bodies ---------------------------------------------------------------------
@pytest.mark.parametrize(("header", "codings"), [
    ("gzip", ["gzip"]), ("x-gzip", ["gzip"]), ("deflate", ["deflate"]), ("deflate", ["raw-deflate"]),
    ("gzip, gzip", ["gzip", "gzip"]), ("deflate, gzip", ["deflate", "gzip"]), ("identity", []),
    ("GZIP", ["gzip"]),
])
@pytest.mark.parametrize("pieces", [1, 7])
def test_each_coding_and_chain_is_decoded(server, header, codings, pieces):
    plain = b"".join(b"id: %d\ndata: event %d\n\n" % (n, n) for n in range(300))
    body = plain
    for coding in codings:  # in the order the header lists them, as the server applied them
        body = compress(body, coding)
    server.route("/s", encoded_route(body, header, pieces))
    client = SSEClient(options(url=server.url + "/s"))
    assert [data for _, data, _ in collect(client)] == [f"event {n}" for n in range(300)]
    assert client.report.bytes_received == len(plain)  # decoded bytes


def test_the_request_accepts_only_the_codings_decoded_with_bounded_steps(server):
    server.route("/s", None, "data: ok\n\n")
    collect(SSEClient(options(url=server.url + "/s")))
    assert server.requests[0].headers["accept-encoding"] == "gzip, deflate"


def test_a_double_gzip_bomb_stops_at_max_stream_mb_on_decoded_bytes(server, bomb_256):
    assert len(bomb_256) < 10_000  # 256 MiB of events in a few KB
    server.route("/s", encoded_route(bomb_256, "gzip, gzip"))
    client = SSEClient(options(url=server.url + "/s", max_stream_mb=1))
    events = sum(1 for _ in collect(client))
    report = client.report
    assert report.end is EndState.MAX_STREAM_BYTES
    assert report.error == f"max_stream_mb (1 MiB of decoded data) reached after {events} events"
    assert 1 << 20 < report.bytes_received <= (1 << 20) + PIECE
    assert events == report.events_received and events <= ((1 << 20) + PIECE) // len(EVENT)


@pytest.mark.parametrize("coding", ["br", "zstd", "compress", "gzip, br"])
def test_a_coding_not_decoded_here_fails_with_one_line(server, coding):
    server.route("/s", encoded_route(b"\x8b\x00 not really", coding))
    with pytest.raises(BadBody) as err:
        collect(SSEClient(options(url=server.url + "/s")))
    assert str(err.value).startswith("Content-Encoding '") and "not supported" in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_a_corrupt_compressed_body_before_any_event_fails_with_one_line(server, coding):
    body = compress(b"data: never\n\n", coding)
    server.route("/s", encoded_route(body[:4] + b"\xff" * 40 + body[4:], coding))
    with pytest.raises(BadBody) as err:
        collect(SSEClient(options(url=server.url + "/s", max_retries=3)))
    assert str(err.value).startswith(f"The response body is not valid {coding} data (")
    assert "\n" not in str(err.value) and len(server.requests) == 1


def test_a_corrupt_compressed_body_after_events_ends_lost_with_the_reason(server):
    c = zlib.compressobj(wbits=zlib.MAX_WBITS | 16)
    good = c.compress(b"id: 1\ndata: one\n\n") + c.flush(zlib.Z_SYNC_FLUSH)

    def route(request: Request, writer: Writer) -> None:
        writer.start(headers={"Content-Encoding": "gzip"})
        writer.send(good)
        writer.send(b"\xff" * 64)
        writer.end()

    server.route("/s", route)
    client = SSEClient(options(url=server.url + "/s"))
    assert [data for _, data, _ in collect(client)] == ["one"]
    assert client.report.end is EndState.LOST
    assert "The response body is not valid gzip data" in client.report.error
    assert len(server.requests) == 1  # a corrupt body would be corrupt again: not reconnected


@pytest.mark.slow
@pytest.mark.parametrize("max_stream_mb", [1, 0])
def test_peak_memory_stays_bounded_under_a_gzip_bomb(server, bomb_256, max_stream_mb):
    """A 3 KB body that inflates to 256 MiB: with a limit it stops there; without one every byte is
    decoded and decoded again as events, and the process's peak memory still barely moves."""
    server.route("/s", encoded_route(bomb_256, "gzip, gzip"))
    figures = peak_rss_of_one_stream(server.url + "/s", max_stream_mb)
    print(f"max_stream_mb={max_stream_mb}: {figures}")
    if max_stream_mb:
        assert figures["end"] == "max_stream_bytes"
    else:
        assert figures["end"] == "completed" and figures["bytes"] == 256 * 1024 * len(EVENT)
    assert figures["rise_mib"] < 32


# -- 18.5 the deadline covers every phase ------------------------------------------------------
def ends_within(max_duration: float, fn) -> tuple[float, object]:
    started = time.monotonic()
    try:
        result: object = fn()
    except SSERequestError as exc:
        result = exc
    elapsed = time.monotonic() - started
    assert elapsed < max_duration + MARGIN_S, f"ran {elapsed:.1f} s with max_duration {max_duration:g}"
    return elapsed, result


def trickled(fast: bytes, slow: bytes, interval: float = 0.25):
    """Sends ``fast`` at once, then ``slow`` a byte every ``interval`` s."""
    def handler(conn, request, stop) -> None:
        conn.sendall(fast)
        trickle(conn, slow, interval, stop)

    return handler


LONG_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nX-Pad: " + b"a" * 400 + b"\r\n\r\ndata: x\n\n")
ERROR_HEAD = b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 400\r\n\r\n"
BUSY_HEAD = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 400\r\n\r\n"


@pytest.mark.parametrize(("fast", "slow"), [
    (b"", LONG_HEAD),  # the status line and headers a byte at a time
    (ERROR_HEAD, b"e" * 400),  # an error body a byte at a time
    (BUSY_HEAD, b"b" * 400),  # a retryable status whose body trickles
], ids=["headers", "error-body", "retryable-body"])
def test_max_duration_holds_whatever_the_server_trickles(fast, slow):
    with RawServer(trickled(fast, slow)) as raw:
        client = SSEClient(options(url=raw.url + "/s", max_duration=2, read_timeout=60, timeout=60,
                                   max_retries=5, retry_interval=10))
        _, result = ends_within(2, lambda: collect(client))
    assert isinstance(result, SSERequestError), result
    assert "\n" not in str(result)


def test_max_duration_holds_for_a_tls_handshake_that_never_answers():
    with RawServer(lambda conn, head, stop: stop.wait(30), read_request=False) as raw:
        client = SSEClient(options(url=f"https://127.0.0.1:{raw.port}/s", max_duration=2, timeout=60,
                                   read_timeout=60))
        _, result = ends_within(2, lambda: collect(client))
    assert isinstance(result, ConnectFailed) and "max_duration" in str(result)


def test_max_duration_holds_for_a_retry_after_longer_than_the_run(server):
    server.route("/s", lambda r, w: w.body(503, "busy", headers={"Retry-After": "120"}))
    client = SSEClient(options(url=server.url + "/s", max_duration=2, max_retries=5))
    _, result = ends_within(2, lambda: collect(client))
    assert isinstance(result, ConnectFailed) and "max_duration" in str(result) and len(server.requests) == 1


def test_max_duration_holds_for_a_trickled_stream_after_events():
    """Events, then a byte every 0.25 s that never completes a line: read_timeout never fires."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: first\n\n"

    def handler(conn, request, stop) -> None:
        conn.sendall(head)
        trickle(conn, b":" + b"x" * 200, 0.25, stop)

    with RawServer(handler) as raw:
        client = SSEClient(options(url=raw.url + "/s", max_duration=2, read_timeout=60))
        _, result = ends_within(2, lambda: collect(client))
    assert result == [("message", "first", "")]
    assert client.report.end is EndState.TIMEOUT and "max_duration" in client.report.error


def test_the_blocking_client_keeps_the_deadline_on_a_trickled_answer():
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n"
    with RawServer(trickled(head, b" " * 400)) as raw:
        opts = build_request_options({"url": raw.url + "/s", "method": "POST", "body": "{}", "max_duration": 2,
                                      "read_timeout": 60})
        client = JSONClient(opts, event_type="blocking")
        _, result = ends_within(2, lambda: list(client.stream()))
    assert isinstance(result, ConnectFailed) and "max_duration" in str(result)


# -- 18.8 redirects the client cannot follow ----------------------------------------------------
@pytest.mark.parametrize("location", ["http://xn--a-.com/x", "//xn--a-.com/p", "http://xn--/", "http://[::1/",
                                      "http://xn--ls8h.la:80x/", "http://" + "a" * 300 + ".com/",
                                      "http://ex\u00e4mple..com/"])
def test_a_redirect_to_an_invalid_url_fails_with_one_line(server, location):
    server.route("/r", lambda r, w: w.body(302, "", headers={"Location": location}))
    with pytest.raises(SSERequestError) as err:
        collect(SSEClient(options(url=server.url + "/r", max_retries=3)))
    message = str(err.value)
    assert isinstance(err.value, BlockedAddress)
    assert "to an invalid URL refused" in message or "is not a valid host name" in message
    assert "\n" not in message and len(server.requests) == 1  # not retried


def test_an_invalid_redirect_after_events_is_a_report(server):
    server.route("/s", resumed_with(lambda r, w: w.body(302, "", headers={"Location": "http://xn--a-.com/x"})))
    client = SSEClient(options(url=server.url + "/s"))
    assert len(collect(client)) == 1
    assert client.report.end is EndState.LOST and "invalid URL" in client.report.error


# -- redirect forwarding: credentials stay with their origin -----------------------------------
SECRET_HEADERS = {"authorization", "x-api-key", "x-tenant-key", "api-key", "x-goog-api-key"}


def redirect_options(target: str):
    params = {"url": target, "auth_type": "bearer", "auth_token": "tok-abcdefgh-123",
              "headers": json.dumps({"X-Trace": "1", "api-key": "user-key-1234567", "X-Goog-Api-Key": "g-12345678"})}
    defaults = [("X-API-Key", "admin-key-12345678"), ("X-Tenant-Key", "tenant-secret-987")]
    return build_request_options(params, defaults)


def test_a_redirect_to_another_origin_drops_every_credential_and_default_header(server):
    with SSEServer() as other:
        other.route("/s", None, "data: there\n\n")
        server.route("/r", lambda r, w: w.body(307, "", headers={"Location": other.url + "/s"}))
        assert collect(SSEClient(redirect_options(server.url + "/r"))) == [("message", "there", "")]
        first, hop = server.requests[0].headers, other.requests[0].headers
    assert SECRET_HEADERS <= set(first)
    assert not SECRET_HEADERS & set(hop), hop
    assert hop["x-trace"] == "1" and hop["accept"] == "text/event-stream"


def test_a_redirect_within_the_origin_keeps_them(server):
    server.route("/r", lambda r, w: w.body(307, "", headers={"Location": "/s"}))
    server.route("/s", None, "data: here\n\n")
    assert collect(SSEClient(redirect_options(server.url + "/r"))) == [("message", "here", "")]
    hop = server.requests[1].headers
    assert SECRET_HEADERS <= set(hop) and hop["authorization"] == "Bearer tok-abcdefgh-123"


def test_a_hop_back_to_the_first_origin_does_not_get_them_back(server):
    with SSEServer() as other:
        other.route("/b", lambda r, w: w.body(302, "", headers={"Location": server.url + "/s"}))
        server.route("/r", lambda r, w: w.body(302, "", headers={"Location": other.url + "/b"}))
        server.route("/s", None, "data: back\n\n")
        assert collect(SSEClient(redirect_options(server.url + "/r"))) == [("message", "back", "")]
    assert not SECRET_HEADERS & set(server.requests[1].headers)


# -- the blocking client ------------------------------------------------------------------------
def test_a_blocking_answer_over_max_event_kb_is_one_oversized_event(server):
    body = json.dumps({"answer": "x" * 5000})
    server.route("/b", lambda r, w: w.body(200, body))
    opts = build_request_options({"url": server.url + "/b", "method": "POST", "body": "{}", "max_event_kb": 1})
    client = JSONClient(opts, event_type="dify_blocking_response")
    (batch,) = list(client.stream())
    (event,) = batch
    assert isinstance(event, OversizedEvent) and event.event == "dify_blocking_response"
    assert event.size > 1024 and body.startswith(event.data) and len(event.data) == OversizedEvent.HEAD_CHARS
    assert client.report.end is EndState.COMPLETED and client.report.events_received == 1


def test_a_blocking_gzip_answer_is_decoded(server):
    body = gzip.compress(b'{"answer": "zipped"}')
    server.route("/b", lambda r, w: w.body(200, body, headers={"Content-Encoding": "gzip"}))
    opts = build_request_options({"url": server.url + "/b", "method": "POST", "body": "{}"})
    (batch,) = list(JSONClient(opts, event_type="blocking").stream())
    assert batch[0].data == '{"answer": "zipped"}'


def test_a_blocking_error_status_names_it(server):
    server.route("/b", lambda r, w: w.body(500, '{"message": "boom"}'))
    opts = build_request_options({"url": server.url + "/b", "method": "POST", "body": "{}"})
    with pytest.raises(HTTPStatusError) as err:
        list(JSONClient(opts, event_type="blocking").stream())
    assert str(err.value).startswith("HTTP 500 Internal Server Error") and "boom" in str(err.value)
