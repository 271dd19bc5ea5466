"""Anthropic Messages streams: ``message_start``, ``content_block_start/delta/stop``,
``message_delta``, ``message_stop``, ``ping`` and ``error`` (each payload's ``type`` names it).

Text is ``content_block_delta`` with ``text_delta``; ``input_json_delta`` fragments build the
input of a ``tool_use`` block; thinking is never streamed as the answer. Input tokens come from
``message_start``; ``message_delta.usage`` figures are cumulative, so they replace, not add.
"""

from __future__ import annotations

import json
from typing import Any

from httpx_sse import ServerSentEvent

from utils.formats.base import JSONFormat, Usage, to_int

MAX_TOOL_CALLS = 64


class AnthropicFormat(JSONFormat):
    name = "anthropic"

    def __init__(self) -> None:
        super().__init__()
        self.id: str | None = None
        self.model: str | None = None
        self.stop_reason: str | None = None
        self.stop_sequence: str | None = None
        self.stopped = False  # message_stop arrived
        self.tools: dict[int, dict[str, Any]] = {}
        self._inputs: dict[int, list[str]] = {}
        self.thinking_chars = 0
        self._usage: dict[str, Any] = {}

    def on_json(self, event: ServerSentEvent, obj: dict[str, Any]) -> tuple[str, str]:
        kind = obj.get("type")
        if kind == "content_block_delta":
            delta = obj["delta"]
            dtype = delta.get("type")
            if dtype == "text_delta":
                text = delta.get("text")
                if text:
                    self._keep(text)
                    return kind, text
            elif dtype == "input_json_delta":
                parts = self._inputs.get(obj.get("index", 0))
                if parts is not None:
                    parts.append(delta.get("partial_json") or "")
            elif dtype == "thinking_delta":
                self.thinking_chars += len(delta.get("thinking") or "")
            return kind, ""
        if not isinstance(kind, str):
            return event.event, ""
        if kind == "message_start":
            message = obj["message"]
            self.id, self.model = message.get("id"), message.get("model")
            self._usage.update(message.get("usage") or {})
        elif kind == "content_block_start":
            block = obj["content_block"]
            if block.get("type") == "tool_use" and len(self.tools) < MAX_TOOL_CALLS:
                index = obj.get("index", len(self.tools))
                self.tools[index] = {"id": block.get("id"), "name": block.get("name")}
                self._inputs[index] = []
            elif block.get("type") == "text" and block.get("text"):
                self._keep(block["text"])
                return kind, block["text"]
        elif kind == "message_delta":
            delta = obj.get("delta") or {}
            self.stop_reason = delta.get("stop_reason") or self.stop_reason
            self.stop_sequence = delta.get("stop_sequence") or self.stop_sequence
            self._usage.update({k: v for k, v in (obj.get("usage") or {}).items() if v is not None})
        elif kind == "message_stop":
            self.stopped = True
        elif kind == "error":
            error = obj.get("error") or {}
            self.error = f"{error.get('message') or 'the server reported an error'} ({error.get('type') or 'error'})"
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
        for index, tool in sorted(self.tools.items()):
            raw = "".join(self._inputs[index])
            try:
                value: Any = json.loads(raw) if raw else {}
            except ValueError:
                value = raw  # a stream cut inside the input: kept as the text that arrived
            tools.append({**tool, "input": value})
        if tools:
            result["tool_calls"] = tools
        if self.thinking_chars:
            result["thinking_chars"] = self.thinking_chars
        if self.error:
            result["error"] = self.error
        return result
