"""``auto``: the format is chosen from the run's first event."""

from __future__ import annotations

import pytest
from httpx_sse import ServerSentEvent

from tests.format_support import aggregate, blocking_answer
from utils.formats import FORMATS, detect, make_format


@pytest.mark.parametrize(("name", "expected"), [
    ("dify_chat.sse", "dify"), ("dify_agent.sse", "dify"), ("dify_chatflow.sse", "dify"),
    ("dify_workflow.sse", "dify"), ("dify_workflow_failed.sse", "dify"), ("dify_chat_error.sse", "dify"),
    ("dify_completion.sse", "dify"), ("openai_chat.sse", "openai"), ("openai_tools.sse", "openai"),
    ("openai_error.sse", "openai"), ("openai_responses.sse", "openai"), ("anthropic.sse", "anthropic"),
    ("anthropic_error.sse", "anthropic"), ("gemini.sse", "gemini"), ("gemini_error.sse", "gemini"),
    ("all_invalid.sse", "raw"),
])
def test_auto_picks_the_format_of_each_transcript(name: str, expected: str) -> None:
    assert aggregate(name, "auto").format.name == expected


@pytest.mark.parametrize(("event", "data", "expected"), [
    ("message", '{"event": "ping"}', "dify"),
    ("message", '{"event": "error", "status": 400, "code": "invalid_param", "message": "x"}', "dify"),
    ("message", '{"event": "not_a_dify_event"}', "raw"),
    ("message", '{"choices": [], "usage": {"prompt_tokens": 1}}', "openai"),
    ("error", '{"type": "error", "code": "server_error", "message": "x"}', "openai"),
    ("message", '{"error": {"message": "bad key", "type": "invalid_request_error"}}', "openai"),
    ("error", '{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}', "anthropic"),
    ("ping", '{"type": "ping"}', "anthropic"),
    ("message", '{"usageMetadata": {"promptTokenCount": 1}}', "gemini"),
    ("message", '{"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}', "gemini"),
    ("message", '{"hello": "world"}', "raw"),
    ("message", "plain text", "raw"),
    ("message", "[1, 2]", "raw"),
    ("message", "{not json", "raw"),
    ("message", "", "raw"),
])
def test_detect_single_events(event: str, data: str, expected: str) -> None:
    assert detect(ServerSentEvent(event, data)) == expected


def test_a_blocking_workflow_answer_is_recognised_as_dify() -> None:
    import json
    assert detect(ServerSentEvent(data=json.dumps(blocking_answer("dify_workflow_blocking.json")))) == "dify"


def test_every_format_is_registered_and_an_explicit_choice_is_not_second_guessed() -> None:
    assert set(FORMATS) == {"raw", "dify", "openai", "anthropic", "gemini", "dashscope"}
    first = ServerSentEvent(data='{"choices": []}')
    chosen = make_format("anthropic")
    chosen.feed(first)
    assert chosen.name == "anthropic"
    auto = make_format("auto")
    assert auto.name == "raw"  # nothing seen yet
    auto.feed(first)
    assert auto.name == "openai"


def test_raw_format_streams_each_data_as_a_line() -> None:
    run = aggregate("all_invalid.sse", "auto")
    assert run.texts[0] == "<p>line 0 of an HTML error page</p>\n"
    assert run.outcome.invalid_events == 0  # raw expects no JSON


def test_a_text_path_in_the_options_gives_the_json_path_format(monkeypatch) -> None:
    """make_format hands text_path, usage_path, cumulative_text and event_filter to JSONPathFormat
    (utils/formats/json_path.py, imported only when text_path is set)."""
    import sys
    import types
    from dataclasses import dataclass

    made = []

    class JSONPathFormat:
        name = "json_path"

        def __init__(self, text_path, usage_path="", cumulative=False, event_filter=frozenset()):
            made.append((text_path, usage_path, cumulative, event_filter))

    module = types.ModuleType("utils.formats.json_path")
    module.JSONPathFormat = JSONPathFormat
    monkeypatch.setitem(sys.modules, "utils.formats.json_path", module)

    @dataclass
    class Options:
        text_path: str = ""
        usage_path: str = ""
        cumulative_text: bool = False
        event_filter: tuple = ()

    assert make_format("auto", Options()).name == "raw"  # no text_path: the formats as before
    fmt = make_format("openai", Options("output.text", "usage", True, ("result",)))
    assert isinstance(fmt, JSONPathFormat)
    assert made == [("output.text", "usage", True, frozenset({"result"}))]
