"""Issue 11 faults 1-7 (format side) and issue 17 reasoning, at the format level: each fault's
minimal input from the issue, and the other members of its kind."""

from __future__ import annotations

import json

import pytest
from httpx_sse import ServerSentEvent

from tests.format_support import feed_all
from utils.formats import AutoFormat, is_keepalive, make_format
from utils.formats.dify import BLOCKING_EVENT
from utils.sse_decoder import OversizedEvent, SSEDecoder


def oa(content, **choice) -> str:
    """``data:`` of an OpenAI chunk whose choices[0].delta.content is ``content``."""
    return json.dumps({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": content},
                                                                       **choice}]})


def reasoning_chunk(**delta) -> str:
    return json.dumps({"choices": [{"index": 0, "delta": {"content": None, **delta}}]})


def events(raw: str) -> list[ServerSentEvent]:
    return SSEDecoder().feed(raw.encode())


ANTHROPIC = ('event: message_start\ndata: {"type": "message_start", "message": {"id": "m", "model": "c", '
             '"usage": {"input_tokens": 3}}}\n\nevent: content_block_delta\ndata: {"type": "content_block_delta", '
             '"index": 0, "delta": {"type": "text_delta", "text": "Hi"}}\n\nevent: message_stop\n'
             'data: {"type": "message_stop"}\n\n')
OPENAI = f"data: {oa('Hel')}\n\ndata: {oa('lo', finish_reason='stop')}\n\ndata: [DONE]\n\n"


# -- fault 1: keep-alives -------------------------------------------------------------------------
@pytest.mark.parametrize(("event", "data"), [
    ("ping", "2023-04-07 23:36:05.744043"),  # older sse-starlette
    ("ping", ""), ("ping", '{"type": "ping"}'),  # Anthropic
    ("heartbeat", "anything"), ("keep-alive", "1"), ("keepalive", ""),
    ("message", ""),  # `data:` with an empty value (WHATWG dispatches it)
    ("message", ":"), ("message", ": ping - 2025-01-01 00:00:00.000000+00:00"), ("message", ":keep-alive"),
    ("message", ": OPENROUTER PROCESSING"),  # comments a proxy re-wrapped as data
    ("message", '{"type": "ping"}'), ("message", '{"event": "ping"}'), ("message", '{"type": "ping", "ts": 1}'),
    ("message", '{"type":"heartbeat"}'),
])
def test_keepalives(event: str, data: str) -> None:
    assert is_keepalive(ServerSentEvent(event, data))


@pytest.mark.parametrize(("event", "data"), [
    ("message", " "), ("message", "\n"), ("message", "ping"), ("message", "keep-alive"),  # raw data, a real token
    ("done", ""), ("end", ""),  # a named event with empty data is a signal (stop_on, event_filter)
    ("message", ":)"), ("message", ": the answer"),
    ("message", '{"type": "ping", "data": "x"}'),  # carries something besides the ping
    ("message", '{"type": "message_stop"}'), ("message", '{"choices": []}'), ("message", "[DONE]"),
    ("message", '{"type": "ping"' + " " * 100 + "}"),  # long data is never looked into
])
def test_not_keepalives(event: str, data: str) -> None:
    assert not is_keepalive(ServerSentEvent(event, data))


@pytest.mark.parametrize("ping", ["event: ping\ndata: 2023-04-07 23:36:05.744043\n\n", "event: ping\ndata: \n\n",
                                  "data:\n\n", "data: : keep-alive\n\n", 'data: {"type": "ping"}\n\n'])
@pytest.mark.parametrize(("stream", "name", "answer"), [(ANTHROPIC, "anthropic", "Hi"), (OPENAI, "openai", "Hello")])
def test_a_keepalive_first_never_decides_the_format(ping: str, stream: str, name: str, answer: str) -> None:
    run = feed_all(events(ping * 2 + stream + ping))
    assert run.format.name == name
    assert run.streamed == answer == run.outcome.answer
    assert run.outcome.invalid_events == 0 and run.outcome.complete


def test_auto_fed_keepalives_directly_waits_for_an_identifying_event() -> None:
    fmt = AutoFormat()
    assert fmt.feed(ServerSentEvent("ping", "2023-04-07 23:36:05.744043")) == ("ping", "")
    assert fmt.name == "raw" and fmt.invalid_events == 0
    assert fmt.feed(ServerSentEvent(data=oa("Hi"))) == ("message", "Hi")
    assert fmt.name == "openai"


