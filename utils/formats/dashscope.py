"""Alibaba DashScope's native SSE (Qwen; Model Studio text generation and application calls).

Source: Model Studio API reference, "Qwen - DashScope API" and "Application calling"
(https://help.aliyun.com/zh/model-studio/). The request carries ``X-DashScope-SSE: enable``;
each event is ``id:N``, ``event:result``, a ``:HTTP_STATUS/200`` comment line and one data line:

- ``result_format: text`` (and applications): ``{"output": {"text": ..., "finish_reason": ...}}``;
- ``result_format: message``: ``output.choices[0].message.content`` (a string, or a list of
  ``{"text": ...}`` parts for the VL models) and ``reasoning_content`` (thinking models);
- ``finish_reason`` is the string ``"null"`` until the last event (``stop``, ``length``,
  ``tool_calls``): that is the stream's end marker (``complete``);
- ``usage``: ``input_tokens`` / ``output_tokens`` / ``total_tokens``, the figures so far (each event
  repeats them); applications give ``usage.models[]``, one entry per model, added up;
- ``request_id``; applications also ``output.session_id``.

Without ``incremental_output`` each event repeats the whole text so far; with it each carries only
the new text. The request is not visible here, so the mode is read from the data (``TextField``):
the result says which (``incremental_output``). ``reasoning_content`` is kept apart as reasoning.

Errors: ``event:error`` (with ``:HTTP_STATUS/4xx``), data ``{"code": ..., "message": ...,
"request_id": ...}``: the stream's reported failure.
"""

from __future__ import annotations

from typing import Any

from httpx_sse import ServerSentEvent

from utils.formats.base import MAX_ANSWER_CHARS, FormatResult, JSONFormat, Usage, to_int
from utils.formats.cumulative import CUMULATIVE, TextField
from utils.formats.json_path import to_usage, usage_of

NOT_FINISHED = ("", "null")  # DashScope sends the string "null" while the text is not finished


def _text(value: Any) -> str:
    """A content value as text: a string, or the ``text`` of each part of a list (VL models)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(part["text"] for part in value if isinstance(part, dict) and isinstance(part.get("text"), str))
    return ""


class DashScopeFormat(JSONFormat):
    name = "dashscope"

    def __init__(self) -> None:
        super().__init__()
        self.request_id: str | None = None
        self.session_id: str | None = None
        self.finish_reason: str | None = None
        self.code: str | None = None
        self._content = TextField()
        self._thinking = TextField()
        self._reasoning: list[str] = []  # the whole reasoning, bounded like the answer
        self._reasoning_chars = 0
        self._reasoning_new: list[str] = []  # since the last pop_reasoning()
        self._usage: dict[str, int] = {}
        self._reasoning_tokens: int | None = None

    def feed(self, event: ServerSentEvent) -> tuple[str, str]:
        try:
            kind, text = super().feed(event)
        except RecursionError:
            self._invalid(event.data, "JSON nested too deeply")
            kind, text = "invalid", ""
        if event.event == "error" and self.error is None:  # an error event whose data is not the usual JSON
            data = " ".join(event.data.split())
            self.error = "the server reported an error" + (f": {data[:200]}" if data else "")
            return "error", ""
        return kind, text

    def on_json(self, event: ServerSentEvent, obj: dict[str, Any]) -> tuple[str, str]:
        self.request_id = obj.get("request_id") or self.request_id
        output = obj.get("output")
        if event.event == "error" or (obj.get("code") and not isinstance(output, dict)):
            self.code = str(obj.get("code") or "") or None
            message = obj.get("message") or "the server reported an error"
            self.error = f"{message} ({self.code})" if self.code else str(message)
            return "error", ""
        usage = obj.get("usage")
        if isinstance(usage, dict) and usage:
            self._read_usage(usage)
        if not isinstance(output, dict):
            return event.event, ""
        self.session_id = output.get("session_id") or self.session_id
        choices = output.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            choice = choices[0]
            message = choice.get("message") or {}
            content, thinking = _text(message.get("content")), message.get("reasoning_content")
            finish = choice.get("finish_reason")
        else:
            content, thinking = _text(output.get("text")), output.get("reasoning_content")
            finish = output.get("finish_reason")
        if isinstance(finish, str) and finish not in NOT_FINISHED:
            self.finish_reason = finish
            self.complete = True
        if isinstance(thinking, str) and thinking:
            self._add_reasoning(thinking)
        delta, whole = self._content.add(content)
        if whole is not None:
            self._replace(whole)
        elif delta:
            self._keep(delta)
        return event.event, delta

    def _add_reasoning(self, text: str) -> None:
        delta, whole = self._thinking.add(text)
        if whole is not None:
            self._reasoning, self._reasoning_chars = [], 0
            text = whole
        else:
            text = delta
        if self._reasoning_chars < MAX_ANSWER_CHARS:
            self._reasoning.append(text)
            self._reasoning_chars += len(text)
        if delta:
            self._reasoning_new.append(delta)

    def pop_reasoning(self) -> str:
        text = "".join(self._reasoning_new)
        self._reasoning_new = []
        return text

    def _read_usage(self, usage: dict[str, Any]) -> None:
        """The figures so far: each event's replace the last ones (an application's models are added)."""
        models = usage.get("models")
        if isinstance(models, list):
            entries = [m for m in models if isinstance(m, dict)]
        else:
            entries = [usage]
        counts: dict[str, int] = {}
        for entry in entries:
            for field, number in usage_of(entry).items():
                counts[field] = counts.get(field, 0) + number
        if counts:
            self._usage = counts
        details = usage.get("output_tokens_details")
        if isinstance(details, dict) and to_int(details.get("reasoning_tokens")) is not None:
            self._reasoning_tokens = to_int(details.get("reasoning_tokens"))

    def usage(self) -> Usage:
        return to_usage(self._usage)

    @property
    def reasoning(self) -> str:
        text = "".join(self._reasoning)
        return text[:MAX_ANSWER_CHARS]

    def result(self) -> dict[str, Any]:
        mode = self._content.mode or self._thinking.mode
        result: dict[str, Any] = {"request_id": self.request_id, "finish_reason": self.finish_reason,
                                  "incremental_output": None if mode is None else mode != CUMULATIVE}
        if self.session_id:
            result["session_id"] = self.session_id
        if self._reasoning_tokens is not None:
            result["reasoning_tokens"] = self._reasoning_tokens
        if self.error:
            result["error"] = self.error
            if self.code:
                result["code"] = self.code
        return result

    def finish(self) -> FormatResult:
        outcome = super().finish()
        outcome.complete = self.complete
        outcome.reasoning = self.reasoning
        return outcome
