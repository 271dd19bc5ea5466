"""utils/read_pacing.py: paced streams read less often while the process is behind (issue 19)."""

from __future__ import annotations

import shutil
import socket
import threading

import pytest

from tests import test_tls
from utils import http_body
from utils.read_pacing import LATE_S, LOWER_S, MAX_PAUSE_S, SMALL_READ, LoopLag


def test_a_process_that_keeps_up_never_pauses() -> None:
    lag = LoopLag()
    for _ in range(1000):
        lag.tick(0.001)
    assert lag.pause == 0.0


def test_the_pause_rises_while_the_loop_is_late_and_never_passes_its_bound() -> None:
    lag = LoopLag()
    seen = []
    for _ in range(50):
        lag.tick(LATE_S * 5)
        seen.append(lag.pause)
    assert seen[0] > 0 and seen == sorted(seen)
    assert max(seen) == MAX_PAUSE_S


def test_the_pause_falls_back_to_zero_once_the_loop_is_on_time() -> None:
    lag = LoopLag()
    for _ in range(50):
        lag.tick(1.0)
    ticks = 0
    while lag.pause:
        lag.tick(0.0)
        ticks += 1
    assert ticks == pytest.approx(MAX_PAUSE_S / LOWER_S, abs=1)


def test_the_monitor_measures_how_late_it_wakes() -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds + 0.05  # every tick wakes 50 ms late
        if now[0] > 1:
            raise SystemExit  # ends the loop

    lag = LoopLag(clock=lambda: now[0], sleep=sleep)
    with pytest.raises(SystemExit):
        lag._run()
    assert lag.late == pytest.approx(0.05) and lag.pause > 0


class _Pacing:
    def __init__(self, pause: float) -> None:
        self.pause = pause

    def start(self) -> None:
        pass