def test_auto_decides_on_the_first_identifying_event_showing_what_came_before_as_raw() -> None:
    """A gateway's opening event identifies nothing: it is shown as raw, and the OpenAI chunks after
    it are read as OpenAI (not shown as JSON)."""
    run = feed_all(events('data:\n\nevent: open\ndata: {"status":"connected"}\n\ndata: hello\n\n' + OPENAI))
    assert run.format.name == "openai"
    assert run.texts[:2] == ['{"status":"connected"}\n', "hello\n"]
    assert "choices" not in run.streamed and run.outcome.answer == run.streamed.split("hello\n", 1)[1]


def test_auto_settles_on_raw_after_enough_events_that_identify_nothing() -> None:
    from utils.formats import AutoFormat

    lines = "".join(f"data: line {n}\n\n" for n in range(AutoFormat.MAX_UNIDENTIFIED))
    run = feed_all(events(lines + OPENAI))
    assert run.format.name == "raw" and '"choices"' in run.streamed


def test_done_before_any_event_is_kept_when_the_format_is_decided() -> None:
    fmt = make_format("auto")
    fmt.done()
    assert fmt.complete


def test_raw_shows_no_keepalive() -> None:
    run = feed_all(events("event: ping\ndata:\n\ndata: one\n\ndata:\n\nevent: ping\ndata: 2023-04-07\n\n"
                          "data: two\n\n"), "raw")
    assert run.streamed == "one\ntwo\n" and run.types == ["message", "message"]


# -- fault 2: list content (Mistral) ----------------------------------------------------------------
def test_mistral_list_content_text_is_the_answer_thinking_is_reasoning() -> None:
    thinking = [{"type": "thinking", "thinking": [{"type": "text", "text": "Let me think."}]}]
    run = feed_all([ServerSentEvent(data=oa(thinking)), ServerSentEvent(data=oa([{"type": "text", "text": "Hello!"}])),
                    ServerSentEvent(data=oa([{"type": "image_url", "image_url": "x"}, {"type": "text", "text": " Bye"}],
                                            finish_reason="stop"))])
    assert run.format.name == "openai"
    assert run.texts == ["Hello!", " Bye"] and run.outcome.answer == "Hello! Bye"
    assert run.outcome.reasoning == "Let me think."
    assert run.outcome.invalid_events == 0 and run.outcome.complete


# -- fault 3: tool calls without index ----------------------------------------------------------------
def tool_chunk(*calls, finish=None) -> ServerSentEvent:
    return ServerSentEvent(data=json.dumps({"choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls":
                                                         list(calls)}, "finish_reason": finish}]}))


def test_tool_calls_without_index_a_new_id_starts_a_new_call() -> None:
    fmt = make_format("openai")
    fmt.feed(tool_chunk({"id": "call-1", "type": "function",
                         "function": {"name": "get_weather", "arguments": '{"location":"Sydney"}'}}))
    fmt.feed(tool_chunk({"id": "call-2", "type": "function",
                         "function": {"name": "get_weather", "arguments": '{"location":"Paris"}'}}, finish="tool_calls"))
    calls = fmt.finish().result["tool_calls"]
    assert [(c["id"], c["arguments"]) for c in calls] == [("call-1", '{"location":"Sydney"}'),
                                                          ("call-2", '{"location":"Paris"}')]


def test_tool_call_delta_without_id_nor_index_continues_the_last_call_and_a_known_id_its_own() -> None:
    fmt = make_format("openai")
    fmt.feed(tool_chunk({"id": "a", "function": {"name": "f", "arguments": '{"x":'}}))
    fmt.feed(tool_chunk({"function": {"arguments": " 1}"}}))
    fmt.feed(tool_chunk({"id": "b", "function": {"name": "g", "arguments": "{}"}}))
    fmt.feed(tool_chunk({"id": "a", "function": {"arguments": ""}}))  # a known id: its own call, no new one
    calls = fmt.finish().result["tool_calls"]
    assert [(c["id"], c["name"], c["arguments"]) for c in calls] == [("a", "f", '{"x": 1}'), ("b", "g", "{}")]


def test_a_new_id_under_an_index_already_used_is_a_new_call() -> None:
    fmt = make_format("openai")  # gateways that number every call 0 (new-api #2701, lens #49)
    fmt.feed(tool_chunk({"index": 0, "id": "a", "function": {"name": "glob", "arguments": ""}}))
    fmt.feed(tool_chunk({"index": 0, "function": {"arguments": '{"p": 1}'}}))
    fmt.feed(tool_chunk({"index": 0, "id": "b", "function": {"name": "glob", "arguments": '{"p": 2}'}}))
    calls = fmt.finish().result["tool_calls"]
    assert [(c["id"], c["arguments"]) for c in calls] == [("a", '{"p": 1}'), ("b", '{"p": 2}')]


