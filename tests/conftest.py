from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from devkit.sse_server import SSEServer  # noqa: E402


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
