"""Tables. Alembic owns the schema; these models must match its migrations (tests check)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names, so migrations can alter them on SQLite (batch mode) and PostgreSQL alike.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on SQLite (which keeps no zone) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; times must be aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class MeetingRow(Base):
    __tablename__ = "meetings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    network: Mapped[str] = mapped_column(String(100))
    room: Mapped[str] = mapped_column(String(255))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    owner_key: Mapped[str] = mapped_column(String(320))
    owner_nick: Mapped[str] = mapped_column(String(255))
    # Projections of the state rebuilt from the lines, kept for queries and listings.
    name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    title: Mapped[str | None] = mapped_column(Text, nullable=True)
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        # One open meeting per room, enforced by the database even with several bot processes.
        Index(
            "uq_meetings_open_room",
            "network",
            "room",
            unique=True,
            sqlite_where=ended_at.is_(None),
            postgresql_where=ended_at.is_(None),
        ),
        Index("ix_meetings_name_started_at", "name", "started_at"),
        Index("ix_meetings_network_room_started_at", "network", "room", "started_at"),
    )


class LineRow(Base):
    __tablename__ = "meeting_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(16))
    nick: Mapped[str] = mapped_column(String(255))
    sender_key: Mapped[str] = mapped_column(String(320))
    text: Mapped[str] = mapped_column(Text)
    is_bot: Mapped[bool] = mapped_column(Boolean, default=False)
    native_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    privileged: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    edit_of: Mapped[str | None] = mapped_column(String(255), nullable=True)
    thread: Mapped[str | None] = mapped_column(String(255), nullable=True)
    backfilled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    __table_args__ = (
        UniqueConstraint("meeting_id", "seq", name="uq_meeting_lines_meeting_id_seq"),
        # A network event seen twice (reconnect backfill, Matrix resync) is logged once. The
        # network id leads: edits and redactions find their target by it, possibly after the
        # meeting ended, and a server's message ids grow, so concurrent meetings' new lines land
        # together in this index rather than one page a meeting (migration 0009).
        UniqueConstraint("native_id", "meeting_id", name="uq_meeting_lines_native_id_meeting_id"),
    )


class ItemRow(Base):
    __tablename__ = "meeting_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    line_seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    nick: Mapped[str] = mapped_column(String(255))
    sender_key: Mapped[str] = mapped_column(String(320))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class AgendaRow(Base):
    __tablename__ = "agenda_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    added_by_key: Mapped[str] = mapped_column(String(320))
    added_by_nick: Mapped[str] = mapped_column(String(255))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    covered_meeting_id: Mapped[int | None] = mapped_column(
        ForeignKey("meetings.id", ondelete="SET NULL"), nullable=True
    )
    covered_line: Mapped[int | None] = mapped_column(Integer, nullable=True)

    __table_args__ = (Index("ix_agenda_items_team_status_position", "team", "status", "position"),)


class ActionRow(Base):
    __tablename__ = "action_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team: Mapped[str] = mapped_column(String(100))
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"))
    line_seq: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        # A meeting's actions are recorded once, however often its end is replayed.
        UniqueConstraint("meeting_id", "line_seq", name="uq_action_items_meeting_id_line_seq"),
        Index("ix_action_items_team_status", "team", "status"),
    )


class ActionOwnerRow(Base):
    __tablename__ = "action_owners"

    action_id: Mapped[int] = mapped_column(
        ForeignKey("action_items.id", ondelete="CASCADE"), primary_key=True
    )
    owner_key: Mapped[str] = mapped_column(String(320), primary_key=True)
    nick: Mapped[str] = mapped_column(String(255))

    __table_args__ = (Index("ix_action_owners_owner_key", "owner_key"),)


class ActionEventRow(Base):
    __tablename__ = "action_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("action_items.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor_key: Mapped[str] = mapped_column(String(320))
    actor_nick: Mapped[str] = mapped_column(String(255))
    change: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text, default="")
    meeting_id: Mapped[int | None] = mapped_column(
        ForeignKey("meetings.id", ondelete="SET NULL"), nullable=True
    )


class SentReminderRow(Base):
    """A reminder's key is written here before it is sent: a restart, or a second bot process,
    finds it and does not send it again."""

    __tablename__ = "sent_reminders"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ScheduleSkipRow(Base):
    """`#skip <date>`: a chair cancelled one occurrence of a series."""

    __tablename__ = "schedule_skips"

    team: Mapped[str] = mapped_column(String(100), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    added_by_key: Mapped[str] = mapped_column(String(320))
    added_by_nick: Mapped[str] = mapped_column(String(255))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LeaseRow(Base):
    """Who is the active bot process. The holder bumps `version` every few seconds; a standby
    that sees it stand still long enough takes the row over by compare-and-set on `version`.
    No clock is compared across hosts: each process only times what it observed itself."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    renewed_at: Mapped[datetime] = mapped_column(UTCDateTime())  # for people reading the table
