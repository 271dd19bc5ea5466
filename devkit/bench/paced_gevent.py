"""The floor without the SDK: ``python -m devkit.bench.paced_gevent URL N``, a minimal gevent program.

N greenlets on one OS thread (as the SDK runs tool calls) each open ``URL`` with a plain socket and
read it to the end, noting for every ``t=<send time>;`` in each read the delay since the server
wrote it. No HTTP library, no decoder, no framing: what any Python reader of N paced streams pays.
Prints one JSON line of figures on stdout, with the same names as ``paced.py``'s.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

import gevent  # noqa: E402

STAMP = re.compile(rb"t=([0-9.]+);")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))


def read(url: str, delays: list[float], firsts: list[float]) -> None:
    parts = urlsplit(url)
    started = time.monotonic()
    sock = socket.create_connection((parts.hostname, parts.port))
    sock.sendall(f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.hostname}\r\n"
                 f"Accept: text/event-stream\r\n\r\n".encode())
    first = True
    try:
        while data := sock.recv(65536):
            at = time.monotonic()
            stamps = STAMP.findall(data)
            if stamps and first:
                firsts.append(at - started)
                first = False
            delays.extend(at - float(s) for s in stamps)
    finally:
        sock.close()


def main() -> None:
    url, n = sys.argv[1], int(sys.argv[2])
    delays: list[float] = []
    firsts: list[float] = []
    peak = [rss_kib()]
    base = peak[0]

    def sample() -> None:
        while True:
            peak[0] = max(peak[0], rss_kib())
            gevent.sleep(0.2)

    sampler = gevent.spawn(sample)
    cpu = cpu_seconds()
    started = time.monotonic()
    gevent.joinall([gevent.spawn(read, url, delays, firsts) for _ in range(n)])
    wall = time.monotonic() - started
    cpu = cpu_seconds() - cpu
    sampler.kill()
    print(json.dumps({"delays": delays, "firsts": firsts, "wall": wall, "cpu": cpu,
                      "rss_rise_kib": peak[0] - base}))


if __name__ == "__main__":
    main()
