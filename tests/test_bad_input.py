"""Bad input gets one clear line naming the parameter: never a traceback, a hang, or a secret.
Checked in-process for every case, and end to end through the plugin runtime for a sample."""

from __future__ import annotations

import pytest

from devkit.plugin_runner import error_of
from utils.dify_api import build_dify_request
from utils.errors import InvalidParameter
from utils.request_options import build_request_options, output_mode

SECRET = "s3cr3t-token-value"
OK = {"url": "https://example.com/stream"}
POST = {**OK, "method": "POST"}
DEEP = '{"a":' * 5000 + "1" + "}" * 5000
DIFY = {"base_url": "http://api:5001/v1", "api_key": SECRET, "query": "hi"}

# (parameters, the parameter the message must name, a word the message must contain)
CASES = [
    ({"url": ""}, "url", "required"),
    ({"url": "   "}, "url", "required"),
    ({"url": "ftp://example.com/x"}, "url", "http"),
    ({"url": "file:///etc/passwd"}, "url", "http"),
    ({"url": "javascript:alert(1)"}, "url", "http"),
    ({"url": "example.com/stream"}, "url", "http"),
    ({"url": "http://"}, "url", "host"),
    ({"url": "http://exa mple.com/"}, "url", "white space"),
    ({"url": "http://example.com/\r\nX-Evil: 1"}, "url", "white space"),
    ({"url": "http://example.com:99999/"}, "url", "port"),
    ({"url": "http://[::1/"}, "url", "malformed"),
    ({**OK, "method": "TRACE"}, "method", "GET"),
    ({**OK, "method": "get; rm -rf"}, "method", "GET"),
    ({**OK, "headers": "X-A: 1\r\nX-B: 2\nBad Header: x"}, "headers", "header name"),
    ({**OK, "headers": "no colon here"}, "headers", "Key: Value"),
    ({**OK, "headers": '{"X-A": "line\\r\\nbreak"}'}, "headers", "line break"),
    ({**OK, "headers": '{"X-A": "nul\\u0000"}'}, "headers", "NUL"),
    ({**OK, "headers": '{"X-A": true,}'}, "headers", "line 1 column"),  # neither JSON nor Python
    ({**OK, "headers": '["a", "b"]'}, "headers", "JSON object"),
    ({**OK, "headers": '{"X-A": {"nested": 1}}'}, "headers", "string or number"),
    ({**OK, "headers": '{"Bad:Name": "v"}'}, "headers", "header name"),
    ({**OK, "query_params": '{"a": [1, {"b": 2}]}'}, "query_params", "string or number"),
    ({**OK, "query_params": '{"a": '}, "query_params", "JSON"),
    ({**OK, "query_params": "=1&=2"}, "query_params", "a=1&b=2"),
    ({**OK, "method": "POST", "body": '{"model": "x", "stream": true,}'}, "body", "line 1 column"),
    ({**OK, "method": "POST", "body": '[1, 2'}, "body", "JSON"),
    ({**OK, "body": '{"a": 1}'}, "body", "GET"),
    ({**OK, "timeout": "soon"}, "timeout", "number"),
    ({**OK, "timeout": 0}, "timeout", "1 to 300"),
    ({**OK, "timeout": -5}, "timeout", "1 to 300"),
    ({**OK, "read_timeout": 100000}, "read_timeout", "1 to 570"),
    ({**OK, "max_duration": 601}, "max_duration", "1 to 570"),
    ({**OK, "max_duration": "nan"}, "max_duration", "number"),
    ({**OK, "max_duration": True}, "max_duration", "boolean"),
    ({**OK, "max_events": 1.5}, "max_events", "whole number"),
    ({**OK, "max_events": -1}, "max_events", "0 to"),
    ({**OK, "max_retries": 99}, "max_retries", "0 to 20"),
    ({**OK, "retry_interval": "fast"}, "retry_interval", "number"),
    ({**OK, "max_event_kb": 0}, "max_event_kb", "1 to 4096"),
    ({**OK, "max_stream_mb": 1e12}, "max_stream_mb", "0 to 4096"),
    ({**OK, "auth_type": "oauth"}, "auth_type", "none, bearer, basic, api_key"),
    ({**OK, "auth_type": "bearer"}, "auth_token", "needs a token"),
    ({**OK, "auth_type": "api_key", "auth_token": "   "}, "auth_token", "needs a token"),
    ({**OK, "auth_type": "bearer", "auth_token": SECRET + "\r\nX-Evil: 1"}, "auth_token", "line break"),
    ({**OK, "auth_type": "api_key", "auth_token": SECRET, "auth_header": "Bad Header"}, "auth_header", "header name"),
    ({**OK, "ssl_verify": "maybe"}, "ssl_verify", "true or false"),
    ({**OK, "stream_format": "xml"}, "stream_format", "auto"),
    ({**OK, "fail_on_stream_error": "perhaps"}, "fail_on_stream_error", "true or false"),
    ({**OK, "auth_token": SECRET}, "auth_type", "auth_token"),  # a token that 'none' would drop
    ({**OK, "auth_type": "none", "auth_token": SECRET}, "auth_type", "auth_token"),
    ({**POST, "body": DEEP}, "body", "nested"),
    ({**POST, "body": "[" * 100_000}, "body", "nested"),
    ({**OK, "headers": DEEP}, "headers", "nested"),
    ({**OK, "query_params": DEEP}, "query_params", "nested"),
    ({**POST, "body": "{'model': 'x', 'stream': true}"}, "body", "JSON does not parse"),  # neither JSON nor Python
    ({**POST, "body": "{'a': {1, 2}}"}, "body", "set"),
    ({**OK, "headers": "{'X-A': [1, {'b': 2}]}"}, "headers", "string or number"),
    ({"url": "https://xn--a-.com/stream"}, "url", "malformed"),
    ({"url": "https://a\u200db.example/"}, "url", "malformed"),
    ({**OK, "max_event_kb": 10**400}, "max_event_kb", "number"),
    ({**OK, "stream_format": "qwen"}, "stream_format", "dashscope"),
    ({**OK, "text_path": "choices[0"}, "text_path", "JMESPath"),
    ({**OK, "text_path": "(" * 500 + "a" + ")" * 500}, "text_path", "JMESPath"),
    ({**OK, "usage_path": "usage.."}, "usage_path", "JMESPath"),
    ({**OK, "cumulative_text": "sometimes"}, "cumulative_text", "true or false"),
    ({**OK, "stream_reasoning": "loud"}, "stream_reasoning", "true or false"),
]

