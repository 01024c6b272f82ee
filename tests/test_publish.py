"""Publishing: file names from MeetBot's pattern, and safe atomic writes."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import pytest

from meetbot.domain.model import Meeting
from meetbot.events import RoomRef
from meetbot.minutes.render import render_all
from meetbot.publish import (
    DEFAULT_PATTERN,
    Publisher,
    UnsafePathError,
    links_for,
    minutes_basename,
    url_for,
)
from meetbot.publish import files as publish_files
from meetbot.publish.paths import check_relative

START = datetime(2019, 1, 3, 14, 0, 27, tzinfo=UTC)


def meeting(name: str | None = "nova", room: str = "#openstack-meeting", network: str = "OFTC") -> Meeting:
    return Meeting(RoomRef(network, room), START, "oftc:alice", "alice", name=name)


# --- paths ---------------------------------------------------------------------------------


def test_default_pattern_matches_openstack_layout() -> None:
    assert minutes_basename(meeting(), DEFAULT_PATTERN) == PurePosixPath("nova/2019/nova.2019-01-03-14.00")


def test_name_falls_back_to_the_channel() -> None:
    assert str(minutes_basename(meeting(None), DEFAULT_PATTERN)).startswith("openstack-meeting/2019/")


def test_channel_and_network_placeholders() -> None:
    pattern = "{network}/{channel}/%Y-%m-%d/{name}.%Y-%m-%d-%H.%M"
    expected = "oftc/openstack-meeting/2019-01-03/nova.2019-01-03-14.00"
    assert str(minutes_basename(meeting(), pattern)) == expected


def test_time_zone_conversion() -> None:
    pattern = "{name}.%F-%H.%M"
    assert str(minutes_basename(meeting(), pattern, tz="America/New_York")) == "nova.2019-01-03-09.00"
    assert str(minutes_basename(meeting(), pattern, tz="Asia/Kolkata")) == "nova.2019-01-03-19.30"
    with pytest.raises(ValueError, match="time zone"):
        minutes_basename(meeting(), DEFAULT_PATTERN, tz="Not/AZone")
    with pytest.raises(ValueError, match="time zone"):
        minutes_basename(meeting(), DEFAULT_PATTERN, tz="../../etc/passwd")


def test_percent_in_a_value_stays_literal() -> None:
    assert str(minutes_basename(meeting("100%Y"), "{name}")) == "100%Y"


def test_literal_braces_in_pattern() -> None:
    assert str(minutes_basename(meeting(), "{{x}}{name}")) == "{x}nova"


@pytest.mark.parametrize(
    "pattern",
    [
        "../{name}",
        "{name}/../../etc/passwd",
        "/srv/{name}",
        "{name}//x",
        "{name}/./x",
        "{name}/",
        "",
        "{name}\\..\\x",
        "{name}\x00",
        "{name}\n",
        "{name}%n",  # strftime newline
        "{name}\u202ecod.exe",  # bidi override disguising a name
        "{name.__class__}",
        "{name!r}",
        "{name:>300}",
        "{unknown}",
        "{0}",
        "{name",
        "x" * 300,
    ],
)
def test_unsafe_patterns_refused(pattern: str) -> None:
    with pytest.raises(UnsafePathError):
        minutes_basename(meeting(), pattern)


@pytest.mark.parametrize("name", ["../../etc", "a/../..", "..", ".", "a/b", "a\\b", "x\x07", "x\x00"])
def test_unsafe_names_refused(name: str) -> None:
    # The engine normalises names; a bug there must still not write outside the archive.
    with pytest.raises(UnsafePathError):
        minutes_basename(meeting(name), "{name}/%Y/{name}")


def test_empty_channel_name_refused() -> None:
    with pytest.raises(UnsafePathError):
        minutes_basename(meeting(None, room="#"), "{channel}/x")


def test_check_relative() -> None:
    assert check_relative("a/b.c") == PurePosixPath("a/b.c")
    for bad in ("/a", "a/../b", "a//b", "", "a/\x1fb"):
        with pytest.raises(UnsafePathError):
            check_relative(bad)


def test_urls_are_quoted_and_joined_once() -> None:
    assert url_for("https://x.org/meetings/", "a b/c#d?.html") == "https://x.org/meetings/a%20b/c%23d%3F.html"
    assert url_for("https://x.org/meetings", "n/ü.html") == "https://x.org/meetings/n/%C3%BC.html"


def test_links_for_agrees_with_the_renderer() -> None:
    links = links_for(PurePosixPath("nova/2019/nova.2019-01-03-14.00"), "https://x.org/m/")
    assert links.href(".log.html") == "nova.2019-01-03-14.00.log.html"
    assert links.url(".log.html") == "https://x.org/m/nova/2019/nova.2019-01-03-14.00.log.html"
    assert links_for(PurePosixPath("a"), None).url(".html") is None
    with pytest.raises(UnsafePathError):
        links_for(PurePosixPath("../a"), None)


# --- files ---------------------------------------------------------------------------------


@pytest.fixture
def umask() -> Iterator[None]:
    # A strict umask proves the modes are set explicitly, not inherited.
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def names(directory: Path) -> list[str]:
    """The names in `directory` once the old files that publishes replaced are gone: their
    second names are unlinked in a thread of their own, some time after a publish returns."""
    await publish_files.settled()
    return sorted(p.name for p in directory.iterdir())


async def test_publish_writes_every_file(tmp_path: Path, umask: None) -> None:
    publisher = Publisher(tmp_path / "pub", "https://x.org/meetings")
    base = PurePosixPath("nova/2019/nova.2019-01-03-14.00")
    files = render_all(meeting(), publisher.links(base), generator="meetbot test")
    published = await publisher.publish(base, files)
    assert [p.extension for p in published] == list(files)
    for item in published:
        assert item.path == tmp_path / "pub" / (str(base) + item.extension)
        assert item.path.read_text(encoding="utf-8") == files[item.extension]
        assert mode(item.path) == 0o644
        assert item.url == f"https://x.org/meetings/{base}{item.extension}"
        assert item.url == publisher.links(base).url(item.extension)
    # No temporary files are left behind.
    assert await names(tmp_path / "pub/nova/2019") == sorted(f"nova.2019-01-03-14.00{ext}" for ext in files)


async def test_restricted_mode_and_no_base_url(tmp_path: Path, umask: None) -> None:
    publisher = Publisher(tmp_path, None, restricted_mode=0o640)
    published = await publisher.publish(PurePosixPath("a/b"), {".log.txt": "x\n"}, restricted=True)
    assert mode(published[0].path) == 0o640
    assert published[0].url is None


async def test_overwrite_is_atomic_replace(tmp_path: Path) -> None:
    publisher = Publisher(tmp_path, None)
    first = (await publisher.publish(PurePosixPath("m"), {".txt": "one"}))[0].path
    inode = first.stat().st_ino
    await publisher.publish(PurePosixPath("m"), {".txt": "two"})
    assert first.read_text() == "two"
    assert first.stat().st_ino != inode  # a new file renamed over the old one, not rewritten
    assert await names(tmp_path) == ["m.txt"]


async def test_a_replaced_file_is_freed_after_the_rename_not_inside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rename must not drop the old file's last name (freeing its blocks took ~1.2 ms a
    file here, with the room waiting): a second name holds it, and goes after the publish."""
    publisher = Publisher(tmp_path, None)
    await publisher.publish(PurePosixPath("m"), {".html": "one", ".txt": "one"})
    old_files = [os.open(tmp_path / name, os.O_RDONLY) for name in ("m.html", "m.txt")]
    links_at_rename: list[int] = []
    replace = os.replace

    def renaming(source: str, target: str | Path) -> None:
        links_at_rename.append(os.stat(target).st_nlink)
        replace(source, target)

    monkeypatch.setattr(os, "replace", renaming)
    try:
        await publisher.publish(PurePosixPath("m"), {".html": "two", ".txt": "two"})
        assert links_at_rename == [2, 2]
        await publish_files.settled()
        assert [os.fstat(fd).st_nlink for fd in old_files] == [0, 0]  # no name left: freed
    finally:
        for fd in old_files:
            os.close(fd)
    assert await names(tmp_path) == ["m.html", "m.txt"]
    assert (tmp_path / "m.txt").read_text() == "two"


