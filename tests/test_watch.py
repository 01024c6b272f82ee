from __future__ import annotations

import os
from pathlib import Path

from meetbot.watch import FileWatcher


def test_changes_to_the_config_or_a_series_file_are_noticed(tmp_path: Path) -> None:
    config = tmp_path / "meetbot.yaml"
    config.write_text("a: 1\n", encoding="utf-8")
    meetings = tmp_path / "meetings"
    meetings.mkdir()
    watcher = FileWatcher([config, meetings])
    assert not watcher.changed()
    (meetings / "infra.yaml").write_text("project: x\n", encoding="utf-8")  # a new series file
    assert watcher.changed()
    assert not watcher.changed()
    config.write_text("a: 22\n", encoding="utf-8")
    assert watcher.changed()
    stamp = config.stat().st_mtime_ns + 5_000_000_000
    os.utime(config, ns=(stamp, stamp))  # touched, same size
    assert watcher.changed()
    (meetings / "infra.yaml").unlink()
    assert watcher.changed()
