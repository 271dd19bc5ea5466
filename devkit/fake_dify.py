"""A local look-alike (for tests and benchmarks) of the Dify pieces a ``dify_app`` call with files
touches, on the test SSE server (127.0.0.1): the calling Dify's signed file URL (``/files/<id>/file-preview``), and the
called app's service API ``/v1/files/upload``, ``/v1/workflows/run`` and ``/v1/chat-messages``.

It checks requests the way Dify does and records what it accepted:
- the file URL answers only with the right signature (403 otherwise, 404 for an unknown file);
- an upload needs the app key as Bearer (401), a multipart body with exactly one part ``file``
  that has a file name (400 ``no_file_uploaded`` / ``too_many_files`` / ``filename_not_exists``)
  and the field ``user``; it refuses a file over ``max_bytes`` (413 ``file_too_large``) and an
  extension in ``refused_extensions`` (415 ``unsupported_file_type``), else answers 201 with the
  upload record (``id``, ``name``, ``size``, ``extension``, ``mime_type``...);
- a run's file objects must be ``local_file`` references to uploads of the same ``user``, of the
  type Dify detects for them (strict, as for a Start node's file input), a single object for a
  ``file`` variable and a list for a ``file-list`` one (400 ``invalid_param`` otherwise).
Sources: Dify service API reference (Upload File, Run Workflow, Send Chat Message), Dify
``factories/file_factory`` (``_build_from_local_file``), ``controllers/service_api/app/file.py``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from devkit.sse_server import Request, SSEServer, Writer
from utils.dify_files import file_type

KEY = "app-Fk3vQ9wLz7XcN2bR8tYh5mJd"
SECRET_SIGN = "c2lnbmF0dXJlLW9mLXRoZS1maWxlLXVybC0xMjM0NTY3OA"  # the signature Dify's file URLs carry
RUN_ID = "7c1f0d7e-5b3a-4f1e-9a55-0d1c2b3a4f50"


@dataclass
class Upload:
    id: str
    name: str
    data: bytes
    mime_type: str
    user: str

    @property
    def extension(self) -> str:
        return self.name.rsplit(".", 1)[-1].lower() if "." in self.name else ""

    def record(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "size": len(self.data), "extension": self.extension,
                "mime_type": self.mime_type, "created_by": "end-user-1", "created_at": 1732950000,
                "preview_url": None, "source_url": ""}


def event(name: str, **data: Any) -> str:
    return "data: " + json.dumps({"event": name, "task_id": "t-1", "workflow_run_id": RUN_ID, **data}) + "\n\n"


def detection_stream(label: str) -> list[str]:
    """An image-detection workflow's stream (the second seed document's use case): started, a
    Start node, an LLM node with usage, text, finished with outputs and totals."""
    outputs = {"label": label, "confidence": 0.93}
    return [
        event("workflow_started", data={"id": RUN_ID, "workflow_id": "wf-detect", "created_at": 1732950000}),
        event("node_started", data={"id": "n1", "node_id": "start", "node_type": "start", "title": "Start", "index": 1}),
        event("node_finished", data={"id": "n1", "node_id": "start", "node_type": "start", "title": "Start",
                                     "index": 1, "status": "succeeded", "outputs": {}, "elapsed_time": 0.01,
                                     "execution_metadata": None}),
        event("node_started", data={"id": "n2", "node_id": "llm", "node_type": "llm", "title": "Detect", "index": 2}),
        event("text_chunk", data={"text": f"Detected: {label}", "from_variable_selector": ["llm", "text"]}),
        event("node_finished", data={"id": "n2", "node_id": "llm", "node_type": "llm", "title": "Detect",
                                     "index": 2, "status": "succeeded", "outputs": outputs, "elapsed_time": 1.5,
                                     "execution_metadata": {"total_tokens": 812, "total_price": "0.00406",
                                                            "currency": "USD"}}),
        event("workflow_finished", data={"id": RUN_ID, "workflow_id": "wf-detect", "status": "succeeded",
                                         "outputs": outputs, "error": None, "elapsed_time": 1.62,
                                         "total_tokens": 812, "total_steps": 2, "created_at": 1732950000,
                                         "finished_at": 1732950002}),
    ]


def chat_stream(answer: str) -> list[str]:
    return [
        event("message", id="m-1", conversation_id="c-1", answer=answer, created_at=1732950000),
        event("message_end", id="m-1", conversation_id="c-1",
              metadata={"usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
                                  "total_price": "0.0001", "currency": "USD", "latency": 0.5}}),
    ]


@dataclass
class FakeDify:
    """The routes on ``server``. ``sources`` are the calling Dify's files (id → (name, bytes,
    MIME type)); ``variables`` the called workflow's file inputs (name → "file" or "file-list")."""

    server: SSEServer
    variables: dict[str, str] = field(default_factory=lambda: {"image": "file"})
    max_bytes: int = 15 * 1024 * 1024
    refused_extensions: tuple[str, ...] = ("exe",)
    key: str = KEY
    sources: dict[str, tuple[str, bytes, str]] = field(default_factory=dict)
    uploads: dict[str, Upload] = field(default_factory=dict)
    upload_requests: list[Request] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    echo: str = ""  # text the called app puts in its answer (an app that echoes what it received)

    def __post_init__(self) -> None:
        self.server.route("/v1/files/upload", self._upload)
        self.server.route("/v1/workflows/run", self._workflow)
        self.server.route("/v1/chat-messages", self._chat)

    # -- the calling Dify's files -------------------------------------------------------------
    def source(self, name: str, data: bytes, mime_type: str, extension: str | None = None,
               type_: str | None = None, sign: str = SECRET_SIGN) -> dict[str, Any]:
        """A file as Dify sends it in ``tool_parameters`` (``File.to_plugin_parameter``), served
        at its signed URL."""
        file_id = self.add_file(name, data, mime_type)
        ext = extension if extension is not None else "." + name.rsplit(".", 1)[-1]
        return {
            "dify_model_identity": "__dify__file__",
            "mime_type": mime_type,
            "filename": name,
            "extension": ext,
            "size": len(data),
            "type": type_ or file_type(ext, mime_type),
            "url": f"{self.server.url}/files/{file_id}/file-preview?timestamp=1732950000&nonce=0f1e2d3c4b5a6978"
                   f"&sign={sign}",
        }

    def add_file(self, name: str, data: bytes, mime_type: str) -> str:
        """A file of the calling Dify (an upload of its user): served at
        ``/files/<id>/file-preview`` to a request signed with ``SECRET_SIGN``. Returns the id."""
        file_id = str(uuid.uuid4())
        self.sources[file_id] = (name, data, mime_type)
        self.server.route(f"/files/{file_id}/file-preview", self._preview)
        return file_id

    def _preview(self, request: Request, writer: Writer) -> None:
        file_id = request.path.split("/")[2]
        if request.query.get("sign") != SECRET_SIGN:
            return writer.body(403, '{"code": "forbidden", "message": "Invalid request."}')
        name, data, mime_type = self.sources[file_id]
        writer.body(200, data, mime_type)

    # -- the called app -----------------------------------------------------------------------
    @staticmethod
    def _refuse(writer: Writer, status: int, code: str, message: str) -> None:
        writer.body(status, json.dumps({"code": code, "message": message, "status": status}))

    def _authorized(self, request: Request, writer: Writer) -> bool:
        if request.headers.get("authorization") != f"Bearer {self.key}":
            self._refuse(writer, 401, "unauthorized", "Access token is invalid")
            return False
        return True

    def _upload(self, request: Request, writer: Writer) -> None:
        self.upload_requests.append(request)
        if not self._authorized(request, writer):
            return None
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data; boundary="):
            return self._refuse(writer, 400, "no_file_uploaded", "Please upload your file.")
        form = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + request.body)
        parts = {part.get_param("name", header="content-disposition"): part for part in form.iter_parts()}
        files = [p for p in form.iter_parts() if p.get_filename() is not None]
        if "file" not in parts:
            return self._refuse(writer, 400, "no_file_uploaded", "Please upload your file.")
        if len(files) > 1:
            return self._refuse(writer, 400, "too_many_files", "Only one file is allowed.")
        part = parts["file"]
        name = part.get_filename()
        if not name:
            return self._refuse(writer, 400, "filename_not_exists", "The specified filename does not exist.")
        data = part.get_payload(decode=True) or b""
        user = parts["user"].get_content().strip() if "user" in parts else ""
        if not user:
            return self._refuse(writer, 400, "invalid_param", "user is required")
        if len(data) > self.max_bytes:
            return self._refuse(writer, 413, "file_too_large",
                                f"File size exceeded. {len(data) / 1024 / 1024:.2f} MB > "
                                f"{self.max_bytes / 1024 / 1024:.2f} MB")
        upload = Upload(str(uuid.uuid4()), name, data, part.get_content_type(), user)
        if upload.extension in self.refused_extensions:
            return self._refuse(writer, 415, "unsupported_file_type", "File type not allowed.")
        self.uploads[upload.id] = upload
        writer.body(201, json.dumps(upload.record()))
        return None

    def _check_file(self, ref: Any, user: str) -> str | None:
        """Why a run's file object is refused, or None (Dify's ``_build_from_local_file``, strict)."""
        if not isinstance(ref, dict) or ref.get("transfer_method") != "local_file":
            return "a local_file object is expected"
        upload = self.uploads.get(ref.get("upload_file_id", ""))
        if upload is None or upload.user != user:
            return "Invalid upload file"
        if ref.get("type") != file_type(upload.extension, upload.mime_type):
            return "Detected file type does not match the specified type. Please verify the file."
        return None

    def _run_body(self, request: Request, writer: Writer) -> dict[str, Any] | None:
        if not self._authorized(request, writer):
            return None
        body = json.loads(request.body)
        self.runs.append(body)
        user = body.get("user", "")
        problems = [self._check_file(ref, user) for ref in body.get("files", [])]
        for name, kind in self.variables.items():
            value = body.get("inputs", {}).get(name)
            if value is None:
                continue
            if kind == "file" and not isinstance(value, dict):
                problems.append(f"{name} in input form must be a file")
            elif kind == "file-list" and not isinstance(value, list):
                problems.append(f"{name} in input form must be a list of files")
            else:
                problems += [self._check_file(ref, user) for ref in (value if isinstance(value, list) else [value])]
        problem = next((p for p in problems if p), None)
        if problem:
            self._refuse(writer, 400, "invalid_param", problem)
            return None
        return body

    def uploaded_names(self, refs: list[dict[str, Any]]) -> list[str]:
        return [self.uploads[r["upload_file_id"]].name for r in refs]

    def _workflow(self, request: Request, writer: Writer) -> None:
        body = self._run_body(request, writer)
        if body is None:
            return
        refs = [v for v in body["inputs"].values() if isinstance(v, dict)] + \
               [r for v in body["inputs"].values() if isinstance(v, list) for r in v] + body.get("files", [])
        label = ",".join(self.uploaded_names(refs)) + self.echo
        writer.start()
        for piece in detection_stream(label):
            writer.send(piece)
        writer.end()

    def _chat(self, request: Request, writer: Writer) -> None:
        body = self._run_body(request, writer)
        if body is None:
            return
        writer.start()
        for piece in chat_stream("Files: " + ",".join(self.uploaded_names(body.get("files", []))) + self.echo):
            writer.send(piece)
        writer.end()