async def test_without_hard_links_a_file_is_replaced_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publisher = Publisher(tmp_path, None)
    await publisher.publish(PurePosixPath("m"), {".txt": "one"})

    def no_hard_links(*args: object, **kwargs: object) -> None:
        raise PermissionError("operation not permitted")

    monkeypatch.setattr(os, "link", no_hard_links)
    await publisher.publish(PurePosixPath("m"), {".txt": "two"})
    assert (tmp_path / "m.txt").read_text() == "two"
    assert await names(tmp_path) == ["m.txt"]


async def test_a_second_name_that_will_not_go_is_logged_and_the_publish_stands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = Publisher(tmp_path, None)
    await publisher.publish(PurePosixPath("m"), {".txt": "one"})
    unlink = os.unlink

    def refusing(path: str | Path, *args: object, **kwargs: object) -> None:
        if str(path).endswith(".old"):
            raise PermissionError("read-only")
        unlink(path)

    monkeypatch.setattr(os, "unlink", refusing)
    published = await publisher.publish(PurePosixPath("m"), {".txt": "two"})
    await publish_files.settled()
    assert published[0].path.read_text() == "two"
    assert "could not remove" in caplog.text
    assert ".m.txt." in caplog.text


async def test_a_directory_made_for_a_publish_is_synced_in_its_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new team's or year's directory is an entry in its parent: synced there too, or a power
    cut could take the directory with every synced file in it."""
    publisher = Publisher(tmp_path / "pub", None)
    synced: list[Path] = []
    fsync_directory = publish_files._fsync_directory

    def recording(directory: Path) -> None:
        synced.append(directory)
        fsync_directory(directory)

    monkeypatch.setattr(publish_files, "_fsync_directory", recording)
    await publisher.publish(PurePosixPath("infra/2026/m"), {".txt": "one"})
    pub = tmp_path / "pub"
    assert sorted(synced) == [tmp_path, pub, pub / "infra", pub / "infra/2026"]
    synced.clear()
    await publisher.publish(PurePosixPath("infra/2026/n"), {".txt": "two"})
    assert synced == [pub / "infra/2026"]  # nothing new above it


async def test_failed_write_leaves_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publisher = Publisher(tmp_path, None)
    await publisher.publish(PurePosixPath("m"), {".txt": "old"})

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk on fire"):
        await publisher.publish(PurePosixPath("m"), {".txt": "new"})
    assert (tmp_path / "m.txt").read_text() == "old"
    assert await names(tmp_path) == ["m.txt"]


async def test_symlinked_directory_pointing_outside_is_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "pub", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "nova").symlink_to(outside, target_is_directory=True)
    publisher = Publisher(root, None)
    with pytest.raises(UnsafePathError):
        await publisher.publish(PurePosixPath("nova/2019/x"), {".html": "pwned"})
    assert await names(outside) == []


async def test_symlinked_file_pointing_outside_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "pub"
    root.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (root / "x.html").symlink_to(victim)
    with pytest.raises(UnsafePathError):
        await Publisher(root, None).publish(PurePosixPath("x"), {".html": "pwned"})
    assert victim.read_text() == "precious"


async def test_symlink_inside_the_archive_is_fine(tmp_path: Path) -> None:
    root = tmp_path / "pub"
    (root / "real").mkdir(parents=True)
    (root / "alias").symlink_to(root / "real", target_is_directory=True)
    await Publisher(root, None).publish(PurePosixPath("alias/x"), {".txt": "ok"})
    assert (root / "real/x.txt").read_text() == "ok"


async def test_publish_dir_may_itself_be_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "pub").symlink_to(tmp_path / "data", target_is_directory=True)
    published = await Publisher(tmp_path / "pub", None).publish(PurePosixPath("a/x"), {".txt": "ok"})
    assert published[0].path == tmp_path / "pub/a/x.txt"
    assert (tmp_path / "data/a/x.txt").read_text() == "ok"


@pytest.mark.parametrize("extension", ["", "html", "./x", "/../../x", ".a/b", ".html\x00", ". ", ".x" * 5])
async def test_bad_extensions_refused(tmp_path: Path, extension: str) -> None:
    with pytest.raises(UnsafePathError):
        await Publisher(tmp_path, None).publish(PurePosixPath("m"), {".txt": "ok", extension: "x"})
    assert await names(tmp_path) == []  # nothing written when any name is bad


@pytest.mark.parametrize("basename", ["../m", "/etc/m", "a/../../m", "."])
async def test_bad_basenames_refused(tmp_path: Path, basename: str) -> None:
    with pytest.raises(UnsafePathError):
        await Publisher(tmp_path / "pub", None).publish(PurePosixPath(basename), {".txt": "x"})
    assert not (tmp_path / "m.txt").exists()


async def test_publish_many_writes_every_set(tmp_path: Path, umask: None) -> None:
    publisher = Publisher(tmp_path, "https://x.org/m")
    sets = [
        (PurePosixPath("a/index"), {".html": "one"}),
        (PurePosixPath("index"), {".html": "two", ".txt": "3"}),
    ]
    published = await publisher.publish_many(sets)
    assert [(p.path, p.url) for p in published] == [
        (tmp_path / "a/index.html", "https://x.org/m/a/index.html"),
        (tmp_path / "index.html", "https://x.org/m/index.html"),
        (tmp_path / "index.txt", "https://x.org/m/index.txt"),
    ]
    assert [p.path.read_text() for p in published] == ["one", "two", "3"]
    assert all(mode(p.path) == 0o644 for p in published)
    assert await names(tmp_path) == ["a", "index.html", "index.txt"]


async def test_a_failed_write_part_way_leaves_every_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publisher = Publisher(tmp_path, None)
    await publisher.publish(PurePosixPath("m"), {".html": "old", ".txt": "old"})
    synced = []
    fsync = os.fsync

    def failing_second(fd: int) -> None:
        synced.append(fd)
        if len(synced) == 2:
            raise OSError("disk full")
        fsync(fd)

    monkeypatch.setattr(os, "fsync", failing_second)
    with pytest.raises(OSError, match="disk full"):
        await publisher.publish(PurePosixPath("m"), {".html": "new", ".txt": "new"})
    # Nothing is renamed before every file is written: the set stays the old one.
    assert (tmp_path / "m.html").read_text() == "old"
    assert (tmp_path / "m.txt").read_text() == "old"
    assert await names(tmp_path) == ["m.html", "m.txt"]


async def test_files_written_at_once_are_each_synced_before_any_is_renamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publisher = Publisher(tmp_path, None)
    sets = [(PurePosixPath(f"d{n}/m"), {".html": f"new {n}", ".txt": f"new {n}"}) for n in range(4)]
    await publisher.publish_many([(base, dict.fromkeys(files, "old")) for base, files in sets])
    events: list[str] = []
    fsync, replace = os.fsync, os.replace

    def syncing(fd: int) -> None:
        fsync(fd)
        events.append("sync")

    def renaming(source: str, target: str | Path) -> None:
        events.append("rename")
        replace(source, target)

    monkeypatch.setattr(os, "fsync", syncing)
    monkeypatch.setattr(os, "replace", renaming)
    published = await publisher.publish_many(sets)
    # Every file synced before the first rename; the renames in the order of the sets; each
    # directory synced after them.
    assert events[:8] == ["sync"] * 8
    assert events[8:16] == ["rename"] * 8
    assert events[16:] == ["sync"] * 4
    assert [(p.path.parent.name, p.extension) for p in published] == [
        (f"d{n}", extension) for n in range(4) for extension in (".html", ".txt")
    ]
    for base, files in sets:
        for extension, content in files.items():
            assert (tmp_path / f"{base}{extension}").read_text() == content


async def test_a_failure_among_files_written_at_once_leaves_every_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publisher = Publisher(tmp_path, None)
    sets = [(PurePosixPath(f"d{n}/m"), {".html": "old", ".txt": "old"}) for n in range(4)]
    await publisher.publish_many(sets)
    fsync = os.fsync

    def failing_one(fd: int) -> None:
        # One file in the middle of the batch (Linux: the descriptor's path in /proc).
        if "/d2/.m.txt." in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError("disk full")
        fsync(fd)

    monkeypatch.setattr(os, "fsync", failing_one)
    with pytest.raises(OSError, match="disk full"):
        await publisher.publish_many([(base, dict.fromkeys(files, "new")) for base, files in sets])
    for n in range(4):
        assert await names(tmp_path / f"d{n}") == ["m.html", "m.txt"]
        assert (tmp_path / f"d{n}" / "m.html").read_text() == "old"


# --- files that hold their content already ------------------------------------------------------


def _identity(path: Path) -> tuple[int, int]:
    status = path.stat()
    return status.st_ino, status.st_mtime_ns


async def test_a_file_that_holds_its_content_already_is_left_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publisher = Publisher(tmp_path, None)
    sets = [(PurePosixPath("a/index"), {".html": "one ü"}), (PurePosixPath("m"), {".html": "x", ".txt": "y"})]
    first = await publisher.publish_many(sets)
    before = {p.path: _identity(p.path) for p in first}
    synced: list[int] = []
    fsync = os.fsync

    def counting(fd: int) -> None:
        synced.append(fd)
        fsync(fd)

    monkeypatch.setattr(os, "fsync", counting)
    again = await publisher.publish_many(sets)
    # Reported as published, and untouched: no new file, no rename, no sync (directories too).
    assert [p.path for p in again] == [p.path for p in first]
    assert {p.path: _identity(p.path) for p in again} == before
    assert synced == []
    # One changed file of the set is written; its unchanged neighbours still are not.
    await publisher.publish_many([(PurePosixPath("m"), {".html": "x", ".txt": "z"})])
    assert (tmp_path / "m.txt").read_text() == "z"
    assert _identity(tmp_path / "m.txt") != before[tmp_path / "m.txt"]
    assert _identity(tmp_path / "m.html") == before[tmp_path / "m.html"]
    assert len(synced) == 2  # the new file, then its directory
    assert await names(tmp_path) == ["a", "m.html", "m.txt"]


async def test_a_file_changed_on_disk_or_in_mode_is_written_again(tmp_path: Path, umask: None) -> None:
    publisher = Publisher(tmp_path, None)
    base = PurePosixPath("m")
    (path,) = [p.path for p in await publisher.publish(base, {".txt": "same size"})]
    path.write_text("SAME SIZE")  # edited in place behind the publisher's back, length kept
    await publisher.publish(base, {".txt": "same size"})
    assert path.read_text() == "same size"
    # Published restricted with the same content: the mode must change, so the file is new.
    await publisher.publish(base, {".txt": "same size"}, restricted=True)
    assert mode(path) == 0o600
    os.chmod(path, 0o666)
    await publisher.publish(base, {".txt": "same size"}, restricted=True)
    assert mode(path) == 0o600


async def test_a_symlink_to_the_same_content_is_replaced_by_the_file(tmp_path: Path) -> None:
    root = tmp_path / "pub"
    root.mkdir()
    (root / "real.txt").write_text("content")
    (root / "m.txt").symlink_to(root / "real.txt")
    os.chmod(root / "real.txt", 0o644)
    await Publisher(root, None).publish(PurePosixPath("m"), {".txt": "content"})
    assert not (root / "m.txt").is_symlink()
    assert (root / "m.txt").read_text() == "content"


async def test_a_symlink_inside_the_archive_is_replaced_never_written_through(tmp_path: Path) -> None:
    """Files are not resolved one by one (only their directories are): a link in a file's
    place that stays inside the archive is replaced by the new file, its target untouched."""
    root = tmp_path / "pub"
    (root / "team").mkdir(parents=True)
    (root / "other.html").write_text("other page")
    (root / "team/m.html").symlink_to(root / "other.html")
    await Publisher(root, None).publish(PurePosixPath("team/m"), {".html": "new", ".txt": "new too"})
    assert not (root / "team/m.html").is_symlink()
    assert (root / "team/m.html").read_text() == "new"
    assert (root / "other.html").read_text() == "other page"


async def test_one_planted_link_refuses_the_whole_set_before_anything_is_written(tmp_path: Path) -> None:
    root, victim = tmp_path / "pub", tmp_path / "victim"
    root.mkdir()
    victim.write_text("precious")
    (root / "x.log.html").symlink_to(victim)
    with pytest.raises(UnsafePathError):
        await Publisher(root, None).publish(PurePosixPath("x"), {".html": "a", ".log.html": "b", ".txt": "c"})
    assert victim.read_text() == "precious"
    assert await names(root) == ["x.log.html"]
