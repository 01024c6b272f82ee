"""Write rendered minutes under the publish directory, atomically, never outside it."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import logging
import os
import re
import secrets
import stat
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from meetbot.minutes.view import MeetingLinks
from meetbot.publish.paths import UnsafePathError, check_relative, links_for, url_for

log = logging.getLogger(__name__)

# ".html", ".log.txt", ".md": what render_all produces; anything else (a "/" or "..") is refused.
_EXTENSION_RE = re.compile(r"(?:\.[A-Za-z0-9]{1,16}){1,3}")

# (basename, extension -> content) for each set of files written together.
FileSets = Sequence[tuple[PurePosixPath, Mapping[str, str]]]


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
        root = self.directory.resolve()
        relative = self._relative(basename, extension)
        # resolve() follows every symlink that exists, the final file's included: a link
        # planted anywhere on the way that points outside the archive is caught here.
        resolved = (root / relative).resolve()
        if not resolved.is_relative_to(root) or resolved == root:
            raise UnsafePathError(f"{relative} resolves outside the publish directory: {resolved}")
        return self.directory / relative

    @staticmethod
    def _relative(basename: PurePosixPath, extension: str) -> PurePosixPath:
        """`<basename><extension>`, refused (UnsafePathError) unless a plain relative name."""
        if not _EXTENSION_RE.fullmatch(extension):
            raise UnsafePathError(f"not a file extension: {extension!r}")
        check_relative(str(basename), what="file name")
        return check_relative(str(basename) + extension, what="file name")

    async def publish(
        self,
        basename: PurePosixPath,
        files: dict[str, str],
        *,
        restricted: bool = False,
    ) -> list[PublishedFile]:
        """Write every `extension -> content` atomically; `restricted` is MeetBot's #restrictlogs."""
        return await self.publish_many([(basename, files)], restricted=restricted)

    async def publish_many(
        self,
        sets: FileSets,
        *,
        restricted: bool = False,
    ) -> list[PublishedFile]:
        """publish() for several basenames (the archive's index pages) in one go."""
        mode = self.restricted_mode if restricted else self.file_mode
        # One trip to a worker thread for the lot: a trip per file (and its own directory fsync)
        # cost more than writing most of them.
        paths = await asyncio.to_thread(self._publish, sets, mode)
        published: list[PublishedFile] = []
        for (basename, files), set_paths in zip(sets, paths, strict=True):
            for extension, path in zip(files, set_paths, strict=True):
                url = url_for(self.base_url, str(basename) + extension) if self.base_url else None
                published.append(PublishedFile(extension, path, url))
        return published

    def _publish(self, sets: FileSets, mode: int) -> list[list[Path]]:
        # Check every name before writing any, so a bad one doesn't leave half a set behind.
        root = self.directory.resolve()
        paths = [[self.directory / self._relative(base, ext) for ext in files] for base, files in sets]
        # Directories are resolved, files only when a symlink stands in their place (_holds):
        # a publish writes a dozen files into a few directories, and a resolve() per file was
        # a tenth of its time.
        for directory in dict.fromkeys(path.parent for set_paths in paths for path in set_paths):
            _check_inside(directory, root)
        encoded = [
            (path, content.encode("utf-8"))
            for (_basename, files), set_paths in zip(sets, paths, strict=True)
            for content, path in zip(files.values(), set_paths, strict=True)
        ]
        # A file that holds its content already (an index or a neighbour's page a publish left
        # as it was, a meeting published again unchanged) is left alone: writing, syncing and
        # renaming it again would only cost time and change its mtime. Looked at here, not in
        # the writer threads: a trip there for each costs more than the look.
        jobs = [(path, content) for path, content in encoded if not _holds(path, content, mode, root)]
        # Every file is complete and synced before the first rename, so readers see the new set
        # appear together, and a failure while writing leaves every old file in place.
        pending: list[tuple[str, Path]] = []
        renamed: list[Path] = []
        retired: list[Path] = []
        made: list[Path] = []  # directories this publish creates, outermost last
        for directory in dict.fromkeys(path.parent for path, _content in jobs):
            made += _missing(directory)
            directory.mkdir(parents=True, exist_ok=True)
            # Again after mkdir: a directory swapped for a symlink in between would show here.
            _check_inside(directory, root)
        try:
            if len(jobs) == 1:
                path, content = jobs[0]
                pending.append((self._write_temporary(path, content, mode), path))
            elif jobs:
                pending.extend(self._write_temporaries(jobs, mode))
            while pending:
                temp, path = pending[0]
                old = _retire(path)
                if old is not None:
                    retired.append(old)
                # rename() replaces a symlink at the destination rather than writing through it.
                os.replace(temp, path)
                renamed.append(path)
                pending.pop(0)
        except BaseException:
            for temp, _path in pending:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp)
            raise
        finally:
            # The renames made, durable even when a later one failed (a publish that follows may
            # find those files as they should be and leave them). Only where something was
            # renamed: a directory whose files were all left as they were has nothing new. A
            # directory made for them is itself an entry in its parent, synced too, or a power
            # cut could take the new directory with every synced file in it.
            entries = [*(path.parent for path in renamed), *(new.parent for new in made)]
            for directory in dict.fromkeys(entries):
                _fsync_directory(directory)
            if retired:
                _forget_later(retired)
        return paths

    @classmethod
    def _write_temporaries(cls, jobs: list[tuple[Path, bytes]], mode: int) -> list[tuple[str, Path]]:
        """Each `(path, content)` in a synced temporary file, written in the writer threads at
        once: fsyncs in flight together on one file system share the journal's commits. Every
        write is waited for; on a failure the temporary files written are removed and the
        first failure is raised."""
        futures = [_WRITERS.submit(cls._write_temporary, path, content, mode) for path, content in jobs]
        concurrent.futures.wait(futures)
        written: list[tuple[str, Path]] = []
        failure: BaseException | None = None
        for future, (path, _content) in zip(futures, jobs, strict=True):
            error = future.exception()
            if error is None:
                written.append((future.result(), path))
            elif failure is None:
                failure = error
        if failure is not None:
            for temp, _path in written:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp)
            raise failure
        return written

    @staticmethod
    def _write_temporary(path: Path, content: bytes, mode: int) -> str:
        """`content` in a synced temporary file beside `path` (its directory made and checked
        already); its name."""
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                # mkstemp creates 0600; set the wanted mode explicitly so the umask can't change it.
                os.fchmod(handle.fileno(), mode)
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        return temp


