"""One run: client -> format -> summary. The per-event loop of every tool lives here, once.

``StreamRun(options).chunks()`` yields a ``Chunk`` per network read that produced something
(the joined text deltas of its events, and the events themselves for ``events`` mode), then
sets ``run.summary``. It raises ``StreamReportedError`` at the end when the stream reported a
failure and the options say to fail on it, after every chunk has been yielded.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from httpx_sse import ServerSentEvent

from utils.errors import StreamReportedError
from utils.formats import FormatResult, StreamFormat, is_keepalive, make_format
from utils.network_policy import NetworkPolicy
from utils.request_options import RequestOptions
from utils.sse_client import SSEClient
from utils.summary import EventLog, Summary, now_iso

logger = logging.getLogger(__name__)

DONE = "[DONE]"  # OpenAI's terminator: ends a stream, never shown as data


@dataclass(slots=True)
class Chunk:
    text: str
    events: list[tuple[str, ServerSentEvent]] = field(default_factory=list)  # (type, event)
    timestamp: str = ""


class StreamRun:
    def __init__(self, options: RequestOptions, policy: NetworkPolicy | None = None,
                 client: SSEClient | None = None) -> None:
        self.options = options
        self.client = client or SSEClient(options, policy)
        self.format: StreamFormat | None = None
        self.log = EventLog()
        self.total_events = 0
        self.status = "completed"
        self.summary: Summary | None = None

    def chunks(self) -> Iterator[Chunk]:
        options = self.options
        stop_on = frozenset(options.stop_on)
        wanted = frozenset(options.event_filter)
        max_events = options.limits.max_events
        log_add = self.log.add
        fmt = self.format = make_format(options.stream_format, options)
        redactor = options.redactor if options.redactor.active else None  # a run with no secret pays nothing
        stopped = ""
        stream = self.client.stream()
        try:
            for batch in stream:
                timestamp = now_iso()
                parts: list[str] = []
                shown: list[tuple[str, ServerSentEvent]] = []
                for event in batch:
                    if is_keepalive(event):  # not counted, kept, shown, detected from, nor invalid
                        continue
                    data = event.data
                    if data == DONE:  # the stream's own end
                        stopped = "completed"
                        break
                    if redactor is not None and redactor.found_in(data):  # a server echoing a secret
                        data = redactor(data)
                        event = ServerSentEvent(event.event, data, event.id, event.retry)
                    event_type, text = fmt.feed(event)  # the aggregate sees every event
                    if not wanted or event_type in wanted:
                        self.total_events += 1
                        log_add(event_type, event, timestamp)
                        shown.append((event_type, event))
                        if text:
                            parts.append(text)
                    if stop_on and (event_type in stop_on or data in stop_on):
                        stopped = "stopped"
                        break
                    if max_events and self.total_events >= max_events:
                        stopped = "max_events"
                        break
                if shown:
                    yield Chunk("".join(parts), shown, timestamp)
                if stopped:
                    break
        finally:
            stream.close()
        self.status = stopped or self.client.stop_reason
        self._finish()

    def _finish(self) -> None:
        client = self.client
        outcome = self.format.finish() if self.format is not None else FormatResult()
        outcome.invalid_samples = [self.options.redactor(sample) for sample in outcome.invalid_samples]
        error = outcome.error
        if self.status == "event_too_large":
            error = f"an event exceeded max_event_kb ({self.options.limits.max_event_bytes // 1024} KiB)"
        if error:
            error = self.options.redactor(error)
        success = error is None  # every status but event_too_large, which sets an error, ends a run well
        self.summary = Summary(
            success=success,
            status=self.status if success or self.status != "completed" else "error",
            url=self.options.shown_url,
            method=self.options.method,
            http_status=client.http_status,
            total_events=self.total_events,
            connection_duration=client.elapsed,
            reconnects=client.reconnects,
            bytes_received=client.bytes_received,
            last_event_id=client.decoder.last_event_id,
            format=self.format.name if self.format is not None else (
                "raw" if self.options.stream_format == "auto" else self.options.stream_format),
            outcome=outcome,
            log=self.log,
            error=error,
        )
        if outcome.error and self.options.fail_on_stream_error:
            raise StreamReportedError(f"The stream reported an error: {error}")
