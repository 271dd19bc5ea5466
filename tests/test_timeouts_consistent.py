"""The time limits agree with each other, in code and in the documentation.

- The daemon cuts any plugin call at 600 s (``PLUGIN_MAX_EXECUTION_TIMEOUT``), over stdio and serverless.
- In serverless mode the SDK ends a reply after ``MAX_REQUEST_TIMEOUT`` seconds without a line, with
  no error and no end frame; ``main.py`` sets it.
- A run waits at most ``read_timeout`` for a byte and lasts at most ``max_duration``, and ends
  itself, summary or error frame included, when that is reached.

So: the longest silence a run allows and its longest duration stay below ``MAX_REQUEST_TIMEOUT``
and below the daemon's 600 s, the tool's YAML states the bounds the code enforces, and a run
blocked before any response (a connect, a wait for headers) still ends at ``max_duration``.
"""

from __future__ import annotations

import ast
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from utils.errors import ConnectFailed, InvalidParameter
from utils.request_options import DAEMON_LIMIT_S, build_request_options
from utils.stream_run import StreamRun

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
PYTHON = str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable
SUMMARY_MARGIN_S = 10  # time a run needs after max_duration to send its summary
TIME_PARAMS = ("timeout", "read_timeout", "max_duration")


def main_env_kwargs() -> dict[str, object]:
    """The keyword arguments main.py gives ``DifyPluginEnv(...)``, read without running it."""
    tree = ast.parse((ROOT / "main.py").read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "DifyPluginEnv"]
    assert len(calls) == 1, "main.py should build exactly one DifyPluginEnv"
    return {kw.arg: ast.literal_eval(kw.value) for kw in calls[0].keywords if kw.arg}


@pytest.fixture(scope="module")
def max_request_timeout() -> int:
    """MAX_REQUEST_TIMEOUT as the plugin process sees it: DifyPluginEnv built the way main.py
    builds it, in a fresh interpreter (importing dify_plugin here would gevent-patch the tests),
    with a hostile environment that tries to lower it."""
    code = ("import json, sys; from dify_plugin import DifyPluginEnv; "
            "print(DifyPluginEnv(**json.loads(sys.argv[1])).MAX_REQUEST_TIMEOUT)")
    env = {**os.environ, "MAX_REQUEST_TIMEOUT": "5"}
    out = subprocess.run([PYTHON, "-c", code, json.dumps(main_env_kwargs())], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60, check=True)
    return int(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def tool_params() -> dict[str, dict]:
    doc = yaml.safe_load((ROOT / "tools" / "sse_request.yaml").read_text(encoding="utf-8"))
    return {p["name"]: p for p in doc["parameters"]}


def largest_accepted(name: str, documented_max: float) -> float:
    """Checks that the code accepts the documented maximum and nothing above it."""
    build_request_options({"url": "http://127.0.0.1/", name: documented_max})
    with pytest.raises(InvalidParameter):
        build_request_options({"url": "http://127.0.0.1/", name: documented_max + 0.001})
    return documented_max


def test_main_sets_max_request_timeout_and_the_environment_cannot_lower_it(max_request_timeout: int) -> None:
    assert "MAX_REQUEST_TIMEOUT" in main_env_kwargs()
    assert max_request_timeout == main_env_kwargs()["MAX_REQUEST_TIMEOUT"]


def test_documented_bounds_are_the_enforced_bounds(tool_params: dict[str, dict]) -> None:
    for name in TIME_PARAMS:
        param = tool_params[name]
        low, high = param["min"], param["max"]
        largest_accepted(name, high)
        with pytest.raises(InvalidParameter):
            build_request_options({"url": "http://127.0.0.1/", name: low - 0.001})
        texts = [*param["human_description"].values(), *filter(None, [param.get("llm_description")])]
        for text in texts:
            assert f"{low:g}-{high:g}" in text, f"{name}: the description does not state {low:g}-{high:g}: {text}"
    for text in [*tool_params["max_duration"]["human_description"].values(),
                 *filter(None, [tool_params["max_duration"].get("llm_description")])]:
        assert f"{DAEMON_LIMIT_S}" in text, f"max_duration: the description does not name the daemon's limit: {text}"


def test_no_legitimate_wait_outlasts_a_limit(tool_params: dict[str, dict], max_request_timeout: int) -> None:
    assert DAEMON_LIMIT_S == 600  # D internal/types/app/default.go: PLUGIN_MAX_EXECUTION_TIMEOUT
    longest_silence = largest_accepted("read_timeout", tool_params["read_timeout"]["max"])
    longest_connect = largest_accepted("timeout", tool_params["timeout"]["max"])
    longest_run = largest_accepted("max_duration", tool_params["max_duration"]["max"])
    # The run ends itself (summary or error frame) before the daemon cuts it.
    assert longest_run + SUMMARY_MARGIN_S <= DAEMON_LIMIT_S
    # In serverless mode, no wait the parameters allow, nor the whole run, goes without a line
    # for as long as the SDK's idle cut-off.
    assert longest_silence < max_request_timeout
    assert longest_connect < max_request_timeout
    assert longest_run + SUMMARY_MARGIN_S <= max_request_timeout
    # The SDK's cut-off is not the shorter of the two limits: the daemon's 600 s is the one a user meets.
    assert max_request_timeout >= DAEMON_LIMIT_S


def test_a_run_blocked_before_any_response_still_ends_at_max_duration() -> None:
    """A server that accepts the connection and never answers: with read_timeout 60 and
    max_duration 1, the run ends with its own error long before the read timeout would fire."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []

    def accept() -> None:
        try:
            while True:
                held.append(listener.accept()[0])
        except OSError:
            pass

    threading.Thread(target=accept, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/silent"
    options = build_request_options({"url": url, "read_timeout": 60, "timeout": 60, "max_duration": 1,
                                     "max_retries": 5, "retry_interval": 100})
    outcome: list[BaseException | str] = []

    def run() -> None:
        try:
            stream_run = StreamRun(options)
            for _ in stream_run.chunks():
                pass
            outcome.append(stream_run.summary.status)
        except BaseException as exc:  # reported below
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(30)  # half the read timeout
    listener.close()
    for sock in held:
        sock.close()
    assert not worker.is_alive(), "the run outlasted max_duration while waiting for the response"
    (result,) = outcome
    assert isinstance(result, ConnectFailed), result
    assert "max_duration" in str(result)


def test_every_tool_keeps_its_time_parameters_inside_the_limits(max_request_timeout: int) -> None:
    """Any tool of the plugin (not only sse_request) documents time bounds inside both limits."""
    checked = 0
    for path in sorted((ROOT / "tools").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for param in doc.get("parameters") or []:
            if param["name"] in TIME_PARAMS:
                checked += 1
                high = param.get("max")
                assert high is not None, f"{path.name}: {param['name']} has no max"
                assert high < max_request_timeout, f"{path.name}: {param['name']} max {high}"
                if param["name"] == "max_duration":
                    assert high + SUMMARY_MARGIN_S <= DAEMON_LIMIT_S, f"{path.name}: max_duration max {high}"
    assert checked >= len(TIME_PARAMS)
