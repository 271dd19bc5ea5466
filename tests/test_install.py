"""Install test, as Dify's plugin daemon installs a package (dify_plugin_sdk.md sections 7 and 8).

Build the .difypkg, unpack it into an empty folder, create a fresh Python 3.12 virtual
environment there (`.venv`, as the daemon does), install from the shipped requirements.txt (the
daemon runs `uv pip install --prerelease=allow -r requirements.txt`; here `uv` when it is on PATH,
else pip with `--pre`, the same rule), pre-compile and `import dify_plugin` as the daemon does, then
start `python -m main` with INSTALL_METHOD=local from the unpacked folder, wait for the first
heartbeat, validate the provider and invoke every tool the provider YAML declares once, against a
local SSE server on 127.0.0.1.

Needs the package registry (PyPI). When the registry cannot be reached the test is skipped with
the reason; it never passes without having installed and run the plugin.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from devkit.package import build
from devkit.plugin_runner import PluginProcess, error_of, summary_of, texts
from devkit.sse_server import SSEServer

pytestmark = [pytest.mark.network, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
PROBE_TIMEOUT = 60
INSTALL_TIMEOUT = 900
LOCAL_ONLY = {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}


def registry_unreachable() -> str | None:
    """None when pip can fetch a package we need from the configured index; else the reason."""
    probe = "httpx-sse"
    with tempfile.TemporaryDirectory() as dest:
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--retries",
                 "1", "--timeout", "15", "--dest", dest, probe],
                capture_output=True, text=True, timeout=PROBE_TIMEOUT, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return f"package registry unreachable: `pip download {probe}` took more than {PROBE_TIMEOUT} s"
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()
        return f"package registry unreachable: `pip download {probe}` failed: {tail[-1] if tail else proc.returncode}"
    return None


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = INSTALL_TIMEOUT) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n" \
                                 f"{proc.stderr[-3000:]}"
    return proc.stdout


def python312() -> str:
    if sys.version_info[:2] == (3, 12):
        return sys.executable
    found = shutil.which("python3.12")
    assert found, "Python 3.12 is needed: the daemon always builds the plugin's venv with 3.12"
    return found


def install_like_the_daemon(plugin_dir: Path) -> tuple[Path, str]:
    """Returns the venv's python and how the requirements were installed."""
    venv_python = plugin_dir / ".venv" / "bin" / "python"
    uv = shutil.which("uv")
    if uv:
        run([uv, "venv", ".venv", "--python", "3.12"], plugin_dir)
        run([uv, "pip", "install", "--prerelease=allow", "-r", "requirements.txt"], plugin_dir,
            {"VIRTUAL_ENV": str(plugin_dir / ".venv")})
        how = "uv pip install --prerelease=allow -r requirements.txt"
    else:
        run([python312(), "-m", "venv", ".venv"], plugin_dir)
        run([str(venv_python), "-m", "pip", "install", "--disable-pip-version-check", "--pre", "-r",
             "requirements.txt"], plugin_dir)
        how = "pip install --pre -r requirements.txt"
    # The daemon's next steps: pre-compile the plugin (minus .venv) and check the SDK imports.
    run([str(venv_python), "-m", "compileall", "-q", "-x", r"\.venv|\.uv-cache", "."], plugin_dir)
    where = run([str(venv_python), "-c", "import sys, dify_plugin; print(sys.version_info[:2], dify_plugin.__file__)"],
                plugin_dir, {"PYTHONPATH": ""})
    assert "(3, 12)" in where and str(plugin_dir / ".venv") in where, where
    marker = plugin_dir / ".venv" / "dify" / "plugin.json"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"timestamp": int(time.time())}))
    return venv_python, how


# --- one call per tool: what to send and what must come back ------------------------------------

def call_sse_request(plugin: PluginProcess, server: SSEServer) -> None:
    server.route("/events", None, "id: 1\ndata: hello\n\n", 0.05, "event: note\ndata: world\n\n", "data: [DONE]\n\n")
    frames = plugin.collect(plugin.invoke("sse_request", {"url": server.url + "/events"}), timeout=60)
    assert error_of(frames) is None, error_of(frames)
    assert texts(frames) == ["hello\n", "world\n"]
    summary = summary_of(frames)
    assert summary["success"] is True and summary["total_events"] == 2 and summary["http_status"] == 200


