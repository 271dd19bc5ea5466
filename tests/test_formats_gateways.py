"""Issue 11 "what to deliver", issue 17: streams of gateways and providers, written from their public
docs (sources below), checked at the format level for answer, live text, usage, result, reasoning
and completeness, whole and cut into small network reads. ``auto`` must pick ``openai`` for each.

Sources: OpenRouter openrouter.ai/docs/api-reference/streaming (": OPENROUTER PROCESSING" comments,
mid-stream error chunk, delta.reasoning); Azure OpenAI learn.microsoft.com/azure/ai-foundry/openai/
concepts/content-streaming and content-filter (empty-choices prompt_filter_results chunk,
content_filter_results, asynchronous-filter annotation chunks); LiteLLM docs.litellm.ai/docs/
completion/stream; vLLM docs.vllm.ai (openai_compatible_server, reasoning_outputs, continuous_usage_stats);
Ollama docs.ollama.com/api/openai-compatibility; DeepSeek api-docs.deepseek.com/guides/reasoning_model
(reasoning_content, ": keep-alive" comments); Mistral docs.mistral.ai/capabilities/reasoning (list
content with thinking parts); Gemini ai.google.dev/gemini-api/docs/openai (tool calls without index).
"""

from __future__ import annotations

import pytest

from tests.format_support import aggregate, events_of, transcript

GATEWAYS = {
    "openrouter.sse": {
        "texts": ["Hello", "! How", " can I help?"], "reasoning": "The user greets me. I should greet back.",
        "usage": {"prompt_tokens": 12, "completion_tokens": 40, "total_tokens": 52},
        "result": {"api": "chat.completions", "id": "gen-1747329348-SU5hP3jQ9EAfYiK3Iw3X",
                   "model": "openai/o4-mini", "finish_reason": "stop"},
    },
    "azure_openai.sse": {
        "texts": ["A private", " endpoint", " keeps traffic", " on Azure's", " backbone."], "reasoning": "",
        "usage": {"prompt_tokens": 14, "completion_tokens": 11, "total_tokens": 25},
        "result": {"api": "chat.completions", "id": "chatcmpl-AzX81qPsCGz1rQe2HoD3n4y8VSgh5",
                   "model": "gpt-4o-2024-11-20", "finish_reason": "stop"},
    },
    "litellm.sse": {
        "texts": ["Bonjour", " le", " monde"], "reasoning": "",
        "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13},
        "result": {"api": "chat.completions", "id": "chatcmpl-7e4c1d2a-5f0b-4a8e-9c3d-2b1f6e8a9d10",
                   "model": "claude-3-5-haiku", "finish_reason": "stop"},
    },
    "vllm.sse": {  # usage on every chunk (continuous_usage_stats): the last one wins
        "texts": ["2 + 2", " = 4."], "reasoning": "Two plus two is four.",
        "usage": {"prompt_tokens": 15, "completion_tokens": 6, "total_tokens": 21},
        "result": {"api": "chat.completions", "id": "chatcmpl-9b1e0c2f3a4d4b5c", "model": "Qwen/Qwen3-8B",
                   "finish_reason": "stop"},
    },
    "ollama_openai.sse": {
        "texts": ["The", " sky", " is", " blue", "."], "reasoning": "",
        "usage": {"prompt_tokens": 26, "completion_tokens": 6, "total_tokens": 32},
        "result": {"api": "chat.completions", "id": "chatcmpl-312", "model": "llama3.2", "finish_reason": "stop"},
    },
    "deepseek.sse": {  # usage on the finishing chunk, which also carries content
        "texts": ["9.9", " is larger."], "reasoning": "9.11 vs 9.9: compare tenths, 1 < 9.",
        "usage": {"prompt_tokens": 18, "completion_tokens": 64, "total_tokens": 82},
        "result": {"api": "chat.completions", "id": "8a5f4c1e-0b7d-4e2a-9f3c-6d1b2e8a7c90",
                   "model": "deepseek-reasoner", "finish_reason": "stop"},
    },
    "mistral.sse": {
        "texts": ["Hello!", " How can I help?"], "reasoning": "The user says hello. Answer briefly.",
        "usage": {"prompt_tokens": 8, "completion_tokens": 32, "total_tokens": 40},
        "result": {"api": "chat.completions", "id": "f5a2c7e9b1d34e8a", "model": "magistral-medium-2506",
                   "finish_reason": "stop"},
    },
    "gemini_openai.sse": {
        "texts": ["Checking both cities."], "reasoning": "",
        "usage": {"prompt_tokens": 61, "completion_tokens": 34, "total_tokens": 95},
        "result": {"api": "chat.completions", "id": "wv1taM2YKZ6tz7IP0vHU2Ak", "model": "gemini-2.5-flash",
                   "finish_reason": "stop", "tool_calls": [
                       {"id": "function-call-1", "type": "function", "name": "get_weather",
                        "arguments": '{"location":"Sydney"}'},
                       {"id": "function-call-2", "type": "function", "name": "get_weather",
                        "arguments": '{"location":"Paris"}'}]},
    },
}


@pytest.mark.parametrize("chunk_size", [0, 7])
@pytest.mark.parametrize("name", sorted(GATEWAYS))
def test_gateway_stream_answer_live_text_usage_result_reasoning(name: str, chunk_size: int) -> None:
    expected = GATEWAYS[name]
    run = aggregate(name, "auto", chunk_size)
    outcome = run.outcome
    assert run.format.name == "openai"
    assert run.texts == expected["texts"]
    assert outcome.answer == "".join(expected["texts"])
    assert outcome.usage.as_dict() == expected["usage"]
    assert outcome.result == expected["result"]
    assert outcome.reasoning == expected["reasoning"]
    assert expected["reasoning"] == "" or expected["reasoning"][:10] not in run.streamed
    assert outcome.complete and outcome.error is None and outcome.invalid_events == 0


@pytest.mark.parametrize(("name", "comment"), [("openrouter.sse", ": OPENROUTER PROCESSING"),
                                               ("deepseek.sse", ": keep-alive")])
def test_keepalive_comments_are_no_events(name: str, comment: str) -> None:
    assert comment.encode() in transcript(name)
    assert all(comment[2:] not in e.data for e in events_of(name))


def test_openrouter_mid_stream_error_chunk_is_a_reported_failure_after_the_text() -> None:
    run = aggregate("openrouter_error.sse")
    assert run.format.name == "openai" and run.streamed == "The answer begins"
    assert run.types[-1] == "error"
    assert run.outcome.error == "Provider disconnected unexpectedly (server_error)"
    assert run.outcome.result["finish_reason"] == "error" and run.outcome.complete


def test_azure_empty_choices_and_filter_annotation_chunks_bring_nothing_and_are_not_invalid() -> None:
    run = aggregate("azure_openai.sse")
    assert run.types.count("message") == len(events_of("azure_openai.sse")) - 1  # all but [DONE]
    assert run.outcome.invalid_events == 0 and "filter" not in run.streamed
