"""The body read straight from the socket (``utils/http_body.py``) gives exactly what httpx gives,
for every framing and any way the server cuts its writes, and fails as httpx fails."""

from __future__ import annotations

import socket
import threading
import time
from datetime import UTC, datetime

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.raw_server import RawServer
from utils.http_body import raw_reader
from utils.summary import EventLog, now_iso

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"


def chunked(body: bytes, sizes: list[int], ext: bool = False) -> bytes:
    out, i = b"", 0
    for size in sizes or [len(body)]:
        piece = body[i : i + size]
        i += size
        if piece:
            out += b"%x%s\r\n%s\r\n" % (len(piece), b";x=1" if ext else b"", piece)
    if i < len(body):
        out += b"%x\r\n%s\r\n" % (len(body) - i, body[i:])
    return out + b"0\r\nTrailer-Field: 1\r\n\r\n"


def serve(wire: bytes, cuts: list[int], close: bool = True):
    """A handler writing ``wire`` in pieces cut at ``cuts`` (each its own send, a pause between)."""

    def handler(conn: socket.socket, head: bytes, stop: threading.Event) -> None:
        last = 0
        for cut in sorted({c for c in cuts if 0 < c < len(wire)}) + [len(wire)]:
            conn.sendall(wire[last:cut])
            last = cut
            time.sleep(0.001)
        if close:
            conn.shutdown(socket.SHUT_WR)
        else:
            stop.wait(5)

    return handler


def read_both(wire: bytes, cuts: list[int]) -> tuple[bytes, bytes, bool]:
    """(ours, httpx's iter_raw, whether ours was used) for the same answer."""
    with RawServer(serve(wire, cuts)) as srv, httpx.Client() as client:
        with client.stream("GET", srv.url) as response:
            reader = raw_reader(response)
            ours = b"".join(reader) if reader is not None else b""
        with client.stream("GET", srv.url) as response:
            theirs = b"".join(response.iter_raw())
    return ours, theirs, reader is not None


bodies = st.binary(min_size=0, max_size=3000)
cut_lists = st.lists(st.integers(min_value=1, max_value=4000), max_size=8)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies, sizes=st.lists(st.integers(min_value=1, max_value=700), max_size=6), cuts=cut_lists,
       ext=st.booleans())
def test_a_chunked_body_is_read_as_httpx_reads_it(body, sizes, cuts, ext):
    wire = HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(body, sizes, ext)
    ours, theirs, used = read_both(wire, cuts)
    assert used
    assert ours == theirs == body


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies, cuts=cut_lists, extra=st.binary(max_size=20))
def test_a_content_length_body_is_read_as_httpx_reads_it(body, cuts, extra):
    wire = HEAD + b"Content-Length: %d\r\n\r\n" % len(body) + body + extra  # bytes past the length are not body
    ours, theirs, used = read_both(wire, cuts)
    assert used
    assert ours == theirs == body


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies, cuts=cut_lists)
def test_a_body_until_close_is_read_as_httpx_reads_it(body, cuts):
    wire = HEAD + b"Connection: close\r\n\r\n" + body
    ours, theirs, used = read_both(wire, cuts)
    assert used
    assert ours == theirs == body


@pytest.mark.parametrize("wire", [
    HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7\r\nwor",  # cut inside a chunk
    HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",  # cut before the last chunk
    HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhel",
    HEAD + b"Content-Length: 10\r\n\r\nhello",  # shorter than said
])
def test_a_body_cut_short_fails_as_httpx_fails(wire):
    errors = []
    for ours in (True, False):
        with RawServer(serve(wire, [len(HEAD) + 20])) as srv, httpx.Client() as client:
            with client.stream("GET", srv.url) as response:
                pieces = raw_reader(response) if ours else response.iter_raw()
                assert pieces is not None
                with pytest.raises(httpx.RemoteProtocolError) as caught:
                    b"".join(pieces)
                errors.append(str(caught.value))
    assert errors[0] == errors[1]


def test_a_malformed_chunk_size_is_a_protocol_error():
    wire = HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
    with RawServer(serve(wire, [])) as srv, httpx.Client() as client:
        with client.stream("GET", srv.url) as response:
            with pytest.raises(httpx.RemoteProtocolError):
                b"".join(raw_reader(response))


def test_silence_past_the_read_timeout_is_a_read_timeout():
    wire = HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
    with RawServer(lambda conn, head, stop: (conn.sendall(wire), stop.wait(5))) as srv, \
            httpx.Client(timeout=httpx.Timeout(5, read=0.3)) as client:
        with client.stream("GET", srv.url) as response:
            reader = raw_reader(response)
            assert next(reader) == b"hello"
            started = time.monotonic()
            with pytest.raises(httpx.ReadTimeout):
                next(reader)
            assert time.monotonic() - started < 2


def test_other_answers_are_left_to_httpx():
    def handler(conn, head, stop):
        conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno")

    with RawServer(handler) as srv, httpx.Client() as client:
        with client.stream("GET", srv.url) as response:
            assert raw_reader(response) is None  # not a 200: the error excerpt reads through httpx
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=b"data: x\n\n"))
    with httpx.Client(transport=transport) as client, client.stream("GET", "http://example.invalid/") as response:
        assert raw_reader(response) is None  # not a socket


@settings(max_examples=300)
@given(st.floats(min_value=0, max_value=4_000_000_000, allow_nan=False))
def test_now_iso_is_the_iso_time_with_milliseconds(at):
    expected = datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert now_iso(at) == expected


def test_the_event_log_keeps_the_same_shape():
    from httpx_sse import ServerSentEvent

    log = EventLog()
    assert log.keeping
    log.add("message", ServerSentEvent("message", "x" * 20_000, "7"), 1795996800.0)
    kept = log.kept
    assert kept[0]["event_type"] == "message" and kept[0]["event_id"] == "7"
    assert kept[0]["timestamp"] == "2026-11-30T00:00:00.000Z"
    assert kept[0]["data"].endswith("…[truncated]") and len(kept[0]["data"]) < 20_000
    for i in range(200):
        log.add("m", ServerSentEvent("m", str(i)), 0.0)
    assert len(log.kept) == 100 and log.dropped == 101 and not log.keeping