def _check_inside(path: Path, root: Path) -> None:
    """UnsafePathError unless `path`, every symlink on the way followed, is `root` or inside
    it. A path not made yet resolves as far as it exists."""
    resolved = path.resolve()
    if not resolved.is_relative_to(root):
        raise UnsafePathError(f"{path} resolves outside the publish directory: {resolved}")


def _holds(path: Path, content: bytes, mode: int, root: Path) -> bool:
    """Whether `path` is a regular file (not a symlink) with exactly `content` and `mode`.
    Every file there was synced before it was renamed into place (by this or an earlier
    publish), so one that holds the content already is as durable as a new copy would be.
    A symlink in its place that leads outside `root` is refused (UnsafePathError): planted,
    most likely; the rename would replace it, never write through it, but nobody should
    find their link gone without being told."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as error:
        if error.errno == errno.ELOOP:
            _check_inside(path, root)
        return False  # not there, or a symlink inside: written, so the rename replaces it
    with os.fdopen(fd, "rb") as handle:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode) or stat.S_IMODE(status.st_mode) != mode:
            return False
        # Sizes first: a changed page rarely keeps its length, and then nothing is read.
        return status.st_size == len(content) and handle.read(len(content) + 1) == content


# The threads every Publisher writes files in (started on first use, as needed). Four: on the
# 2-core ext4 bench machine, 13 files of a publish took 6.2 ms so against 9.3 ms in turn.
_WRITERS = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="publish")


def _missing(directory: Path) -> list[Path]:
    """`directory` and those of its parents that don't exist yet, innermost first."""
    missing = []
    while not directory.exists() and directory.parent != directory:
        missing.append(directory)
        directory = directory.parent
    return missing


def _retire(path: Path) -> Path | None:
    """A second name for the file a rename is about to replace, so that the rename does not
    free it: unlinking a file's last name frees its blocks there and then, and on a file system
    mounted with `discard` (the bench machine's ext4) that took ~1.2 ms a file, inside
    os.replace, while the room waited for its minutes; a second name cost ~5 us. The names are
    unlinked afterwards, in a writer thread (_forget_later). None where there is no file yet
    or no second name can be made (a file system without hard links): replaced as it is."""
    name = path.with_name(f".{path.name}.{secrets.token_hex(4)}.old")
    try:
        os.link(path, name, follow_symlinks=False)
    except OSError:
        return None
    return name


# A thread of their own for the unlinks: a publish's writes never queue behind them.
_FORGETTER = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="publish-forget")
# Unlinks under way; settled() waits for them. Discarded from the forgetter's thread.
_FORGETTING: set[concurrent.futures.Future[None]] = set()


def _forget_later(names: list[Path]) -> None:
    future = _FORGETTER.submit(_forget, names)
    _FORGETTING.add(future)
    future.add_done_callback(_FORGETTING.discard)


def _forget(names: list[Path]) -> None:
    for name in names:
        try:
            os.unlink(name)
        except FileNotFoundError:
            pass
        except OSError as error:
            # Only a hidden second name of an old page is left behind; the publish stands.
            log.warning("could not remove %s: %s", name, error)


async def settled() -> None:
    """Until the old files that publishes replaced are gone (see _retire): at shutdown, and
    for tests that look at a directory's names."""
    while under_way := list(_FORGETTING):  # a copy: the set changes in another thread
        await asyncio.wait([asyncio.wrap_future(future) for future in under_way])


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
