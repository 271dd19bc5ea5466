"""One HTTP attempt, for both clients: everything between "send this request" and "here are the
body's decoded bytes", and nothing about event streams.

- ``RunClock``: the run's deadline (``max_duration`` from the first byte sent). Each attempt's
  connect/read timeouts are cut to the time left, and a timer shuts the socket of the connection
  in use down at the deadline, so that nothing the server does (headers or an error body trickled
  a byte a second, a silent stream) carries a run past it.
- ``HTTPSession``: the httpx client on the pinned transport (``utils/pinned_transport.py``), the
  network policy checked on every redirect hop, credential headers dropped on a hop to another
  origin, the error-body excerpt, and ``body()``: the response's bytes decoded here, not by httpx,
  so that decompression is bounded per step (a gzip bomb never inflates more than ``PIECE`` bytes
  at once, and the size limits see decoded bytes), with a cooperative yield every few ms of work.
- ``translate(exc)``: every httpx / URL / decoding error turned into one of ours, in one place.

Sources: RFC 9110 §8.4 (Content-Encoding; codings listed in the order applied), §15.4 (redirects),
RFC 1950-1952 (zlib, deflate, gzip).
"""

from __future__ import annotations

import email.utils
import logging
import socket
import time
import zlib
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx

from utils.deadlines import DEADLINES, Deadline
from utils.errors import BadBody, BlockedAddress, ConnectFailed, SSERequestError
from utils.http_body import raw_reader
from utils.network_policy import NetworkPolicy
from utils.pinned_transport import PinnedTransport, Resolver
from utils.secrets import is_secret_header

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 502, 503, 504})
ERROR_BODY_BYTES = 300
PIECE = 64 * 1024  # the most bytes one decompression step may produce
YIELD_EVERY_S = 0.005  # hand the thread to other runs (greenlets) after this long without a pause
ACCEPT_ENCODING = "gzip, deflate"  # what body() can decode with bounded steps
MAX_CODINGS = 5  # codings decoded in one chain (urllib3's bound: each layer is a decoder and a generator)


