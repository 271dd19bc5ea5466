"""The ``anthropic`` format at the aggregator level."""

from __future__ import annotations

import pytest
from httpx_sse import ServerSentEvent

from tests.format_support import aggregate
from utils.formats.anthropic import AnthropicFormat


@pytest.mark.parametrize("chunk_size", [0, 9])
def test_text_deltas_stream_and_ping_is_ignored(chunk_size: int) -> None:
    run = aggregate("anthropic.sse", "anthropic", chunk_size)
    assert run.streamed == "Okay, let's check the weather for San Francisco, CA:"
    assert "ping" not in run.types  # a keep-alive: dropped before any format sees it


def test_usage_takes_input_from_message_start_and_cumulative_output_from_message_delta() -> None:
    outcome = aggregate("anthropic.sse", "anthropic").outcome
    # message_start says output_tokens 2, message_delta says 89 (cumulative): 89, not 91.
    assert outcome.usage.as_dict() == {"prompt_tokens": 472, "completion_tokens": 89, "total_tokens": 561}


def test_stop_reason_and_tool_use_input_assembled() -> None:
    result = aggregate("anthropic.sse", "anthropic").outcome.result
    assert result["stop_reason"] == "tool_use"
    assert result["id"] == "msg_01XFDUDYJgAACzvnptvVoYEL" and result["model"] == "claude-sonnet-4-20250514"
    assert result["tool_calls"] == [{"id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "name": "get_weather",
                                     "input": {"location": "San Francisco, CA", "unit": "fahrenheit"}}]


def test_error_event_mid_stream() -> None:
    run = aggregate("anthropic_error.sse", "anthropic")
    assert run.streamed == "Okay, let"
    assert run.outcome.error == "Overloaded (overloaded_error)"
    assert run.outcome.result["error"] == run.outcome.error


def test_thinking_is_not_the_answer_and_cache_tokens_count_as_prompt() -> None:
    fmt = AnthropicFormat()
    fmt.feed(ServerSentEvent("message_start", '{"type": "message_start", "message": {"id": "m", "model": "c", '
                             '"usage": {"input_tokens": 10, "cache_read_input_tokens": 100, "output_tokens": 1}}}'))
    _, text = fmt.feed(ServerSentEvent("content_block_delta", '{"type": "content_block_delta", "index": 0, '
                                       '"delta": {"type": "thinking_delta", "thinking": "hmm"}}'))
    assert text == ""
    fmt.feed(ServerSentEvent("message_delta", '{"type": "message_delta", "delta": {"stop_reason": "end_turn"}, '
                             '"usage": {"output_tokens": 5}}'))
    outcome = fmt.finish()
    assert outcome.answer == "" and outcome.result["thinking_chars"] == 3
    assert outcome.usage.as_dict() == {"prompt_tokens": 110, "completion_tokens": 5, "total_tokens": 115}
