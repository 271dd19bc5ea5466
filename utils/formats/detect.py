"""``auto``: which format a stream is, judged from its first event."""

from __future__ import annotations

from httpx_sse import ServerSentEvent

from utils.formats.base import parse_json
from utils.formats.dify import DIFY_EVENTS

ANTHROPIC_TYPES = frozenset({"message_start", "content_block_start", "content_block_delta", "content_block_stop",
                             "message_delta", "message_stop"})


def detect(event: ServerSentEvent) -> str:
    """The name of the format whose first event looks like this one; ``raw`` when unsure."""
    data = event.data.lstrip()
    if not data.startswith("{"):
        return "raw"
    try:
        obj = parse_json(data)
    except (ValueError, RecursionError):
        return "raw"
    if not isinstance(obj, dict):
        return "raw"
    name, kind = obj.get("event"), obj.get("type")
    if isinstance(name, str) and name in DIFY_EVENTS:
        return "dify"
    if "workflow_run_id" in obj and isinstance(obj.get("data"), dict):  # a blocking /workflows/run answer
        return "dify"
    if isinstance(kind, str):
        if kind.startswith("response."):
            return "openai"
        if kind in ANTHROPIC_TYPES or event.event in ANTHROPIC_TYPES:
            return "anthropic"
        if kind == "ping" and event.event == "ping":
            return "anthropic"
        if kind == "error":  # Anthropic nests the error; the Responses API does not
            return "anthropic" if isinstance(obj.get("error"), dict) else "openai"
    if obj.get("object") == "chat.completion.chunk" or "choices" in obj:
        return "openai"
    if "candidates" in obj or "usageMetadata" in obj or "promptFeedback" in obj:
        return "gemini"
    if isinstance(obj.get("output"), dict) and ("request_id" in obj or event.event == "result"):
        return "dashscope"
    if event.event == "error" and "code" in obj and "request_id" in obj:  # DashScope's error event
        return "dashscope"
    error = obj.get("error")
    if isinstance(error, dict):  # Google errors carry a status such as RESOURCE_EXHAUSTED
        return "gemini" if "status" in error else "openai"
    return "raw"
