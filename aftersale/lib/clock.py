"""The injectable clock: every time-dependent decision asks it, never the OS directly."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime: ...


class SystemClock:
    """Wall-clock time in UTC."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(tz=dt.UTC)


class VirtualClock:
    """A clock that only moves when told to: tests, backtests and the demo run on it."""

    def __init__(self, start: dt.datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("VirtualClock needs an aware datetime")
        self._now = start

    def now(self) -> dt.datetime:
        return self._now

    def set(self, moment: dt.datetime) -> None:
        """Move to `moment`; time never runs backwards."""
        if moment < self._now:
            raise ValueError(f"clock cannot go back from {self._now} to {moment}")
        self._now = moment

    def advance(self, delta: dt.timedelta) -> dt.datetime:
        """Move forward by `delta` and return the new time."""
        self.set(self._now + delta)
        return self._now


class OffsetFileClock:
    """Wall-clock time plus the number of seconds written in a file (0 while it is
    missing or empty), re-read whenever the file changes: how a test moves the clock of
    processes it started (Celery workers and beat), by writing a larger number. Test
    only: a process uses it when AFTERSALE_TEST_CLOCK_FILE names the file
    (`install_test_clock`). Never runs backwards: a smaller number is ignored."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._stamp: tuple[int, int] | None = None
        self._offset = dt.timedelta(0)

    def now(self) -> dt.datetime:
        try:
            info = os.stat(self._path)
        except FileNotFoundError:
            info = None
        stamp = (info.st_mtime_ns, info.st_size) if info else None
        if stamp != self._stamp:
            self._stamp = stamp
            text = self._path.read_text(encoding="utf-8").strip() if info else ""
            offset = dt.timedelta(seconds=float(text or 0))
            self._offset = max(self._offset, offset)
        return dt.datetime.now(tz=dt.UTC) + self._offset


TEST_CLOCK_VARIABLE = "AFTERSALE_TEST_CLOCK_FILE"


def install_test_clock() -> None:
    """Make an OffsetFileClock on the file AFTERSALE_TEST_CLOCK_FILE names this process's
    clock; nothing when the variable is unset (every real installation)."""
    global _current
    if path := os.environ.get(TEST_CLOCK_VARIABLE):
        _current = OffsetFileClock(Path(path))


_current: Clock = SystemClock()
# A clock in force for one thread only (a backtest in the embedded worker's thread runs in
# virtual time while the web app in the other threads keeps the real one).
_this_thread = threading.local()


def get_clock() -> Clock:
    """The clock in force for this thread: its own if it set one, else the process's."""
    return getattr(_this_thread, "clock", None) or _current


def now() -> dt.datetime:
    """The current time according to the clock in force for this thread."""
    return get_clock().now()


@contextlib.contextmanager
def use_clock(clock: Clock) -> Iterator[Clock]:
    """Make `clock` the clock in force inside the `with` block."""
    global _current
    previous, _current = _current, clock
    try:
        yield clock
    finally:
        _current = previous


@contextlib.contextmanager
def use_clock_in_this_thread(clock: Clock) -> Iterator[Clock]:
    """Make `clock` the clock in force inside the `with` block for the calling thread
    only: every other thread keeps the clock it had."""
    previous = getattr(_this_thread, "clock", None)
    _this_thread.clock = clock
    try:
        yield clock
    finally:
        _this_thread.clock = previous
