"""The ``dify_app`` tool's parameters in, a request to a Dify app's service API out.

``build_dify_request`` validates the parameters and builds the POST for ``/chat-messages``,
``/workflows/run`` or ``/completion-messages`` as ``RequestOptions`` with the ``dify`` stream
format; ``dify_run`` uploads the workflow's own files (``upload_files``) to the called app, puts
their references in the body, and starts the same ``StreamRun`` as ``sse_request``. In
``blocking`` mode the run's client is a ``JSONClient``: the single JSON answer enters the ``dify``
format as one event, so both modes end in the same summary shape.

Uploaded files go where the service API reads them: in ``inputs.<file_input>`` when the builder
names the called app's file variable (one file object for a ``file`` variable, a list for a
``file-list`` one, as ``file_input_type`` says), else in the body's ``files`` list (a chat app's
attachments; ``sys.files`` of a workflow). Source: Dify service API, /chat-messages and
/workflows/run ("inputs" of file types, "files").
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from utils.dify_files import DifyFile, FileUploadError, upload_files
from utils.errors import InvalidParameter
from utils.formats.dify import BLOCKING_EVENT
from utils.http_attempt import RunClock
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
    """One call: the run's options (``content`` is ``body`` as JSON), and the files still to
    upload (``uploads``) with where their references go (``file_input``, ``file_list``)."""

    options: RequestOptions
    response_mode: str
    body: dict[str, Any]
    base_url: str = ""
    uploads: tuple[DifyFile, ...] = ()
    file_input: str = ""  # the called app's file variable; "" : the body's files list
    file_list: bool = False  # file_input is a file-list variable


def _encoded(body: dict[str, Any]) -> bytes:
    try:
        return json.dumps(body, ensure_ascii=False).encode("utf-8")
    except (ValueError, RecursionError):  # inputs nested near the interpreter's limit
        raise InvalidParameter("inputs", "the JSON is nested too deeply") from None


def _body(p: ToolParams, app_type: str, response_mode: str, inputs: dict[str, Any], default_user: str | None
          ) -> dict[str, Any]:
    """The service API's request body (before uploads): ``query`` goes to a chat app's body, or to
    ``inputs.query`` of a workflow or completion app; ``files`` (URLs or file objects) to ``files``."""
    query = p.text("query")
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
    files = p.dify_files("files")
    if files:
        body["files"] = files
    return body


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
    inputs = p.json_object("inputs", '{"topic": "SSE"}')
    uploads = p.uploads("upload_files")
    file_input = p.variable_name("file_input")
    file_list = p.choice("file_input_type") == "file-list"
    if file_input and uploads and file_input in inputs:
        raise InvalidParameter("file_input", f"inputs already has a value for '{file_input}'; "
                                             "name another variable or remove it from inputs")
    if file_input and not file_list and len(uploads) > 1:
        raise InvalidParameter("file_input_type", f"'file' takes a single file but upload_files has {len(uploads)}; "
                                                  "choose file-list for a variable that takes a list")
    body = _body(p, app_type, response_mode, inputs, default_user)
    content = _encoded(body)

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
        redactor=Redactor([*url_secrets(base_url), api_key, *secrets, *(s for f in uploads for s in f.secrets)]),
    )
    return DifyRequest(options, response_mode, body, base_url, uploads, file_input, file_list)


def with_uploads(request: DifyRequest, policy: NetworkPolicy | None = None,
                 transport: httpx.BaseTransport | None = None) -> DifyRequest:
    """The request with its files uploaded and referred to in the body (unchanged when it has
    none). The uploads count against ``max_duration``: the run gets the time they left (``Limits.spent``;
error lines still name the ``max_duration`` the user set). Raises
    ``FileUploadError`` (one line naming ``upload_files``) or the transport's errors."""
    if not request.uploads:
        return request
    options = request.options
    clock = RunClock(options.limits.max_duration)
    uploaded = upload_files(request.uploads, options, request.base_url, request.body["user"], policy, clock,
                            transport)
    left = clock.left()
    if left < 1:
        raise FileUploadError(f"the uploads took all of max_duration ({options.limits.max_duration:g} s); "
                              "the app was not called")
    references = [u.reference for u in uploaded]
    body = {**request.body, "inputs": dict(request.body["inputs"])}
    if request.file_input:
        body["inputs"][request.file_input] = references if request.file_list else references[0]
    else:
        body["files"] = [*body.get("files", []), *references]
    limits = dataclasses.replace(options.limits, spent=options.limits.max_duration - left,
                                 read_timeout=min(options.limits.read_timeout, left))
    options = dataclasses.replace(options, content=_encoded(body), limits=limits)
    return dataclasses.replace(request, options=options, body=body, uploads=())


def dify_run(request: DifyRequest, policy: NetworkPolicy | None = None) -> StreamRun:
    """The run of one call (its files uploaded first): streamed through the SSE client, or one
    blocking JSON answer."""
    request = with_uploads(request, policy)
    client = None
    if request.response_mode == "blocking":
        client = JSONClient(request.options, policy, event_type=BLOCKING_EVENT)
    return StreamRun(request.options, policy, client=client)
