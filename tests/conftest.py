from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from devkit.sse_server import SSEServer  # noqa: E402

# The tests talk to 127.0.0.1 only: a proxy set in the environment (the tool honours them) must
# not catch that traffic, in this process or in the plugin processes the tests start.
for _name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
    os.environ.pop(_name, None)
    os.environ.pop(_name.lower(), None)


@pytest.fixture
def server():
    with SSEServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def plugin():
    """One plugin process, started as Dify's daemon starts it, shared by a test module."""
    from devkit.plugin_runner import PluginProcess

    with PluginProcess() as proc:
        proc.wait_ready(60)
        yield proc
