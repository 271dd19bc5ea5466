r"""First event and start-up (issue 19): ``python -m devkit.bench --part first``.

- **warm first event**: in one warm process (gevent-patched as the SDK runs tools), the time from
  "call" to the first event of a stream whose server writes it at once: ours (``RequestOptions``
  parsed, ``StreamRun``, first chunk) against a raw ``httpx`` stream (a new ``httpx.Client`` per
  call on one shared TLS context, first ``iter_raw`` piece). Alternated, medians of ``runs`` x 40.
- **first call in a fresh process**: the plugin started as the daemon starts it, ready, 1 s later
  one invocation: invoke line written -> first text frame read (what a restarted plugin pays
  once; ``main.warm_up`` has run by then), against the median of 20 warm invocations after it.
  Also, in-process and without ``main.warm_up``: the first call right after the imports.
- **start-up**: the plugin started as the daemon starts it (``python -m main`` semantics,
  ``INSTALL_METHOD=local``), from ``import dify_plugin`` done to the first heartbeat on stdout; twice:
  in this checkout (our modules compiled from source when there is no ``__pycache__``, e.g. under
  ``PYTHONDONTWRITEBYTECODE=1``), and in a copy of the package's runtime files compiled as the daemon
  compiles an installed plugin before its first start (``python -m compileall -x '\.venv|\.uv-cache' .``
  in the plugin's directory: dify-plugin-daemon ``internal/core/local_runtime/setup_python_environment.go``,
  ``preCompile``).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from devkit.plugin_runner import ROOT

WARM = r"""
import sys, time, json, statistics
sys.path.insert(0, ".")
from gevent import monkey; monkey.patch_all(sys=True)
import httpx
from utils.pinned_transport import ssl_context
from utils.request_options import build_request_options
from utils.stream_run import StreamRun
url = sys.argv[1]; rounds = int(sys.argv[2])
context = ssl_context(True)
def ours():
    t = time.perf_counter()
    run = StreamRun(build_request_options({"url": url, "stream_format": "raw"}, []))
    chunks = run.chunks(timestamps=False)
    next(chunks); d = time.perf_counter() - t
    chunks.close(); return d
def raw():
    t = time.perf_counter()
    with httpx.Client(verify=context) as client, client.stream("GET", url) as response:
        next(response.iter_raw()); return time.perf_counter() - t
for _ in range(5): ours(); raw()
a, b = [], []
for _ in range(rounds):
    a.append(ours()); b.append(raw())
print(json.dumps({"ours": statistics.median(a), "raw": statistics.median(b)}))
"""

FRESH = r"""
import sys, time, json
sys.path.insert(0, ".")
from gevent import monkey; monkey.patch_all(sys=True)
import dify_plugin  # as in the plugin: the SDK and our modules are imported at start-up
from tools.sse_request import SseRequestTool
from utils.request_options import build_request_options
from utils.stream_run import StreamRun
t = time.perf_counter()
run = StreamRun(build_request_options({"url": sys.argv[1], "stream_format": "raw"}, []))
chunks = run.chunks(timestamps=False)
next(chunks)
print(json.dumps({"first": time.perf_counter() - t}))
"""

STARTUP = r"""
import sys, time
import dify_plugin
sys.stderr.write("IMPORTED %r\n" % time.monotonic()); sys.stderr.flush()
import runpy
runpy.run_module("main", run_name="__main__")
"""


def _python(code: str, *args: str, timeout: float = 120) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True,
                         timeout=timeout, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# What start-up reads of the package (the rest of the .difypkg is docs and requirements.txt).
RUNTIME_FILES = ("manifest.yaml", "main.py", "provider", "tools", "utils", "_assets")


def compiled_copy(into: Path) -> Path:
    """The package's runtime files copied into ``into`` and compiled as the daemon compiles an
    installed plugin (see the module's docstring); returns ``into``."""
    for name in RUNTIME_FILES:
        source = Path(ROOT) / name
        if source.is_dir():
            shutil.copytree(source, into / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, into / name)
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-x", r"\.venv|\.uv-cache", "."], cwd=into,
                   check=True, capture_output=True, timeout=120)
    return into


