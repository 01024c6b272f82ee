"""What a valid configuration looks like: the field checks and the pydantic models, Settings on top.

Validators raise errors whose messages already say how to fix the value; turning them into
file/line/field issues is locate.py's job.
"""

from __future__ import annotations

import difflib
import re
import string
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from meetbot.config.provenance import Source
from meetbot.config.schedules import SchedulesSettings
from meetbot.events import StartPolicy, StartRule

# --------------------------------------------------------------------------- field checks
# Validators raise ValueError with the fix in the message; pydantic wraps it as "Value error, ..."
# and locate.py strips that prefix again.

_SLUG = re.compile(r"[a-z0-9_-]+")
_USER_ID = re.compile(r"@[^:\s]+:\S+")
# Room ids from room version 12 on carry no server part (`!<hash>`); aliases always do.
_ROOM = re.compile(r"![^:\s]+(:\S+)?|#[^:\s]+:\S+")
_SERVER_SUFFIX = re.compile(r":[^:\s@]\S*")
_BAD_NICK = re.compile(r"[\s,*?!@]|^[0-9\-#&:]")
_STRFTIME_CODE = re.compile(r"%[-_0^#]?[A-Za-z%]")
_PATTERN_FIELDS = ("name", "channel", "network")
_DB_SCHEMES = {"sqlite+aiosqlite", "postgresql+asyncpg"}
_DB_ASYNC_FORMS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+psycopg2": "postgresql+asyncpg",
    "postgresql+psycopg": "postgresql+asyncpg",
}


def _slug(value: str) -> str:
    if not _SLUG.fullmatch(value):
        # Names end up in file paths and URLs, hence the narrow alphabet.
        suggestion = re.sub(r"[^a-z0-9_-]+", "-", value.lower()).strip("-") or "main"
        raise ValueError(f"use only a-z, 0-9, '_' and '-' (the name is used in paths), e.g. {suggestion!r}")
    return value


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http:// or https:// URL, e.g. 'https://example.org'")
    return value


def _base_url(value: str) -> str:
    _http_url(value)
    parts = urlsplit(value)
    if parts.query or parts.fragment:
        raise ValueError(
            "must not contain '?' or '#'; give only the directory URL the minutes are served from"
        )
    # Minute paths are appended to it, so it has to name a directory.
    return value if value.endswith("/") else value + "/"


def _homeserver(value: str) -> str:
    # Client-server API paths are appended with their own leading slash.
    return _http_url(value).rstrip("/")


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        close = difflib.get_close_matches(value, sorted(available_timezones()), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"unknown time zone; use an IANA name such as 'UTC' or 'Europe/Prague'{hint}"
        ) from None
    return value


def _pattern(value: str) -> str:
    if not value.strip() or value.endswith("/"):
        raise ValueError(
            "must end with a file name (without extension), e.g. '{name}/%Y/{name}.%Y-%m-%d-%H.%M'"
        )
    if value.startswith("/"):
        raise ValueError("must be relative to publish.dir; remove the leading '/'")
    if ".." in value:
        raise ValueError("must not contain '..': minutes must stay inside publish.dir")
    try:
        parsed = list(string.Formatter().parse(value))
    except ValueError as exc:
        raise ValueError(f"{exc}; write a literal brace as '{{{{' or '}}}}'") from None
    allowed = ", ".join("{" + name + "}" for name in _PATTERN_FIELDS)
    for _, field_name, spec, conversion in parsed:
        if field_name is None:
            continue
        if field_name not in _PATTERN_FIELDS or spec or conversion:
            raise ValueError(
                f"unknown placeholder {{{field_name}}}; use only {allowed} and strftime codes like %Y"
            )
    if _STRFTIME_CODE.sub("", value).count("%"):
        raise ValueError(
            "a '%' must start a strftime code like %Y or %d; write a literal percent sign as '%%'"
        )
    return value