class Action(StrEnum):
    READ = "read"  # the response is the stream: read it
    RETRY = "retry"  # try again after ``delay`` seconds (at least)
    STOP = "stop"  # no use trying again


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do with one attempt's answer: ``action``, the least ``delay`` (s) before a retry,
    and ``reason``, one line saying why (empty for READ)."""

    action: Action
    delay: float = 0.0
    reason: str = ""


READ = Verdict(Action.READ)


def one_line(text: str, limit: int = ERROR_BODY_BYTES) -> str:
    return " ".join(text.split())[:limit]


def retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date; RFC 9110 §10.2.3), or None."""
    value = (response.headers.get("retry-after") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _cooperate() -> None:
    """Let the other greenlets run: under the SDK's gevent monkey-patching ``time.sleep(0)`` yields
    to the hub (looked up at call time, so the patched function is the one called)."""
    time.sleep(0)


class RunClock:
    """The run's time: ``started``, the deadline ``at`` (``max_duration`` later), and a deadline
    (``utils/deadlines.py``: one thread for every run) that shuts the current connection's socket
    down at ``at`` so a blocked read returns then.

    ``watch(sock)`` names the socket in use (set by the connect trace of every new connection, and
    by each response); ``arm()`` sets the deadline once, ``disarm()`` cancels it."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.started = clock()
        self.at = self.started + seconds
        self._sock: socket.socket | None = None
        self._deadline: Deadline | None = None
        self.cut = False  # the deadline fired and shut a socket down

    def now(self) -> float:
        return self._clock()

    def left(self) -> float:
        return self.at - self._clock()

    def expired(self) -> bool:
        return self._clock() >= self.at

    @property
    def elapsed(self) -> float:
        return self._clock() - self.started

    def timeout(self, connect: float, read: float) -> httpx.Timeout:
        """One attempt's timeouts, cut to the time left (at least 0.1 s, the deadline does the rest)."""
        left = max(0.1, self.left())
        return httpx.Timeout(min(connect, left), read=min(read, left), write=min(read, left), pool=min(connect, left))

    def watch(self, sock: socket.socket | None) -> None:
        if sock is not None:
            self._sock = sock
            if self.expired():
                self._fire()

    def arm(self) -> None:
        if self._deadline is None:
            self._deadline = DEADLINES.add(self.left(), self._fire)

    def disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _fire(self) -> None:
        sock = self._sock
        if sock is None:
            return
        self.cut = True
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _socket_of(stream: Any) -> socket.socket | None:
    try:
        return stream.get_extra_info("socket") if stream is not None else None
    except Exception:  # a stream without that extra: nothing to watch
        return None


def origin(url: httpx.URL) -> tuple[str, bytes, int | None]:
    """(scheme, host, port) with the default port filled in; RFC 6454 §4."""
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.raw_host.lower(), port


class _Inflater:
    """One content coding, decoded in steps of at most ``PIECE`` output bytes."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        wbits = zlib.MAX_WBITS | 16 if coding in ("gzip", "x-gzip") else zlib.MAX_WBITS
        self._z = zlib.decompressobj(wbits)
        self._first = coding == "deflate"  # deflate: zlib-wrapped, or raw as some servers send it

    def feed(self, data: bytes) -> Iterator[bytes]:
        z = self._z
        while True:
            try:
                out = z.decompress(data, PIECE)
            except zlib.error:
                if not self._first:
                    raise
                self._z = z = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate (RFC 1951)
                self._first = False
                continue
            self._first = False
            data = z.unconsumed_tail
            if out:
                yield out
            if z.eof:
                return  # bytes after the end of the compressed data are ignored, as httpx does
            if not data and len(out) < PIECE:
                return  # a full piece may leave output held back with no input left: asked again


def _codings(response: httpx.Response) -> list[_Inflater]:
    """The decoders for the response's Content-Encoding, innermost (applied first) last."""
    names = [c.strip().lower() for value in response.headers.get_list("content-encoding") for c in value.split(",")]
    names = [n for n in names if n and n != "identity"]
    if len(names) > MAX_CODINGS:
        raise BadBody(f"Content-Encoding lists {len(names)} codings; at most {MAX_CODINGS} are decoded")
    unknown = [n for n in names if n not in ("gzip", "x-gzip", "deflate")]
    if unknown:
        raise BadBody(f"Content-Encoding '{one_line(unknown[0], 40)}' is not supported (only gzip and deflate, "
                      f"which are the codings the request accepts)")
    return [_Inflater(n) for n in reversed(names)]


def _decode(pieces: Iterator[bytes], inflater: _Inflater) -> Iterator[bytes]:
    for piece in pieces:
        yield from inflater.feed(piece)


def _drop_redirect_body(response: httpx.Response) -> None:
    """httpx reads a redirect's body whole, and decoded, before it follows the redirect: a server
    could make it endless or a gzip bomb. It is dropped unread (the connection is closed, not reused)."""
    if response.has_redirect_location:
        response.stream.close()
        response.stream = httpx.ByteStream(b"")


class HTTPSession:
    """The HTTP side of one run: one httpx client, used for every attempt of the run.

    ``open()`` sends a request and yields the response with its headers read (redirects followed,
    every hop checked); ``body()`` yields its decoded bytes; ``excerpt()`` the start of an error
    body as one line. All of it within ``clock``'s deadline."""

    def __init__(self, policy: NetworkPolicy, clock: RunClock, *, verify: bool = True,
                 transport: httpx.BaseTransport | None = None, resolver: Resolver = socket.getaddrinfo,
                 redactor: Callable[[str], str] = str, origin_bound: Collection[str] = ()) -> None:
        self.policy = policy
        self.clock = clock
        self._redactor = redactor
        self._origin_bound = frozenset(name.lower() for name in origin_bound)
        self._first_origin: tuple[str, bytes, int | None] | None = None
        self._client = httpx.Client(
            transport=transport or PinnedTransport(policy, verify, resolver),
            follow_redirects=True,
            max_redirects=10,
            event_hooks={"request": [self._on_hop], "response": [_drop_redirect_body]},
        )

    def close(self) -> None:
        self.clock.disarm()
        self._client.close()

    def __enter__(self) -> HTTPSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- every request and redirect hop ------------------------------------------------------
    def _on_hop(self, request: httpx.Request) -> None:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise BlockedAddress(f"Redirect to a '{one_line(url.scheme, 20)}' URL refused")
        self.policy.check_host(url.host)
        here = origin(url)
        if self._first_origin is None:
            self._first_origin = here
        elif here != self._first_origin:
            # Another origin: credentials and the administrator's headers stay with the first one.
            for name in [k for k in request.headers if k.lower() in self._origin_bound or is_secret_header(k)]:
                del request.headers[name]
        request.extensions = {**request.extensions, "trace": self._trace}

    def _trace(self, event: str, info: dict[str, Any]) -> None:
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            self.clock.watch(_socket_of(info.get("return_value")))

    # -- one attempt -------------------------------------------------------------------------
    @contextmanager
    def open(self, method: str, url: httpx.URL, headers: httpx.Headers, content: bytes | None,
             connect_timeout: float, read_timeout: float) -> Iterator[httpx.Response]:
        """The response, headers read; closed on leaving. Raises httpx's errors (see
        ``translate``). The deadline timer is armed from the first byte sent."""
        self._first_origin = None
        headers = httpx.Headers(headers)
        headers.setdefault("Accept-Encoding", ACCEPT_ENCODING)
        self.clock.arm()
        with self._client.stream(method, url, headers=headers, content=content,
                                 timeout=self.clock.timeout(connect_timeout, read_timeout)) as response:
            self.clock.watch(_socket_of(response.extensions.get("network_stream")))
            yield response

    def body(self, response: httpx.Response) -> Iterator[bytes]:
        """The body's bytes, decoded here in pieces of at most ``PIECE`` bytes (one network read
        when not compressed), read from the socket by ``utils/http_body.py`` when the connection
        is plain HTTP/1.1 (through httpx otherwise). Raises ``BadBody`` for a coding not read or a corrupt body, httpx's
        errors for the transport. Between pieces the thread is handed to other runs once every
        ``YIELD_EVERY_S`` of work without a wait (a run that always has data never blocks, so
        never lets others run); a socket read that waited for the network was such a pause
        already, so a paced stream (an LLM's) pays no extra switch per read."""
        raw = raw_reader(response)
        pieces: Iterator[bytes] = iter(raw) if raw is not None else response.iter_raw()
        for inflater in _codings(response):
            pieces = _decode(pieces, inflater)
        clock = self.clock.now
        paused = clock()
        waits = 0
        try:
            for piece in pieces:
                now = clock()
                if raw is not None and raw.waits != waits:  # a read waited: other runs had the thread
                    waits = raw.waits
                    paused = now
                elif now - paused > YIELD_EVERY_S:
                    _cooperate()
                    paused = clock()
                yield piece
        except zlib.error as exc:
            coding = response.headers.get("content-encoding", "")
            raise BadBody(f"The response body is not valid {one_line(coding, 40)} data ({one_line(str(exc), 80)})"
                          ) from None

    def excerpt(self, response: httpx.Response) -> str:
        """The first ``ERROR_BODY_BYTES`` bytes of the body, decoded, as one masked line ("" when
        there is none or it cannot be read). Bounded by the deadline like any read."""
        head = b""
        try:
            for piece in self.body(response):
                head += piece
                if len(head) >= ERROR_BODY_BYTES:
                    break
        except (httpx.HTTPError, SSERequestError):
            pass
        return self._redactor(one_line(head[:ERROR_BODY_BYTES].decode("utf-8", "replace")))

    # -- errors ------------------------------------------------------------------------------
    def describe(self, exc: BaseException) -> str:
        """An exception as one masked line: its type and first line."""
        text = str(exc).splitlines()[0] if str(exc) else ""
        return self._redactor(one_line(f"{type(exc).__name__}: {text}".rstrip(": "), 200))


def is_idle(exc: BaseException) -> bool:
    """Silence past the read timeout (as opposed to a broken connection)."""
    return isinstance(exc, httpx.ReadTimeout)


# Errors one attempt may raise that ``translate`` knows; anything else is a bug and propagates.
ATTEMPT_ERRORS = (httpx.TransportError, httpx.TooManyRedirects, httpx.InvalidURL, UnicodeError, BadBody,
                  BlockedAddress)


def translate(exc: BaseException, session: HTTPSession, where: str) -> SSERequestError:
    """One of ours for any error of ``ATTEMPT_ERRORS`` (as httpx maps httpcore's in one place).
    ``where`` is the URL as it may be shown."""
    if isinstance(exc, SSERequestError):
        return exc
    if isinstance(exc, httpx.TooManyRedirects):
        return ConnectFailed(f"Too many redirects from {where}")
    if isinstance(exc, (httpx.InvalidURL, UnicodeError)) or (  # a Location header httpx cannot parse
            isinstance(exc, httpx.RemoteProtocolError) and "location header" in str(exc)):
        return BlockedAddress(f"Redirect from {where} to an invalid URL refused ({session.describe(exc)})")
    return ConnectFailed(f"Cannot stream from {where}: {session.describe(exc)}")
