"""utils/deadlines.py: one thread serves every run's deadline (issue 19)."""

from __future__ import annotations

import threading
import time

from utils.deadlines import Deadlines


def test_a_deadline_fires_its_callback_once_at_its_time() -> None:
    deadlines = Deadlines()
    fired: list[float] = []
    done = threading.Event()
    started = time.monotonic()
    deadlines.add(0.2, lambda: fired.append(time.monotonic() - started) or done.set())
    assert done.wait(5)
    time.sleep(0.1)
    assert len(fired) == 1 and 0.19 <= fired[0] < 1.5
    assert len(deadlines) == 0


def test_a_cancelled_deadline_never_fires() -> None:
    deadlines = Deadlines()
    fired = threading.Event()
    deadlines.add(0.1, fired.set).cancel()
    later = threading.Event()
    deadlines.add(0.3, later.set)
    assert later.wait(5)
    assert not fired.is_set()


def test_an_earlier_deadline_wakes_the_thread_that_sleeps_towards_a_later_one() -> None:
    deadlines = Deadlines()
    deadlines.add(60, lambda: None)
    time.sleep(0.2)  # the thread now sleeps towards it, a minute away
    soon = threading.Event()
    started = time.monotonic()
    deadlines.add(0.1, soon.set)
    assert soon.wait(5) and time.monotonic() - started < 2


def test_deadlines_fire_in_time_order_one_thread_for_all() -> None:
    deadlines = Deadlines()
    order: list[int] = []
    done = threading.Event()
    threads_before = threading.active_count()
    for i in (3, 1, 2):
        deadlines.add(0.05 * i, lambda i=i: order.append(i) or (len(order) == 3 and done.set()))
    assert threading.active_count() <= threads_before + 1
    assert done.wait(5) and order == [1, 2, 3]


def test_cancelled_deadlines_do_not_pile_up() -> None:
    """A run that ends early cancels its deadline (max_duration away): a process serving many
    short runs must not keep one heap entry per run until each would have fired."""
    deadlines = Deadlines()
    for _ in range(10_000):
        deadlines.add(600, lambda: None).cancel()
    assert len(deadlines._heap) <= 200
    assert len(deadlines) == 0


def test_a_callback_that_raises_is_logged_and_the_others_still_fire(caplog) -> None:
    deadlines = Deadlines()
    after = threading.Event()

    def broken() -> None:
        raise RuntimeError("boom")

    deadlines.add(0.05, broken)
    deadlines.add(0.1, after.set)
    assert after.wait(5)
    assert any("deadline callback failed" in r.getMessage() for r in caplog.records)


def test_cancel_after_firing_and_twice_is_harmless() -> None:
    deadlines = Deadlines()
    done = threading.Event()
    handle = deadlines.add(0, done.set)
    assert done.wait(5)
    handle.cancel()
    handle.cancel()
    assert len(deadlines) == 0
