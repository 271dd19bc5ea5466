"""OpenAI streams: Chat Completions chunks and the Responses API's named events.

Chat Completions (platform.openai.com/docs/api-reference/chat-streaming): text in
``choices[0].delta.content`` (a string, or a list of parts as Mistral sends them: ``text`` parts
are the answer, ``thinking`` parts reasoning); reasoning in ``delta.reasoning_content`` (DeepSeek)
or ``delta.reasoning`` (vLLM, OpenRouter); ``delta.tool_calls`` fragments assembled by ``index``, or
without one (Gemini's OpenAI-compatible API) by id: a new id starts a call, no id continues the
last; ``finish_reason`` (the stream is complete once every choice has one; the usage chunk may
still follow); ``usage`` on any chunk (the last non-null one wins: GLM, SiliconFlow and vLLM send
it on content chunks); with ``n > 1`` the answer is choice 0's and the other choices are kept in
``result["choices"]``; an in-stream ``{"error": {...}}`` (OpenRouter, Azure). ``[DONE]`` never
reaches a format (the run calls ``done()``). Responses API (platform.openai.com/docs/api-reference/
responses-streaming): text in ``response.output_text.delta``; reasoning in
``response.reasoning_summary_text.delta`` / ``response.reasoning_text.delta``; usage and status in
``response.completed`` / ``incomplete`` / ``failed`` (each ends the stream); ``error`` events.
"""

from __future__ import annotations

import json
import re
from typing import Any

from httpx_sse import ServerSentEvent

from utils.formats.base import (
    MAX_ANSWER_CHARS,
    MAX_TOOL_CALLS,
    Choices,
    JSONFormat,
    Usage,
    as_dict,
    as_list,
    head_name,
    scalar,
    text_of,
    to_int,
)

MAX_ARGUMENT_CHARS = MAX_ANSWER_CHARS  # tool-call arguments kept, all calls together

RESPONSE_ENDS = frozenset({"response.completed", "response.incomplete", "response.failed"})
REASONING_DELTAS = frozenset({"response.reasoning_summary_text.delta", "response.reasoning_text.delta"})
# Responses events that repeat what deltas already brought, or announce a part: an oversized one is skipped.
NOT_NEEDED = frozenset({
    "response.created", "response.in_progress", "response.queued", "response.output_item.added",
    "response.content_part.added", "response.content_part.done", "response.output_text.done",
    "response.output_text.annotation.added", "response.reasoning_summary_part.added",
    "response.reasoning_summary_part.done", "response.reasoning_summary_text.done", "response.reasoning_text.done",
    "response.refusal.done", "response.function_call_arguments.delta", "response.function_call_arguments.done",
    "response.image_generation_call.partial_image",  # a base64 image, never text
})
# The type of a response.output_item.done's item, read from an oversized event's head.
_ITEM_TYPE = re.compile(r'"item"\s*:\s*\{[^{}]*?"type"\s*:\s*"([^"\\]{1,64})"')


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        message = error.get("message") or "the server reported an error"
        code = error.get("code") or error.get("type")
        return f"{message} ({code})" if code else str(message)
    return str(error) if error else "the server reported an error"


def _parts_text(content: list[Any]) -> tuple[str, str]:
    """(answer, reasoning) of a list ``content``: ``text`` parts, and ``thinking`` parts whose
    ``thinking`` is text or a list of text parts (Mistral, docs.mistral.ai "Reasoning")."""
    answer, reasoning = [], []
    for part in content:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text":
            answer.append(text_of(part.get("text")))
        elif kind == "thinking":
            thinking = part.get("thinking")
            if isinstance(thinking, str):
                reasoning.append(thinking)
            else:
                reasoning.extend(text_of(as_dict(p).get("text")) for p in as_list(thinking))
    return "".join(answer), "".join(reasoning)


