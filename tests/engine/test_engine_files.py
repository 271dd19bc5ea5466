"""A Start node's file through ``dify_app`` in Dify's engine (issue 16): the example workflow
``examples/call-dify-workflow-with-a-file.yml`` gets a user's upload as Dify's Start node holds it
(a graphon ``File``, ``local_file``), the tool node hands it to the plugin as Dify does
(``File.to_plugin_parameter()``, its URL signed as Dify signs it), and the plugin reads it there,
uploads it to the called app and runs it; a look-alike of both Difys on 127.0.0.1 checks each step."""

from __future__ import annotations

import json

import pytest
from graphon.file.enums import FileTransferMethod, FileType
from graphon.file.models import File
from graphon.file.runtime import get_workflow_file_runtime, set_workflow_file_runtime

from devkit.dify_engine import SignedFileURLs, load_dsl, run_graph
from devkit.fake_dify import KEY, SECRET_SIGN, FakeDify
from tests.engine.support import EXAMPLES

EXAMPLE = EXAMPLES / "call-dify-workflow-with-a-file.yml"
PHOTO = b"\x89PNG\r\n\x1a\n" + b"engine-photo-bytes" * 64


@pytest.fixture
def signed_urls(server):
    """Dify's file URLs for this test: INTERNAL_FILES_URL is the local look-alike."""
    before = get_workflow_file_runtime()
    set_workflow_file_runtime(SignedFileURLs(server.url, SECRET_SIGN))
    yield
    set_workflow_file_runtime(before)


def start_file(file_id: str, name: str = "apple.png") -> File:
    """A user's upload as the Start node holds it (Dify's file factory, ``local_file``)."""
    return File(type=FileType.IMAGE, transfer_method=FileTransferMethod.LOCAL_FILE, reference=file_id,
                filename=name, extension=".png", mime_type="image/png", size=len(PHOTO))


def run_example(runtime, server, photo: File, food_type: str = "fruit"):
    app = load_dsl(EXAMPLE)
    assert app.mode == "workflow"
    return run_graph(app.graph, runtime, inputs={"photo": photo, "food_type": food_type},
                     environment={**app.environment, "DIFY_API_BASE": server.url + "/v1", "DIFY_WORKFLOW_KEY": KEY})


def test_a_start_node_file_reaches_the_called_workflow_and_its_figures_come_back(runtime, server, signed_urls):
    dify = FakeDify(server)
    photo = start_file(dify.add_file("apple.png", PHOTO, "image/png"))
    food_type = 'apple "Fuji"\nred'
    run = run_example(runtime, server, photo, food_type)
    assert run.succeeded, run.node_error("detect")

    sent = runtime.calls[-1]["upload_files"]  # what the plugin got: Dify's plugin file parameter
    assert sent["dify_model_identity"] == "__dify__file__" and sent["filename"] == "apple.png"
    assert sent["url"].startswith(server.url + "/files/") and f"sign={SECRET_SIGN}" in sent["url"]

    (upload,) = dify.uploads.values()  # read from the signed URL, uploaded as the run's user
    assert upload.data == PHOTO and upload.name == "apple.png" and upload.mime_type == "image/png"
    body = dify.runs[-1]
    assert body["inputs"] == {"food_type": food_type, "image": {"type": "image", "transfer_method": "local_file",
                                                                "upload_file_id": upload.id}}
    assert body["user"] == upload.user and body["response_mode"] == "streaming"

    assert "".join(e.chunk for _, e in run.chunks(["detect", "text"])) == "Detected: apple.png"
    outputs = run.graph_outputs
    assert outputs["outputs"] == {"label": "apple.png", "confidence": 0.93}
    assert outputs["total_tokens"] == 812 and outputs["elapsed_time"] == 1.62
    assert outputs["total_price"] == pytest.approx(0.00406) and outputs["success"] is True
    # the signed URL is a secret: nothing the engine shows after the tool node carries it
    shown = repr([e for _, e in run.events if getattr(e, "node_id", None) not in ("start", "detect")])
    assert SECRET_SIGN not in shown and KEY not in shown
    assert SECRET_SIGN not in json.dumps(run.outputs("detect"), default=str)


def test_a_file_the_called_app_refuses_fails_the_run_with_one_line(runtime, server, signed_urls):
    dify = FakeDify(server, max_bytes=100)
    run = run_example(runtime, server, start_file(dify.add_file("apple.png", PHOTO, "image/png")))
    assert run.failed is not None and not dify.runs
    error = run.node_error("detect")
    assert "'upload_files': 'apple.png' is larger than the called app accepts (HTTP 413 file_too_large" in error
    assert SECRET_SIGN not in error and KEY not in error