def test_tool_calls_with_index_still_assemble_by_index_and_object_arguments_become_json_text() -> None:
    fmt = make_format("openai")
    fmt.feed(tool_chunk({"index": 0, "id": "a", "function": {"name": "f", "arguments": ""}},
                        {"index": 1, "id": "b", "function": {"name": "g", "arguments": {"q": 1}}}))
    fmt.feed(tool_chunk({"index": 0, "function": {"arguments": "{}"}}))
    calls = fmt.finish().result["tool_calls"]
    assert [(c["id"], c["arguments"]) for c in calls] == [("a", "{}"), ("b", '{"q": 1}')]


# -- fault 4: usage on content chunks ----------------------------------------------------------------------
def test_usage_on_every_content_chunk_the_last_non_null_wins() -> None:
    chunks = []
    for n, text in enumerate(["a", "b", "c"], 1):
        chunk = json.loads(oa(text))
        chunk["usage"] = {"prompt_tokens": 5, "completion_tokens": n, "total_tokens": 5 + n}
        chunks.append(ServerSentEvent(data=json.dumps(chunk)))
    chunks.append(ServerSentEvent(data=oa("", finish_reason="stop")[:-1] + ', "usage": null}'))
    run = feed_all(chunks)
    assert run.streamed == "abc"
    assert run.outcome.usage.as_dict() == {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}


# -- fault 5: n > 1 ---------------------------------------------------------------------------------------
def test_n_greater_than_one_the_answer_is_choice_0_and_the_others_are_in_result() -> None:
    def chunk(index, text, finish=None):
        return ServerSentEvent(data=json.dumps({"choices": [{"index": index, "delta": {"content": text},
                                                             "finish_reason": finish}]}))
    fmt = make_format("openai")
    texts = [fmt.feed(e)[1] for e in (chunk(0, "Hel"), chunk(1, "Bon"), chunk(0, "lo"), chunk(1, "jour"))]
    assert "".join(texts) == "Hello"
    fmt.feed(chunk(0, "", "stop"))
    assert not fmt.complete  # choice 1 is still open
    fmt.feed(chunk(1, "", "length"))
    assert fmt.complete
    outcome = fmt.finish()
    assert outcome.answer == "Hello" and outcome.result["finish_reason"] == "stop"
    assert outcome.result["choices"] == [{"index": 1, "content": "Bonjour", "finish_reason": "length"}]


def test_gemini_candidate_count_the_answer_is_candidate_0_and_the_others_are_in_result() -> None:
    def response(*candidates):
        return ServerSentEvent(data=json.dumps({"candidates": [
            {"content": {"parts": [{"text": text}]}, "index": index, **({"finishReason": f} if f else {})}
            for index, text, f in candidates]}))
    fmt = make_format("gemini")
    texts = [fmt.feed(e)[1] for e in (response((0, "Hel", None), (1, "Bon", None)), response((1, "jour", "STOP")),
                                      response((0, "lo", "STOP")))]
    assert "".join(texts) == "Hello" and fmt.complete
    result = fmt.finish().result
    assert result["finish_reason"] == "STOP"
    assert result["candidates"] == [{"index": 1, "content": "Bonjour", "finish_reason": "STOP"}]


def test_many_choices_are_kept_bounded() -> None:
    fmt = make_format("openai")
    fmt.feed(ServerSentEvent(data=json.dumps({"choices": [{"index": i, "delta": {"content": "x"}}
                                                          for i in range(50)]})))
    result = fmt.finish().result
    assert len(result["choices"]) == 8 and result["choices_dropped"] == 41


# -- fault 6: needs(oversized event) ----------------------------------------------------------------------------
def oversized(data: str, event: str = "message") -> OversizedEvent:
    return OversizedEvent(event, data[: OversizedEvent.HEAD_CHARS], None, 2_000_000)


NODE_FINISHED = '{"event": "node_finished", "workflow_run_id": "w", "task_id": "t", "data": {"outputs": "' + "x" * 5000


