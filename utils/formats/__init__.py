"""Stream formats: each turns events into live text and a final aggregate. No Dify imports."""

from __future__ import annotations

from httpx_sse import ServerSentEvent

from utils.formats.base import FormatResult, RawFormat, StreamFormat, Usage
from utils.formats.detect import detect

FORMATS: dict[str, type[StreamFormat]] = {"raw": RawFormat}


def make_format(name: str, first_event: ServerSentEvent) -> StreamFormat:
    """A fresh aggregator for one run; ``auto`` decides from the run's first event."""
    if name == "auto":
        name = detect(first_event)
    return FORMATS.get(name, RawFormat)()


__all__ = ["FORMATS", "FormatResult", "RawFormat", "StreamFormat", "Usage", "detect", "make_format"]
