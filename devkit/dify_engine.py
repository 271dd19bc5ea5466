"""Runs Dify workflow graphs in Dify's own engine (graphon's ``GraphEngine``) with this plugin as
the tool behind every Tool node, so tests see what a Dify user sees.

The tool runtime does what Dify's API does for a plugin tool node:
- the plugin runs as the daemon runs it (``devkit.plugin_runner.PluginProcess``: ``python -m main``,
  ``INSTALL_METHOD=local``, JSON lines over stdio);
- the node's settings (``tool_configurations``, form ``form``) and its parameters (form ``llm``,
  already resolved by the node) are merged, then cast by each parameter's declared type
  (Dify ``core/workflow/node_runtime.py`` ``_build_tool_runtime_spec``, ``ToolEngine.generic_invoke``,
  ``core/plugin/entities/parameters.py`` ``cast_parameter_value``);
- a file parameter (graphon ``File``, or a list of them) goes to the plugin as Dify sends it,
  ``File.to_plugin_parameter()`` (Dify ``core/plugin/utils/converter.py``
  ``convert_parameters_to_plugin_format``), its URL signed by ``SignedFileURLs`` when a test
  installs it (Dify: ``INTERNAL_FILES_URL/files/<id>/file-preview?timestamp&nonce&sign``);
- each session frame's tool message becomes a graphon ``ToolRuntimeMessage`` (text, link, json and
  variables pass unchanged through Dify's ``ToolFileMessageTransformer``; this plugin sends no files);
- a plugin error ends the message stream with ``ToolRuntimeInvocationError`` carrying Dify's
  wording: ``PluginInvokeError.to_user_friendly_error`` (``core/plugin/impl/exc.py``), mapped in
  ``DifyToolNodeRuntime._map_invocation_exception``.

graphon is pinned (``GRAPHON_VERSION``): its constructors change between minors. ``load_dsl`` turns an
exported Dify DSL file (``app:``, ``kind: app``, ``workflow.graph``) into graphon's graph config, and
``run_graph`` runs one, recording every engine event with the time it arrived.
"""

from __future__ import annotations

import importlib.metadata
import time
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from graphon.entities.graph_init_params import GraphInitParams
from graphon.enums import BuiltinNodeTypes
from graphon.file.enums import FileTransferMethod
from graphon.file.models import File
from graphon.graph.graph import Graph
from graphon.graph_engine import GraphEngine
from graphon.graph_engine.command_channels import InMemoryChannel
from graphon.graph_events.base import GraphEngineEvent
from graphon.graph_events.graph import GraphRunFailedEvent, GraphRunSucceededEvent
from graphon.graph_events.node import (
    NodeRunExceptionEvent,
    NodeRunFailedEvent,
    NodeRunRetryEvent,
    NodeRunStreamChunkEvent,
    NodeRunSucceededEvent,
)
from graphon.model_runtime.entities.llm_entities import LLMUsage
from graphon.nodes.answer.answer_node import AnswerNode
from graphon.nodes.base.node import Node
from graphon.nodes.end.end_node import EndNode
from graphon.nodes.if_else.if_else_node import IfElseNode
from graphon.nodes.start.start_node import StartNode
from graphon.nodes.template_transform.template_transform_node import TemplateTransformNode
from graphon.nodes.tool.exc import ToolRuntimeInvocationError
from graphon.nodes.tool.tool_node import ToolNode
from graphon.nodes.tool_runtime_entities import ToolRuntimeHandle, ToolRuntimeMessage, ToolRuntimeParameter
from graphon.runtime.graph_runtime_state import GraphRuntimeState
from graphon.runtime.variable_pool import VariablePool
from graphon.template_rendering import Jinja2TemplateRenderer

from devkit.plugin_runner import ROOT, PluginProcess

GRAPHON_VERSION = "0.1.2"  # the Makefile installs this one; constructors differ in other minors
PROVIDER = "sse_request"  # identity.name in provider/sse_request.yaml

