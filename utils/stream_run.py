"""One run: client -> format -> summary. The per-event loop of every tool lives here, once.

``StreamRun(options).chunks()`` yields a ``Chunk`` per network read that produced something
(the joined text deltas of its events, the answer and reasoning deltas, and the events themselves
for ``events`` mode), then sets ``run.summary``. Whether the run is complete is decided here and
only here (``utils/outcome.py``); an incomplete run raises ``IncompleteRun`` (a stream-reported
failure ``StreamReportedError``) after every chunk was yielded and ``run.summary`` was set, when
``fail_on_stream_error`` is on.

Per event, in this order: keep-alives are dropped (never counted, kept, shown nor fed to a
format); an ``OversizedEvent`` (passed ``max_event_kb``) is skipped and counted when the format
does not need it for the answer, and ends the run (``event_too_large``) when it does; ``[DONE]``
ends the stream (``fmt.done()``); secrets are masked in ``data``, ``event`` and ``id``; the
format sees every other event; ``event_filter`` decides what is counted, kept and shown.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from httpx_sse import ServerSentEvent

from utils.errors import StreamReportedError
from utils.formats import FormatResult, StreamFormat, is_keepalive, make_format
from utils.network_policy import NetworkPolicy
from utils.outcome import IncompleteRun, Outcome, RunStatus, decide
from utils.request_options import RequestOptions
from utils.sse_client import SSEClient
from utils.sse_decoder import OversizedEvent
from utils.summary import EventLog, Summary, now_iso

logger = logging.getLogger(__name__)

DONE = "[DONE]"  # OpenAI's terminator: ends a stream, never shown as data


@dataclass(slots=True)
class Chunk:
    """What one network read produced. ``text``: the live text of the shown events (``event_filter``);
    ``answer``: the answer delta of every event (the live ``answer`` stream variable);
    ``reasoning``: the reasoning delta (only with ``stream_reasoning``)."""

    text: str
    events: list[tuple[str, ServerSentEvent]] = field(default_factory=list)  # (type, event)
    timestamp: str = ""  # ISO 8601 time of the read; "" when chunks(timestamps=False)
    answer: str = ""
    reasoning: str = ""


class StreamRun:
    def __init__(self, options: RequestOptions, policy: NetworkPolicy | None = None,
                 client: SSEClient | None = None) -> None:
        self.options = options
        self.client = client or SSEClient(options, policy)
        self.format: StreamFormat | None = None
        self.log = EventLog()
        self.total_events = 0
        self.oversized_events = 0
        self.stop: RunStatus | None = None  # the run's own stop; None: the transport ended it
        self.stop_error: str | None = None
        self.outcome: Outcome | None = None
        self.summary: Summary | None = None

    def _finished(self) -> bool:
        """Tells the client the format saw its end marker: a broken connection after it loses nothing."""
        return self.format is not None and self.format.complete

    def chunks(self, timestamps: bool = True) -> Iterator[Chunk]:
        """The run's chunks (see the module's docstring). ``timestamps``: every chunk carries the
        time of its read as ISO 8601 (``events`` mode shows it); off, ``timestamp`` is "" and the
        clock is read only while the event log still keeps events (the log formats its times once)."""
        options = self.options
        stop_on = frozenset(options.stop_on)
        wanted = frozenset(options.event_filter)
        max_events = options.limits.max_events
        log = self.log
        log_add = log.add
        fmt = self.format = make_format(options.stream_format, options)  # auto: decides on its first event
        redactor = options.redactor if options.redactor.active else None  # a run with no secret pays nothing
        live_reasoning = bool(getattr(options, "stream_reasoning", False))
        stop: RunStatus | None = None
        stream = self.client.stream(finished=self._finished)
        try:
            for batch in stream:
                at = time.time() if timestamps or log.keeping else 0.0
                timestamp = now_iso(at) if timestamps else ""
                parts: list[str] = []
                answer: list[str] = []
                shown: list[tuple[str, ServerSentEvent]] = []
                for event in batch:
                    if is_keepalive(event):
                        continue
                    if redactor is not None:  # a server echoing a secret
                        event = _masked(event, redactor)
                    data = event.data
                    if isinstance(event, OversizedEvent):
                        if self._skipped(event, fmt):
                            continue
                        stop = RunStatus.EVENT_TOO_LARGE
                        break
                    if data == DONE:  # the stream's own end
                        fmt.done()
                        stop = RunStatus.COMPLETED
                        break
                    event_type, text = fmt.feed(event)  # the aggregate sees every event
                    if text and wanted:  # with a filter, the answer delta is more than the shown text
                        answer.append(text)
                    if not wanted or event_type in wanted:
                        self.total_events += 1
                        log_add(event_type, event, at)
                        shown.append((event_type, event))
                        if text:
                            parts.append(text)
                    if stop_on and (event_type in stop_on or data in stop_on):
                        stop = RunStatus.STOPPED
                        break
                    if max_events and self.total_events >= max_events:
                        stop = RunStatus.MAX_EVENTS
                        break
                reasoning = fmt.pop_reasoning()
                if shown or answer or (reasoning and live_reasoning):
                    text = "".join(parts)
                    if redactor is not None:  # deltas joined may hold a secret that no one event held
                        text, reasoning = redactor(text), redactor(reasoning)
                    delta = (redactor("".join(answer)) if redactor else "".join(answer)) if wanted else text
                    yield Chunk(text, shown, timestamp, delta, reasoning if live_reasoning else "")
                if stop is not None:
                    break
        finally:
            stream.close()
        self.stop = stop
        self._finish()

    def _skipped(self, event: OversizedEvent, fmt: StreamFormat) -> bool:
        """An event over ``max_event_kb``: skipped and counted when the format does not need it for the
        answer (True); otherwise the run must stop, and ``stop_error`` says why (False)."""
        if fmt.needs(event):
            self.stop_error = (f"an event of more than {event.size // 1024} KiB passed max_event_kb "
                               f"({self.options.limits.max_event_bytes // 1024} KiB) and it carries the answer")
            return False
        self.oversized_events += 1
        logger.warning("skipped an event of more than %d bytes (over max_event_kb) that the %s answer does not "
                       "need", event.size, fmt.name)
        return True

    def _finish(self) -> None:
        options = self.options
        redactor = options.redactor
        report = self.client.report
        fmt = self.format
        outcome = fmt.finish() if fmt is not None else FormatResult()
        outcome.invalid_samples = [redactor(sample) for sample in outcome.invalid_samples]
        format_name = fmt.name if fmt is not None else (
            "raw" if options.stream_format == "auto" else options.stream_format)
        limits = options.limits
        end = self.stop if self.stop is not None else RunStatus(str(report.end))
        result = outcome.result if isinstance(outcome.result, dict) else {}
        verdict = (result["success"], result.get("error")) if isinstance(result.get("success"), bool) else None
        decided = self.outcome = decide(
            end, format_name=format_name, format_complete=fmt is not None and fmt.complete,
            has_end_marker=fmt is None or fmt.has_end_marker,
            stream_error=outcome.error,
            end_error=self.stop_error if self.stop is not None else report.error,
            bounds={"max_duration": limits.max_duration, "read_timeout": limits.read_timeout,
                    "max_stream_mb": limits.max_stream_bytes / (1024 * 1024), "max_events": limits.max_events,
                    "max_event_kb": limits.max_event_bytes // 1024},
            format_verdict=verdict,
        )
        outcome.complete = decided.complete
        if verdict is not None:
            result["success"] = decided.success  # top-level success and result.success agree
        error = redactor(decided.error) if decided.error else None
        self.summary = Summary(
            success=decided.success,
            status=decided.status,
            url=options.shown_url,
            method=options.method,
            http_status=report.http_status,
            total_events=self.total_events,
            connection_duration=report.elapsed,
            reconnects=report.reconnects,
            bytes_received=report.bytes_received,
            last_event_id=redactor(report.last_event_id),
            format=format_name,
            outcome=outcome,
            log=self.log,
            error=error,
            oversized_events=self.oversized_events,
            redactor=redactor,
        )
        if decided.success or not options.fail_on_stream_error:
            return
        if outcome.error:
            raise StreamReportedError(self.summary.clip_error(f"The stream reported an error: {error}"))
        raise IncompleteRun(self.summary.clip_error(self.summary.sentence))


def _masked(event: ServerSentEvent, redactor) -> ServerSentEvent:
    """The event with every known secret masked in its data, type and id (an oversized one stays one);
    the same event when it holds none."""
    if not (redactor.found_in(event.data) or redactor.found_in(event.event) or redactor.found_in(event.id)):
        return event
    if isinstance(event, OversizedEvent):
        return OversizedEvent(redactor(event.event), redactor(event.data), redactor(event.id), event.size)
    return ServerSentEvent(redactor(event.event), redactor(event.data), redactor(event.id), event.retry)
