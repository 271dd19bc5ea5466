"""Stream formats: each turns events into live text and a final aggregate. No Dify imports."""

from __future__ import annotations

from typing import Any

from httpx_sse import ServerSentEvent

from utils.formats.anthropic import AnthropicFormat
from utils.formats.base import FormatResult, JSONFormat, RawFormat, StreamFormat, Usage, head_name, is_keepalive
from utils.formats.dashscope import DashScopeFormat
from utils.formats.detect import detect
from utils.formats.dify import DIFY_EVENTS, DifyFormat
from utils.formats.gemini import GeminiFormat
from utils.formats.openai import OpenAIFormat

FORMATS: dict[str, type[StreamFormat]] = {
    "raw": RawFormat,
    "dify": DifyFormat,
    "openai": OpenAIFormat,
    "anthropic": AnthropicFormat,
    "gemini": GeminiFormat,
    "dashscope": DashScopeFormat,
}


class AutoFormat:
    """``auto``: a format that decides on the first event that identifies a format, then hands
    every call to the detected format. Keep-alives never decide. Events before that (a gateway's
    ``{"status": "connected"}``, a metadata event) are shown as ``raw`` shows them; after
    ``MAX_UNIDENTIFIED`` such events the stream is taken as ``raw`` for good (detection stops, so a
    raw stream pays for it only at its start). Switching to the detected format starts its answer
    afresh: the lines shown before stay in the live text only. A run that received nothing reports
    ``raw``.

    Everything a ``StreamFormat`` offers is available (``name`` is the detected format's)."""

    MAX_UNIDENTIFIED = 8

    def __init__(self) -> None:
        self._fmt: StreamFormat = RawFormat()
        self._decided = False
        self._unidentified = 0

    @property
    def format(self) -> StreamFormat:
        """The detected format (a placeholder ``raw`` before the first identifying event)."""
        return self._fmt

    @property
    def name(self) -> str:
        return self._fmt.name

    @property
    def complete(self) -> bool:
        return self._fmt.complete

    @property
    def has_end_marker(self) -> bool:
        return self._fmt.has_end_marker

    def feed(self, event: ServerSentEvent) -> tuple[str, str]:
        if not self._decided:
            if is_keepalive(event):
                return event.event, ""
            self._decide(event)
        return self._fmt.feed(event)

    def _decide(self, event: ServerSentEvent) -> None:
        name = detect(event)
        if name == "raw":
            self._unidentified += 1
            if self._unidentified < self.MAX_UNIDENTIFIED:
                return  # shown as raw; the next event may still identify a format
        else:
            fmt = FORMATS[name]()
            if self._fmt.complete:  # [DONE] before any event
                fmt.done()
            self._fmt = fmt
        self._decided = True
        self.feed = self._fmt.feed  # type: ignore[method-assign]  # later events skip this object

    def done(self) -> None:
        self._fmt.done()

    def needs(self, event: ServerSentEvent) -> bool:
        """Before the format is known, an oversized event that names a Dify event is judged as Dify
        would judge it; any other is needed."""
        if not self._decided and head_name(event, "event") in DIFY_EVENTS:
            return DifyFormat().needs(event)
        return self._fmt.needs(event)

    def pop_reasoning(self) -> str:
        return self._fmt.pop_reasoning()

    def finish(self) -> FormatResult:
        return self._fmt.finish()

    def __getattr__(self, attribute: str) -> Any:  # answer, error, invalid_events, usage(), result()...
        return getattr(self._fmt, attribute)


def make_format(name: str, options: Any = None) -> StreamFormat:
    """A fresh aggregator for one run.

    ``name`` is a key of ``FORMATS`` or ``auto`` (an ``AutoFormat``: detection from the first event
    that is not a keep-alive); an unknown name gives ``raw``. When ``options`` (a ``RequestOptions``)
    has a non-empty ``text_path``, the user's JMESPath decides instead of any format: a
    ``JSONPathFormat`` (with ``usage_path``, ``cumulative_text`` and ``event_filter``)."""
    text_path = getattr(options, "text_path", "") if options is not None else ""
    if text_path:
        from utils.formats.json_path import JSONPathFormat  # imported only when used

        return JSONPathFormat(text_path, usage_path=getattr(options, "usage_path", "") or "",
                              cumulative=bool(getattr(options, "cumulative_text", False)),
                              event_filter=frozenset(getattr(options, "event_filter", ()) or ()))
    if name == "auto":
        return AutoFormat()  # type: ignore[return-value]  # a StreamFormat by delegation
    return FORMATS.get(name, RawFormat)()


__all__ = ["FORMATS", "AnthropicFormat", "AutoFormat", "DashScopeFormat", "DifyFormat", "FormatResult", "GeminiFormat", "JSONFormat",
           "OpenAIFormat", "RawFormat", "StreamFormat", "Usage", "detect", "is_keepalive", "make_format"]