def dify_chat_stream(request: Any, writer: Any) -> None:
    assert request.headers.get("authorization") == "Bearer app-install-test", request.headers
    body = json.loads(request.body)
    assert body["response_mode"] == "streaming" and body["query"] == "Hi", body
    writer.start()
    for event in ({"event": "message", "answer": "Hel", "conversation_id": "c1", "message_id": "m1"},
                  {"event": "message", "answer": "lo", "conversation_id": "c1", "message_id": "m1"},
                  {"event": "message_end", "conversation_id": "c1", "message_id": "m1",
                   "metadata": {"usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}}):
        writer.send(f"data: {json.dumps(event)}\n\n")
    writer.end()


def call_dify_app(plugin: PluginProcess, server: SSEServer) -> None:
    server.route("/v1/chat-messages", dify_chat_stream)
    params = {"base_url": server.url + "/v1", "api_key": "app-install-test", "app_type": "chat", "query": "Hi"}
    frames = plugin.collect(plugin.invoke("dify_app", params), timeout=60)
    assert error_of(frames) is None, error_of(frames)
    assert "".join(texts(frames)) == "Hello"
    summary = summary_of(frames)
    assert summary["success"] is True and summary["answer"] == "Hello"


CALLS: dict[str, Callable[[PluginProcess, SSEServer], None]] = {
    "sse_request": call_sse_request,
    "dify_app": call_dify_app,
}


def declared_tools(plugin_dir: Path) -> list[str]:
    manifest = yaml.safe_load((plugin_dir / "manifest.yaml").read_text(encoding="utf-8"))
    names = []
    for provider_path in manifest["plugins"]["tools"]:
        provider = yaml.safe_load((plugin_dir / provider_path).read_text(encoding="utf-8"))
        for tool_path in provider["tools"]:
            names.append(yaml.safe_load((plugin_dir / tool_path).read_text(encoding="utf-8"))["identity"]["name"])
    return names


def test_the_package_installs_and_runs_as_the_daemon_runs_it(tmp_path: Path) -> None:
    reason = registry_unreachable()
    if reason:
        pytest.skip(reason)
    started = time.monotonic()

    pkg = build(ROOT, tmp_path / "dist")
    plugin_dir = tmp_path / "plugin"
    plugin_dir.mkdir()
    with zipfile.ZipFile(pkg.path) as zf:
        zf.extractall(plugin_dir)
    shipped = sorted(p.relative_to(plugin_dir).as_posix() for p in plugin_dir.rglob("*") if p.is_file())
    assert shipped == pkg.files
    assert "requirements.txt" in shipped
    assert "pyproject.toml" not in shipped, "a shipped pyproject.toml makes the daemon use `uv sync` instead"

    venv_python, how = install_like_the_daemon(plugin_dir)
    installed = time.monotonic()

    tools = declared_tools(plugin_dir)
    missing = [name for name in tools if name not in CALLS]
    assert not missing, f"no install-test call for tool(s) {missing}: add one to CALLS in {Path(__file__).name}"

    env = {**LOCAL_ONLY, "PYTHONPATH": ""}
    with SSEServer() as server, PluginProcess(plugin_dir=plugin_dir, python=str(venv_python), env=env) as plugin:
        plugin.wait_ready(timeout=120)  # the daemon's limit for the first heartbeat
        assert plugin.proc.poll() is None
        declaration = plugin.frames[0].obj  # the manifest line comes first, without an "event" key
        assert "event" not in declaration, declaration

        server.route("/probe", None, "data: ok\n\n")
        frames = plugin.collect(plugin.validate({"test_url": server.url + "/probe"}), timeout=60)
        assert frames[0].obj["data"]["data"] == {"result": True}, frames[0].obj
        assert frames[-1].kind == "end"
        assert any(r.path == "/probe" for r in server.requests), "the provider's test URL was not opened"

        for name in tools:
            CALLS[name](plugin, server)
        assert plugin.bad_lines == [], plugin.bad_lines

    print(f"\ninstall test: {len(pkg.files)} files, {pkg.uncompressed} bytes; install ({how}) "
          f"{installed - started:.1f} s; run {time.monotonic() - installed:.1f} s; tools {tools}")
