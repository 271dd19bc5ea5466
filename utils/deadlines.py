"""One thread keeps every run's deadline (issue 19: many streams in one process).

A run must end at ``max_duration`` even while a read blocks, so at its deadline something has to
shut the run's socket down. A ``threading.Timer`` per run did that, but a timer is a whole thread:
under the SDK's gevent a greenlet with its own Event and Condition, ~250 µs of CPU to start and a
few KiB held for every open stream. Here one daemon thread (a greenlet under gevent) sleeps until
the earliest deadline of a heap; ``add`` costs a heap push under a lock, ``cancel`` a flag.

Times are ``time.monotonic()`` seconds. Callbacks run in the deadline thread, outside the lock;
one that raises is logged and does not stop the others.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


class Deadline:
    """A handle returned by ``Deadlines.add``; ``cancel()`` stops its callback (idempotent)."""

    __slots__ = ("at", "callback", "_owner")

    def __init__(self, at: float, callback: Callable[[], None], owner: Deadlines) -> None:
        self.at = at
        self.callback: Callable[[], None] | None = callback
        self._owner = owner

    def cancel(self) -> None:
        self._owner._cancel(self)


class Deadlines:
    """A heap of deadlines served by one lazily started daemon thread."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._cond: threading.Condition | None = None  # made with the thread, at the first add():
        self._thread: threading.Thread | None = None  # both of one kind, whether gevent patched threading or not
        self._dead = 0  # cancelled entries still in the heap

    def add(self, seconds: float, callback: Callable[[], None]) -> Deadline:
        """Calls ``callback()`` ``seconds`` from now (at once when ``seconds`` <= 0), unless cancelled."""
        deadline = Deadline(time.monotonic() + max(0.0, seconds), callback, self)
        if self._cond is None:
            self._cond = threading.Condition(threading.Lock())
        with self._cond:
            heapq.heappush(self._heap, (deadline.at, next(self._order), deadline))
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, args=(self._cond,), name="deadlines", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is deadline:
                self._cond.notify()  # earlier than what the thread sleeps towards
        return deadline

    def __len__(self) -> int:
        """Deadlines still to come (not cancelled, not fired)."""
        return len(self._heap) - self._dead

    def _cancel(self, deadline: Deadline) -> None:
        assert self._cond is not None  # a Deadline exists only after add()
        with self._cond:
            if deadline.callback is None:  # fired or cancelled already
                return
            deadline.callback = None
            self._dead += 1
            if self._dead > 64 and self._dead * 2 > len(self._heap):  # a cancelled run holds nothing for long
                self._heap = [entry for entry in self._heap if entry[2].callback is not None]
                heapq.heapify(self._heap)
                self._dead = 0

    def _serve(self, cond: threading.Condition) -> None:
        while True:
            with cond:
                due: list[Callable[[], None]] = []
                while not due:
                    now = time.monotonic()
                    while self._heap and (self._heap[0][2].callback is None or self._heap[0][0] <= now):
                        _, _, deadline = heapq.heappop(self._heap)
                        if deadline.callback is None:
                            self._dead -= 1
                        else:  # taken out under the lock: a cancel() from now on is too late
                            due.append(deadline.callback)
                            deadline.callback = None
                    if not due:
                        cond.wait(self._heap[0][0] - now if self._heap else None)
            for callback in due:
                try:
                    callback()
                except Exception:
                    logger.exception("a deadline callback failed")


DEADLINES = Deadlines()