@pytest.fixture
def pair(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(http_body, "_pause", slept.append)  # never time.sleep itself: the loop-lag
    # monitor (a greenlet once gevent patched threading) would spin on a sleep that returns at once
    a, b = socket.socketpair()
    yield a, b, slept
    a.close()
    b.close()


@pytest.mark.parametrize("pause", [0.0, 0.05])
def test_a_paced_stream_waits_the_pause_only_after_a_small_read(monkeypatch, pair, pause: float) -> None:
    a, b, slept = pair
    monkeypatch.setattr(http_body, "LOOP_LAG", _Pacing(pause))
    body = http_body.SocketBody(a, 5)
    b.sendall(b"data: one\n\n")
    assert body.recv() == b"data: one\n\n"
    assert slept == []  # the first read never waits
    b.sendall(b"data: two\n\n")
    assert body.recv() == b"data: two\n\n"
    assert slept == ([pause] if pause else [])


def test_a_bulk_stream_is_never_paced(monkeypatch, pair) -> None:
    a, b, slept = pair
    monkeypatch.setattr(http_body, "LOOP_LAG", _Pacing(0.05))
    body = http_body.SocketBody(a, 5)
    sender = threading.Thread(target=b.sendall, args=(b"x" * (http_body.READ_BYTES * 4),))
    sender.start()
    got = [body.recv() for _ in range(3)]
    sender.join(5)
    assert len(got[0]) >= SMALL_READ  # a full socket: a bulk read
    # a read right after a big one never waits; one after a small one (the socket drained) does
    assert slept == [0.05 for before in got[:-1] if len(before) < SMALL_READ]


# -- https: a TLS socket's recv returns one TLS record, however many are waiting ----------------
# (OpenSSL's SSL_read reads record by record), so a read's size says nothing about whether the
# socket was drained: a server that writes each event as its own record gives small reads only.

def _pauses_of_this_thread(monkeypatch) -> list[float]:
    """Every pause this thread takes (really slept: the server must have time to send)."""
    real_pause, me, slept = http_body._pause, threading.get_ident(), []

    def sleep(seconds: float) -> None:
        if threading.get_ident() == me:
            slept.append(seconds)
        real_pause(seconds)

    monkeypatch.setattr(http_body, "_pause", sleep)
    return slept


certificate = test_tls.certificate  # the fixture
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed to make a certificate")


@pytest.fixture
def tls_events(certificate):
    from devkit.sse_server import SSEServer, script

    with SSEServer(tls=certificate) as srv:  # 300 events, each flushed on its own: one TLS record each
        srv.route("/bulk", script(*[f"data: {n}\n\n" for n in range(300)]))
        yield srv


@needs_openssl
def test_a_bulk_https_stream_is_not_paced_read_by_read(monkeypatch, tls_events) -> None:
    from tests.helpers import collect, options
    from tests.test_network_policy import stub_resolver
    from utils.sse_client import SSEClient

    monkeypatch.setattr(http_body, "LOOP_LAG", _Pacing(0.02))  # the process is behind the whole run
    slept = _pauses_of_this_thread(monkeypatch)
    client = SSEClient(options(url=f"https://stream.test:{tls_events.port}/bulk", ssl_verify=False),
                       resolver=stub_resolver({"stream.test": ["127.0.0.1"]}))
    assert [data for _, data, _ in collect(client)] == [str(n) for n in range(300)]
    # a pause lets what arrives meanwhile come in one read: a few pauses, not one per event
    assert len(slept) <= 10, f"{len(slept)} pauses for 300 events"


@needs_openssl
def test_the_read_after_a_pause_takes_every_tls_record_that_arrived(monkeypatch, certificate) -> None:
    import ssl

    monkeypatch.setattr(http_body, "LOOP_LAG", _Pacing(0.05))
    slept = _pauses_of_this_thread(monkeypatch)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(*certificate)
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.check_hostname, client_ctx.verify_mode = False, ssl.CERT_NONE
    a, b = socket.socketpair()
    done, first_read = threading.Event(), threading.Event()

    def serve() -> None:
        server = server_ctx.wrap_socket(b, server_side=True)
        server.sendall(b"data: first\n\n")
        first_read.wait(5)
        for n in range(50):
            server.sendall(b"data: %d\n\n" % n)  # each its own record
        done.wait(5)
        server.close()

    sender = threading.Thread(target=serve)
    sender.start()
    client = client_ctx.wrap_socket(a, server_hostname="stream.test")
    try:
        body = http_body.SocketBody(client, 5)
        assert body.recv() == b"data: first\n\n"
        first_read.set()
        got = body.recv()  # paced: the 50 records, sent meanwhile, come in this one read
        assert slept == [0.05]
        assert got == b"".join(b"data: %d\n\n" % n for n in range(50))
        assert client.gettimeout() == 5  # the read timeout is back after the read that did not wait
    finally:
        done.set()
        sender.join(5)
        client.close()


def test_an_error_met_while_gathering_comes_after_the_data_read_before_it(monkeypatch) -> None:
    import httpx

    class Tls:  # a TLS socket's surface: recv gives one record; a reset after two
        def __init__(self) -> None:
            self.script: list[bytes | Exception] = [b"data: 1\n\n", b"data: 2\n\n", b"data: 3\n\n",
                                                    ConnectionResetError(104, "Connection reset by peer")]
            self.timeout = None

        def pending(self) -> int:
            return 0

        def settimeout(self, timeout) -> None:
            self.timeout = timeout

        def recv(self, size: int) -> bytes:
            step = self.script.pop(0)
            if isinstance(step, Exception):
                raise step
            return step

    monkeypatch.setattr(http_body, "LOOP_LAG", _Pacing(0.05))
    monkeypatch.setattr(http_body, "_pause", lambda seconds: None)
    sock = Tls()
    body = http_body.SocketBody(sock, 5)  # type: ignore[arg-type]
    assert body.recv() == b"data: 1\n\ndata: 2\n\ndata: 3\n\n"
    assert sock.timeout == 5
    with pytest.raises(httpx.ReadError, match="reset"):
        body.recv()


_MONITOR_PROBE = """
import sys, threading, time
if sys.argv[1] == "gevent":
    import dify_plugin  # noqa: F401 - patches as the plugin's process is patched
from utils.read_pacing import LOOP_LAG
LOOP_LAG.start()
busy_until = time.monotonic() + 1.5
def burn():
    while time.monotonic() < busy_until:
        until = time.monotonic() + 0.03
        while time.monotonic() < until:  # 30 ms without a wait: the loop (or the GIL) is held
            pass
        time.sleep(0)
for _ in range(3):
    threading.Thread(target=burn, daemon=True).start()
peak = 0.0
while time.monotonic() < busy_until:
    time.sleep(0.02)
    peak = max(peak, LOOP_LAG.pause)
print(peak)
"""


@pytest.mark.parametrize("mode", ["threads", "gevent"])
def test_only_the_gevent_loop_is_measured_plain_threads_are_never_paced(mode: str) -> None:
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", _MONITOR_PROBE, mode], cwd=root, capture_output=True,
                         text=True, timeout=60, check=True).stdout
    peak = float(out.split()[-1])
    if mode == "threads":
        assert peak == 0.0  # as the module's docstring says: outside gevent nothing is paced
    else:
        assert peak > 0.0  # the plugin's loop, kept busy, is measured late
