"""Gemini ``streamGenerateContent?alt=sse``: each event is a whole ``GenerateContentResponse``.

Text is the join of ``candidates[0].content.parts[*].text`` (parts without text, such as a
``thoughtSignature`` or a ``functionCall``, and thought parts are not answer text);
``finishReason``; the last ``usageMetadata`` wins; an ``{"error": {...}}`` payload or a blocked
prompt (``promptFeedback.blockReason``) is a failure the stream reported.
"""

from __future__ import annotations

from typing import Any

from httpx_sse import ServerSentEvent

from utils.formats.base import JSONFormat, Usage, to_int

MAX_TOOL_CALLS = 64


class GeminiFormat(JSONFormat):
    name = "gemini"

    def __init__(self) -> None:
        super().__init__()
        self.finish_reason: str | None = None
        self.model_version: str | None = None
        self.response_id: str | None = None
        self.function_calls: list[dict[str, Any]] = []
        self._usage: dict[str, Any] = {}

    def on_json(self, event: ServerSentEvent, obj: dict[str, Any]) -> tuple[str, str]:
        text = ""
        candidates = obj.get("candidates")
        if candidates:
            candidate = candidates[0]
            parts = (candidate.get("content") or {}).get("parts") or ()
            pieces = []
            for part in parts:
                piece = part.get("text")
                if piece and not part.get("thought"):
                    pieces.append(piece)
                elif "functionCall" in part and len(self.function_calls) < MAX_TOOL_CALLS:
                    self.function_calls.append(part["functionCall"])
            if pieces:
                text = "".join(pieces)
                self._keep(text)
            if candidate.get("finishReason"):
                self.finish_reason = candidate["finishReason"]
        if obj.get("usageMetadata"):
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
            return "error", ""
        feedback = obj.get("promptFeedback") or {}
        if feedback.get("blockReason"):
            self.error = f"the prompt was blocked ({feedback['blockReason']})"
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
