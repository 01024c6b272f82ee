"""Notice when the config file or a schedule file changes, so the bot can reload them."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


class FileWatcher:
    """Polled, not inotify: a config is a few files, and polling works on every file system
    (including the read-only Docker mounts and network shares configs live on)."""

    def __init__(self, paths: Iterable[Path]) -> None:
        self._paths = list(paths)
        self._seen = self._stamps()

    def _stamps(self) -> dict[Path, tuple[int, int] | None]:
        stamps: dict[Path, tuple[int, int] | None] = {}
        for path in self._paths:
            files = sorted(path.glob("*.y*ml")) if path.is_dir() else [path]
            for file in files:
                try:
                    status = file.stat()
                except OSError:
                    stamps[file] = None  # gone (or not there yet): a change when it appears
                else:
                    stamps[file] = (status.st_mtime_ns, status.st_size)
        return stamps

    def changed(self) -> bool:
        now = self._stamps()
        changed, self._seen = now != self._seen, now
        return changed
