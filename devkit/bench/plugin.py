"""Parts 2-5: the whole plugin, started as the daemon starts it, against the lean server.

``BenchPlugin`` is ``devkit.plugin_runner.PluginProcess`` (``python -m main``,
``INSTALL_METHOD=local``, JSON lines over stdio) with a reader fit for load: stdout is read in
1 MiB blocks straight from the pipe, frames go only to their session's queue (nothing is kept),
and each frame carries the time its block arrived.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from devkit.plugin_runner import MAX_LINE, ROOT, Frame, PluginProcess

TIMEOUT = 600


class BenchPlugin(PluginProcess):
    def __init__(self, env: dict[str, str] | None = None, plugin_dir: Path = ROOT) -> None:
        self.heartbeat_times: list[float] = []
        self.longest_line = 0
        super().__init__(plugin_dir, env=env)

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        tail = b""
        while True:
            block = os.read(fd, 1 << 20)
            if not block:
                return
            at = time.monotonic()
            if b"\n" not in block:
                tail += block
                continue
            lines = (tail + block).split(b"\n")
            tail = lines.pop()
            for line in lines:
                if not line.strip():
                    continue
                self.longest_line = max(self.longest_line, len(line))
                try:
                    obj = json.loads(line)
                except ValueError:
                    self.bad_lines.append(line[:500])
                    continue
                if len(line) > MAX_LINE:
                    self.bad_lines.append(line[:500])
                event = obj.get("event")
                if event == "heartbeat":
                    self.heartbeat_times.append(at)
                    self._heartbeat.set()
                    continue
                target = self._sessions.get(obj.get("session_id") or "")
                if target is not None:
                    target.put(Frame(at, b"", obj))

    def heartbeats(self) -> list[float]:
        return list(self.heartbeat_times)

    def rss(self) -> dict[str, int]:
        """VmRSS and VmHWM (peak) of the plugin process, in KiB."""
        with open(f"/proc/{self.proc.pid}/status") as status:
            fields = dict(line.split(":", 1) for line in status if line.startswith(("VmRSS", "VmHWM")))
        return {k: int(v.split()[0]) for k, v in fields.items()}


def params(url: str, mode: str = "text", **extra: Any) -> dict[str, Any]:
    return {"url": url, "output_mode": mode, "stream_format": "raw", "read_timeout": 120, "max_duration": 570,
            "max_stream_mb": 0, **extra}


def run_once(plugin: BenchPlugin, url: str, mode: str = "text", keep: bool = True, **extra: Any
             ) -> dict[str, Any]:
    """One invocation: times, the text of every text message with its arrival (only its length
    when ``keep`` is off: 1 GiB of text is not kept), the summary."""
    started = time.monotonic()
    session = plugin.invoke("sse_request", params(url, mode, **extra))
    texts: list[tuple[float, str]] = []
    summary: dict[str, Any] | None = None
    error = None
    end = started
    for frame in plugin.frames_of(session, timeout=TIMEOUT):
        message = frame.message
        if frame.kind == "stream" and message.get("type") == "text":
            text = message["message"]["text"]
            texts.append((frame.at, text if keep else str(len(text))))
        elif frame.kind == "stream" and message.get("type") == "json":
            summary = message["message"]["json_object"]
        elif frame.kind == "error":
            error = frame.obj["data"]["data"]
        end = frame.at
    if error or summary is None:
        bad = [line[:200] for line in plugin.bad_lines[:2]]
        raise RuntimeError(f"run failed: {error or 'no summary'}; {len(plugin.bad_lines)} bad stdout lines {bad}; "
                           f"stderr {plugin.stderr[-1500:]!r}")
    return {"started": started, "end": end, "texts": texts, "summary": summary}


def started_plugin(env: dict[str, str] | None = None) -> BenchPlugin:
    plugin = BenchPlugin(env)
    plugin.wait_ready(120)
    return plugin


def warm_up(plugin: BenchPlugin, base: str) -> None:
    run_once(plugin, f"{base}/bulk?n=1000&size=100")


def end_to_end(base: str, runs: int, events: int = 100_000) -> list[str]:
    plugin = started_plugin()
    try:
        warm_up(plugin, base)
        rates: list[float] = []
        messages: list[int] = []
        for _ in range(runs):
            result = run_once(plugin, f"{base}/bulk?n={events}&size=100")
            lines = sum(text.count("\n") for _, text in result["texts"])
            if lines != events or result["summary"]["total_events"] != events:
                raise RuntimeError(f"saw {lines} lines / {result['summary']['total_events']} events of {events}")
            rates.append(events / (result["end"] - result["started"]))
            messages.append(len(result["texts"]))
    finally:
        plugin.close()
    shown = " ".join(f"{r:,.0f}" for r in rates)
    return [
        f"\nend to end, text mode, {events:,} events x 100 B, invoke line written -> end frame read, "
        f"median of {runs} runs",
        f"events/s: {statistics.median(rates):,.0f} (runs: {shown}); text messages per run: "
        f"{statistics.median(messages):,.0f}; longest stdout line {plugin.longest_line:,} B",
    ]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def latency(base: str, runs: int, events: int = 200, interval: float = 0.05) -> list[str]:
    plugin = started_plugin()
    delays: list[float] = []
    per_run: list[str] = []
    try:
        warm_up(plugin, base)
        for _ in range(runs):
            result = run_once(plugin, f"{base}/paced?n={events}&interval={interval}")
            mine = [at - float(line) for at, text in result["texts"] for line in text.splitlines()]
            if len(mine) != events:
                raise RuntimeError(f"saw {len(mine)} of {events} events")
            per_run.append(f"{percentile(mine, 0.99) * 1000:.1f}")
            delays += mine
    finally:
        plugin.close()
    ms = [d * 1000 for d in delays]
    return [
        f"\nlatency, one event every {interval * 1000:.0f} ms ({events} per run, {runs} runs pooled), "
        "server's write -> frame read from the plugin's stdout",
        f"median {statistics.median(ms):.2f} ms, p99 {percentile(ms, 0.99):.2f} ms, max {max(ms):.2f} ms "
        f"(p99 per run: {' '.join(per_run)} ms)",
    ]


def concurrency(base: str, runs: int, streams: int = 50, seconds: float = 2.0, heartbeat: float = 1.0
                ) -> list[str]:
    plugin = started_plugin({"HEARTBEAT_INTERVAL": str(heartbeat)})
    walls: list[float] = []
    gaps: list[float] = []
    try:
        warm_up(plugin, base)
        for _ in range(runs):
            url = f"{base}/timed?seconds={seconds}&interval=0.1"
            expected = int(seconds / 0.1)
            started = time.monotonic()
            sessions = [plugin.invoke("sse_request", params(url)) for _ in range(streams)]
            ends = []
            for session in sessions:
                lines = 0
                for frame in plugin.frames_of(session, timeout=TIMEOUT):
                    message = frame.message
                    if frame.kind == "stream" and message.get("type") == "text":
                        lines += message["message"]["text"].count("\n")
                    elif frame.kind == "error":
                        raise RuntimeError(f"run failed: {frame.obj['data']['data']}")
                    ends.append(frame.at)
                if lines != expected:
                    raise RuntimeError(f"a stream saw {lines} of {expected} events")
            finished = max(ends)
            walls.append(finished - started)
            time.sleep(heartbeat * 1.5)  # let the heartbeat after the window arrive
            beats = plugin.heartbeats()
            window = [b for b in beats if b >= started]
            before = [b for b in beats if b < started]
            marks = before[-1:] + window
            gaps += [b - a for a, b in zip(marks, marks[1:], strict=False) if a <= finished]
    finally:
        plugin.close()
    shown = " ".join(f"{w:.2f}" for w in walls)
    return [
        f"\nconcurrency: {streams} invocations at once in one plugin process, each a {seconds:g} s stream "
        f"(HEARTBEAT_INTERVAL={heartbeat:g} s), median of {runs} runs",
        f"wall time {statistics.median(walls):.2f} s (runs: {shown}); largest heartbeat gap "
        f"{max(gaps) if gaps else float('nan'):.2f} s",
    ]


def memory(base: str, runs: int, total: int = 1 << 30, size: int = 1024, mode: str = "summary") -> list[str]:
    lines = [f"\nmemory: {total / (1 << 30):g} GiB of {size} B events, max_stream_mb=0, output_mode {mode}, "
             "a fresh plugin per run (VmHWM from /proc/<pid>/status)"]
    rises: list[float] = []
    for _ in range(runs):
        plugin = started_plugin()
        try:
            fresh = plugin.rss()
            warm_up(plugin, base)
            idle = plugin.rss()
            result = run_once(plugin, f"{base}/volume?bytes={total}&size={size}", mode, keep=False)
            peak = plugin.rss()
        finally:
            plugin.close()
        summary = result["summary"]
        if summary["bytes_received"] < total:
            raise RuntimeError(f"received {summary['bytes_received']} of {total} bytes: {summary['summary']}")
        summary_bytes = len(json.dumps(summary, ensure_ascii=False).encode())
        rise = (peak["VmHWM"] - idle["VmHWM"]) / 1024
        rises.append(rise)
        seconds = result["end"] - result["started"]
        lines.append(
            f"idle fresh {fresh['VmHWM'] / 1024:.1f} MiB, idle after a warm-up call {idle['VmHWM'] / 1024:.1f} MiB, "
            f"peak while streaming {peak['VmHWM'] / 1024:.1f} MiB: +{rise:.1f} MiB over idle "
            f"(+{(peak['VmHWM'] - fresh['VmHWM']) / 1024:.1f} over fresh); {summary['total_events']:,} events in "
            f"{seconds:.1f} s ({total / seconds / 1e6:.0f} MB/s); summary {summary_bytes / 1024:.1f} KiB"
        )
    lines.append(f"peak RSS rise over idle, median: {statistics.median(rises):.1f} MiB")
    return lines
