"""Log lines: text or JSON, with the network, room and meeting they concern, and never a secret.

Everything goes through real loggers, real records and the handler configure_logging()
installs; the output is read back as an operator (or a log collector) would."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from meetbot.adapters.irc import IrcAdapter
from meetbot.clock import SystemClock
from meetbot.config import IrcNetwork, Settings, check_config
from meetbot.dispatch import Dispatcher
from meetbot.events import Identity, MessageIn, RoomRef
from meetbot.logs import (
    ContextFilter,
    RedactingFilter,
    Redactor,
    configure_logging,
    database_password,
    secrets_of,
    set_meeting_id,
    set_room,
)

log = logging.getLogger("meetbot.test_logs")

SASL_USER, SASL_PASSWORD = "botacct", "sasl-Pw-7x!q"
NICKSERV_PASSWORD = "nickserv-Pw-3k"
MATRIX_PASSWORD = "matrix-Pw-9z"
MATRIX_TOKEN = "syt_bWVldGJvdA_tokenVaLuE_1a2b3c"
CHANNEL_KEY = "chan-key-5v"
DB_PASSWORD = "db/Pw@8r"  # '/' and '@' must be percent-encoded in the URL
DB_URL = "postgresql+asyncpg://meetbot:db%2FPw%408r@db.example.org:5432/meetbot"
SASL_BASE64 = base64.b64encode(f"{SASL_USER}\0{SASL_USER}\0{SASL_PASSWORD}".encode()).decode()

SECRETS = {
    "sasl password": SASL_PASSWORD,
    "nickserv password": NICKSERV_PASSWORD,
    "matrix password": MATRIX_PASSWORD,
    "matrix access token": MATRIX_TOKEN,
    "irc channel key": CHANNEL_KEY,
    "database password": DB_PASSWORD,
    "database password as in the URL": "db%2FPw%408r",
    "sasl plain payload": SASL_BASE64,
}


def settings_with_secrets(**overrides: Any) -> Settings:
    return Settings.model_validate(
        {
            "database": {"url": DB_URL},
            "networks": [
                {
                    "name": "libera",
                    "type": "irc",
                    "host": "irc.libera.chat",
                    "nick": "meetbot",
                    "sasl": {"username": SASL_USER, "password": SASL_PASSWORD},
                    "channels": [{"name": "#private", "key": CHANNEL_KEY}],
                },
                {
                    "name": "oftc",
                    "type": "irc",
                    "host": "irc.oftc.net",
                    "nick": "meetbot",
                    "nickserv_password": NICKSERV_PASSWORD,
                },
                {
                    "name": "fedora",
                    "type": "matrix",
                    "homeserver": "https://fedora.im",
                    "user_id": "@meetbot:fedora.im",
                    "password": MATRIX_PASSWORD,
                },
                {
                    "name": "gnome",
                    "type": "matrix",
                    "homeserver": "https://gnome.org",
                    "user_id": "@meetbot:gnome.org",
                    "access_token": MATRIX_TOKEN,
                },
            ],
            **overrides,
        }
    )


@pytest.fixture
def configure() -> Iterator[Callable[[Settings], io.StringIO]]:
    """configure_logging() into a buffer; the root logger is put back as it was afterwards."""
    root = logging.getLogger()
    handlers = list(root.handlers)
    levels = {name: logging.getLogger(name).level for name in ("", "irc", "alembic")}

    def run(settings: Settings) -> io.StringIO:
        stream = io.StringIO()
        configure_logging(settings, stream)
        return stream

    yield run
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    for handler in root.handlers:
        for added in [f for f in handler.filters if isinstance(f, ContextFilter | RedactingFilter)]:
            handler.removeFilter(added)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def line(room: RoomRef, text: str) -> MessageIn:
    return MessageIn(room, Identity(room.network, "alice"), text, datetime.now(UTC))


# --------------------------------------------------------------------------- context


async def test_json_lines_carry_the_dispatched_lines_network_room_and_meeting(
    configure: Callable[[Settings], io.StringIO],
) -> None:
    stream = configure(Settings(log_format="json"))

    async def handle(message: MessageIn) -> None:
        # What the service does once it knows the line belongs to a meeting.
        if message.text.startswith("#startmeeting"):
            set_meeting_id(42)
        log.info("handled %s", message.text)
        if message.text == "boom":
            raise RuntimeError("the handler broke")

    dispatcher = Dispatcher(handle)
    libera, fedora = RoomRef("libera", "#meetbot"), RoomRef("fedora", "!abc:fedora.im")
    try:
        for message in (line(libera, "#startmeeting"), line(fedora, "hello"), line(libera, "boom")):
            await dispatcher.submit(message)
        await dispatcher.drain()
    finally:
        await dispatcher.close()
    log.warning("outside any room")

    records = json_lines(stream)
    started, hello, boom, failed, outside = records
    assert started == {
        "time": started["time"],
        "level": "INFO",
        "logger": "meetbot.test_logs",
        "message": "handled #startmeeting",
        "network": "libera",
        "room": "#meetbot",
        "meeting_id": 42,
    }
    assert datetime.fromisoformat(started["time"]).utcoffset() is not None
    assert abs(datetime.fromisoformat(started["time"]) - datetime.now(UTC)).total_seconds() < 60
    # Another room's worker, and the same worker's next line: the meeting id did not follow.
    assert (hello["network"], hello["room"], "meeting_id" in hello) == ("fedora", "!abc:fedora.im", False)
    assert (boom["room"], "meeting_id" in boom) == ("#meetbot", False)
    # The dispatcher's own report of the failure is in the room's context, with the traceback.
    assert failed["level"] == "ERROR"
    assert failed["logger"] == "meetbot.dispatch"
    assert (failed["network"], failed["room"]) == ("libera", "#meetbot")
    assert "RuntimeError: the handler broke" in failed["exc_info"]
    assert outside["message"] == "outside any room"
    assert not {"network", "room", "meeting_id", "exc_info"} & outside.keys()


async def test_text_lines_end_with_the_context_when_known(
    configure: Callable[[Settings], io.StringIO],
) -> None:
    stream = configure(Settings())

    async def worker() -> None:  # as a room's worker does it, in a task of its own
        set_room("libera", "#fedora-meeting")
        log.info("joined")
        set_meeting_id(7)
        log.info("topic set")
        set_meeting_id(None)
        log.info("between meetings")

    await asyncio.create_task(worker())
    log.info("no context")
    lines = stream.getvalue().splitlines()
    prefix = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO meetbot\.test_logs: "
    expected = [
        "joined [libera #fedora-meeting]",
        "topic set [libera #fedora-meeting meeting=7]",
        "between meetings [libera #fedora-meeting]",
        "no context",
    ]
    assert len(lines) == len(expected)
    for got, want in zip(lines, expected, strict=True):
        assert re.fullmatch(prefix + re.escape(want), got), got


async def test_context_stays_in_its_own_task(configure: Callable[[Settings], io.StringIO]) -> None:
    stream = configure(Settings(log_format="json"))

    async def room(name: str, meeting: int) -> None:
        set_room("libera", name)
        set_meeting_id(meeting)
        await asyncio.sleep(0)  # let the other task run in between
        log.info("in %s", name)

    await asyncio.gather(room("#a", 1), room("#b", 2))
    seen = {(r["room"], r["meeting_id"]) for r in json_lines(stream)}
    assert seen == {("#a", 1), ("#b", 2)}


# --------------------------------------------------------------------------- secrets


@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.parametrize("secret", SECRETS.values(), ids=SECRETS.keys())
def test_every_secret_is_masked_in_messages_and_tracebacks(
    configure: Callable[[Settings], io.StringIO], secret: str, log_format: str
) -> None:
    stream = configure(settings_with_secrets(log_format=log_format))
    log.info("as an argument: %s", secret)
    log.info(f"in the format string itself: {secret}")  # a careless caller
    log.info("in a repr: %r", {"password": secret})
    logging.getLogger("aiohttp.client").warning("a library's record: Authorization: Bearer %s", secret)
    try:
        raise ConnectionError(f"could not log in with {secret!r}")
    except ConnectionError:
        log.exception("login failed")
    log.info("with extra", extra={"detail": f"secret={secret}"})
    output = stream.getvalue()
    assert secret not in output
    # Five masked records, and in JSON the extra field as well (text lines do not show extras).
    assert output.count("***") == (6 if log_format == "json" else 5)
    if log_format == "json":
        records = json_lines(stream)
        assert "ConnectionError: could not log in with '***'" in records[4]["exc_info"]
        assert records[5]["detail"] == "secret=***"
    else:
        assert "ConnectionError: could not log in with '***'" in output


def test_secrets_are_masked_for_every_handler_on_the_root(
    configure: Callable[[Settings], io.StringIO], caplog: pytest.LogCaptureFixture
) -> None:
    # pytest's own capture handler sits on the root like any other; it gets the masked record.
    configure(settings_with_secrets())
    log.warning("token %s", MATRIX_TOKEN)
    assert caplog.records[-1].getMessage() == "token ***"


def test_protocol_credentials_are_masked_even_when_not_configured() -> None:
    redact = Redactor([]).redact
    assert redact("RAW: AUTHENTICATE Zm9vAGZvbwBodW50ZXIy") == "RAW: AUTHENTICATE ***"
    assert redact("TO SERVER: PASS :hunter2") == "TO SERVER: PASS :***"
    assert (
        redact("RAW: PRIVMSG NickServ :IDENTIFY acct hunter2") == "RAW: PRIVMSG NickServ :IDENTIFY acct ***"
    )
    assert redact("RAW: PRIVMSG nickserv :identify hunter2") == "RAW: PRIVMSG nickserv :identify ***"
    # A Matrix token from a password login (only the homeserver knows it beforehand).
    assert redact("Validating response schema: {'access_token': 'syt_x_y', 'device_id': 'D'}") == (
        "Validating response schema: {'access_token': '***', 'device_id': 'D'}"
    )
    assert redact('{"access_token": "syt_x_y"}') == '{"access_token": "***"}'
    assert redact("GET /_matrix/client/v3/sync?access_token=syt_x_y&since=s1") == (
        "GET /_matrix/client/v3/sync?access_token=***&since=s1"
    )
    assert redact("Authorization: Bearer syt_x_y") == "Authorization: Bearer ***"
    # The steps of the exchange that carry nothing secret stay readable.
    for harmless in ("RAW: AUTHENTICATE PLAIN", "FROM SERVER: AUTHENTICATE +", "RAW: AUTHENTICATE *"):
        assert redact(harmless) == harmless


@pytest.mark.parametrize(
    "url",
    [
        DB_URL,
        "postgresql+asyncpg://meetbot:plain@localhost/meetbot",
        "postgresql+asyncpg://meetbot:with/slash?and#hash@localhost:5432/meetbot",
        "postgresql+asyncpg://meetbot:p%3Aw@[::1]/meetbot?ssl=require",
        "postgresql+asyncpg://meetbot@localhost/meetbot",
        "sqlite+aiosqlite:///meetbot.db",
    ],
)
def test_database_password_is_the_one_sqlalchemy_reads(url: str) -> None:
    password = make_url(url).password
    assert (password in database_password(url)) if password else database_password(url) == []


def test_sasl_payload_chunks_are_secrets_too() -> None:
    long_password = "x" * 500  # base64 over 400 bytes: AUTHENTICATE sends it in pieces
    settings = Settings.model_validate(
        {
            "networks": [
                {
                    "name": "libera",
                    "type": "irc",
                    "host": "irc.libera.chat",
                    "nick": "meetbot",
                    "sasl": {"username": "bot", "password": long_password},
                }
            ]
        }
    )
    encoded = base64.b64encode(f"bot\0bot\0{long_password}".encode()).decode()
    found = secrets_of(settings)
    assert encoded[:400] in found
    assert encoded[400:] in found


async def _scripted_ircd(wanted: str, *, sasl: bool) -> tuple[asyncio.Server, asyncio.Event]:
    """Just enough of an IRC server for registration: SASL PLAIN when offered, else a welcome
    after which the bot identifies to NickServ. The event is set once `wanted` arrives."""
    arrived = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while raw := await reader.readline():
            text = raw.decode().rstrip("\r\n")
            if text == wanted:
                arrived.set()
            replies: list[str] = []
            if text.startswith("CAP LS"):
                replies.append(":irc.test CAP * LS :sasl" if sasl else ":irc.test CAP * LS :")
            elif text.startswith("CAP REQ"):
                replies.append(f":irc.test CAP * ACK :{text.partition(':')[2]}")
            elif text == "AUTHENTICATE PLAIN":
                replies.append("AUTHENTICATE +")
            elif text.startswith("AUTHENTICATE "):
                replies.append(f":irc.test 900 meetbot meetbot!m@h {SASL_USER} :You are now logged in")
                replies.append(":irc.test 903 meetbot :SASL authentication successful")
            elif text == "CAP END":
                replies.append(":irc.test 001 meetbot :Welcome")
            writer.write("".join(f"{reply}\r\n" for reply in replies).encode())
            await writer.drain()
        writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0), arrived


@pytest.mark.parametrize("sasl", [True, False], ids=["sasl-plain", "nickserv-identify"])
async def test_irc_login_is_masked_in_jaraco_debug_lines(
    configure: Callable[[Settings], io.StringIO], sasl: bool
) -> None:
    """The real adapter logs in to a loopback server with the `irc` logger at DEBUG, where
    jaraco writes every raw line it sends."""
    network: dict[str, Any] = {"name": "test", "type": "irc", "host": "127.0.0.1", "tls": False}
    network["nick"] = "meetbot"
    if sasl:
        network["sasl"] = {"username": SASL_USER, "password": SASL_PASSWORD}
        sent, secret = f"AUTHENTICATE {SASL_BASE64}", SASL_BASE64
    else:
        network["nickserv_password"] = NICKSERV_PASSWORD
        sent, secret = f"PRIVMSG NickServ :IDENTIFY meetbot {NICKSERV_PASSWORD}", NICKSERV_PASSWORD
    server, arrived = await _scripted_ircd(sent, sasl=sasl)
    network["port"] = server.sockets[0].getsockname()[1]
    settings = Settings.model_validate({"log_level": "DEBUG", "networks": [network]})
    stream = configure(settings)
    logging.getLogger("irc").setLevel(logging.DEBUG)
    (config,) = settings.networks
    assert isinstance(config, IrcNetwork)
    adapter = IrcAdapter(config, SystemClock())
    running = asyncio.create_task(adapter.run(lambda message: None))
    try:
        await asyncio.wait_for(arrived.wait(), 10)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        server.close()
        await server.wait_closed()
    output = stream.getvalue()
    # jaraco did log the line it sent, and the credential in it is gone.
    assert f"irc.client_aio: RAW: {sent.rsplit(' ', 1)[0]} ***" in output
    assert secret not in output
    assert SASL_PASSWORD not in output
    assert NICKSERV_PASSWORD not in output


# --------------------------------------------------------------------------- config and command


def test_unknown_log_format_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "meetbot.yaml"
    path.write_text("log_level: INFO\nlog_format: xml\n", encoding="utf-8")
    assert [str(issue) for issue in check_config(path)] == [
        f"{path}:2: log_format: Input should be 'text' or 'json' (got 'xml')"
    ]


def test_meetbot_console_logs_json_lines(tmp_path: Path) -> None:
    config = tmp_path / "meetbot.yaml"
    config.write_text(
        "log_format: json\nlog_level: INFO\n"
        f"database:\n  url: sqlite+aiosqlite:///{tmp_path / 'meetbot.db'}\n"
        f"publish:\n  dir: {tmp_path / 'minutes'}\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "meetbot.cli", "console", "-c", str(config), "--channel", "#logs"],
        cwd=tmp_path,
        input="#startmeeting Logs\n#topic JSON\n#endmeeting\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(text) for text in result.stderr.splitlines()]
    assert records, "INFO logging said nothing"
    for record in records:
        assert {"time", "level", "logger", "message"} <= record.keys(), record
        assert record["level"] in {"INFO", "WARNING", "ERROR", "CRITICAL"}
    # The meeting's own lines were logged while the dispatcher handled the room's lines.
    started = [r for r in records if "meeting" in r["message"] and "started" in r["message"]]
    assert [(r.get("network"), r.get("room")) for r in started] == [("console", "#logs")]
