"""Write rendered minutes under the publish directory, atomically, never outside it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from meetbot.minutes.view import MeetingLinks
from meetbot.publish.paths import UnsafePathError, check_relative, links_for, url_for

# ".html", ".log.txt", ".md": what render_all produces; anything else (a "/" or "..") is refused.
_EXTENSION_RE = re.compile(r"(?:\.[A-Za-z0-9]{1,16}){1,3}")


@dataclass(frozen=True, slots=True)
class PublishedFile:
    extension: str
    path: Path
    url: str | None


class Publisher:
    """Publishes files as `<directory>/<basename><extension>`, with URLs under `base_url`."""

    def __init__(
        self,
        directory: Path,
        base_url: str | None,
        file_mode: int = 0o644,
        restricted_mode: int = 0o600,
    ) -> None:
        self.directory = Path(directory)
        self.base_url = base_url or None
        self.file_mode = file_mode
        self.restricted_mode = restricted_mode

    def links(self, basename: PurePosixPath) -> MeetingLinks:
        return links_for(basename, self.base_url)

    def target(self, basename: PurePosixPath, extension: str) -> Path:
        """The checked path a file would be written to; UnsafePathError if it would escape."""
        if not _EXTENSION_RE.fullmatch(extension):
            raise UnsafePathError(f"not a file extension: {extension!r}")
        check_relative(str(basename), what="file name")
        relative = check_relative(str(basename) + extension, what="file name")
        root = self.directory.resolve()
        # resolve() follows every symlink that exists, the final file's included: a link
        # planted anywhere on the way that points outside the archive is caught here.
        resolved = (root / relative).resolve()
        if not resolved.is_relative_to(root) or resolved == root:
            raise UnsafePathError(f"{relative} resolves outside the publish directory: {resolved}")
        return self.directory / relative

    async def publish(
        self,
        basename: PurePosixPath,
        files: dict[str, str],
        *,
        restricted: bool = False,
    ) -> list[PublishedFile]:
        """Write every `extension -> content` atomically; `restricted` is MeetBot's #restrictlogs."""
        # Check every name before writing any, so a bad one doesn't leave half a set behind.
        targets = {extension: self.target(basename, extension) for extension in files}
        mode = self.restricted_mode if restricted else self.file_mode
        published: list[PublishedFile] = []
        for extension, content in files.items():
            path = targets[extension]
            await asyncio.to_thread(self._write, path, content, mode)
            url = url_for(self.base_url, str(basename) + extension) if self.base_url else None
            published.append(PublishedFile(extension, path, url))
        return published

    def _write(self, path: Path, content: str, mode: int) -> None:
        root = self.directory.resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        # Re-check after mkdir: a directory swapped for a symlink in between would show here.
        if not path.parent.resolve().is_relative_to(root):
            raise UnsafePathError(f"{path.parent} resolves outside the publish directory")
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                # mkstemp creates 0600; set the wanted mode explicitly so the umask can't change it.
                os.fchmod(handle.fileno(), mode)
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            # rename() replaces a symlink at the destination rather than writing through it.
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable; some file systems refuse to open a directory for this.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
