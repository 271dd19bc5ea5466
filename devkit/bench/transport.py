"""Parts ``fairness`` and ``bomb``: the transport's guarantees under hostile input (issue 18.1, 18.6).

- ``fairness``: one plugin process runs a flood (a fast plain stream from the lean server, or a
  deflate body that inflates on the plugin's CPU without touching the socket) and, meanwhile, a
  slow stream (an event every 0.2 s). Printed: the slow run's first-event delay, largest gap
  between its events and largest server-write -> stdout latency, and the largest heartbeat gap
  (HEARTBEAT_INTERVAL=1) while the flood runs.
- ``bomb``: peak RSS rise of a fresh interpreter running one ``SSEClient`` stream over a 3 KB
  double-gzip body that inflates to 256 MiB of events, with and without ``max_stream_mb``.

The routes and measurements here are also what ``tests/test_transport*.py`` assert on.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path
from typing import Any

from devkit.plugin_runner import PluginProcess
from devkit.sse_server import Request, SSEServer, Writer

ROOT = Path(__file__).resolve().parent.parent.parent
EVENT = b"data: " + b"0" * 1000 + b"\n\n"  # 1 KiB-ish event (1002 B)
SLOW_EVENTS = 25
SLOW_INTERVAL = 0.2


def bomb(mib: int, layers: int = 2) -> bytes:
    """``mib`` MiB of ``EVENT``s, gzip-compressed ``layers`` times (2: about 3 KB for 256 MiB)."""
    c = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = EVENT * 1024
    body = b"".join(c.compress(block) for _ in range(mib)) + c.flush()
    for _ in range(layers - 1):
        body = gzip.compress(body, 9)
    return body


def deflate_flood(mib: int) -> bytes:
    """``mib`` MiB of ``EVENT``s as raw deflate (RFC 1951), about 1 KB per MiB: a full flush
    resets the compressor, so one compressed MiB can be repeated as is."""
    c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    piece = c.compress(EVENT * 1024) + c.flush(zlib.Z_FULL_FLUSH)
    return piece * mib + zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS).flush()


def encoded_route(body: bytes, coding: str, pieces: int = 1):
    def route(request: Request, writer: Writer) -> None:
        writer.start(headers={"Content-Encoding": coding})
        writer.send_pieces(body, pieces)
        writer.end()

    return route


def slow_route(request: Request, writer: Writer) -> None:
    """An event every ``SLOW_INTERVAL`` s whose data is ``<n> <send time>`` (time.monotonic)."""
    writer.start()
    for n in range(SLOW_EVENTS):
        writer.send(f"data: {n} {time.monotonic()!r}\n\n")
        time.sleep(SLOW_INTERVAL)
    writer.end()


def flood_and_slow(flood_url: str, slow_url: str, flood_seconds: float = 8) -> dict[str, Any]:
    """Runs a flood (``max_duration`` = ``flood_seconds``) and, a second later, a slow stream in one
    plugin process; returns the figures (seconds)."""
    with PluginProcess(env={"HEARTBEAT_INTERVAL": "1"}) as plugin:
        plugin.wait_ready(60)
        flood_started = time.monotonic()
        flood = plugin.invoke("sse_request", {"url": flood_url, "stream_format": "raw", "output_mode": "summary",
                                              "max_stream_mb": 0, "max_duration": flood_seconds,
                                              "read_timeout": 60})
        flood_frames: list = []
        reader = threading.Thread(target=lambda: flood_frames.extend(plugin.frames_of(flood, 120)), daemon=True)
        reader.start()
        time.sleep(1.0)  # the flood is under way
        started = time.monotonic()
        slow = plugin.invoke("sse_request", {"url": slow_url, "stream_format": "raw", "output_mode": "text"})
        arrivals: list[float] = []
        latencies: list[float] = []
        for frame in plugin.frames_of(slow, 120):
            if frame.kind == "stream" and frame.message.get("type") == "text":
                for line in frame.message["message"]["text"].splitlines():
                    arrivals.append(frame.at)
                    latencies.append(frame.at - float(line.split()[1]))
        ended = time.monotonic()
        reader.join(120)
        flood_end = max((f.at for f in flood_frames), default=ended)
        beats = [b for b in plugin.heartbeats() if flood_started - 1 <= b <= max(ended, flood_end)]
    summary = next((f.message["message"]["json_object"] for f in flood_frames
                    if f.kind == "stream" and f.message.get("type") == "json"), {})
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    beat_gaps = [b - a for a, b in zip(beats, beats[1:], strict=False)]
    return {
        "slow_events": len(arrivals),
        "first_event_after_s": arrivals[0] - started if arrivals else float("inf"),
        "largest_gap_s": max(gaps, default=float("inf")),
        "largest_latency_s": max(latencies, default=float("inf")),
        "largest_heartbeat_gap_s": max(beat_gaps, default=float("inf")),
        "flood_mb": summary.get("bytes_received", 0) / 1e6,
        "flood_status": summary.get("status"),
        "flood_outlasted_slow": flood_end >= ended - 0.5,
    }


# VmHWM, not getrusage's ru_maxrss: Linux keeps ru_maxrss across fork + exec, so a child started by a
# large process (pytest) would report the parent's size.
RSS_SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
from utils.request_options import build_request_options
from utils.sse_client import SSEClient
def hwm():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))
before = hwm()
options = build_request_options({"url": sys.argv[2], "max_stream_mb": int(sys.argv[3]), "max_event_kb": 64,
                                 "read_timeout": 60, "max_duration": 120})
client = SSEClient(options)
events = sum(len(batch) for batch in client.stream())
end = getattr(client, "report", None)
print(json.dumps({"before_kib": before, "peak_kib": hwm(),
                  "events": events, "bytes": client.bytes_received,
                  "end": str(end.end) if end is not None else str(client.report.end)}))
"""


