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


def warm_up() -> None:
    """What the first call of a process would otherwise pay (issue 19: first call <= 30 ms):
    httpcore, which httpx imports only when its first transport is built (~25-75 ms), and the
    verifying TLS context (the CA bundle, ~15-50 ms; ``utils/pinned_transport.ssl_context``).
    Run once, in the background, right after start-up: the SDK's threads are greenlets, so this
    holds the process for those milliseconds while it is idle, before the daemon's first call."""
    import httpcore  # noqa: F401 - imported for its side effect, once

    from utils.pinned_transport import ssl_context

    ssl_context(True)


if __name__ == "__main__":
    warming = threading.Timer(0.3, warm_up)  # after the first heartbeat (start-up), before calls
    warming.daemon = True
    warming.start()
    plugin.run()
