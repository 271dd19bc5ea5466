"""``text_path``: any JSON event stream read through a JMESPath expression (``JSONPathFormat``).

The built-in formats' transcripts double as real-world shapes: a text_path written for each API must
stream the same answer as that API's own format.
"""

from __future__ import annotations

import json

import pytest
from httpx_sse import ServerSentEvent
from hypothesis import given, settings
from hypothesis import strategies as st

from devkit.plugin_runner import error_of, summary_of, texts
from devkit.sse_server import Request, Writer
from tests.format_support import aggregate, events_of, transcript
from utils.errors import InvalidParameter
from utils.formats.json_path import JSONPathFormat, compile_path, usage_of
from utils.request_options import build_request_options


def run(name: str, text_path: str, **options) -> tuple[JSONPathFormat, list[str]]:
    fmt = JSONPathFormat(text_path, **options)
    streamed = []
    for event in events_of(name):
        if event.data == "[DONE]":
            fmt.done()
            break
        streamed.append(fmt.feed(event)[1])
    return fmt, [s for s in streamed if s]


def feed(fmt: JSONPathFormat, *items: object, kind: str = "message") -> list[str]:
    return [fmt.feed(ServerSentEvent(kind, item if isinstance(item, str) else json.dumps(item)))[1] for item in items]


@pytest.mark.parametrize(("name", "own_format", "text_path", "usage_path"), [
    ("openai_chat.sse", "openai", "choices[0].delta.content", "usage"),
    ("anthropic.sse", "anthropic", "delta.text", "message.usage || usage"),
    ("gemini.sse", "gemini", "candidates[0].content.parts[?!thought].text", "usageMetadata"),
    ("dify_chat.sse", "dify", "answer", "metadata.usage"),
    ("dashscope_text.sse", "dashscope", "output.text", "usage"),
    ("dashscope_message.sse", "dashscope", "output.choices[0].message.content", "usage"),
])
def test_a_path_per_api_streams_what_its_own_format_streams(name, own_format, text_path, usage_path) -> None:
    expected = aggregate(name, own_format).outcome
    cumulative = name == "dashscope_text.sse"
    fmt, streamed = run(name, text_path, usage_path=usage_path, cumulative=cumulative)
    outcome = fmt.finish()
    assert "".join(streamed) == outcome.answer == expected.answer
    assert outcome.invalid_events == 0
    usage, own = outcome.usage, expected.usage
    assert (usage.prompt_tokens, usage.total_tokens) == (own.prompt_tokens, own.total_tokens)
    if own_format != "gemini":  # Gemini's own format adds thoughtsTokenCount to the completion
        assert usage.completion_tokens == own.completion_tokens


def test_nested_keys_and_array_indexes() -> None:
    fmt = JSONPathFormat("data.outputs[1].text")
    assert feed(fmt, {"data": {"outputs": [{"text": "no"}, {"text": "yes"}]}}) == ["yes"]
    assert feed(fmt, {"data": {"outputs": [{"text": "only one"}]}}) == [""]  # selects nothing: no text
    assert fmt.finish().answer == "yes" and fmt.invalid_events == 0


def test_a_path_may_start_at_an_array_and_a_list_of_strings_is_joined() -> None:
    fmt = JSONPathFormat("[].text")
    assert feed(fmt, [{"text": "a"}, {"text": "b"}, {"other": 1}]) == ["ab"]
    fmt = JSONPathFormat("content[?type=='text'].text")
    assert feed(fmt, {"content": [{"type": "text", "text": "Hi"}, {"type": "image"}, {"type": "text", "text": "!"}]}
                ) == ["Hi!"]
    assert feed(fmt, {"content": []}) == [""] and fmt.invalid_events == 0