# The same promise for the dify_app tool.
DIFY_CASES = [
    ({**DIFY, "base_url": ""}, "base_url", "required"),
    ({**DIFY, "base_url": "https://xn--a-.com/v1"}, "base_url", "malformed"),
    ({**DIFY, "api_key": ""}, "api_key", "required"),
    ({**DIFY, "api_key": SECRET + "\nX-Evil: 1"}, "api_key", "line break"),
    ({**DIFY, "app_type": "agent"}, "app_type", "chat, workflow, completion"),
    ({**DIFY, "query": ""}, "query", "chat app needs a query"),
    ({**DIFY, "inputs": "{topic: 'SSE'}"}, "inputs", "JSON does not parse"),
    ({**DIFY, "inputs": "['a', 'b']"}, "inputs", "JSON object"),
    ({**DIFY, "inputs": DEEP}, "inputs", "nested"),
    ({**DIFY, "files": DEEP.replace("{", "[")}, "files", "JSON"),
    ({**DIFY, "files": "[" * 5000 + "]" * 5000}, "files", "nested"),
    ({**DIFY, "files": "https://xn--a-.com/a.png"}, "files", "malformed"),
    ({**DIFY, "files": "[{'type': 'image'}]"}, "files", "transfer_method"),
    ({**DIFY, "response_mode": "async"}, "response_mode", "streaming, blocking"),
    ({**DIFY, "max_event_kb": 0}, "max_event_kb", "1 to 4096"),
    ({**DIFY, "max_event_kb": 4097}, "max_event_kb", "1 to 4096"),
    ({**DIFY, "max_duration": 571}, "max_duration", "1 to 570"),
    ({**DIFY, "ssl_verify": "nope"}, "ssl_verify", "true or false"),
]


