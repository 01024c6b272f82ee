"""Matrix events (raw client-server JSON) → neutral `MessageIn` lines. Pure: no nio, no I/O.

Works on the event's JSON (`event.source` in nio) rather than nio's classes, so every rule here
is testable with plain dicts and does not depend on how a nio version happens to parse an event.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from meetbot.events import Identity, LineKind, MessageIn, RoomRef

from .pills import HTML_FORMAT, with_user_ids

JSON = Mapping[str, Any]

_MEDIA = {
    "m.image": "image",
    "m.file": "file",
    "m.audio": "audio",
    "m.video": "video",
    "m.sticker": "sticker",
}
_SPEECH = {"m.text": LineKind.SAY, "m.notice": LineKind.NOTICE, "m.emote": LineKind.ACTION}


@dataclass(frozen=True, slots=True)
class RoomView:
    """What translating an event needs to know about its room, as the adapter tracks it."""

    network: str
    room_id: str
    bot_user_id: str
    encrypted: bool = False
    names: Mapping[str, str] = field(default_factory=dict)  # user id → display name now
    power_levels: JSON | None = None  # content of m.room.power_levels, None if not known
    chair_power_level: int = 50
    # Room version 12 on: the creators outrank everyone and are not listed in power_levels.
    creators: frozenset[str] = frozenset()

    def name_of(self, user_id: str) -> str:
        return self.names.get(user_id) or user_id

    def identity(self, user_id: str, name: str | None = None) -> Identity:
        return Identity(self.network, name or self.name_of(user_id), account=user_id)

    def privileged(self, user_id: str) -> bool:
        if user_id in self.creators:
            return True
        if self.power_levels is None:
            return False
        return power_level(self.power_levels, user_id) >= self.chair_power_level


def power_level(content: JSON, user_id: str) -> int:
    """A user's level by the spec: their entry in `users`, else `users_default` (0)."""
    users = content.get("users")
    if isinstance(users, Mapping) and user_id in users:
        return _int(users[user_id])
    return _int(content.get("users_default", 0))


def _int(value: Any) -> int:
    # Old rooms may hold levels as strings ("50"); the spec says to read them as integers.
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def privileged_creators(create: JSON, creator: str | None) -> frozenset[str]:
    """Who holds unlimited power by creating the room: since room version 12 (MSC4289) the
    `m.room.create` sender and its `additional_creators`; nobody in older rooms."""
    version = str(create.get("room_version", "1"))
    if version.isdigit() and int(version) < 12:
        return frozenset()
    extra = create.get("additional_creators")
    found = {user for user in extra if isinstance(user, str)} if isinstance(extra, list) else set()
    if creator:
        found.add(creator)
    return frozenset(found)


def timestamp(event: JSON) -> datetime:
    millis = event.get("origin_server_ts")
    if not isinstance(millis, int):
        return datetime.now(UTC)
    return datetime.fromtimestamp(millis / 1000, UTC)


def strip_reply_fallback(body: str, formatted_body: str | None) -> str:
    """Drop the quoted `> <@user> ...` block a legacy client put before a reply's text.

    Only when it is one: the event must be a reply and the quote must look like a fallback
    (`<mx-reply>` in the HTML, or the body opening with `> <`); a person quoting by hand keeps
    their quote."""
    is_fallback = (formatted_body is not None and "<mx-reply>" in formatted_body) or body.startswith("> <")
    if not is_fallback:
        return body
    lines = body.split("\n")
    index = 0
    while index < len(lines) and lines[index].startswith(">"):
        index += 1
    if index < len(lines) and lines[index] == "":
        index += 1  # the blank line that separates the fallback from the reply
    return "\n".join(lines[index:])


def relation(content: JSON) -> JSON:
    relates = content.get("m.relates_to")
    return relates if isinstance(relates, Mapping) else {}


def media_placeholder(msgtype: str, content: JSON) -> str:
    """The log line for an attachment: its kind and name (never its bytes)."""
    name = content.get("filename") or content.get("body") or "unnamed"
    kind = _MEDIA.get(msgtype, msgtype.removeprefix("m."))
    return f"[{kind}: {str(name).strip()}]"


def redacted_event_id(event: JSON) -> str | None:
    # Room versions up to 10 put `redacts` at the top level; v11 moved it into the content.
    top = event.get("redacts")
    if isinstance(top, str):
        return top
    inner = event.get("content", {}).get("redacts")
    return inner if isinstance(inner, str) else None


def translate(event: JSON, room: RoomView) -> MessageIn | None:
    """The line an event makes in the room's log, or None for events that make none."""
    kind = event.get("type")
    sender = event.get("sender")
    content = event.get("content")
    if not isinstance(sender, str) or not isinstance(content, Mapping):
        return None
    if kind == "m.room.message":
        return _message(event, content, sender, room)
    if kind == "m.room.encrypted":
        return _line(event, room, sender, "[encrypted message]", LineKind.SAY)
    if kind == "m.room.redaction":
        target = redacted_event_id(event)
        if target is None:
            return None
        return _line(event, room, sender, "", LineKind.REDACT, edit_of=target)
    if kind == "m.room.member":
        return _membership(event, content, sender, room)
    if kind == "m.room.topic" and event.get("state_key") == "":
        return _line(event, room, sender, str(content.get("topic", "")), LineKind.TOPIC)
    return None


