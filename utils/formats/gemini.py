"""Gemini ``streamGenerateContent?alt=sse``: each event is a whole ``GenerateContentResponse``.

Text is the join of ``candidates[0].content.parts[*].text`` (parts without text, such as a
``thoughtSignature`` or a ``functionCall``, are not answer text); parts with ``thought: true`` are
reasoning (thought summaries, with ``thinkingConfig.includeThoughts``); ``finishReason`` ends the
stream; the last ``usageMetadata`` wins; an ``{"error": {...}}`` payload or a blocked prompt
(``promptFeedback.blockReason``) is a failure the stream reported. Source: ai.google.dev/api/generate-content
and ai.google.dev/gemini-api/docs/thinking.
"""

from __future__ import annotations

from typing import Any

from httpx_sse import ServerSentEvent

from utils.formats.base import MAX_TOOL_CALLS, JSONFormat, Usage, as_dict, as_list, to_int


class GeminiFormat(JSONFormat):
    name = "gemini"

    def __init__(self) -> None:
        super().__init__()
        self.finish_reason: Any = None
        self.model_version: Any = None
        self.response_id: Any = None
        self.function_calls: list[Any] = []
        self._usage: dict[str, Any] = {}

    def on_json(self, event: ServerSentEvent, obj: dict[str, Any]) -> tuple[str, str]:
        text = ""
        candidates = obj.get("candidates")
        if candidates:
            if not isinstance(candidates, list) or not isinstance(candidates[0], dict):
                raise TypeError("candidates is not a list of objects")  # counted invalid
            candidate = candidates[0]
            pieces = []
            for part in as_list(as_dict(candidate.get("content")).get("parts")):
                if not isinstance(part, dict):
                    continue
                piece = part.get("text")
                if isinstance(piece, str) and piece:
                    if part.get("thought") is True:
                        self._reason(piece)
                    else:
                        pieces.append(piece)
                elif "functionCall" in part and len(self.function_calls) < MAX_TOOL_CALLS:
                    self.function_calls.append(part["functionCall"])
            if pieces:
                text = "".join(pieces)
                self._keep(text)
            if candidate.get("finishReason"):
                self.finish_reason = candidate["finishReason"]
                self.complete = True
        if isinstance(obj.get("usageMetadata"), dict):
            self._usage = obj["usageMetadata"]
        if self.response_id is None:
            self.response_id, self.model_version = obj.get("responseId"), obj.get("modelVersion")
        if obj.get("error"):
            error = obj["error"]
            if isinstance(error, dict):
                self.error = f"{error.get('message') or 'the server reported an error'} " \
                             f"({error.get('status') or error.get('code') or 'error'})"
            else:
                self.error = str(error)
            self.complete = True  # an error payload is the stream's last
            return "error", text
        feedback = as_dict(obj.get("promptFeedback"))
        if feedback.get("blockReason"):
            self.error = f"the prompt was blocked ({feedback['blockReason']})"
            self.complete = True
        return event.event, text

    def usage(self) -> Usage:
        usage = self._usage
        prompt = to_int(usage.get("promptTokenCount"))
        answer, thoughts = to_int(usage.get("candidatesTokenCount")), to_int(usage.get("thoughtsTokenCount"))
        completion = None if answer is None and thoughts is None else (answer or 0) + (thoughts or 0)
        return Usage(prompt_tokens=prompt, completion_tokens=completion,
                     total_tokens=to_int(usage.get("totalTokenCount")))

    def result(self) -> dict[str, Any]:
        result: dict[str, Any] = {"finish_reason": self.finish_reason, "model_version": self.model_version,
                                  "response_id": self.response_id}
        if self.function_calls:
            result["function_calls"] = self.function_calls
        if self.error:
            result["error"] = self.error
        return result
