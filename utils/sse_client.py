"""The SSE client: one run's event stream over ``utils/http_attempt.py`` + our WHATWG decoder.

``SSEClient(options).stream(finished)`` yields the events of each network read as soon as the
read returns (a burst becomes one list; a lone event is never held back), then leaves
``client.report`` (a frozen ``StreamReport``) saying how the stream ended. It owns what is
particular to event streams:

- request: ``Accept: text/event-stream``, ``Cache-Control: no-cache``, ``Last-Event-ID`` on
  reconnect; the status (200 only) and Content-Type checks (WHATWG HTML §9.2.3 "establish the
  connection": anything else fails the connection; 204/205 on a reconnect is the server's stop);
- reconnection as the WHATWG processing model says (the server's ``retry:``, exponential backoff
  with jitter, ``Retry-After`` on 429/502/503/504), but never a replay: a stream that delivered
  events is reconnected only when the server gave an event id to resume from;
- the limits on one event (the decoder) and on the whole stream (decoded bytes).

Errors: raises ``SSERequestError`` subclasses (one masked line) only while nothing was delivered.
After the first event every end is a report: ``end`` and, for LOST / IDLE_TIMEOUT / TIMEOUT /
MAX_STREAM_BYTES, ``error`` saying why. ``finished()`` is the run saying it has its answer: a broken connection
after that ends the stream as COMPLETED.
"""

from __future__ import annotations

import logging
import random
import socket
import time
from collections.abc import Callable, Iterator

import httpx
from httpx_sse import ServerSentEvent

from utils.errors import ConnectFailed, HTTPStatusError, NotEventStream, SSERequestError, count_events
from utils.http_attempt import (
    ATTEMPT_ERRORS,
    READ,
    RETRY_STATUSES,
    Action,
    HTTPSession,
    RunClock,
    Verdict,
    is_idle,
    one_line,
    retry_after,
    translate,
)
from utils.network_policy import NetworkPolicy
from utils.pinned_transport import Resolver
from utils.report import EndState, StreamReport
from utils.request_options import RequestOptions
from utils.sse_decoder import SSEDecoder

logger = logging.getLogger(__name__)

MAX_BACKOFF_S = 30.0


def never() -> bool:
    return False


def origin_bound_headers(options: RequestOptions) -> list[str]:
    """Names of the request's headers that must not follow a redirect to another origin: every
    header whose value holds a secret the run knows (administrator default headers are secret
    inputs, and the token's header), on top of the credential names ``is_secret_header`` knows."""
    return [name for name, value in options.headers if options.redactor.found_in(value)]


