"""The ``openai`` format at the aggregator level: Chat Completions and the Responses API."""

from __future__ import annotations

import pytest
from httpx_sse import ServerSentEvent

from tests.format_support import aggregate
from utils.formats.openai import OpenAIFormat


@pytest.mark.parametrize("chunk_size", [0, 11])
def test_chat_streams_delta_content_only(chunk_size: int) -> None:
    run = aggregate("openai_chat.sse", "openai", chunk_size)
    assert run.texts == ["Hello", "!", " How", " can", " I", " help", " you", " today", "?"]
    assert run.outcome.answer == "Hello! How can I help you today?"


def test_chat_usage_chunk_and_finish_reason() -> None:
    outcome = aggregate("openai_chat.sse", "openai").outcome
    assert outcome.usage.as_dict() == {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29}
    assert outcome.result == {"api": "chat.completions", "id": "chatcmpl-AQ4Vf7x2TwB1xjJbZ3kL0s",
                              "model": "gpt-4o-mini-2024-07-18", "finish_reason": "stop"}
    assert outcome.error is None


def test_done_ends_the_stream_and_never_reaches_the_format() -> None:
    run = aggregate("openai_chat.sse", "openai")
    assert "[DONE]" not in run.outcome.answer and run.outcome.invalid_events == 0


def test_tool_call_deltas_are_assembled_by_index() -> None:
    outcome = aggregate("openai_tools.sse", "openai").outcome
    assert outcome.answer == ""
    assert outcome.result["finish_reason"] == "tool_calls"
    assert outcome.result["tool_calls"] == [
        {"id": "call_9xQ2", "type": "function", "name": "get_weather",
         "arguments": '{"location": "Paris, FR", "unit": "c"}'},
        {"id": "call_7kP1", "type": "function", "name": "get_time", "arguments": '{"tz": "Europe/Paris"}'},
    ]


def test_in_stream_error_object_is_a_reported_failure_after_the_text() -> None:
    run = aggregate("openai_error.sse", "openai")
    assert run.streamed == "The answer is"
    assert run.types[-1] == "error"
    assert run.outcome.error == "The server had an error while processing your request. Sorry about that! " \
                                "(server_error)"
    assert run.outcome.result["error"] == run.outcome.error


def test_responses_api_text_usage_and_status() -> None:
    run = aggregate("openai_responses.sse", "openai", chunk_size=13)
    assert run.texts == ["Hi", " there", ", traveller", "."]
    assert run.types[0] == "response.created" and run.types[-1] == "response.completed"
    assert run.outcome.usage.as_dict() == {"prompt_tokens": 37, "completion_tokens": 11, "total_tokens": 48}
    assert run.outcome.result["api"] == "responses" and run.outcome.result["status"] == "completed"


def test_responses_api_error_event() -> None:
    run = aggregate("openai_responses_error.sse", "openai")
    assert run.streamed == "Hi"
    assert run.outcome.error == "The model failed to respond. (server_error)"


def test_responses_api_failed_response_and_function_call() -> None:
    fmt = OpenAIFormat()
    fmt.feed(ServerSentEvent("response.output_item.done", '{"type": "response.output_item.done", "item": '
             '{"type": "function_call", "call_id": "call_1", "name": "lookup", "arguments": "{\\"q\\": 1}"}}'))
    fmt.feed(ServerSentEvent("response.failed", '{"type": "response.failed", "response": {"id": "resp_1", '
             '"status": "failed", "error": {"code": "rate_limit_exceeded", "message": "Slow down"}}}'))
    outcome = fmt.finish()
    assert outcome.error == "Slow down (rate_limit_exceeded)"
    assert outcome.result["tool_calls"] == [{"id": "call_1", "type": "function", "name": "lookup",
                                             "arguments": '{"q": 1}'}]
    assert outcome.result["status"] == "failed"


def test_choices_null_and_usage_null_chunks_are_harmless() -> None:
    fmt = OpenAIFormat()
    assert fmt.feed(ServerSentEvent(data='{"choices": null, "usage": null}')) == ("message", "")
    assert fmt.feed(ServerSentEvent(data='{"choices": [{"index": 0, "delta": {"content": "ok"}}]}')) == ("message", "ok")
    assert fmt.finish().invalid_events == 0
