"""Shared by the format tests: transcripts decoded with our SSE decoder and fed to a format the
way ``StreamRun`` does (``[DONE]`` ends the stream and never reaches a format)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from httpx_sse import ServerSentEvent

from utils.formats import FormatResult, StreamFormat, is_keepalive, make_format
from utils.sse_decoder import SSEDecoder

TRANSCRIPTS = Path(__file__).resolve().parent / "transcripts"


def transcript(name: str) -> bytes:
    return (TRANSCRIPTS / name).read_bytes()


def blocking_answer(name: str) -> dict[str, Any]:
    return json.loads((TRANSCRIPTS / name).read_text(encoding="utf-8"))


def events_of(name: str, chunk_size: int = 0) -> list[ServerSentEvent]:
    """The events of a transcript; ``chunk_size`` feeds it in pieces of that many bytes."""
    raw = transcript(name)
    decoder = SSEDecoder()
    if not chunk_size:
        return decoder.feed(raw)
    events: list[ServerSentEvent] = []
    for start in range(0, len(raw), chunk_size):
        events += decoder.feed(raw[start : start + chunk_size])
    return events


@dataclass
class Aggregated:
    format: StreamFormat
    types: list[str]
    texts: list[str]
    outcome: FormatResult

    @property
    def streamed(self) -> str:
        return "".join(self.texts)


def feed_all(events: list[ServerSentEvent], stream_format: str = "auto", options: Any = None) -> Aggregated:
    """Feeds events as ``StreamRun`` does: keep-alives dropped first, ``[DONE]`` told by ``done()``."""
    fmt = make_format(stream_format, options)
    types: list[str] = []
    texts: list[str] = []
    for event in events:
        if is_keepalive(event):
            continue
        if event.data == "[DONE]":
            fmt.done()
            break
        event_type, text = fmt.feed(event)
        types.append(event_type)
        if text:
            texts.append(text)
    return Aggregated(fmt, types, texts, fmt.finish())


def aggregate(name: str, stream_format: str = "auto", chunk_size: int = 0) -> Aggregated:
    events = events_of(name, chunk_size)
    assert events, f"{name} has no events"
    return feed_all(events, stream_format)


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}: results compared field by field. Lists stay whole."""
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(flatten(item, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): value}


def differing(a: dict[str, Any], b: dict[str, Any]) -> set[str]:
    """The dotted keys whose values differ (or exist on one side only)."""
    fa, fb = flatten(a), flatten(b)
    return {key for key in fa.keys() | fb.keys() if fa.get(key, "<absent>") != fb.get(key, "<absent>")}


# What Dify's blocking answers do not carry, by the streamed transcript they are compared with
# (Dify docs: /workflows/run blocking = the data of workflow_finished; /chat-messages and
# /completion-messages blocking = the message with answer and metadata.usage, no workflow or node data).
BLOCKING_GAPS = {
    "dify_chat.sse": {"data.event_count", "tts_events"},
    "dify_chatflow.sse": {"data.event_count", "tts_events", "nodes", "data.workflow_run_id", "data.finished_at",
                          "data.metadata.elapsed_time", "data.metadata.total_steps"},
    "dify_workflow.sse": {"data.event_count", "nodes", "data.metadata.total_price", "data.metadata.currency"},
    "dify_completion.sse": {"data.event_count"},
}