def startup_once(cwd: str | Path = ROOT) -> float:
    """Seconds from ``import dify_plugin`` done to the first heartbeat line on stdout, the plugin
    started in ``cwd``."""
    env = {**os.environ, "INSTALL_METHOD": "local", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-c", STARTUP], cwd=cwd, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        imported = None
        while imported is None:
            line = proc.stderr.readline()
            if not line:
                raise RuntimeError("the plugin ended before importing dify_plugin")
            if line.startswith(b"IMPORTED "):
                imported = float(line.split()[1])
        while True:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError("the plugin ended before its first heartbeat")
            if b'"heartbeat"' in line:
                return time.monotonic() - imported
    finally:
        proc.kill()
        proc.wait()


def first_frame(plugin, url: str) -> float:
    started = time.monotonic()
    session = plugin.invoke("sse_request", {"url": url, "stream_format": "raw", "output_mode": "text"})
    first = None
    for frame in plugin.frames_of(session, timeout=60):
        if first is None and frame.kind == "stream" and frame.message.get("type") == "text":
            first = frame.at - started
    if first is None:
        raise RuntimeError(f"no text frame: {plugin.stderr[-500:]!r}")
    return first


def through_plugin(url: str) -> tuple[float, float]:
    """(first call, median of 20 warm calls) in a freshly started plugin, invoke -> first text frame."""
    from devkit.bench.plugin import BenchPlugin

    plugin = BenchPlugin()
    try:
        plugin.wait_ready(120)
        time.sleep(1.0)
        first = first_frame(plugin, url)
        warm = statistics.median(first_frame(plugin, url) for _ in range(20))
        return first, warm
    finally:
        plugin.close()


def run(base: str, runs: int) -> list[str]:
    url = f"{base}/bulk?n=1&size=100"
    warm = [_python(WARM, url, "40") for _ in range(runs)]
    ours = statistics.median(w["ours"] for w in warm) * 1000
    raw = statistics.median(w["raw"] for w in warm) * 1000
    fresh = statistics.median(_python(FRESH, url)["first"] for _ in range(runs)) * 1000
    plugged = [through_plugin(url) for _ in range(runs)]
    first = statistics.median(p[0] for p in plugged) * 1000
    warm_plugin = statistics.median(p[1] for p in plugged) * 1000
    starts = [startup_once() * 1000 for _ in range(runs)]
    with tempfile.TemporaryDirectory(prefix="sse-request-package-") as package:
        compiled = compiled_copy(Path(package))
        starts_compiled = [startup_once(compiled) * 1000 for _ in range(runs)]
    checkout = ("from source: PYTHONDONTWRITEBYTECODE is set" if sys.flags.dont_write_bytecode
                and not (Path(ROOT) / "utils" / "__pycache__").exists() else "with its __pycache__ if any")
    return [
        f"\nfirst event and start-up (medians of {runs} processes; load {os.getloadavg()[0]:.2f})",
        f"  warm first event: ours {ours:.2f} ms, raw httpx (shared TLS context) {raw:.2f} ms: "
        f"overhead {ours - raw:+.2f} ms (target <= 1.5 ms)",
        f"  first call in a freshly started plugin (invoke -> first text frame): {first:.1f} ms, warm calls "
        f"{warm_plugin:.1f} ms: first-call extra {first - warm_plugin:+.1f} ms (target: first call <= 30 ms)",
        f"  (in-process, first call right after the imports, without main.warm_up: {fresh:.1f} ms)",
        f"  start-up, import dify_plugin done -> first heartbeat: {statistics.median(starts):.0f} ms "
        f"(runs {', '.join(f'{s:.0f}' for s in starts)}; target <= 60 ms; this checkout, {checkout})",
        f"  start-up as an installed plugin (its files compiled as the daemon's compileall leaves them): "
        f"{statistics.median(starts_compiled):.0f} ms (runs {', '.join(f'{s:.0f}' for s in starts_compiled)})",
    ]
