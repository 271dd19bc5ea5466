"""``dify_app`` with the workflow's own files (issue 16): each Dify file is read from its signed URL,
uploaded to the called app (``/files/upload``) and referred to as a ``local_file`` in the called
workflow's file input or the body's ``files``; every failure is one line naming ``upload_files``;
the signed URL is masked everywhere and nothing read from a file is logged.

Against a look-alike of Dify on 127.0.0.1 (``tests/fake_dify.py``) that checks the multipart upload
and the run request as Dify does, directly and through the plugin runtime."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devkit.fake_dify import KEY, SECRET_SIGN, FakeDify
from devkit.plugin_runner import error_of, summary_of, texts
from utils.dify_api import build_dify_request, with_uploads
from utils.dify_files import (
    AUDIO_EXTENSIONS,
    DOCUMENT_EXTENSIONS,
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    DifyFile,
    FileUploadError,
    file_type,
)
from utils.errors import InvalidParameter
from utils.sse_client import SSEClient

PNG = b"\x89PNG\r\n\x1a\n" + b"IMAGE-BYTES-MARKER-7f3a" * 40  # the marker must never reach a log or frame


def as_dify_file(sent: dict[str, Any]) -> DifyFile:
    """What tools/dify_app.py makes of a file Dify sends (the SDK's File)."""
    return DifyFile(filename=sent["filename"], url=sent["url"], mime_type=sent["mime_type"],
                    extension=sent["extension"], size=sent["size"])


def params(server, app_type: str = "workflow", **extra: Any) -> dict[str, Any]:
    return {"base_url": server.url + "/v1", "api_key": KEY, "app_type": app_type, **extra}


def uploaded(server, sent: list[dict[str, Any]], app_type: str = "workflow", **extra: Any):
    request = build_dify_request({**params(server, app_type, **extra),
                                  "upload_files": [as_dify_file(f) for f in sent]}, default_user="u-42")
    return with_uploads(request)


# -- the type Dify gives a file ----------------------------------------------------------------
@pytest.mark.parametrize(("extension", "mime", "expected"), [
    (".png", "image/png", "image"), ("JPG", "", "image"), ("webm", "audio/webm", "video"),  # Dify lists webm with videos only
    ("mp3", "", "audio"), (".pdf", "", "document"), ("docx", "", "document"),
    ("", "image/heic", "image"), ("bin", "audio/ogg", "audio"), ("", "text/plain", "document"),
    ("", "application/pdf", "document"), ("zip", "application/zip", "custom"), ("", "", "custom"),
])
def test_file_type_follows_difys_rule(extension: str, mime: str, expected: str) -> None:
    assert file_type(extension, mime) == expected


@given(st.sampled_from(sorted(IMAGE_EXTENSIONS | VIDEO_EXTENSIONS | AUDIO_EXTENSIONS | DOCUMENT_EXTENSIONS)),
       st.booleans(), st.booleans(), st.text(max_size=30))
def test_a_known_extension_decides_whatever_the_mime_type(ext: str, dot: bool, upper: bool, mime: str) -> None:
    shown = ("." if dot else "") + (ext.upper() if upper else ext)
    assert file_type(shown, mime) == file_type(ext)
    assert file_type(ext) in ("image", "video", "audio", "document")


def test_urls_in_the_string_files_parameter_are_typed_by_the_same_rule() -> None:
    body = build_dify_request({"base_url": "http://a/v1", "api_key": KEY, "query": "q",
                               "files": "https://x.test/clip.webm, https://x.test/a.csv, https://x.test/dl"}).body
    assert [f["type"] for f in body["files"]] == ["video", "document", "document"]


@given(st.text(max_size=60), st.text(alphabet=st.characters(codec="ascii"), max_size=8), st.text(max_size=30))
def test_any_file_name_makes_one_well_formed_multipart_part(name: str, extension: str, user: str) -> None:
    from email.parser import BytesParser
    from email.policy import HTTP

    from utils.dify_files import _multipart

    file = DifyFile(name, "http://files.test/x", "image/png", extension)
    pieces, content_type = _multipart(file, [b"\x00DA", b"TA\r\n--"], user)
    body = b"".join(pieces)
    form = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    parts = list(form.iter_parts())
    assert [p.get_param("name", header="content-disposition") for p in parts] == ["user", "file"]
    assert parts[1].get_payload(decode=True) == b"\x00DATA\r\n--"
    assert parts[1].get_filename()  # Dify refuses a part without a file name


# -- the request: where the files go, what is refused before any upload ------------------------------
def test_files_go_to_the_named_input_as_one_object_or_a_list(server) -> None:
    dify = FakeDify(server, variables={"image": "file", "photos": "file-list"})
    one = dify.source("apple.png", PNG, "image/png")
    request = uploaded(server, [one], file_input="image", inputs='{"food_type": "fruit"}')
    ref = request.body["inputs"]["image"]
    assert ref == {"type": "image", "transfer_method": "local_file", "upload_file_id": next(iter(dify.uploads))}
    assert request.body["inputs"]["food_type"] == "fruit" and "files" not in request.body
    assert json.loads(request.options.content) == request.body  # what is sent is the body shown

    two = [dify.source("a.png", PNG, "image/png"), dify.source("b.pdf", b"%PDF-1.4", "application/pdf")]
    request = uploaded(server, two, file_input="photos", file_input_type="file-list")
    refs = request.body["inputs"]["photos"]
    assert [r["type"] for r in refs] == ["image", "document"]
    assert [dify.uploads[r["upload_file_id"]].name for r in refs] == ["a.png", "b.pdf"]  # in order


@pytest.fixture(scope="module")
def shared_dify():
    from devkit.sse_server import SSEServer

    with SSEServer() as server:
        yield server, FakeDify(server, variables={"image": "file", "photos": "file-list"})


@settings(max_examples=25, deadline=None)
@given(names=st.lists(st.sampled_from(["a.png", "b.PDF", "c.mp3", "d.webm", "e.zip", "noext"]), min_size=1, max_size=4),
       file_input=st.sampled_from(["", "image", "photos"]), app_type=st.sampled_from(["chat", "workflow"]))
def test_every_file_lands_once_in_order_where_the_parameters_say(shared_dify, names: list[str], file_input: str,
                                                                 app_type: str) -> None:
    server, dify = shared_dify
    sent = [dify.source(n, PNG, "application/octet-stream", extension="" if n == "noext" else None) for n in names]
    extra: dict[str, Any] = {"file_input": file_input, "query": "q"}
    if file_input == "photos":
        extra["file_input_type"] = "file-list"
    if file_input == "image" and len(names) > 1:
        with pytest.raises(InvalidParameter):
            uploaded(server, sent, app_type, **extra)
        return
    body = uploaded(server, sent, app_type, **extra).body
    if not file_input:
        refs = body["files"]
    else:
        value = body["inputs"][file_input]
        refs = value if file_input == "photos" else [value]
        assert "files" not in body
    assert [dify.uploads[r["upload_file_id"]].name for r in refs] == names
    assert [r["type"] for r in refs] == [file_type(n.rsplit(".", 1)[-1] if "." in n else "") for n in names]
    assert all(r["transfer_method"] == "local_file" for r in refs)


def test_without_file_input_the_files_join_the_bodys_files(server) -> None:
    dify = FakeDify(server)
    sent = dify.source("notes.md", b"# notes", "text/markdown")
    request = uploaded(server, [sent], "chat", query="Summarise", files="https://x.test/a.png")
    assert request.body["files"][0] == {"type": "image", "transfer_method": "remote_url", "url": "https://x.test/a.png"}
    assert request.body["files"][1]["transfer_method"] == "local_file"
    assert request.body["files"][1]["type"] == "document"


def test_the_multipart_upload_is_what_difys_api_takes(server) -> None:
    dify = FakeDify(server)
    sent = dify.source("photo", PNG, "image/png", extension=".png")  # a name without its extension
    uploaded(server, [sent], file_input="image", user="end-user-9")
    (request,) = dify.upload_requests
    assert request.method == "POST" and request.path == "/v1/files/upload"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    upload = next(iter(dify.uploads.values()))
    assert upload.data == PNG and upload.mime_type == "image/png"
    assert upload.name == "photo.png"  # Dify reads the extension from the name
    assert upload.user == "end-user-9"  # the run's user: an upload belongs to its end user


def test_the_uploads_count_against_max_duration(server) -> None:
    dify = FakeDify(server)
    slow = dify.source("a.png", PNG, "image/png")
    path = slow["url"].split("?")[0].removeprefix(server.url)
    served = server.routes[path]
    server.route(path, lambda r, w: time.sleep(0.3) or served(r, w))
    request = build_dify_request({**params(server), "file_input": "image", "max_duration": 30,
                                  "upload_files": [as_dify_file(slow)]})
    after = with_uploads(request)
    limits = after.options.limits
    assert limits.max_duration == 30 and 0.3 <= limits.spent < 2  # error lines name the user's 30 s
    assert 28 < limits.time_left <= 29.8 and limits.read_timeout <= limits.time_left
    # the run's clock starts with what the uploads left
    assert SSEClient(after.options).clock.left() <= limits.time_left


@pytest.mark.parametrize("where", ["reading the file", "uploading it"])
def test_a_file_past_max_duration_says_so(server, where: str) -> None:
    """A file URL (or an upload answer) that trickles a byte at a time, each within read_timeout,
    ends at max_duration with that one line, not with the transport's own words."""
    dify = FakeDify(server)
    sent = dify.source("a.png", PNG, "image/png")

    def trickle(request, writer, status: int = 200) -> None:
        writer.start(status, content_type="application/json")
        for _ in range(12):
            writer.send(b" ")
            time.sleep(0.4)
        writer.send(b'{"id": "x"}')
        writer.end()

    if where == "reading the file":
        server.route("/trickle", trickle)
        sent["url"] = server.url + "/trickle?sign=" + SECRET_SIGN
    else:
        server.route("/v1/files/upload", lambda r, w: trickle(r, w, 201))
    error = failure(server, dify, sent, max_duration=1.5, read_timeout=1)
    assert "'a.png'" in str(error) and "did not finish within max_duration (1.5 s)" in str(error), str(error)
    assert "FILES_URL" not in str(error)  # a slow file is no sign of a misconfigured Dify


def test_no_upload_files_changes_nothing(server) -> None:
    request = build_dify_request(params(server, file_input="image", inputs='{"a": 1}'))
    assert with_uploads(request) is request and request.body["inputs"] == {"a": 1}


@pytest.mark.parametrize(("extra", "name", "problem"), [
    ({"upload_files": "https://x.test/a.png"}, "upload_files", "put file URLs or JSON file objects in 'files'"),
    ({"upload_files": [{"url": "x"}]}, "upload_files", "expected Dify files"),
    ({"file_input": "my image"}, "file_input", "not a variable name"),
    ({"file_input": "1st"}, "file_input", "not a variable name"),
    ({"file_input_type": "files"}, "file_input_type", "not one of file, file-list"),
    ({"file_input": "image", "two": True}, "file_input_type", "'file' takes a single file but upload_files has 2"),
    ({"file_input": "image", "inputs": '{"image": "x"}'}, "file_input", "inputs already has a value for 'image'"),
])
def test_bad_file_parameters_are_one_line_before_any_upload(server, extra: dict[str, Any], name: str,
                                                             problem: str) -> None:
    dify = FakeDify(server)
    files = [as_dify_file(dify.source("a.png", PNG, "image/png"))]
    if extra.pop("two", False):
        files.append(as_dify_file(dify.source("b.png", PNG, "image/png")))
    with pytest.raises(InvalidParameter) as caught:
        build_dify_request({**params(server), "upload_files": files, **extra})
    assert caught.value.name == name and problem in str(caught.value) and "\n" not in str(caught.value)
    assert not dify.upload_requests and not dify.runs


# -- each failure a user will hit: one line naming upload_files and the file ----------------------------
def failure(server, dify: FakeDify, sent: dict[str, Any], **extra: Any) -> FileUploadError:
    with pytest.raises(FileUploadError) as caught:
        uploaded(server, [sent], file_input="image", **extra)
    message = str(caught.value)
    assert message.startswith("'upload_files': ") and "\n" not in message
    assert sent["url"] not in message and SECRET_SIGN not in message and KEY not in message
    assert not dify.runs  # the app is never called with a file missing
    return caught.value


def test_a_file_larger_than_the_app_accepts(server) -> None:
    dify = FakeDify(server, max_bytes=100)
    error = failure(server, dify, dify.source("big.png", PNG, "image/png"))
    assert error.status == 413
    assert "'big.png' is larger than the called app accepts (HTTP 413 file_too_large (File size exceeded." in str(error)


def test_a_type_the_app_does_not_accept(server) -> None:
    dify = FakeDify(server)
    error = failure(server, dify, dify.source("setup.exe", b"MZ", "application/x-msdownload"))
    assert error.status == 415
    assert "does not accept the type of 'setup.exe' (HTTP 415 unsupported_file_type (File type not allowed.))" \
        in str(error)


@pytest.mark.parametrize("status", [401, 403])
def test_an_upload_refused(server, status: int) -> None:
    dify = FakeDify(server)
    if status == 403:  # an app whose API access is off answers 403 with Dify's error body
        server.route("/v1/files/upload", lambda r, w: w.body(403, '{"code": "app_unavailable", "status": 403, '
                                                              '"message": "App unavailable"}'))
    else:
        dify.key = "app-AnotherKeyEntirely0000"
    error = failure(server, dify, dify.source("a.png", PNG, "image/png"))
    assert error.status == status and f"the called app refused the upload of 'a.png' (HTTP {status}" in str(error)
    assert "check api_key" in str(error)


@pytest.mark.parametrize("how", ["bad signature", "no such file", "refused connection", "not a URL"])
def test_a_file_the_plugin_cannot_read_from_dify(server, how: str) -> None:
    dify = FakeDify(server)
    sent = dify.source("a.png", PNG, "image/png", sign=SECRET_SIGN + "x" if how == "bad signature" else SECRET_SIGN)
    if how == "no such file":
        sent["url"] = sent["url"].replace("/files/", "/files/0000")
    elif how == "refused connection":
        sent["url"] = "http://127.0.0.1:9/files/x/file-preview?sign=" + SECRET_SIGN
    elif how == "not a URL":
        sent["url"] = "/files/x/file-preview?sign=" + SECRET_SIGN  # FILES_URL left empty in Dify's .env
    error = failure(server, dify, sent)
    assert "cannot read 'a.png' from Dify's file URL" in str(error)
    assert "INTERNAL_FILES_URL" in str(error)
    assert not dify.upload_requests


def test_a_file_is_read_up_to_a_bound(server) -> None:
    dify = FakeDify(server)
    sent = dify.source("huge.png", PNG, "image/png")
    request = build_dify_request({**params(server), "upload_files": [as_dify_file(sent)]})
    small = dataclasses.replace(request.options.limits, max_stream_bytes=len(PNG) - 1)
    request = dataclasses.replace(request, options=dataclasses.replace(request.options, limits=small))
    with pytest.raises(FileUploadError) as caught:
        with_uploads(request)
    assert "'huge.png' is larger than 0.00" in str(caught.value) and "the most this tool reads of a file" in str(
        caught.value)
    assert not dify.upload_requests


def test_an_answer_without_a_file_id(server) -> None:
    dify = FakeDify(server)
    server.route("/v1/files/upload", lambda r, w: w.body(201, '{"name": "a.png"}'))
    assert "has no file id" in str(failure(server, dify, dify.source("a.png", PNG, "image/png")))


def test_a_file_url_is_read_under_the_network_policy(server) -> None:
    """A workflow's file may be a URL its user typed: reading it must not reach what the tool may
    not (cloud metadata here, refused before any connection), or its bytes would go to the app."""
    dify = FakeDify(server)
    sent = dify.source("creds.txt", b"x", "text/plain")
    sent["url"] = "http://169.254.169.254/latest/meta-data/iam/security-credentials/role"
    error = failure(server, dify, sent)
    assert "cannot read 'creds.txt': this tool's network policy refuses its URL" in str(error)
    assert "cloud metadata" in str(error) and not dify.upload_requests


def test_an_upload_blocked_by_the_network_policy_is_one_line(server) -> None:
    dify = FakeDify(server)
    sent = dify.source("a.png", PNG, "image/png")
    request = build_dify_request({"base_url": "http://169.254.169.254/v1", "api_key": KEY, "app_type": "workflow",
                                  "upload_files": [as_dify_file(sent)]})
    with pytest.raises(FileUploadError) as caught:
        with_uploads(request)
    assert str(caught.value).startswith("'upload_files': cannot upload 'a.png' to http://169.254.169.254/")
    assert "cloud metadata" in str(caught.value) and "\n" not in str(caught.value)
    assert not dify.upload_requests


def test_the_signed_url_is_a_secret_of_the_run(server) -> None:
    dify = FakeDify(server)
    sent = dify.source("a.png", PNG, "image/png")
    request = build_dify_request({**params(server), "upload_files": [as_dify_file(sent)]})
    redact = request.options.redactor
    assert redact(f"at {sent['url']} or sign={SECRET_SIGN}") == "at *** or sign=***"


# -- end to end through the plugin runtime, with files as Dify sends them ---------------------------------
def test_a_start_node_file_reaches_the_called_workflow(plugin, server) -> None:
    dify = FakeDify(server)
    sent = dify.source("apple.png", PNG, "image/png")
    frames = plugin.collect(plugin.invoke("dify_app", params(server, inputs='{"food_type": "fruit"}',
                                                             upload_files=[sent], file_input="image")))
    assert error_of(frames) is None
    assert "".join(texts(frames)) == "Detected: apple.png"
    run = dify.runs[-1]
    assert run["inputs"]["food_type"] == "fruit" and run["user"] == "test-user"
    assert dify.uploads[run["inputs"]["image"]["upload_file_id"]].data == PNG
    summary = summary_of(frames)
    assert summary["success"] is True
    data = summary["result"]["data"]
    assert data["outputs"] == {"label": "apple.png", "confidence": 0.93}
    assert data["metadata"]["total_tokens"] == 812 and data["metadata"]["elapsed_time"] == 1.62
    assert float(data["metadata"]["total_price"]) == pytest.approx(0.00406)
    everything = b"".join(f.raw for f in plugin.frames) + plugin.stderr
    assert b"IMAGE-BYTES-MARKER" not in everything  # nothing read from a file is logged or shown
    assert SECRET_SIGN.encode() not in everything and KEY.encode() not in everything


def test_several_files_reach_a_chat_app_as_its_files(plugin, server) -> None:
    dify = FakeDify(server)
    files = [dify.source("a.png", PNG, "image/png"), dify.source("b.txt", b"hello", "text/plain")]
    frames = plugin.collect(plugin.invoke("dify_app", params(server, "chat", query="What is in these?",
                                                             upload_files=files)))
    assert error_of(frames) is None
    assert "".join(texts(frames)) == "Files: a.png,b.txt"
    assert [f["type"] for f in dify.runs[-1]["files"]] == ["image", "document"]


def test_a_stream_that_echoes_the_signed_url_shows_it_masked(plugin, server) -> None:
    dify = FakeDify(server)
    sent = dify.source("a.png", PNG, "image/png")
    dify.echo = " from " + sent["url"] + " or " + quote(sent["url"], safe="")  # as given and percent-encoded
    frames = plugin.collect(plugin.invoke("dify_app", params(server, upload_files=[sent], file_input="image")))
    assert error_of(frames) is None
    assert "from *** or ***" in "".join(texts(frames))
    assert all(SECRET_SIGN.encode() not in f.raw for f in plugin.frames)


@pytest.mark.parametrize(("setup", "expected"), [
    ("too large", "is larger than the called app accepts (HTTP 413 file_too_large"),
    ("unreadable", "cannot read 'a.png' from Dify's file URL (HTTP 403)"),
    ("not files", "Invalid parameter 'upload_files': expected Dify files"),
])
def test_upload_failures_fail_the_node_with_one_line(plugin, server, setup: str, expected: str) -> None:
    dify = FakeDify(server, max_bytes=100 if setup == "too large" else 15 * 1024 * 1024)
    sent = dify.source("a.png", PNG, "image/png", sign="wrong-signature-0000" if setup == "unreadable" else SECRET_SIGN)
    value: Any = "https://x.test/a.png" if setup == "not files" else [sent]
    frames = plugin.collect(plugin.invoke("dify_app", params(server, upload_files=value, file_input="image")))
    error = error_of(frames)
    assert error is not None and expected in error["message"] and "\n" not in error["message"]
    assert not dify.runs
    everything = b"".join(f.raw for f in plugin.frames) + plugin.stderr
    assert b"wrong-signature-0000" not in everything and SECRET_SIGN.encode() not in everything
