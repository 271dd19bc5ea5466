"""What Dify's agent reads of one ``sse_request`` call, per output mode (issue 12).

Serves a Chat Completions stream of ``--chunks`` chunks carrying a ``--chars``-character answer on
127.0.0.1, runs the plugin as the daemon does, and prints, per ``output_mode``, the length of the
observation Dify's agent builds from the frames (``devkit.plugin_runner.agent_observation``).

    python -m devkit.observation [--chunks 300] [--chars 1390]
"""

from __future__ import annotations

import argparse
import json

from devkit.plugin_runner import PluginProcess, agent_observation
from devkit.sse_server import SSEServer, script


def llm_stream(chunks: int, answer: str) -> list[str]:
    size = -(-len(answer) // chunks)
    base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    events = [json.dumps({**base, "choices": [{"index": 0, "delta": {"content": answer[i:i + size]},
                                               "finish_reason": None}]}) for i in range(0, len(answer), size)]
    events.append(json.dumps({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
    events.append(json.dumps({**base, "choices": [], "usage": {"prompt_tokens": 20, "completion_tokens": chunks,
                                                               "total_tokens": 20 + chunks}}))
    return [f"data: {e}\n\n" for e in events] + ["data: [DONE]\n\n"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=300)
    parser.add_argument("--chars", type=int, default=1390)
    args = parser.parse_args()
    answer = ("The quick brown fox jumps over the lazy dog. " * (args.chars // 45 + 1))[: args.chars]
    with SSEServer() as server, PluginProcess() as plugin:
        plugin.wait_ready(60)
        server.route("/v1/chat/completions", script(*llm_stream(args.chunks, answer)))
        print(f"answer: {len(answer)} characters in {args.chunks} chunks")
        for mode in ("summary", "text", "events"):
            frames = plugin.collect(plugin.invoke("sse_request", {
                "url": server.url + "/v1/chat/completions", "method": "POST", "body": "{}", "output_mode": mode}))
            observation = agent_observation(frames)
            print(f"output_mode {mode:8} observation {len(observation):>7} characters "
                  f"(answer + {len(observation) - len(answer)}), {len(frames)} frames")


if __name__ == "__main__":
    main()
