"""`meetbot meeting ...`: fixes after the meeting are lines with who and when, folded into the
minutes, the published files and the search index."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from meetbot.cli import main
from meetbot.storage.database import Database
from tests.web.conftest import Seeded, seed


@pytest.fixture
def seeded(tmp_path: Path) -> tuple[Seeded, Path]:
    result = asyncio.run(seed(f"sqlite+aiosqlite:///{tmp_path / 'meetbot.db'}", tmp_path))
    config = tmp_path / "meetbot.yaml"
    config.write_text(
        f"database: {{url: '{result.url}'}}\npublish: {{dir: '{result.publish}'}}\n", encoding="utf-8"
    )
    return result, config


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["meeting", *args])
    out, err = capsys.readouterr()
    return code, out, err


async def _search(url: str, words: str) -> list[str]:
    database = await Database.open(url)
    try:
        return [hit.text for hit in (await database.search.search(words)).hits]
    finally:
        await database.close()


def search(url: str, words: str) -> list[str]:
    return asyncio.run(_search(url, words))


def test_list_shows_every_meeting_to_the_admin(
    seeded: tuple[Seeded, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, config = seeded
    code, out, _ = run(capsys, "list", "-c", str(config))
    assert code == 0
    rows = [line.split("\t") for line in out.splitlines()]
    assert [row[0] for row in rows] == ["4", "3", "2", "1"]
    assert rows[0][4] == "ended restricted"


def test_edit_keeps_the_original_and_republishes(
    seeded: tuple[Seeded, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data, config = seeded
    code, out, err = run(
        capsys,
        "edit",
        "1",
        "4",
        "we should move the pelican servers first",
        "--by",
        "carol",
        "-c",
        str(config),
    )
    assert code == 0, err
    log = data.publish / "infra/2026/infra.2026-11-02-16.00.log.html"
    assert str(log) in out.splitlines()
    text = log.read_text(encoding="utf-8")
    assert "pelican servers first (edited)" in text
    assert "flamingo servers first" not in text
    _, shown, _ = run(capsys, "show", "1", "-c", str(config))
    assert "[edited; originally: we should move the flamingo servers first]" in shown
    assert "carol (admin) edited line 4: we should move the pelican servers first" in shown
    assert search(data.url, "pelican") == ["we should move the pelican servers first"]
    assert search(data.url, "flamingo servers first") == []


def test_redact_removes_the_text_for_good(
    seeded: tuple[Seeded, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data, config = seeded
    code, _, err = run(capsys, "redact", "1", "7", "--by", "carol", "-c", str(config))
    assert code == 0, err
    _, shown, _ = run(capsys, "show", "1", "-c", str(config))
    assert "[redacted]" in shown
    assert "quoted" not in shown  # the stored text is blank, not merely hidden
    log = (data.publish / "infra/2026/infra.2026-11-02-16.00.log.html").read_text(encoding="utf-8")
    assert "(message removed)" in log
    assert "NEAR(a b)" not in log
    assert search(data.url, "quoted") == []


def test_bad_targets_are_refused(seeded: tuple[Seeded, Path], capsys: pytest.CaptureFixture[str]) -> None:
    _, config = seeded
    code, _, err = run(capsys, "edit", "1", "999", "x", "--by", "carol", "-c", str(config))
    assert code == 1
    assert "has no message on line 999" in err
    code, _, err = run(capsys, "redact", "77", "1", "--by", "carol", "-c", str(config))
    assert code == 1
    assert "no meeting 77" in err


def test_regenerate_all_rewrites_files_and_archive(
    seeded: tuple[Seeded, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data, config = seeded
    index = data.publish / "infra" / "index.html"
    index.unlink()
    code, out, _ = run(capsys, "regenerate", "--all", "-c", str(config))
    assert code == 0
    assert index.is_file()
    assert sum(1 for line in out.splitlines() if line.endswith(".log.html")) == 4


def test_rename_moves_the_files_and_old_links_redirect(
    seeded: tuple[Seeded, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, config = seeded

    def minutes_page(out: str) -> Path:
        return next(Path(line) for line in out.splitlines() if line.endswith(".html") and ".log." not in line)

    code, out, _ = run(capsys, "regenerate", "1", "-c", str(config))  # prints meeting 1's files
    assert code == 0
    old_html = minutes_page(out)
    code, out, err = run(capsys, "rename", "1", "Renamed Team", "--by", "admin", "-c", str(config))
    assert code == 0, err
    new_html = minutes_page(out)
    assert new_html.parts[-3] == "renamed_team"
    assert new_html.is_file()
    assert old_html != new_html
    stub = old_html.read_text(encoding="utf-8")
    assert 'http-equiv="refresh"' in stub
    target = (old_html.parent / stub.split("url=")[1].split('"')[0]).resolve()
    assert target == new_html.resolve()
    assert not old_html.with_suffix(".json").exists()
    code, out, _ = run(capsys, "show", "1", "-c", str(config))
    assert "#meetingname renamed_team" in out
    code, _, err = run(capsys, "rename", "1", "...", "--by", "admin", "-c", str(config))
    assert code != 0
    assert "nothing usable" in err
