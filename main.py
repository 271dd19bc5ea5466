"""Entry point: the Dify plugin daemon runs ``python -m main``."""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import yaml
from dify_plugin import DifyPluginEnv, Plugin
from dify_plugin.config.logger_format import plugin_logger_handler

from utils.secrets import install_log_filter

# stdout carries the daemon's protocol: our modules log only through the SDK's handler.
for name in ("provider", "tools", "utils"):
    logging.getLogger(name).addHandler(plugin_logger_handler)
    logging.getLogger(name).setLevel(logging.INFO)
    logging.getLogger(name).propagate = False
# Whatever any module logs, the secrets of every run in flight leave masked (SecretsFilter).
install_log_filter(plugin_logger_handler, *logging.getLogger().handlers)

# MAX_REQUEST_TIMEOUT: in serverless mode, how long a reply may go without a line before the SDK
# ends it. A tool call may legitimately wait up to read_timeout (at most 570 s) for a byte, and
# the daemon cuts any call at 600 s, so the reply must outlive both.


@contextmanager
def libyaml_safe_load() -> Iterator[None]:
    """While the SDK reads the manifest and the provider/tool YAML (``yaml.safe_load``, which looks
    ``yaml.SafeLoader`` up at each call), that name is libyaml's ``CSafeLoader``: the same safe
    constructor and resolver over the C parser, ~10x faster on our ~50 KB of YAML (issue 19:
    start-up). The SDK is not touched and the name is restored at once; without libyaml nothing
    changes. ``tests/test_startup.py`` checks both loaders read every YAML file the same."""
    fast = getattr(yaml, "CSafeLoader", None) if yaml.__with_libyaml__ else None
    if fast is None:
        yield
        return
    pure = yaml.SafeLoader
    yaml.SafeLoader = fast
    try:
        yield
    finally:
        yaml.SafeLoader = pure


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