def _database_url(value: str) -> str:
    scheme, separator, _ = value.partition("://")
    if not separator:
        raise ValueError(
            "must be a URL such as 'sqlite+aiosqlite:///meetbot.db' or "
            "'postgresql+asyncpg://user:password@host/dbname'"
        )
    if scheme in _DB_SCHEMES:
        return value
    # The URL may hold a password, so it is never echoed back.
    fixed = _DB_ASYNC_FORMS.get(scheme)
    if fixed:
        raise ValueError(
            f"the bot needs an asyncio driver: start the URL with '{fixed}://' instead of '{scheme}://'"
        )
    raise ValueError("unsupported database; use 'sqlite+aiosqlite://...' or 'postgresql+asyncpg://...'")


def _prefix(value: str) -> str:
    if len(value) != 1 or value.isalnum() or value.isspace():
        raise ValueError(
            "each prefix is one punctuation character such as '#' or '!'; quote it in YAML: \"#\""
        )
    return value


def _nick(value: str) -> str:
    if not value or _BAD_NICK.search(value):
        raise ValueError(
            "not a valid IRC nick: no spaces or ,*?!@, and no leading digit, '-', '#', '&' or ':'"
        )
    return value


def _host(value: str) -> str:
    if not value or "://" in value or any(c.isspace() for c in value):
        raise ValueError(
            "give only the server name, e.g. 'irc.libera.chat' (no irc:// and no port; set port:)"
        )
    return value


def _user_id(value: str) -> str:
    if not _USER_ID.fullmatch(value):
        raise ValueError("must be a Matrix user id like '@meetbot:example.org' (quote it: YAML reserves '@')")
    return value


def _room(value: str) -> str:
    if not _ROOM.fullmatch(value):
        raise ValueError(
            "must be a room id like '!abc123:example.org' or an alias like '#meeting:example.org' (quoted)"
        )
    return value


def _inviter(value: str) -> str:
    if not (_USER_ID.fullmatch(value) or _SERVER_SUFFIX.fullmatch(value)):
        raise ValueError("must be a user id like '@alice:example.org' or a whole server like ':example.org'")
    return value


Slug = Annotated[str, AfterValidator(_slug)]
Prefix = Annotated[str, AfterValidator(_prefix)]
Nick = Annotated[str, AfterValidator(_nick)]


# --------------------------------------------------------------------------- models


class DatabaseSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # A relative SQLite path is relative to the working directory.
    url: Annotated[str, AfterValidator(_database_url)] = "sqlite+aiosqlite:///meetbot.db"
    # Lines of open meetings kept in memory while the database is unreachable, written in order
    # when it is back; past this, rooms wait for the database (logged, never dropped).
    buffer_lines: int = Field(default=10_000, ge=100)


class FailoverSettings(BaseModel):
    """Several `meetbot run` processes on one PostgreSQL database: one active, the rest standby."""

    model_config = ConfigDict(extra="forbid")

    # A standby takes over once the active process has not renewed its lease for this long.
    lease_seconds: float = Field(default=8.0, ge=2.0, le=300.0)


class PublishSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dir: Path = Path("minutes")
    base_url: Annotated[str, AfterValidator(_base_url)] | None = None
    pattern: Annotated[str, AfterValidator(_pattern)] = "{name}/%Y/{name}.%Y-%m-%d-%H.%M"
    timezone: Annotated[str, AfterValidator(_timezone)] = "UTC"
    # A long meeting's log rendered in a second process, beside the rest of its publish
    # (meetbot.minutes.logworker); only with two or more cores and the built-in templates.
    log_worker: bool = True


class WebSettings(BaseModel):
    """The read-only web archive the bot process serves itself (`meetbot serve` runs it alone)."""

    model_config = ConfigDict(extra="forbid")

    # Loopback by default: put a reverse proxy (TLS, caching) in front to publish it.
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)