@pytest.mark.parametrize(("name", "data", "event", "needed"), [
    ("dify", NODE_FINISHED, "message", False),
    ("dify", '{"event": "iteration_next", "data": {"' + "x" * 2000, "message", False),
    ("dify", '{"event": "loop_completed", "data": {"' + "x" * 2000, "message", False),
    ("dify", '{"event": "agent_log", "data": {"' + "x" * 2000, "message", False),
    ("dify", '{"event": "agent_thought", "data": {"' + "x" * 2000, "message", False),
    ("dify", '{"event": "workflow_started", "data": {"' + "x" * 2000, "message", False),
    ("dify", '{"event": "tts_message", "audio": "' + "x" * 2000, "message", False),
    ("dify", '{"event": "message", "answer": "' + "x" * 2000, "message", True),
    ("dify", '{"event": "text_chunk", "data": {"text": "' + "x" * 2000, "message", True),
    ("dify", '{"event": "workflow_finished", "data": {"outputs": {"' + "x" * 2000, "message", True),
    ("dify", '{"event": "message_end", "metadata": {"' + "x" * 2000, "message", True),
    ("dify", '{"event": "something_new", "' + "x" * 2000, "message", True),
    ("dify", '{"workflow_run_id": "w", "data": {"outputs": {"' + "x" * 2000, BLOCKING_EVENT, True),
    ("dify", "x" * 2000, "message", True),
    ("openai", oa("x" * 2000), "message", True),
    ("openai", '{"type": "response.output_text.delta", "delta": "' + "x" * 2000, "message", True),
    # Responses: response.completed repeats what the deltas brought (issue 11 fault 6; see the test below)
    ("openai", '{"type": "response.completed", "response": {"' + "x" * 2000, "message", False),
    ("openai", '{"type": "response.image_generation_call.partial_image", "partial_image_b64": "' + "x" * 2000,
     "message", False),
    ("openai", '{"type": "response.output_item.done", "output_index": 0, "item": {"id": "ig_1", "type": '
               '"image_generation_call", "status": "completed", "result": "' + "x" * 2000, "message", False),
    ("openai", '{"type": "response.output_item.done", "output_index": 1, "item": {"type": "function_call", '
               '"id": "fc_1", "call_id": "c", "name": "f", "arguments": "' + "x" * 2000, "message", True),
    ("openai", '{"type": "response.output_item.done", "item": {"content": [{"' + "x" * 2000, "message", True),
    ("openai", '{"type": "response.output_text.done", "text": "' + "x" * 2000, "message", False),
    ("openai", '{"type": "response.content_part.done", "part": {"' + "x" * 2000, "message", False),
    ("anthropic", '{"type": "content_block_delta", "delta": {"text": "' + "x" * 2000, "message", True),
    ("anthropic", '{"type": "ping", "x": "' + "x" * 2000, "ping", False),
    ("gemini", '{"candidates": [{"content": {"parts": [{"text": "' + "x" * 2000, "message", True),
    ("raw", "x" * 2000, "message", True),
    ("auto", NODE_FINISHED, "message", False),  # before the format is known: judged as Dify would
    ("auto", oa("x" * 2000), "message", True),
])
def test_needs_an_oversized_event_only_when_it_could_carry_the_answer_or_the_end(name, data, event, needed) -> None:
    assert make_format(name).needs(oversized(data, event)) is needed


def test_an_oversized_response_completed_ends_a_responses_stream_whose_answer_came_in_deltas() -> None:
    """``response.completed`` repeats the whole output (a long answer, a generated image in base64):
    past ``max_event_kb`` it is skipped, and the stream is still complete (its usage is lost)."""
    fmt = make_format("openai")
    fmt.feed(ServerSentEvent(data='{"type": "response.output_text.delta", "delta": "Hi"}'))
    assert fmt.needs(oversized('{"type": "response.completed", "response": {"' + "x" * 2000)) is False
    outcome = fmt.finish()
    assert outcome.complete and outcome.answer == "Hi" and outcome.result["status"] == "completed"


# -- fault 7: complete ------------------------------------------------------------------------------------------
def test_chat_completions_complete_at_finish_reason_and_the_usage_chunk_may_follow() -> None:
    fmt = make_format("openai")
    fmt.feed(ServerSentEvent(data=oa("Hi")))
    assert not fmt.complete
    fmt.feed(ServerSentEvent(data=oa("", finish_reason="stop")))
    assert fmt.complete
    fmt.feed(ServerSentEvent(data='{"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}'))
    outcome = fmt.finish()
    assert outcome.complete and outcome.usage.total_tokens == 2


