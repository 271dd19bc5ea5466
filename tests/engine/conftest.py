from __future__ import annotations

import pytest

from devkit.dify_engine import PluginToolRuntime


@pytest.fixture(scope="module")
def runtime(plugin):
    """The tool runtime of Dify's engine, calling the module's plugin process."""
    return PluginToolRuntime(plugin)
