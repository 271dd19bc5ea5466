"""Secrets never appear in a message, a summary, a log line or an error."""

from __future__ import annotations

import base64
import gc
import io
import json
import logging
import os
import re
import string
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devkit.plugin_runner import summary_of
from devkit.sse_server import Request, Writer
from tests.helpers import collect, options, run
from utils.errors import ConnectFailed, HTTPStatusError
from utils.secrets import Redactor, install_log_filter, url_secrets
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


# -- every form of every secret (issue 18.3) -------------------------------------------------------
SECRET_TEXT = st.text(st.characters(blacklist_categories=("Cs",), max_codepoint=0xFFFF), min_size=8, max_size=24)


ASCII_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)
ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def encoded_forms(secret: str) -> dict[str, str]:
    json_form = json.dumps(secret)[1:-1]
    return {
        "raw": secret,
        "ascii upper-case": secret.translate(ASCII_UPPER),
        "ascii lower-case": secret.translate(ASCII_LOWER),
        "percent": quote(secret, safe=""),
        "percent, lower hex": re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), quote(secret, safe="")),
        "percent, slash kept": quote(secret),
        "form (+ for space)": quote_plus(secret, safe=""),
        "json": json_form,
        "json, ascii": json.dumps(secret, ensure_ascii=True)[1:-1],
        "json, slash escaped": json_form.replace("/", "\\/"),
    }


@settings(max_examples=300, deadline=None)
@given(SECRET_TEXT, st.sampled_from(["", "x ", "é/", "%2"]), st.sampled_from(["", " y", "/é", "%"]))
def test_every_encoded_form_of_a_secret_is_masked(secret, before, after):
    redact = Redactor([secret])
    for name, form in encoded_forms(secret).items():
        text = f"{before}{form}{after}"
        assert redact.found_in(text), name
        assert form not in redact(text), name


def test_the_basic_pair_of_the_url_user_info_is_masked():
    url = f"https://alice:{quote(PASSWORD, safe='')}@api.test/s"
    pair = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    redact = Redactor(url_secrets(url))
    assert redact(f"Authorization: Basic {pair}") == "Authorization: Basic ***"
    assert redact(pair.rstrip("=")) == "***"  # without its padding too


def test_a_basic_header_masks_the_pair_and_password_it_decodes_to():
    pair = base64.b64encode(b"carol:correct-horse-9").decode()
    redact = Redactor([f"Basic {pair}"])
    assert redact(f"{pair} carol:correct-horse-9 correct-horse-9") == "*** *** ***"


def test_the_token_after_bearer_is_masked_alone():
    assert Redactor([f"Bearer {TOKEN}"])(f"token={TOKEN}") == "token=***"


@pytest.mark.parametrize("query, shown", [
    ("sig=abc%2Bdef%2Fghi%3D&v=1", "sig=***&v=1"),
    ("X-Amz-Signature=ab12&X-Amz-Credential=AKIA%2F2024&lang=en", "X-Amz-Signature=***&X-Amz-Credential=***&lang=en"),
    ("api%5Fkey=short&q=a+b", "api%5Fkey=***&q=a+b"),
])
def test_url_masks_secret_query_values_in_any_encoding_and_length(query, shown):
    assert Redactor().url(f"https://api.test/s?{query}") == f"https://api.test/s?{shown}"


def test_a_percent_encoded_signature_is_masked_in_the_summary_url_and_sentence(server):
    server.route("/s", None, "data: a\n\n")
    _, summary = run({"url": server.url + "/s?sig=abc%2Bdef%2Fghi%3Djkl&lang=en"})
    text = json.dumps(summary)
    assert "abc%2Bdef" not in text and "abc+def" not in text
    assert summary["url"].endswith("/s?sig=***&lang=en")


def test_a_redactor_without_secrets_does_no_work():
    redact = Redactor(["short"])
    assert not redact.active and not redact.found_in("short") and redact("short") == "short"


def test_the_log_filter_masks_the_secrets_of_every_run_in_flight():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    install_log_filter(handler)
    log = logging.getLogger("tests.secrets.filter")
    log.addHandler(handler)
    log.propagate = False
    try:
        first, second = Redactor([TOKEN]), Redactor([f"alice:{PASSWORD}"])
        pair = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
        log.warning("run 1 sent %s, run 2 sent %s", quote(TOKEN, safe=""), pair)
        try:
            raise ValueError(f"boom {TOKEN}")
        except ValueError:
            log.exception("failed with %s", PASSWORD)
        del first, second
        gc.collect()
        log.warning("after the runs: %s", TOKEN)  # a run that ended masks nothing any more
    finally:
        log.removeHandler(handler)
    lines = stream.getvalue()
    assert "run 1 sent ***, run 2 sent ***" in lines and "failed with ***" in lines and "boom ***" in lines
    assert lines.count(TOKEN) == 1 and lines.rstrip().endswith(f"after the runs: {TOKEN}")


def test_main_installs_the_log_filter_on_the_sdk_handler_and_the_last_resort():
    probe = ("import logging, main; from dify_plugin.config.logger_format import plugin_logger_handler as h; "
             "from utils.secrets import SecretsFilter as F; "
             "print(any(isinstance(f, F) for f in h.filters), any(isinstance(f, F) for f in logging.lastResort.filters))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parent.parent, env={**os.environ, "INSTALL_METHOD": "local"})
    assert out.stdout.split()[-2:] == ["True", "True"], out.stderr[-2000:]


def test_value_masks_every_string_in_a_json_shape():
    redact = Redactor([TOKEN])
    shape = {"a": [TOKEN, {"b": f"x {TOKEN}"}, 3, None], TOKEN: (TOKEN,)}
    assert redact.value(shape) == {"a": ["***", {"b": "x ***"}, 3, None], "***": ("***",)}


def test_a_log_record_whose_arguments_do_not_fit_still_reaches_the_handler():
    keep = Redactor([TOKEN])
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s %s", (TOKEN,), None)
    assert install_log_filter(logging.NullHandler()).filter(record) is True
    del keep