class SSEClient:
    """One run's connection(s). Not shared between runs: every run builds its own."""

    def __init__(self, options: RequestOptions, policy: NetworkPolicy | None = None, *,
                 transport: httpx.BaseTransport | None = None, resolver: Resolver = socket.getaddrinfo,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.options = options
        self.policy = policy or NetworkPolicy()
        self._transport = transport
        self._resolver = resolver
        self._sleep = sleep
        self.clock = RunClock(options.limits.time_left, clock)
        self.decoder = SSEDecoder(options.limits.max_event_bytes)
        self.http_status: int | None = None
        self.reconnects = 0
        self.bytes_received = 0  # decoded bytes
        self.events_received = 0
        self.end = EndState.COMPLETED
        self.error: str | None = None
        self._report: StreamReport | None = None
        # query_params are added to a query the URL already has (httpx's params= would replace it)
        url = httpx.URL(options.url)
        self.url = url.copy_merge_params(list(options.params)) if options.params else url

    # -- what the run reads ----------------------------------------------------------------
    @property
    def report(self) -> StreamReport:
        """The frozen figures of the run: final once ``stream()`` ended, the figures so far before."""
        if self._report is not None:
            return self._report
        return StreamReport(end=self.end, http_status=self.http_status, reconnects=self.reconnects,
                            bytes_received=self.bytes_received, events_received=self.events_received,
                            last_event_id=self.decoder.last_event_id, elapsed=self.clock.elapsed, error=self.error)

    # -- helpers ---------------------------------------------------------------------------
    def _session(self) -> HTTPSession:
        return HTTPSession(self.policy, self.clock, verify=self.options.ssl_verify, transport=self._transport,
                           resolver=self._resolver, redactor=self.options.redactor,
                           origin_bound=origin_bound_headers(self.options))

    def _headers(self) -> httpx.Headers:
        headers = httpx.Headers({"Accept": "text/event-stream", "Cache-Control": "no-cache"})
        for key, value in self.options.headers:
            headers[key] = value  # replaces a default of the same name, in any case
        if self.decoder.last_event_id:
            headers["Last-Event-ID"] = self.decoder.last_event_id
        return headers

    def _open(self, session: HTTPSession):
        limits = self.options.limits
        return session.open(self.options.method, self.url, self._headers(), self.options.content,
                            limits.connect_timeout, limits.read_timeout)

    def _backoff(self, attempt: int, floor: float) -> float:
        base = (self.decoder.retry if self.decoder.retry is not None else self.options.limits.retry_interval_ms) / 1000
        delay = min(MAX_BACKOFF_S, base * 2 ** max(0, attempt - 1))
        delay = delay / 2 + random.uniform(0, delay / 2)  # equal jitter
        return max(delay, floor)

    def _judge(self, response: httpx.Response, session: HTTPSession, opened_before: bool) -> Verdict:
        """The verdict on an answer's status and Content-Type (WHATWG "establish the connection":
        200 with ``text/event-stream`` is read, 204/205 after a stream was read is the server's
        clean stop). An answer that can never be a stream raises while nothing was delivered."""
        redact = self.options.redactor
        status = self.http_status = response.status_code
        phrase = redact(one_line(response.reason_phrase, 80))
        if status in RETRY_STATUSES:
            return Verdict(Action.RETRY, retry_after(response) or 0.0,
                           str(HTTPStatusError(status, phrase, session.excerpt(response))))
        if status in (204, 205) and opened_before:
            return Verdict(Action.STOP)  # no reason: a clean end
        if status != 200:
            detail = session.excerpt(response)
            if 200 <= status < 300:
                detail = "an event stream must answer 200 OK" + (f" ({detail})" if detail else "")
            return self._refuse(HTTPStatusError(status, phrase, detail))
        content_type = response.headers.get("content-type", "")
        if content_type.split(";", 1)[0].strip().lower() != "text/event-stream":
            body = session.excerpt(response)
            return self._refuse(NotEventStream(
                f"Expected Content-Type text/event-stream, got '{redact(one_line(content_type or 'none', 80))}' "
                f"(HTTP {status})" + (f": {body}" if body else "")))
        return READ

    def _refuse(self, error: SSERequestError) -> Verdict:
        """No use trying again: raises while nothing was delivered, else a STOP with the reason."""
        if self.events_received == 0:
            raise error
        return Verdict(Action.STOP, reason=str(error))

    def _verdict_on(self, exc: BaseException, session: HTTPSession) -> Verdict:
        """The verdict on an attempt's error: silence and broken connections may be retried;
        a refused hop, a bad redirect or body may not."""
        if is_idle(exc):
            return Verdict(Action.RETRY, reason=f"no data for {self.options.limits.read_timeout:g} s (read_timeout)")
        error = translate(exc, session, self.options.shown_url)
        if type(error) is not ConnectFailed or isinstance(exc, httpx.TooManyRedirects):
            return self._refuse(error)
        return Verdict(Action.RETRY, reason=session.describe(exc))

    def probe(self) -> None:
        """Opens the stream, checks that it is an event stream, and closes it (no retries)."""
        with self._session() as session:
            try:
                with self._open(session) as response:
                    verdict = self._judge(response, session, opened_before=False)
                    if verdict.action is not Action.READ:
                        raise ConnectFailed(verdict.reason or f"HTTP {response.status_code}")
            except ATTEMPT_ERRORS as exc:
                raise translate(exc, session, self.options.shown_url) from None

    # -- the run ---------------------------------------------------------------------------
    def stream(self, finished: Callable[[], bool] = never) -> Iterator[list[ServerSentEvent]]:
        """Events per network read; see the module's docstring. ``client.report`` is final after."""
        try:
            with self._session() as session:
                yield from self._attempts(session, finished)
        finally:
            self._report = self.report

    def _attempts(self, session: HTTPSession, finished: Callable[[], bool]) -> Iterator[list[ServerSentEvent]]:
        limits = self.options.limits
        failures = 0  # failures in a row: the backoff's exponent (it restarts when a stream opens)
        opened = False
        while True:
            idle = False
            reading = False  # the deadline ends a flowing stream (a sample); a broken one it ends lost
            try:
                with self._open(session) as response:
                    verdict = self._judge(response, session, opened)
                    if verdict.action is Action.READ:
                        opened = reading = True
                        failures = 0
                        yield from self._read(session, response)
                        return
            except ATTEMPT_ERRORS as exc:
                if finished():  # the run has its answer: a broken end is still its end
                    return
                if self.clock.expired():
                    failure = "no response before the time ran out" if self.clock.cut else session.describe(exc)
                    if reading or not self.events_received:
                        self._time_up(failure)
                    else:  # reconnecting after a loss: the loss, not max_duration, ended the stream
                        self._lost(f"{failure}; max_duration ({limits.max_duration:g} s) passed while "
                                   f"reconnecting", idle=False)
                    return
                idle = is_idle(exc)
                verdict = self._verdict_on(exc, session)
            if verdict.action is Action.STOP:
                if verdict.reason:
                    self._lost(verdict.reason, idle=False)
                else:
                    self.end = EndState.NO_CONTENT
                return
            # RETRY: allowed only while it cannot replay, and within max_retries and max_duration.
            failures += 1
            why_not = self._why_not_resume()
            if why_not or self.reconnects >= limits.max_retries:
                self._give_up(verdict.reason, idle, why_not)
                return
            delay = self._backoff(failures, verdict.delay)
            if self.clock.now() + delay >= self.clock.at:
                if not self.events_received:
                    self._time_up(f"{verdict.reason}; the next attempt would pass max_duration")
                else:  # a lost stream that cannot be resumed in time is lost, as when no retry is left
                    self._lost(f"{verdict.reason}; the next attempt would pass max_duration "
                               f"({limits.max_duration:g} s)", idle)
                return
            self.reconnects += 1
            logger.info("reconnecting in %.2f s (attempt %d of %d): %s", delay, self.reconnects, limits.max_retries,
                        verdict.reason)
            self._sleep(delay)

    def _read(self, session: HTTPSession, response: httpx.Response) -> Iterator[list[ServerSentEvent]]:
        max_bytes = self.options.limits.max_stream_bytes
        decoder = self.decoder
        feed = decoder.feed
        decoder.new_stream()
        clock = self.clock
        for piece in session.body(response):
            self.bytes_received += len(piece)
            events = feed(piece)
            if events:
                self.events_received += len(events)
                yield events
            if max_bytes and self.bytes_received > max_bytes:
                self.end = EndState.MAX_STREAM_BYTES
                self.error = (f"max_stream_mb ({max_bytes / (1 << 20):g} MiB of decoded data) reached after "
                              f"{count_events(self.events_received)}")
                return
            if clock.expired():
                self._time_up("")
                return
        if clock.expired():
            self._time_up("")

    # -- ends ------------------------------------------------------------------------------
    def _why_not_resume(self) -> str:
        """Empty when a reconnect cannot replay anything (nothing delivered yet, or an event id to
        resume from); else why it could (issue 12: reconnection never replays)."""
        if self.events_received == 0 or self.decoder.last_event_id:
            return ""
        return "the server sent no event ids to resume from"

    def _time_up(self, failure: str) -> None:
        """max_duration passed: a TIMEOUT end if the run delivered events, else a failure."""
        if self.events_received == 0:
            detail = f": {failure}" if failure else ""
            raise ConnectFailed(f"Cannot stream from {self.options.shown_url} within max_duration "
                                f"({self.options.limits.max_duration:g} s){detail}")
        self.end = EndState.TIMEOUT
        self.error = f"max_duration ({self.options.limits.max_duration:g} s) passed after {count_events(self.events_received)}"

    def _lost(self, failure: str, idle: bool, why: str = "") -> None:
        """An end after events: LOST (or IDLE_TIMEOUT for silence) with a one-line error."""
        n = self.events_received
        if idle:
            self.end = EndState.IDLE_TIMEOUT
            self.error = f"no data for {self.options.limits.read_timeout:g} s (read_timeout) after {count_events(n)}"
        else:
            self.end = EndState.LOST
            self.error = f"connection lost after {count_events(n)} ({failure})"
        if why:
            self.error += f"; not reconnected, because {why}"
        elif self.reconnects:
            self.error += f"; no reconnect left after {self.reconnects}"
        self.error = self.options.redactor(self.error)

    def _give_up(self, failure: str, idle: bool, why_not: str) -> None:
        """No retry left or allowed: after events an end with an error; before, a failure."""
        if self.events_received:
            self._lost(failure, idle, why_not)
            return
        tries = f" after {self.reconnects} reconnects" if self.reconnects else ""
        if failure.startswith("HTTP "):  # the failure already names the status and the start of the body
            raise ConnectFailed(f"{failure}{tries}")
        raise ConnectFailed(f"Cannot stream from {self.options.shown_url}{tries}: {failure}")


__all__ = ["SSEClient", "SSERequestError"]
