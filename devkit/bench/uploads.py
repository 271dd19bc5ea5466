"""``python -m devkit.bench.uploads [MIB ...]``: what ``dify_app``'s ``upload_files`` costs the plugin.

For each size, a file of that many MiB is read from a look-alike of Dify's signed file URL and
uploaded to a look-alike ``/files/upload`` (``devkit/fake_dify.py``, in a separate process on
127.0.0.1), through ``utils.dify_api.with_uploads`` as the tool runs it. Prints the wall time, the
plugin's CPU time and its peak RSS rise (each size in a fresh interpreter, so peaks do not hide
each other). Not part of the test suite.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time


def serve(mib: int) -> None:
    """The look-alike Dify holding one file of ``mib`` MiB; prints where, then waits for stdin to close."""
    from devkit.fake_dify import FakeDify
    from devkit.sse_server import SSEServer

    with SSEServer() as server:
        dify = FakeDify(server, max_bytes=1 << 40)
        sent = dify.source("big.png", b"\x89PNG" + b"x" * (mib * 1024 * 1024), "image/png")
        print(json.dumps({"base_url": server.url + "/v1", "sent": sent}), flush=True)
        sys.stdin.read()


def measure(mib: int) -> str:
    """One upload of ``mib`` MiB in this interpreter: one line of figures."""
    from devkit.fake_dify import KEY
    from utils.dify_api import build_dify_request, with_uploads
    from utils.dify_files import DifyFile

    server = subprocess.Popen([sys.executable, "-m", "devkit.bench.uploads", "--serve", str(mib)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        info = json.loads(server.stdout.readline())
        sent = info["sent"]
        request = build_dify_request({
            "base_url": info["base_url"], "api_key": KEY, "app_type": "workflow", "file_input": "image",
            "upload_files": [DifyFile(sent["filename"], sent["url"], sent["mime_type"], sent["extension"],
                                      sent["size"])]})
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        wall, cpu = time.perf_counter(), time.process_time()
        with_uploads(request)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        rise = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    finally:
        server.stdin.close()  # type: ignore[union-attr]
        server.wait(10)
    return f"| {mib} | {wall:.2f} | {cpu:.2f} | {rise:.0f} |"


def main(argv: list[str]) -> int:
    if argv[:1] == ["--serve"]:
        serve(int(argv[1]))
        return 0
    if argv[:1] == ["--one"]:
        print(measure(int(argv[1])))
        return 0
    print("upload_files: read from the file URL + upload, per file (server in another process)")
    print("| MiB | wall s | plugin CPU s | plugin peak RSS rise MiB |")
    print("|---:|---:|---:|---:|")
    for mib in [int(a) for a in argv] or [1, 10, 50]:
        out = subprocess.run([sys.executable, "-m", "devkit.bench.uploads", "--one", str(mib)], capture_output=True,
                             text=True, timeout=300)
        print(out.stdout.strip() or out.stderr.strip()[-500:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
