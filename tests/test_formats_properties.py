"""Issue 11 fault 2, issue 18 point 8: no value of any type in any field a format reads crashes it.

Each format is fed its transcripts (and hand-written events for the fields the transcripts lack)
with random JSON put in one or more fields, at every depth. Per event the only outcomes are text
(a string), nothing, or one more counted invalid event; at the end the format's result, usage and
reasoning serialize as strict JSON (no NaN) and the answer is the text streamed (where no
``*_replace`` event took text back)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from httpx_sse import ServerSentEvent
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.format_support import events_of
from utils.formats import FORMATS, is_keepalive, make_format
from utils.formats.dify import BLOCKING_EVENT

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=12,
)

# Events for fields the transcripts do not hold (reasoning, list content, n > 1, index-less tools...).
EXTRA = {
    "openai": [
        {"id": "c", "model": "m", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "a",
         "reasoning_content": "r", "reasoning": "r", "refusal": "no", "tool_calls": [{"index": 0, "id": "x",
         "type": "function", "function": {"name": "f", "arguments": "{}"}}]}, "finish_reason": None}],
         "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}},
        {"choices": [{"index": 0, "delta": {"content": [{"type": "thinking", "thinking": [{"type": "text",
         "text": "t"}]}, {"type": "text", "text": "Hi"}]}}, {"index": 1, "delta": {"content": "Bon"},
         "finish_reason": "stop"}]},
        {"choices": [{"delta": {"tool_calls": [{"id": "call-1", "function": {"name": "g", "arguments": {"a": 1}}}]},
                      "finish_reason": "tool_calls"}]},
        {"error": {"message": "m", "code": 500, "type": "t"}, "choices": [{"index": 0, "delta": {"content": ""},
         "finish_reason": "error"}]},
        {"type": "response.output_text.delta", "delta": "x"},
        {"type": "response.reasoning_summary_text.delta", "delta": "why"},
        {"type": "response.completed", "response": {"id": "r", "model": "m", "status": "completed",
         "usage": {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}}},
        {"type": "response.failed", "response": {"status": "failed", "error": {"code": "c", "message": "m"}}},
        {"type": "response.output_item.done", "item": {"type": "function_call", "call_id": "c", "name": "n",
         "arguments": "{}"}},
        {"type": "response.refusal.delta", "delta": "no"},
        {"type": "error", "code": "c", "message": "m"},
    ],
    "anthropic": [
        {"type": "content_block_start", "index": 1, "content_block": {"type": "thinking", "thinking": "t"}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "thinking_delta", "thinking": "hmm"}},
        {"type": "content_block_start", "index": 2, "content_block": {"type": "text", "text": "T"}},
    ],
    "gemini": [
        {"candidates": [{"content": {"parts": [{"text": "plan", "thought": True}, {"functionCall": {"name": "f",
         "args": {"x": 1}}}, {"text": "Hi"}]}, "finishReason": "STOP"}], "promptFeedback": {"blockReason": "X"},
         "responseId": "r", "modelVersion": "v"},
    ],
    "dify": [],
}
TRANSCRIPTS = {
    "openai": ["openai_chat.sse", "openai_tools.sse", "openai_responses.sse", "openai_error.sse", "azure_openai.sse",
               "deepseek.sse", "mistral.sse", "gemini_openai.sse", "openrouter_error.sse"],
    "anthropic": ["anthropic.sse", "anthropic_error.sse"],
    "gemini": ["gemini.sse", "gemini_error.sse"],
    "dify": ["dify_chat.sse", "dify_agent.sse", "dify_chatflow.sse", "dify_workflow.sse", "dify_workflow_failed.sse",
             "dify_completion.sse", "dify_chat_error.sse"],
    "raw": ["openai_chat.sse"],
    "dashscope": ["dashscope_text.sse", "dashscope_message.sse",
                  "dashscope_message_cumulative.sse", "dashscope_app.sse", "dashscope_error.sse",
                  "dashscope_reasoning.sse"],
}
BLOCKING = ["dify_chat_blocking.json", "dify_workflow_blocking.json", "dify_chatflow_blocking.json"]


def templates(name: str) -> list[tuple[str, Any]]:
    """(SSE event type, JSON payload) of every event the format reads, from transcripts and EXTRA."""
    found: list[tuple[str, Any]] = []
    for transcript in TRANSCRIPTS[name]:
        for event in events_of(transcript):
            if event.data.startswith("{"):
                found.append((event.event, json.loads(event.data)))
    found += [("message", obj) for obj in EXTRA.get(name, [])]
    if name == "dify":
        from tests.format_support import blocking_answer
        found += [(BLOCKING_EVENT, blocking_answer(b)) for b in BLOCKING]
    return found


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in a JSON value where another value can be put: keys of objects, list items."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


def replaced(value: Any, path: tuple, new: Any) -> Any:
    copy = json.loads(json.dumps(value))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return copy


@st.composite
def mutated_streams(draw, name: str) -> list[ServerSentEvent]:
    events = templates(name)
    chosen = draw(st.lists(st.sampled_from(events), min_size=1, max_size=8))
    stream = []
    for event_type, obj in chosen:
        where = paths(obj)
        for _ in range(draw(st.integers(0, 3))):
            if not where:
                break
            obj = replaced(obj, draw(st.sampled_from(where)), draw(JSON_VALUES))
            where = paths(obj)
        if draw(st.booleans()):
            obj = draw(JSON_VALUES)  # the whole payload replaced: an array, a string, a number...
        stream.append(ServerSentEvent(event_type, json.dumps(obj)))
    return stream


def check(name: str, stream: list[ServerSentEvent]) -> None:
    fmt = make_format(name)
    streamed = []
    for event in stream:
        before = fmt.invalid_events
        event_type, text = fmt.feed(event)
        assert isinstance(event_type, str) and isinstance(text, str)
        assert fmt.invalid_events in (before, before + 1)
        if fmt.invalid_events == before + 1:
            assert text == ""
        streamed.append(text)
        assert isinstance(fmt.pop_reasoning(), str)
        assert isinstance(fmt.complete, bool)
    outcome = fmt.finish()
    json.dumps({"result": outcome.result, "usage": outcome.usage.as_dict(), "reasoning": outcome.reasoning,
                "answer": outcome.answer, "samples": outcome.invalid_samples}, allow_nan=False)
    assert isinstance(outcome.answer, str) and isinstance(outcome.reasoning, str)
    replaced_text = any('"message_replace"' in e.data or '"text_replace"' in e.data for e in stream)
    # DashScope's cumulative-or-incremental guess (utils/formats/cumulative.py) may rebuild or rewrite
    # the answer when a text does not extend the previous one: the live text cannot take back.
    if not replaced_text and name not in ("dify", "dashscope"):
        assert outcome.answer == "".join(streamed)


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_random_json_in_any_field_gives_text_nothing_or_an_invalid_event(name: str) -> None:
    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(mutated_streams(name))
    def run(stream: list[ServerSentEvent]) -> None:
        check(name, stream)

    run()


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_the_templates_themselves_are_valid_events(name: str) -> None:
    """The mutations start from events the format reads without a single invalid one."""
    fmt = make_format(name)
    for event_type, obj in templates(name):
        fmt.feed(ServerSentEvent(event_type, json.dumps(obj)))
    assert fmt.invalid_events == 0


@pytest.mark.parametrize("name", sorted(FORMATS) + ["auto"])
@given(data=st.text(max_size=40), event_type=st.sampled_from(["message", "ping", "error", BLOCKING_EVENT]))
@settings(max_examples=60, deadline=None)
def test_any_text_as_data_is_text_nothing_or_invalid(name: str, data: str, event_type: str) -> None:
    check(name, [ServerSentEvent(event_type, data)])


@pytest.mark.parametrize("name", sorted(FORMATS) + ["auto"])
@pytest.mark.parametrize("data", [
    "[" * 100_000 + "]" * 100_000,
    '{"choices": ' + "[" * 50_000 + "]" * 50_000 + "}",
    '{"event": "message", "answer": ' + '{"a":' * 50_000 + "1" + "}" * 50_000 + "}",
])
def test_one_deeply_nested_event_is_an_invalid_event_never_fatal(name: str, data: str) -> None:
    fmt = make_format(name)
    text = fmt.feed(ServerSentEvent(data=data))[1]
    first = fmt.name  # auto: an event that identifies nothing is shown as raw...
    assert text == (data + "\n" if first == "raw" else "")
    fmt.feed(ServerSentEvent(data='{"choices": [{"index": 0, "delta": {"content": "ok"}}]}'))
    outcome = fmt.finish()  # ...and the next, an OpenAI chunk, decides: a fresh format, nothing invalid
    assert outcome.invalid_events == (0 if first == "raw" else 1)


def test_json_nested_just_under_the_parser_limit_still_gives_a_summary_that_serializes() -> None:
    fmt = make_format("gemini")
    deep = '{"a":' * 900 + "1" + "}" * 900
    fmt.feed(ServerSentEvent(data='{"candidates": [{"content": {"parts": [{"functionCall": ' + deep + "}]}}]}"))
    result = fmt.finish().result
    json.dumps([[[[[[[[[[result]]]]]]]]]])
    assert "nested too deep" in json.dumps(result)


def test_nan_and_infinity_in_a_stream_never_reach_an_output() -> None:
    fmt = make_format("openai")
    fmt.feed(ServerSentEvent(data='{"choices": [{"index": 0, "delta": {"content": "a"}}], '
                                  '"usage": {"prompt_tokens": NaN, "completion_tokens": 1e400, "total_tokens": 3}}'))
    outcome = fmt.finish()
    assert outcome.usage.as_dict() == {"total_tokens": 3}  # 1e400 is read as an infinite float
    json.dumps(outcome.result, allow_nan=False)
    dify = make_format("dify")
    dify.feed(ServerSentEvent(data='{"event": "message_end", "metadata": {"usage": {"total_price": 1e999, '
                                   '"total_tokens": -1e400, "currency": "USD"}}}'))
    usage = dify.finish().usage.as_dict()
    assert "total_price" not in usage and "total_tokens" not in usage


KEEPALIVES = [ServerSentEvent("ping", "2023-04-07 23:36:05.744043"), ServerSentEvent("ping", ""),
              ServerSentEvent("ping", '{"type": "ping"}'), ServerSentEvent("message", ""),
              ServerSentEvent("message", ": keep-alive"), ServerSentEvent("message", '{"type": "ping"}')]
ALL_TRANSCRIPTS = sorted({t for names in TRANSCRIPTS.values() for t in names} | {
    "openrouter.sse", "azure_openai.sse", "deepseek.sse", "mistral.sse", "gemini_openai.sse", "vllm.sse"})


@pytest.mark.parametrize("transcript", ALL_TRANSCRIPTS)
@given(data=st.data())
@settings(max_examples=25, deadline=None)
def test_keepalives_anywhere_change_nothing_of_the_outcome(transcript: str, data) -> None:
    from tests.format_support import feed_all
    events = events_of(transcript)
    mixed = list(events)
    for _ in range(data.draw(st.integers(1, 6))):
        mixed.insert(data.draw(st.integers(0, len(mixed))), data.draw(st.sampled_from(KEEPALIVES)))
    plain, noisy = feed_all(events), feed_all(mixed)
    assert noisy.format.name == plain.format.name
    assert noisy.texts == plain.texts and noisy.types == plain.types
    assert noisy.outcome == plain.outcome
    assert is_keepalive(data.draw(st.sampled_from(KEEPALIVES)))


@given(data=st.text(min_size=1).filter(lambda text: not text.startswith((":", "{"))))
def test_raw_data_that_is_not_a_comment_nor_a_json_ping_is_never_a_keepalive(data: str) -> None:
    assert not is_keepalive(ServerSentEvent("message", data))
    assert not is_keepalive(ServerSentEvent("done", data))


short_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=6) | st.sampled_from(["ping"]),
                          lambda children: st.lists(children, max_size=3) | st.dictionaries(
                              st.sampled_from(["type", "event", "ts", "time", "a"]), children, max_size=3),
                          max_leaves=6)


@given(value=st.dictionaries(st.sampled_from(["type", "event", "ts", "timestamp"]), short_json, max_size=3),
       event_type=st.sampled_from(["message", "result", "done"]))
def test_the_keepalive_check_takes_any_short_json_object(value: dict[str, Any], event_type: str) -> None:
    """``{"type": []}`` or ``{"event": {}}`` is no keep-alive and no crash (it failed the node with
    "unhashable type: 'list'" in every format, raw included: the run asks before anything else)."""
    data = json.dumps(value)
    expected = (set(value) <= {"type", "event", "ts", "timestamp"}
                and (value.get("type") == "ping" or value.get("event") == "ping") and len(data) <= 80)
    assert is_keepalive(ServerSentEvent(event_type, data)) is expected
