"""The plugin keeps no state between calls: one process (stdio, as the daemon runs it) serves two
overlapping calls with different provider credentials, tool headers and tokens, and each request,
each stream and each summary holds only its own call's data. A later call without credentials
carries none of theirs.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from devkit.plugin_runner import PluginProcess, error_of, summary_of, texts
from devkit.sse_server import Request, SSEServer, Writer

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
TOOL = "sse_request"
GATE_S = 15.0

CALLS = {
    "a": {"tenant": "tenant-aaaa", "gateway": "gw-secret-aaaa", "call": "call-aaaa", "token": "tok-secret-aaaa"},
    "b": {"tenant": "tenant-bbbb", "gateway": "gw-secret-bbbb", "call": "call-bbbb", "token": "tok-secret-bbbb"},
}


def credentials(who: str) -> dict[str, str]:
    c = CALLS[who]
    return {"default_headers": f"X-Tenant: {c['tenant']}\nX-Gateway-Key: {c['gateway']}"}


def params(server: SSEServer, who: str) -> dict[str, str]:
    c = CALLS[who]
    return {"url": f"{server.url}/overlap?who={who}", "headers": f"X-Call: {c['call']}",
            "auth_type": "bearer", "auth_token": c["token"], "output_mode": "events"}


@pytest.fixture(scope="module")
def plugin():
    python = str(VENV_PYTHON) if VENV_PYTHON.exists() else None
    with PluginProcess(**({"python": python} if python else {})) as proc:
        proc.wait_ready(60)
        yield proc


def test_two_overlapping_calls_keep_their_own_credentials(plugin: PluginProcess) -> None:
    both_open = threading.Barrier(2, timeout=GATE_S)
    overlapped: list[bool] = []

    def route(request: Request, writer: Writer) -> None:
        who = request.query.get("who", "none")
        writer.start()
        writer.send(f"data: {who}-0\n\n")
        if who in CALLS:  # the two calls wait for each other: both streams are open at once
            try:
                both_open.wait()
                overlapped.append(True)
            except threading.BrokenBarrierError:
                overlapped.append(False)
        for i in range(1, 4):
            writer.send(f"data: {who}-{i}\n\n")
        writer.end()

    with SSEServer() as server:
        server.route("/overlap", route)

        def call(who: str):
            session = plugin.invoke(TOOL, params(server, who), credentials(who))
            return plugin.collect(session, timeout=60)

        with ThreadPoolExecutor(2) as pool:
            frames = dict(zip("ab", pool.map(call, "ab"), strict=True))

        # A later call in the same process, without credentials, auth or headers.
        later = plugin.collect(plugin.invoke(TOOL, {"url": f"{server.url}/overlap?who=none"}), timeout=60)
        requests = {r.query["who"]: r for r in server.requests}

    assert overlapped == [True, True], "the two calls did not overlap"

    for who, other in (("a", "b"), ("b", "a")):
        mine, theirs = CALLS[who], CALLS[other]
        sent = requests[who].headers
        assert sent["x-tenant"] == mine["tenant"]
        assert sent["x-gateway-key"] == mine["gateway"]
        assert sent["x-call"] == mine["call"]
        assert sent["authorization"] == f"Bearer {mine['token']}"
        assert not any(value in str(sent) for value in theirs.values()), sent

        assert frames[who][-1].kind == "end"
        assert error_of(frames[who]) is None
        raw = b"\n".join(f.raw for f in frames[who])
        for value in theirs.values():
            assert value.encode() not in raw, f"call {who}'s frames hold call {other}'s {value}"
        for secret in (mine["token"], mine["gateway"]):  # and its own secrets are masked, not echoed
            assert secret.encode() not in raw

        summary = summary_of(frames[who])
        assert summary is not None and summary["success"] is True
        assert summary["url"].endswith(f"who={who}")
        assert summary["total_events"] == 4
        assert [e["data"] for e in summary["events"]] == [f"{who}-{i}" for i in range(4)]
        streamed = [json.loads(line) for line in "".join(texts(frames[who])).splitlines() if line.strip()]
        assert [e["data"] for e in streamed] == [f"{who}-{i}" for i in range(4)]

    sent = requests["none"].headers
    for name in ("x-tenant", "x-gateway-key", "x-call", "authorization"):
        assert name not in sent, f"a call without credentials sent {name}: {sent.get(name)}"
    raw = b"\n".join(f.raw for f in later)
    for c in CALLS.values():
        for value in c.values():
            assert value.encode() not in raw
    later_summary = summary_of(later)
    assert later_summary is not None and later_summary["total_events"] == 4
