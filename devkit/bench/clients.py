"""Part 1: the SSE clients alone, in this process, against the lean server.

raw httpx ``iter_bytes`` (the ceiling), httpx-sse ``iter_sse`` and our ``SSEClient.stream()``
read the same body; each must see every event. Runs are interleaved (raw, httpx-sse, ours,
raw, ...) so that noise on a shared machine falls on all three alike.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from httpx_sse import connect_sse

from utils.pinned_transport import ssl_context
from utils.request_options import Limits, RequestOptions
from utils.sse_client import SSEClient

# Every client gets the process's one TLS context, as ours does: building one per run (httpx's
# default) costs ~15 ms, which would be measured as parsing time.
TLS = ssl_context(True)


@dataclass(frozen=True)
class Load:
    name: str
    events: int
    size: int  # bytes on the wire per event

    def url(self, base: str) -> str:
        return f"{base}/bulk?n={self.events}&size={self.size}"

    @property
    def body_bytes(self) -> int:
        from devkit.bench.server import event

        return self.events * len(event(self.size))


SMALL = Load("small: 200,000 events x 100 B", 200_000, 100)
LARGE = Load("large: 2,000 events x 64 KiB", 2_000, 64 * 1024 + 8)  # 64 KiB of data per event


def raw_bytes(url: str) -> int:
    total = 0
    with httpx.Client(timeout=60, verify=TLS) as client, client.stream("GET", url) as response:
        for chunk in response.iter_bytes():
            total += len(chunk)
    return total


def httpx_sse(url: str) -> int:
    count = 0
    with httpx.Client(timeout=60, verify=TLS) as client, connect_sse(client, "GET", url) as source:
        for _ in source.iter_sse():
            count += 1
    return count


def ours(url: str) -> int:
    limits = Limits(read_timeout=60, max_event_bytes=1024 * 1024, max_stream_bytes=0, max_retries=0)
    count = 0
    for batch in SSEClient(RequestOptions(url=url, limits=limits)).stream():
        count += len(batch)
    return count


CLIENTS: list[tuple[str, Callable[[str], int]]] = [
    ("raw httpx iter_bytes", raw_bytes),
    ("httpx-sse 0.4.3 iter_sse", httpx_sse),
    ("ours: SSEClient.stream()", ours),
]


def run(base: str, runs: int, loads: tuple[Load, ...] = (SMALL, LARGE)) -> list[str]:
    lines: list[str] = []
    for load in loads:
        url = load.url(base)
        times: dict[str, list[float]] = {name: [] for name, _ in CLIENTS}
        for _ in range(runs):
            for name, fn in CLIENTS:
                started = time.perf_counter()
                got = fn(url)
                elapsed = time.perf_counter() - started
                want = load.body_bytes if fn is raw_bytes else load.events
                if got != want:
                    raise RuntimeError(f"{name} saw {got}, expected {want}")
                times[name].append(elapsed)
        mb = load.body_bytes / 1e6
        raw = statistics.median(times[CLIENTS[0][0]])
        lines.append(f"\n{load.name} ({mb:.1f} MB), median of {runs} runs")
        lines.append("| client | events/s | MB/s | time / raw | runs (s) |")
        lines.append("|---|---:|---:|---:|---|")
        for name, _ in CLIENTS:
            med = statistics.median(times[name])
            shown = " ".join(f"{t:.3f}" for t in times[name])
            lines.append(f"| {name} | {load.events / med:,.0f} | {mb / med:,.1f} | {med / raw:.2f}x | {shown} |")
        ratio = statistics.median(times[CLIENTS[1][0]]) / statistics.median(times[CLIENTS[2][0]])
        lines.append(f"ours vs httpx-sse: {ratio:.2f}x the events/s")
    return lines
