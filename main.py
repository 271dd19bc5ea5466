"""Entry point: the Dify plugin daemon runs ``python -m main``."""

import logging
import threading

from dify_plugin import DifyPluginEnv, Plugin
from dify_plugin.config.logger_format import plugin_logger_handler

from utils.secrets import install_log_filter
from utils.startup import libyaml_safe_load

# stdout carries the daemon's protocol: our modules log only through the SDK's handler.
for name in ("provider", "tools", "utils"):
    logging.getLogger(name).addHandler(plugin_logger_handler)
    logging.getLogger(name).setLevel(logging.INFO)
    logging.getLogger(name).propagate = False
# Whatever any module logs, the secrets of every run in flight leave masked (SecretsFilter).
install_log_filter(plugin_logger_handler, *logging.getLogger().handlers)

# MAX_REQUEST_TIMEOUT: in serverless mode, how long a reply may go without a line before the SDK
# ends it. A tool call may legitimately wait up to read_timeout (at most 570 s) for a byte, and
# the daemon cuts any call at 600 s, so the reply must outlive both. The SDK reads our YAML with
# libyaml meanwhile (utils/startup.py).
with libyaml_safe_load():
    plugin = Plugin(DifyPluginEnv(MAX_REQUEST_TIMEOUT=600))


# What a tool call or a credentials check imports at first use (tools/*.py and provider/ import it
# there, not when the SDK loads their classes at start-up: issue 19, start-up <= 60 ms).
FIRST_USE_MODULES = (
    "tools.messages", "utils.dify_api", "utils.dify_files", "utils.parameters", "utils.provider_settings",
    "utils.request_options", "utils.sse_client", "utils.stream_run",
)
# What the SDK imports when it builds the first call's Session (dify_plugin 0.10.2
# core/runtime.py: Session, ModelInvocations, AppInvocations, WorkflowNodeInvocations; ~15 ms).
SDK_FIRST_USE_MODULES = (
    "dify_plugin.invocations.file", "dify_plugin.invocations.storage", "dify_plugin.invocations.tool",
    "dify_plugin.invocations.model.llm", "dify_plugin.invocations.model.llm_structured_output",
    "dify_plugin.invocations.model.moderation", "dify_plugin.invocations.model.rerank",
    "dify_plugin.invocations.model.speech2text", "dify_plugin.invocations.model.text_embedding",
    "dify_plugin.invocations.model.tts", "dify_plugin.invocations.app", "dify_plugin.invocations.app.chat",
    "dify_plugin.invocations.app.completion", "dify_plugin.invocations.app.workflow",
    "dify_plugin.invocations.workflow_node.parameter_extractor",
    "dify_plugin.invocations.workflow_node.question_classifier",
)


def warm_up() -> None:
    """What the first call of a process would otherwise pay (issue 19: first call <= 30 ms): our
    run modules (``FIRST_USE_MODULES``, ~25-40 ms from bytecode), the SDK's invocation modules
    (``SDK_FIRST_USE_MODULES``; one the SDK no longer has is skipped), httpcore, which httpx imports
    only when its first transport is built (~25-75 ms), and the verifying TLS context (the CA
    bundle, ~15-50 ms; ``utils/pinned_transport.ssl_context``). Run once, in the background, right
    after start-up: the SDK's threads are greenlets, so this holds the process for those
    milliseconds while it is idle, before the daemon's first call."""
    import contextlib
    import importlib

    import httpcore  # noqa: F401 - imported for its side effect, once

    for name in FIRST_USE_MODULES:
        importlib.import_module(name)
    for name in SDK_FIRST_USE_MODULES:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)

    from utils.pinned_transport import ssl_context

    ssl_context(True)


if __name__ == "__main__":
    warming = threading.Timer(0.3, warm_up)  # after the first heartbeat (start-up), before calls
    warming.daemon = True
    warming.start()
    plugin.run()
