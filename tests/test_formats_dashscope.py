"""The ``dashscope`` format (DashScope's native SSE, Qwen), at the format level and end to end.

Transcripts follow the Model Studio API reference ("Qwen - DashScope API", "Application calling"):
``id:N`` / ``event:result`` / ``:HTTP_STATUS/200`` / one ``data:`` line per event, the text
cumulative unless ``incremental_output`` is set, ``finish_reason`` the string ``"null"`` until the end.
"""

from __future__ import annotations

import json

import pytest
from httpx_sse import ServerSentEvent
from hypothesis import given, settings
from hypothesis import strategies as st

from devkit.plugin_runner import error_of, summary_of, texts
from tests.format_support import aggregate, events_of, transcript
from tests.test_formats_e2e import serve
from utils.formats import FORMATS, detect, make_format
from utils.formats.cumulative import CONFIRM_TEXTS, CUMULATIVE, DELTA, TextField
from utils.formats.dashscope import DashScopeFormat

TRANSCRIPTS = {
    # name: (streamed pieces, usage, result)
    "dashscope_text.sse": (
        ["杭州", "是浙江省的省会，", "以西湖闻名。", "Hangzhou is famous for West Lake."],
        {"prompt_tokens": 20, "completion_tokens": 18, "total_tokens": 38},
        {"request_id": "5f3a2c1e-8d4b-9e7f-a6c2-31b0d9e4f7a8", "finish_reason": "stop", "incremental_output": False}),
    "dashscope_message.sse": (
        ["Qwen", " is a", " large language model", " built by Alibaba Cloud."],
        {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
        {"request_id": "a7c1e2d3-0b9f-9c8e-b5a4-7d6e5f4c3b2a", "finish_reason": "stop", "incremental_output": True}),
    "dashscope_message_cumulative.sse": (
        ["Hello", "! How", " can I help", " you today?"],
        {"prompt_tokens": 9, "completion_tokens": 9, "total_tokens": 18},
        {"request_id": "c2d3e4f5-1a2b-9c3d-8e4f-5a6b7c8d9e0f", "finish_reason": "stop", "incremental_output": False}),
    "dashscope_app.sse": (
        ["你好！", "有什么", "可以帮助", "你的吗？"],
        {"prompt_tokens": 66, "completion_tokens": 8, "total_tokens": 74},  # two models' figures added up
        {"request_id": "d96e1a20-5ad8-9f19-82c1-9c87f86e12b8", "finish_reason": "stop", "incremental_output": True,
         "session_id": "bb9fb75687104983ae47fc1f34ef36a1"}),
    "dashscope_reasoning.sse": (
        ["2 + 2", " = 4."],
        {"prompt_tokens": 30, "completion_tokens": 15, "total_tokens": 45},
        {"request_id": "a1959ad1-2637-9672-a21f-4d351371d254", "finish_reason": "stop", "incremental_output": True,
         "reasoning_tokens": 9}),
}


def event(data: object, kind: str = "result") -> ServerSentEvent:
    return ServerSentEvent(kind, data if isinstance(data, str) else json.dumps(data, ensure_ascii=False))


def message(content: object = "", reasoning: str | None = None, finish: str = "null") -> ServerSentEvent:
    msg: dict[str, object] = {"content": content, "role": "assistant"}
    if reasoning is not None:
        msg["reasoning_content"] = reasoning
    return event({"output": {"choices": [{"message": msg, "finish_reason": finish}]}, "request_id": "r"})


@pytest.mark.parametrize("chunk_size", [0, 1, 7])
@pytest.mark.parametrize("name", sorted(TRANSCRIPTS))
def test_each_transcript_streams_only_new_text_with_usage_and_result(name: str, chunk_size: int) -> None:
    pieces, usage, result = TRANSCRIPTS[name]
    assert b":HTTP_STATUS/200\n" in transcript(name) and b"event:result\n" in transcript(name)
    run = aggregate(name, "auto", chunk_size)
    assert run.format.name == "dashscope"
    assert run.texts == pieces
    assert run.outcome.answer == "".join(pieces)
    assert run.outcome.usage.as_dict() == usage
    assert run.outcome.result == result
    assert run.outcome.complete is True and run.outcome.error is None and run.outcome.invalid_events == 0


def test_cumulative_and_incremental_streams_of_the_same_answer_stream_the_same_text() -> None:
    whole = aggregate("dashscope_message_cumulative.sse", "dashscope")
    fmt = DashScopeFormat()
    deltas = [fmt.feed(message(piece))[1] for piece in ["Hello", "! How", " can I help", " you today?"]]
    assert deltas == whole.texts and fmt.finish().answer == whole.outcome.answer


def test_not_complete_before_a_real_finish_reason() -> None:
    fmt = DashScopeFormat()
    fmt.feed(message("Hi", finish="null"))
    assert fmt.complete is False and fmt.finish().complete is False
    fmt.feed(message("", finish="length"))
    assert fmt.complete is True and fmt.finish().result["finish_reason"] == "length"


def test_reasoning_is_kept_apart_and_popped_as_it_arrives() -> None:
    fmt = DashScopeFormat()
    popped, streamed = [], []
    for e in events_of("dashscope_reasoning.sse"):
        streamed.append(fmt.feed(e)[1])
        popped.append(fmt.pop_reasoning())
    assert [p for p in popped if p] == ["The user", " asks for 2+2.", " That is 4."]
    assert fmt.pop_reasoning() == ""
    outcome = fmt.finish()
    assert outcome.reasoning == "The user asks for 2+2. That is 4."
    assert "".join(streamed) == outcome.answer == "2 + 2 = 4."
    assert "user" not in outcome.answer


def test_cumulative_reasoning_is_read_as_cumulative_too() -> None:
    fmt = DashScopeFormat()
    for thought in ["Let", "Let me", "Let me think."]:
        fmt.feed(message("", thought))
    assert fmt.pop_reasoning() == "Let me think."
    for text in ["It", "It is 4."]:
        fmt.feed(message(text, "Let me think."))
    assert fmt.pop_reasoning() == ""
    outcome = fmt.finish()
    assert outcome.reasoning == "Let me think." and outcome.answer == "It is 4."


def test_vl_models_content_parts_are_joined() -> None:
    fmt = DashScopeFormat()
    _, text = fmt.feed(message([{"text": "A cat"}, {"image": "x"}, {"text": " on a mat."}]))
    assert text == "A cat on a mat."


@pytest.mark.parametrize("chunk_size", [0, 3])
def test_an_error_event_is_a_reported_failure_after_the_text(chunk_size: int) -> None:
    run = aggregate("dashscope_error.sse", "auto", chunk_size)
    assert run.streamed == "Once upon a time" == run.outcome.answer
    assert run.types[-1] == "error"
    assert run.outcome.error == "Output data may contain inappropriate content. (DataInspectionFailed)"
    assert run.outcome.result["code"] == "DataInspectionFailed"
    assert run.outcome.complete is False


@pytest.mark.parametrize(("kind", "data", "error"), [
    ("error", '{"code": "InvalidApiKey", "message": "Invalid API-key provided.", "request_id": "x"}',
     "Invalid API-key provided. (InvalidApiKey)"),
    ("error", "upstream timeout", "the server reported an error: upstream timeout"),
    ("error", '["odd"]', 'the server reported an error: ["odd"]'),
    ("result", '{"code": "Throttling", "message": "Requests throttling triggered.", "request_id": "x"}',
     "Requests throttling triggered. (Throttling)"),
])
def test_every_shape_of_error_fails(kind: str, data: str, error: str) -> None:
    fmt = DashScopeFormat()
    assert fmt.feed(ServerSentEvent(kind, data)) == ("error", "")
    assert fmt.finish().error == error


@pytest.mark.parametrize(("kind", "data"), [
    ("result", '{"output": {"finish_reason": "null", "text": "hi"}, "request_id": "r"}'),
    ("result", '{"output": {"choices": [{"message": {"content": "", "role": "assistant"}}]}}'),
    ("message", '{"output": {"text": "hi"}, "usage": {"input_tokens": 1}, "request_id": "r"}'),
    ("error", '{"code": "InvalidParameter", "message": "Required parameter(AppId) missing", "request_id": "r"}'),
])
def test_auto_detects_dashscope(kind: str, data: str) -> None:
    assert detect(ServerSentEvent(kind, data)) == "dashscope"


@pytest.mark.parametrize("data", ['{"output": "text"}', '{"output": {"text": "hi"}}', '{"code": 1, "message": "x"}'])
def test_auto_does_not_take_other_json_for_dashscope(data: str) -> None:
    assert detect(ServerSentEvent("message", data)) == "raw"


def test_registered_under_its_name() -> None:
    assert FORMATS["dashscope"] is DashScopeFormat
    assert make_format("dashscope", ServerSentEvent(data="{}")).name == "dashscope"


def test_incremental_stream_guessed_cumulative_is_rebuilt_when_the_guess_breaks() -> None:
    fmt = DashScopeFormat()
    streamed = [fmt.feed(message(piece))[1] for piece in ["Hi", "Hi", " there", "!"]]
    outcome = fmt.finish()
    assert outcome.answer == "HiHi there!"  # every delta, though the live text missed the repeat
    assert streamed == ["Hi", "", " there", "!"]
    assert outcome.result["incremental_output"] is True


# TextField: the mode as read from the data.

@given(st.lists(st.text(max_size=8), max_size=30))
def test_a_cumulative_stream_of_any_text_streams_each_addition_once(deltas: list[str]) -> None:
    for mode in (None, CUMULATIVE):
        field, out, whole = TextField(mode), [], ""
        so_far = ""
        for delta in deltas:
            so_far += delta
            piece, replaced = field.add(so_far)
            out.append(piece)
            whole = replaced if replaced is not None else whole + piece
        assert "".join(out) == so_far == whole


@given(st.lists(st.text(min_size=1, max_size=6), max_size=30))
def test_an_incremental_stream_keeps_every_delta_unless_it_looks_cumulative_throughout(deltas: list[str]) -> None:
    field, whole = TextField(), ""
    for delta in deltas:
        piece, replaced = field.add(delta)
        whole = replaced if replaced is not None else whole + piece
    head = deltas[:CONFIRM_TEXTS]
    chain = len(head) >= 2 and all(b.startswith(a) for a, b in zip(head, head[1:], strict=False))
    if not chain:  # deltas that extend each other 4 times over are indistinguishable from a cumulative text
        assert whole == "".join(deltas)
        assert field.mode in (None, DELTA)


def test_a_cumulative_text_that_does_not_extend_the_previous_one_is_a_rewrite() -> None:
    field = TextField(CUMULATIVE)
    assert field.add("Hello wor") == ("Hello wor", "Hello wor")
    assert field.add("Hello world") == ("ld", "Hello world")
    assert field.add("Hello, world!") == (", world!", "Hello, world!")
    assert field.add("Hello, world") == ("", "Hello, world")  # a trimmed end streams nothing
    assert field.rewrites == 2


# Random data never crashes the format.

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["output", "text", "choices", "message", "content", "reasoning_content", "finish_reason",
                         "usage", "models", "input_tokens", "output_tokens", "code", "request_id", "session_id"]),
        children, max_size=5),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["result", "error", "message"]), json_values | st.text(max_size=20)),
                max_size=8))
