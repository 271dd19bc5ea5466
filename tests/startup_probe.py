"""Run by ``tests/test_startup.py`` in a fresh process, cwd = the plugin's root: ``main`` loaded as
the daemon starts it (without ``plugin.run()``), then ``main.warm_up``, then a first call of each tool
and a credentials check through the classes the SDK loaded. Writes, as one JSON line on stderr, the
modules loaded after each step (stdout carries the SDK's manifest line)."""

import json
import runpy
import sys

sys.path.insert(0, ".")
main = runpy.run_module("main")
started = sorted(sys.modules)
main["warm_up"]()
warm = sorted(sys.modules)

from utils.errors import InvalidParameter  # noqa: E402 - loaded at start-up already (provider/)

provider, provider_cls, tools = main["plugin"].registration.tools_mapping["sse_request"]
for _, tool_cls in tools.values():
    try:  # no url / no app: each fails on its parameters, after importing what the call needs
        next(tool_cls.from_credentials({}, user_id="u")._invoke({"upload_files": []}))
    except InvalidParameter:
        pass
provider_cls()._validate_credentials({"default_headers": "X-A: b"})
called = sorted(sys.modules)
sys.stderr.write(json.dumps({"started": started, "warm": warm, "called": called,
                             "first_use": main["FIRST_USE_MODULES"]}) + "\n")
