"""Every form of every secret is masked wherever text leaves the plugin (issue 18.3), checked
through the plugin runtime: a local server echoes each secret, in each form a server may write it
(raw, percent-encoded, Base64 of a Basic pair, the token after ``Bearer``), in each place it
controls (event data, ``id:``, ``event:``, the reason phrase, the Content-Type, a redirect's
host), and every stdout frame (messages, variables, summary, errors, logs) and every stderr line
of the plugin is scanned for every form.

Cross-cutting: the masking of ``id:``/``event:``/``last_event_id`` and of every outgoing frame is
the run's (tools/messages.py, utils/stream_run.py); the reason phrase, Content-Type and refused
redirect host in error messages are the transport's (utils/sse_client.py). Those cases stay red
until those pieces land; nothing here is marked xfail."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from devkit.plugin_runner import summary_of
from devkit.sse_server import Request, Writer
from tests.secret_forms import all_forms

TOKEN = "tok+en/0123456789=AbC"  # a Bearer token with the characters percent-encoding changes
PASSWORD = "hunter2-pass/word"
SIG = "sv+Sig/Abc=123 xyz"  # a signed-URL signature (as in ?sig=...), with a space
GATEWAY = "sk-live-0123456789abcdef"  # an administrator's gateway key, valid in a host name
BASIC = "carol:correct-horse-9"

CONFIGS = {
    # URL user info (httpx sends it as Basic), a signature in the query, a Bearer header, a default header
    "url-bearer": (
        {"auth_type": "bearer", "auth_token": TOKEN},
        (TOKEN, f"Bearer {TOKEN}", PASSWORD, f"alice:{PASSWORD}", SIG, GATEWAY),
    ),
    # auth_type basic with user:password
    "basic": ({"auth_type": "basic", "auth_token": BASIC}, (BASIC, SIG, GATEWAY)),
}


def target(server, config: str, path: str) -> str:
    base = server.url
    if config == "url-bearer":
        base = base.replace("http://", f"http://alice:{quote(PASSWORD, safe='')}@")
    return f"{base}{path}?sig={quote(SIG, safe='')}&lang=en"


def echo(place: str, forms: list[str]):
    joined = " ".join(forms)
    host_forms = [f.lower() for f in forms if re.fullmatch(r"[A-Za-z0-9-]{1,63}", f)]

    def route(request: Request, writer: Writer) -> None:
        if place in ("data", "id", "event"):
            writer.start()
            for form in [*forms, joined]:
                field = {"data": f"data: {form}", "id": f"id: {form}\ndata: x", "event": f"event: {form}\ndata: x"}
                writer.send(field[place] + "\n\n")
            writer.send(f"data: {request.headers.get('authorization')}\n\n")
            writer.end()
            return
        if place == "redirect-host":
            writer.body(302, b"", None, {"Location": f"http://{'-'.join(host_forms)[:60]}.evil.test/"})
            return
        status, content_type = (401, "application/json") if place == "reason-phrase" else (200, "text/html")
        writer.body(status, f'{{"error": "{joined}"}}', f"{content_type}; x={joined}", reason=f"Denied {joined}")

    return route


def leaks(plugin, forms: list[str], since: tuple[int, int]) -> list[str]:
    """The forms found in the frames and stderr the plugin wrote since ``since`` (see ``mark``)."""
    frames, stderr = since
    everything = b"\n".join(f.raw for f in plugin.frames[frames:]) + b"\n" + plugin.stderr[stderr:]
    return [form for form in forms if form.encode() in everything]


def mark(plugin) -> tuple[int, int]:
    return len(plugin.frames), len(plugin.stderr)


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("place", ["data", "id", "event"])
@pytest.mark.parametrize("mode", ["text", "events", "summary"])
def test_no_form_of_a_secret_echoed_in_the_stream_leaves_the_plugin(plugin, server, config, place, mode):
    params, secrets = CONFIGS[config]
    forms = all_forms(*secrets)
    server.route("/s", echo(place, forms))
    since = mark(plugin)
    params = {**params, "url": target(server, config, "/s"), "output_mode": mode, "max_retries": 0}
    frames = plugin.collect(plugin.invoke("sse_request", params,
                                          credentials={"default_headers": f"X-Gateway: {GATEWAY}"}), timeout=30)
    summary = summary_of(frames)
    assert summary is not None and summary["total_events"] == len(forms) + 2, summary
    assert server.requests[-1].headers["x-gateway"] == GATEWAY  # the secrets were sent
    assert leaks(plugin, forms, since) == []


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("place", ["reason-phrase", "content-type", "redirect-host"])
def test_no_form_of_a_secret_in_a_refused_response_leaves_the_plugin(plugin, server, config, place):
    params, secrets = CONFIGS[config]
    forms = all_forms(*secrets)
    server.route("/s", echo(place, forms))
    since = mark(plugin)
    url = target(server, config, "/s").replace("127.0.0.1", "localhost")
    params = {**params, "url": url, "max_retries": 0}
    # Only names are allowed: the redirect's host, named after a secret, is refused by name.
    credentials = {"default_headers": f"X-Gateway: {GATEWAY}", "allowed_hosts": "localhost"}
    frames = plugin.collect(plugin.invoke("sse_request", params, credentials=credentials), timeout=30)
    assert frames[-1].kind == "end" and any(f.kind == "error" for f in frames)
    assert len(server.requests) == 1
    assert leaks(plugin, forms, since) == []