def test_random_json_never_crashes_the_format(events: list[tuple[str, object]]) -> None:
    fmt = DashScopeFormat()
    streamed = []
    for kind, value in events:
        data = value if isinstance(value, str) else json.dumps(value)
        event_type, text = fmt.feed(ServerSentEvent(kind, data))
        assert isinstance(event_type, str) and isinstance(text, str)
        streamed.append(text)
        assert isinstance(fmt.pop_reasoning(), str)
    outcome = fmt.finish()
    json.dumps(outcome.result)
    assert isinstance(outcome.answer, str) and isinstance(outcome.usage.as_dict(), dict)


def test_deeply_nested_json_is_invalid_not_a_crash() -> None:
    fmt = DashScopeFormat()
    assert fmt.feed(ServerSentEvent("result", "[" * 100_000 + "]" * 100_000)) == ("invalid", "")
    assert fmt.finish().invalid_events == 1


# End to end: the plugin started as Dify's daemon starts it, the transcripts served over loopback.

@pytest.mark.parametrize("name", ["dashscope_text.sse", "dashscope_message.sse", "dashscope_app.sse"])
def test_auto_streams_dashscope_answers_through_the_plugin(plugin, server, name: str) -> None:
    pieces, usage, result = TRANSCRIPTS[name]
    frames = plugin.collect(plugin.invoke("sse_request", {"url": serve(server, name), "method": "POST",
                                                          "body": "{}"}))
    assert error_of(frames) is None
    assert "".join(texts(frames)) == "".join(pieces)
    summary = summary_of(frames)
    assert summary["format"] == "dashscope" and summary["success"] is True
    assert summary["answer"] == "".join(pieces) and summary["usage"] == usage and summary["result"] == result