if importlib.metadata.version("graphon") != GRAPHON_VERSION:
    raise ImportError(f"graphon {importlib.metadata.version('graphon')} is installed; devkit.dify_engine is written "
                      f"for graphon {GRAPHON_VERSION} (make clean && make test rebuilds .venv)")


def plugin_error_text(provider_name: str, error_type: str, message: str) -> str:
    """What a Dify node shows for a plugin's error frame ``{"error_type", "message"}``: Dify's
    ``PluginInvokeError.to_user_friendly_error(plugin_name=provider_name)``."""
    return (f"An error occurred in the {provider_name}, please contact the author of {provider_name} for help, "
            f"error type: {error_type}, error details: {message}")


def cast_parameter(kind: str, value: Any) -> Any:
    """Dify's ``cast_parameter_value`` for the types this plugin declares (string, select,
    secret-input, number, boolean); other types pass unchanged."""
    if kind in ("string", "select", "secret-input"):
        return "" if value is None else value if isinstance(value, str) else str(value)
    if kind == "boolean":
        if value is None:
            return False
        if isinstance(value, str):
            lowered = value.lower()
            if lowered in ("true", "yes", "y", "1"):
                return True
            if lowered in ("false", "no", "n", "0"):
                return False
        return bool(value)
    if kind == "number":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value:
            return float(value) if "." in value else int(value)
    return value


def plugin_parameter(value: Any) -> Any:
    """A value as Dify hands it to a plugin: a ``File`` (or a list of only files) as its
    ``to_plugin_parameter()`` dict; anything else unchanged."""
    if isinstance(value, File):
        return value.to_plugin_parameter()
    if isinstance(value, list) and value and all(isinstance(item, File) for item in value):
        return [item.to_plugin_parameter() for item in value]
    return value


@dataclass(frozen=True)
class SignedFileURLs:
    """graphon's workflow file runtime, as far as a plugin's file parameters need it: the URL
    Dify gives a plugin for a file (``for_external=False``: ``INTERNAL_FILES_URL``), with the
    query of Dify's signed file URLs; ``sign`` stands for Dify's HMAC. Install it with
    ``graphon.file.runtime.set_workflow_file_runtime``."""

    files_url: str
    sign: str
    timestamp: str = "1732950000"
    nonce: str = "5d41402abc4b2a76b9719d911017c592"

    def resolve_upload_file_url(self, *, upload_file_id: str, as_attachment: bool = False,
                                for_external: bool = True) -> str:
        return (f"{self.files_url}/files/{upload_file_id}/file-preview?timestamp={self.timestamp}"
                f"&nonce={self.nonce}&sign={self.sign}")

    def resolve_tool_file_url(self, *, tool_file_id: str, extension: str, for_external: bool = True) -> str:
        return (f"{self.files_url}/files/tools/{tool_file_id}{extension}?timestamp={self.timestamp}"
                f"&nonce={self.nonce}&sign={self.sign}")

    def resolve_file_url(self, *, file: File, for_external: bool = True) -> str | None:
        if file.transfer_method == FileTransferMethod.REMOTE_URL:
            return file.remote_url
        if file.transfer_method == FileTransferMethod.LOCAL_FILE and file.reference:
            return self.resolve_upload_file_url(upload_file_id=file.reference, for_external=for_external)
        if file.transfer_method == FileTransferMethod.TOOL_FILE and file.reference:
            return self.resolve_tool_file_url(tool_file_id=file.reference, extension=file.extension or "",
                                              for_external=for_external)
        return None


@dataclass(frozen=True)
class _Binding:
    """What ``get_runtime`` resolves for one Tool node (the opaque handle's ``raw``)."""

    tool_name: str
    parameter_types: Mapping[str, str]
    required: frozenset[str]
    settings: Mapping[str, Any]


