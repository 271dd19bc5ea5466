"""How far behind the server's writes the text reaches a Dify user: a chatflow (Start → sse_request
→ Answer ``{{#tool.text#}}``) run in Dify's engine (``devkit.dify_engine``), against a local
server that writes one Chat Completions delta every ``--interval`` ms. Prints the lag of each
engine stream chunk behind the write it carries (median, 95th percentile, max, in ms).

    python -m devkit.engine_lag [--deltas 50] [--interval 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from devkit.dify_engine import PluginToolRuntime, stream_graph
from devkit.plugin_runner import PluginProcess
from devkit.sse_server import Request, SSEServer, Writer


def chunk(content: str | None = None, finish: str | None = None) -> str:
    delta = {"content": content} if content is not None else {}
    return "data: " + json.dumps({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}) + "\n\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deltas", type=int, default=50)
    parser.add_argument("--interval", type=float, default=20, help="ms between two deltas")
    args = parser.parse_args()
    sent: dict[str, float] = {}

    def route(request: Request, writer: Writer) -> None:
        writer.start()
        for n in range(args.deltas):
            time.sleep(args.interval / 1000)
            word = f"w{n} "
            writer.send(chunk(word))
            sent[word] = time.monotonic()
        writer.send(chunk(finish="stop"))
        writer.send("data: [DONE]\n\n")
        writer.end()

    tool = {"type": "tool", "title": "tool", "provider_id": "ssekit/sse_request/sse_request",
            "provider_name": "ssekit/sse_request/sse_request", "provider_type": "builtin", "tool_name": "sse_request",
            "tool_label": "SSE Request", "tool_node_version": "2",
            "tool_configurations": {"stream_format": {"type": "constant", "value": "openai"}},
            "tool_parameters": {"url": {"type": "mixed", "value": ""}}}
    graph = {"nodes": [{"id": "start", "data": {"type": "start", "title": "Start", "variables": []}},
                       {"id": "tool", "data": tool},
                       {"id": "answer", "data": {"type": "answer", "title": "Answer", "answer": "{{#tool.text#}}"}}],
             "edges": [{"source": "start", "target": "tool"}, {"source": "tool", "target": "answer"}]}
    with SSEServer() as server, PluginProcess() as plugin:
        plugin.wait_ready(60)
        server.route("/v1/chat/completions", route)
        tool["tool_parameters"]["url"]["value"] = server.url + "/v1/chat/completions"
        lags = []
        for at, event in stream_graph(graph, PluginToolRuntime(plugin), query="lag"):
            text = getattr(event, "chunk", "")
            words = [w + " " for w in text.split(" ") if w] if list(getattr(event, "selector", [])) == ["tool", "text"] \
                else []
            lags += [(at - sent[w]) * 1000 for w in words if w in sent]
    lags.sort()
    print(f"engine lag behind the server's writes, {len(lags)} of {args.deltas} deltas, {args.interval:g} ms apart:")
    print(f"  median {statistics.median(lags):.1f} ms, p95 {lags[int(len(lags) * 0.95) - 1]:.1f} ms, "
          f"max {lags[-1]:.1f} ms")


if __name__ == "__main__":
    main()
