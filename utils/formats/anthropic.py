"""Anthropic Messages streams: ``message_start``, ``content_block_start/delta/stop``,
``message_delta``, ``message_stop``, ``ping`` and ``error`` (each payload's ``type`` names it).

Text is ``content_block_delta`` with ``text_delta``; ``input_json_delta`` fragments build the
input of a ``tool_use`` block; ``thinking_delta`` is reasoning, never the answer. Input tokens come
from ``message_start``; ``message_delta.usage`` figures are cumulative, so they replace, not add.
``message_stop`` (or an ``error`` event) ends the stream. Source: Anthropic, "Streaming Messages"
(docs.anthropic.com/en/docs/build-with-claude/streaming).
"""

from __future__ import annotations

import json
from typing import Any

from httpx_sse import ServerSentEvent

from utils.formats.base import MAX_TOOL_CALLS, JSONFormat, Usage, as_dict, head_name, text_of, to_int

NOT_NEEDED = frozenset({"ping", "content_block_stop"})


class AnthropicFormat(JSONFormat):
    name = "anthropic"

    def __init__(self) -> None:
        super().__init__()
        self.id: Any = None
        self.model: Any = None
        self.stop_reason: Any = None
        self.stop_sequence: Any = None
        self.stopped = False  # message_stop arrived
        self.tools: dict[Any, dict[str, Any]] = {}
        self._inputs: dict[Any, list[str]] = {}
        self.thinking_chars = 0
        self._usage: dict[str, Any] = {}

    def needs(self, event: ServerSentEvent) -> bool:
        return head_name(event) not in NOT_NEEDED and super().needs(event)

    def on_json(self, event: ServerSentEvent, obj: dict[str, Any]) -> tuple[str, str]:
        kind = obj.get("type")
        if kind == "content_block_delta":
            delta = _object(obj, "delta")
            dtype = delta.get("type")
            if dtype == "text_delta":
                text = text_of(delta.get("text"))
                if text:
                    self._keep(text)
                    return kind, text
            elif dtype == "input_json_delta":
                parts = self._inputs.get(_key(obj.get("index", 0)))
                if parts is not None:
                    parts.append(text_of(delta.get("partial_json")))
            elif dtype == "thinking_delta":
                thinking = text_of(delta.get("thinking"))
                self.thinking_chars += len(thinking)
                self._reason(thinking)
            return kind, ""
        if not isinstance(kind, str):
            return event.event, ""
        if kind == "message_start":
            message = _object(obj, "message")
            self.id, self.model = message.get("id"), message.get("model")
            self._usage.update(as_dict(message.get("usage")))
        elif kind == "content_block_start":
            block = _object(obj, "content_block")
            btype = block.get("type")
            if btype == "tool_use" and len(self.tools) < MAX_TOOL_CALLS:
                index = _key(obj.get("index", len(self.tools)))
                self.tools[index] = {"id": block.get("id"), "name": block.get("name")}
                self._inputs[index] = []
            elif btype == "text" and text_of(block.get("text")):
                self._keep(block["text"])
                return kind, block["text"]
            elif btype == "thinking":
                thinking = text_of(block.get("thinking"))
                self.thinking_chars += len(thinking)
                self._reason(thinking)
        elif kind == "message_delta":
            delta = as_dict(obj.get("delta"))
            self.stop_reason = delta.get("stop_reason") or self.stop_reason
            self.stop_sequence = delta.get("stop_sequence") or self.stop_sequence
            self._usage.update({k: v for k, v in as_dict(obj.get("usage")).items() if v is not None})
        elif kind == "message_stop":
            self.stopped = self.complete = True
        elif kind == "error":
            error = as_dict(obj.get("error"))
            self.error = f"{error.get('message') or 'the server reported an error'} ({error.get('type') or 'error'})"
            self.complete = True  # Anthropic ends the stream after an error event
        return kind, ""

    def usage(self) -> Usage:
        usage = self._usage
        fresh = to_int(usage.get("input_tokens"))
        cached = [to_int(usage.get(k)) for k in ("cache_creation_input_tokens", "cache_read_input_tokens")]
        prompt = None if fresh is None else fresh + sum(c or 0 for c in cached)
        completion = to_int(usage.get("output_tokens"))
        total = prompt + completion if prompt is not None and completion is not None else None
        return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=total)

    def result(self) -> dict[str, Any]:
        result: dict[str, Any] = {"id": self.id, "model": self.model, "stop_reason": self.stop_reason}
        if self.stop_sequence:
            result["stop_sequence"] = self.stop_sequence
        tools = []
        for index, tool in self.tools.items():
            raw = "".join(self._inputs[index])
            try:
                value: Any = json.loads(raw) if raw else {}
            except (ValueError, RecursionError):
                value = raw  # a stream cut inside the input: kept as the text that arrived
            tools.append({**tool, "input": value})
        if tools:
            result["tool_calls"] = tools
        if self.thinking_chars:
            result["thinking_chars"] = self.thinking_chars
        if self.error:
            result["error"] = self.error
        return result


def _object(obj: dict[str, Any], key: str) -> dict[str, Any]:
    """The object an event of this type must carry: anything else makes the event invalid (counted)."""
    value = obj.get(key)
    if not isinstance(value, dict):
        raise TypeError(f"{key} is not an object")
    return value


def _key(index: Any) -> Any:
    """A block index as a dict key: any JSON scalar; other values (lists, objects) become their text."""
    return index if isinstance(index, (int, str, float, bool)) or index is None else json.dumps(index)
