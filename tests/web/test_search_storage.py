"""The search repository on SQLite (FTS5 kept in sync by triggers) and PostgreSQL (GIN index):
edits, redactions and deletions are reflected; query syntax can't get through."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete

from meetbot.domain.model import Line
from meetbot.engine import Engine
from meetbot.events import LineKind
from meetbot.storage.database import Database
from meetbot.storage.search import fts5_query, highlight, query_words
from meetbot.storage.tables import MeetingRow
from tests.conftest import MATRIX_ROOM, T0, finished_meeting

ROOM = MATRIX_ROOM


def line(seq: int, text: str, kind: LineKind = LineKind.SAY, **extra: object) -> Line:
    return Line(seq, T0 + timedelta(seconds=seq), kind, "alice", "matrix:@alice:example.org", text, **extra)  # type: ignore[arg-type]


@pytest.fixture
def database(opened_database: Database) -> Database:
    return opened_database


async def texts(database: Database, query: str) -> list[tuple[int, str]]:
    results = await database.search.search(query)
    return [(hit.seq, hit.text) for hit in results.hits]


async def test_edits_redactions_and_deletions_reach_the_index(database: Database, engine: Engine) -> None:
    meeting_id = await finished_meeting(
        database,
        engine,
        [
            line(1, "#startmeeting"),
            line(2, "the wombat budget is tight", native_id="$a"),
            line(3, "the wombat budget is fine", LineKind.EDIT, native_id="$b", edit_of="$a"),
            line(4, "my secret numbat token", native_id="$c"),
            line(5, "#info wombat census done", native_id="$d"),
            line(6, "#endmeeting"),
        ],
    )
    # The newest text of an edited message is found, and links to where the message sits.
    assert await texts(database, "wombat budget") == [(2, "the wombat budget is fine")]
    assert await texts(database, "tight") == []
    hits = (await database.search.search("census")).hits
    assert [(h.seq, h.item_kind) for h in hits] == [(5, "INFO")]
    assert await texts(database, "numbat") == [(4, "my secret numbat token")]
    await database.meetings.blank_lines(meeting_id, "$c")
    assert await texts(database, "numbat") == []
    async with database.engine.begin() as connection:
        await connection.execute(delete(MeetingRow).where(MeetingRow.id == meeting_id))
    assert await texts(database, "wombat") == []


async def test_open_meetings_are_not_searched(database: Database) -> None:
    header = await database.meetings.start_meeting(ROOM, line(1, "#startmeeting"))
    await database.meetings.append_line(header.id, line(2, "draft platypus plan"))
    assert await texts(database, "platypus") == []


@pytest.mark.parametrize(
    "query",
    ['"', "a:b", "NEAR(a b)", "x*", "(", ")", "^a", "a AND", "OR", "-x", "'", "\\", "a&b|c", "<->", "!"],
)
async def test_query_syntax_never_reaches_the_database(
    database: Database, engine: Engine, query: str
) -> None:
    await finished_meeting(
        database, engine, [line(1, "#startmeeting"), line(2, 'a b x "quoted" c'), line(3, "#endmeeting")]
    )
    results = await database.search.search(query)
    assert results.total == len(results.hits) <= 1


def test_query_words_and_fts5_quoting() -> None:
    assert query_words('say "hello" NEAR(x) <b>') == ["say", "hello", "NEAR", "x", "b"]
    assert fts5_query(["NEAR", "x"]) == '"NEAR" "x"'
    assert len(query_words("w " * 100)) == 16


def test_highlight_marks_words_and_trims_long_lines() -> None:
    fragments = highlight("<b>Flamingo</b> flamingos fly", ["flamingo"])
    assert [(f.text, f.match) for f in fragments] == [
        ("<b>", False),
        ("Flamingo", True),
        ("</b> ", False),
        ("flamingos", True),
        (" fly", False),
    ]
    long = "x " * 500 + "needle" + " y" * 500
    cut = highlight(long, ["needle"])
    assert cut[0].text == "…"
    assert cut[-1].text == "…"
    assert sum(len(f.text) for f in cut) < 400
