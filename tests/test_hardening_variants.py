"""Hardening variants beyond the first cases (each test failed before its fix): a redirect's body read whole by httpx, a Content-Encoding chain deep enough to raise
RecursionError, the last bytes of a raw-deflate body lost, a secret split across two events of
one network read shown whole in the live text."""

from __future__ import annotations

import gzip
import json
import random
import time
import zlib

import pytest

from devkit.bench.transport import bomb, peak_rss_of_one_stream
from devkit.sse_server import Request, Writer
from tests.helpers import collect, options
from tests.raw_server import RawServer
from utils.errors import BadBody, ConnectFailed
from utils.http_attempt import PIECE, _Inflater
from utils.sse_client import SSEClient


# -- 18.1: a redirect's body is never read (httpx reads it whole, decoded, before following) ---------
def endless_redirect(conn, head, stop) -> None:
    """A 302 whose body never ends, then the stream at /ok."""
    if head.split(b" ")[1].startswith(b"/ok"):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 12\r\n\r\n"
                     b"data: fine\n\n")
        return
    conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: /ok\r\nContent-Length: 1000000000000\r\n\r\n")
    while not stop.is_set():
        conn.sendall(b"x" * 65536)


def test_a_redirect_whose_body_never_ends_is_followed_at_once():
    with RawServer(endless_redirect) as raw:
        client = SSEClient(options(url=raw.url + "/s", max_duration=60))
        started = time.monotonic()
        assert collect(client) == [("message", "fine", "")]
    assert time.monotonic() - started < 10  # not read until max_duration (60 s)


@pytest.mark.parametrize("coding", [b"gzip", b"deflate", b"gzip, br, deflate", b"zstd", b"bogus"])
def test_a_redirect_with_a_corrupt_compressed_body_is_followed(coding):
    """httpx decoded the redirect's body and raised its own DecodingError, a raw exception."""
    def handler(conn, head, stop) -> None:
        if head.split(b" ")[1].startswith(b"/ok"):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 12\r\n\r\n"
                         b"data: fine\n\n")
        else:
            conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: /ok\r\nContent-Encoding: " + coding +
                         b"\r\nContent-Length: 10\r\n\r\n\xff\xfe\x00garbage")
        conn.close()

    with RawServer(handler) as raw:
        assert collect(SSEClient(options(url=raw.url + "/s", max_retries=0))) == [("message", "fine", "")]


@pytest.mark.slow
def test_a_compressed_redirect_body_does_not_inflate_in_memory(server):
    """A 3 KB gzip body that inflates to 256 MiB on a 302: never decoded."""
    body = bomb(256)

    def route(request: Request, writer: Writer) -> None:
        if request.path.startswith("/ok"):
            writer.start()
            writer.send("data: fine\n\n")
            writer.end()
        else:
            writer.body(302, body, "text/plain", headers={"Location": "/ok", "Content-Encoding": "gzip, gzip"})

    server.route("/s", route)
    server.route("/ok", route)
    figures = peak_rss_of_one_stream(server.url + "/s", 1)
    assert figures["end"] == "completed"
    assert figures["rise_mib"] < 32, figures


# -- 18.8: a Content-Encoding chain of any length is one clear line ------------------------------------
@pytest.mark.parametrize("layers", [6, 1200])
def test_a_content_encoding_chain_longer_than_five_fails_with_one_line(layers):
    body = b"data: x\n\n"
    for _ in range(layers):
        body = gzip.compress(body, compresslevel=1)
    coding = ", ".join(["gzip"] * layers).encode()

    def handler(conn, head, stop) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: " + coding +
                     b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)

    with RawServer(handler) as raw, pytest.raises(BadBody) as err:
        collect(SSEClient(options(url=raw.url + "/s", max_retries=0)))
    assert "\n" not in str(err.value) and f"{layers} codings" in str(err.value)


def test_a_chain_of_five_codings_is_decoded(server):
    body = b"data: x\n\n"
    for _ in range(5):
        body = gzip.compress(body)
    server.route("/s", lambda r, w: w.body(200, body, "text/event-stream",
                                           headers={"Content-Encoding": ", ".join(["gzip"] * 5)}))
    assert collect(SSEClient(options(url=server.url + "/s"))) == [("message", "x", "")]


# -- 18.1: the inflater gives every byte, wherever a piece or a network read ends -----------------------
def raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


