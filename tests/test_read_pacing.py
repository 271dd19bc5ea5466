"""utils/read_pacing.py: paced streams read less often while the process is behind (issue 19)."""

from __future__ import annotations

import socket
import threading

import pytest

from utils import http_body, read_pacing
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
    monkeypatch.setattr(http_body.time, "sleep", slept.append)
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


def test_the_process_wide_monitor_is_one() -> None:
    assert isinstance(read_pacing.LOOP_LAG, LoopLag)
