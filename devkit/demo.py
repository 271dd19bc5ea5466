"""The built-in local demo: no Dify server needed.

Starts a local SSE server that streams an OpenAI-style answer word by word, starts this plugin
the way Dify's daemon does (``python -m main``, ``INSTALL_METHOD=local``, JSON lines over stdio),
validates the provider, invokes the ``sse_request`` tool, and prints each frame the moment the
plugin writes it, then the summary.
"""

from __future__ import annotations

import json
import sys
import time

from devkit.plugin_runner import PluginProcess
from devkit.sse_server import Request, SSEServer, Writer

WORDS = "Server-Sent Events reach Dify the moment they arrive, one frame per network read.".split()


def openai_like(request: Request, writer: Writer) -> None:
    writer.start()
    writer.send(": keep-alive comment, ignored\n\n")
    for i, word in enumerate(WORDS):
        chunk = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": word if i == 0 else " " + word}}]}
        writer.send(f"data: {json.dumps(chunk)}\n\n")
        time.sleep(0.15)
    usage = {"object": "chat.completion.chunk", "choices": [],
             "usage": {"prompt_tokens": 9, "completion_tokens": len(WORDS), "total_tokens": 9 + len(WORDS)}}
    writer.send(f"data: {json.dumps(usage)}\n\ndata: [DONE]\n\n")
    writer.end()


def main() -> int:
    with SSEServer() as server:
        server.route("/v1/chat/completions", openai_like)
        print(f"local SSE server: {server.url}/v1/chat/completions")
        with PluginProcess() as plugin:
            started = time.monotonic()
            plugin.wait_ready()
            print(f"plugin ready (first heartbeat after {time.monotonic() - started:.1f} s)")
            check = plugin.collect(plugin.validate({}))
            print(f"provider validation: {check[0].obj['data']['data']}")
            params = {
                "url": f"{server.url}/v1/chat/completions",
                "method": "POST",
                "body": json.dumps({"model": "demo", "stream": True, "messages": [{"role": "user", "content": "hi"}]}),
                "auth_type": "bearer",
                "auth_token": "sk-demo-secret-never-printed",
            }
            session = plugin.invoke("sse_request", params)
            t0 = time.monotonic()
            print("\nstreaming (text messages as the plugin writes them):")
            summary = None
            for frame in plugin.frames_of(session, timeout=60):
                message = frame.message
                if frame.kind == "stream" and message.get("type") == "text":
                    print(f"  +{frame.at - t0:5.2f}s  {message['message']['text']!r}")
                elif frame.kind == "stream" and message.get("type") == "json":
                    summary = message["message"]["json_object"]
                elif frame.kind == "error":
                    print(f"error: {frame.obj['data']['data']['message']}")
                    return 1
            if summary is None:
                print("no summary received")
                return 1
            shown = {k: summary[k] for k in ("success", "status", "format", "total_events", "connection_duration",
                                             "answer", "usage", "summary") if k in summary}
            print("\nsummary (the last message):")
            print(json.dumps(shown, indent=2, ensure_ascii=False))
            leaked = any(b"sk-demo-secret" in f.raw for f in plugin.frames)
            print(f"\nsecret token in any frame: {'YES (bug)' if leaked else 'no'}")
            return 1 if leaked else 0


if __name__ == "__main__":
    sys.exit(main())
