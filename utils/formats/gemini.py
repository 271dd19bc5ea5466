"""Gemini ``streamGenerateContent?alt=sse``: each event is a whole ``GenerateContentResponse``.

Text is the join of ``candidates[0].content.parts[*].text`` (parts without text, such as a
``thoughtSignature`` or a ``functionCall``, are not answer text); parts with ``thought: true`` are
reasoning (thought summaries, with ``thinkingConfig.includeThoughts``); ``finishReason`` ends the
stream (once every candidate has one); with ``candidateCount`` > 1 the answer is candidate 0's and
the others are kept in ``result["candidates"]``; the last ``usageMetadata`` wins; an
``{"error": {...}}`` payload or a blocked prompt (``promptFeedback.blockReason``) is a failure the
stream reported. Source: ai.google.dev/api/generate-content, ai.google.dev/gemini-api/docs/thinking.
"""

from __future__ import annotations

from typing import Any

from httpx_sse import ServerSentEvent

from utils.formats.base import MAX_TOOL_CALLS, Choices, JSONFormat, Usage, as_dict, as_list, scalar, to_int


class GeminiFormat(JSONFormat):
    name = "gemini"

    def __init__(self) -> None:
        super().__init__()
        self.finish_reason: Any = None
        self.model_version: Any = None
        self.response_id: Any = None
        self.function_calls: list[Any] = []
        self._usage: dict[str, Any] = {}
        self.candidates = Choices()  # candidateCount > 1

    def on_json(self, event: ServerSentEvent, obj: dict[str, Any]) -> tuple[str, str]:
        text = ""
        candidates = obj.get("candidates")
        if candidates:
            if not isinstance(candidates, list) or not all(isinstance(c, dict) for c in candidates):
                raise TypeError("candidates is not a list of objects")  # counted invalid
            for position, candidate in enumerate(candidates):
                index = scalar(candidate.get("index", position))
                if index == 0:
                    text = self._first(candidate)
                else:  # candidateCount > 1: kept in the result, never the answer
                    finish = scalar(candidate.get("finishReason"))
                    if self.candidates.finish(index, finish):
                        self.complete = True
                    self.candidates.add(index, "".join(self._split(candidate, reasoning=False)[0]), finish)
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

    def _split(self, candidate: dict[str, Any], reasoning: bool) -> tuple[list[str], list[Any]]:
        """(answer pieces, function calls) of a candidate's parts; thought parts go to the
        reasoning when ``reasoning`` (the first candidate's), else nowhere."""
        pieces, calls = [], []
        for part in as_list(as_dict(candidate.get("content")).get("parts")):
            if not isinstance(part, dict):
                continue
            piece = part.get("text")
            if isinstance(piece, str) and piece:
                if not part.get("thought"):
                    pieces.append(piece)
                elif reasoning:
                    self._reason(piece)
            elif "functionCall" in part:
                calls.append(part["functionCall"])
        return pieces, calls

    def _first(self, candidate: dict[str, Any]) -> str:
        """The first candidate (``index`` 0): the answer, reasoning, function calls, finish reason."""
        pieces, calls = self._split(candidate, reasoning=True)
        self.function_calls.extend(calls[: MAX_TOOL_CALLS - len(self.function_calls)])
        finish = scalar(candidate.get("finishReason"))
        if finish or 0 not in self.candidates.finished:
            if self.candidates.finish(0, finish):
                self.complete = True
            if finish:
                self.finish_reason = finish
        text = "".join(pieces)
        if text:
            self._keep(text)
        return text

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
        self.candidates.report(result, "candidates")
        if self.error:
            result["error"] = self.error
        return result