class Sasl(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mechanism: Literal["PLAIN", "EXTERNAL"] = "PLAIN"
    username: str | None = None
    password: str | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    @model_validator(mode="after")
    def _complete(self) -> Self:
        # `at` names the field the error belongs to, so the loader can point at its line.
        if self.mechanism == "PLAIN":
            for needed in ("username", "password"):
                if getattr(self, needed) is None:
                    raise PydanticCustomError(
                        "sasl",
                        f"SASL PLAIN needs {needed}; add it (put secrets in ${{ENV_VAR}})",
                        {"at": (needed,)},
                    )
        else:
            if self.cert_file is None:
                raise PydanticCustomError(
                    "sasl",
                    "SASL EXTERNAL needs cert_file, the client certificate (PEM)",
                    {"at": ("cert_file",)},
                )
            if self.password is not None:
                raise PydanticCustomError(
                    "sasl",
                    "SASL EXTERNAL logs in with the certificate; remove password",
                    {"at": ("password",)},
                )
        if self.key_file is not None and self.cert_file is None:
            raise PydanticCustomError(
                "sasl",
                "key_file only makes sense with cert_file; add cert_file or remove key_file",
                {"at": ("key_file",)},
            )
        return self


class IrcChannel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    key: str | None = None
    # Who may #startmeeting here; start_accounts (services accounts) may also start under
    # voiced/ops, and are the only ones under accounts. Never by nick: a nick can be taken.
    start: StartPolicy = StartPolicy.ANYONE
    start_accounts: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        # The common case is a bare channel name; only keyed channels need the mapping form.
        if isinstance(value, str):
            return {"name": value}
        if not isinstance(value, dict):
            raise ValueError('expected a channel name like "#chan" (quoted) or {name: "#chan", key: ...}')
        return value

    @field_validator("name")
    @classmethod
    def _channel_name(cls, value: str) -> str:
        if not value or value[0] not in "#&+!":
            raise ValueError(
                f'IRC channel names start with #, &, + or !; write "#{value}" (quoted: # starts a comment)'
            )
        if any(c.isspace() or c in ",\a" for c in value):
            raise ValueError("channel names cannot contain spaces, commas or control characters")
        return value

    @field_validator("start_accounts")
    @classmethod
    def _account_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not name or any(c.isspace() for c in name) or name.startswith(("#", "@", "~")):
                raise ValueError(f"{name!r} is not a services account name (a bare name like alice)")
        return value

    @model_validator(mode="after")
    def _accounts_listed(self) -> Self:
        if self.start is StartPolicy.ACCOUNTS and not self.start_accounts:
            raise ValueError("start: accounts lets only start_accounts start meetings; list them")
        return self

    @property
    def start_rule(self) -> StartRule:
        return StartRule(self.start, frozenset(self.start_accounts))


class FloodSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    burst: int = Field(4, ge=1)
    per_second: float = Field(1.0, gt=0)


class IrcNetwork(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Slug
    type: Literal["irc"]
    host: Annotated[str, AfterValidator(_host)]
    port: int = Field(6697, ge=1, le=65535)
    tls: bool = True
    tls_verify: bool = True
    ca_file: Path | None = None
    nick: Nick
    alt_nicks: list[Nick] = Field(default_factory=list)
    username: str | None = None
    realname: str | None = None
    sasl: Sasl | None = None
    nickserv_password: str | None = None
    channels: list[IrcChannel] = Field(default_factory=list)
    join_on_invite: bool = False
    # Channel operators count as meeting chairs. Off by default: who gets ops is each channel's
    # own policy (ChanServ access lists, auto-op), not the meeting's.
    ops_are_chairs: bool = False
    flood: FloodSettings = Field(default_factory=FloodSettings)


class MatrixAccount(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Slug
    type: Literal["matrix"]
    homeserver: Annotated[str, AfterValidator(_homeserver)]
    user_id: Annotated[str, AfterValidator(_user_id)]
    password: str | None = None
    access_token: str | None = None
    device_id: str | None = None
    rooms: list[Annotated[str, AfterValidator(_room)]] = Field(default_factory=list)
    command_prefixes: list[Prefix] = Field(default_factory=lambda: ["#", "!"], min_length=1)
    chair_power_level: int = Field(50, ge=0)
    allowed_inviters: list[Annotated[str, AfterValidator(_inviter)]] = Field(default_factory=list)
    # The login (device id + token) and the sync position; default ./.meetbot-matrix/<name>/.
    state_dir: Path | None = None

    @model_validator(mode="after")
    def _one_credential(self) -> Self:
        if self.password is not None and self.access_token is not None:
            raise PydanticCustomError(
                "credentials",
                "set either password or access_token, not both; remove one",
                {"at": ("password",)},
            )
        if self.password is None and self.access_token is None:
            raise PydanticCustomError(
                "credentials",
                'needs a login: add access_token: "${MEETBOT_MATRIX_TOKEN}" (or password)',
                {"at": ("access_token",)},
            )
        return self


Network = Annotated[IrcNetwork | MatrixAccount, Field(discriminator="type")]


# --------------------------------------------------------------------------- bridged places

# What each known bridge looks like, so a typical set-up needs only the two sides and the relay
# nick. Matrix ids are matched without the server part, so one preset fits every homeserver.
BRIDGE_PRESETS: dict[str, dict[str, str | None]] = {
    # heisenbridge: IRC people are `@irc_<network>_<nick>` (its generated registration), its own
    # account is `@heisenbridge`; Matrix people reach IRC as `<name> text` from one relay nick.
    "heisenbridge": {
        "matrix_puppets": r"^@(?:heisenbridge|irc_[^_:]+_(?P<nick>[^:]+)):",
        "irc_puppets": None,
    },
    # matrix-appservice-irc (sample config): IRC people are `@irc_<nick>`, Matrix people get IRC
    # puppets `<display name>[m]`.
    "matrix-appservice-irc": {
        "matrix_puppets": r"^@(?:appservice-irc|irc_(?P<nick>[^:]+)):",
        "irc_puppets": r"^(?P<nick>.+)\[m\]$",
    },
    "none": {"matrix_puppets": None, "irc_puppets": None},
}
RELAY_PATTERN = r"^<(?P<nick>[^>]+)> (?P<text>.*)$"


def _regex(value: str, groups: tuple[str, ...] = ()) -> str:
    try:
        compiled = re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None
    missing = [name for name in groups if name not in compiled.groupindex]
    if missing:
        raise ValueError(
            "needs the named group(s) " + ", ".join(f"(?P<{name}>...)" for name in missing)
        )
    return value


def _relay_regex(value: str) -> str:
    return _regex(value, ("nick", "text"))


def _bridged_channel(value: str) -> str:
    if not value or value[0] not in "#&+!" or any(c.isspace() or c in ",\a" for c in value):
        raise ValueError('must be an IRC channel name like "#fedora-meeting" (quoted: # starts a comment)')
    return value


class BridgeIrcSide(BaseModel):
    model_config = ConfigDict(extra="forbid")

    network: Slug
    channel: Annotated[str, AfterValidator(_bridged_channel)]


class BridgeMatrixSide(BaseModel):
    model_config = ConfigDict(extra="forbid")

    network: Slug
    room: Annotated[str, AfterValidator(_room)]


class RelaySettings(BaseModel):
    """A bridge (or relay bot) that posts everyone from the other side under its own IRC nick."""

    model_config = ConfigDict(extra="forbid")

    nicks: list[Nick] = Field(min_length=1)
    pattern: Annotated[str, AfterValidator(_relay_regex)] = RELAY_PATTERN

    @model_validator(mode="before")
    @classmethod
    def _one_nick(cls, value: Any) -> Any:
        # `nick: heisenbridge` is the common case; `nicks:` lists several relays.
        if isinstance(value, dict) and "nick" in value and "nicks" not in value:
            value = {**value, "nicks": [value["nick"]]}
            del value["nick"]
        return value


class BridgeSettings(BaseModel):
    """One meeting place that is both an IRC channel and a Matrix room joined by a bridge."""

    model_config = ConfigDict(extra="forbid")

    irc: BridgeIrcSide
    matrix: BridgeMatrixSide
    preset: Literal["heisenbridge", "matrix-appservice-irc", "none"] = "heisenbridge"
    reply_on: Literal["irc", "matrix"] = "irc"
    # Unset: the preset's. Empty string: none at all.
    irc_puppets: Annotated[str, AfterValidator(_regex)] | None = None
    matrix_puppets: Annotated[str, AfterValidator(_regex)] | None = None
    relay: RelaySettings | None = None
    duplicate_window: float = Field(120.0, ge=0, le=3600)

    def puppets(self, side: Literal["irc", "matrix"]) -> str | None:
        """The puppet pattern for one side, the preset's unless set ("" turns it off)."""
        own = self.irc_puppets if side == "irc" else self.matrix_puppets
        if own is None:
            own = BRIDGE_PRESETS[self.preset][f"{side}_puppets"]
        return own or None


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    publish: PublishSettings = Field(default_factory=PublishSettings)
    templates_dir: Path | None = None
    command_prefixes: list[Prefix] = Field(default_factory=lambda: ["#"], min_length=1)
    networks: list[Network] = Field(default_factory=list)
    plugins: dict[str, dict[str, Any]] = Field(default_factory=dict)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"  # json: one object a line, for log collectors
    schedules: SchedulesSettings = Field(default_factory=SchedulesSettings)
    web: WebSettings | None = None  # set: `meetbot run` serves the web archive too
    failover: FailoverSettings = Field(default_factory=FailoverSettings)
    # IRC channels and Matrix rooms joined by a bridge: each pair is one meeting place.
    bridges: list[BridgeSettings] = Field(default_factory=list)

    # Where each value came from, so plugin_config() can report lines long after loading.
    _source: Source = PrivateAttr(default_factory=Source)

    @field_validator("plugins", mode="before")
    @classmethod
    def _empty_plugin_sections(cls, value: Any) -> Any:
        # `plugins: {meeting: }` (a section with everything defaulted) reads as null in YAML.
        if isinstance(value, dict):
            return {name: {} if section is None else section for name, section in value.items()}
        return value

    @field_validator("networks")
    @classmethod
    def _unique_names(cls, networks: list[IrcNetwork | MatrixAccount]) -> list[IrcNetwork | MatrixAccount]:
        first: dict[str, int] = {}
        for index, network in enumerate(networks):
            if network.name in first:
                raise PydanticCustomError(
                    "duplicate_name",
                    "network name '{name}' is already used by networks[{first}]; rename one",
                    {"name": network.name, "first": first[network.name], "at": (index, network.type, "name")},
                )
            first[network.name] = index
        return networks

    @model_validator(mode="after")
    def _bridged_networks(self) -> Self:
        # A bridge names networks by name: each must exist with the right type, and a channel or
        # room belongs to one place only (two places would each claim its lines).
        # One side may be missing: the bot is then only on the other and hears this one through
        # the bridge.
        kinds = {network.name: network.type for network in self.networks}
        seen: dict[tuple[str, str, str], int] = {}
        for index, bridge in enumerate(self.bridges):
            if bridge.irc.network not in kinds and bridge.matrix.network not in kinds:
                raise PydanticCustomError(
                    "bridge",
                    "neither side is in networks: the bot must be on at least one of them",
                    {"at": ("bridges", index, "irc", "network")},
                )
            for side, network, room in (
                ("irc", bridge.irc.network, bridge.irc.channel.casefold()),
                ("matrix", bridge.matrix.network, bridge.matrix.room),
            ):
                if network in kinds and kinds[network] != side:
                    known = [name for name, kind in kinds.items() if kind == side]
                    raise PydanticCustomError(
                        "bridge",
                        "'{network}' is not a {side} network; use one of: {known}",
                        {
                            "side": side,
                            "network": network,
                            "known": ", ".join(known) or "(none)",
                            "at": ("bridges", index, side, "network"),
                        },
                    )
                key = (side, network, room)
                if key in seen:
                    raise PydanticCustomError(
                        "bridge",
                        "already bridged by bridges[{first}]; a channel or room can be in one bridge only",
                        {
                            "first": seen[key],
                            "at": ("bridges", index, side, "channel" if side == "irc" else "room"),
                        },
                    )
                seen[key] = index
        return self