class PluginToolRuntime:
    """graphon's ``ToolNodeRuntimeProtocol`` backed by this plugin running as the daemon runs it.

    ``credentials``: the provider settings (``provider/sse_request.yaml``), sent with every call as
    Dify sends the stored credentials. ``timeout``: seconds a call may take before the runtime gives
    up (a hung plugin fails the test instead of hanging it)."""

    def __init__(self, plugin: PluginProcess, credentials: Mapping[str, Any] | None = None,
                 timeout: float = 60) -> None:
        self.plugin = plugin
        self.credentials = dict(credentials or {})
        self.timeout = timeout
        self.calls: list[dict[str, Any]] = []  # the parameters of each invocation, as the plugin got them

    # -- ToolNodeRuntimeProtocol -------------------------------------------------------------
    def get_runtime(self, *, node_id: str, node_data: Any, variable_pool: VariablePool | None) -> ToolRuntimeHandle:
        declared = _declared_parameters(node_data.tool_name)
        settings: dict[str, Any] = {}
        for name, setting in dict(node_data.tool_configurations).items():
            # tool_node_version 2 stores {type, value}: Dify's ToolManager reads a variable from the
            # pool and renders constant and mixed values as templates (text), then casts by type
            if isinstance(setting, Mapping) and "type" in setting and variable_pool is not None:
                value = setting.get("value")
                if value is None:
                    continue
                if setting["type"] == "variable":
                    segment = variable_pool.get(value)
                    value = segment.value if segment is not None else None
                else:
                    value = variable_pool.convert_template(str(value)).text
                settings[name] = value
            else:
                settings[name] = setting.get("value") if isinstance(setting, Mapping) else setting
        return ToolRuntimeHandle(raw=_Binding(
            tool_name=node_data.tool_name,
            parameter_types={name: p.get("type", "string") for name, p in declared.items()},
            required=frozenset(name for name, p in declared.items() if p.get("required")),
            settings=settings,
        ))

    def get_runtime_parameters(self, *, tool_runtime: ToolRuntimeHandle) -> Sequence[ToolRuntimeParameter]:
        binding: _Binding = tool_runtime.raw  # type: ignore[assignment]
        return [ToolRuntimeParameter(name=name, required=name in binding.required)
                for name in binding.parameter_types]

    def invoke(self, *, tool_runtime: ToolRuntimeHandle, tool_parameters: Mapping[str, Any],
               workflow_call_depth: int, provider_name: str) -> Generator[ToolRuntimeMessage, None, None]:
        binding: _Binding = tool_runtime.raw  # type: ignore[assignment]
        merged = {**binding.settings, **tool_parameters}
        params = {name: plugin_parameter(cast_parameter(binding.parameter_types.get(name, ""), value))
                  for name, value in merged.items() if value is not None}
        self.calls.append(params)
        session = self.plugin.invoke(binding.tool_name, params, self.credentials, provider=PROVIDER)
        try:
            for frame in self.plugin.frames_of(session, self.timeout):
                if frame.kind == "stream":
                    yield ToolRuntimeMessage.model_validate(frame.message)
                elif frame.kind == "error":
                    error = frame.obj["data"]["data"]
                    raise ToolRuntimeInvocationError(
                        plugin_error_text(provider_name, error.get("error_type", "unknown"), error.get("message", "")))
        except TimeoutError as exc:
            raise ToolRuntimeInvocationError(str(exc)) from exc

    def get_usage(self, *, tool_runtime: ToolRuntimeHandle) -> LLMUsage:
        return LLMUsage.empty_usage()  # a plugin tool reports no LLM usage to the node

    def build_file_reference(self, *, mapping: Mapping[str, Any]) -> Any:
        raise NotImplementedError("this plugin sends no files")

    def resolve_provider_icons(self, *, provider_name: str, default_icon: str | None = None
                               ) -> tuple[str | Mapping[str, str] | None, str | Mapping[str, str] | None]:
        return default_icon, None


def _declared_parameters(tool_name: str) -> dict[str, dict[str, Any]]:
    declaration = yaml.safe_load((ROOT / "tools" / f"{tool_name}.yaml").read_text(encoding="utf-8"))
    return {p["name"]: p for p in declaration.get("parameters") or []}


