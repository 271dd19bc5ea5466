"""What every stream format is: events in, text deltas out, and an aggregate at the end."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from httpx_sse import ServerSentEvent

MAX_ANSWER_CHARS = 500_000  # the answer kept for the summary (a bounded JSON line); the stream is not cut


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
    invalid_events: int = 0
    invalid_samples: list[str] = field(default_factory=list)


class StreamFormat:
    """Base class. ``feed`` is on the hot path: it runs once per event and must stay cheap."""

    name = "raw"

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._answer_chars = 0
        self.answer_truncated = False
        self.error: str | None = None

    def feed(self, event: ServerSentEvent) -> tuple[str, str]:
        """Returns (the event's type as this format names it, the text to stream now)."""
        raise NotImplementedError

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

    @property
    def answer(self) -> str:
        text = "".join(self._parts)
        if len(text) > MAX_ANSWER_CHARS:
            self.answer_truncated = True
            text = text[:MAX_ANSWER_CHARS]
        return text

    def finish(self) -> FormatResult:
        return FormatResult(answer=self.answer, answer_truncated=self.answer_truncated, error=self.error)


class RawFormat(StreamFormat):
    """Any event stream: the text of an event is its data, one line per event."""

    name = "raw"

    def feed(self, event: ServerSentEvent) -> tuple[str, str]:
        text = event.data + "\n"
        self._keep(text)
        return event.event, text
