"""The worker process's own set-up (the passes themselves are tested in test_triggers,
test_scheduler and test_crash)."""

from __future__ import annotations

import gc

from aftersale.flows.worker import freeze_warm_objects


def test_freezing_leaves_what_is_loaded_out_of_later_collections() -> None:
    loaded = [[n] for n in range(10)]  # live containers, as the process's own are
    try:
        freeze_warm_objects()
        collected = {id(thing) for thing in gc.get_objects()}  # what collections walk
        assert not any(id(thing) in collected for thing in loaded)
        assert gc.get_freeze_count() >= len(loaded)
    finally:
        gc.unfreeze()  # the test process goes on collecting as before
