"""Provider validation (issue 18.8, provider part; 18.3): every failure is the SDK's credential
validation error, one line, with every secret of the settings masked."""

from __future__ import annotations

import pytest
from dify_plugin.errors.tool import ToolProviderCredentialValidationError

from devkit.plugin_runner import error_of
from devkit.sse_server import Request, Writer
from provider.sse_request import SseRequestProvider
from tests.secret_forms import all_forms

PASSWORD = "hunter2-pass/word"
SIG = "sv+Sig/Abc=123 xyz"
GATEWAY = "gw-secret-0123456789"
SECRETS = (PASSWORD, SIG, GATEWAY, f"alice:{PASSWORD}")


def secret_url(base: str) -> str:
    """``base`` with a password in the user info and a signed-URL signature in the query."""
    from urllib.parse import quote

    return base.replace("http://", f"http://alice:{quote(PASSWORD, safe='')}@") + f"/s?sig={quote(SIG, safe='')}&v=1"


def failure(credentials) -> str:
    with pytest.raises(ToolProviderCredentialValidationError) as err:
        SseRequestProvider()._validate_credentials(credentials)
    message = str(err.value)
    assert message and "\n" not in message and err.value.__cause__ is None and err.value.__suppress_context__
    for form in all_forms(*SECRETS):
        assert form not in message, (form, message)
    return message


def echo_everything(request: Request, writer: Writer, status: int = 401, content_type: str = "application/json"):
    """Answers with every form of every secret in the reason phrase, the Content-Type and the body."""
    forms = " ".join(all_forms(*SECRETS))
    writer.body(status, f'{{"error": "{forms} {request.headers.get("authorization")}"}}',
                f"{content_type}; x={forms}", reason=f"Denied {forms}")


def test_a_closed_port_is_a_validation_error_without_the_url_credentials():
    message = failure({"test_url": secret_url("http://127.0.0.1:9"), "default_headers": f"X-Gateway: {GATEWAY}"})
    assert "127.0.0.1:9" in message and "***" in message


def test_an_error_status_echoing_every_secret_form_is_masked(server):
    server.route("/s", echo_everything)
    message = failure({"test_url": secret_url(server.url), "default_headers": f"X-Gateway: {GATEWAY}"})
    assert "401" in message
    assert server.requests[0].headers["x-gateway"] == GATEWAY


def test_a_wrong_content_type_echoing_every_secret_form_is_masked(server):
    server.route("/s", lambda r, w: echo_everything(r, w, 200, "text/html"))
    message = failure({"test_url": secret_url(server.url), "default_headers": f"X-Gateway: {GATEWAY}"})
    assert "text/event-stream" in message


def test_a_redirect_to_a_host_named_after_a_secret_is_masked(server):
    server.route("/s", lambda r, w: w.body(302, "", headers={"Location": f"http://{GATEWAY}.evil.test/"}))
    message = failure({"test_url": secret_url(server.url), "default_headers": f"X-Gateway: {GATEWAY}"})
    assert "***.evil.test" in message


@pytest.mark.parametrize("credentials, word", [
    ({"test_url": "http://xn--a-.com/"}, "test_url"),
    ({"test_url": "http://[::1"}, "test_url"),
    ({"default_headers": "[" * 5000 + "]" * 5000}, "default_headers"),
    ({"default_headers": '{"a":' * 3000 + "1" + "}" * 3000}, ""),
    ({"allowed_hosts": "10.0.0.0/99"}, "allowed_hosts"),
    ({"test_url": "http://0xa9fea9fe/latest"}, "metadata"),
])
def test_every_kind_of_failure_is_one_validation_error(credentials, word):
    assert word in failure(credentials)


def test_a_failure_that_is_not_ours_is_named_and_masked(monkeypatch):
    from utils.sse_client import SSEClient  # the provider imports it at first use (issue 19: start-up)

    def boom(self):
        raise RuntimeError(f"socket said {GATEWAY}\n and more")

    monkeypatch.setattr(SSEClient, "probe", boom)
    message = failure({"test_url": "http://127.0.0.1:9/s", "default_headers": f"Authorization: Bearer {GATEWAY}"})
    assert message == "Could not check test_url http://127.0.0.1:9/s: RuntimeError: socket said *** and more"


def test_validation_through_the_plugin_shows_no_secret(plugin, server):
    server.route("/s", echo_everything)
    for url in (secret_url(server.url), secret_url("http://127.0.0.1:9")):
        frames = plugin.collect(plugin.validate({"test_url": url, "default_headers": f"X-Gateway: {GATEWAY}"}),
                                timeout=60)
        error = error_of(frames)
        assert error is not None and error["error_type"] == "ToolProviderCredentialValidationError"
        everything = b"\n".join(f.raw for f in plugin.frames) + plugin.stderr
        for form in all_forms(*SECRETS):
            assert form.encode() not in everything, form
