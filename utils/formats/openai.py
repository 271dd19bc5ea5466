"""OpenAI streams: Chat Completions chunks and the Responses API's named events.

Chat Completions: text in ``choices[0].delta.content``; ``delta.tool_calls`` fragments are
assembled by index; ``finish_reason``; the usage chunk (``choices: []``) sent with
``stream_options.include_usage``; an in-stream ``{"error": {...}}``. ``[DONE]`` never reaches a
format (the run stops on it). Responses API: text in ``response.output_text.delta``; usage and
status in ``response.completed`` / ``incomplete`` / ``failed``; ``error`` events.
"""

from __future__ import annotations

from typing import Any

from httpx_sse import ServerSentEvent

from utils.formats.base import JSONFormat, Usage, to_int

MAX_TOOL_CALLS = 64


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        message = error.get("message") or "the server reported an error"
        code = error.get("code") or error.get("type")
        return f"{message} ({code})" if code else str(message)
    return str(error) if error else "the server reported an error"


class OpenAIFormat(JSONFormat):
    name = "openai"

    def __init__(self) -> None:
        super().__init__()
        self.api = "chat.completions"
        self.id: str | None = None
        self.model: str | None = None
        self.finish_reason: str | None = None
        self.status: str | None = None  # Responses API
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self._arguments: dict[int, list[str]] = {}
        self.refusal: list[str] = []
        self._usage: dict[str, Any] = {}

    def on_json(self, event: ServerSentEvent, obj: dict[str, Any]) -> tuple[str, str]:
        kind = obj.get("type")
        if isinstance(kind, str):
            return self._responses(kind, obj)
        choices = obj.get("choices")
        if choices:
            choice = choices[0]
            delta = choice.get("delta") or {}
            if self.id is None:
                self.id, self.model = obj.get("id"), obj.get("model")
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
            if delta.get("tool_calls"):
                self._tool_deltas(delta["tool_calls"])
            if delta.get("refusal"):
                self.refusal.append(delta["refusal"])
            text = delta.get("content")
            if text:
                self._keep(text)
                return event.event, text
        if obj.get("usage"):
            self._usage = obj["usage"]
        elif obj.get("error"):
            self.error = _error_text(obj["error"])
            return "error", ""
        return event.event, ""

    def _tool_deltas(self, deltas: list[Any]) -> None:
        for delta in deltas:
            if not isinstance(delta, dict):
                continue
            index = delta.get("index", 0)
            call = self.tool_calls.get(index)
            if call is None:
                if len(self.tool_calls) >= MAX_TOOL_CALLS:
                    continue
                call = self.tool_calls[index] = {"id": None, "type": "function", "name": None}
                self._arguments[index] = []
            if delta.get("id"):
                call["id"] = delta["id"]
            function = delta.get("function") or {}
            if function.get("name"):
                call["name"] = function["name"]
            if function.get("arguments"):
                self._arguments[index].append(function["arguments"])

    def _responses(self, kind: str, obj: dict[str, Any]) -> tuple[str, str]:
        self.api = "responses"
        if kind == "response.output_text.delta":
            text = obj.get("delta")
            if isinstance(text, str) and text:
                self._keep(text)
                return kind, text
            return kind, ""
        if kind in ("response.created", "response.completed", "response.incomplete", "response.failed"):
            response = obj.get("response") or {}
            self.id, self.model = response.get("id") or self.id, response.get("model") or self.model
            self.status = response.get("status") or self.status
            if response.get("usage"):
                self._usage = response["usage"]
            if kind == "response.failed":
                self.error = _error_text(response.get("error") or "the response failed")
        elif kind == "response.output_item.done":
            item = obj.get("item") or {}
            if item.get("type") == "function_call" and len(self.tool_calls) < MAX_TOOL_CALLS:
                index = len(self.tool_calls)
                self.tool_calls[index] = {"id": item.get("call_id"), "type": "function", "name": item.get("name")}
                self._arguments[index] = [item.get("arguments") or ""]
        elif kind == "response.refusal.delta" and obj.get("delta"):
            self.refusal.append(obj["delta"])
        elif kind == "error":
            self.error = _error_text(obj)
        return kind, ""

    def usage(self) -> Usage:
        usage = self._usage
        prompt = to_int(usage.get("prompt_tokens", usage.get("input_tokens")))
        completion = to_int(usage.get("completion_tokens", usage.get("output_tokens")))
        total = to_int(usage.get("total_tokens"))
        if total is None and prompt is not None and completion is not None:
            total = prompt + completion
        return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=total)

    def result(self) -> dict[str, Any]:
        calls = [{**call, "arguments": "".join(self._arguments[index])}
                 for index, call in sorted(self.tool_calls.items())]
        result: dict[str, Any] = {"api": self.api, "id": self.id, "model": self.model}
        if self.api == "responses":
            result["status"] = self.status
        else:
            result["finish_reason"] = self.finish_reason
        if calls:
            result["tool_calls"] = calls
        if self.refusal:
            result["refusal"] = "".join(self.refusal)
        if self.error:
            result["error"] = self.error
        return result
