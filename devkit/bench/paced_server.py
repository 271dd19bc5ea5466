"""A pacing SSE server for the many-chats benchmark: ``python -m devkit.bench.paced_server``.

It prints ``PORT <n>`` once it listens on 127.0.0.1 and serves until stdin closes. One asyncio loop
paces every stream (a thread per stream would cost more than the client it measures at 1,000
streams), and each stream is an LLM answer as OpenAI's Chat Completions API streams it: one
``chat.completion.chunk`` per event, each written alone (its own network read on the other side).

``GET /chat?events=&interval=`` sends ``events`` chunks ``interval`` s apart, then a chunk with
``finish_reason`` and ``data: [DONE]``. Each chunk's ``delta.content`` is ``t=<send time>;``, the
send time being ``time.monotonic()`` (one clock for all processes on the machine), so the client can
compute each event's delivery latency from the text alone. ``GET /idle`` sends one chunk and then
stays silent until the client leaves (an idle open stream). ``GET /stats`` answers the largest
number of /chat streams that were open at once, and resets it; ``GET /stats?idle=1`` the number of
/idle streams open now.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from urllib.parse import parse_qsl, urlsplit

HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        b"Connection: close\r\n\r\n")
CHUNK = (b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1,"model":"bench",'
         b'"choices":[{"index":0,"delta":{"content":"t=%r;"},"finish_reason":null}]}\n\n')
LAST = (b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1,"model":"bench",'
        b'"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n')


class Stats:
    open = 0
    most = 0
    idle = 0  # /idle streams open now


async def chat(writer: asyncio.StreamWriter, events: int, interval: float) -> None:
    Stats.open += 1
    Stats.most = max(Stats.most, Stats.open)
    try:
        start = time.monotonic()
        for i in range(events):
            delay = start + i * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            writer.write(CHUNK % time.monotonic())
            await writer.drain()
        writer.write(LAST)
        await writer.drain()
    finally:
        Stats.open -= 1


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        target = urlsplit(head.split(b" ", 2)[1].decode())
        query = dict(parse_qsl(target.query))
        if target.path == "/stats" and query.get("idle"):
            body = b"%d" % Stats.idle
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                         b"Connection: close\r\n\r\n%s" % (len(body), body))
        elif target.path == "/stats":
            body = b"%d" % Stats.most
            Stats.most = Stats.open
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                         b"Connection: close\r\n\r\n%s" % (len(body), body))
        else:
            writer.write(HEAD)
            if target.path == "/idle":
                writer.write(CHUNK % time.monotonic())
                await writer.drain()
                Stats.idle += 1
                try:
                    await reader.read()  # until the client closes
                finally:
                    Stats.idle -= 1
            else:
                await chat(writer, int(query.get("events", 200)), float(query.get("interval", 0.05)))
        await writer.drain()
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def main() -> None:
    server = await asyncio.start_server(serve, "127.0.0.1", 0, backlog=2048)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    threading.Thread(target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(stop.set)), daemon=True).start()
    await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
