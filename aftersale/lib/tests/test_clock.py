"""The injectable clock: a clock set for one thread leaves every other thread's alone."""

from __future__ import annotations

import datetime as dt
import threading

from aftersale.lib.clock import VirtualClock, now, use_clock, use_clock_in_this_thread

PAST = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
FUTURE = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def _now_in_another_thread() -> dt.datetime:
    seen: list[dt.datetime] = []
    other = threading.Thread(target=lambda: seen.append(now()))
    other.start()
    other.join()
    return seen[0]


def test_a_clock_set_for_this_thread_is_not_the_other_threads_clock() -> None:
    with use_clock(VirtualClock(FUTURE)), use_clock_in_this_thread(VirtualClock(PAST)):
        assert now() == PAST
        assert _now_in_another_thread() == FUTURE
    with use_clock(VirtualClock(FUTURE)):
        assert now() == FUTURE  # the thread's own clock ended with its block
