"""``python -m devkit.bench.text_path``: per-event cost of the text_path and dashscope formats.

The same OpenAI chunk through the ``openai`` format and through ``text_path`` =
``choices[0].delta.content``; a DashScope event through ``dashscope``; and a cumulative stream
(each event repeating the whole text so far, up to 20,000 characters) through both readers of it.
Best of 5 rounds; format work only (no network). Not part of the test suite.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from httpx_sse import ServerSentEvent

from utils.formats.base import StreamFormat
from utils.formats.dashscope import DashScopeFormat
from utils.formats.json_path import JSONPathFormat
from utils.formats.openai import OpenAIFormat

ROUNDS = 5
N = 20_000
CHUNK = {"id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
         "choices": [{"index": 0, "delta": {"content": " word"}, "finish_reason": None}], "usage": None}
DASHSCOPE = {"output": {"choices": [{"message": {"content": " word", "role": "assistant"}, "finish_reason": "null"}]},
             "usage": {"total_tokens": 30, "output_tokens": 10, "input_tokens": 20}, "request_id": "5f3a2c1e-8d4b"}


def best(make: Callable[[], StreamFormat], events: list[ServerSentEvent]) -> float:
    """Seconds per event, the best of ROUNDS passes over ``events`` with a fresh format each."""
    fastest = float("inf")
    for _ in range(ROUNDS):
        fmt = make()
        start = time.perf_counter()
        for event in events:
            fmt.feed(event)
        fastest = min(fastest, time.perf_counter() - start)
    return fastest / len(events)


def main() -> None:
    chunk = [ServerSentEvent(data=json.dumps(CHUNK))] * N
    dashscope = [ServerSentEvent("result", json.dumps(DASHSCOPE))] * N
    cumulative = [ServerSentEvent("result", json.dumps({"output": {"text": "x" * n, "finish_reason": "null"},
                                                        "request_id": "r"})) for n in range(10, 20_010, 10)]
    rows = [
        ("openai format, one chunk", OpenAIFormat, chunk),
        ("text_path choices[0].delta.content, same chunk", lambda: JSONPathFormat("choices[0].delta.content"), chunk),
        ("  + usage_path usage", lambda: JSONPathFormat("choices[0].delta.content", "usage"), chunk),
        ("dashscope format, incremental event", DashScopeFormat, dashscope),
        ("dashscope, cumulative (2,000 events to 20k chars)", DashScopeFormat, cumulative),
        ("text_path output.text cumulative, same", lambda: JSONPathFormat("output.text", cumulative=True), cumulative),
    ]
    for label, make, events in rows:
        print(f"{label:52s} {best(make, events) * 1e6:7.2f} µs/event")


if __name__ == "__main__":
    main()