@pytest.mark.parametrize("coding", ["gzip", "deflate", "raw-deflate"])
def test_the_inflater_loses_no_byte_at_the_end_of_a_body(coding):
    rng = random.Random(7)
    for size in (PIECE - 1, PIECE, PIECE + 1, 2 * PIECE + 3, 3 * PIECE + 7):
        for unit_len in (4, 7, 36, 65):  # repeated units: long back-references across piece bounds
            unit = bytes(rng.randrange(256) for _ in range(unit_len))
            plain = (unit * (size // unit_len + 1))[:size]
            packed = {"gzip": gzip.compress, "deflate": zlib.compress, "raw-deflate": raw_deflate}[coding](plain)
            for step in (100, 123, 646, 4096, len(packed)):
                inflater = _Inflater("gzip" if coding == "gzip" else "deflate")
                out = b"".join(piece for i in range(0, len(packed), step)
                               for piece in inflater.feed(packed[i : i + step]))
                assert out == plain, (size, unit_len, step, len(out))
                assert all(len(p) <= PIECE for p in inflater.feed(b""))


# -- 18.3: a secret split across two events of one network read --------------------------------------
def test_a_secret_split_across_two_deltas_of_one_read_is_masked_in_the_live_text(plugin, server):
    token = "sk-live-0123456789abcdef"

    def delta(text: str) -> str:
        return "data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": text}}]}) + "\n\n"

    whole = (delta("Your key is " + token[:10]) + delta(token[10:]) + delta(" ok")
             + 'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n')
    server.route("/s", None, whole)  # one write: one network read
    since = len(plugin.frames)
    frames = plugin.collect(plugin.invoke("sse_request", {
        "url": server.url + "/s", "stream_format": "openai", "auth_type": "bearer", "auth_token": token}))
    assert any(f.kind == "stream" and f.message.get("type") == "text" for f in frames)
    assert not [f.raw[:200] for f in plugin.frames[since:] if token.encode() in f.raw]


# -- 18.6: a text_path over a huge event does not hold the thread -------------------------------------
JMESPATH_PROBE = """
import sys
from gevent import monkey; monkey.patch_all(sys=True)
import gevent
from httpx_sse import ServerSentEvent
from utils.formats.json_path import JSONPathFormat
ticks = []
def ticker():
    while True:
        ticks.append(1); gevent.sleep(0.02)
gevent.spawn(ticker)
gevent.sleep(0)
fmt = JSONPathFormat("join('', [*].to_string(@))")
data = "[" + ",".join(['"a"'] * 200_000) + "]"
kind, text = fmt.feed(ServerSentEvent("message", data))
print(len(text), len(ticks))
"""


def test_a_text_path_over_a_huge_event_lets_other_runs_go():
    """A projection over 200,000 items takes seconds of pure Python: other greenlets (runs, the
    SDK's heartbeat) run meanwhile (a 4 MiB event with this text_path held the plugin 13 s)."""
    import subprocess
    import sys
    from pathlib import Path

    result = subprocess.run([sys.executable, "-c", JMESPATH_PROBE], capture_output=True, text=True, timeout=120,
                            cwd=Path(__file__).resolve().parent.parent)
    size, ticks = (result.stdout.split() or ["", "0"])[:2]
    assert size == "200000", result.stderr[-2000:]
    assert int(ticks) >= 5  # the other greenlet ran while the expression was evaluated


# -- 18.4 / 18.8: the proxy variables as operators write them -----------------------------------------
@pytest.fixture
def no_proxy_env(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


def test_a_proxy_without_a_scheme_is_an_http_proxy(server, no_proxy_env):
    """``HTTP_PROXY=host:port`` (curl, requests and httpx read it as http://host:port) raised a raw
    ValueError ("Unknown scheme for proxy URL")."""
    server.route("/s", None, "data: via proxy\n\n")
    no_proxy_env.setenv("HTTP_PROXY", f"127.0.0.1:{server.port}")
    assert collect(SSEClient(options(url="http://listed.test/s"))) == [("message", "via proxy", "")]
    assert server.requests[0].headers["host"] == "listed.test"  # it went through the proxy


@pytest.mark.parametrize("proxy", ["ftp://127.0.0.1:1", "http://[::1", "http://u:pr0xy-pass@[::1"])
def test_an_unusable_proxy_variable_fails_with_one_line_naming_it(no_proxy_env, proxy):
    no_proxy_env.setenv("ALL_PROXY", proxy)
    with pytest.raises(ConnectFailed) as err:
        collect(SSEClient(options(url="http://listed.test/s", max_retries=0)))
    message = str(err.value)
    assert "proxy" in message and "redirect" not in message.lower() and "\n" not in message
    assert "pr0xy-pass" not in message
