"""One request, one JSON answer: a blocking call over the same HTTP attempt as the SSE client.

``JSONClient(options, policy, event_type=...)`` uses ``utils/http_attempt.py`` (pinned transport,
network policy on every redirect hop, the run's deadline, bounded decoding, error excerpts) to
send the request once, check the status and that the answer is JSON, read it within the run's
time and ``max_event_kb``, and yield it as ONE event of type ``event_type`` whose data is the
body. A body over ``max_event_kb`` is yielded as an ``OversizedEvent`` of that type (its head and
size; the rest is not read). ``StreamRun`` and the formats treat it like any stream, so a blocking
answer ends in the same summary as a streamed one; ``client.report`` says how it ended.

A blocking call is never re-sent: the server may have run it even when the answer was lost.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import httpx
from httpx_sse import ServerSentEvent

from utils.errors import ConnectFailed, HTTPStatusError, SSERequestError
from utils.http_attempt import ATTEMPT_ERRORS, HTTPSession, RunClock, is_idle, one_line, translate
from utils.network_policy import NetworkPolicy
from utils.pinned_transport import Resolver
from utils.report import EndState, StreamReport
from utils.request_options import RequestOptions
from utils.sse_client import never, origin_bound_headers
from utils.sse_decoder import OversizedEvent


class NotJSON(SSERequestError):
    """The answer of a blocking call is not ``application/json``."""


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


class JSONClient:
    def __init__(self, options: RequestOptions, policy: NetworkPolicy | None = None, *, event_type: str,
                 transport: httpx.BaseTransport | None = None, resolver: Resolver = socket.getaddrinfo,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.options = options
        self.policy = policy or NetworkPolicy()
        self.event_type = event_type
        self._transport = transport
        self._resolver = resolver
        self.clock = RunClock(options.limits.time_left, clock)
        self.http_status: int | None = None
        self.reconnects = 0
        self.bytes_received = 0
        self.events_received = 0
        self.end = EndState.COMPLETED
        self._report: StreamReport | None = None

    @property
    def report(self) -> StreamReport:
        if self._report is not None:
            return self._report
        return StreamReport(end=self.end, http_status=self.http_status, reconnects=0,
                            bytes_received=self.bytes_received, events_received=self.events_received,
                            last_event_id="", elapsed=self.clock.elapsed)

    def stream(self, finished: Callable[[], bool] = never) -> Iterator[list[ServerSentEvent]]:
        """One list with one event: the body (see the module's docstring). ``finished`` is accepted
        for the same call shape as ``SSEClient.stream``; a blocking answer has no end marker."""
        options = self.options
        where = options.shown_url
        limits = options.limits
        event: ServerSentEvent | None = None
        try:
            with HTTPSession(self.policy, self.clock, verify=options.ssl_verify, transport=self._transport,
                             resolver=self._resolver, redactor=options.redactor,
                             origin_bound=origin_bound_headers(options)) as session:
                try:
                    url = httpx.URL(options.url).copy_merge_params(list(options.params))
                    with session.open(options.method, url, httpx.Headers(list(options.headers)),
                                      options.content, limits.connect_timeout, limits.read_timeout) as response:
                        self._check(response, session)
                        event = self._read(response, session)
                except ATTEMPT_ERRORS as exc:
                    if self.clock.expired():
                        raise ConnectFailed(f"No answer from {where} within max_duration "
                                            f"({limits.max_duration:g} s); not re-sent") from None
                    if is_idle(exc):
                        raise ConnectFailed(f"No answer from {where} for {limits.read_timeout:g} s "
                                            f"(read_timeout); not re-sent") from None
                    error = translate(exc, session, where)
                    if type(error) is ConnectFailed and not isinstance(exc, httpx.TooManyRedirects):
                        error = ConnectFailed(f"Cannot call {where}: {session.describe(exc)}; not re-sent")
                    raise error from None
            self.events_received = 1
            yield [event]
        finally:
            self._report = self.report

    def _check(self, response: httpx.Response, session: HTTPSession) -> None:
        redact = self.options.redactor
        status = self.http_status = response.status_code
        if not 200 <= status < 300:
            raise HTTPStatusError(status, redact(one_line(response.reason_phrase, 80)), session.excerpt(response))
        content_type = response.headers.get("content-type", "")
        if not _is_json(content_type):
            body = session.excerpt(response)
            raise NotJSON(f"Expected a JSON answer, got Content-Type '{redact(one_line(content_type, 80)) or 'none'}' "
                          f"(HTTP {status})" + (f": {body}" if body else ""))

    def _read(self, response: httpx.Response, session: HTTPSession) -> ServerSentEvent:
        """The body as one event; past ``max_event_kb`` an ``OversizedEvent`` with its head."""
        limit = self.options.limits.max_event_bytes
        parts: list[bytes] = []
        for piece in session.body(response):
            self.bytes_received += len(piece)
            parts.append(piece)
            if limit and self.bytes_received > limit:
                head = b"".join(parts)[: OversizedEvent.HEAD_CHARS * 4].decode("utf-8", "replace")
                return OversizedEvent(self.event_type, head[: OversizedEvent.HEAD_CHARS], None, self.bytes_received)
        return ServerSentEvent(self.event_type, b"".join(parts).decode("utf-8", "replace"))
