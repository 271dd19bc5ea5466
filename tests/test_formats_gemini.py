"""The ``gemini`` format at the aggregator level (streamGenerateContent?alt=sse, CRLF delimiters)."""

from __future__ import annotations

import pytest
from httpx_sse import ServerSentEvent

from tests.format_support import aggregate, transcript
from utils.formats.gemini import GeminiFormat


@pytest.mark.parametrize("chunk_size", [0, 1, 6])
def test_parts_text_streams_over_crlf_and_parts_without_text_are_skipped(chunk_size: int) -> None:
    assert b"\r\n\r\n" in transcript("gemini.sse")
    run = aggregate("gemini.sse", "gemini", chunk_size)
    assert run.texts == ["The", " sky is blue because of", " Rayleigh scattering."]
    assert "thoughtSignature" not in run.outcome.answer and "CiIB" not in run.outcome.answer


def test_last_usage_metadata_wins_and_finish_reason() -> None:
    outcome = aggregate("gemini.sse", "gemini").outcome
    assert outcome.usage.as_dict() == {"prompt_tokens": 8, "completion_tokens": 32, "total_tokens": 40}
    assert outcome.result == {"finish_reason": "STOP", "model_version": "gemini-2.5-flash",
                              "response_id": "mTQfaK2pBoqmz7IPhvzM4Qs"}


def test_error_payload_is_a_reported_failure() -> None:
    run = aggregate("gemini_error.sse", "gemini")
    assert run.streamed == "The"
    assert run.outcome.error == "The model is overloaded. Please try again later. (UNAVAILABLE)"


def test_thought_parts_function_calls_and_blocked_prompt() -> None:
    fmt = GeminiFormat()
    _, text = fmt.feed(ServerSentEvent(data='{"candidates": [{"content": {"parts": [{"text": "plan", "thought": true}, '
                                            '{"functionCall": {"name": "f", "args": {"x": 1}}}, {"text": "Hi"}]}}]}'))
    assert text == "Hi"
    fmt.feed(ServerSentEvent(data='{"promptFeedback": {"blockReason": "SAFETY"}}'))
    outcome = fmt.finish()
    assert outcome.result["function_calls"] == [{"name": "f", "args": {"x": 1}}]
    assert outcome.error == "the prompt was blocked (SAFETY)"
