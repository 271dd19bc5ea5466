"""``python -m devkit.bench [--part PART ...] [--runs N]``: the performance figures of issue 5.

Parts: ``clients`` (raw httpx / httpx-sse / our client on small and 64 KiB events), ``e2e``
(the whole plugin, text mode, 100,000 events), ``latency`` (an event every 50 ms), ``concurrency``
(50 invocations at once), ``memory`` (1 GiB through the plugin), ``fairness`` (a flood and a slow
stream in one plugin: gaps and heartbeats), ``bomb`` (peak RSS under a gzip bomb), ``paced`` (many chats: N
paced LLM-like streams at once, against a minimal plugin on the same SDK and a minimal gevent program; see
``devkit/bench/paced.py``), ``idle`` (memory per idle open stream, ours and the minimal
SDK plugin; a soak of 20 rounds x 500 calls), ``first`` (first event warm and in a fresh process, start-up to the first
heartbeat; see ``devkit/bench/first_call.py``). Everything talks to SSE servers in separate processes on 127.0.0.1. Not part
of the test suite.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from importlib.metadata import version

from devkit.bench import clients, first_call, paced, plugin, transport
from devkit.bench.process import ServerProcess

PARTS = ("clients", "e2e", "latency", "concurrency", "memory", "fairness", "bomb", "paced", "idle", "first")


def machine() -> str:
    model = "?"
    try:
        with open("/proc/cpuinfo") as info:
            model = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "?")
    except OSError:
        pass
    libs = ", ".join(f"{name} {version(name)}" for name in ("httpx", "httpx-sse", "h11", "dify_plugin", "gevent",
                                                              "pydantic"))
    return (f"machine: {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable), {model}; "
            f"Python {platform.python_version()} ({sys.executable}); {libs}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devkit.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", action="append", choices=(*PARTS, "all"),
                        help="run only this part (repeatable); default: all")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (the median is shown); default 3")
    parser.add_argument("--heartbeat", type=float, default=1.0,
                        help="HEARTBEAT_INTERVAL for the concurrency part, in s; default 1")
    parser.add_argument("--memory-mode", choices=("summary", "text"), default="summary",
                        help="output_mode for the memory part; default summary")
    parser.add_argument("--memory-gib", type=float, default=1.0, help="GiB streamed in the memory part; default 1")
    parser.add_argument("--paced-n", default="50,200,400,1000",
                        help="stream counts of the paced part, comma-separated; default 50,200,400,1000")
    parser.add_argument("--paced-seconds", type=float, default=10.0, help="length of each paced stream; default 10")
    parser.add_argument("--idle-n", type=int, default=1000, help="idle open streams in the idle part; default 1000")
    parser.add_argument("--soak-n", type=int, default=500, help="calls per soak round in the idle part; default 500")
    parser.add_argument("--soak-rounds", type=int, default=20,
                        help="soak rounds in the idle part (growth levels off after ~15 of 500); default 20")
    args = parser.parse_args(argv)
    parts = PARTS if not args.part or "all" in args.part else tuple(p for p in PARTS if p in args.part)
    runs = max(1, args.runs)

    print(machine())
    print(f"command: python -m devkit.bench {' '.join(sys.argv[1:] if argv is None else argv)}".rstrip())
    started = time.monotonic()
    with ServerProcess("devkit.bench.server") as base:
        for part in parts:
            if part == "clients":
                lines = clients.run(base, runs)
            elif part == "e2e":
                lines = plugin.end_to_end(base, runs)
            elif part == "latency":
                lines = plugin.latency(base, runs)
            elif part == "paced":
                lines = paced.run([int(n) for n in args.paced_n.split(",")], args.paced_seconds)
            elif part == "idle":
                lines = paced.extras(args.idle_n, args.soak_rounds, args.soak_n)
            elif part == "first":
                lines = first_call.run(base, runs)
            elif part == "concurrency":
                lines = plugin.concurrency(base, runs, heartbeat=args.heartbeat)
            elif part == "fairness":
                lines = transport.fairness(base, runs)
            elif part == "bomb":
                lines = transport.bomb_memory(base, runs)
            else:
                lines = plugin.memory(base, runs, total=int(args.memory_gib * (1 << 30)), mode=args.memory_mode)
            print("\n".join(lines), flush=True)
    print(f"\n(bench took {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
