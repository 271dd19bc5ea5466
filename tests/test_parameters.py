"""The parameter table, the tool YAML written from it, and the coercion of every kind of value.

- The YAML agrees with the table (one source of defaults and bounds), and the code enforces what
  the table says, for every number, select and boolean of every tool.
- Forgiving where Dify hands over odd values: the Python repr Dify makes of an object an LLM
  produced for a string parameter is read as JSON would be; text that is neither is refused.
- Every parser of user text is bounded and raises nothing but ``InvalidParameter`` (hypothesis).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from devkit import tool_yaml
from devkit.plugin_runner import error_of
from utils.dify_api import build_dify_request
from utils.errors import InvalidParameter
from utils.parameters import (
    MAX_LITERAL_CHARS,
    TOOLS,
    ToolParams,
    check_jmespath,
    check_url,
    parse_body,
    parse_headers,
    parse_list,
    parse_query,
    parse_structured,
)
from utils.provider_settings import parse_settings
from utils.request_options import Limits, build_request_options

ROOT = Path(__file__).resolve().parent.parent
URL = "https://example.com/stream"
DIFY = {"base_url": "http://api:5001/v1", "api_key": "app-key-0123456789", "query": "hi"}
DEEP = {"{": '{"a":' * 5000 + "1" + "}" * 5000, "[": "[" * 5000 + "]" * 5000, "open": "[" * 100_000}
SECRET = "s3cr3t-token-value"


def build(tool: str, params: dict):
    if tool == "sse_request":
        return build_request_options({"url": URL, **params})
    return build_dify_request({**DIFY, **params}).options


# The table and the YAML

def test_the_tool_yaml_is_what_the_table_makes_of_it() -> None:
    assert tool_yaml.differences() == []


@pytest.mark.parametrize("edit", ["default: 30\n", "max: 570\n", "- value: dashscope\n"])
def test_a_yaml_edited_by_hand_disagrees_with_the_table(tmp_path: Path, edit: str) -> None:
    shutil.copytree(ROOT / "tools", tmp_path / "tools")
    path = tmp_path / "tools" / "sse_request.yaml"
    text = path.read_text(encoding="utf-8")
    assert edit in text
    path.write_text(text.replace(edit, edit.replace("30", "31").replace("570", "571").replace("dashscope", "qwen"), 1),
                    encoding="utf-8")
    (problem,) = tool_yaml.differences(tmp_path)
    assert problem.startswith("tools/sse_request.yaml")


def test_a_parameter_in_the_yaml_but_not_in_the_table_is_named(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "tools", tmp_path / "tools")
    path = tmp_path / "tools" / "dify_app.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["parameters"].append({**doc["parameters"][0], "name": "surprise"})
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    assert tool_yaml.differences(tmp_path) == [
        "tools/dify_app.yaml: parameter(s) surprise are not in utils/parameters.py's table"]


def test_limits_default_to_the_table() -> None:
    table, limits = TOOLS["sse_request"], Limits()
    assert limits.connect_timeout == table["timeout"].default
    assert limits.read_timeout == table["read_timeout"].default
    assert limits.max_duration == table["max_duration"].default
    assert limits.max_events == table["max_events"].default
    assert limits.max_retries == table["max_retries"].default
    assert limits.retry_interval_ms == table["retry_interval"].default
    assert limits.max_event_bytes == table["max_event_kb"].default * 1024
    assert limits.max_stream_bytes == table["max_stream_mb"].default * 1024 * 1024
    assert build_request_options({"url": URL}).limits == limits


NUMBERS = [(tool, name) for tool, table in TOOLS.items() for name, spec in table.items() if spec.type == "number"]
SELECTS = [(tool, name) for tool, table in TOOLS.items() for name, spec in table.items() if spec.type == "select"]
BOOLEANS = [(tool, name) for tool, table in TOOLS.items() for name, spec in table.items() if spec.type == "boolean"]


@pytest.mark.parametrize("tool,name", NUMBERS)
def test_every_number_accepts_its_bounds_and_nothing_beyond(tool: str, name: str) -> None:
    spec = TOOLS[tool][name]
    p = ToolParams(tool, {})
    assert p.number(name) == spec.default
    for value in (spec.min, spec.max, str(spec.max)):
        assert ToolParams(tool, {name: value}).number(name) == float(value)
        build(tool, {name: value})  # the whole tool takes it too
    for value in (spec.min - 0.5, spec.max + 0.5, "nan", 10**400, "1e999", True):
        with pytest.raises(InvalidParameter, match=f"^Invalid parameter '{name}'"):
            build(tool, {name: value})


@pytest.mark.parametrize("tool,name", SELECTS)
def test_every_select_accepts_each_option_and_nothing_else(tool: str, name: str) -> None:
    spec = TOOLS[tool][name]
    assert ToolParams(tool, {}).choice(name) == spec.default
    for option in spec.options:
        assert ToolParams(tool, {name: f" {option.swapcase()} "}).choice(name) == option
    with pytest.raises(InvalidParameter, match=f"^Invalid parameter '{name}': 'xml' is not one of"):
        ToolParams(tool, {name: "xml"}).choice(name)


@pytest.mark.parametrize("tool,name", BOOLEANS)
def test_every_boolean_reads_dify_values_and_refuses_others(tool: str, name: str) -> None:
    p = ToolParams
    assert p(tool, {}).boolean(name) is TOOLS[tool][name].default
    for value, expected in ((True, True), ("false", False), (0, False), ("ON", True), ("", TOOLS[tool][name].default)):
        assert p(tool, {name: value}).boolean(name) is expected
    with pytest.raises(InvalidParameter, match=f"^Invalid parameter '{name}': expected true or false"):
        p(tool, {name: "maybe"}).boolean(name)


# The new parameters (contract C5)

def test_the_new_sse_request_parameters_reach_the_options() -> None:
    opts = build_request_options({"url": URL, "text_path": " output.text ", "usage_path": "usage",
                                  "cumulative_text": "true", "stream_reasoning": True, "stream_format": "DashScope"})
    assert (opts.text_path, opts.usage_path, opts.cumulative_text, opts.stream_reasoning) == (
        "output.text", "usage", True, True)
    assert opts.stream_format == "dashscope"
    plain = build_request_options({"url": URL})
    assert (plain.text_path, plain.usage_path, plain.cumulative_text, plain.stream_reasoning) == ("", "", False, False)


@pytest.mark.parametrize("name", ["text_path", "usage_path"])
@pytest.mark.parametrize("path", ["choices[0", "a..b", "`not json", "foo[?bar==]", "x" * 2000,
                                  "(" * 500 + "a" + ")" * 500, "!" * 1000 + "a"])  # the last two: RecursionError
def test_a_bad_jmespath_is_one_line_naming_the_parameter(name: str, path: str) -> None:
    with pytest.raises(InvalidParameter) as err:
        build_request_options({"url": URL, name: path})
    assert str(err.value).startswith(f"Invalid parameter '{name}'") and "\n" not in str(err.value)


def test_dify_app_reads_max_event_kb_like_sse_request() -> None:
    assert TOOLS["dify_app"]["max_event_kb"] == TOOLS["sse_request"]["max_event_kb"]
    assert build_dify_request({**DIFY, "max_event_kb": 8}).options.limits.max_event_bytes == 8 * 1024
    assert build_dify_request(DIFY).options.limits.max_event_bytes == 1024 * 1024


def test_both_tools_declare_reasoning_in_their_output_schema() -> None:
    for tool in TOOLS:
        doc = yaml.safe_load((ROOT / "tools" / f"{tool}.yaml").read_text(encoding="utf-8"))
        assert doc["output_schema"]["properties"]["reasoning"]["type"] == "string"


# Forgiving input: the Python literal Dify makes of an LLM's object

AGENT_BODY = "{'model': 'x', 'stream': True, 'stop': None, 'messages': [{'role': 'user', 'content': 'Hi'}], 't': 0.5}"


def test_a_python_literal_body_is_sent_as_json() -> None:
    opts = build_request_options({"url": URL, "method": "POST", "body": AGENT_BODY})
    assert json.loads(opts.content) == {"model": "x", "stream": True, "stop": None,
                                        "messages": [{"role": "user", "content": "Hi"}], "t": 0.5}
    assert dict(opts.headers)["Content-Type"] == "application/json"


def test_a_json_body_is_sent_as_typed() -> None:
    body = '{"b": 1,   "a": [true, null]}'
    assert build_request_options({"url": URL, "method": "POST", "body": body}).content == body.encode()


def test_python_literal_headers_query_inputs_files_and_lists() -> None:
    opts = build_request_options({"url": URL, "headers": "{'X-Trace': 1, 'X-On': True}",
                                  "query_params": "{'alt': 'sse', 'tag': ['a', 'b']}",
                                  "stop_on": "['message_end', 'workflow_finished']"})
    assert dict(opts.headers)["X-Trace"] == "1" and dict(opts.headers)["X-On"] == "true"
    assert opts.params == (("alt", "sse"), ("tag", "a"), ("tag", "b"))
    assert opts.stop_on == ("message_end", "workflow_finished")
    request = build_dify_request({**DIFY, "inputs": "{'topic': 'SSE', 'n': 2}",
                                  "files": "[{'type': 'image', 'transfer_method': 'remote_url', 'url': 'https://x/a.png'}]"})
    assert request.body["inputs"] == {"topic": "SSE", "n": 2}
    assert request.body["files"][0]["url"] == "https://x/a.png"


@pytest.mark.parametrize("tool,name,text,word", [
    ("sse_request", "body", "{'a': true}", "JSON does not parse"),  # JSON's true in a Python dict
    ("sse_request", "body", "{'a': {1, 2}}", "set"),
    ("sse_request", "body", "{'a': b'x'}", "bytes"),
    ("sse_request", "body", "{'a': 1e999}", "float"),
    ("sse_request", "body", "{'a': 1j}", "complex"),
    ("sse_request", "body", "{1: 'a'}", "not a string"),
    ("sse_request", "body", "{'a': __import__('os')}", "JSON does not parse"),
    ("sse_request", "headers", "{'X-A': print}", "JSON does not parse"),
    ("sse_request", "query_params", "{'a': 'x'", "JSON does not parse"),
    ("sse_request", "body", "{[1]: 'a'}", "JSON does not parse"),  # TypeError inside literal_eval
    ("sse_request", "body", "[" + "-" * 100_000 + "1]", "JSON does not parse"),  # MemoryError in the parser
    ("sse_request", "body", "[" + "+" * 5000 + "1]", "JSON does not parse"),  # RecursionError building the tree
    ("dify_app", "inputs", "{topic: 'SSE'}", "JSON does not parse"),
    ("dify_app", "inputs", "['a']", "JSON object"),
    ("dify_app", "files", "[{'type': 'image'}]", "transfer_method"),
])
def test_text_that_is_neither_json_nor_a_python_literal_is_refused(tool, name, text, word) -> None:
    params = {name: text, "method": "POST"} if tool == "sse_request" else {name: text}
    with pytest.raises(InvalidParameter) as err:
        build(tool, params)
    assert str(err.value).startswith(f"Invalid parameter '{name}'") and word in str(err.value)


def test_a_token_with_auth_type_none_names_both_parameters() -> None:
    with pytest.raises(InvalidParameter) as err:
        build_request_options({"url": URL, "auth_token": SECRET})
    message = str(err.value)
    assert message.startswith("Invalid parameter 'auth_type'") and "auth_token" in message
    assert SECRET not in message
    assert not any(key == "Authorization" for key, _ in build_request_options({"url": URL, "auth_token": "  "}).headers)


# Exception-safe parsers: deep nesting, bad IDNA hosts, random text

@pytest.mark.parametrize("shape", DEEP)
@pytest.mark.parametrize("tool,name", [("sse_request", "body"), ("sse_request", "headers"),
                                       ("sse_request", "query_params"), ("dify_app", "inputs"),
                                       ("dify_app", "files")])
def test_deep_nesting_is_one_line_naming_the_parameter(tool: str, name: str, shape: str) -> None:
    params = {name: DEEP[shape], "method": "POST"} if tool == "sse_request" else {name: DEEP[shape]}
    with pytest.raises(InvalidParameter) as err:
        build(tool, params)
    assert str(err.value).startswith(f"Invalid parameter '{name}'") and "\n" not in str(err.value)


@pytest.mark.parametrize("name", ["stop_on", "event_filter"])
def test_deep_nesting_in_a_list_is_read_as_one_plain_item(name: str) -> None:
    assert getattr(build_request_options({"url": URL, name: DEEP["["]}), name) == (DEEP["["],)


BAD_HOSTS = ["xn--a-.com", "xn--.com", "xn--a-.xn--b-", "\u0080.com", "a\u200db.com", "\u2603-.com"]


@pytest.mark.parametrize("host", BAD_HOSTS)
def test_a_host_idna_refuses_is_one_line_naming_the_parameter(host: str) -> None:
    checks = [
        ("url", lambda u: build_request_options({"url": u})),
        ("base_url", lambda u: build_dify_request({**DIFY, "base_url": u})),
        ("files", lambda u: build_dify_request({**DIFY, "files": u + "a.png"})),
        ("test_url", lambda u: parse_settings({"test_url": u})),
    ]
    for name, check in checks:
        with pytest.raises(InvalidParameter) as err:
            check(f"https://{host}/")
        assert str(err.value).startswith(f"Invalid parameter '{name}'"), (name, str(err.value))


def _only_invalid_parameter(parse, text: str) -> None:
    try:
        parse(text)
    except InvalidParameter as exc:
        assert "\n" not in str(exc)


def _containers(inner: st.SearchStrategy) -> st.SearchStrategy:
    return st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)


JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8), _containers,
                       max_leaves=12)
USER_TEXT = st.one_of(
    st.text(max_size=80),
    st.text(alphabet="{}[]()'\":,=&?\n\r\\ -.aA1eE_", max_size=80),
    JSONISH.map(repr),
    JSONISH.map(lambda v: json.dumps(v)),
)
# What else Dify or a caller could hand over: any JSON scalar, and numbers past every limit.
ODD_VALUES = st.none() | st.booleans() | st.integers() | st.floats() | st.sampled_from([10**5000, -(10**400)])
PARSERS = {
    "headers": lambda t: parse_headers(t, "headers"),
    "query": lambda t: parse_query(t, "query_params"),
    "body": lambda t: parse_body(t, "body"),
    "list": lambda t: parse_list(t, "stop_on"),
    "structured": lambda t: parse_structured(t, "inputs"),
    "url": lambda t: check_url(t, "url"),
    "url_with_host": lambda t: check_url(f"https://{t}/", "url"),
    "jmespath": lambda t: check_jmespath(t, "text_path"),
}


@pytest.mark.parametrize("parser", PARSERS)
@settings(max_examples=300, deadline=None)
@given(text=USER_TEXT)
def test_random_text_never_raises_anything_but_invalid_parameter(parser: str, text: str) -> None:
    _only_invalid_parameter(PARSERS[parser], text)


@settings(max_examples=200, deadline=None)
@given(value=JSONISH)
def test_a_python_literal_reads_as_its_json(value) -> None:
    try:
        expected = json.loads(json.dumps(value, allow_nan=False))
    except ValueError:
        return  # NaN or infinity: JSON cannot hold it, the literal is refused (below)
    if isinstance(expected, (dict, list)):
        assert parse_structured(repr(value), "body") == expected


@settings(max_examples=200, deadline=None)
@given(params=st.dictionaries(st.sampled_from(sorted(TOOLS["sse_request"])),
                              ODD_VALUES | USER_TEXT | JSONISH,
                              max_size=8))
def test_any_sse_request_parameters_give_options_or_one_clear_line(params) -> None:
    _only_invalid_parameter(lambda _: build_request_options({"url": URL, **params}), "")


@settings(max_examples=200, deadline=None)
@given(params=st.dictionaries(st.sampled_from(sorted(TOOLS["dify_app"])),
                              ODD_VALUES | USER_TEXT | JSONISH,
                              max_size=8))
def test_any_dify_app_parameters_give_a_request_or_one_clear_line(params) -> None:
    _only_invalid_parameter(lambda _: build_dify_request({**DIFY, **params}), "")


# Through the plugin, as Dify's agent hands these values over

def test_an_agents_python_reprs_reach_the_server_as_json_through_the_plugin(plugin, server) -> None:
    server.route("/s", None, "data: ok\n\n")
    frames = plugin.collect(plugin.invoke("sse_request", {
        "url": server.url + "/s", "method": "POST", "body": AGENT_BODY, "headers": "{'X-Trace': 7}",
        "query_params": "{'alt': 'sse'}"}), timeout=30)
    assert error_of(frames) is None and frames[-1].kind == "end"
    request = server.requests[-1]
    assert json.loads(request.body) == {"model": "x", "stream": True, "stop": None,
                                        "messages": [{"role": "user", "content": "Hi"}], "t": 0.5}
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-trace"] == "7" and request.query["alt"] == "sse"


def test_dify_app_inputs_as_a_python_repr_reach_the_app_as_json_through_the_plugin(plugin, server) -> None:
    server.route("/v1/workflows/run", None, 'data: {"event": "workflow_finished", "workflow_run_id": "r", '
                                            '"data": {"status": "succeeded", "outputs": {"answer": "ok"}}}\n\n')
    plugin.collect(plugin.invoke("dify_app", {"base_url": server.url + "/v1", "api_key": "app-key-0123456789",
                                              "app_type": "workflow", "inputs": "{'topic': 'SSE', 'n': 2}"}),
                   timeout=30)
    request = server.requests[-1]
    assert request.path == "/v1/workflows/run"
    assert json.loads(request.body)["inputs"] == {"topic": "SSE", "n": 2}


def test_a_python_literal_is_read_up_to_its_bound_and_longer_text_must_be_json() -> None:
    def literal(size: int) -> str:
        items, n = [], 0
        while sum(map(len, items)) < size:
            items.append(f"'k{n}': True, ")
            n += 1
        return "{" + "".join(items) + "}"

    assert len(parse_structured(literal(MAX_LITERAL_CHARS - 100), "body")) > 1000
    with pytest.raises(InvalidParameter) as err:
        parse_structured(literal(MAX_LITERAL_CHARS + 100), "body")
    assert "longer text must be JSON" in str(err.value)
    big_json = json.dumps({f"k{n}": True for n in range(20_000)})
    assert len(big_json) > MAX_LITERAL_CHARS and len(parse_structured(big_json, "body")) == 20_000
