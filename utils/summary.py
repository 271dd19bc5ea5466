"""The record of a run: a bounded list of events, the figures, and the final summary.

Everything here is bounded so that the summary, serialized as one line for the daemon, stays
far below its 5 MiB line limit whatever the stream was.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from httpx_sse import ServerSentEvent

from utils.formats.base import FormatResult

MAX_KEPT_EVENTS = 100
MAX_KEPT_CHARS = 256 * 1024  # data of the kept events, all together
MAX_EVENT_CHARS = 16 * 1024  # data of one kept event
MAX_SUMMARY_BYTES = 2 * 1024 * 1024


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_record(event_type: str, event: ServerSentEvent, timestamp: str) -> dict[str, Any]:
    """The JSON shape of one event, as ``events`` output mode streams it (seed document 1, 4.1)."""
    return {"type": "event", "event_type": event_type, "data": event.data, "timestamp": timestamp,
            "event_id": event.id}


@dataclass
class EventLog:
    """Keeps the first events of a run, within a count and a size; counts the rest."""

    kept: list[dict[str, Any]] = field(default_factory=list)
    dropped: int = 0
    _chars: int = 0

    def add(self, event_type: str, event: ServerSentEvent, timestamp: str) -> None:
        if len(self.kept) >= MAX_KEPT_EVENTS or self._chars >= MAX_KEPT_CHARS:
            self.dropped += 1
            return
        data = event.data
        if len(data) > MAX_EVENT_CHARS:
            data = data[:MAX_EVENT_CHARS] + "…[truncated]"
        self._chars += len(data)
        self.kept.append({"event_type": event_type, "data": data, "event_id": event.id, "timestamp": timestamp})


@dataclass
class Summary:
    success: bool
    status: str
    url: str
    method: str
    http_status: int | None
    total_events: int
    connection_duration: float
    reconnects: int
    bytes_received: int
    last_event_id: str
    format: str
    outcome: FormatResult
    log: EventLog
    error: str | None = None

    @property
    def sentence(self) -> str:
        text = (
            f"{'Finished' if self.success else 'Failed'} ({self.status}): {self.total_events} events from "
            f"{self.url} in {self.connection_duration:.1f} s"
        )
        if self.reconnects:
            text += f" after {self.reconnects} reconnect{'s' if self.reconnects != 1 else ''}"
        if self.error:
            text += f"; {self.error}"
        return text + "."

    def as_dict(self) -> dict[str, Any]:
        outcome = self.outcome
        data: dict[str, Any] = {
            "success": self.success,
            "status": self.status,
            "summary": self.sentence,
            "http_status": self.http_status,
            "url": self.url,
            "method": self.method,
            "format": self.format,
            "total_events": self.total_events,
            "connection_duration": round(self.connection_duration, 3),
            "reconnects": self.reconnects,
            "bytes_received": self.bytes_received,
            "last_event_id": self.last_event_id,
            "answer": outcome.answer,
            "answer_truncated": outcome.answer_truncated,
            "usage": outcome.usage.as_dict(),
            "result": outcome.result,
            "invalid_events": outcome.invalid_events,
            "invalid_samples": outcome.invalid_samples,
            "events": self.log.kept,
            "events_truncated": self.log.dropped > 0,
            "events_dropped": self.log.dropped,
            "error": self.error,
        }
        return bounded(data)


def bounded(data: dict[str, Any]) -> dict[str, Any]:
    """Last guard on the size of the serialized summary: drops kept events, then cuts text.
    (ASCII-escaped JSON is never shorter than the UTF-8 line the SDK writes, so it bounds it.)"""
    if len(json.dumps(data)) <= MAX_SUMMARY_BYTES:
        return data
    data["events"] = []
    data["events_truncated"] = True
    if len(json.dumps(data)) > MAX_SUMMARY_BYTES:
        data["answer"] = data["answer"][:50_000]
        data["answer_truncated"] = True
        data["result"] = {"truncated": True}
    return data
