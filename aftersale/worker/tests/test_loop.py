"""The worker loop's own behaviour around its passes (what a pass does is tested in
flows' test_triggers and test_scheduler, and under kills in test_crash)."""

from __future__ import annotations

import gc
import threading

import pytest

from aftersale.worker.loop import WorkerSettings, run_worker

CONFIG = WorkerSettings(worker_id="w", batch_size=10, idle_seconds=0)


class StopAfter(threading.Event):
    """A stop signal that is set once the loop has asked about it `passes` times, so a
    test drives exactly that many passes in its own thread without waiting."""

    def __init__(self, passes: int) -> None:
        super().__init__()
        self.left = passes

    def is_set(self) -> bool:
        self.left -= 1
        return self.left < 0


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()  # the test process goes on collecting as before


@pytest.mark.django_db(transaction=True)
def test_the_worker_freezes_what_it_loaded_after_its_first_pass(unfrozen) -> None:
    loaded = [[n] for n in range(10)]  # live containers, as the process's own are

    totals = run_worker(config=CONFIG, stop=StopAfter(passes=2))

    assert totals.passes == 2
    assert gc.get_freeze_count() > 0
    walked = {id(thing) for thing in gc.get_objects()}  # what collections walk
    assert not any(id(thing) in walked for thing in loaded)


@pytest.mark.django_db(transaction=True)
def test_a_single_pass_worker_freezes_nothing(unfrozen) -> None:
    totals = run_worker(config=CONFIG, stop=threading.Event(), once=True)

    assert totals.passes == 1
    assert gc.get_freeze_count() == 0
