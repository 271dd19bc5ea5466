"""The workflow's own files, uploaded to the called Dify app: read each from Dify's signed file URL,
``POST <base_url>/files/upload`` it, and refer to the upload in the run's request.

- ``DifyFile``: one file as the SDK hands it to a tool (Dify's ``File``: ``filename``, ``mime_type``,
  ``extension``, ``size``, the signed ``url``) as plain values. The URL is a secret.
- ``upload_files(files, options, base_url, user, policy)``: each file read from its URL and sent
  as multipart ``file`` + ``user`` with the app key as Bearer, both over the run's HTTP attempt
  (``utils/http_attempt.py``: pinned transport, network policy on every hop, the run's deadline,
  bounded decoding). The read is not the SDK's ``File.blob``: that GET has no network policy (a
  file given by URL would let a workflow user make the plugin fetch any address, cloud metadata
  included, and hand the bytes to the called app), no size bound and no deadline.
  Returns ``UploadedFile``s.
- ``UploadedFile.reference``: ``{"type", "transfer_method": "local_file", "upload_file_id"}``, the
  file object the service API takes in ``files`` (chat) or in a file input (workflow).
- ``file_type(extension, mime_type)``: Dify's own rule for a file's type (image, document, audio,
  video, else custom), so the type sent is the one the called app detects.

Nothing read from a file is logged or shown: errors name the file by its name only.

Sources: Dify service API "Upload File" (``POST /files/upload``: 201 with ``id``; 400
``no_file_uploaded`` / ``too_many_files`` / ``filename_not_exists``, 413 ``file_too_large``, 415
``unsupported_file_type``); Dify ``api/constants/__init__.py`` (extension lists) and
``factories/file_factory`` ``_standardize_file_type`` (extension first, then MIME type).
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

from utils.errors import BlockedAddress, SSERequestError
from utils.http_attempt import ATTEMPT_ERRORS, HTTPSession, RunClock, one_line
from utils.network_policy import NetworkPolicy
from utils.secrets import url_secrets

if TYPE_CHECKING:  # utils/parameters.py reads file types from here: no import of the options at load time
    from utils.request_options import Limits, RequestOptions

logger = logging.getLogger(__name__)

PARAMETER = "upload_files"
UPLOAD_PATH = "/files/upload"
MAX_ANSWER_BYTES = 64 * 1024
# Dify's file types by extension (api/constants/__init__.py: webm is a video only). Documents: the
# default ETL's list plus the Unstructured ETL's extra ones.
IMAGE_EXTENSIONS = frozenset({"jpg", "jpeg", "png", "webp", "gif", "svg"})
VIDEO_EXTENSIONS = frozenset({"mp4", "mov", "mpeg", "webm"})
AUDIO_EXTENSIONS = frozenset({"mp3", "m4a", "wav", "amr", "mpga"})
DOCUMENT_EXTENSIONS = frozenset({"txt", "markdown", "md", "mdx", "pdf", "html", "htm", "xlsx", "xls", "docx", "csv",
                                 "vtt", "properties", "doc", "eml", "msg", "pptx", "ppt", "xml", "epub"})
FILES_URL_HINT = ("Dify's FILES_URL / INTERNAL_FILES_URL (docker/.env) must give an address the plugin daemon "
                  "reaches, e.g. INTERNAL_FILES_URL=http://api:5001")


class FileUploadError(SSERequestError):
    """A file could not be read from Dify or uploaded to the called app. One line, naming the
    parameter and the file; ``status`` is the upload's HTTP status when there was one."""

    def __init__(self, problem: str, status: int | None = None, name: str = PARAMETER) -> None:
        super().__init__(f"'{name}': {problem}")
        self.name = name
        self.status = status


def file_type(extension: str, mime_type: str = "") -> str:
    """image, document, audio, video or custom, as Dify types an uploaded file: by extension
    (with or without its dot, any case), else by MIME type ("image", "video", "audio", "text" or
    "pdf" in it), else custom."""
    ext = extension.lower().lstrip(".")
    for kind, known in (("image", IMAGE_EXTENSIONS), ("video", VIDEO_EXTENSIONS), ("audio", AUDIO_EXTENSIONS),
                        ("document", DOCUMENT_EXTENSIONS)):
        if ext in known:
            return kind
    mime = mime_type.lower()
    for word, kind in (("image", "image"), ("video", "video"), ("audio", "audio"), ("text", "document"),
                       ("pdf", "document")):
        if word in mime:
            return kind
    return "custom"