class _NoToolFiles:
    """``ToolFileManagerProtocol``: this plugin sends no files, so no tool file is ever looked up."""

    def create_file_by_raw(self, **_: Any) -> Any:
        raise NotImplementedError("this plugin sends no files")

    def get_file_generator_by_tool_file_id(self, tool_file_id: str) -> Any:
        raise NotImplementedError("this plugin sends no files")


class _Jinja2(Jinja2TemplateRenderer):
    """Template Transform's renderer (Dify renders in its code sandbox; plain Jinja2 here)."""

    def render_template(self, template: str, variables: Mapping[str, Any]) -> str:
        import jinja2.sandbox

        return jinja2.sandbox.SandboxedEnvironment().from_string(template).render(**variables)


@dataclass
class _NodeFactory:
    """graphon's ``NodeFactory`` for the node types these graphs use."""

    init_params: GraphInitParams
    state: GraphRuntimeState
    runtime: PluginToolRuntime

    def create_node(self, node_config: Mapping[str, Any]) -> Node:
        data = node_config["data"]
        kind = data["type"] if isinstance(data, Mapping) else data.type
        common = {"id": node_config["id"], "config": node_config, "graph_init_params": self.init_params,
                  "graph_runtime_state": self.state}
        if kind == BuiltinNodeTypes.TOOL:
            return ToolNode(**common, tool_file_manager_factory=_NoToolFiles(), runtime=self.runtime)
        if kind == BuiltinNodeTypes.TEMPLATE_TRANSFORM:
            return TemplateTransformNode(**common, jinja2_template_renderer=_Jinja2())
        classes = {BuiltinNodeTypes.START: StartNode, BuiltinNodeTypes.ANSWER: AnswerNode,
                   BuiltinNodeTypes.END: EndNode, BuiltinNodeTypes.IF_ELSE: IfElseNode}
        if kind not in classes:
            raise ValueError(f"node type {kind!r} is not supported by this test engine")
        return classes[kind](**common)


@dataclass
class DSLApp:
    """An exported Dify app: ``mode`` (``advanced-chat`` for a chatflow, ``workflow``) and its graph
    config (``nodes``: ``{id, data}``, ``edges``: ``{source, target, sourceHandle}``)."""

    name: str
    mode: str
    graph: dict[str, Any]
    environment: dict[str, Any] = field(default_factory=dict)  # environment variable name → value

    @property
    def start_id(self) -> str:
        return next(n["id"] for n in self.graph["nodes"] if n["data"]["type"] == "start")

    def node(self, node_id: str) -> dict[str, Any]:
        return next(n["data"] for n in self.graph["nodes"] if n["id"] == node_id)


