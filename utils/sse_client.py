"""The SSE client: httpx (connection, TLS, proxies, redirects) + our WHATWG decoder.

``SSEClient(options).stream()`` yields the events of each network read as soon as the read
returns (a burst becomes one list; a lone event is never held back), and handles everything
that touches the network:

- request: ``Accept: text/event-stream``, ``Cache-Control: no-cache``, ``Last-Event-ID`` on
  reconnect; status and Content-Type checks with the first bytes of an error body;
- time: connect and read (silence) timeouts from httpx, and a deadline for the whole run that
  also cuts a read blocked on a silent server;
- reconnection as the WHATWG processing model says, with the server's ``retry:``, exponential
  backoff with jitter, ``Retry-After``, 204 = stop, and no blind re-send of a POST;
- limits on one event and on the whole stream;
- the network policy, checked for every redirect hop and for the address actually connected to.
"""

from __future__ import annotations

import email.utils
import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator

import httpx
from httpx_sse import ServerSentEvent

from utils.errors import BlockedAddress, ConnectFailed, HTTPStatusError, NotEventStream
from utils.network_policy import NetworkPolicy
from utils.pinned_transport import PinnedTransport, Resolver
from utils.report import EndState, StreamReport
from utils.request_options import RequestOptions
from utils.sse_decoder import EventTooLarge, SSEDecoder

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 502, 503, 504})
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
MAX_BACKOFF_S = 30.0
ERROR_BODY_BYTES = 300


class _Deadline:
    """Cuts the socket of a response when the run's time is up, so that a read blocked on a
    silent server returns at the deadline instead of at the end of the read timeout."""

    def __init__(self, response: httpx.Response, seconds: float) -> None:
        self._timer: threading.Timer | None = None
        stream = response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is not None and seconds > 0:
            self._timer = threading.Timer(seconds, self._cut, (sock,))
            self._timer.daemon = True
            self._timer.start()

    @staticmethod
    def _cut(sock: socket.socket) -> None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _one_line(text: str, limit: int = ERROR_BODY_BYTES) -> str:
    return " ".join(text.split())[:limit]