class OpenAIFormat(JSONFormat):
    name = "openai"

    def __init__(self) -> None:
        super().__init__()
        self.api = "chat.completions"
        self.id: Any = None
        self.model: Any = None
        self.finish_reason: Any = None
        self.status: Any = None  # Responses API
        self.tool_calls: list[dict[str, Any]] = []
        self._arguments: list[list[str]] = []
        self._argument_chars = 0
        self._by_index: dict[int, int] = {}  # tool-call index -> position in tool_calls
        self._by_id: dict[str, int] = {}
        self._last_call: int | None = None  # the call a delta without index nor id continues
        self.refusal: list[str] = []
        self._usage: dict[str, Any] = {}
        self.choices = Choices()  # n > 1

    def needs(self, event: ServerSentEvent) -> bool:
        """Responses: ``response.completed`` repeats what the deltas brought (a long answer, a base64
        image): an oversized one is skipped, and it still ends the stream (its usage is lost). An
        ``output_item.done`` is needed only for a function call (or an item whose type the head
        does not show): messages, reasoning, image or search results came otherwise or are no text."""
        kind = head_name(event)
        if kind == "response.completed":
            self.api, self.status, self.complete = "responses", "completed", True
            return False
        if kind == "response.output_item.done":
            item = _ITEM_TYPE.search(event.data)
            return item is None or item.group(1) == "function_call"
        return kind not in NOT_NEEDED and super().needs(event)

    # -- Chat Completions ------------------------------------------------------------------
    def on_json(self, event: ServerSentEvent, obj: dict[str, Any]) -> tuple[str, str]:
        kind = obj.get("type")
        if isinstance(kind, str):
            return self._responses(kind, obj)
        if not self.id:  # Azure's first chunk (prompt filter results) has an empty id and model
            self.id, self.model = scalar(obj.get("id")) or None, scalar(obj.get("model")) or None
        text = ""
        choices = obj.get("choices")
        if choices and isinstance(choices, list):
            if len(choices) > 1 and not all(isinstance(choice, dict) for choice in choices):
                raise TypeError("a choice is not an object")  # counted invalid, nothing of it kept
            for position, choice in enumerate(choices):
                if not isinstance(choice, dict):
                    raise TypeError("a choice is not an object")
                index = choice.get("index", position)
                if index == 0:
                    text = self._choice0(choice)
                else:
                    self._other_choice(scalar(index), choice)
        usage = obj.get("usage")
        if usage and isinstance(usage, dict):
            self._usage = usage
        if obj.get("error"):
            self.error = _error_text(obj["error"])
            self.complete = True  # an in-stream error is the stream's last word
            return "error", text
        return event.event, text

    def _choice0(self, choice: dict[str, Any]) -> str:
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            delta = {}
        finish = choice.get("finish_reason")
        if finish or 0 not in self.choices.finished:
            finish = scalar(finish)
            if self.choices.finish(0, finish):
                self.complete = True
            if finish:
                self.finish_reason = finish
        if delta.get("tool_calls"):
            self._tool_deltas(as_list(delta["tool_calls"]))
        if delta.get("refusal") and isinstance(delta["refusal"], str):
            self.refusal.append(delta["refusal"])
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if reasoning:
            self._reason(text_of(delta.get("reasoning_content")) or text_of(delta.get("reasoning")))
        content = delta.get("content")
        if isinstance(content, list):
            content, thinking = _parts_text(content)
            self._reason(thinking)
        if content and isinstance(content, str):
            self._keep(content)
            return content
        return ""

    def _other_choice(self, index: Any, choice: dict[str, Any]) -> None:
        finish = scalar(choice.get("finish_reason"))
        if self.choices.finish(index, finish):
            self.complete = True
        content = as_dict(choice.get("delta")).get("content")
        self.choices.add(index, _parts_text(content)[0] if isinstance(content, list) else text_of(content), finish)

    def _tool_deltas(self, deltas: list[Any]) -> None:
        for delta in deltas:
            if not isinstance(delta, dict):
                continue
            position = self._call_for(delta)
            if position is None:
                continue
            call = self.tool_calls[position]
            call_id = scalar(delta.get("id"))
            if call_id and call["id"] is None:
                call["id"] = call_id
                if isinstance(call_id, str):
                    self._by_id[call_id] = position
            function = as_dict(delta.get("function"))
            name = text_of(function.get("name"))
            if name and not call["name"]:
                call["name"] = name
            arguments = function.get("arguments")
            if isinstance(arguments, (dict, list)):  # some gateways send the arguments as JSON, not text
                arguments = json.dumps(arguments, ensure_ascii=False)
            if isinstance(arguments, str) and arguments and self._argument_chars < MAX_ARGUMENT_CHARS:
                self._arguments[position].append(arguments)
                self._argument_chars += len(arguments)

    def _call_for(self, delta: dict[str, Any]) -> int | None:
        """The position of the call a delta belongs to, a new call if it starts one (None past
        ``MAX_TOOL_CALLS``). With an ``index``: that index's call, unless the delta brings an id other
        than the call's (some gateways number every call 0). Without one (Gemini's OpenAI-compatible
        API): the call of its id, a new call for a new id, the last call for a delta without id."""
        index, call_id = delta.get("index"), scalar(delta.get("id"))
        if isinstance(index, int) and not isinstance(index, bool):
            position = self._by_index.get(index)
            if position is not None and isinstance(call_id, str) and call_id \
                    and self.tool_calls[position]["id"] not in (None, call_id):
                position = None  # a gateway that numbers every call 0: a new id is a new call
            if position is None:
                position = self._new_call()
                if position is not None:
                    self._by_index[index] = position
        elif isinstance(call_id, str) and call_id:
            position = self._by_id.get(call_id)
            if position is None:
                last = self._last_call
                if last is not None and self.tool_calls[last]["id"] is None:
                    position = last  # the last call had no id yet: this one names it
                else:
                    position = self._new_call()
        else:
            position = self._last_call if self._last_call is not None else self._new_call()
        if position is not None:
            self._last_call = position
        return position

    def _new_call(self) -> int | None:
        if len(self.tool_calls) >= MAX_TOOL_CALLS:
            return None
        self.tool_calls.append({"id": None, "type": "function", "name": None})
        self._arguments.append([])
        return len(self.tool_calls) - 1

    # -- Responses API ---------------------------------------------------------------------
    def _responses(self, kind: str, obj: dict[str, Any]) -> tuple[str, str]:
        self.api = "responses"
        if kind == "response.output_text.delta":
            text = text_of(obj.get("delta"))
            if text:
                self._keep(text)
            return kind, text
        if kind in REASONING_DELTAS:
            self._reason(text_of(obj.get("delta")))
        elif kind.startswith("response.") and isinstance(obj.get("response"), dict):
            response = obj["response"]
            self.id = scalar(response.get("id")) or self.id
            self.model = scalar(response.get("model")) or self.model
            self.status = scalar(response.get("status")) or self.status
            if isinstance(response.get("usage"), dict) and response["usage"]:
                self._usage = response["usage"]
            if kind == "response.failed":
                self.error = _error_text(response.get("error") or "the response failed")
            if kind in RESPONSE_ENDS:
                self.complete = True
        elif kind == "response.output_item.done":
            item = as_dict(obj.get("item"))
            position = self._new_call() if item.get("type") == "function_call" else None
            if position is not None:
                self.tool_calls[position].update(id=scalar(item.get("call_id")), name=scalar(item.get("name")))
                self._arguments[position].append(text_of(item.get("arguments")))
        elif kind == "response.refusal.delta" and text_of(obj.get("delta")):
            self.refusal.append(obj["delta"])
        elif kind == "error":
            self.error = _error_text(obj)
            self.complete = True
        return kind, ""

    # -- the end ---------------------------------------------------------------------------
    def usage(self) -> Usage:
        usage = self._usage
        prompt = to_int(usage.get("prompt_tokens", usage.get("input_tokens")))
        completion = to_int(usage.get("completion_tokens", usage.get("output_tokens")))
        total = to_int(usage.get("total_tokens"))
        if total is None and prompt is not None and completion is not None:
            total = prompt + completion
        return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=total)

    def result(self) -> dict[str, Any]:
        calls = [{**call, "arguments": "".join(parts)} for call, parts in zip(self.tool_calls, self._arguments, strict=True)]
        result: dict[str, Any] = {"api": self.api, "id": self.id, "model": self.model}
        if self.api == "responses":
            result["status"] = self.status
        else:
            result["finish_reason"] = self.finish_reason
        if calls:
            result["tool_calls"] = calls
        self.choices.report(result, "choices")
        if self.refusal:
            result["refusal"] = "".join(self.refusal)
        if self.error:
            result["error"] = self.error
        return result