@dataclass(frozen=True)
class DifyFile:
    """One file from the calling workflow. ``url`` is where its bytes are read: Dify's signed file
    URL (a secret: it grants reading the file until it expires, FILES_ACCESS_TIMEOUT, 300 s by
    default), or the remote URL of a file given by URL."""

    filename: str
    url: str = field(repr=False)
    mime_type: str = ""
    extension: str = ""  # without the dot, lower-case
    size: int | None = None  # bytes, as Dify reports it

    def __post_init__(self) -> None:
        object.__setattr__(self, "filename", str(self.filename or ""))
        object.__setattr__(self, "mime_type", str(self.mime_type or ""))
        object.__setattr__(self, "extension", str(self.extension or "").lstrip(".").lower())

    @property
    def upload_name(self) -> str:
        """The name sent in the multipart part: Dify takes the extension from it, so it has one
        when the file's extension is known."""
        name = self.filename.strip().replace("\r", " ").replace("\n", " ").replace('"', "'") or "file"
        if self.extension and not name.lower().endswith("." + self.extension):
            name = f"{name}.{self.extension}"
        return name

    @property
    def secrets(self) -> list[str]:
        """What masks this file's URL wherever it might show: the URL and its signature."""
        return [self.url, *url_secrets(self.url)]


@dataclass(frozen=True)
class UploadedFile:
    """A file the called app holds: its upload ``id`` and Dify ``type``."""

    id: str
    type: str
    filename: str

    @property
    def reference(self) -> dict[str, str]:
        """The service API's file object for an uploaded file (``local_file``)."""
        return {"type": self.type, "transfer_method": "local_file", "upload_file_id": self.id}


def _cannot_read(file: DifyFile, detail: str) -> FileUploadError:
    return FileUploadError(f"cannot read '{file.upload_name}' from Dify's file URL ({detail}); {FILES_URL_HINT}")


def _read(session: HTTPSession, file: DifyFile, limits: Limits) -> list[bytes]:
    """The file's bytes in pieces, GET from its URL on the run's session: the network policy applies (a
    file of a workflow may be a remote URL a user typed, so the URL is not trusted further than
    any other), no credential is sent, the deadline holds, and at most ``limits.max_stream_bytes``
    (256 MiB for ``dify_app``) is read."""
    if not file.url.lower().startswith(("http://", "https://")):
        raise _cannot_read(file, "the URL has no http(s) address: FILES_URL is empty")
    limit = limits.max_stream_bytes
    try:
        with session.open("GET", httpx.URL(file.url), httpx.Headers({"Accept": "*/*"}), None,
                          limits.connect_timeout, limits.read_timeout) as response:
            if response.status_code != 200:
                raise _cannot_read(file, f"HTTP {response.status_code}")
            parts: list[bytes] = []
            size = 0
            for piece in session.body(response):
                size += len(piece)
                if limit and size > limit:
                    raise FileUploadError(f"'{file.upload_name}' is larger than {limit / (1024 * 1024):g} MiB, "
                                          "the most this tool reads of a file")
                parts.append(piece)
    except BlockedAddress as exc:
        raise FileUploadError(f"cannot read '{file.upload_name}': this tool's network policy refuses its URL ({exc})"
                              ) from None
    except ATTEMPT_ERRORS as exc:
        if session.clock.expired():  # the run's deadline closed the socket: say so, not the transport's words
            raise FileUploadError(f"reading '{file.upload_name}' from Dify's file URL did not finish within "
                                  f"max_duration ({limits.max_duration:g} s)") from None
        said = str(exc) if isinstance(exc, SSERequestError) else session.describe(exc)
        raise _cannot_read(file, said) from None
    return parts


def _refusal(status: int, body: str, filename: str) -> FileUploadError:
    """The one line for an upload the called app refused, from Dify's error body
    (``{"code", "message", "status"}``) when it is one."""
    code = message = ""
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        code, message = str(parsed.get("code") or ""), str(parsed.get("message") or "")
    said = one_line(" ".join(p for p in (f"HTTP {status}", code, message and f"({message})") if p), 200)
    if not code and body:
        said = f"{said}: {body}"
    if status == 413 or code == "file_too_large":
        problem = f"'{filename}' is larger than the called app accepts ({said})"
    elif status == 415 or code == "unsupported_file_type":
        problem = f"the called app does not accept the type of '{filename}' ({said})"
    elif status in (401, 403):
        problem = f"the called app refused the upload of '{filename}' ({said}); check api_key and the app's API access"
    else:
        problem = f"uploading '{filename}' failed ({said})"
    return FileUploadError(problem, status)