@pytest.mark.parametrize(("value", "why"), [
    (42, "a number"), (1.5, "a number"), (True, "a boolean"), ({"text": "x"}, "an object"),
    (["a", 1], "a list holding non-strings"), ([["a"]], "a list holding non-strings"),
])
def test_a_non_string_result_is_skipped_and_counted_invalid(value, why, caplog) -> None:
    fmt = JSONPathFormat("v")
    data = json.dumps({"v": value})
    assert fmt.feed(ServerSentEvent(data=data)) == ("invalid", "")
    assert feed(fmt, {"v": "fine"}) == ["fine"]
    outcome = fmt.finish()
    assert outcome.answer == "fine" and outcome.invalid_events == 1 and outcome.invalid_samples == [data]
    assert f"text_path selected {why}, not a string" in caplog.text


def test_null_false_and_a_missing_key_are_no_text_not_invalid() -> None:
    fmt = JSONPathFormat("type == 'delta' && text")
    assert feed(fmt, {"type": "delta", "text": "A"}, {"type": "full", "text": "A whole"}, {"text": None},
                {"type": "delta"}, "null") == ["A", "", "", "", ""]
    assert fmt.finish().invalid_events == 0


def test_data_that_is_not_json_or_that_the_path_cannot_read_is_invalid_not_fatal() -> None:
    fmt = JSONPathFormat("length(a)")
    assert fmt.feed(ServerSentEvent(data="not json")) == ("invalid", "")
    assert fmt.feed(ServerSentEvent(data='{"a": 5}')) == ("invalid", "")  # length() of a number
    assert fmt.feed(ServerSentEvent(data="[" * 100_000 + "]" * 100_000)) == ("invalid", "")
    assert fmt.finish().invalid_events == 3


def test_event_filter_lets_only_its_events_carry_text() -> None:
    """The Responses API sends deltas as response.output_text.delta and the whole text again in
    response.output_text.done: JMESPath cannot tell them apart, the event name can."""
    expected = aggregate("openai_responses.sse", "openai").outcome
    unfiltered, _ = run("openai_responses.sse", "delta || text")
    assert unfiltered.finish().answer == expected.answer * 2
    fmt, streamed = run("openai_responses.sse", "delta || text", usage_path="response.usage",
                        event_filter=frozenset({"response.output_text.delta"}))
    outcome = fmt.finish()
    assert "".join(streamed) == outcome.answer == expected.answer
    assert outcome.usage == expected.usage  # usage still read from response.completed, outside the filter


def test_an_oversized_event_matters_only_when_the_filter_lets_it_carry_text() -> None:
    assert JSONPathFormat("a").needs(ServerSentEvent("anything", "{"))
    fmt = JSONPathFormat("a", event_filter=frozenset({"delta"}))
    assert fmt.needs(ServerSentEvent("delta", "{")) and not fmt.needs(ServerSentEvent("full", "{"))


def test_cumulative_text_streams_only_the_new_suffix_and_delta_mode_repeats_it() -> None:
    fmt, streamed = run("dashscope_text.sse", "output.text", cumulative=True)
    assert streamed == ["杭州", "是浙江省的省会，", "以西湖闻名。", "Hangzhou is famous for West Lake."]
    assert fmt.finish().answer == "".join(streamed)
    fmt, streamed = run("dashscope_text.sse", "output.text")
    assert streamed[:2] == ["杭州", "杭州是浙江省的省会，"]  # declared deltas: each whole text again


def test_a_cumulative_text_that_does_not_extend_the_last_one_replaces_it() -> None:
    fmt = JSONPathFormat("t", cumulative=True)
    assert feed(fmt, {"t": "Hello wor"}, {"t": "Hello world"}, {"t": "Hello, world!"}) == ["Hello wor", "ld",
                                                                                           ", world!"]
    outcome = fmt.finish()
    assert outcome.answer == "Hello, world!"  # the last whole text is the answer
    assert outcome.result == {"text_path": "t", "text_events": 3, "cumulative": True, "rewrites": 1}


