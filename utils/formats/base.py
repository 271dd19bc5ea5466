"""What every stream format is: events in, text deltas out, and an aggregate at the end."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from httpx_sse import ServerSentEvent

logger = logging.getLogger(__name__)

MAX_ANSWER_CHARS = 500_000  # the answer kept for the summary (a bounded JSON line); the stream is not cut
MAX_INVALID_SAMPLES = 5  # raw snippets of events that should have been JSON and were not
MAX_SAMPLE_CHARS = 200


@dataclass
class Usage:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    total_price: float | None = None
    currency: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class FormatResult:
    answer: str = ""
    answer_truncated: bool = False
    usage: Usage = field(default_factory=Usage)
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # a failure the stream itself reported
    complete: bool = False  # the format saw its stream's end marker (see StreamFormat.complete)
    reasoning: str = ""  # reasoning / thinking text, never part of the answer
    invalid_events: int = 0
    invalid_samples: list[str] = field(default_factory=list)


def to_int(value: Any) -> int | None:
    """A token count as servers send it (int, float or digit string); None when absent or odd."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    try:
        return int(float(value))
    except (TypeError, ValueError, OverflowError):  # OverflowError: Infinity, 1e999
        return None


def to_float(value: Any) -> float | None:
    """A price as servers send it (Dify sends decimal strings such as "0.0001650")."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def is_keepalive(event: ServerSentEvent) -> bool:
    """A keep-alive: an event that carries nothing (issue 11, fault 1). It never decides the format,
    is never counted, kept, shown, nor counted as invalid. (Skeleton: the formats work fills it in.)"""
    return not event.data


class StreamFormat:
    """Base class. ``feed`` is on the hot path: it runs once per event and must stay cheap.

    ``complete`` turns true when the format has seen its stream's own end marker (``[DONE]`` is
    told by the run through ``done()``); after that a broken connection loses nothing.
    ``pop_reasoning()`` returns the reasoning text received since its last call (for live
    reasoning); the whole reasoning ends in ``FormatResult.reasoning``.
    """

    name = "raw"
    complete = False

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._answer_chars = 0
        self.answer_truncated = False
        self.error: str | None = None
        self.invalid_events = 0
        self.invalid_samples: list[str] = []

    def feed(self, event: ServerSentEvent) -> tuple[str, str]:
        """Returns (the event's type as this format names it, the text to stream now)."""
        raise NotImplementedError

    def done(self) -> None:
        """The stream sent ``[DONE]``: OpenAI's end marker, which never reaches ``feed``."""
        self.complete = True

    def needs(self, event: ServerSentEvent) -> bool:
        """Whether an oversized event (an ``OversizedEvent``: only the head of its data) would have
        carried answer text. True fails the run; False skips it and the run goes on."""
        return True

    def pop_reasoning(self) -> str:
        """Reasoning text received since the last call ("" for formats without reasoning)."""
        return ""

    def _keep(self, text: str) -> None:
        """Adds streamed text to the answer kept for the summary, up to a bound."""
        if self._answer_chars < MAX_ANSWER_CHARS:
            self._parts.append(text)
            self._answer_chars += len(text)
        elif text:
            self.answer_truncated = True

    def _replace(self, text: str) -> None:
        self._parts = []
        self._answer_chars = 0
        self._keep(text)

    def _json(self, data: str) -> dict[str, Any] | None:
        """The event's data as a JSON object, or None: an empty data (a keep-alive) silently, anything
        else that is not a JSON object counted as invalid and skipped (never fatal)."""
        if not data:
            return None
        try:
            value = json.loads(data)
        except ValueError as exc:
            self._invalid(data, f"not JSON: {exc.msg} (char {exc.pos})")
            return None
        if not isinstance(value, dict):
            self._invalid(data, f"JSON {type(value).__name__}, not an object")
            return None
        return value

    def _invalid(self, data: str, why: str) -> None:
        """Counts an event that should have been JSON; keeps the first few snippets (the run masks
        secrets in them) and logs a warning without the data itself, which may hold anything."""
        self.invalid_events += 1
        if len(self.invalid_samples) < MAX_INVALID_SAMPLES:
            sample = data if len(data) <= MAX_SAMPLE_CHARS else data[:MAX_SAMPLE_CHARS] + "…"
            self.invalid_samples.append(sample)
            logger.warning("%s stream: skipped event %d, whose data is %s (%d chars)", self.name,
                           self.invalid_events, why, len(data))

    @property
    def answer(self) -> str:
        text = "".join(self._parts)
        if len(text) > MAX_ANSWER_CHARS:
            self.answer_truncated = True
            text = text[:MAX_ANSWER_CHARS]
        return text

    def usage(self) -> Usage:
        return Usage()

    def result(self) -> dict[str, Any]:
        return {}

    def finish(self) -> FormatResult:
        if self.invalid_events > MAX_INVALID_SAMPLES:
            logger.warning("%s stream: %d events in all were skipped as invalid JSON", self.name,
                           self.invalid_events)
        result = self.result()
        return FormatResult(answer=self.answer, answer_truncated=self.answer_truncated, usage=self.usage(),
                            result=result, error=self.error, invalid_events=self.invalid_events,
                            invalid_samples=list(self.invalid_samples))


class JSONFormat(StreamFormat):
    """A format whose events carry JSON objects. ``on_json`` sees each parsed object; data that is
    not a JSON object, or a JSON object of a shape the format cannot read, is skipped and counted."""

    def feed(self, event: ServerSentEvent) -> tuple[str, str]:
        obj = self._json(event.data)
        if obj is None:
            return ("invalid" if event.data else event.event), ""
        try:
            return self.on_json(event, obj)
        except (AttributeError, TypeError, IndexError, KeyError) as exc:
            self._invalid(event.data, f"JSON of an unexpected shape ({type(exc).__name__})")
            return "invalid", ""

    def on_json(self, event: ServerSentEvent, obj: dict[str, Any]) -> tuple[str, str]:
        raise NotImplementedError


class RawFormat(StreamFormat):
    """Any event stream: the text of an event is its data, one line per event."""

    name = "raw"

    def feed(self, event: ServerSentEvent) -> tuple[str, str]:
        text = event.data + "\n"
        self._keep(text)
        return event.event, text
