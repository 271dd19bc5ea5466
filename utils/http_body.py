"""An HTTP/1.1 response body read straight from the connection's socket, once httpx has sent the
request, followed the redirects and read the headers (issue 19: many slow streams at once).

Why: an LLM answer arrives as ~20 small reads a second per stream. Read through httpx, each read
costs a full round of httpx -> httpcore -> h11 (events, state machine, exception mapping, a
context manager per read) on top of the system call; at 1,000 streams in one process that is
most of the per-event CPU not spent by the SDK. httpx keeps everything it is good at (connection
set-up, TLS, proxies, redirects, the pool, timeouts of the connect and the headers); after the
headers the body is only bytes with a framing, and that framing is read here:

- ``Transfer-Encoding: chunked`` (RFC 9112 §7.1: chunk size in hex, extensions ignored, the
  trailer section read and dropped), which takes precedence over ``Content-Length`` (§6.3);
- ``Content-Length`` (RFC 9112 §6.3 rule 6): exactly that many bytes;
- otherwise the body runs until the server closes the connection (§6.3 rule 8).

The bytes h11 had already received past the headers come first (``h11.Connection.trailing_data``,
public h11 API). ``raw_reader(response)`` returns None whenever the response is not a plain
HTTP/1.1 connection on a socket in the shape this module knows (HTTP/2, a TLS-in-TLS proxy
tunnel, a mock transport, another httpcore layout): the caller then reads through httpx as before.
The connection is never reused after this (h11 did not see the body end), which an event stream
never is anyway: httpcore closes it when the response closes.

Errors are httpx's, as httpx would raise them for the same failure: ``httpx.ReadTimeout`` for
silence past the read timeout, ``httpx.ReadError`` for a socket error, ``httpx.RemoteProtocolError``
for a body cut short ("peer closed connection without sending complete message body (...)") or a
malformed chunk.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator
from typing import Any

import h11
import httpx

from utils.read_pacing import LOOP_LAG, SMALL_READ

READ_BYTES = 64 * 1024  # as httpcore reads (READ_NUM_BYTES)
WAITED_S = 0.0005  # a read that took longer than this waited for the network (others ran meanwhile)
_now = time.monotonic
MAX_CHUNK_LINE = 4096  # a chunk-size line (with extensions) or a trailer line longer than this is refused


def _connection_of(response: httpx.Response, httpcore: Any) -> Any:
    """httpcore's HTTP11Connection behind ``response`` (httpx BoundSyncStream -> ResponseStream ->
    httpcore PoolByteStream -> HTTP11ConnectionByteStream -> HTTP11Connection), or None."""
    layer: Any = response.stream
    for _ in range(6):
        connection = getattr(layer, "_connection", None)
        if connection is not None:
            return connection if isinstance(connection, httpcore.HTTP11Connection) else None
        layer = getattr(layer, "_stream", None) or getattr(layer, "_httpcore_stream", None)
        if layer is None:
            return None
    return None


def raw_reader(response: httpx.Response) -> SocketBody | None:
    """The body's bytes as they come off the socket (not yet content-decoded), or None when this
    response cannot be read here (see the module's docstring). Only for a 200 answer to a
    request other than HEAD, whose body h11 has not started to deliver."""
    if response.status_code != 200 or response.request.method == "HEAD" or response.http_version != "HTTP/1.1":
        return None
    import httpcore  # imported by httpx's transport already (httpx imports it on first use, not at start-up)

    connection = _connection_of(response, httpcore)
    if connection is None:
        return None
    state = getattr(connection, "_h11_state", None)
    stream = getattr(connection, "_network_stream", None)
    if not isinstance(state, h11.Connection) or type(stream) is not httpcore._backends.sync.SyncStream or state.their_state is not h11.SEND_BODY:
        return None
    sock = stream.get_extra_info("socket")
    if sock is None:
        return None
    buffered, closed = state.trailing_data
    timeout = (response.request.extensions.get("timeout") or {}).get("read")
    headers = response.headers
    codings = [c.strip().lower() for v in headers.get_list("transfer-encoding") for c in v.split(",") if c.strip()]
    body = SocketBody(sock, timeout)
    if codings:
        if codings[-1] != "chunked":  # RFC 9112 §6.3 rule 4 for a response: read until close
            body._pieces = _until_close(body, buffered, closed)
        else:
            body._pieces = _chunked(body, buffered, closed)
        return body
    length = headers.get("content-length")
    if length is not None:
        try:
            size = int(length)
        except ValueError:
            return None  # h11 refused this already; never reached
        body._pieces = _fixed(body, buffered, closed, size)
        return body
    body._pieces = _until_close(body, buffered, closed)
    return body


class SocketBody:
    """The body's bytes (iterate it); ``waits`` counts the reads that waited for the network
    (took longer than ``WAITED_S``: under gevent, other greenlets ran meanwhile) or were paced
    (``utils/read_pacing.py``: after a small read, while the process is behind)."""

    __slots__ = ("_pieces", "_sock", "waits", "_small", "_timeout", "_tls", "_failed")

    def __init__(self, sock: socket.socket, timeout: float | None) -> None:
        sock.settimeout(timeout)
        self._sock = sock
        self._timeout = timeout
        self._tls = hasattr(sock, "pending")  # an SSLSocket (the stdlib's or gevent's)
        self._failed: OSError | None = None  # met by _gather after some data: raised by the next read
        self.waits = 0
        self._small = False  # the last read drained the socket
        self._pieces: Iterator[bytes] = iter(())
        LOOP_LAG.start()

    def __iter__(self) -> Iterator[bytes]:
        return self._pieces

    def __next__(self) -> bytes:
        return next(self._pieces)

    def recv(self) -> bytes:
        pause = LOOP_LAG.pause
        if self._small and pause:  # the process is behind: let this paced stream's events gather
            _pause(pause)
            self.waits += 1
        started = _now()
        try:
            if self._failed is not None:
                raise self._failed
            data = self._sock.recv(READ_BYTES)
        except TimeoutError:
            raise httpx.ReadTimeout("timed out") from None
        except OSError as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__) from None
        if _now() - started > WAITED_S:
            self.waits += 1
        if pause and self._tls and data:
            data = self._gather(data)
        self._small = len(data) < SMALL_READ
        return data

    def _gather(self, data: bytes) -> bytes:
        """TLS, while the process is behind: a TLS socket's ``recv`` returns one TLS record however
        many are waiting (OpenSSL reads record by record), so its size does not tell a drained
        socket from a bulk one, and a server that writes each event as its own record would be
        paced event by event. The records already received are read here without waiting, up to
        ``READ_BYTES`` in all (a bulk stream fills that: it is not paced, as on a plain socket)."""
        sock = self._sock
        pieces, size = [data], len(data)
        sock.settimeout(0.0)
        try:
            while size < READ_BYTES:
                try:
                    more = sock.recv(READ_BYTES - size)
                except (ssl.SSLWantReadError, BlockingIOError):  # nothing more yet
                    break
                except OSError as exc:  # raised by the next read, after the data read before it
                    self._failed = exc
                    break
                if not more:
                    break  # the end: the next read returns it again
                pieces.append(more)
                size += len(more)
        finally:
            sock.settimeout(self._timeout)
        return data if len(pieces) == 1 else b"".join(pieces)


def _pause(seconds: float) -> None:
    """The pacing pause: ``time.sleep`` looked up at call time (gevent's, once the SDK patched it)."""
    time.sleep(seconds)


def _cut_short(detail: str) -> httpx.RemoteProtocolError:
    return httpx.RemoteProtocolError(f"peer closed connection without sending complete message body ({detail})")


def _until_close(body: SocketBody, buffered: bytes, closed: bool) -> Iterator[bytes]:
    if buffered:
        yield buffered
    if closed:
        return
    recv = body.recv
    while data := recv():
        yield data


def _fixed(body: SocketBody, buffered: bytes, closed: bool, size: int) -> Iterator[bytes]:
    left = size
    if buffered:
        piece = buffered[:left]
        left -= len(piece)
        if piece:
            yield piece
    if left <= 0:
        return
    if closed:
        raise _cut_short(f"received {size - left} bytes, expected {size}")
    while left > 0:
        data = body.recv()
        if not data:
            raise _cut_short(f"received {size - left} bytes, expected {size}")
        if len(data) > left:
            data = data[:left]
        left -= len(data)
        yield data


class _Lines:
    """The bytes of a chunked body as they arrive: ``buf`` holds what was received and not used yet."""

    __slots__ = ("_body", "buf", "eof")

    def __init__(self, body: SocketBody, buffered: bytes, closed: bool) -> None:
        self._body, self.buf, self.eof = body, buffered, closed

    def more(self) -> bool:
        """Receives more bytes into ``buf``; False at the end of the connection."""
        data = b"" if self.eof else self._body.recv()
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def line(self, what: str) -> bytes | None:
        """The next line without its end (a bare LF ends a line too), or None when the connection
        ended first; a line longer than ``MAX_CHUNK_LINE`` is refused."""
        end = self.buf.find(b"\n")
        while end < 0:
            if len(self.buf) > MAX_CHUNK_LINE:
                raise httpx.RemoteProtocolError(f"{what} too long")
            if not self.more():
                return None
            end = self.buf.find(b"\n")
        line, self.buf = self.buf[:end], self.buf[end + 1:]
        return line


def _chunked(body: SocketBody, buffered: bytes, closed: bool) -> Iterator[bytes]:
    """RFC 9112 §7.1: ``size-in-hex[;ext]CRLF data CRLF`` ... ``0CRLF`` trailers ``CRLF``. A bare LF
    ends a line too (h11 accepts it)."""
    src = _Lines(body, buffered, closed)
    while True:
        line = src.line("chunk header")
        if line is None:
            raise _cut_short("incomplete chunked read")
        line = line.split(b";", 1)[0].strip()
        try:
            size = int(line, 16)
        except ValueError:
            raise httpx.RemoteProtocolError(f"illegal chunk header: {line[:40]!r}") from None
        if size < 0 or not line.isalnum():
            raise httpx.RemoteProtocolError(f"illegal chunk header: {line[:40]!r}")
        if size == 0:
            break
        while size:  # the chunk's data: yielded as it comes, never joined
            if not src.buf and not src.more():
                raise _cut_short("incomplete chunked read")
            piece = src.buf[:size]
            src.buf = src.buf[len(piece):]
            size -= len(piece)
            yield piece
        while len(src.buf) < 2 and not src.buf.startswith(b"\n"):  # the CRLF after the data
            if not src.more():
                raise _cut_short("incomplete chunked read")
        if src.buf.startswith(b"\r\n"):
            src.buf = src.buf[2:]
        elif src.buf.startswith(b"\n"):
            src.buf = src.buf[1:]
        else:
            raise httpx.RemoteProtocolError("chunk data not followed by CRLF")
    while True:  # trailer section: lines until an empty one (dropped)
        line = src.line("trailer line")
        if line is None or not line.strip():
            return  # (None: the body itself was whole; a missing trailer end loses nothing)