def test_no_end_marker_of_its_own_but_done_completes_it() -> None:
    fmt, _ = run("openai_chat.sse", "choices[0].delta.content")
    assert fmt.has_end_marker is False
    assert fmt.finish().complete is True  # [DONE] came
    fmt, _ = run("dashscope_text.sse", "output.text", cumulative=True)
    assert fmt.finish().complete is False  # the run decides from the transport's end


@pytest.mark.parametrize(("usage", "expected"), [
    ({"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}, {"prompt_tokens": 3, "completion_tokens": 4,
                                                                       "total_tokens": 7}),
    ({"input_tokens": 3, "output_tokens": 4}, {"prompt_tokens": 3, "completion_tokens": 4}),
    ({"promptTokenCount": 3, "candidatesTokenCount": 4, "totalTokenCount": 7},
     {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}),
    ({"input_count": 3, "output_count": 4, "token_count": 7},  # Coze
     {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}),
    ({"prompt": "3", "completion": 4.0, "cost": 0.1}, {"prompt_tokens": 3, "completion_tokens": 4}),
    (12, {"total_tokens": 12}), ("lots", {}), (True, {}), ([1, 2], {}),
    ({"input_tokens": float("inf"), "output_tokens": 2}, {"completion_tokens": 2}), (float("inf"), {}),
])
def test_usage_field_names_as_providers_spell_them(usage, expected) -> None:
    assert usage_of(usage) == expected


@pytest.mark.parametrize(("name", "data"), [
    ("openai", '{"choices": [], "usage": {"prompt_tokens": 1e999, "completion_tokens": Infinity}}'),
    ("anthropic", '{"type": "message_delta", "delta": {}, "usage": {"output_tokens": -Infinity}}'),
    ("gemini", '{"usageMetadata": {"promptTokenCount": 1e999}}'),
    ("dashscope", '{"output": {"text": ""}, "usage": {"input_tokens": 1e999}, "request_id": "r"}'),
])
def test_a_token_count_of_infinity_is_no_count_in_any_format(name: str, data: str) -> None:
    from utils.formats import make_format
    fmt = make_format(name, ServerSentEvent(data=data))
    fmt.feed(ServerSentEvent(data=data))
    assert fmt.finish().usage.prompt_tokens is None


def test_a_usage_path_that_cannot_read_an_event_never_costs_its_text() -> None:
    fmt = JSONPathFormat("t", usage_path="length(u)")
    assert feed(fmt, {"t": "x", "u": 5}, {"t": "y", "u": "abc"}) == ["x", "y"]
    outcome = fmt.finish()
    assert outcome.invalid_events == 0 and outcome.usage.as_dict() == {"total_tokens": 3}


def test_usage_path_totals_when_the_server_gives_none() -> None:
    fmt = JSONPathFormat("t", usage_path="u")
    feed(fmt, {"t": "x", "u": {"input_tokens": 2}}, {"u": {"output_tokens": 5}})
    assert fmt.finish().usage.as_dict() == {"prompt_tokens": 2, "completion_tokens": 5, "total_tokens": 7}


@pytest.mark.parametrize(("expression", "message"), [
    ("", "got an empty one"),
    ("   ", "got an empty one"),
    ("choices[0].delta.", "it ends too early at column"),
    ("choices[0", "it ends too early at column"),
    ("a..b", "unexpected '.' at column 3"),
    ("a[?b=='c'", "it ends too early"),
    ("'abc", "Unclosed ' delimiter at column 1"),
    ("output.text ^", "at column 13"),
    ("foo(@)", "JMESPath has no function foo()"),
    ("a.nope(b)", "JMESPath has no function nope()"),
    ("length()", "length() takes 1 argument, not 0"),
    ("join(',')", "join() takes 2 arguments, not 1"),
    ("merge()", "merge() takes at least 1 argument, not 0"),
])
def test_a_bad_expression_is_one_line_naming_the_parameter(expression: str, message: str) -> None:
    for name in ("text_path", "usage_path"):
        with pytest.raises(InvalidParameter) as caught:
            compile_path(expression, name)
        text = str(caught.value)
        assert text.startswith(f"Invalid parameter '{name}': ") and message in text
        assert "\n" not in text and caught.value.__cause__ is None


