"""The record of a run: a bounded list of events, the figures, and the final summary.

Everything that reaches a frame is bounded here, measured as the daemon measures it: bytes of the
serialized line (a control character is a 6-byte JSON escape), not characters. The daemon kills
a plugin for one stdout line over 5 MiB (``PLUGIN_RUNTIME_MAX_BUFFER_SIZE``; see
../shared/research/dify_plugin_sdk.md §7), so: the summary stays under ``MAX_SUMMARY_BYTES``, each
variable under ``MAX_VALUE_BYTES``, each text message under ``MAX_MESSAGE_CHARS`` characters (at
most 6 bytes each), an error message under ``MAX_ERROR_CHARS``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from httpx_sse import ServerSentEvent

from utils.errors import count_events
from utils.formats.base import FormatResult

MAX_KEPT_EVENTS = 100
MAX_KEPT_CHARS = 256 * 1024  # data of the kept events, all together
MAX_EVENT_CHARS = 16 * 1024  # data of one kept event
MAX_NAME_CHARS = 256  # an event's type or id as kept or shown (servers control both)
MAX_LAST_ID_CHARS = 1024  # last_event_id in the summary
MAX_URL_CHARS = 2048
MAX_ERROR_CHARS = 1000  # the one line of an error (the SDK writes it twice: message and traceback)
MAX_SUMMARY_BYTES = 2 * 1024 * 1024
MAX_VALUE_BYTES = 4 * 1024 * 1024  # one variable's value, serialized (the frame adds < 1 KiB)
MAX_MESSAGE_CHARS = 256 * 1024  # one text message: at most 1.5 MiB serialized
CUT = "…[truncated]"

# Fields of the summary that summary mode sends as variables, and what it leaves out of its JSON.
VARIABLE_FIELDS = ("success", "status", "total_events", "connection_duration", "http_status", "reconnects",
                   "format", "answer", "reasoning", "usage", "result")
LEAN_DROPS = frozenset({"answer", "reasoning", "usage", "result", "events", "invalid_samples"})


_second: tuple[int, str] = (-1, "")  # the last whole second formatted, and its ISO 8601 text


def now_iso(now: float | None = None) -> str:
    """The current UTC time as ISO 8601 with milliseconds (``2026-11-30T07:30:00.123Z``). The date
    and time up to the second are formatted once per second; a read adds only the milliseconds
    (issue 19: a full ``datetime`` format on every read was ~5% of a paced stream's CPU)."""
    global _second
    if now is None:
        now = time.time()
    fraction, whole = math.modf(now)  # rounded to microseconds first, as datetime.fromtimestamp does
    micro = round(fraction * 1e6)
    second = int(whole) + micro // 1_000_000
    micro %= 1_000_000
    if _second[0] != second:
        _second = (second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    return f"{_second[1]}.{micro // 1000:03d}Z"


def json_bytes(value: Any) -> int:
    """Bytes of ``value`` as the SDK serializes it (pydantic: UTF-8, control characters escaped)."""
    return len(json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass"))


def clip(text: str, max_chars: int) -> str:
    """``text`` cut to ``max_chars`` characters, saying so."""
    return text if len(text) <= max_chars else text[:max_chars] + CUT


def clip_bytes(text: str, max_bytes: int) -> str:
    """``text`` cut so that its serialized JSON string takes at most ``max_bytes`` bytes."""
    if len(text) * 6 + 2 <= max_bytes:  # no character takes more than 6 bytes serialized
        return text
    size = json_bytes(text)
    if size <= max_bytes:
        return text
    room = max_bytes - json_bytes(CUT)
    keep = len(text) * room // size
    while keep > 0 and json_bytes(text[:keep]) > room:
        keep = keep * 9 // 10
    return text[:keep] + CUT


def fit(value: Any, max_bytes: int = MAX_VALUE_BYTES) -> Any:
    """A variable's value within ``max_bytes`` serialized: a string is cut, an object too large
    to send whole is replaced by ``{"truncated": true, "bytes": n}``."""
    if isinstance(value, str):
        return clip_bytes(value, max_bytes)
    if isinstance(value, (dict, list)):
        size = json_bytes(value)
        if size > max_bytes:
            return {"truncated": True, "bytes": size}
    return value


def event_record(event_type: str, event: ServerSentEvent, timestamp: str) -> dict[str, Any]:
    """The JSON shape of one event, as ``events`` output mode streams it (seed document 1, 4.1)."""
    return {"type": "event", "event_type": clip(event_type, MAX_NAME_CHARS), "data": event.data,
            "timestamp": timestamp, "event_id": clip(event.id, MAX_NAME_CHARS)}


class EventLog:
    """Keeps the first events of a run, within a count and a size; counts the rest.

    An entry is a tuple (event type, data, event id, time of the read in ``time.time()`` seconds),
    sharing the event's own strings when they are within bounds (no copy); ``kept`` builds the JSON
    shape once, for the summary, with the times as ISO 8601 (formatted there, not per read)."""

    __slots__ = ("_entries", "dropped", "_chars")

    def __init__(self) -> None:
        self._entries: list[tuple[str, str, str, float]] = []
        self.dropped = 0
        self._chars = 0

    @property
    def keeping(self) -> bool:
        """True while an event added now would be kept (the run needs its timestamp only then)."""
        return len(self._entries) < MAX_KEPT_EVENTS and self._chars < MAX_KEPT_CHARS

    def add(self, event_type: str, event: ServerSentEvent, at: float) -> None:
        if len(self._entries) >= MAX_KEPT_EVENTS or self._chars >= MAX_KEPT_CHARS:
            self.dropped += 1
            return
        data = clip(event.data, MAX_EVENT_CHARS)
        event_id = clip(event.id, MAX_NAME_CHARS)
        event_type = clip(event_type, MAX_NAME_CHARS)
        self._chars += len(data) + len(event_id) + len(event_type)
        self._entries.append((event_type, data, event_id, at))

    @property
    def kept(self) -> list[dict[str, Any]]:
        """The kept events as the summary shows them."""
        return [{"event_type": t, "data": d, "event_id": i, "timestamp": now_iso(at)} for t, d, i, at in self._entries]


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
    oversized_events: int = 0
    redactor: Callable[[str], str] = field(default=lambda text: text, repr=False)

    def clip_error(self, text: str) -> str:
        """An error line fit for a frame: one line, masked, at most ``MAX_ERROR_CHARS`` characters."""
        return clip(" ".join(self.redactor(text).split()), MAX_ERROR_CHARS)

    @property
    def sentence(self) -> str:
        text = (
            f"{'Finished' if self.success else 'Failed'} ({self.status}): {count_events(self.total_events)} from "
            f"{clip(self.url, MAX_URL_CHARS)} in {self.connection_duration:.1f} s"
        )
        if self.reconnects:
            text += f" after {self.reconnects} reconnect{'s' if self.reconnects != 1 else ''}"
        if self.error:
            text += f"; {self.error}"
        return self.clip_error(text + ".")

    def as_dict(self, bound: bool = True) -> dict[str, Any]:
        """The summary as JSON-ready data; ``bound``: within ``MAX_SUMMARY_BYTES`` serialized (the JSON
        message). Variables take the unbounded values, each fitted to ``MAX_VALUE_BYTES`` on its own."""
        outcome = self.outcome
        masked = self.redactor
        data: dict[str, Any] = {
            "success": self.success,
            "status": str(self.status),
            "summary": self.sentence,
            "http_status": self.http_status,
            "url": clip(self.url, MAX_URL_CHARS),
            "method": self.method,
            "format": self.format,
            "total_events": self.total_events,
            "connection_duration": round(self.connection_duration, 3),
            "reconnects": self.reconnects,
            "bytes_received": self.bytes_received,
            "last_event_id": clip(masked(self.last_event_id), MAX_LAST_ID_CHARS),
            "answer": masked(outcome.answer),  # a secret split across two events is whole only here
            "answer_truncated": outcome.answer_truncated,
            "reasoning": masked(outcome.reasoning),
            "usage": outcome.usage.as_dict(),
            "result": outcome.result,
            "invalid_events": outcome.invalid_events,
            "invalid_samples": outcome.invalid_samples,
            "oversized_events": self.oversized_events,
            "events": self.log.kept,
            "events_truncated": self.log.dropped > 0,
            "events_dropped": self.log.dropped,
            "error": self.clip_error(self.error) if self.error else None,
        }
        return bounded(data) if bound else data


def lean(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary without what summary mode already sends as variables (``answer``, ``usage``,
    ``result``, ``reasoning``) and without the kept events and invalid samples: what an agent reads
    is the answer once plus about 1 KiB of figures (issue 12)."""
    return {key: value for key, value in summary.items() if key not in LEAN_DROPS}


def bounded(data: dict[str, Any]) -> dict[str, Any]:
    """Last guard on the size of the serialized summary: drops kept events, then cuts text.
    (ASCII-escaped JSON is never shorter than the UTF-8 line the SDK writes, so it bounds it.)"""
    if len(json.dumps(data)) <= MAX_SUMMARY_BYTES:
        return data
    data["events"] = []
    data["events_truncated"] = True
    if len(json.dumps(data)) > MAX_SUMMARY_BYTES:
        answer = data["answer"]
        data["answer"] = clip_bytes(answer, 256 * 1024)
        data["reasoning"] = clip_bytes(data["reasoning"], 64 * 1024)
        data["answer_truncated"] = data["answer_truncated"] or data["answer"] is not answer
        data["result"] = fit(data["result"], 256 * 1024)
    return data