def load_dsl(path: Path) -> DSLApp:
    """Reads a Dify DSL file as Dify's import does (``app``, ``kind: app``, ``version``,
    ``workflow.graph``) and keeps what the engine runs: each node's ``id`` and ``data``, each edge."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    if document.get("kind") != "app" or "version" not in document:
        raise ValueError(f"{path.name}: not a Dify app DSL (kind: app, version: ...)")
    graph = document["workflow"]["graph"]
    nodes = [{"id": n["id"], "data": n["data"]} for n in graph["nodes"] if n.get("type") != "custom-note"]
    edges = [{"id": e.get("id"), "source": e["source"], "target": e["target"],
              "sourceHandle": e.get("sourceHandle", "source")} for e in graph["edges"]]
    environment = {v["name"]: v.get("value") for v in document["workflow"].get("environment_variables") or []}
    return DSLApp(document["app"]["name"], document["app"]["mode"], {"nodes": nodes, "edges": edges}, environment)


@dataclass
class EngineRun:
    """Every event of one graph run with the ``time.monotonic()`` at which the engine yielded it."""

    events: list[tuple[float, GraphEngineEvent]] = field(default_factory=list)

    def of(self, kind: type) -> list[Any]:
        return [e for _, e in self.events if isinstance(e, kind)]

    def chunks(self, selector: Sequence[str] | None = None) -> list[tuple[float, NodeRunStreamChunkEvent]]:
        """The stream chunks the engine sent to the user (non-empty), optionally for one selector."""
        return [(at, e) for at, e in self.events if isinstance(e, NodeRunStreamChunkEvent) and e.chunk
                and (selector is None or list(e.selector) == list(selector))]

    @property
    def streamed(self) -> str:
        """The text the user saw stream, in order."""
        return "".join(e.chunk for _, e in self.chunks())

    def outputs(self, node_id: str) -> dict[str, Any]:
        """The node's outputs from its last succeeded (or handled-exception) run."""
        for _, event in reversed(self.events):
            if isinstance(event, (NodeRunSucceededEvent, NodeRunExceptionEvent)) and event.node_id == node_id:
                return dict(event.node_run_result.outputs)
        raise KeyError(f"node {node_id} did not finish")

    def node_error(self, node_id: str) -> str | None:
        for _, event in reversed(self.events):
            if isinstance(event, (NodeRunFailedEvent, NodeRunExceptionEvent)) and event.node_id == node_id:
                return event.error
        return None

    def retries(self, node_id: str) -> int:
        return sum(1 for e in self.of(NodeRunRetryEvent) if e.node_id == node_id)

    @property
    def succeeded(self) -> bool:
        return bool(self.of(GraphRunSucceededEvent))

    @property
    def failed(self) -> GraphRunFailedEvent | None:
        failed = self.of(GraphRunFailedEvent)
        return failed[0] if failed else None

    @property
    def graph_outputs(self) -> dict[str, Any]:
        done = self.of(GraphRunSucceededEvent)
        return dict(done[0].outputs) if done else {}


def stream_graph(graph_config: Mapping[str, Any], runtime: PluginToolRuntime, *, inputs: Mapping[str, Any] | None = None,
                 query: str | None = None, environment: Mapping[str, Any] | None = None, root: str | None = None
                 ) -> Iterator[tuple[float, GraphEngineEvent]]:
    """Runs the graph and yields ``(monotonic time, event)`` as the engine yields them, so a caller
    can act on an event while the run goes on. ``inputs`` go to the Start node's variables,
    ``query`` to ``sys.query`` (chatflow), ``environment`` to ``env.*``."""
    root = root or next(n["id"] for n in graph_config["nodes"] if n["data"]["type"] == "start")
    pool = VariablePool()
    pool.add(["sys", "user_id"], "engine-test-user")
    pool.add(["sys", "app_id"], "engine-test-app")
    pool.add(["sys", "workflow_id"], "engine-test-workflow")
    if query is not None:
        pool.add(["sys", "query"], query)
        pool.add(["sys", "conversation_id"], "engine-test-conversation")
    for name, value in (inputs or {}).items():
        pool.add([root, name], value)
    for name, value in (environment or {}).items():
        pool.add(["env", name], value)
    state = GraphRuntimeState(variable_pool=pool, start_at=time.perf_counter())
    init_params = GraphInitParams(workflow_id="engine-test-workflow", graph_config=graph_config, run_context={},
                                  call_depth=0)
    graph = Graph.init(graph_config=graph_config, node_factory=_NodeFactory(init_params, state, runtime),
                       root_node_id=root)
    engine = GraphEngine(workflow_id="engine-test-workflow", graph=graph, graph_runtime_state=state,
                         command_channel=InMemoryChannel())
    failed = False
    try:
        for event in engine.run():
            failed = failed or isinstance(event, GraphRunFailedEvent)
            yield time.monotonic(), event
    except Exception:
        if not failed:  # the engine re-raises a failed run's error after GraphRunFailedEvent; Dify's
            raise  # runner reports that event, and so does this one


def run_graph(graph_config: Mapping[str, Any], runtime: PluginToolRuntime, **kwargs: Any) -> EngineRun:
    """``stream_graph`` to the end, every event kept."""
    return EngineRun(list(stream_graph(graph_config, runtime, **kwargs)))
