"""The importable example apps in ``examples/``: each is a Dify DSL export whose tool nodes match
this plugin's declarations, and each runs in Dify's engine against a local server, so an example
that would not run in Dify fails here."""

from __future__ import annotations

import json
import re
import threading
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devkit.dify_engine import load_dsl, run_graph
from tests.engine.support import EXAMPLES, OPENAI_KEY, PROVIDER_ID, ROOT, ChatCompletions, gated_run
from tests.test_dify_app import KEY, fake_dify

CHATFLOW = EXAMPLES / "openai-compatible-chatflow.yml"
WORKFLOW = EXAMPLES / "call-dify-workflow.yml"
SELECTOR = re.compile(r"\{\{#([a-zA-Z0-9_]{1,50}(?:\.[a-zA-Z_][a-zA-Z0-9_]{0,29}){1,10})#\}\}")  # Dify's pattern


def declared(tool: str) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in yaml.safe_load((ROOT / "tools" / f"{tool}.yaml").read_text("utf-8"))["parameters"]}


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yml")), ids=lambda p: p.name)
def test_example_is_a_dify_dsl_export_that_matches_the_plugin(path):
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert document["kind"] == "app" and document["version"] == "0.5.0"
    assert document["app"]["mode"] in ("advanced-chat", "workflow") and document["app"]["name"]
    graph = document["workflow"]["graph"]
    ids = {node["id"] for node in graph["nodes"]}
    assert all(node["type"] == "custom" and node["data"]["type"] for node in graph["nodes"])
    assert all(edge["source"] in ids and edge["target"] in ids for edge in graph["edges"])
    environment = {v["name"] for v in document["workflow"]["environment_variables"]}
    secrets = [v for v in document["workflow"]["environment_variables"] if v["value_type"] == "secret"]
    assert all(v["value"] == "" for v in secrets)  # no key in a file meant to be shared
    for node in graph["nodes"]:
        for reference in SELECTOR.findall(yaml.safe_dump(node["data"])):
            scope, name = reference.split(".")[:2]
            assert scope in ids or scope == "sys" or (scope == "env" and name in environment), reference
        data = node["data"]
        if data["type"] != "tool":
            continue
        assert data["provider_id"] == data["provider_name"] == PROVIDER_ID and data["tool_node_version"] == "2"
        parameters = declared(data["tool_name"])
        for name, value in data["tool_parameters"].items():
            assert parameters[name]["form"] == "llm" and value["type"] in ("mixed", "constant", "variable"), name
        for name, value in data["tool_configurations"].items():
            assert parameters[name]["form"] == "form", name
            options = [o["value"] for o in parameters[name].get("options", [])]
            assert value["type"] != "constant" or not options or value["value"] in options, name
        required = {n for n, p in parameters.items() if p.get("required")}
        assert required <= set(data["tool_parameters"]) | set(data["tool_configurations"])


# -- the chatflow: an OpenAI-compatible endpoint into an Answer node ------------------------
def chatflow_run(runtime, server, route: ChatCompletions, query: str, key: str = OPENAI_KEY, gated: bool = False):
    app = load_dsl(CHATFLOW)
    assert app.mode == "advanced-chat"
    server.route("/v1/chat/completions", route)
    environment = {**app.environment, "OPENAI_BASE_URL": server.url + "/v1", "OPENAI_API_KEY": key}
    if gated:
        return gated_run(app.graph, runtime, route, ["chat_stream", "text"], query=query, environment=environment)
    return True, run_graph(app.graph, runtime, query=query, environment=environment)


def test_chatflow_example_streams_the_answer_live(runtime, server):
    words = ["Quotes \"and\" lines", "\nare", " fine."]
    route = ChatCompletions(words, gate=threading.Event())
    query = 'Say "hi"\non two lines \\ please'
    live, run = chatflow_run(runtime, server, route, query, gated=True)
    assert live and run.succeeded
    assert run.streamed == "".join(words) == run.outputs("answer")["answer"]
    body = route.bodies[0]  # the user's message reached the model intact
    assert body["messages"] == [{"role": "user", "content": query}] and body["model"] == "gpt-4o-mini"


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=st.text(min_size=1, max_size=200))
def test_chatflow_example_sends_any_message_intact(runtime, server, query):
    """Whatever the user types (quotes, backslashes, line breaks, braces, any script), the
    Template node's tojson and the tool's JSON body carry it to the model unchanged."""
    route = ChatCompletions(["ok"])
    _, run = chatflow_run(runtime, server, route, query)
    assert run.succeeded and route.bodies[0]["messages"] == [{"role": "user", "content": query}]


def test_chatflow_example_ends_with_its_default_text_when_the_service_fails(runtime, server):
    _, refused = chatflow_run(runtime, server, ChatCompletions(["never"]), "Hi", key="sk-wrong-key-0000000")
    default = load_dsl(CHATFLOW).node("chat_stream")["default_value"][0]["value"]
    assert refused.failed is None and refused.streamed == default
    assert "HTTP 401" in refused.outputs("chat_stream")["error_message"]
    _, cut = chatflow_run(runtime, server, ChatCompletions(["Half an", " answer"], fail="drop"), "Hi")
    assert cut.failed is None and cut.streamed == "Half an" + default


# -- the workflow: another Dify workflow through dify_app, outputs passed on --------------------
def test_workflow_example_calls_the_workflow_and_passes_its_outputs_on(runtime, server):
    app = load_dsl(WORKFLOW)
    assert app.mode == "workflow"
    server.route("/v1/workflows/run", fake_dify("workflow", "dify_workflow.sse"))
    topic = 'SSE "streams"\nand proxies'
    run = run_graph(app.graph, runtime, inputs={"topic": topic},
                    environment={**app.environment, "DIFY_API_BASE": server.url + "/v1", "DIFY_WORKFLOW_KEY": KEY})
    assert run.succeeded
    request = server.requests[-1]
    assert request.headers["authorization"] == f"Bearer {KEY}"
    body = json.loads(request.body)
    assert body["inputs"] == {"topic": topic} and body["response_mode"] == "streaming"
    text = "为了回答这个问题，我们先总结要点。"
    # an End node streams each of its outputs in order, one line each: the live text first, then
    # the outputs object as JSON (Dify's workflow text_chunk events carry the same)
    assert "".join(e.chunk for _, e in run.chunks(["call_workflow", "text"])) == text
    assert run.streamed.startswith(text + "\n" + json.dumps({"text": text}, ensure_ascii=False, indent=2))
    assert run.graph_outputs["text"] == text
    assert run.graph_outputs["outputs"] == {"text": text}
    assert run.graph_outputs["success"] is True
    # (graphon's Start node lists env.* among its outputs; Dify masks secret variables there itself)
    assert KEY not in repr([e for _, e in run.events if getattr(e, "node_id", None) != "start"])


def test_workflow_example_fails_the_run_when_the_called_workflow_fails(runtime, server):
    app = load_dsl(WORKFLOW)
    server.route("/v1/workflows/run", fake_dify("workflow", "dify_workflow_failed.sse"))
    run = run_graph(app.graph, runtime, inputs={"topic": "t"},
                    environment={**app.environment, "DIFY_API_BASE": server.url + "/v1", "DIFY_WORKFLOW_KEY": KEY})
    assert run.failed is not None and run.streamed == "Partial "
    assert "the workflow failed" in run.node_error("call_workflow")
