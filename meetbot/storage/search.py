"""Full-text search over what was said in public meetings, one method for both backends:
SQLite FTS5 (the `meeting_lines_search` table of migration 0005) or PostgreSQL's
`to_tsvector('simple', text)` (`meeting_lines_search_vectors`, GIN-indexed, migration 0010).
New lines wait to be indexed (migrations 0008 and 0010); a search indexes them first
(`meetbot.storage.search_index`).

User input never reaches either query language: the query is cut into words here and each
word is quoted (FTS5) or passed to `plainto_tsquery` (PostgreSQL), so `"`, `*`, `NEAR`, `:`,
`&`, `|` or `(` can't make a syntax error or change the meaning. All words must match.

What is searched is what a reader of the log sees: speech, topics and on-behalf commands,
with an edited message found by its newest text (and linked to where the original sits in the
log), and redacted text (blanked in storage) found nowhere.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    Select,
    and_,
    column,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    table,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from meetbot.events import LineKind
from meetbot.storage.listing import PUBLIC, ListingStore, series_name
from meetbot.storage.meetings import translate_outages
from meetbot.storage.search_index import SearchIndexer
from meetbot.storage.tables import ItemRow, LineRow, MeetingRow

log = logging.getLogger(__name__)

# The FTS5 table of migration 0005; raw SQL only, so not part of the models' metadata.
_FTS = table("meeting_lines_search", column("rowid", Integer), column("rank", Float))
# PostgreSQL's vectors of migration 0010, likewise.
_VECTORS = table("meeting_lines_search_vectors", column("id", Integer), column("vector"))

# PostgreSQL refusing a search's catch-up its writes: a role that may only read (one given to
# `meetbot serve`, say) or a read-only server (a hot standby).
_MAY_ONLY_READ = ("42501", "25006")

MAX_WORDS = 16
MAX_WORD_LENGTH = 64
_WORD = re.compile(r"\w+")

SEARCHED_KINDS = tuple(
    kind.value
    for kind in (
        LineKind.SAY,
        LineKind.ACTION,
        LineKind.NOTICE,
        LineKind.ON_BEHALF,
        LineKind.TOPIC,
        LineKind.EDIT,
    )
)


def query_words(query: str) -> list[str]:
    """The words of a search box entry; everything else in it is ignored."""
    return [word[:MAX_WORD_LENGTH] for word in _WORD.findall(query)][:MAX_WORDS]


def fts5_query(words: list[str]) -> str:
    # Each word a quoted FTS5 string: no operator, column filter or prefix syntax survives.
    return " ".join('"' + word.replace('"', '""') + '"' for word in words)


@dataclass(frozen=True, slots=True)
class SearchFilters:
    team: str | None = None
    network: str | None = None
    room: str | None = None
    person: str | None = None  # a nick (any case) or an identity key
    since: datetime | None = None
    until: datetime | None = None
    item_kind: str | None = None  # only lines that made a minutes item of this kind (ItemKind)


@dataclass(frozen=True, slots=True)
class SearchHit:
    meeting_id: int
    team: str
    network: str
    room: str
    meeting_title: str | None
    meeting_started_at: datetime
    seq: int  # the log line to link to (for an edit: the message it changed)
    at: datetime
    nick: str
    sender_key: str
    text: str
    kind: str  # LineKind value
    item_kind: str | None  # the minutes item this line made, if any
    rank: float


@dataclass(frozen=True, slots=True)
class SearchResults:
    words: tuple[str, ...]
    hits: tuple[SearchHit, ...]
    total: int
    offset: int
    limit: int


_Row = tuple[LineRow, MeetingRow, int | None, str | None, float | None]


def _rows(rows: Sequence[Any]) -> list[_Row]:
    # SQLAlchemy's typing loses the column types through the scalar subqueries.
    return [tuple(row) for row in rows]


class SearchStore:
    def __init__(self, engine: AsyncEngine, listing: ListingStore) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._dialect = engine.dialect.name
        self._listing = listing
        self.indexer = SearchIndexer(engine)
        self._said_read_only = False

    def _session(self) -> AsyncSession:
        return self._sessions()

    @translate_outages
    async def search(
        self, query: str, filters: SearchFilters | None = None, *, offset: int = 0, limit: int = 20
    ) -> SearchResults:
        """Lines of public meetings containing every word of `query`, best first."""
        filters = filters or SearchFilters()
        words = query_words(query)
        if not words:
            return SearchResults((), (), 0, offset, limit)
        # Lines written up to now are in the index before we look (it takes them in later).
        await self._catch_up()
        async with self._session() as session:
            matched, rank = self._match(words)
            clauses = [matched, *await self._filter_clauses(session, filters)]
            base = self._base(rank).where(*clauses)
            total = await session.scalar(
                select(func.count()).select_from(base.with_only_columns(LineRow.id).subquery())
            )
            order = rank.asc() if self._dialect == "sqlite" else rank.desc()
            result = await session.execute(
                base.order_by(order, LineRow.at.desc(), LineRow.id.desc()).offset(offset).limit(limit)
            )
            hits = tuple(
                SearchHit(
                    meeting_id=line.meeting_id,
                    team=series_name(meeting.name, meeting.room),
                    network=meeting.network,
                    room=meeting.room,
                    meeting_title=meeting.title,
                    meeting_started_at=meeting.started_at,
                    seq=target_seq if target_seq is not None else line.seq,
                    at=line.at,
                    nick=line.nick,
                    sender_key=line.sender_key,
                    text=line.text,
                    kind=line.kind,
                    item_kind=item_kind,
                    rank=float(score or 0.0),
                )
                for line, meeting, target_seq, item_kind, score in _rows(result.all())
            )
            return SearchResults(tuple(words), hits, total or 0, offset, limit)

    async def _catch_up(self) -> None:
        try:
            await self.indexer.catch_up()
        except DBAPIError as error:
            if getattr(error.orig, "sqlstate", None) not in _MAY_ONLY_READ:
                raise
            # The bot's own catch-ups keep the index a couple of seconds behind at most.
            if not self._said_read_only:
                self._said_read_only = True
                log.warning(
                    "this process may not write to the database, so its searches find what the bot "
                    "has indexed (seconds behind): %s",
                    str(error.orig).splitlines()[0],
                )

    def _match(self, words: list[str]) -> tuple[ColumnElement[bool], ColumnElement[float]]:
        if self._dialect == "sqlite":
            # FTS5's hidden `rank` column is bm25(): smaller is better. Joined in `_base`.
            match = literal_column("meeting_lines_search").op("MATCH", is_comparison=True)(
                literal(fts5_query(words))
            )
            return match, _FTS.c.rank
        # The vectors are to_tsvector('simple', text) (migration 0010): the same configuration.
        tsquery = func.plainto_tsquery(literal_column("'simple'"), " ".join(words))
        return _VECTORS.c.vector.op("@@")(tsquery), func.ts_rank(_VECTORS.c.vector, tsquery)

    def _base(
        self, rank: ColumnElement[float]
    ) -> Select[tuple[LineRow, MeetingRow, int | None, str | None, float]]:
        original = aliased(LineRow)
        target_seq = (
            select(original.seq)
            .where(
                LineRow.kind == LineKind.EDIT.value,
                original.meeting_id == LineRow.meeting_id,
                original.native_id == LineRow.edit_of,
                original.kind != LineKind.EDIT.value,
            )
            .limit(1)
            .scalar_subquery()
        )
        item_kind = (
            select(ItemRow.kind)
            .where(ItemRow.meeting_id == LineRow.meeting_id, ItemRow.line_seq == LineRow.seq)
            .limit(1)
            .scalar_subquery()
        )
        # Edited messages are found by their newest text, so the original and older edits drop
        # out. Both tests are cheap for the common case (IRC lines have no native id and are
        # never edits): one uncorrelated set of edited ids, and a lookup for edit lines only.
        edits = aliased(LineRow)
        edited_ids = select(edits.edit_of).where(
            edits.kind == LineKind.EDIT.value, edits.edit_of.is_not(None)
        )
        newer = aliased(LineRow)
        newest_edit = (
            select(func.max(newer.seq))
            .where(
                newer.meeting_id == LineRow.meeting_id,
                newer.kind == LineKind.EDIT.value,
                newer.edit_of == LineRow.edit_of,
            )
            .scalar_subquery()
        )
        current = and_(
            or_(LineRow.native_id.is_(None), LineRow.native_id.not_in(edited_ids)),
            or_(LineRow.kind != LineKind.EDIT.value, LineRow.seq == newest_edit),
        )
        query = select(LineRow, MeetingRow, target_seq, item_kind, rank).join(
            MeetingRow, MeetingRow.id == LineRow.meeting_id
        )
        if self._dialect == "sqlite":
            query = query.join(_FTS, _FTS.c.rowid == LineRow.id)
        else:
            query = query.join(_VECTORS, _VECTORS.c.id == LineRow.id)
        return query.where(PUBLIC, LineRow.kind.in_(SEARCHED_KINDS), current)

    async def _filter_clauses(
        self, session: AsyncSession, filters: SearchFilters
    ) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        if filters.team:
            clauses.append(await self._listing.team_clause(session, filters.team))
        if filters.network:
            clauses.append(MeetingRow.network == filters.network)
        if filters.room:
            clauses.append(MeetingRow.room == filters.room)
        if filters.person:
            clauses.append(
                or_(
                    LineRow.sender_key == filters.person,
                    func.lower(LineRow.nick) == filters.person.lower(),
                )
            )
        if filters.since:
            clauses.append(LineRow.at >= filters.since)
        if filters.until:
            clauses.append(LineRow.at < filters.until)
        if filters.item_kind:
            clauses.append(
                exists().where(
                    ItemRow.meeting_id == LineRow.meeting_id,
                    ItemRow.line_seq == LineRow.seq,
                    ItemRow.kind == filters.item_kind,
                )
            )
        return clauses


# -- highlighting: pure, shared by the HTML page and the JSON API ---------------------------------


@dataclass(frozen=True, slots=True)
class Fragment:
    text: str
    match: bool


def highlight(text_: str, words: tuple[str, ...] | list[str], *, context: int = 120) -> tuple[Fragment, ...]:
    """`text_` cut into plain and matching runs (words match as prefixes of words, any case),
    trimmed to `context` characters around the first match. Templates escape each run; nothing
    here produces markup."""
    if not words:
        return (Fragment(text_, False),)
    pattern = re.compile(
        r"\b(?:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + r")\w*",
        re.IGNORECASE,
    )
    first = pattern.search(text_)
    start = 0
    if first is not None and first.start() > context:
        start = first.start() - context // 2
    end = min(len(text_), start + 2 * context + (first.end() - first.start() if first else 0))
    window = text_[start:end]
    fragments: list[Fragment] = []
    if start > 0:
        fragments.append(Fragment("…", False))
    pos = 0
    for match in pattern.finditer(window):
        if match.start() > pos:
            fragments.append(Fragment(window[pos : match.start()], False))
        fragments.append(Fragment(match.group(0), True))
        pos = match.end()
    if pos < len(window):
        fragments.append(Fragment(window[pos:], False))
    if end < len(text_):
        fragments.append(Fragment("…", False))
    return tuple(fragments)