class SSEClient:
    """One run's connection(s). Not shared between runs: every run builds its own."""

    def __init__(self, options: RequestOptions, policy: NetworkPolicy | None = None, *,
                 transport: httpx.BaseTransport | None = None, resolver: Resolver = socket.getaddrinfo,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.options = options
        self.policy = policy or NetworkPolicy()
        self._transport = transport
        self._resolver = resolver
        self._clock = clock
        self._sleep = sleep
        self.decoder = SSEDecoder(options.limits.max_event_bytes)
        self.http_status: int | None = None
        self.reconnects = 0
        self.bytes_received = 0
        self.events_received = 0
        self.stop_reason = "completed"
        self.started = clock()
        self.deadline = self.started + options.limits.max_duration
        # query_params are added to a query the URL already has (httpx's params= would replace it)
        self.url = httpx.URL(options.url).copy_merge_params(list(options.params))

    @property
    def elapsed(self) -> float:
        return self._clock() - self.started

    @property
    def report(self) -> StreamReport:
        """The frozen figures of the run so far (read once, after ``stream()`` ends).
        Skeleton: the transport refactor sets ``end`` and ``error`` itself."""
        return StreamReport(end=EndState(self.stop_reason) if self.stop_reason in EndState._value2member_map_
                            else EndState.COMPLETED, http_status=self.http_status, reconnects=self.reconnects,
                            bytes_received=self.bytes_received, events_received=self.events_received,
                            last_event_id=self.decoder.last_event_id, elapsed=self.elapsed)

    # -- helpers ---------------------------------------------------------------------------
    def _headers(self) -> httpx.Headers:
        headers = httpx.Headers({"Accept": "text/event-stream", "Cache-Control": "no-cache"})
        for key, value in self.options.headers:
            headers[key] = value  # replaces a default of the same name, in any case
        if self.decoder.last_event_id:
            headers["Last-Event-ID"] = self.decoder.last_event_id
        return headers

    def _check_hop(self, request: httpx.Request) -> None:
        if request.url.scheme not in ("http", "https"):
            raise BlockedAddress(f"Redirect to a '{request.url.scheme}' URL refused")
        self.policy.check_host(request.url.host)

    def _client(self) -> httpx.Client:
        """TLS, proxies and timeouts are not set here: with a transport given, httpx uses neither
        its ``verify`` nor its proxy variables (the transport does both), and every request passes
        its own ``_attempt_timeout()``."""
        transport = self._transport or PinnedTransport(self.policy, self.options.ssl_verify, self._resolver)
        return httpx.Client(
            transport=transport,
            follow_redirects=True,
            max_redirects=10,
            event_hooks={"request": [self._check_hop]},
        )

    def _attempt_timeout(self) -> httpx.Timeout:
        """One attempt's timeouts, cut to the run's time left: a connect or a wait for the response
        headers never carries the run past max_duration (past it, the daemon or, in serverless mode,
        the SDK would end the call without a word)."""
        limits = self.options.limits
        left = max(0.5, self.deadline - self._clock())
        return httpx.Timeout(min(limits.connect_timeout, left), read=min(limits.read_timeout, left))

    def _may_resend(self) -> bool:
        """A POST that delivered events is re-sent only when the server gave ids to resume from."""
        if self.options.method in IDEMPOTENT or self.events_received == 0:
            return True
        return bool(self.decoder.last_event_id)

    def _backoff(self, attempt: int, floor: float | None) -> float:
        base = (self.decoder.retry if self.decoder.retry is not None else self.options.limits.retry_interval_ms) / 1000
        delay = min(MAX_BACKOFF_S, base * 2 ** max(0, attempt - 1))
        delay = delay / 2 + random.uniform(0, delay / 2)  # equal jitter
        return max(delay, floor or 0.0)

    def _error_body(self, response: httpx.Response) -> str:
        head = b""
        try:
            for chunk in response.iter_bytes():
                head += chunk
                if len(head) >= ERROR_BODY_BYTES:
                    break
        except httpx.HTTPError:
            pass
        return self.options.redactor(_one_line(head[:ERROR_BODY_BYTES].decode("utf-8", "replace")))

    def _describe(self, exc: Exception) -> str:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return self.options.redactor(_one_line(f"{type(exc).__name__}: {text}", 200))

    def _check(self, response: httpx.Response) -> float | None:
        """Checks status and Content-Type. Returns the least delay before a retry when the
        status asks for one, None when the stream may be read (or ended: 204)."""
        status = self.http_status = response.status_code
        if status in RETRY_STATUSES:
            return _retry_after(response) or 0.0
        if status in (204, 205):
            self.stop_reason = "no_content"
            return None
        if not 200 <= status < 300:
            raise HTTPStatusError(status, response.reason_phrase, self._error_body(response))
        content_type = response.headers.get("content-type", "")
        if content_type.split(";", 1)[0].strip().lower() != "text/event-stream":
            body = self._error_body(response)
            raise NotEventStream(
                f"Expected Content-Type text/event-stream, got '{_one_line(content_type or 'none', 80)}' "
                f"(HTTP {status})" + (f": {body}" if body else "")
            )
        return None

    def probe(self) -> None:
        """Opens the stream, checks that it is an event stream, and closes it (no retries)."""
        with self._client() as client, client.stream(
            self.options.method, self.url, headers=self._headers(), timeout=self._attempt_timeout()
        ) as response:
            if self._check(response) is not None:
                raise HTTPStatusError(response.status_code, response.reason_phrase, self._error_body(response))

    # -- the run ---------------------------------------------------------------------------
    def stream(self) -> Iterator[list[ServerSentEvent]]:
        options = self.options
        limits = options.limits
        attempt = 0
        with self._client() as client:
            while True:
                floor: float | None = None
                failure = ""
                idle = False  # the failure was silence past read_timeout
                try:
                    with client.stream(options.method, self.url, headers=self._headers(),
                                       content=options.content, timeout=self._attempt_timeout()) as response:
                        floor = self._check(response)
                        if floor is not None:
                            failure = f"HTTP {response.status_code} {response.reason_phrase}: " \
                                      f"{self._error_body(response)}"
                        elif self.stop_reason == "no_content":
                            return
                        else:
                            attempt = 0  # backoff restarts once a stream opens
                            yield from self._read(response)
                            return
                except (httpx.TransportError, httpx.TooManyRedirects) as exc:
                    if isinstance(exc, httpx.TooManyRedirects):
                        raise ConnectFailed(f"Too many redirects from {options.shown_url}") from None
                    idle = isinstance(exc, httpx.ReadTimeout)
                    failure = f"no data for {limits.read_timeout:g} s (read_timeout)" if idle else self._describe(exc)
                    if self._clock() >= self.deadline:
                        if idle:
                            failure = "no response before the time ran out"
                        self._out_of_time(failure)
                        return
                except EventTooLarge as exc:
                    self.stop_reason = "event_too_large"
                    logger.warning("stream ended: %s", exc)
                    return
                # A failure that may be retried: `attempt` counts failures in a row (the backoff),
                # `reconnects` all of the run's reconnects (bounded by max_retries).
                attempt += 1
                resend = self._may_resend()
                if self.reconnects >= limits.max_retries or not resend:
                    self._give_up(failure, resend, idle, http_status=floor is not None)
                    return
                delay = self._backoff(attempt, floor)
                if self._clock() + delay >= self.deadline:
                    self._out_of_time(f"{failure}; the next attempt would pass max_duration")
                    return
                self.reconnects += 1
                logger.info("reconnecting in %.2f s (attempt %d of %d): %s", delay, attempt, limits.max_retries,
                            failure)
                self._sleep(delay)

    def _read(self, response: httpx.Response) -> Iterator[list[ServerSentEvent]]:
        limits = self.options.limits
        decoder = self.decoder
        decoder.new_stream()
        deadline = _Deadline(response, self.deadline - self._clock())
        try:
            for chunk in response.iter_bytes():
                self.bytes_received += len(chunk)
                events = decoder.feed(chunk)
                if events:
                    self.events_received += len(events)
                    yield events
                if limits.max_stream_bytes and self.bytes_received > limits.max_stream_bytes:
                    self.stop_reason = "max_stream_bytes"
                    return
                if self._clock() >= self.deadline:
                    self.stop_reason = "timeout"
                    return
        except httpx.TransportError:
            if self._clock() >= self.deadline:  # the deadline cut the socket
                self.stop_reason = "timeout"
                return
            raise
        finally:
            deadline.cancel()
        if self._clock() >= self.deadline:
            self.stop_reason = "timeout"

    def _out_of_time(self, failure: str) -> None:
        """The run's time is up between attempts: a timeout if the run streamed, else a failure."""
        if self.events_received:
            self.stop_reason = "timeout"
            return
        raise ConnectFailed(f"Cannot stream from {self.options.shown_url} within max_duration: {failure}")

    def _give_up(self, failure: str, resend: bool, idle: bool, http_status: bool) -> None:
        """No retry left or allowed: silence after events ends the run; anything else fails it."""
        if idle and self.events_received:
            self.stop_reason = "idle_timeout"
            return
        where = self.options.shown_url
        if not resend:
            raise ConnectFailed(
                f"Connection to {where} lost after {self.events_received} events ({failure}); not re-sent, "
                f"because a {self.options.method} without event ids could run the request twice"
            )
        tries = f" after {self.reconnects} reconnects" if self.reconnects else ""
        if http_status:  # the failure already names the status and the start of the body
            raise ConnectFailed(f"{failure}{tries}".strip())
        raise ConnectFailed(f"Cannot stream from {where}{tries}: {failure}")
