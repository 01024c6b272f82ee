"""The bot process's runtime settings, as `meetbot run` applies them once start-up is over."""

from __future__ import annotations

import gc

from meetbot.cli import YOUNG_COLLECTION_THRESHOLD, settle_garbage_collector


def test_settling_the_collector_freezes_start_up_and_collects_the_young_less_often() -> None:
    threshold = gc.get_threshold()
    try:
        settle_garbage_collector()
        assert gc.get_freeze_count() > 10_000  # the libraries and the app, walked no more
        assert gc.get_threshold()[0] == YOUNG_COLLECTION_THRESHOLD
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
