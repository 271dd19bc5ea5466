"""Entry point: the Dify plugin daemon runs ``python -m main``."""

import logging

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
plugin = Plugin(DifyPluginEnv(MAX_REQUEST_TIMEOUT=600))

if __name__ == "__main__":
    plugin.run()