def test_an_error_event_fails_the_node_after_the_text_through_the_plugin(plugin, server) -> None:
    frames = plugin.collect(plugin.invoke("sse_request", {"url": serve(server, "dashscope_error.sse")}))
    assert "".join(texts(frames)) == "Once upon a time"
    error = error_of(frames)
    assert error is not None and "Output data may contain inappropriate content. (DataInspectionFailed)" in error[
        "message"]


def test_reasoning_never_reaches_the_live_text_or_the_answer_through_the_plugin(plugin, server) -> None:
    frames = plugin.collect(plugin.invoke("sse_request", {"url": serve(server, "dashscope_reasoning.sse")}))
    assert "".join(texts(frames)) == "2 + 2 = 4."
    summary = summary_of(frames)
    assert summary["answer"] == "2 + 2 = 4."
    assert summary["reasoning"] == "The user asks for 2+2. That is 4."  # needs h-run's summary field


def test_stream_format_dashscope_can_be_chosen(plugin, server) -> None:  # needs h-params' select option
    frames = plugin.collect(plugin.invoke("sse_request", {"url": serve(server, "dashscope_message.sse"),
                                                          "stream_format": "dashscope"}))
    assert error_of(frames) is None
    assert summary_of(frames)["format"] == "dashscope"


def test_an_incremental_stream_whose_first_pieces_repeat_one_another_keeps_every_piece() -> None:
    """``哈`` five times (one token each, incremental_output on), then ``!``: texts that repeat the
    previous one add nothing, so they never confirm a cumulative guess; the ``!`` that does not
    extend them shows the stream was incremental, and the answer keeps every piece (before: the
    guess was taken as sure and ``!`` replaced the whole answer)."""
    field, whole = TextField(), ""
    for piece in ["哈"] * 5 + ["!"]:
        delta, replaced = field.add(piece)
        whole = replaced if replaced is not None else whole + delta
    assert whole == "哈哈哈哈哈!" and field.mode == DELTA and field.rewrites == 0