def peak_rss_of_one_stream(url: str, max_stream_mb: int, root: Path = ROOT) -> dict[str, Any]:
    """One stream in a fresh interpreter (the code under ``root``): its figures and peak RSS rise."""
    out = subprocess.run([sys.executable, "-c", RSS_SCRIPT, str(root), url, str(max_stream_mb)], cwd=root,
                         capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(root)})
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    figures["rise_mib"] = (figures["peak_kib"] - figures["before_kib"]) / 1024
    return figures


def fairness(base: str, runs: int) -> list[str]:
    lines = ["\nfairness: a flood (max_duration 8 s) and a slow stream (25 events, 0.2 s apart) in one plugin "
             "process, HEARTBEAT_INTERVAL=1; per run"]
    lines.append("| flood | slow run: first event after | largest gap | largest latency | heartbeat gap | "
                 "flood MB | flood status |")
    lines.append("|---|---:|---:|---:|---:|---:|---|")
    with SSEServer() as server:
        server.route("/flood", encoded_route(deflate_flood(4096), "deflate", pieces=64))
        server.route("/slow", slow_route)
        floods = {"plain (lean server)": f"{base}/volume?bytes={8 << 30}&size=1024",
                  "deflate, 4 GiB inflated": server.url + "/flood"}
        for _ in range(runs):
            for name, url in floods.items():
                f = flood_and_slow(url, server.url + "/slow")
                lines.append(f"| {name} | {f['first_event_after_s']:.2f} s | {f['largest_gap_s']:.2f} s | "
                             f"{f['largest_latency_s']:.2f} s | {f['largest_heartbeat_gap_s']:.2f} s | "
                             f"{f['flood_mb']:.0f} | {f['flood_status']} |")
    return lines


def bomb_memory(base: str, runs: int) -> list[str]:
    lines = ["\nbomb: one SSEClient stream in a fresh interpreter over a double-gzip body (256 MiB of events), "
             "peak RSS (VmHWM) rise"]
    body = bomb(256)
    with SSEServer() as server:
        server.route("/bomb", encoded_route(body, "gzip, gzip"))
        server.route("/one", encoded_route(gzip.compress(EVENT), "gzip"))
        base_rise = peak_rss_of_one_stream(server.url + "/one", 1)["rise_mib"]
        lines.append(f"baseline (one gzip event: client, TLS context, first use): {base_rise:.1f} MiB")
        for max_stream_mb in (1, 0):
            rises = []
            for _ in range(runs):
                f = peak_rss_of_one_stream(server.url + "/bomb", max_stream_mb)
                rises.append(f["rise_mib"])
            lines.append(f"{len(body):,} B on the wire, max_stream_mb={max_stream_mb}: end {f['end']}, "
                         f"{f['bytes'] / 1e6:.1f} MB decoded, {f['events']:,} events, peak RSS rise "
                         f"{' / '.join(f'{r:.1f}' for r in rises)} MiB")
    return lines