@pytest.mark.parametrize(("name", "data", "complete", "error"), [
    ("openai", '{"type": "response.output_text.delta", "delta": "x"}', False, None),
    ("openai", '{"type": "response.completed", "response": {"status": "completed"}}', True, None),
    ("openai", '{"type": "response.incomplete", "response": {"status": "incomplete"}}', True, None),
    ("openai", '{"type": "response.failed", "response": {"error": {"message": "m", "code": "c"}}}', True, "m (c)"),
    ("openai", '{"type": "error", "message": "m", "code": "c"}', True, "m (c)"),
    ("openai", '{"error": {"message": "m", "code": 502}}', True, "m (502)"),
    ("anthropic", '{"type": "message_delta", "delta": {"stop_reason": "end_turn"}}', False, None),
    ("anthropic", '{"type": "message_stop"}', True, None),
    ("anthropic", '{"type": "error", "error": {"type": "overloaded_error", "message": "O"}}', True,
     "O (overloaded_error)"),
    ("gemini", '{"candidates": [{"content": {"parts": [{"text": "a"}]}}]}', False, None),
    ("gemini", '{"candidates": [{"content": {"parts": [{"text": "a"}]}, "finishReason": "STOP"}]}', True, None),
    ("gemini", '{"error": {"code": 503, "message": "m", "status": "UNAVAILABLE"}}', True, "m (UNAVAILABLE)"),
    ("dify", '{"event": "message", "answer": "a"}', False, None),
    ("dify", '{"event": "message_end", "metadata": {}}', True, None),
    ("dify", '{"event": "workflow_finished", "data": {"status": "succeeded"}}', True, None),
    ("dify", '{"event": "workflow_finished", "data": {"status": "failed", "error": "boom"}}', True,
     "the workflow failed: boom"),
    ("dify", '{"event": "workflow_paused", "data": {}}', False, None),
    ("dify", '{"event": "error", "code": "c", "message": "m", "status": 400}', True, "m (c, HTTP 400)"),
    ("raw", '{"type": "message_stop"}', False, None),
])
def test_complete_is_the_formats_end_marker(name: str, data: str, complete: bool, error: str | None) -> None:
    fmt = make_format(name)
    fmt.feed(ServerSentEvent(data=data))
    assert fmt.complete is complete
    outcome = fmt.finish()
    assert outcome.complete is complete and outcome.error == error


def test_a_failed_workflow_is_complete_but_not_a_success() -> None:
    fmt = make_format("dify")
    fmt.feed(ServerSentEvent(data='{"event": "workflow_finished", "data": {"status": "failed", "error": "boom"}}'))
    outcome = fmt.finish()
    assert outcome.complete and outcome.result["success"] is False and outcome.result["data"]["status"] == "failed"


def test_done_completes_every_format() -> None:
    for name in ("raw", "openai", "auto", "dify"):
        fmt = make_format(name)
        fmt.done()
        assert fmt.complete and fmt.finish().complete


# -- reasoning (issue 17) ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "stream", "answer", "reasoning"), [
    ("openai", [reasoning_chunk(reasoning_content="Think"), oa("Hi")], "Hi", "Think"),  # DeepSeek
    ("openai", [reasoning_chunk(reasoning="Think"), oa("Hi")], "Hi", "Think"),  # vLLM, OpenRouter
    ("openai", [reasoning_chunk(reasoning="Same", reasoning_content="Same"), oa("Hi")], "Hi", "Same"),
    ("openai", ['{"type": "response.reasoning_summary_text.delta", "delta": "Think"}',
                '{"type": "response.output_text.delta", "delta": "Hi"}'], "Hi", "Think"),
    ("anthropic", ['{"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}',
                   '{"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Think"}}',
                   '{"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Hi"}}'],
     "Hi", "Think"),
    ("gemini", ['{"candidates": [{"content": {"parts": [{"text": "Think", "thought": true}]}}]}',
                '{"candidates": [{"content": {"parts": [{"text": "Hi"}]}}]}'], "Hi", "Think"),
])
def test_reasoning_is_its_own_output_never_the_answer_nor_the_live_text(name, stream, answer, reasoning) -> None:
    fmt = make_format(name)
    live, popped = [], []
    for data in stream:
        live.append(fmt.feed(ServerSentEvent(data=data))[1])
        popped.append(fmt.pop_reasoning())
    assert "".join(live) == answer and "".join(popped) == reasoning
    assert popped[-1] == "" and fmt.pop_reasoning() == ""  # the answer event brings no reasoning
    outcome = fmt.finish()
    assert outcome.answer == answer and outcome.reasoning == reasoning


def test_reasoning_not_popped_is_bounded_and_the_kept_whole_too() -> None:
    from utils.formats.base import MAX_REASONING_CHARS
    fmt = make_format("openai")
    piece = "r" * 100_000
    for _ in range(8):
        fmt.feed(ServerSentEvent(data=reasoning_chunk(reasoning_content=piece)))
    assert len(fmt.pop_reasoning()) <= MAX_REASONING_CHARS
    assert len(fmt.finish().reasoning) == MAX_REASONING_CHARS
