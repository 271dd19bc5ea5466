"""The ``dify_app`` tool: its request (path, headers, body) for each app type, its parameter
declarations, and streamed calls end to end through the plugin runtime against a local server
that checks what it receives the way Dify's service API does."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from devkit.plugin_runner import error_of, summary_of, texts, tool_outputs
from devkit.sse_server import Request, Writer
from tests.format_support import transcript
from utils.dify_api import build_dify_request
from utils.errors import InvalidParameter

ROOT = Path(__file__).resolve().parent.parent
KEY = "app-Zq8VbN3kT2pLx7Rw9YcD4fGh"
LOCALES = ("en_US", "zh_Hans", "ja_JP", "pt_BR")
PATHS = {"chat": "/v1/chat-messages", "workflow": "/v1/workflows/run", "completion": "/v1/completion-messages"}


def fake_dify(app_type: str, stream: str, blocking: str | None = None, pieces: int = 4):
    """A route that answers like Dify's service API: 401 for a wrong key, 400 for a body the API
    refuses, else the transcript as an event stream (or the blocking JSON answer)."""

    def route(request: Request, writer: Writer) -> None:
        def refuse(status: int, code: str, message: str) -> None:
            writer.body(status, json.dumps({"code": code, "message": message, "status": status}))

        if request.headers.get("authorization") != f"Bearer {KEY}":
            return refuse(401, "unauthorized", "Access token is invalid")
        if request.method != "POST" or request.headers.get("content-type") != "application/json":
            return refuse(400, "invalid_param", "expected a JSON POST")
        body = json.loads(request.body)
        if not isinstance(body.get("inputs"), dict) or not body.get("user"):
            return refuse(400, "invalid_param", "inputs and user are required")
        if app_type == "chat" and not body.get("query"):
            return refuse(400, "invalid_param", "query is required")
        if body.get("response_mode") == "blocking":
            assert blocking is not None
            return writer.body(200, transcript(blocking), "application/json")
        if body.get("response_mode") != "streaming" or "text/event-stream" not in request.headers.get("accept", ""):
            return refuse(400, "invalid_param", "response_mode")
        writer.start()
        writer.send_pieces(transcript(stream), pieces)
        writer.end()

    return route


def base_params(server, app_type: str = "chat", **extra: Any) -> dict[str, Any]:
    return {"base_url": server.url + "/v1", "api_key": KEY, "app_type": app_type, **extra}


def variables(frames) -> dict[str, Any]:
    return tool_outputs(frames)  # as Dify's tool node merges stream and final variables


# -- the request ---------------------------------------------------------------------------
@pytest.mark.parametrize("app_type", ["chat", "workflow", "completion"])
def test_request_path_headers_and_body_per_app_type(app_type: str) -> None:
    request = build_dify_request({"base_url": "http://api:5001/v1/", "api_key": KEY, "app_type": app_type,
                                  "query": "Hello", "inputs": '{"topic": "SSE"}', "user": "u-42",
                                  "conversation_id": "c-1"})
    options = request.options
    assert options.url == "http://api:5001" + PATHS[app_type]
    assert options.method == "POST" and options.stream_format == "dify"
    headers = dict(options.headers)
    assert headers == {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json",
                       "Accept": "text/event-stream"}
    body = json.loads(options.content)
    if app_type == "chat":
        assert body == {"inputs": {"topic": "SSE"}, "query": "Hello", "response_mode": "streaming", "user": "u-42",
                        "conversation_id": "c-1"}
    else:  # no query field and no conversation: the query travels as the input named query
        assert body == {"inputs": {"topic": "SSE", "query": "Hello"}, "response_mode": "streaming", "user": "u-42"}
    assert options.limits.max_retries == 0  # a call to an app is never re-sent


def test_workflow_query_does_not_replace_an_input_named_query() -> None:
    body = build_dify_request({"base_url": "http://api:5001/v1", "api_key": KEY, "app_type": "workflow",
                               "query": "q", "inputs": {"query": "kept"}}).body
    assert body["inputs"] == {"query": "kept"}


def test_blocking_asks_for_json_and_waits_up_to_max_duration() -> None:
    request = build_dify_request({"base_url": "http://api:5001/v1", "api_key": KEY, "query": "q",
                                  "response_mode": "blocking", "max_duration": 200, "read_timeout": 30})
    assert dict(request.options.headers)["Accept"] == "application/json"
    assert request.body["response_mode"] == "blocking"
    assert request.options.limits.read_timeout == 200  # no pings in blocking mode: the whole wait is silence


def test_user_defaults_to_the_invoking_dify_user() -> None:
    assert build_dify_request({"base_url": "http://a/v1", "api_key": KEY, "query": "q"},
                              default_user="acc-7").body["user"] == "acc-7"
    assert build_dify_request({"base_url": "http://a/v1", "api_key": KEY, "query": "q"}).body["user"]


def test_files_from_urls_and_from_json() -> None:
    body = build_dify_request({"base_url": "http://a/v1", "api_key": KEY, "query": "q",
                               "files": "https://x.test/a.PNG, https://x.test/b.pdf?dl=1"}).body
    assert body["files"] == [
        {"type": "image", "transfer_method": "remote_url", "url": "https://x.test/a.PNG"},
        {"type": "document", "transfer_method": "remote_url", "url": "https://x.test/b.pdf?dl=1"},
    ]
    one = {"type": "image", "transfer_method": "local_file", "upload_file_id": "f-1"}
    body = build_dify_request({"base_url": "http://a/v1", "api_key": KEY, "query": "q", "files": json.dumps(one)}).body
    assert body["files"] == [one]


def test_default_headers_apply_and_the_api_key_is_masked() -> None:
    request = build_dify_request({"base_url": "http://a/v1", "api_key": KEY, "query": "q"},
                                 [("X-Gateway-Key", "gw-secret-1"), ("Authorization", "Bearer other")])
    headers = dict(request.options.headers)
    assert headers["X-Gateway-Key"] == "gw-secret-1" and headers["Authorization"] == f"Bearer {KEY}"
    assert request.options.redactor(f"echo {KEY} gw-secret-1") == "echo *** ***"


@pytest.mark.parametrize(("params", "name", "problem"), [
    ({"api_key": KEY, "query": "q"}, "base_url", "a URL is required"),
    ({"base_url": "ftp://a/v1", "api_key": KEY, "query": "q"}, "base_url", "only http"),
    ({"base_url": "http://a/v1", "query": "q"}, "api_key", "API key is required"),
    ({"base_url": "http://a/v1", "api_key": "app-x\nX: y", "query": "q"}, "api_key", "line break"),
    ({"base_url": "http://a/v1", "api_key": KEY}, "query", "needs a query"),
    ({"base_url": "http://a/v1", "api_key": KEY, "query": "q", "app_type": "agent-ish"}, "app_type", "not one of"),
    ({"base_url": "http://a/v1", "api_key": KEY, "query": "q", "inputs": "[1]"}, "inputs", "JSON object"),
    ({"base_url": "http://a/v1", "api_key": KEY, "query": "q", "inputs": "{bad"}, "inputs", "does not parse"),
    ({"base_url": "http://a/v1", "api_key": KEY, "query": "q", "files": '[{"url": "x"}]'}, "files", "transfer_method"),
    ({"base_url": "http://a/v1", "api_key": KEY, "query": "q", "response_mode": "async"}, "response_mode", "not one"),
])
def test_invalid_parameters_name_the_parameter(params: dict[str, Any], name: str, problem: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        build_dify_request(params)
    assert caught.value.name == name and problem in str(caught.value)
    assert KEY not in str(caught.value)


# -- the declarations ----------------------------------------------------------------------
def test_every_parameter_is_declared_in_four_languages() -> None:
    tool = yaml.safe_load((ROOT / "tools/dify_app.yaml").read_text(encoding="utf-8"))
    assert tool["identity"]["name"] == "dify_app"
    assert set(tool["identity"]["label"]) == set(LOCALES) and set(tool["description"]["human"]) == set(LOCALES)
    for param in tool["parameters"]:
        assert set(param["label"]) == set(LOCALES), param["name"]
        assert set(param["human_description"]) == set(LOCALES), param["name"]
        if param["form"] == "llm":  # Dify gives only these to the LLM; a form parameter's would be dead text
            assert param.get("llm_description"), param["name"]
        for option in param.get("options", []):
            assert set(option["label"]) == set(LOCALES), (param["name"], option["value"])
    by_name = {p["name"]: p for p in tool["parameters"]}
    assert by_name["api_key"]["type"] == "secret-input" and by_name["api_key"]["form"] == "form"
    assert {"base_url", "api_key", "app_type", "query", "inputs", "conversation_id", "user", "files",
            "response_mode"} <= set(by_name)
    assert {"answer", "usage", "result"} <= set(tool["output_schema"]["properties"])
    provider = yaml.safe_load((ROOT / "provider/sse_request.yaml").read_text(encoding="utf-8"))
    assert "tools/dify_app.yaml" in provider["tools"]


def test_the_tool_module_holds_exactly_one_tool_subclass() -> None:
    tree = ast.parse((ROOT / "tools/dify_app.py").read_text(encoding="utf-8"))
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    assert [c.name for c in classes] == ["DifyAppTool"]
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert "SseRequestTool" not in imported


# -- end to end through the plugin runtime -------------------------------------------------
def test_chat_app_streams_its_answer_as_text(plugin, server) -> None:
    server.route("/v1/chat-messages", fake_dify("chat", "dify_chat.sse"))
    frames = plugin.collect(plugin.invoke("dify_app", base_params(server, query="Specs of the iPhone 13 Pro Max?",
                                                                  conversation_id="c216d7a4")))
    assert error_of(frames) is None
    assert "".join(texts(frames)) == "Hi there! The iPhone 13 Pro Max has a 6.7-inch display."
    request = server.requests[-1]
    assert request.path == "/v1/chat-messages" and request.headers["authorization"] == f"Bearer {KEY}"
    body = json.loads(request.body)
    assert body["query"] == "Specs of the iPhone 13 Pro Max?" and body["conversation_id"] == "c216d7a4"
    assert body["user"] == "test-user"  # the Dify user who runs the tool
    summary = summary_of(frames)
    assert summary["format"] == "dify" and summary["success"] is True
    assert summary["result"]["conversation_id"] == "c216d7a4-5a1e-4a2a-b4a4-1d2d8a6c5e10"
    assert summary["usage"]["total_tokens"] == 1168
    values = variables(frames)
    assert values["answer"] == summary["answer"] and values["result"]["success"] is True
    assert all(KEY.encode() not in f.raw for f in plugin.frames)


def test_workflow_app_streams_text_chunks_and_returns_outputs(plugin, server) -> None:
    server.route("/v1/workflows/run", fake_dify("workflow", "dify_workflow.sse"))
    frames = plugin.collect(plugin.invoke("dify_app", base_params(server, "workflow", inputs='{"topic": "SSE"}')))
    assert "".join(texts(frames)) == "为了回答这个问题，我们先总结要点。"
    assert json.loads(server.requests[-1].body)["inputs"] == {"topic": "SSE"}
    result = summary_of(frames)["result"]
    assert result["data"]["outputs"] == {"text": "为了回答这个问题，我们先总结要点。"}
    assert result["data"]["metadata"]["total_tokens"] == 300 and len(result["nodes"]) == 6


def test_a_failed_workflow_fails_the_node_after_streaming_what_arrived(plugin, server) -> None:
    server.route("/v1/workflows/run", fake_dify("workflow", "dify_workflow_failed.sse"))
    frames = plugin.collect(plugin.invoke("dify_app", base_params(server, "workflow", inputs="{}")))
    assert "".join(texts(frames)) == "Partial "
    error = error_of(frames)
    assert error is not None and "the workflow failed" in error["message"] and "429" in error["message"]
    assert "\n" not in error["message"]


def test_fail_on_stream_error_off_reports_success_false(plugin, server) -> None:
    server.route("/v1/chat-messages", fake_dify("chat", "dify_chat_error.sse"))
    frames = plugin.collect(plugin.invoke("dify_app", base_params(server, query="q", fail_on_stream_error=False)))
    assert error_of(frames) is None
    summary = summary_of(frames)
    assert summary["success"] is False and summary["status"] == "error"
    assert summary["result"]["success"] is False
    assert "completion_request_error" in summary["error"]


def test_a_wrong_key_is_one_clear_line_without_the_key(plugin, server) -> None:
    server.route("/v1/chat-messages", fake_dify("chat", "dify_chat.sse"))
    params = {**base_params(server, query="q"), "api_key": "app-wrongwrongwrong"}
    frames = plugin.collect(plugin.invoke("dify_app", params))
    error = error_of(frames)
    assert error is not None and error["message"].startswith("HTTP 401")
    assert "Access token is invalid" in error["message"]
    assert all(b"app-wrongwrongwrong" not in f.raw for f in plugin.frames)
