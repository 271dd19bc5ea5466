"""The ``dify_app`` tool's parameters in, a request to a Dify app's service API out.

``build_dify_request`` validates the parameters and builds the POST for ``/chat-messages``,
``/workflows/run`` or ``/completion-messages`` as ``RequestOptions`` with the ``dify`` stream
format; ``dify_run`` starts the same ``StreamRun`` as ``sse_request``. In ``blocking`` mode the
run's client is a ``JSONClient``: the single JSON answer enters the ``dify`` format as one event,
so both modes end in the same summary shape.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from utils.errors import InvalidParameter
from utils.formats.dify import BLOCKING_EVENT
from utils.json_client import JSONClient
from utils.network_policy import NetworkPolicy
from utils.parameters import ToolParams, merge_headers
from utils.request_options import Limits, RequestOptions
from utils.secrets import Redactor, url_secrets
from utils.stream_run import StreamRun

PATHS = {"chat": "/chat-messages", "workflow": "/workflows/run", "completion": "/completion-messages"}
DEFAULT_USER = "dify-plugin-sse-request"


@dataclass(frozen=True)
class DifyRequest:
    options: RequestOptions
    response_mode: str
    body: dict[str, Any]


def build_dify_request(params: Mapping[str, Any], default_headers: list[tuple[str, str]] | None = None,
                       default_user: str | None = None) -> DifyRequest:
    """Validates every parameter of the ``dify_app`` tool, in the order a user reads them."""
    p = ToolParams("dify_app", params)
    base_url = p.url("base_url").rstrip("/")
    api_key = p.text("api_key").strip()
    if not api_key:
        raise InvalidParameter("api_key", "the app's API key is required (Dify: the app > API Access > API Key)")
    if any(c in api_key for c in "\r\n\0 "):
        raise InvalidParameter("api_key", "the key contains white space, a line break or NUL")
    app_type, response_mode = p.choice("app_type"), p.choice("response_mode")
    query = p.text("query")
    inputs = p.json_object("inputs", '{"topic": "SSE"}')
    files = p.dify_files("files")
    user = p.text("user").strip() or default_user or DEFAULT_USER

    body: dict[str, Any] = {"inputs": inputs, "response_mode": response_mode, "user": user}
    if app_type == "chat":
        if not query.strip():
            raise InvalidParameter("query", "a chat app needs a query (the user's message)")
        body["query"] = query
        conversation_id = p.text("conversation_id").strip()
        if conversation_id:
            body["conversation_id"] = conversation_id
    elif query.strip() and "query" not in inputs:  # workflow and completion apps read it from inputs
        inputs["query"] = query
    if files:
        body["files"] = files
    try:
        content = json.dumps(body, ensure_ascii=False).encode("utf-8")
    except (ValueError, RecursionError):  # inputs nested near the interpreter's limit
        raise InvalidParameter("inputs", "the JSON is nested too deeply") from None

    accept = "application/json" if response_mode == "blocking" else "text/event-stream"
    headers, secrets = merge_headers(default_headers or [], [("Authorization", f"Bearer {api_key}"),
                                                            ("Content-Type", "application/json"), ("Accept", accept)])
    max_duration = p.number("max_duration")
    read_timeout = p.number("read_timeout")
    if response_mode == "blocking":  # the answer comes at the end, after a silence as long as the run
        read_timeout = max_duration
    limits = Limits(
        read_timeout=read_timeout,
        max_duration=max_duration,
        max_retries=0,  # a POST to an app is never re-sent: it could run the app twice
        max_event_bytes=p.number("max_event_kb") * 1024,
    )
    options = RequestOptions(
        url=base_url + PATHS[app_type],
        method="POST",
        headers=headers,
        content=content,
        limits=limits,
        ssl_verify=p.boolean("ssl_verify"),
        stream_format="dify",
        fail_on_stream_error=p.boolean("fail_on_stream_error"),
        redactor=Redactor([*url_secrets(base_url), api_key, *secrets]),
    )
    return DifyRequest(options, response_mode, body)


def dify_run(request: DifyRequest, policy: NetworkPolicy | None = None) -> StreamRun:
    """The run of one call: streamed through the SSE client, or one blocking JSON answer."""
    client = None
    if request.response_mode == "blocking":
        client = JSONClient(request.options, policy, event_type=BLOCKING_EVENT)
    return StreamRun(request.options, policy, client=client)
