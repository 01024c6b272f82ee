"""The IRC adapter: one network, on jaraco `irc.client_aio`, with what a long-lived bot needs
and the library lacks (CAP/SASL before registration, reconnect with backoff, dead-link
detection, flood control, nick regain, account tracking).

jaraco calls handlers synchronously on the loop thread: they only update state, enqueue lines
and call `submit` (itself synchronous). Nothing here awaits inside a handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import irc.client  # type: ignore[import-untyped]
import irc.client_aio  # type: ignore[import-untyped]

from meetbot.adapters.base import Submit
from meetbot.adapters.irc.flood import Queued, SendQueue, TokenBucket
from meetbot.adapters.irc.protocol import (
    ServerFeatures,
    alt_nick,
    backoff_delays,
    caps_to_request,
    chathistory_after,
    ctcp_answer,
    irc_fold,
    message_budget,
    parse_cap_list,
    parse_ctcp,
    sasl_payload,
    server_time,
    tags_of,
)
from meetbot.adapters.irc.state import Tracker
from meetbot.adapters.irc.text import split_message, strip_formatting
from meetbot.adapters.irc.wire import FastConnection
from meetbot.clock import Clock
from meetbot.events import (
    Identity,
    LineKind,
    MessageIn,
    Outbound,
    RoomRef,
    Say,
    SetTopic,
    Standing,
    StartRule,
)

log = logging.getLogger(__name__)

TOPIC_REFUSED = (
    "I can't change the channel topic here (that needs channel operator status, or the channel "
    "set -t); the meeting goes on without it."
)
HISTORY_BATCHES = frozenset({"chathistory", "znc.in/playback", "draft/chathistory"})
HISTORY_SLACK = timedelta(seconds=1)  # server-time has millisecond precision; allow for rounding
SASL_TIMEOUT = 15.0  # seconds for services to answer AUTHENTICATE
WHOX_TOKEN = "71"  # noqa: S105  # tells our WHO replies apart from anyone else's


# -- configuration, as the adapter needs it (meetbot.config.schema.IrcNetwork fits structurally) --


class SaslConfig(Protocol):
    @property
    def mechanism(self) -> str: ...
    @property
    def username(self) -> str | None: ...
    @property
    def password(self) -> str | None: ...
    @property
    def cert_file(self) -> Path | None: ...
    @property
    def key_file(self) -> Path | None: ...


class ChannelConfig(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def key(self) -> str | None: ...
    @property
    def start_rule(self) -> StartRule: ...


class FloodConfig(Protocol):
    @property
    def burst(self) -> int: ...
    @property
    def per_second(self) -> float: ...


# Channel status letters at operator level or above (op, admin, owner).
OPERATOR_MODES = frozenset("oaq")
# Below operator but above everyone: voice, and halfop where the server has it.
VOICED_MODES = frozenset("vh")


class IrcConfig(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def tls(self) -> bool: ...
    @property
    def tls_verify(self) -> bool: ...
    @property
    def ca_file(self) -> Path | None: ...
    @property
    def nick(self) -> str: ...
    @property
    def alt_nicks(self) -> Sequence[str]: ...
    @property
    def username(self) -> str | None: ...
    @property
    def realname(self) -> str | None: ...
    @property
    def sasl(self) -> SaslConfig | None: ...
    @property
    def nickserv_password(self) -> str | None: ...
    @property
    def channels(self) -> Sequence[ChannelConfig]: ...
    @property
    def join_on_invite(self) -> bool: ...
    @property
    def ops_are_chairs(self) -> bool: ...
    @property
    def flood(self) -> FloodConfig: ...


@dataclass(frozen=True)
class Timings:
    connect_timeout: float = 30.0
    register_timeout: float = 60.0
    ping_interval: float = 120.0  # silence this long → we PING the server
    ping_timeout: float = 60.0  # and no answer this much later → reconnect
    backoff_base: float = 2.0
    backoff_cap: float = 300.0
    healthy_after: float = 60.0  # a session this long resets the backoff
    regain_interval: float = 30.0


def tls_context(config: IrcConfig) -> ssl.SSLContext:
    """Verified against the system CAs (or `ca_file`) unless the config explicitly opts out;
    with SASL EXTERNAL the client certificate goes in here."""
    context = ssl.create_default_context(cafile=str(config.ca_file) if config.ca_file else None)
    if not config.tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    sasl = config.sasl
    if sasl is not None and sasl.cert_file is not None:
        context.load_cert_chain(str(sasl.cert_file), str(sasl.key_file) if sasl.key_file else None)
    return context


class _CapFirstFactory:
    """jaraco's AioConnection.connect() writes NICK/USER as soon as it connects; writing
    `CAP LS 302` first makes the server hold registration until our CAP END, so SASL and the
    capabilities are settled before we are visible."""

    def __init__(self, **connection_args: Any) -> None:
        self._args = connection_args

    async def __call__(self, protocol: asyncio.Protocol, address: tuple[str, int]) -> Any:
        loop = asyncio.get_running_loop()
        transport, made = await loop.create_connection(lambda: protocol, *address, **self._args)
        transport.write(b"CAP LS 302\r\n")
        return transport, made


class _QuickAckProtocol(irc.client_aio.IrcProtocol):  # type: ignore[misc]
    """With echo-message the server's echo to us sits un-ACKed for our 40 ms delayed ACK and
    Nagle holds its next write behind it: every reply would cost ~44 ms. Quick ACKs avoid it."""

    def data_received(self, data: bytes) -> None:
        transport = getattr(self.connection, "transport", None)
        sock = transport.get_extra_info("socket") if transport is not None else None
        if sock is not None and hasattr(socket, "TCP_QUICKACK"):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        super().data_received(data)


class IrcAdapter:
    def __init__(
        self,
        config: IrcConfig,
        clock: Clock,
        *,
        version: str = "meetbot",
        timings: Timings | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.network = config.name
        self.bot_nick = config.nick
        self.config = config
        self.timings = timings or Timings()
        self.version = version
        self.account: str | None = None  # the services account we are logged in as
        self.auth_error: str | None = None  # why SASL/NickServ login failed, for operators and tests
        self.connected_at: float | None = None
        self.reconnects = 0  # for /metrics
        self._clock = clock
        self._rand = rand
        # Until run() gets the real one; IRC keeps no history position, so it never awaits it.
        self._submit: Callable[[MessageIn], object] = lambda message: None
        # Channels to be in: the configured ones plus those we were invited to (when allowed).
        self._wanted: dict[str, tuple[str, str | None]] = {
            irc_fold(channel.name): (channel.name, channel.key) for channel in config.channels
        }
        self._joined: set[str] = set()
        self._joins_held = False  # see hold_joins
        # Who may start meetings where, as configured; handed to the core with each line.
        self._start_rules = {irc_fold(channel.name): channel.start_rule for channel in config.channels}
        # Server time of the latest line heard per channel, kept across sessions: after a
        # reconnect, CHATHISTORY AFTER it fetches exactly what was said while we were away.
        self._heard_until: dict[str, datetime] = {}
        self._topic_warned: set[str] = set()
        self._tracker = Tracker()
        # Per-line objects that never change, kept across sessions (see _person and _room).
        self._people: dict[tuple[str, str | None], Identity] = {}
        self._rooms: dict[str, RoomRef] = {}
        self._features = ServerFeatures.default()
        self._queue = SendQueue()
        self._bucket = TokenBucket(config.flood.burst, config.flood.per_second, time.monotonic())
        self._wake = asyncio.Event()
        self._conn: Any = None  # irc.client_aio.AioConnection of the current session
        self._ready = False  # registered: chat lines may go out
        self._session_over = asyncio.Event()
        self._reset_session()

    # -- Adapter protocol ---------------------------------------------------------------------

    async def run(self, submit: Submit) -> None:
        self._submit = submit
        delays = backoff_delays(self.timings.backoff_base, self.timings.backoff_cap, self._rand)
        sender = asyncio.create_task(self._sender(), name=f"irc sender {self.network}")
        try:
            while True:
                started = time.monotonic()
                try:
                    await self._session()
                except (OSError, TimeoutError, irc.client.IRCError) as error:
                    log.warning("%s: connection to %s:%d failed: %s", self.network, *self._address(), error)
                except Exception:
                    # Whatever went wrong, this network must come back; the others are unaffected.
                    log.exception("%s: the connection failed unexpectedly", self.network)
                if time.monotonic() - started >= self.timings.healthy_after:
                    delays = backoff_delays(self.timings.backoff_base, self.timings.backoff_cap, self._rand)
                delay = next(delays)
                self.reconnects += 1
                log.info("%s: reconnecting in %.1fs", self.network, delay)
                await asyncio.sleep(delay)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            self._hang_up("shutting down")

    async def send(self, message: Outbound) -> None:
        channel = message.room.room
        if isinstance(message, Say):
            for piece in split_message(message.text, self._budget("PRIVMSG", channel)):
                if text := _printable(piece):
                    self._queue.push(Queued("PRIVMSG", channel, text))
        elif isinstance(message, SetTopic):
            if self._tracker.may_set_topic(channel, self.bot_nick):
                self._queue.push(Queued("TOPIC", raw=f"TOPIC {channel} :{_printable(message.topic)}"))
            else:
                self._topic_refused(channel)
        # Written here, not by the sender task one loop turn later: a reply leaves at once when
        # the bucket allows; what must wait for tokens is left to the sender.
        if self._send_due() > 0:
            self._wake.set()

    def members(self, room: RoomRef) -> Sequence[Identity]:
        me = irc_fold(self.bot_nick)
        return [
            Identity(self.network, member.nick, member.account)
            for member in self._tracker.members(room.room)
            if irc_fold(member.nick) != me
        ]

    def hold_joins(self) -> None:
        """Connect and register, but join no channel until release_joins() (JoinsWhenTold)."""
        self._joins_held = True

    def release_joins(self) -> None:
        self._joins_held = False
        if self._motd_seen:
            self._join_wanted()  # else at the end of registration, as usual

    # -- introspection, for operators and tests -----------------------------------------------

    @property
    def joined(self) -> set[str]:
        return {self._wanted.get(name, (name, None))[0] for name in self._joined}

    @property
    def registered(self) -> bool:
        return self._ready

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def send_queue_depth(self) -> int:
        return len(self._queue)

    def hears(self, room: str) -> bool:
        return self._ready and irc_fold(room) in self._joined

    # -- one connection -----------------------------------------------------------------------

    def _address(self) -> tuple[str, int]:
        return self.config.host, self.config.port

    def _reset_session(self) -> None:
        self._caps: set[str] = set()
        self._backfilled = 0  # history lines handed on in the current batch, for the log
        self._offered: dict[str, str] = {}
        self._sasl_chunks: list[str] = []
        self._nick_tries = 0
        self._welcomed = False
        self._sasl_started: float | None = None
        self._joined_once = False
        self._motd_seen = False  # registration complete: the channels may be joined
        self._pinged = False
        self._last_rx = time.monotonic()
        self._userhost: tuple[str | None, str | None] = (None, None)
        self._ready = False
        self._joined.clear()
        self._joined_at: dict[str, datetime] = {}  # server time of our JOIN, per channel
        self._batches: dict[str, str] = {}  # open IRCv3 batches: reference -> type
        self._tracker.reset()
        self._features = ServerFeatures.default()
        self.account = None

    async def _session(self) -> None:
        self._reset_session()
        self._session_over = asyncio.Event()
        config = self.config
        conn = self._connection(irc.client_aio.AioReactor(loop=asyncio.get_running_loop()))
        args: dict[str, Any] = {}
        if config.tls:
            args.update(ssl=tls_context(config), server_hostname=config.host)
        host, port = self._address()
        log.info("%s: connecting to %s:%d%s", self.network, host, port, " (TLS)" if config.tls else "")
        self.bot_nick = config.nick
        # Set before connecting: the server's CAP LS can be handled before connect() returns.
        self._conn = conn
        await asyncio.wait_for(
            conn.connect(
                host,
                port,
                config.nick,
                username=config.username or config.nick,
                ircname=config.realname or f"meetbot {self.version}",
                connect_factory=_CapFirstFactory(**args),
            ),
            self.timings.connect_timeout,
        )
        self.connected_at = time.monotonic()
        watchdog = asyncio.create_task(self._watchdog(conn), name=f"irc watchdog {self.network}")
        try:
            await self._session_over.wait()
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
            self._ready = False
            self._conn = None
            self._hang_up("", conn)
            task = asyncio.current_task()
            shutting_down = task is not None and task.cancelling() > 0
            log.log(
                logging.INFO if shutting_down else logging.WARNING,
                "%s: disconnected from %s:%d",
                self.network,
                host,
                port,
            )

    def _connection(self, reactor: Any) -> FastConnection:
        """A connection on `reactor` (not yet connected) that hands channel chat straight to
        `_chat_line` and every other line, as jaraco events, to `_on_event`."""
        reactor.add_global_handler("all_events", self._on_event, 0)
        reactor.connection_class = FastConnection
        conn: FastConnection = reactor.server()
        conn.protocol_class = _QuickAckProtocol
        conn.attach(self._heard, self._chat_line)
        return conn

    def _hang_up(self, message: str, conn: Any = None) -> None:
        conn = conn or self._conn
        if conn is not None and getattr(conn, "connected", False):
            with contextlib.suppress(Exception):
                conn.disconnect(message)

    async def _watchdog(self, conn: Any) -> None:
        """Register in time, keep the link alive, and give up on a silent one."""
        timings = self.timings
        step = max(0.05, min(timings.ping_interval, timings.ping_timeout) / 4)
        while True:
            await asyncio.sleep(step)
            now = time.monotonic()
            # Registered (001), not joined: the joins may be held (hold_joins) for longer.
            connected_at = self.connected_at
            if not self._welcomed and connected_at and now - connected_at > timings.register_timeout:
                log.warning("%s: not registered in time; reconnecting", self.network)
                return self._drop(conn)
            if self._sasl_started is not None and now - self._sasl_started > SASL_TIMEOUT:
                # Services gone quiet mid-login: register without an account rather than hang.
                self._sasl_started = None
                self.auth_error = "SASL got no answer from the services"
                log.error("%s: %s; continuing without an account", self.network, self.auth_error)
                self._raw("AUTHENTICATE *")
                self._raw("CAP END")
            idle = now - self._last_rx
            if idle > timings.ping_interval + timings.ping_timeout:
                log.warning("%s: no traffic for %.0fs; the link is dead, reconnecting", self.network, idle)
                return self._drop(conn)
            if idle > timings.ping_interval and not self._pinged:
                self._pinged = True
                self._raw(f"PING :meetbot-{int(now)}")
            if self._ready and irc_fold(self.bot_nick) != irc_fold(self.config.nick):
                self._regain(now)

    def _drop(self, conn: Any) -> None:
        transport = getattr(conn, "transport", None)
        if transport is not None:
            transport.abort()  # close() would wait to flush to a peer that is gone
        self._ready = False
        self._session_over.set()

    def _regain(self, now: float) -> None:
        last = getattr(self, "_regain_at", 0.0)
        if now - last >= self.timings.regain_interval:
            self._regain_at = now
            self._raw(f"NICK {self.config.nick}")

    # -- sending ------------------------------------------------------------------------------

    def _raw(self, line: str) -> None:
        """Protocol lines that must not wait behind chat (PONG, CAP, AUTHENTICATE, PING)."""
        conn = self._conn
        if conn is not None and conn.connected:
            conn.send_raw(line)

    def _budget(self, command: str, target: str) -> int:
        user, host = self._userhost
        return message_budget(self.bot_nick, user, host, command, target)

    def _enqueue_front(self, item: Queued) -> None:
        self._queue.push_front(item)
        self._wake.set()

    async def _sender(self) -> None:
        """Sends what waits for tokens (send() itself writes whatever may go at once)."""
        while True:
            delay = self._send_due()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                self._wake.clear()
                await self._wake.wait()

    def _send_due(self) -> float:
        """Write every queued line the token bucket allows now, in order. Returns the seconds
        until the next one may go, or 0 when nothing can be sent (queue empty, link not ready)."""
        while self._ready and len(self._queue):
            now = time.monotonic()
            delay = self._bucket.delay(now)
            if delay > 0:
                return delay
            first = self._queue.peek()
            # Merge only when backed up: an ordinary reply goes out exactly as written.
            merge = len(self._queue) > self._bucket.tokens(now)
            item = self._queue.pop(self._budget(first.command, first.target), merge)
            conn = self._conn
            if conn is None or not conn.connected:
                # The link just went; the session will clear _ready. Never spin meanwhile.
                self._queue.push_front(item)
                self._ready = False
                return 0.0
            self._bucket.take(now)
            try:
                conn.send_raw(item.line())
            except irc.client.ServerNotConnectedError:
                self._queue.push_front(item)
                return 0.0
            except Exception:
                # A line the library refuses must not stop every line after it.
                log.exception("%s: could not send %r; dropped it", self.network, item.line()[:80])
        return 0.0

    def _topic_refused(self, channel: str) -> None:
        folded = irc_fold(channel)
        if folded in self._topic_warned:
            return
        self._topic_warned.add(folded)
        log.info("%s: may not set the topic of %s", self.network, channel)
        self._queue.push(Queued("PRIVMSG", channel, TOPIC_REFUSED))
        self._wake.set()

    # -- events from jaraco -------------------------------------------------------------------

    def _on_event(self, conn: Any, event: Any) -> None:
        try:
            handler = getattr(self, f"_on_{event.type}", None)
            if handler is not None:
                handler(conn, event)
        except Exception:
            # An exception here would surface in data_received and make asyncio drop the link.
            log.exception("%s: handling %s failed", self.network, event.type)

    def _on_all_raw_messages(self, conn: Any, event: Any) -> None:
        self._heard()

    def _heard(self) -> None:
        """A line arrived (any line: the fast path calls this for the lines it takes)."""
        self._last_rx = time.monotonic()
        self._pinged = False

    def _on_disconnect(self, conn: Any, event: Any) -> None:
        if conn is self._conn or self._conn is None:
            self._ready = False
            self._session_over.set()

    def _on_error(self, conn: Any, event: Any) -> None:
        log.warning("%s: server closed the link: %s", self.network, event.target)

    # registration: CAP, SASL, nick

    def _on_cap(self, conn: Any, event: Any) -> None:
        sub, rest = event.arguments[0].upper(), event.arguments[1:]
        if sub == "LS":
            more = len(rest) > 1 and rest[0] == "*"
            self._offered.update(parse_cap_list(rest[-1] if rest else ""))
            if more:
                return
            sasl = self.config.sasl
            request = caps_to_request(self._offered, sasl.mechanism if sasl else None)
            if request:
                self._raw(f"CAP REQ :{' '.join(request)}")
            else:
                self._cap_end(sasl_missing=sasl is not None)
        elif sub == "ACK":
            self._caps.update(cap.lstrip("-~=") for cap in (rest[-1] if rest else "").split())
            sasl = self.config.sasl
            if sasl is not None and "sasl" in self._caps and not self._registered():
                self._sasl_chunks = sasl_payload(sasl.mechanism, sasl.username, sasl.password)
                self._sasl_started = time.monotonic()
                self._raw(f"AUTHENTICATE {sasl.mechanism}")
            elif not self._registered():
                self._cap_end(sasl_missing=sasl is not None)
        elif sub == "NAK":
            log.warning("%s: server refused capabilities %s", self.network, rest[-1] if rest else "")
            if not self._registered():
                self._cap_end(sasl_missing=self.config.sasl is not None)
        elif sub == "NEW":
            new = caps_to_request(parse_cap_list(rest[-1] if rest else ""), None)
            if new:
                self._raw(f"CAP REQ :{' '.join(new)}")
        elif sub == "DEL":
            self._caps.difference_update(parse_cap_list(rest[-1] if rest else ""))

    def _registered(self) -> bool:
        return self._welcomed

    def _cap_end(self, *, sasl_missing: bool = False) -> None:
        if sasl_missing:
            log.warning("%s: the server offers no SASL; will try NickServ IDENTIFY", self.network)
        self._raw("CAP END")

    def _on_authenticate(self, conn: Any, event: Any) -> None:
        if event.target == "+" and self._sasl_chunks:
            chunks, self._sasl_chunks = self._sasl_chunks, []
            for chunk in chunks:
                self._raw(f"AUTHENTICATE {chunk}")

    def _on_loggedin(self, conn: Any, event: Any) -> None:
        self.account = event.arguments[1] if len(event.arguments) > 1 else None
        self.auth_error = None
        log.info("%s: logged in as account %s", self.network, self.account)

    def _on_saslsuccess(self, conn: Any, event: Any) -> None:
        self._sasl_started = None
        self._raw("CAP END")

    def _sasl_failed(self, event: Any) -> None:
        sasl = self.config.sasl
        what = f"SASL {sasl.mechanism} as {sasl.username!r}" if sasl else "SASL"
        self._sasl_started = None
        reason = event.arguments[-1] if event.arguments else event.type
        self.auth_error = f"{what} failed: {reason} (check the account name and password)"
        log.error("%s: %s; continuing without an account", self.network, self.auth_error)
        self._raw("CAP END")

    def _on_saslfail(self, conn: Any, event: Any) -> None:
        self._sasl_failed(event)

    _on_sasltoolong = _on_saslaborted = _on_saslfail

    def _on_saslmechs(self, conn: Any, event: Any) -> None:
        # 908 lists what the server does offer; the 904 that follows ends the attempt.
        log.warning("%s: the server's SASL mechanisms are %s", self.network, event.arguments[0])

    def _on_nicknameinuse(self, conn: Any, event: Any) -> None:
        if self._welcomed:
            return  # a regain attempt; we keep the nick we have
        nick = alt_nick(self.config.nick, list(self.config.alt_nicks), self._nick_tries)
        self._nick_tries += 1
        log.warning("%s: nick %s is taken; trying %s", self.network, event.arguments[0], nick)
        self.bot_nick = nick
        self._raw(f"NICK {nick}")

    _on_unavailresource = _on_erroneusnickname = _on_nicknameinuse

    def _on_welcome(self, conn: Any, event: Any) -> None:
        self.bot_nick = event.target
        self._welcomed = True
        host, port = self._address()
        log.info("%s: connected to %s:%d as %s", self.network, host, port, self.bot_nick)
        self._identify_with_nickserv()

    def _identify_with_nickserv(self) -> None:
        if self.account is not None:
            return
        sasl = self.config.sasl
        password = self.config.nickserv_password
        account = self.config.nick
        if password is None and sasl is not None and sasl.mechanism == "PLAIN" and "sasl" not in self._caps:
            password, account = sasl.password, sasl.username or account
        if password is not None:
            log.info("%s: identifying to NickServ as %s", self.network, account)
            self._raw(f"PRIVMSG NickServ :IDENTIFY {account} {password}")

    def _on_featurelist(self, conn: Any, event: Any) -> None:
        self._features.load(event.arguments[:-1])

    def _on_endofmotd(self, conn: Any, event: Any) -> None:
        self._motd_seen = True
        if not self._joins_held:
            self._join_wanted()

    def _join_wanted(self) -> None:
        if self._joined_once:
            return
        self._joined_once = True
        for name, key in reversed(list(self._wanted.values())):
            self._enqueue_front(Queued("JOIN", raw=f"JOIN {name} {key}" if key else f"JOIN {name}"))
        # Only now may chat go out: replies queued while we were away follow the JOINs (the
        # server handles our lines in order) instead of bouncing off channels we are not in.
        self._ready = True
        self._wake.set()

    _on_nomotd = _on_endofmotd

    # channels and people

    def _me(self, nick: str) -> bool:
        return irc_fold(nick) == irc_fold(self.bot_nick)

    def _identity(self, nick: str, tags: dict[str, str]) -> Identity:
        return self._person(nick, self._account(nick, tags, from_self=self._me(nick)))

    def _account(self, nick: str, tags: dict[str, str], *, from_self: bool) -> str | None:
        """The services account `nick` speaks for on a live line (keeps the tracker current)."""
        if from_self:
            return self.account
        if "account-tag" in self._caps:
            # With account-tag, no tag means not logged in: a nick alone proves nothing.
            account = tags.get("account") or None
            self._tracker.set_account(nick, account)
            return account
        return self._tracker.account(nick)

    def _person(self, nick: str, account: str | None) -> Identity:
        # Identities are immutable and a network's speakers few: building one per line cost
        # more than looking it up.
        key = (nick, account)
        person = self._people.get(key)
        if person is None:
            if len(self._people) >= 4096:
                self._people.clear()
            person = self._people[key] = Identity(self.network, nick, account)
        return person

    def _emit(
        self,
        channel: str,
        sender: Identity,
        text: str,
        kind: LineKind,
        tags: dict[str, str],
        *,
        backfilled: bool = False,
        said_at: datetime | None = None,
        standing: Standing | None = None,
    ) -> None:
        """`said_at`, `standing`: the line's server time and the sender's status, when the
        caller has them already."""
        folded, nick = irc_fold(channel), irc_fold(sender.nick)
        if standing is None:
            # A member's status now says nothing about when a replayed line was said.
            standing = Standing.NONE if backfilled else self._standing(folded, nick)
        self._submit(
            MessageIn(
                room=self._room(channel, folded),
                sender=sender,
                text=text,
                at=said_at or server_time(tags) or self._clock.now(),
                kind=kind,
                native_id=tags.get("msgid") or None,
                from_self=nick == irc_fold(self.bot_nick),
                privileged=self.config.ops_are_chairs and standing is Standing.OPERATOR,
                backfilled=backfilled,
                standing=standing,
                start_rule=self._start_rules.get(folded),
            )
        )

    def _standing(self, channel_key: str, nick_key: str) -> Standing:
        """The member's channel status as the server reports it right now (by folded names)."""
        modes = self._tracker.modes_of(channel_key, nick_key)
        if not modes:
            return Standing.NONE  # most people, on most lines
        if modes & OPERATOR_MODES:
            return Standing.OPERATOR
        return Standing.VOICED if modes & VOICED_MODES else Standing.NONE

    def _channel_name(self, channel: str) -> str:
        # Rooms are keyed by the configured spelling, whatever case the server echoes.
        wanted = self._wanted.get(irc_fold(channel))
        return wanted[0] if wanted else channel

    def _room(self, channel: str, folded: str) -> RoomRef:
        room = self._rooms.get(channel)
        if room is None:
            room = RoomRef(self.network, self._channel_name(channel))
            # Entries of _wanted are only ever added, never changed: its spelling is final. (The
            # bound: a server could spell one channel in as many cases as it likes.)
            if folded in self._wanted and len(self._rooms) < 1024:
                self._rooms[channel] = room
        return room

    def _in(self, channel: str) -> bool:
        return irc_fold(channel) in self._joined

    def _on_pubmsg(self, conn: Any, event: Any) -> None:
        self._chat(event, LineKind.SAY)

    def _on_pubnotice(self, conn: Any, event: Any) -> None:
        self._chat(event, LineKind.NOTICE)

    def _on_action(self, conn: Any, event: Any) -> None:
        if self._features.is_channel(event.target):
            self._chat(event, LineKind.ACTION)

    def _chat(self, event: Any, kind: LineKind) -> None:
        if event.arguments and self._in(event.target):
            self._chat_line(event.target, event.source.nick, event.arguments[0], kind, tags_of(event.tags))

    def _chat_line(self, channel: str, nick: str, text: str, kind: LineKind, tags: dict[str, str]) -> None:
        """A PRIVMSG, NOTICE or ACTION to a channel: from jaraco's events through `_chat`, or
        parsed by FastConnection (wire.py), which calls this directly for most lines."""
        folded = irc_fold(channel)
        if folded not in self._joined:
            return
        said_at = server_time(tags)
        if self._is_history(folded, tags, said_at):
            # Replays often lack the account tag (InspIRCd's +H does not keep it): only a tag
            # proves an account, and a missing one must not log the person out in the tracker.
            sender = self._person(nick, tags.get("account") or None)
            backfilled, standing = True, Standing.NONE
        else:
            nick_key = irc_fold(nick)
            from_self = nick_key == irc_fold(self.bot_nick)
            sender = self._person(nick, self._account(nick, tags, from_self=from_self))
            # Most people have no channel status: then no need to ask _standing.
            modes = self._tracker.modes_of(folded, nick_key)
            backfilled, standing = False, self._standing(folded, nick_key) if modes else Standing.NONE
        if said_at is not None:
            heard = self._heard_until.get(folded)
            if heard is None or said_at > heard:
                self._heard_until[folded] = said_at
        text = text if text.isprintable() else strip_formatting(text)
        self._emit(
            channel, sender, text, kind, tags, backfilled=backfilled, said_at=said_at, standing=standing
        )

    def _on_ctcp(self, conn: Any, event: Any) -> None:
        if not event.arguments or self._me(event.source.nick):
            return
        query = parse_ctcp("\x01" + " ".join(event.arguments) + "\x01")
        answer = ctcp_answer(query, f"meetbot {self.version}") if query else None
        # A flood of queries gets at most a few answers: never let CTCP spend the chat budget.
        if answer is not None and len(self._queue) < 3:
            self._queue.push(Queued("NOTICE", event.source.nick, answer))
            self._wake.set()

    def _is_history(self, channel_key: str, tags: dict[str, str], said_at: datetime | None) -> bool:
        """Lines a server replays (InspIRCd +H on join, ZNC playback, our CHATHISTORY request)
        describe the past: they go to the core as backfill, which logs what it missed and never
        runs them (an old #startmeeting or #endmeeting must not act). Known by their batch, or
        where the server sends no batch, by a server time before our JOIN (`channel_key`: the
        folded name)."""
        # A line without a batch tag looks up "": a `BATCH +` with an empty reference counts.
        if self._batches and self._batches.get(tags.get("batch", "")) in HISTORY_BATCHES:
            self._backfilled += 1
            return True
        joined_at = self._joined_at.get(channel_key)
        if joined_at is not None and said_at is not None and said_at < joined_at - HISTORY_SLACK:
            self._backfilled += 1
            return True
        return False

    def _on_batch(self, conn: Any, event: Any) -> None:
        reference = event.target or ""
        if reference.startswith("+"):
            self._batches[reference[1:]] = event.arguments[0] if event.arguments else ""
        elif reference.startswith("-"):
            kind = self._batches.pop(reference[1:], "")
            if kind in HISTORY_BATCHES and self._backfilled:
                log.info("%s: the server replayed %d line(s) of history", self.network, self._backfilled)
                self._backfilled = 0

    def _on_join(self, conn: Any, event: Any) -> None:
        channel, nick = event.target, event.source.nick
        tags = tags_of(event.tags)
        if "extended-join" in self._caps and event.arguments:
            account: str | bool | None = None if event.arguments[0] == "*" else event.arguments[0]
        elif "account" in tags:
            account = tags["account"]
        else:
            account = False
        if self._me(nick):
            self._userhost = (event.source.user, event.source.host)
            self._joined.add(irc_fold(channel))
            joined_at = server_time(tags)
            if joined_at is not None:
                self._joined_at[irc_fold(channel)] = joined_at
            self._tracker.joined(channel, nick, self.account)
            log.info("%s: joined %s", self.network, channel)
            self._enqueue_front(Queued("MODE", raw=f"MODE {channel}"))
            if self._features.whox:
                self._queue.push(Queued("WHO", raw=f"WHO {channel} %tcnfa,{WHOX_TOKEN}"))
            self._request_history(channel)
            return
        if not self._in(channel):
            return
        self._tracker.joined(channel, nick, account)
        sender = Identity(self.network, nick, self._tracker.account(nick))
        self._emit(channel, sender, "", LineKind.JOIN, tags)

    def _request_history(self, channel: str) -> None:
        """Rejoining after a reconnect: ask for what the channel heard meanwhile, where the
        server offers draft/chathistory (after WHO, so the accounts are known when it comes).
        Without it, servers that replay history on join (InspIRCd +H) are taken as they come."""
        since = self._heard_until.get(irc_fold(channel))
        if since is None or "batch" not in self._caps:
            return
        if "draft/chathistory" in self._caps or "chathistory" in self._caps:
            request = chathistory_after(channel, since, self._features.history_limit)
            self._queue.push(Queued("CHATHISTORY", raw=request))

    def _on_part(self, conn: Any, event: Any) -> None:
        channel, nick = event.target, event.source.nick
        if not self._in(channel):
            return
        tags = tags_of(event.tags)
        sender = Identity(self.network, nick, self._tracker.account(nick))
        if not self._me(nick):
            self._emit(channel, sender, event.arguments[0] if event.arguments else "", LineKind.PART, tags)
        self._tracker.left(channel, nick, me=self._me(nick))
        if self._me(nick):
            self._joined.discard(irc_fold(channel))

    def _on_kick(self, conn: Any, event: Any) -> None:
        channel, victim = event.target, event.arguments[0]
        if not self._in(channel):
            return
        reason = event.arguments[1] if len(event.arguments) > 1 else ""
        tags = tags_of(event.tags)
        who = Identity(self.network, victim, self._tracker.account(victim))
        # The log reads "bob was kicked (by alice: reason)".
        self._emit(channel, who, f"by {event.source.nick}: {reason}".rstrip(": "), LineKind.KICK, tags)
        if self._me(victim):
            log.warning("%s: kicked from %s by %s (%s)", self.network, channel, event.source.nick, reason)
            self._joined.discard(irc_fold(channel))
            self._tracker.left(channel, victim, me=True)
        else:
            self._tracker.left(channel, victim)

    def _on_quit(self, conn: Any, event: Any) -> None:
        nick = event.source.nick
        tags = tags_of(event.tags)
        sender = Identity(self.network, nick, self._tracker.account(nick))
        reason = event.arguments[0] if event.arguments else ""
        for channel in self._tracker.quit(nick):
            if self._in(channel):
                self._emit(channel, sender, reason, LineKind.QUIT, tags)
        if self._ready and irc_fold(nick) == irc_fold(self.config.nick) and not self._me(nick):
            self._raw(f"NICK {self.config.nick}")  # our nick just came free

    def _on_nick(self, conn: Any, event: Any) -> None:
        old, new = event.source.nick, event.target
        tags = tags_of(event.tags)
        sender = Identity(self.network, old, self._tracker.account(old))
        was_me = self._me(old)
        if was_me:
            self.bot_nick = new
            log.info("%s: now known as %s", self.network, new)
        for channel in self._tracker.renamed(old, new):
            if self._in(channel):
                self._emit(channel, sender, new, LineKind.NICK, tags)
        if not was_me and self._ready and irc_fold(old) == irc_fold(self.config.nick):
            self._raw(f"NICK {self.config.nick}")

    def _on_topic(self, conn: Any, event: Any) -> None:
        channel = event.target
        if not self._in(channel):
            return
        tags = tags_of(event.tags)
        nick = event.source.nick
        topic = event.arguments[0] if event.arguments else ""
        self._emit(channel, self._identity(nick, tags), strip_formatting(topic), LineKind.TOPIC, tags)

    def _on_chanoprivsneeded(self, conn: Any, event: Any) -> None:
        if event.arguments and self._in(event.arguments[0]):
            self._topic_refused(event.arguments[0])

    def _on_namreply(self, conn: Any, event: Any) -> None:
        if len(event.arguments) >= 3:
            self._tracker.names(event.arguments[1], event.arguments[2].split(), self._features)

    def _on_whospcrpl(self, conn: Any, event: Any) -> None:
        args = event.arguments
        if len(args) >= 5 and args[0] == WHOX_TOKEN:
            nick, account = args[2], args[4]
            if not self._me(nick):
                self._tracker.set_account(nick, None if account == "0" else account)

    def _on_account(self, conn: Any, event: Any) -> None:
        account = event.target
        self._tracker.set_account(event.source.nick, None if account in ("*", None) else account)

    def _on_mode(self, conn: Any, event: Any) -> None:
        if event.arguments:
            self._tracker.mode(event.target, event.arguments[0], event.arguments[1:], self._features)

    def _on_channelmodeis(self, conn: Any, event: Any) -> None:
        if len(event.arguments) >= 2:
            channel, changes, *params = event.arguments
            self._tracker.channel_modes(channel, changes, params, self._features)

    def _on_invite(self, conn: Any, event: Any) -> None:
        channel = event.arguments[0] if event.arguments else ""
        if not self.config.join_on_invite or not self._features.is_channel(channel):
            log.info("%s: ignored an invitation to %s from %s", self.network, channel, event.source.nick)
            return
        log.info("%s: invited to %s by %s; joining", self.network, channel, event.source.nick)
        self._wanted.setdefault(irc_fold(channel), (channel, None))
        self._enqueue_front(Queued("JOIN", raw=f"JOIN {channel}"))

    def _join_failed(self, conn: Any, event: Any) -> None:
        channel = event.arguments[0] if event.arguments else "?"
        log.warning("%s: cannot join %s: %s", self.network, channel, event.arguments[-1])

    _on_channelisfull = _on_inviteonlychan = _on_bannedfromchan = _on_badchannelkey = _join_failed


def _printable(text: str) -> str:
    """\x01 would turn our text into a CTCP; NUL cannot travel at all; CR/LF would end the line
    and start another command (split_message already breaks Say text at newlines)."""
    return text.replace("\x01", "").replace("\x00", "").replace("\r", " ").replace("\n", " ")