BUILDERS = {"sse_request": build_request_options, "dify_app": build_dify_request}
TABLE = [("sse_request", *case) for case in CASES] + [("dify_app", *case) for case in DIFY_CASES]


@pytest.mark.parametrize("tool,params,name,word", TABLE, ids=[f"{c[0]}-{i:02d}-{c[2]}" for i, c in enumerate(TABLE)])
def test_bad_input_is_one_clear_line(tool, params, name, word):
    with pytest.raises(InvalidParameter) as err:
        BUILDERS[tool](params)
    message = str(err.value)
    assert message.startswith(f"Invalid parameter '{name}'")
    assert word.lower() in message.lower()
    assert "\n" not in message and "Traceback" not in message
    assert SECRET not in message


def test_bad_output_mode():
    with pytest.raises(InvalidParameter, match="output_mode"):
        output_mode({"output_mode": "xml"})


def test_good_input_in_every_accepted_shape():
    opts = build_request_options({
        "url": " https://user:pw@example.com/s?a=0 ", "method": "post", "headers": "X-A: 1\n\nX-B:2",
        "query_params": '{"b": 1, "c": ["x", "y"], "d": true}', "body": "plain text", "timeout": "10",
        "max_events": 5.0, "auth_type": "BASIC", "auth_token": "me:pw", "ssl_verify": "false",
        "stop_on": "message_end\nworkflow_finished", "event_filter": '["message", "node_finished"]',
    })
    assert opts.method == "POST" and opts.limits.connect_timeout == 10 and opts.limits.max_events == 5
    headers = dict(opts.headers)
    assert headers["X-A"] == "1" and headers["X-B"] == "2"
    assert headers["Authorization"] == "Basic bWU6cHc=" and headers["Content-Type"].startswith("text/plain")
    assert opts.params == (("b", "1"), ("c", "x"), ("c", "y"), ("d", "true"))
    assert opts.ssl_verify is False
    assert opts.stop_on == ("message_end", "workflow_finished")
    assert opts.event_filter == ("message", "node_finished")
    assert opts.shown_url == "https://***@example.com/s?a=0"


@pytest.mark.parametrize("params,name", [
    ({"url": "ftp://x"}, "url"),
    ({**OK, "method": "POST", "body": "{bad json", "auth_type": "bearer", "auth_token": SECRET}, "body"),
    ({**OK, "auth_type": "bearer"}, "auth_token"),
    ({**OK, "max_duration": 10_000}, "max_duration"),
    ({**OK, "auth_token": SECRET}, "auth_type"),
    ({**POST, "body": DEEP, "auth_type": "bearer", "auth_token": SECRET}, "body"),
    ({**OK, "query_params": DEEP}, "query_params"),
    ({"url": "https://xn--a-.com/stream"}, "url"),
    ({**OK, "text_path": "(" * 500 + "a" + ")" * 500}, "text_path"),
])
def test_bad_parameter_yields_an_error_frame_through_the_plugin(plugin, params, name):
    assert_one_error_frame(plugin, "sse_request", params, name)


@pytest.mark.parametrize("params,name", [
    ({**DIFY, "base_url": "https://xn--a-.com/v1"}, "base_url"),
    ({**DIFY, "inputs": DEEP}, "inputs"),
    ({**DIFY, "files": "[" * 5000 + "]" * 5000}, "files"),
    ({**DIFY, "max_event_kb": 5000}, "max_event_kb"),
])
def test_bad_dify_app_parameter_yields_an_error_frame_through_the_plugin(plugin, params, name):
    assert_one_error_frame(plugin, "dify_app", params, name)


def assert_one_error_frame(plugin, tool, params, name):
    frames = plugin.collect(plugin.invoke(tool, params), timeout=30)
    assert [f.kind for f in frames] == ["error", "end"]
    error = error_of(frames)
    assert error["error_type"] == "InvalidParameter"
    assert error["message"].startswith(f"Invalid parameter '{name}'") and "\n" not in error["message"]
    assert all(SECRET.encode() not in f.raw for f in frames)
