"""One request, one JSON answer: a blocking call made with the SSE client's own machinery.

``JSONClient(options, policy, event_type=...)`` is an ``SSEClient`` (same pinned transport and
network policy, redirect checks, timeouts cut to the run's deadline, redaction of error
bodies) whose ``stream()`` sends the request once, checks the status and that the answer is
JSON, reads it within the run's time and ``max_event_kb``, and yields it as ONE event of type
``event_type`` whose data is the body. ``StreamRun`` and the formats then treat it like any
stream, so a blocking answer ends in the same summary as a streamed one.

A blocking call is never re-sent: the server may have run it even when the answer was lost.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
from httpx_sse import ServerSentEvent

from utils.errors import ConnectFailed, HTTPStatusError, SSERequestError
from utils.network_policy import NetworkPolicy
from utils.request_options import RequestOptions
from utils.sse_client import SSEClient, _Deadline


class NotJSON(SSERequestError):
    """The answer of a blocking call is not ``application/json``."""


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


class JSONClient(SSEClient):
    def __init__(self, options: RequestOptions, policy: NetworkPolicy | None = None, *, event_type: str,
                 **kwargs: Any) -> None:
        super().__init__(options, policy, **kwargs)
        self.event_type = event_type

    def stream(self) -> Iterator[list[ServerSentEvent]]:
        options = self.options
        body: bytes | None = None
        with self._client() as client:
            try:
                with client.stream(options.method, self.url, headers=self._headers(), content=options.content,
                                   timeout=self._attempt_timeout()) as response:
                    self._check_json(response)
                    body = self._read_body(response)
            except httpx.TooManyRedirects:
                raise ConnectFailed(f"Too many redirects from {options.shown_url}") from None
            except httpx.TransportError as exc:
                if self._clock() >= self.deadline:
                    raise ConnectFailed(f"No answer from {options.shown_url} within max_duration "
                                        f"({options.limits.max_duration:g} s); not re-sent") from None
                if isinstance(exc, httpx.ReadTimeout):
                    raise ConnectFailed(f"No answer from {options.shown_url} for "
                                        f"{options.limits.read_timeout:g} s (read_timeout); not re-sent") from None
                raise ConnectFailed(f"Cannot call {options.shown_url}: {self._describe(exc)}; not re-sent") from None
        if body is None:
            return
        self.events_received = 1
        yield [ServerSentEvent(self.event_type, body.decode("utf-8", "replace"))]

    def _check_json(self, response: httpx.Response) -> None:
        status = self.http_status = response.status_code
        if not 200 <= status < 300:
            raise HTTPStatusError(status, response.reason_phrase, self._error_body(response))
        content_type = response.headers.get("content-type", "")
        if not _is_json(content_type):
            body = self._error_body(response)
            raise NotJSON(f"Expected a JSON answer, got Content-Type '{' '.join(content_type.split())[:80] or 'none'}' "
                          f"(HTTP {status})" + (f": {body}" if body else ""))

    def _read_body(self, response: httpx.Response) -> bytes | None:
        """The whole body, or None when it passes ``max_event_kb`` (status ``event_too_large``)."""
        limit = self.options.limits.max_event_bytes
        parts: list[bytes] = []
        deadline = _Deadline(response, self.deadline - self._clock())
        try:
            for chunk in response.iter_bytes():
                self.bytes_received += len(chunk)
                parts.append(chunk)
                if limit and self.bytes_received > limit:
                    self.stop_reason = "event_too_large"
                    return None
        finally:
            deadline.cancel()
        return b"".join(parts)
