"""Reads paced by the process's load (issue 19: a thousand chats in one process).

An LLM answer arrives as ~20 small events a second per stream, each its own network read, and
each read costs a fixed price whatever it carries (the system call, the switch between greenlets,
the decoder's and the format's call, and two Dify messages: a read's text and its ``answer``
delta). While the process has CPU to spare that price buys the lowest latency, and nothing is
held back. When it has not, every read that waits its turn makes all the others wait longer: the
process falls behind and new calls wait seconds for their first token.

So the process measures how late its own event loop runs (``LoopLag``: a greenlet that sleeps
``TICK_S`` and looks at how late it woke, started as a thread under the SDK's gevent), and a stream that
has just read a small piece (it had drained its socket: a paced stream, not a bulk one) waits
``pause`` seconds before its next read, letting the events that arrive meanwhile come in one
read. ``pause`` rises while the loop is late (multiplicatively, ``RAISE``), falls back by
``LOWER_S`` per tick while it is on time, and never passes ``MAX_PAUSE_S``: the latency it adds
is bounded, and it is zero on a process that keeps up. A bulk stream (reads of ``SMALL_READ``
bytes or more) is never paced. (A TLS socket's read returns one TLS record however many wait, so
while the process is behind a read over TLS also takes the records already received, without
waiting: ``SocketBody._gather`` in ``utils/http_body.py``.)

Times are seconds of ``time.monotonic()``. Outside gevent (plain threads) there is no loop to
measure (a thread's sleep wakes late for the GIL or the machine's load, not for this process's
reads), so the monitor starts only once gevent has patched ``threading`` (the SDK does when it is
imported), and until then nothing is paced.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

TICK_S = 0.02  # the monitor's sleep
LATE_S = 0.01  # a tick this much late means the process is behind
ON_TIME_S = 0.003  # a tick within this is on time
RAISE = 1.5  # pause -> pause * RAISE + FIRST_S while behind
FIRST_S = 0.005
LOWER_S = 0.002  # pause -> pause - LOWER_S per tick on time
MAX_PAUSE_S = 0.1
SMALL_READ = 16 * 1024  # a read below this drained the socket: the stream is paced by its server


class LoopLag:
    """The pause a paced stream waits before its next read (``pause``, seconds; 0.0 while the
    process keeps up). ``start()`` starts the monitor once (idempotent), under gevent only."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] | None = None
                 ) -> None:
        self.pause = 0.0
        self.late = 0.0  # how late the last tick woke, in seconds
        self._clock = clock
        self._sleep = sleep
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None and _gevent_threads():
            self._thread = threading.Thread(target=self._run, name="loop-lag", daemon=True)
            self._thread.start()

    def tick(self, late: float) -> None:
        """One measure: the monitor woke ``late`` seconds after its time."""
        self.late = late
        if late > LATE_S:
            self.pause = min(MAX_PAUSE_S, self.pause * RAISE + FIRST_S)
        elif late < ON_TIME_S and self.pause:
            self.pause = max(0.0, self.pause - LOWER_S)

    def _run(self) -> None:
        clock = self._clock
        while True:
            sleep = self._sleep or time.sleep  # looked up here: gevent's once the SDK patched time
            started = clock()
            sleep(TICK_S)
            self.tick(clock() - started - TICK_S)


def _gevent_threads() -> bool:
    """True once gevent has patched ``threading``: a thread started now is a greenlet of this hub."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and bool(monkey.is_module_patched("threading"))


LOOP_LAG = LoopLag()
