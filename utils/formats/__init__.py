"""Stream formats: each turns events into live text and a final aggregate. No Dify imports."""

from __future__ import annotations

from httpx_sse import ServerSentEvent

from utils.formats.anthropic import AnthropicFormat
from utils.formats.base import FormatResult, JSONFormat, RawFormat, StreamFormat, Usage
from utils.formats.dashscope import DashScopeFormat
from utils.formats.detect import detect
from utils.formats.dify import DifyFormat
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


def make_format(name: str, first_event: ServerSentEvent) -> StreamFormat:
    """A fresh aggregator for one run; ``auto`` decides from the run's first event."""
    if name == "auto":
        name = detect(first_event)
    return FORMATS.get(name, RawFormat)()


__all__ = ["FORMATS", "AnthropicFormat", "DifyFormat", "FormatResult", "GeminiFormat", "JSONFormat", "OpenAIFormat",
           "RawFormat", "StreamFormat", "Usage", "detect", "make_format"]