def test_a_bad_expression_fails_when_the_format_is_made() -> None:
    with pytest.raises(InvalidParameter, match="'text_path'"):
        JSONPathFormat("a.")
    with pytest.raises(InvalidParameter, match="'usage_path'"):
        JSONPathFormat("a", usage_path="b[")


def test_a_long_bad_expression_is_shortened_in_the_message() -> None:
    with pytest.raises(InvalidParameter) as caught:
        compile_path("a." * 200, "text_path")
    assert len(str(caught.value)) < 300


@pytest.mark.parametrize("expression", ["choices[0].delta.content", "output.text", "content", "data.answer",
                                        "merge(a, b).c", "not_null(a, b)", "join('', parts[].text)",
                                        "candidates[0].content.parts[?!thought].text", "[].text"])
def test_good_expressions_compile(expression: str) -> None:
    assert compile_path(expression, "text_path").expression == expression


# Random data never crashes the format.

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["a", "b", "text", "content", "choices", "delta", "usage", "input_tokens"]), children,
        max_size=4),
    max_leaves=20)
paths = st.sampled_from(["a", "a.b", "choices[0].delta.content", "[].text", "a[*].b", "length(a)", "sort(a)",
                         "a || b", "join('', a)", "to_string(a)", "max(a)", "a[?b > `1`].text", "keys(@)", "@"])


@settings(max_examples=300, deadline=None)
@given(paths, st.booleans(), st.lists(json_values | st.text(max_size=15), max_size=8))
def test_random_json_never_crashes_the_format(path: str, cumulative: bool, values: list[object]) -> None:
    fmt = JSONPathFormat(path, usage_path="usage || a", cumulative=cumulative)
    streamed = []
    for value in values:
        data = value if isinstance(value, str) else json.dumps(value)
        kind, text = fmt.feed(ServerSentEvent(data=data))
        assert isinstance(kind, str) and isinstance(text, str)
        streamed.append(text)
    outcome = fmt.finish()
    json.dumps(outcome.result)
    if not outcome.result.get("rewrites"):  # a rewrite makes the answer the last whole text
        assert "".join(streamed) == outcome.answer


# End to end through the plugin runtime: needs the text_path parameter (h-params) and the run creating
# a JSONPathFormat for it (h-run / h-formats).

def serve(server, name: str) -> tuple[str, list[str]]:
    seen: list[str] = []

    def route(request: Request, writer: Writer) -> None:
        seen.append(request.path)
        writer.start()
        writer.send_pieces(transcript(name), 5)
        writer.end()

    server.route("/" + name, route)
    return f"{server.url}/{name}", seen


def test_text_path_streams_the_answer_through_the_plugin(plugin, server) -> None:
    url, _ = serve(server, "dashscope_text.sse")
    frames = plugin.collect(plugin.invoke("sse_request", {"url": url, "text_path": "output.text",
                                                          "usage_path": "usage", "cumulative_text": True}))
    assert error_of(frames) is None
    answer = "杭州是浙江省的省会，以西湖闻名。Hangzhou is famous for West Lake."
    assert "".join(texts(frames)) == answer
    summary = summary_of(frames)
    assert summary["success"] is True and summary["answer"] == answer and summary["format"] == "text_path"
    assert summary["usage"] == {"prompt_tokens": 20, "completion_tokens": 18, "total_tokens": 38}


def test_text_path_with_event_filter_through_the_plugin(plugin, server) -> None:
    url, _ = serve(server, "openai_responses.sse")
    frames = plugin.collect(plugin.invoke("sse_request", {"url": url, "text_path": "delta || text",
                                                          "event_filter": "response.output_text.delta"}))
    assert error_of(frames) is None
    assert "".join(texts(frames)) == aggregate("openai_responses.sse", "openai").outcome.answer
    assert summary_of(frames)["format"] == "text_path"


