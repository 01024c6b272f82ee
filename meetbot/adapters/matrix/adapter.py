"""The Matrix adapter: a matrix-nio AsyncClient kept thin. The rules about which event makes
which line live in translate.py; this file only talks to the homeserver.

No nio event callbacks are used: nio stops `sync_forever` when a callback raises, and calls
them before a sync's token could be saved after handling. The loop below syncs, translates each
event in its own try block, submits, and only then stores the sync token.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

from nio import (  # type: ignore[import-untyped]
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    JoinResponse,
    LoginResponse,
    MessageDirection,
    RoomGetStateEventResponse,
    RoomMessagesResponse,
    SyncResponse,
    WhoamiResponse,
)
from nio.rooms import MatrixRoom  # type: ignore[import-untyped]

from meetbot.adapters.base import Handled, Submit
from meetbot.events import Identity, Outbound, RoomRef, Say, SetTopic

from .outgoing import TransactionIds, notice_content
from .state import Credentials, StateDir
from .translate import (
    JSON,
    NamesAtTheTime,
    RoomView,
    inviter_allowed,
    live_events,
    privileged_creators,
    translate,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

ENCRYPTED_ROOM_NOTICE = (
    "This room is end-to-end encrypted: I can't read it, and meetings here can't be logged or "
    "published, so #startmeeting won't work. Use an unencrypted room for meetings."
)
THREADS_KEPT = 1000
# Generous, so a short outage rarely leaves a gap; a gap is backfilled anyway.
SYNC_FILTER: dict[str, Any] = {"room": {"timeline": {"limit": 200}, "state": {"lazy_load_members": False}}}


class MatrixConfig(Protocol):
    """The fields of config.schema.MatrixAccount the adapter reads (adapters can't import config)."""

    @property
    def name(self) -> str: ...
    @property
    def homeserver(self) -> str: ...
    @property
    def user_id(self) -> str: ...
    @property
    def password(self) -> str | None: ...
    @property
    def access_token(self) -> str | None: ...
    @property
    def device_id(self) -> str | None: ...
    @property
    def rooms(self) -> Sequence[str]: ...
    @property
    def chair_power_level(self) -> int: ...
    @property
    def allowed_inviters(self) -> Sequence[str]: ...
    @property
    def state_dir(self) -> Path | None: ...


class MatrixError(Exception):
    """A homeserver error answer (nio returns these instead of raising)."""

    def __init__(self, what: str, response: ErrorResponse) -> None:
        super().__init__(f"{what}: {response.status_code} {response.message}")
        self.status_code = response.status_code
        self.retry_after_ms: int | None = getattr(response, "retry_after_ms", None)


def check(what: str, response: T | ErrorResponse) -> T:
    if isinstance(response, ErrorResponse):
        raise MatrixError(what, response)
    return response


class MatrixAdapter:
    def __init__(
        self,
        config: MatrixConfig,
        *,
        sync_timeout_ms: int = 30_000,
        retry_delays: Sequence[float] = (0.5, 1, 2, 5, 10, 30),
        send_attempts: int = 8,
    ) -> None:
        self.network = config.name
        self.bot_nick = config.user_id
        self._config = config
        self._state = StateDir(config.state_dir or Path(".meetbot-matrix") / config.name)
        self._sync_timeout_ms = sync_timeout_ms
        self._retry_delays = tuple(retry_delays)
        self._send_attempts = send_attempts
        # 429s are ours to handle (in order, after retry_after_ms); connection errors nio retries.
        client_config = AsyncClientConfig(max_limit_exceeded=0, max_timeouts=None, request_timeout=60)
        self.client = AsyncClient(config.homeserver, config.user_id, config=client_config)
        # Sends get their own HTTP connections (same login): a reply sent on the connection that
        # has just carried a sync response waits for the client's delayed ACK of that response
        # (the server's Nagle), which measured ~40 ms on every reply to a fresh sync.
        self._sender = AsyncClient(config.homeserver, config.user_id, config=client_config)
        self._txn = TransactionIds(f"{int(time.time() * 1000):x}")
        self._room_locks: dict[str, asyncio.Lock] = {}
        self._power: dict[str, JSON] = {}
        self._room_creators: dict[str, frozenset[str]] = {}
        # The latest event of each thread (what a thread-unaware client shows our answer replying
        # to); only recent threads matter, so the oldest are forgotten past THREADS_KEPT.
        self._thread_tips: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._warned_encrypted: set[str] = set()
        self._topic_forbidden: set[str] = set()
        self._ready = asyncio.Event()
        self._handed: list[Handled] = []  # this sync's events, until the core has them
        # Sync positions whose events are handled but only buffered (database outage), oldest
        # first: each is saved once its lines are durable.
        self._unsaved: deque[tuple[str, list[asyncio.Future[None]]]] = deque()
        self.reconnects = 0  # failed syncs retried, for /metrics
        self.sending = 0  # messages being sent now, for /metrics
        self._syncing = False  # the last sync succeeded: rooms are heard live
        self._aliases: dict[str, str] = {}  # room alias -> room id, as resolved once

    # -- Adapter protocol -----------------------------------------------------------------------

    async def run(self, submit: Submit) -> None:
        try:
            await self._retrying("login", self._login)
            self._sender.restore_login(self.client.user_id, self.client.device_id, self.client.access_token)
            sync_filter = await self._retrying("upload the sync filter", self._upload_filter)
            await self._join_configured()
            since = self._state.load_next_batch()
            first = True
            while True:
                response = await self._retrying(
                    "sync", partial(self._sync, since, sync_filter, full_state=first)
                )
                # With no stored position this is the room history as it stands: observed (who is
                # here, power levels), never executed.
                await self._handle_sync(response, submit, since=since, observe=since is None)
                # Only once the core has handled (stored) every event of this batch: a crash
                # before this line makes the next start see them again, and the core drops
                # those it already has (by event id), so nothing is lost and nothing repeats.
                self._save_position(response.next_batch, await self._until_handled())
                since, first = response.next_batch, False
                self._syncing = True
                self._ready.set()
        except MatrixError as error:
            # A refused login or a logged-out token: retrying can't help, and the other networks
            # keep running. Loud, so an admin sees it.
            log.critical("%s: the Matrix account stopped: %s", self.network, error)
        finally:
            await self.client.close()
            await self._sender.close()

    async def send(self, message: Outbound) -> None:
        try:
            # Meetings know rooms by id; schedules name them by alias (`#infra:fedora.im`).
            room_id = await self._room_id(message.room.room)
        except MatrixError as error:
            log.error("%s: could not send to %s: %s", self.network, message.room.room, error)
            return
        lock = self._room_locks.setdefault(room_id, asyncio.Lock())
        self.sending += 1
        async with lock:  # one room's messages go out in the order the core said them
            try:
                if isinstance(message, Say):
                    reply_to = self._thread_tips.get((room_id, message.thread)) if message.thread else None
                    content = notice_content(message.text, thread=message.thread, reply_to=reply_to)
                    await self._send_event(room_id, "m.room.message", content)
                elif isinstance(message, SetTopic):
                    await self._put_state(room_id, "m.room.topic", {"topic": message.topic})
            except MatrixError as error:
                if isinstance(message, SetTopic) and error.status_code == "M_FORBIDDEN":
                    # Below the room's level for topics: expected in many rooms, so said once.
                    if room_id not in self._topic_forbidden:
                        self._topic_forbidden.add(room_id)
                        log.warning("%s: may not set the topic of %s: %s", self.network, room_id, error)
                    return
                log.error("%s: could not send to %s: %s", self.network, room_id, error)
            finally:
                self.sending -= 1

    @property
    def send_queue_depth(self) -> int:
        return self.sending

    def hears(self, room: str) -> bool:
        room_id = self._aliases.get(room, room)
        return self._syncing and room_id in self.client.rooms

    async def resolve_room(self, room: str) -> str:
        """The id of a room named by alias (looked up once); a room id as it is."""
        return await self._room_id(room)

    async def _room_id(self, room: str) -> str:
        if not room.startswith("#"):
            return room
        if room not in self._aliases:
            response = check(f"resolve {room}", await self._sender.room_resolve_alias(room))
            self._aliases[room] = str(response.room_id)
        return self._aliases[room]

    def members(self, room: RoomRef) -> Sequence[Identity]:
        matrix_room = self.client.rooms.get(room.room)
        if matrix_room is None:
            return ()
        return [
            Identity(self.network, matrix_room.user_name(user_id) or user_id, account=user_id)
            for user_id in sorted(matrix_room.users)
            if user_id != self.client.user_id and user_id not in matrix_room.invited_users
        ]

    async def wait_ready(self) -> None:
        """Until the first sync is handled (for tests and the bench: the bot is listening)."""
        await self._ready.wait()

    # -- login and rooms ------------------------------------------------------------------------

    async def _login(self) -> None:
        config = self._config
        if config.access_token is not None:
            self.client.restore_login(config.user_id, config.device_id or "", config.access_token)
            whoami = check("whoami", await self.client.whoami())
            assert isinstance(whoami, WhoamiResponse)
            self.client.device_id = whoami.device_id or config.device_id or ""
            log.info("%s: using the configured access token (device %s)", self.network, self.client.device_id)
            return
        stored = self._state.load_credentials(config.homeserver, config.user_id)
        if stored is not None:
            self.client.restore_login(stored.user_id, stored.device_id, stored.access_token)
            try:
                check("whoami", await self.client.whoami())
                log.info("%s: logged in again as device %s", self.network, stored.device_id)
                return
            except MatrixError as error:
                if error.status_code != "M_UNKNOWN_TOKEN":
                    raise
                log.warning("%s: the stored token was revoked; logging in with the password", self.network)
                self._state.forget_credentials()
        assert config.password is not None  # the config schema requires one of the two
        # nio sends the client's device id with the login: the same device, not a new one.
        self.client.device_id = stored.device_id if stored else config.device_id
        response = check("login", await self.client.login(config.password, device_name="meetbot"))
        assert isinstance(response, LoginResponse)
        self._state.save_credentials(
            Credentials(config.homeserver, response.user_id, response.device_id, response.access_token)
        )
        log.info("%s: logged in as %s, new device %s", self.network, response.user_id, response.device_id)

    async def _join_configured(self) -> None:
        for room in self._config.rooms:
            try:
                joined = check(f"join {room}", await self.client.join(room))
                assert isinstance(joined, JoinResponse)
                log.info("%s: joined %s (%s)", self.network, room, joined.room_id)
            except MatrixError as error:
                # One bad room must not keep the bot out of the others.
                log.error("%s: %s", self.network, error)

    async def _on_invite(self, room_id: str, invite_state: Sequence[JSON]) -> None:
        inviter = next(
            (
                event.get("sender")
                for event in invite_state
                if event.get("type") == "m.room.member"
                and event.get("state_key") == self.client.user_id
                and event.get("content", {}).get("membership") == "invite"
            ),
            None,
        )
        if isinstance(inviter, str) and inviter_allowed(inviter, self._config.allowed_inviters):
            joined = check(f"join {room_id}", await self.client.join(room_id))
            log.info("%s: joined %s, invited by %s", self.network, room_id, inviter)
            assert isinstance(joined, JoinResponse)
        else:
            log.warning(
                "%s: declined the invite to %s from %s (not in allowed_inviters)",
                self.network,
                room_id,
                inviter,
            )
            check(f"leave {room_id}", await self.client.room_leave(room_id))

    async def _follow_tombstone(self, room_id: str, content: JSON) -> None:
        replacement = content.get("replacement_room")
        if not isinstance(replacement, str):
            return
        log.warning("%s: room %s was upgraded to %s; following it", self.network, room_id, replacement)
        try:
            check(f"join {replacement}", await self.client.join(replacement))
        except MatrixError as error:
            log.error("%s: could not follow the upgrade of %s: %s", self.network, room_id, error)

    async def _warn_encrypted(self, room_id: str) -> None:
        if room_id in self._warned_encrypted:
            return
        self._warned_encrypted.add(room_id)
        await self.send(Say(RoomRef(self.network, room_id), ENCRYPTED_ROOM_NOTICE))

    # -- sync -----------------------------------------------------------------------------------

    async def _upload_filter(self) -> str:
        """Stored once on the server, then named by id: an inline filter is parsed and validated
        again on every sync, which measurably delayed the reply sent right after each sync."""
        response = check("upload filter", await self.client.upload_filter(room=SYNC_FILTER["room"]))
        filter_id: str = response.filter_id
        return filter_id

    async def _sync(self, since: str | None, sync_filter: str, *, full_state: bool) -> SyncResponse:
        response = await self.client.sync(
            timeout=self._sync_timeout_ms if since is not None else 0,
            sync_filter=sync_filter,
            since=since,
            full_state=full_state,
        )
        synced: SyncResponse = check("sync", response)
        return synced

    async def _until_handled(self) -> list[asyncio.Future[None]]:
        """Wait until the core has handled this batch; what it returns is what is not durable
        yet (buffered while the database is away)."""
        handed, self._handed = self._handed, []
        results: list[asyncio.Future[None] | None] = await asyncio.gather(*handed)
        return [durable for durable in results if durable is not None]

    def _save_position(self, next_batch: str, pending: list[asyncio.Future[None]]) -> None:
        """Save the sync position, unless lines before it are only buffered: then syncing goes
        on (the bot keeps answering) and the position is saved once they are written."""
        self._unsaved.append((next_batch, pending))
        for future in pending:
            future.add_done_callback(lambda _: self._save_durable())
        self._save_durable()

    def _save_durable(self) -> None:
        newest = None
        while self._unsaved and all(future.done() for future in self._unsaved[0][1]):
            newest, _ = self._unsaved.popleft()
        if newest is not None:
            self._state.save_next_batch(newest)

    async def _handle_sync(
        self, response: SyncResponse, submit: Submit, *, since: str | None, observe: bool
    ) -> None:
        for room_id, joined in response.rooms.join.items():
            events: list[JSON] = [event.source for event in joined.timeline.events]
            for state_event in [*joined.state, *joined.timeline.events]:
                source = state_event.source
                if source.get("type") == "m.room.power_levels":
                    self._power.pop(room_id, None)  # read again, fresh, when next needed
                elif source.get("type") == "m.room.create":
                    # Every full state holds it (the first sync of each run asks for one); the
                    # state API would hide its sender, which is what counts from room v12 on.
                    self._room_creators[room_id] = privileged_creators(
                        source.get("content", {}), source.get("sender")
                    )
            if observe:
                continue
            live = list(live_events(events, self.client.user_id))
            room = self.client.rooms.get(room_id)
            if len(live) < len(events) and room is not None and room.encrypted:
                await self._guarded(room_id, self._warn_encrypted(room_id))  # we just joined it
            if joined.timeline.limited and since is not None and len(live) == len(events):
                live = [*await self._backfill(room_id, joined.timeline.prev_batch, since), *live]
            names = NamesAtTheTime(live, _Names(room))
            for event in live:
                await self._guarded(room_id, self._handle_event(room_id, event, submit, names))
                names.advance(event)
        for room_id, invite in response.rooms.invite.items():
            # nio pops `content` out of invite-state sources: take its parsed fields instead.
            invites = [
                {
                    "type": "m.room.member",
                    "sender": e.sender,
                    "state_key": e.state_key,
                    "content": {"membership": e.membership},
                }
                for e in invite.invite_state
                if type(e).__name__ == "InviteMemberEvent"
            ]
            await self._guarded(room_id, self._on_invite(room_id, invites))

    async def _guarded(self, room_id: str, work: Awaitable[None]) -> None:
        # One bad event (or a failing join) must never stop the sync loop.
        try:
            await work
        except Exception:
            log.exception("%s: handling an event in %s failed", self.network, room_id)

    async def _handle_event(
        self, room_id: str, event: JSON, submit: Submit, names: Mapping[str, str]
    ) -> None:
        kind = event.get("type")
        if kind == "m.room.tombstone":
            await self._follow_tombstone(room_id, event.get("content", {}))
            return
        if kind == "m.room.encryption" and event.get("state_key") == "":
            await self._warn_encrypted(room_id)
        message = translate(event, await self._view(room_id, names))
        if message is None:
            return
        if message.thread is not None and message.native_id is not None:
            key = (room_id, message.thread)
            self._thread_tips[key] = message.native_id
            self._thread_tips.move_to_end(key)
            if len(self._thread_tips) > THREADS_KEPT:
                self._thread_tips.popitem(last=False)
        self._handed.append(submit(message))

    async def _view(self, room_id: str, names: Mapping[str, str]) -> RoomView:
        room = self.client.rooms.get(room_id)
        return RoomView(
            network=self.network,
            room_id=room_id,
            bot_user_id=self.client.user_id,
            encrypted=room is not None and room.encrypted,
            names=names,
            power_levels=await self._power_levels(room_id),
            chair_power_level=self._config.chair_power_level,
            creators=self._room_creators.get(room_id, frozenset()),
        )

    async def _power_levels(self, room_id: str) -> JSON | None:
        """From the server, not nio's room copy (which can lag or miss it); cached until the next
        m.room.power_levels event in that room."""
        cached = self._power.get(room_id)
        if cached is not None:
            return cached
        try:
            response = check(
                "power levels", await self.client.room_get_state_event(room_id, "m.room.power_levels")
            )
        except MatrixError as error:
            log.warning(
                "%s: no power levels for %s (%s): nobody is a chair by rank there",
                self.network,
                room_id,
                error,
            )
            return None
        assert isinstance(response, RoomGetStateEventResponse)
        content: JSON = response.content
        self._power[room_id] = content
        return content

    async def _backfill(self, room_id: str, prev_batch: str | None, since: str) -> list[JSON]:
        """The events a limited (gapped) timeline left out, oldest first: paged back from the
        batch's start to where the previous sync ended. The core drops any it already has."""
        if prev_batch is None:
            return []
        found: list[JSON] = []
        start = prev_batch
        for _ in range(50):  # 50 pages of 100: a long outage in a busy room, not an endless loop
            page = await self.client.room_messages(
                room_id, start=start, end=since, direction=MessageDirection.back, limit=100
            )
            if isinstance(page, ErrorResponse):
                log.error("%s: backfilling %s failed: %s", self.network, room_id, page.message)
                break
            assert isinstance(page, RoomMessagesResponse)
            found.extend(event.source for event in page.chunk)
            if not page.chunk or not page.end or page.end == start:
                break
            start = page.end
        log.info("%s: backfilled %d events in %s after a gap", self.network, len(found), room_id)
        return list(reversed(found))

    # -- sending --------------------------------------------------------------------------------

    async def _send_event(self, room_id: str, event_type: str, content: dict[str, Any]) -> None:
        txn_id = self._txn.next()  # the same id for every retry: the server keeps one copy
        await self._with_rate_limit(
            f"send to {room_id}", lambda: self._sender.room_send(room_id, event_type, content, tx_id=txn_id)
        )

    async def _put_state(self, room_id: str, event_type: str, content: dict[str, Any]) -> None:
        await self._with_rate_limit(
            f"set {event_type} in {room_id}",
            lambda: self._sender.room_put_state(room_id, event_type, content),
        )

    async def _with_rate_limit(self, what: str, call: Callable[[], Awaitable[object]]) -> None:
        for attempt in range(self._send_attempts):
            response = await call()
            if not isinstance(response, ErrorResponse):
                return
            error = MatrixError(what, response)
            if error.status_code == "M_LIMIT_EXCEEDED":
                delay = (error.retry_after_ms or 1000) / 1000
            elif _transient(error):
                delay = self._retry_delays[min(attempt, len(self._retry_delays) - 1)]
            else:
                raise error
            log.warning("%s: %s; retrying in %.1fs", self.network, error, delay)
            await asyncio.sleep(delay)
        raise MatrixError(f"{what} (gave up after {self._send_attempts} attempts)", response)

    async def _retrying(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """Login and sync ride out a homeserver restart; a refused login stops the adapter."""
        attempt = 0
        while True:
            delay = self._retry_delays[min(attempt, len(self._retry_delays) - 1)]
            try:
                return await call()
            except MatrixError as error:
                if not _transient(error):
                    raise
                if error.status_code == "M_LIMIT_EXCEEDED" and error.retry_after_ms:
                    delay = error.retry_after_ms / 1000
                log.warning("%s: %s failed (%s); retrying in %.1fs", self.network, what, error, delay)
                if what == "sync":
                    self.reconnects += 1
                    self._syncing = False
            except Exception:
                # Whatever else (a proxy's HTML page, a nio parsing bug): retried with backoff,
                # rather than taking every other network down with this one.
                log.exception("%s: %s failed; retrying in %.1fs", self.network, what, delay)
            attempt += 1
            await asyncio.sleep(delay)


def _transient(error: MatrixError) -> bool:
    """Worth retrying: rate limits, server errors, and nio's own (status code missing)."""
    code = str(error.status_code or "")
    return code in ("M_LIMIT_EXCEEDED", "M_UNKNOWN", "") or code.startswith("5")


class _Names(Mapping[str, str]):
    """Display names looked up when asked: a big room has thousands of members, a line one sender."""

    def __init__(self, room: MatrixRoom | None) -> None:
        self._room = room

    def __getitem__(self, user_id: str) -> str:
        if self._room is None or user_id not in self._room.users:
            raise KeyError(user_id)
        return self._room.user_name(user_id) or user_id

    def __iter__(self) -> Iterator[str]:
        return iter(self._room.users if self._room is not None else ())

    def __len__(self) -> int:
        return len(self._room.users) if self._room is not None else 0