def _message(event: JSON, content: JSON, sender: str, room: RoomView) -> MessageIn | None:
    if "msgtype" not in content:
        return None  # a redacted message: its redaction event says what happened
    msgtype = str(content["msgtype"])
    relates = relation(content)
    if relates.get("rel_type") == "m.replace":
        original = relates.get("event_id")
        new = content.get("m.new_content")
        if not isinstance(original, str):
            return None
        if isinstance(new, Mapping) and isinstance(new.get("body"), str):
            text = _body_text(str(new.get("msgtype", msgtype)), new, reply=False)
        else:
            # No m.new_content: all we have is the fallback body, "* new text".
            text = with_user_ids(str(content.get("body", "")), _html(content)).removeprefix("* ")
        return _line(event, room, sender, text, LineKind.EDIT, edit_of=original)
    thread = relates.get("event_id") if relates.get("rel_type") == "m.thread" else None
    reply = isinstance(relates.get("m.in_reply_to"), Mapping) and not relates.get("is_falling_back")
    text = _body_text(msgtype, content, reply=reply)
    return _line(
        event,
        room,
        sender,
        text,
        _SPEECH.get(msgtype, LineKind.SAY),
        thread=thread if isinstance(thread, str) else None,
    )


def _body_text(msgtype: str, content: JSON, *, reply: bool) -> str:
    """The line's text: the plain body, a reply's quoted fallback dropped, and each mention pill
    written as the user id it links to (pills.py says why the id and not the display name)."""
    if msgtype not in _SPEECH:
        return media_placeholder(msgtype, content)
    body = str(content.get("body", ""))
    if reply:
        formatted = content.get("formatted_body")
        body = strip_reply_fallback(body, formatted if isinstance(formatted, str) else None)
    return with_user_ids(body, _html(content))


def _html(content: JSON) -> str | None:
    formatted = content.get("formatted_body")
    return formatted if content.get("format") == HTML_FORMAT and isinstance(formatted, str) else None


def _membership(event: JSON, content: JSON, sender: str, room: RoomView) -> MessageIn | None:
    member = event.get("state_key")
    if not isinstance(member, str):
        return None
    now = content.get("membership")
    prev_content = event.get("unsigned", {}).get("prev_content") or {}
    before = prev_content.get("membership")
    name = content.get("displayname") if isinstance(content.get("displayname"), str) else None
    old_name = prev_content.get("displayname") if isinstance(prev_content.get("displayname"), str) else None
    reason = str(content.get("reason") or "")
    if now == "join" and before != "join":
        return _line(event, room, member, "", LineKind.JOIN, name=name)
    if now == "join" and name != old_name and name:
        # The line keeps the old name; its text is the new one, as IRC's NICK lines do.
        return _line(event, room, member, name, LineKind.NICK, name=old_name)
    if now in ("leave", "ban") and before == "join":
        if member == sender and now == "leave":
            return _line(event, room, member, reason, LineKind.PART, name=old_name)
        how = "banned" if now == "ban" else "removed"
        text = f"{how} by {room.name_of(sender)}" + (f": {reason}" if reason else "")
        return _line(event, room, member, text, LineKind.KICK, name=old_name)
    return None


def _line(
    event: JSON,
    room: RoomView,
    user_id: str,
    text: str,
    kind: LineKind,
    *,
    name: str | None = None,
    edit_of: str | None = None,
    thread: str | None = None,
) -> MessageIn:
    event_id = event.get("event_id")
    return MessageIn(
        room=RoomRef(room.network, room.room_id),
        sender=room.identity(user_id, name),
        text=text,
        at=timestamp(event),
        kind=kind,
        native_id=event_id if isinstance(event_id, str) else None,
        from_self=user_id == room.bot_user_id,
        edit_of=edit_of,
        thread=thread,
        privileged=room.privileged(user_id),
        loggable=not room.encrypted,
    )


def live_events(events: Sequence[JSON], bot_user_id: str) -> Sequence[JSON]:
    """The part of a joined room's timeline to act on: everything after the bot's own join when
    the bot joined in this batch (what came before is history, observed but never executed)."""
    for index in range(len(events) - 1, -1, -1):
        event = events[index]
        if (
            event.get("type") == "m.room.member"
            and event.get("state_key") == bot_user_id
            and event.get("content", {}).get("membership") == "join"
            and (event.get("unsigned", {}).get("prev_content") or {}).get("membership") != "join"
        ):
            return events[index + 1 :]
    return events


class NamesAtTheTime(Mapping[str, str]):
    """Display names as they were at each event of one sync batch.

    nio applies a whole batch to its room state before we see any of it, so its names are the
    batch's last ones; a line written before a rename in the same batch must keep the old name.
    `advance` past each event, in order."""

    def __init__(self, events: Sequence[JSON], now: Mapping[str, str]) -> None:
        self._now = now
        self._then: dict[str, str | None] = {}
        for event in events:
            user = _member_of(event)
            if user is not None and user not in self._then:
                before = (event.get("unsigned", {}).get("prev_content") or {}).get("displayname")
                self._then[user] = before if isinstance(before, str) else None

    def advance(self, event: JSON) -> None:
        user = _member_of(event)
        if user is not None:
            name = event.get("content", {}).get("displayname")
            self._then[user] = name if isinstance(name, str) else None

    def __getitem__(self, user_id: str) -> str:
        if user_id in self._then:
            name = self._then[user_id]
            if name is None:
                raise KeyError(user_id)
            return name
        return self._now[user_id]

    def __iter__(self) -> Iterator[str]:
        return iter({*self._now, *(user for user, name in self._then.items() if name is not None)})

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _member_of(event: JSON) -> str | None:
    user = event.get("state_key")
    return user if event.get("type") == "m.room.member" and isinstance(user, str) else None


def inviter_allowed(inviter: str, allowed: Sequence[str]) -> bool:
    """`allowed` holds user ids (`@alice:example.org`) and whole servers (`:example.org`)."""
    server = inviter.partition(":")[2]
    return any(inviter == rule or (rule.startswith(":") and server == rule[1:]) for rule in allowed)
