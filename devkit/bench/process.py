"""A benchmark server in its own process (``python -m <module>``): it prints ``PORT <n>`` once it
listens on 127.0.0.1 and stops when its stdin closes (or the parent dies)."""

from __future__ import annotations

import subprocess
import sys


class ServerProcess:
    """``with ServerProcess("devkit.bench.server") as base:`` gives ``http://127.0.0.1:<port>``."""

    def __init__(self, module: str) -> None:
        self.module = module
        self.base = ""

    def __enter__(self) -> str:
        self.proc = subprocess.Popen([sys.executable, "-m", self.module], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"{self.module} did not start: {line!r}")
        self.base = f"http://127.0.0.1:{int(line.split()[1])}"
        return self.base

    def __exit__(self, *exc: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
