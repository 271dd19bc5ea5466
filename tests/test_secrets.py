"""Secrets never appear in a message, a summary, a log line or an error."""

from __future__ import annotations

import pytest

from devkit.plugin_runner import summary_of
from devkit.sse_server import Request, Writer
from tests.helpers import collect, options, run
from utils.errors import ConnectFailed, HTTPStatusError
from utils.secrets import Redactor
from utils.sse_client import SSEClient

TOKEN = "sk-live-0123456789abcdef"
PASSWORD = "hunter2-password"
API_KEY = "AIzaSyD-query-key-999"


def test_redactor_masks_every_known_secret_longest_first():
    redact = Redactor(["abcdefgh", "abcdefgh-longer", "short"])
    assert redact("x abcdefgh-longer y abcdefgh z short") == "x *** y *** z short"


def test_url_is_shown_without_user_info_or_secret_query_values():
    shown = Redactor([PASSWORD, API_KEY]).url(f"https://me:{PASSWORD}@api.test:8443/s?key={API_KEY}&lang=en")
    assert shown == "https://***@api.test:8443/s?key=***&lang=en"


def test_options_collect_the_secrets_of_a_request():
    opts = options(url=f"https://me:{PASSWORD}@api.test/s?api_key={API_KEY}", auth_type="bearer", auth_token=TOKEN,
                   headers=f"Cookie: session=cookie-secret-1\nX-Api-Key: {TOKEN}-2")
    text = f"{PASSWORD} {API_KEY} {TOKEN} session=cookie-secret-1 {TOKEN}-2"
    assert all(secret not in opts.redactor(text) for secret in (PASSWORD, API_KEY, TOKEN, "cookie-secret-1"))


def test_error_body_echoing_the_token_is_masked(server):
    def echo(request: Request, writer: Writer) -> None:
        writer.body(401, f'{{"error": "bad token {request.headers["authorization"]}"}}')

    server.route("/s", echo)
    with pytest.raises(HTTPStatusError) as err:
        collect(SSEClient(options(url=server.url + "/s", auth_type="bearer", auth_token=TOKEN)))
    assert TOKEN not in str(err.value) and "***" in str(err.value)


def test_connection_error_hides_credentials_in_the_url():
    url = f"http://me:{PASSWORD}@127.0.0.1:9/s?token={API_KEY}"
    with pytest.raises(ConnectFailed) as err:
        collect(SSEClient(options(url=url, max_retries=0)))
    assert PASSWORD not in str(err.value) and API_KEY not in str(err.value)


def test_summary_hides_credentials_in_the_url(server):
    server.route("/s", None, "data: a\n\n")
    url = server.url.replace("http://", f"http://me:{PASSWORD}@") + f"/s?api_key={API_KEY}"
    _, summary = run({"url": url})
    text = str(summary)
    assert PASSWORD not in text and API_KEY not in text
    assert server.requests[0].headers["authorization"].startswith("Basic ")  # the credentials were still sent


def test_no_secret_in_any_frame_or_log_line_of_the_plugin(plugin, server):
    def drops_once(request: Request, writer: Writer) -> None:
        writer.send("retry: 10\nid: 1\ndata: a\n\n")
        if len(server.requests) == 1:
            writer.abort()
            return
        writer.end()

    server.route("/s", drops_once)
    url = server.url.replace("http://", f"http://me:{PASSWORD}@") + f"/s?api_key={API_KEY}"
    params = {"url": url, "auth_type": "api_key", "auth_token": TOKEN, "auth_header": "X-Api-Key",
              "headers": "Cookie: sid=cookie-secret-2"}
    session = plugin.invoke("sse_request", params, credentials={"default_headers": "X-Gateway: gw-secret-3"})
    frames = plugin.collect(session, timeout=30)
    assert frames[-1].kind == "end" and len(server.requests) == 2
    assert server.requests[0].headers["x-gateway"] == "gw-secret-3"
    logs = [f.obj["data"]["message"] for f in plugin.frames if f.event == "log"]
    assert any("reconnecting" in line for line in logs)  # the log lines checked below exist
    everything = b"\n".join(f.raw for f in plugin.frames)  # session frames and log lines alike
    for secret in (TOKEN, PASSWORD, API_KEY, "cookie-secret-2", "gw-secret-3"):
        assert secret.encode() not in everything


def test_a_server_echoing_the_token_in_its_events_shows_it_masked_everywhere(plugin, server):
    def echo(request: Request, writer: Writer) -> None:
        writer.send(f"data: your header was {request.headers['authorization']}\n\n")
        writer.send("data: plain event\n\n")
        writer.end()

    server.route("/s", echo)
    for mode in ("text", "events", "summary"):
        params = {"url": server.url + "/s", "auth_type": "bearer", "auth_token": TOKEN, "output_mode": mode}
        frames = plugin.collect(plugin.invoke("sse_request", params), timeout=30)
        summary = summary_of(frames)
        assert summary is not None and summary["total_events"] == 2
        if mode != "summary":  # summary mode's JSON keeps no events (issue 12: an agent reads it)
            assert summary["events"][0]["data"] == "your header was ***"  # the whole header value is a secret
            assert summary["events"][1]["data"] == "plain event"
        assert all(TOKEN.encode() not in f.raw for f in frames), mode