def _multipart(file: DifyFile, pieces: Sequence[bytes], user: str) -> tuple[list[bytes], str]:
    """(body pieces, Content-Type) of the multipart form ``file`` + ``user``. httpx writes the
    framing (boundary, escaped names) around a placeholder, and the file's pieces go between its
    two halves as they are: sent piece by piece with a Content-Length, the body costs no copy of
    the file (a joined body is copied again by the HTTP/1.1 writer: three times the file in memory)."""
    placeholder = b"\0" + secrets.token_hex(16).encode() + b"\0"
    request = httpx.Request("POST", "http://upload.invalid/", data={"user": user},
                            files={"file": (file.upload_name, placeholder, file.mime_type or "application/octet-stream")})
    head, tail = request.read().split(placeholder)
    return [head, *pieces, tail], request.headers["Content-Type"]


def _headers(options: RequestOptions, content_type: str, length: int) -> httpx.Headers:
    """The run's headers (app key, administrator's defaults) for the upload. With Content-Length
    given, httpx sends the pieces as they are instead of chunked (a length Dify's server needs)."""
    skip = ("content-type", "accept", "content-length", "transfer-encoding")
    headers = httpx.Headers([(k, v) for k, v in options.headers if k.lower() not in skip])
    headers["Content-Type"] = content_type
    headers["Content-Length"] = str(length)
    headers["Accept"] = "application/json"
    return headers


def _uploaded(response_body: bytes, file: DifyFile) -> UploadedFile:
    try:
        answer = json.loads(response_body)
    except ValueError:
        answer = None
    upload_id = answer.get("id") if isinstance(answer, dict) else None
    if not isinstance(upload_id, str) or not upload_id:
        raise FileUploadError(f"the called app's answer to the upload of '{file.upload_name}' has no file id")
    extension = str(answer.get("extension") or file.extension)
    mime_type = str(answer.get("mime_type") or file.mime_type)
    return UploadedFile(upload_id, file_type(extension, mime_type), file.upload_name)


def _answer(session: HTTPSession, response: httpx.Response) -> bytes:
    """The upload's JSON answer, read up to ``MAX_ANSWER_BYTES`` (it is a few hundred bytes)."""
    parts: list[bytes] = []
    size = 0
    for piece in session.body(response):
        parts.append(piece)
        size += len(piece)
        if size > MAX_ANSWER_BYTES:
            break
    return b"".join(parts)[:MAX_ANSWER_BYTES]


def upload_files(files: Sequence[DifyFile], options: RequestOptions, base_url: str, user: str,
                 policy: NetworkPolicy | None = None, clock: RunClock | None = None,
                 transport: httpx.BaseTransport | None = None) -> list[UploadedFile]:
    """Uploads each file, in order, to ``<base_url>/files/upload`` for the end user ``user`` (the
    run's ``user``: an upload belongs to the end user who uploaded it). Uses ``options``' headers (the app key,
    the administrator's default headers), TLS setting, timeouts and redactor, within ``clock``'s
    deadline (a new one of ``max_duration`` when None). Raises ``FileUploadError`` (one line naming
    ``upload_files`` and the file) or the transport's errors, masked."""
    from utils.sse_client import origin_bound_headers  # imported here: the client's module reads the options

    if not files:
        return []
    policy = policy or NetworkPolicy()
    clock = clock or RunClock(options.limits.max_duration)
    limits = options.limits
    redact = options.redactor
    url = httpx.URL(base_url.rstrip("/") + UPLOAD_PATH)
    where = redact.url(str(url))
    uploaded: list[UploadedFile] = []
    with HTTPSession(policy, clock, verify=options.ssl_verify, transport=transport, redactor=redact,
                     origin_bound=origin_bound_headers(options)) as session:
        for file in files:
            body_pieces, content_type = _multipart(file, _read(session, file, limits), user)
            headers = _headers(options, content_type, sum(map(len, body_pieces)))
            try:
                # a list, not bytes: httpx sends it piece by piece, and again on a 307/308 redirect
                with session.open("POST", url, headers, body_pieces, limits.connect_timeout,  # type: ignore[arg-type]
                                  limits.read_timeout) as response:
                    if not 200 <= response.status_code < 300:
                        raise _refusal(response.status_code, session.excerpt(response), file.upload_name)
                    body = _answer(session, response)
            except ATTEMPT_ERRORS as exc:
                if clock.expired():
                    raise FileUploadError(f"the upload of '{file.upload_name}' did not finish within max_duration "
                                          f"({limits.max_duration:g} s)") from None
                said = str(exc) if isinstance(exc, SSERequestError) else session.describe(exc)
                raise FileUploadError(f"cannot upload '{file.upload_name}' to {where}: {said}") from None
            uploaded.append(_uploaded(body, file))
            logger.info("uploaded one %s file to the called app", uploaded[-1].type)
    return uploaded