def test_a_bad_text_path_fails_before_any_connection(plugin, server) -> None:
    url, seen = serve(server, "dashscope_text.sse")
    frames = plugin.collect(plugin.invoke("sse_request", {"url": url, "text_path": "output.text["}))
    error = error_of(frames)
    assert error is not None and "Invalid parameter 'text_path'" in error["message"]
    assert seen == [] and texts(frames) == []


@pytest.mark.parametrize(("text_path", "events", "expected"), [
    ("content", [{"content": "Hi"}], "Hi"),
    ("data.answer", [{"data": {"answer": "Hi"}}], "Hi"),
    ("data.delta", [{"code": 0, "data": {"delta": "Hi"}}], "Hi"),
    ("type == 'answer' && content", [{"type": "answer", "content": "Hi"}, {"type": "follow_up", "content": "?"}],
     "Hi"),
    ("result", [{"result": "Hi", "is_end": False}, {"result": "!", "is_end": True}], "Hi!"),
    ("delta.message.content.text", [{"type": "content-delta", "delta": {"message": {"content": {"text": "Hi"}}}}],
     "Hi"),
    ("!(token.special) && token.text", [{"token": {"text": "Hi", "special": False}},
                                        {"token": {"text": "</s>", "special": True}}], "Hi"),
    ("type == 'text-delta' && delta", [{"type": "start"}, {"type": "text-delta", "delta": "Hi"}], "Hi"),
    ("parts[].text", [{"parts": [{"text": "H"}, {"image": "x"}, {"text": "i"}]}], "Hi"),
])
def test_the_readme_table_examples_read_their_shapes(text_path: str, events: list, expected: str) -> None:
    """working/readme-textpath.md's "my API sends ... → set ..." rows."""
    fmt = JSONPathFormat(text_path)
    assert "".join(feed(fmt, *events)) == expected and fmt.invalid_events == 0


@pytest.mark.parametrize("expression", ["choices[0", "choices[0].delta.", "a..b", "'abc", "$.choices[0].delta.content",
                                        "data['answer']", "a.b | `", "foo(@)", "length()"])
def test_the_tool_gives_the_same_line_as_the_format_for_a_bad_expression(expression: str) -> None:
    """What a user sees comes from the tool's parameter check, which runs first: it must be the
    line the README shows (with its column), not a clipped one of JMESPath's own messages."""
    for name in ("text_path", "usage_path"):
        with pytest.raises(InvalidParameter) as expected:
            compile_path(expression, name)
        with pytest.raises(InvalidParameter) as caught:
            build_request_options({"url": "https://example.com/stream", name: expression})
        assert str(caught.value) == str(expected.value)


@pytest.mark.parametrize(("expression", "message"), [
    ("'choices[0].delta.content'", "is a constant, not a path"),
    ("`choices[0].delta.content`", "is a constant, not a path"),
    ('`"output.text"`', "is a constant, not a path"),
    ('"choices[0].delta.content"', "reads one key named 'choices[0].delta.content'"),
    ('"data.answer"', "reads one key named 'data.answer'"),
])
def test_a_quoted_path_is_refused_as_agents_and_copied_docs_write_it(expression: str, message: str) -> None:
    """A path in quotes compiles, yet it never reads the event: in single quotes or backticks it
    is the same text for every event (the answer would be the path itself, repeated), in double
    quotes one key whose name holds the dots and brackets (no text at all, and no error)."""
    for name in ("text_path", "usage_path"):
        with pytest.raises(InvalidParameter) as caught:
            build_request_options({"url": "https://example.com/stream", name: expression})
        text = str(caught.value)
        assert text.startswith(f"Invalid parameter '{name}': ") and message in text and "without the quotes" in text


@pytest.mark.parametrize("expression", ['"content"', '"my-key".text', "type == 'answer' && content", "@",
                                        "`null` || content", '"a b"'])
def test_quotes_inside_a_path_or_around_one_plain_key_are_fine(expression: str) -> None:
    assert compile_path(expression, "text_path").expression == expression
