"""The team repository: agenda items and action items kept between meetings.

Implements `meetbot.domain.team.TeamRepository`; returns domain objects, never rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Integer,
    Row,
    Select,
    String,
    and_,
    any_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

from meetbot.domain.model import Meeting
from meetbot.domain.team import (
    ActionEvent,
    ActionItem,
    ActionStatus,
    AgendaItem,
    AgendaStatus,
    NewAction,
    Owner,
    TeamSnapshot,
)
from meetbot.storage.linewriter import LineWriter
from meetbot.storage.listing import Reader
from meetbot.storage.meetings import translate_outages
from meetbot.storage.tables import (
    ActionEventRow,
    ActionOwnerRow,
    ActionRow,
    AgendaRow,
    MeetingRow,
    ScheduleSkipRow,
)

_ACTIONS = ActionRow.__table__
_EVENTS = ActionEventRow.__table__


def _among(column: ColumnElement[int] | InstrumentedAttribute[int], postgresql: bool) -> ColumnElement[bool]:
    """`column` among the parameter `ids`. On PostgreSQL one array, so that the statement's
    text is the same however many there are: a list of placeholders made a new text, so a new
    prepared statement (a round trip more, and the server's planning), at every publish."""
    if postgresql:
        return column == any_(bindparam("ids", type_=ARRAY(Integer)))
    return column.in_(bindparam("ids", expanding=True))


# Built once, the statements every publish runs: building one took as long as SQLite took to
# run it. By whether the database is PostgreSQL.
_OWNERS_OF = {
    postgresql: select(ActionOwnerRow.action_id, ActionOwnerRow.owner_key, ActionOwnerRow.nick)
    .where(_among(ActionOwnerRow.action_id, postgresql))
    .order_by(ActionOwnerRow.nick)
    for postgresql in (False, True)
}
_OWNERS = ActionOwnerRow.__table__
# Action rows, each once per owner (once with NULLs for none), the owners in the order of their nicks.
_WITH_OWNERS = (
    select(_ACTIONS, _OWNERS.c.owner_key, _OWNERS.c.nick.label("owner_nick"))
    .outerjoin(_OWNERS, _OWNERS.c.action_id == _ACTIONS.c.id)
    .order_by(_ACTIONS.c.id, _OWNERS.c.nick)
)
_HISTORY_OF = {
    postgresql: select(
        ActionEventRow.action_id,
        ActionEventRow.at,
        ActionEventRow.actor_nick,
        ActionEventRow.change,
        ActionEventRow.detail,
        ActionEventRow.meeting_id,
    )
    .where(_among(ActionEventRow.action_id, postgresql))
    .order_by(ActionEventRow.at, ActionEventRow.id)
    for postgresql in (False, True)
}


def _agenda_for_minutes_query(ended: bool) -> Select[Any]:
    """TeamStore.agenda_for_minutes()'s statement: parameters team, meeting_id (and ended_at)."""
    # Open as of the meeting's end: open now, or closed only after the meeting ended.
    still_open = AgendaRow.status == AgendaStatus.OPEN
    query = select(AgendaRow.__table__).where(AgendaRow.team == bindparam("team"))
    if ended:
        still_open = or_(still_open, AgendaRow.changed_at > bindparam("ended_at"))
        query = query.where(AgendaRow.added_at <= bindparam("ended_at"))
    return query.where(or_(AgendaRow.covered_meeting_id == bindparam("meeting_id"), still_open)).order_by(
        AgendaRow.covered_line.is_(None), AgendaRow.covered_line, AgendaRow.position
    )


# By whether the meeting has ended.
_AGENDA_FOR_MINUTES = {ended: _agenda_for_minutes_query(ended) for ended in (False, True)}


# A stored status's member: ActionStatus(value) took a third of building a team's actions.
_STATUSES: dict[str, ActionStatus] = {status.value: status for status in ActionStatus}


class UnknownItemError(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class SnapshotQuery:
    """What a meeting's team snapshot (TeamStore.snapshots) is looked up by."""

    team: str
    meeting_id: int
    started_at: datetime
    ended_at: datetime | None

    @classmethod
    def of(cls, meeting: Meeting) -> SnapshotQuery | None:
        if meeting.id is None:
            return None
        return cls(meeting.series_name, meeting.id, meeting.started_at, meeting.ended_at)


def _agenda(row: AgendaRow | Row[Any], position: int) -> AgendaItem:
    """From an ORM row or a Core row of the same table (same attribute names)."""
    return AgendaItem(
        id=row.id,
        team=row.team,
        position=position,
        text=row.text,
        status=AgendaStatus(row.status),
        added_by_key=row.added_by_key,
        added_by_nick=row.added_by_nick,
        added_at=row.added_at,
        covered_meeting_id=row.covered_meeting_id,
        covered_line=row.covered_line,
    )


# The actions of a meeting, skipping any it has already (same meeting, same line), each
# dialect's own ON CONFLICT: the same statement on both.
_INSERT_ACTIONS = {
    name: insert_of(ActionRow)
    .on_conflict_do_nothing(index_elements=["meeting_id", "line_seq"])
    .returning(ActionRow.id, ActionRow.line_seq)
    for name, insert_of in (("sqlite", sqlite_insert), ("postgresql", postgresql_insert))
}


def _record_all(
    team: str, meeting_id: int, actions: Sequence[NewAction], actor: Owner
) -> Callable[[Connection], None]:
    """The unit of work of record_actions: three statements, each compiled once (SQLAlchemy
    passes the rows of an INSERT ... RETURNING as one batch of parameters, the statement's shape
    fixed). An action this meeting has already (its end handled before) is skipped by the
    database: it returns no id for it."""

    def work(connection: Connection) -> None:
        recorded = connection.execute(
            _INSERT_ACTIONS[connection.dialect.name],
            [
                {
                    "team": team,
                    "meeting_id": meeting_id,
                    "line_seq": action.line_seq,
                    "text": action.text,
                    "status": ActionStatus.OPEN,
                    "created_at": action.at,
                }
                for action in actions
            ],
        )
        ids: dict[int, int] = {line_seq: action_id for action_id, line_seq in recorded}
        new = [action for action in actions if action.line_seq in ids]
        if not new:
            return
        owners = [
            {"action_id": ids[action.line_seq], "owner_key": owner.key, "nick": owner.nick}
            for action in new
            for owner in action.owners
        ]
        if owners:
            connection.execute(insert(ActionOwnerRow), owners)
        connection.execute(
            insert(ActionEventRow),
            [
                {
                    "action_id": ids[action.line_seq],
                    "at": action.at,
                    "actor_key": actor.key,
                    "actor_nick": actor.nick,
                    "change": "created",
                    "detail": "",
                    "meeting_id": meeting_id,
                }
                for action in new
            ],
        )

    return work


# PostgreSQL: the same as _record_all's three statements, as one (data-modifying WITH
# queries): atomic by itself, so one round trip, not five (BEGIN, the three, COMMIT) before the
# minutes of every meeting with actions. An action's owners and "created" event go in only
# with its row; the rows keep the actions' order (their ids are the order #actions lists).
_RECORD_ACTIONS_POSTGRESQL = text(
    """
WITH new AS (
    INSERT INTO action_items (team, meeting_id, line_seq, text, status, created_at)
    SELECT :team, :meeting_id, a.line_seq, a.text, :status, a.created_at
    FROM unnest(CAST(:seqs AS INTEGER[]), CAST(:texts AS TEXT[]), CAST(:times AS TIMESTAMPTZ[]))
        WITH ORDINALITY AS a(line_seq, text, created_at, n)
    ORDER BY a.n
    ON CONFLICT (meeting_id, line_seq) DO NOTHING
    RETURNING id, line_seq, created_at
), owners AS (
    INSERT INTO action_owners (action_id, owner_key, nick)
    SELECT new.id, o.owner_key, o.nick
    FROM unnest(CAST(:owner_seqs AS INTEGER[]), CAST(:owner_keys AS TEXT[]), CAST(:owner_nicks AS TEXT[]))
        AS o(line_seq, owner_key, nick)
    JOIN new ON new.line_seq = o.line_seq
)
INSERT INTO action_events (action_id, at, actor_key, actor_nick, change, detail, meeting_id)
SELECT new.id, new.created_at, :actor_key, :actor_nick, 'created', '', :meeting_id
FROM new ORDER BY new.id
"""
)


def _record_all_postgresql(
    team: str, meeting_id: int, actions: Sequence[NewAction], actor: Owner
) -> Callable[[Connection], None]:
    """record_actions' unit of work on PostgreSQL: _RECORD_ACTIONS_POSTGRESQL."""
    parameters = {
        "team": team,
        "meeting_id": meeting_id,
        "status": ActionStatus.OPEN.value,
        "seqs": [action.line_seq for action in actions],
        "texts": [action.text for action in actions],
        "times": [action.at for action in actions],
        "owner_seqs": [action.line_seq for action in actions for _owner in action.owners],
        "owner_keys": [owner.key for action in actions for owner in action.owners],
        "owner_nicks": [owner.nick for action in actions for owner in action.owners],
        "actor_key": actor.key,
        "actor_nick": actor.nick,
    }

    def work(connection: Connection) -> None:
        connection.execute(_RECORD_ACTIONS_POSTGRESQL, parameters)

    return work


def _earlier_and_maybe_open(
    team: str | BindParameter[str], started_at: datetime | BindParameter[datetime]
) -> ColumnElement[bool]:
    """The team's actions made before `started_at` that may have been open then: open now, or
    changed since (ActionItem.status_at decides). A team's closed actions pile up over the
    years, and every publish read all of them, with their owners and histories."""
    changed_since = exists().where(_EVENTS.c.action_id == _ACTIONS.c.id, _EVENTS.c.at > started_at)
    return and_(
        _ACTIONS.c.team == team,
        _ACTIONS.c.created_at < started_at,
        or_(_ACTIONS.c.status == ActionStatus.OPEN, changed_since),
    )


@lru_cache(maxsize=8)
def _snapshot_actions(queries: int) -> Select[Any]:
    """TeamStore.snapshots()'s actions for that many queries, with their owners: each query's
    earlier actions that may have been open (parameters team_N, started_N) and the actions of
    every query's meeting (meeting_ids). Built once per count (a publish asks for one to three):
    building it at each publish, with its cache key, cost ~0.5 ms of the event loop a query."""
    wanted = or_(
        *(
            _earlier_and_maybe_open(
                bindparam(f"team_{n}", type_=String),
                bindparam(f"started_{n}", type_=_ACTIONS.c.created_at.type),
            )
            for n in range(queries)
        ),
        _ACTIONS.c.meeting_id.in_(bindparam("meeting_ids", expanding=True)),
    )
    return _WITH_OWNERS.where(wanted)


def _snapshot_parameters(queries: Sequence[SnapshotQuery]) -> dict[str, object]:
    parameters: dict[str, object] = {"meeting_ids": sorted({q.meeting_id for q in queries})}
    for n, query in enumerate(queries):
        parameters[f"team_{n}"] = query.team
        parameters[f"started_{n}"] = query.started_at
    return parameters


class TeamStore:
    def __init__(self, engine: AsyncEngine, writer: Callable[[], LineWriter]) -> None:
        """`writer`: the connection meetings' lines are written through (MeetingStore.writer,
        which opens and closes it), shared so a meeting's end is one more unit of work in turn
        with its lines."""
        self._engine = engine
        self._writer = writer
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._postgresql = engine.dialect.name == "postgresql"  # which statements' forms to use

    # -- agenda ---------------------------------------------------------------------------

    async def _open_agenda_rows(self, session: AsyncSession, team: str) -> list[AgendaRow]:
        rows = await session.scalars(
            select(AgendaRow)
            .where(AgendaRow.team == team, AgendaRow.status == AgendaStatus.OPEN)
            .order_by(AgendaRow.position, AgendaRow.id)
        )
        return list(rows)

    @translate_outages
    async def agenda(self, team: str) -> Sequence[AgendaItem]:
        async with self._sessions() as session:
            rows = await self._open_agenda_rows(session, team)
            return [_agenda(row, n) for n, row in enumerate(rows, 1)]

    @translate_outages
    async def add_agenda_item(self, team: str, text: str, key: str, nick: str, at: datetime) -> AgendaItem:
        async with self._sessions() as session, session.begin():
            last = await session.scalar(
                select(func.max(AgendaRow.position)).where(
                    AgendaRow.team == team, AgendaRow.status == AgendaStatus.OPEN
                )
            )
            row = AgendaRow(
                team=team,
                position=(last or 0) + 1,
                text=text,
                status=AgendaStatus.OPEN,
                added_by_key=key,
                added_by_nick=nick,
                added_at=at,
            )
            session.add(row)
            await session.flush()
            count = len(await self._open_agenda_rows(session, team))
            return _agenda(row, count)

    @translate_outages
    async def remove_agenda_item(self, item_id: int, at: datetime) -> None:
        await self._set_agenda_status(item_id, AgendaStatus.REMOVED, at)

    @translate_outages
    async def cover_agenda_item(self, item_id: int, meeting_id: int, line: int, at: datetime) -> None:
        await self._set_agenda_status(item_id, AgendaStatus.COVERED, at, meeting_id=meeting_id, line=line)

    async def _set_agenda_status(
        self,
        item_id: int,
        status: AgendaStatus,
        at: datetime,
        *,
        meeting_id: int | None = None,
        line: int | None = None,
    ) -> None:
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(AgendaRow)
                .where(AgendaRow.id == item_id, AgendaRow.status == AgendaStatus.OPEN)
                .values(status=status, changed_at=at, covered_meeting_id=meeting_id, covered_line=line)
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise UnknownItemError(item_id)

    @translate_outages
    async def move_agenda_item(self, team: str, item_id: int, position: int) -> None:
        async with self._sessions() as session, session.begin():
            rows = await self._open_agenda_rows(session, team)
            moving = next((row for row in rows if row.id == item_id), None)
            if moving is None:
                raise UnknownItemError(item_id)
            rows.remove(moving)
            rows.insert(max(0, min(position - 1, len(rows))), moving)
            for n, row in enumerate(rows, 1):
                row.position = n

    @translate_outages
    async def clear_agenda(self, team: str, at: datetime) -> int:
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(AgendaRow)
                .where(AgendaRow.team == team, AgendaRow.status == AgendaStatus.OPEN)
                .values(status=AgendaStatus.REMOVED, changed_at=at)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    @translate_outages
    async def agenda_for_minutes(
        self, team: str, meeting_id: int, ended_at: datetime | None
    ) -> Sequence[AgendaItem]:
        """What this meeting covered, then what it left open (as of its end), in agenda order."""
        async with self._engine.connect() as connection:  # Core rows: read at every publish
            return await self._agenda_for_minutes(connection, team, meeting_id, ended_at)

    @staticmethod
    async def _agenda_for_minutes(
        connection: Reader, team: str, meeting_id: int, ended_at: datetime | None
    ) -> list[AgendaItem]:
        parameters: dict[str, object] = {"team": team, "meeting_id": meeting_id}
        if ended_at is not None:
            parameters["ended_at"] = ended_at
        items = list(await connection.execute(_AGENDA_FOR_MINUTES[ended_at is not None], parameters))
        covered = [row for row in items if row.covered_meeting_id == meeting_id]
        left = [row for row in items if row.covered_meeting_id != meeting_id]
        return [_agenda(row, n) for n, row in enumerate([*covered, *left], 1)]

    @translate_outages
    async def snapshots(
        self, queries: Sequence[SnapshotQuery], *, reader: Reader | None = None
    ) -> list[TeamSnapshot]:
        """Each query's agenda_for_minutes(), previous_actions() and actions_of_meeting(), in
        one connection (`reader`, or one of its own): the actions of all of them in one read
        (with their owners and histories in one each) rather than three connections and up to
        seven statements a meeting."""
        if reader is not None:
            return await self._snapshots(reader, queries)
        async with self._engine.connect() as connection:
            return await self._snapshots(connection, queries)

    async def _snapshots(self, connection: Reader, queries: Sequence[SnapshotQuery]) -> list[TeamSnapshot]:
        if not queries:
            return []
        agendas = [
            await self._agenda_for_minutes(connection, q.team, q.meeting_id, q.ended_at) for q in queries
        ]
        # previous_actions()'s rows of every query, and actions_of_meeting()'s, with their owners
        # joined in: one statement less (each a few trips to SQLite's thread).
        rows: dict[int, Row[Any]] = {}
        owners: dict[int, list[Owner]] = {}
        statement = _snapshot_actions(len(queries))
        for row in await connection.execute(statement, _snapshot_parameters(queries)):
            rows.setdefault(row.id, row)
            if row.owner_key is not None:
                owners.setdefault(row.id, []).append(Owner(row.owner_key, row.owner_nick))
        actions = await self._actions(connection, list(rows.values()), owners)
        # Then each query's share, as its own statements would have selected and ordered them
        # (aware UTC datetimes compare in Python as their stored values do in SQL).
        return [
            TeamSnapshot(
                agenda=agenda,
                previous_actions=[
                    action
                    for action in actions
                    if action.team == q.team
                    and action.created_at < q.started_at
                    and action.status_at(q.started_at) is ActionStatus.OPEN
                ],
                meeting_actions=sorted(
                    (action for action in actions if action.meeting_id == q.meeting_id),
                    key=lambda action: action.line_seq,
                ),
            )
            for q, agenda in zip(queries, agendas, strict=True)
        ]

    # -- action items ---------------------------------------------------------------------

    async def _actions(
        self,
        executor: AsyncSession | Reader,
        rows: Sequence[ActionRow | Row[Any]],
        owners: dict[int, list[Owner]] | None = None,
    ) -> list[ActionItem]:
        """`rows`: ORM rows or Core rows of the table (same attribute names); `owners`, when the
        caller read them already, each action's in the order of their nicks."""
        ids = [row.id for row in rows]
        if not ids:
            return []
        postgresql = self._postgresql
        if owners is None:
            owners = {}
            # Columns, not ORM objects: these run for every set of minutes published.
            for action_id, owner_key, nick in await executor.execute(_OWNERS_OF[postgresql], {"ids": ids}):
                owners.setdefault(action_id, []).append(Owner(owner_key, nick))
        history: dict[int, list[ActionEvent]] = {}
        for action_id, at, actor_nick, change, detail, meeting_id in await executor.execute(
            _HISTORY_OF[postgresql], {"ids": ids}
        ):
            history.setdefault(action_id, []).append(ActionEvent(at, actor_nick, change, detail, meeting_id))
        return [
            ActionItem(
                id=row.id,
                team=row.team,
                text=row.text,
                status=_STATUSES[row.status],
                owners=tuple(owners.get(row.id, ())),
                meeting_id=row.meeting_id,
                line_seq=row.line_seq,
                created_at=row.created_at,
                history=tuple(history.get(row.id, ())),
            )
            for row in rows
        ]

    @translate_outages
    async def open_actions(self, team: str | None = None) -> Sequence[ActionItem]:
        async with self._sessions() as session:
            query = select(ActionRow).where(ActionRow.status == ActionStatus.OPEN).order_by(ActionRow.id)
            if team is not None:
                query = query.where(ActionRow.team == team)
            return await self._actions(session, list(await session.scalars(query)))

    @translate_outages
    async def action(self, action_id: int) -> ActionItem | None:
        async with self._sessions() as session:
            row = await session.get(ActionRow, action_id)
            return (await self._actions(session, [row]))[0] if row else None

    @translate_outages
    async def actions_of_meeting(self, meeting_id: int) -> Sequence[ActionItem]:
        # A Core connection, no ORM session and objects: every publish reads these.
        async with self._engine.connect() as connection:
            rows = await connection.execute(
                select(_ACTIONS).where(_ACTIONS.c.meeting_id == meeting_id).order_by(_ACTIONS.c.line_seq)
            )
            return await self._actions(connection, list(rows))

    @translate_outages
    async def previous_actions(self, team: str, started_at: datetime) -> Sequence[ActionItem]:
        """The team's actions from earlier meetings that were still open when this one started."""
        async with self._engine.connect() as connection:
            rows = await connection.execute(
                select(_ACTIONS).where(_earlier_and_maybe_open(team, started_at)).order_by(_ACTIONS.c.id)
            )
            actions = await self._actions(connection, list(rows))
            return [action for action in actions if action.status_at(started_at) is ActionStatus.OPEN]

    @staticmethod
    def _event(
        session: AsyncSession,
        action_id: int,
        *,
        actor: Owner,
        at: datetime,
        change: str,
        detail: str = "",
        meeting_id: int | None,
    ) -> None:
        session.add(
            ActionEventRow(
                action_id=action_id,
                at=at,
                actor_key=actor.key,
                actor_nick=actor.nick,
                change=change,
                detail=detail,
                meeting_id=meeting_id,
            )
        )

    @translate_outages
    async def change_action(
        self, action_id: int, status: ActionStatus, actor: Owner, at: datetime, meeting_id: int | None
    ) -> ActionItem:
        async with self._sessions() as session:
            async with session.begin():
                row = await session.get(ActionRow, action_id)
                if row is None:
                    raise UnknownItemError(action_id)
                change = "reopened" if status is ActionStatus.OPEN else status.value
                row.status = status
                self._event(session, action_id, actor=actor, at=at, change=change, meeting_id=meeting_id)
            return (await self._actions(session, [row]))[0]

    @translate_outages
    async def reassign_action(
        self, action_id: int, owners: tuple[Owner, ...], actor: Owner, at: datetime, meeting_id: int | None
    ) -> ActionItem:
        async with self._sessions() as session:
            async with session.begin():
                row = await session.get(ActionRow, action_id)
                if row is None:
                    raise UnknownItemError(action_id)
                await session.execute(delete(ActionOwnerRow).where(ActionOwnerRow.action_id == action_id))
                session.add_all(
                    ActionOwnerRow(action_id=action_id, owner_key=o.key, nick=o.nick) for o in owners
                )
                detail = "to " + ", ".join(owner.nick for owner in owners)
                self._event(
                    session,
                    action_id,
                    actor=actor,
                    at=at,
                    change="reassigned",
                    detail=detail,
                    meeting_id=meeting_id,
                )
            return (await self._actions(session, [row]))[0]

    @translate_outages
    async def record_actions(
        self, team: str, meeting_id: int, actions: Sequence[NewAction], actor: Owner
    ) -> None:
        """The actions of a meeting that just ended, in one unit of work on the line writer's
        connection (at #endmeeting, before the minutes: one transaction per action cost ~2 ms
        each, 0.3 s for a long meeting's 140; on the async engine the one transaction still
        cost ~9 ms of a 1,000-line meeting's end, a thread hop per statement). Actions recorded
        already (the end handled before) are skipped."""
        if actions:
            # Two processes recording the same end at once: each action row goes in once (ON
            # CONFLICT), and only the process whose row went in adds its owners and history.
            if self._postgresql:
                await self._writer().run(_record_all_postgresql(team, meeting_id, actions, actor))
            else:
                await self._writer().run(_record_all(team, meeting_id, actions, actor), atomic=True)

    @translate_outages
    async def team_of_room(self, network: str, room: str) -> str | None:
        """The name of the latest named meeting held in a room: the room's team."""
        async with self._sessions() as session:
            return await session.scalar(
                select(MeetingRow.name)
                .where(MeetingRow.network == network, MeetingRow.room == room, MeetingRow.name.is_not(None))
                .order_by(MeetingRow.started_at.desc())
                .limit(1)
            )

    # -- schedule skips (a chair's #skip) --------------------------------------------------

    @translate_outages
    async def skips(self, team: str | None = None) -> dict[str, set[date]]:
        async with self._sessions() as session:
            query = select(ScheduleSkipRow)
            if team is not None:
                query = query.where(ScheduleSkipRow.team == team)
            found: dict[str, set[date]] = {}
            for row in await session.scalars(query):
                found.setdefault(row.team, set()).add(row.day)
            return found

    @translate_outages
    async def add_skip(self, team: str, day: date, key: str, nick: str, at: datetime) -> bool:
        async with self._sessions() as session:
            try:
                async with session.begin():
                    session.add(
                        ScheduleSkipRow(team=team, day=day, added_by_key=key, added_by_nick=nick, added_at=at)
                    )
            except IntegrityError:
                return False
            return True
