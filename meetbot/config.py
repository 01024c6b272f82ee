"""The bot's YAML configuration: typed settings, and a loader whose errors point at file and line.

PyYAML on its own forgets line numbers once data is built, silently keeps the last of two
duplicate keys, and applies YAML 1.1 rules that bite admins (`16:00` is 960, `0700` is 448,
`no` is False, `- #chan` is an empty item). So the file is only *composed* into a node tree,
the data is built from that tree here (checking those traps on the way), and every pydantic
error location is mapped back onto the node it came from.
"""

from __future__ import annotations

import difflib
import os
import re
import string
import types
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, Self, TypeVar, Union, get_args, get_origin
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

__all__ = [
    "DEFAULT_PATH",
    "ConfigError",
    "ConfigIssue",
    "DatabaseSettings",
    "FloodSettings",
    "IrcChannel",
    "IrcNetwork",
    "MatrixAccount",
    "PublishSettings",
    "Sasl",
    "Settings",
    "check_config",
    "load_settings",
    "plugin_config",
]

DEFAULT_PATH = Path("meetbot.yaml")

M = TypeVar("M", bound=BaseModel)
_Loc = tuple[str | int, ...]


# --------------------------------------------------------------------------- issues


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a config file, phrased so the admin knows what to change."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        # File-level problems (missing file, broken YAML) have no field to name.
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class ConfigError(Exception):
    """The configuration cannot be used; `issues` lists every problem found, not just the first."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(issue) for issue in issues))


# --------------------------------------------------------------------------- field checks
# Validators raise ValueError with the fix in the message; pydantic wraps it as "Value error, ..."
# and the loader strips that prefix again.

_SLUG = re.compile(r"[a-z0-9_-]+")
_USER_ID = re.compile(r"@[^:\s]+:\S+")
_ROOM = re.compile(r"[!#][^:\s]+:\S+")
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


class PublishSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dir: Path = Path("minutes")
    base_url: Annotated[str, AfterValidator(_base_url)] | None = None
    pattern: Annotated[str, AfterValidator(_pattern)] = "{name}/%Y/{name}.%Y-%m-%d-%H.%M"
    timezone: Annotated[str, AfterValidator(_timezone)] = "UTC"


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


@dataclass(frozen=True, slots=True)
class _NodeInfo:
    line: int  # 1-based line where the value starts
    key_line: int  # line of the key naming the value (the dash line for a list item)
    tag: str
    raw: str | None  # source text of an unquoted scalar, for "quote it" hints


@dataclass(frozen=True, slots=True)
class _Source:
    # Provenance must not make equal settings compare unequal, hence compare=False throughout.
    file: str = field(default="<settings>", compare=False)
    nodes: Mapping[_Loc, _NodeInfo] = field(default_factory=dict, compare=False)
    sensitive: frozenset[_Loc] = field(default=frozenset(), compare=False)  # from ${ENV}: never echoed


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    publish: PublishSettings = Field(default_factory=PublishSettings)
    templates_dir: Path | None = None
    command_prefixes: list[Prefix] = Field(default_factory=lambda: ["#"], min_length=1)
    networks: list[Network] = Field(default_factory=list)
    plugins: dict[str, dict[str, Any]] = Field(default_factory=dict)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # Where each value came from, so plugin_config() can report lines long after loading.
    _source: _Source = PrivateAttr(default_factory=_Source)

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


# --------------------------------------------------------------------------- building data from nodes

_TAG = "tag:yaml.org,2002:"
_NULL, _BOOL, _INT, _FLOAT, _STR, _MERGE = (
    _TAG + t for t in ("null", "bool", "int", "float", "str", "merge")
)
_OCTAL = re.compile(r"[-+]?0[0-7_]+")
_SWALLOWED = re.compile(r"\s*(#\S+)")
# Inside [...] or {...}, a '#' after the bracket, a comma or a colon still starts a comment.
_FLOW_COMMENT = re.compile(r"[\[{](?:[^\]}#]*[,:])?\s*#\S")
_ENV_REF = re.compile(r"\$\$\{|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}|\$\{")


def _format_path(path: _Loc) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


class _Builder:
    """Turns a composed node tree into plain data, recording each value's line and any YAML traps."""

    def __init__(self, file: str, text: str, env: Mapping[str, str]) -> None:
        self.file = file
        self.lines = text.splitlines()
        self.env = env
        self.issues: list[ConfigIssue] = []
        self.nodes: dict[_Loc, _NodeInfo] = {}
        self.reported: set[_Loc] = set()
        self.sensitive: set[_Loc] = set()
        self._active: set[int] = set()
        self._constructor = yaml.SafeLoader("")

    def report(self, path: _Loc, line: int, message: str) -> None:
        self.issues.append(ConfigIssue(self.file, line, _format_path(path), message))
        # Validation errors below this point would only repeat the same mistake.
        self.reported.add(path)

    def build(self, node: yaml.Node, path: _Loc, key_line: int) -> Any:
        line = node.start_mark.line + 1
        if isinstance(node, yaml.ScalarNode):
            raw = node.value if node.style is None else None
            self.nodes[path] = _NodeInfo(line, key_line, node.tag, raw)
            return self._scalar(node, path, line)
        if id(node) in self._active:
            self.report(path, line, "this alias contains itself; anchors used here must not be recursive")
            return None
        self.nodes[path] = _NodeInfo(line, key_line, node.tag, None)
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [
                    self.build(item, (*path, i), item.start_mark.line + 1)
                    for i, item in enumerate(node.value)
                ]
            return self._mapping(node, path) if isinstance(node, yaml.MappingNode) else None
        finally:
            self._active.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: _Loc) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node, explicit in self._pairs(node, path):
            key_line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                self.report(
                    path, key_line, "keys must be plain names, not lists or mappings; fix the indentation"
                )
                continue
            # Keys are names, so take them literally: `on:` or `1:` must not become True or 1.
            key = str(key_node.value)
            if explicit and key in first_line:
                self.report(
                    (*path, key),
                    key_line,
                    f"duplicate key '{key}' (first at line {first_line[key]}); YAML would silently keep "
                    "only the last one: remove or merge one of them",
                )
            elif explicit:
                first_line[key] = key_line
            result[key] = self.build(value_node, (*path, key), key_line)
        return result

    def _pairs(self, node: yaml.MappingNode, path: _Loc) -> list[tuple[yaml.Node, yaml.Node, bool]]:
        """Key/value pairs with `<<` merges expanded; later pairs win, so explicit keys come last."""
        merged: list[tuple[yaml.Node, yaml.Node, bool]] = []
        own: list[tuple[yaml.Node, yaml.Node, bool]] = []
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE:
                own.append((key_node, value_node, True))
                continue
            sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            # YAML gives the first merged mapping precedence, so apply them last-to-first.
            for source in reversed(sources):
                if not isinstance(source, yaml.MappingNode) or id(source) in self._active:
                    self.report(
                        path, source.start_mark.line + 1, "'<<' can only merge (non-recursive) mappings"
                    )
                    continue
                self._active.add(id(source))
                merged.extend((k, v, False) for k, v, _ in self._pairs(source, path))
                self._active.discard(id(source))
        return merged + own

    def _scalar(self, node: yaml.ScalarNode, path: _Loc, line: int) -> Any:
        if not node.tag.startswith(_TAG):
            # Matrix room ids start with '!', which YAML reads as a tag.
            text = f"{node.tag} {node.value}" if node.value else node.tag
            self.report(
                path,
                line,
                f'YAML reads {node.tag} as a type tag because of the leading "!"; quote it: "{text}"',
            )
            return text
        if node.style is None and not self._explicitly_tagged(node):
            trapped = self._trap(node, path, line)
            if trapped is not None:
                return trapped
        try:
            value = self._constructor.construct_object(node)
        except (yaml.YAMLError, ValueError) as exc:
            self.report(
                path, line, f"cannot read {node.value!r} as {node.tag.removeprefix(_TAG)} ({exc}); quote it"
            )
            return node.value
        if isinstance(value, str) and node.tag == _STR:
            return self._substitute(value, path, line)
        return value

    def _explicitly_tagged(self, node: yaml.ScalarNode) -> bool:
        # `!!int 0700` asks for octal on purpose; the node alone can't tell it from a plain 0700.
        return self._rest_of_line(node).startswith("!")

    def _rest_of_line(self, node: yaml.Node) -> str:
        mark = node.start_mark
        return self.lines[mark.line][mark.column :] if mark.line < len(self.lines) else ""

    def _trap(self, node: yaml.ScalarNode, path: _Loc, line: int) -> str | None:
        """Report an unquoted scalar YAML 1.1 misreads; return the text the admin meant, else None."""
        raw = str(node.value)
        if node.tag in (_INT, _FLOAT) and ":" in raw:
            number = self._constructor.construct_object(node)
            message = f'unquoted {raw} is read by YAML 1.1 as the number {number}; quote it: "{raw}"'
        elif node.tag == _INT and _OCTAL.fullmatch(raw):
            number = self._constructor.construct_object(node)
            message = (
                f'unquoted {raw} is read by YAML 1.1 as the octal number {number}; quote it: "{raw}" '
                "(or drop the leading zero for a decimal number)"
            )
        elif node.tag == _NULL and raw == "":
            # A comment right after `key:` or `-` with no space after '#' is a value, not a remark.
            match = _SWALLOWED.match(self._rest_of_line(node))
            if match is None:
                return None
            raw = match.group(1)
            message = f'{raw} starts a YAML comment, so this value is empty; quote it: "{raw}"'
        else:
            return None
        self.report(path, line, message)
        return raw

    def _substitute(self, text: str, path: _Loc, line: int) -> str:
        if "${" not in text:
            return text
        self.sensitive.add(path)

        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$${":
                return "${"
            name, default = match.group("name"), match.group("default")
            if name is None:
                self.report(
                    path, line, "'${' must start ${NAME} or ${NAME:-default}; write '$${' for a literal '${'"
                )
                return match.group(0)
            value = self.env.get(name)
            # Like the shell, `:-` also covers a variable that is set but empty.
            if default is not None and not value:
                return default
            if value is None:
                self.report(
                    path,
                    line,
                    f"environment variable {name} is not set; export it before starting the bot "
                    f"or give a default: ${{{name}:-value}}",
                )
                return ""
            return value

        return _ENV_REF.sub(replace, text)


# --------------------------------------------------------------------------- mapping pydantic errors


def _unwrap(tp: Any) -> Any:
    """Strip Annotated and Optional, which pydantic does not show in error locations."""
    while True:
        if get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
            continue
        if get_origin(tp) in (Union, types.UnionType):
            members = [m for m in get_args(tp) if m is not type(None)]
            if len(members) == 1:
                tp = members[0]
                continue
        return tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _union_member(members: tuple[Any, ...], label: str | int) -> Any:
    """The union member an error location label names: a discriminator tag or a class name."""
    for member in map(_unwrap, members):
        if not _is_model(member):
            continue
        if member.__name__ == label:
            return member
        literals = (f.annotation for f in member.model_fields.values() if get_origin(f.annotation) is Literal)
        if any(label in get_args(literal) for literal in literals):
            return member
    return Any


class _Resolved(NamedTuple):
    path: _Loc  # data path: pydantic's union labels removed
    owner: type[BaseModel] | None  # model whose field the last path element names
    type: Any  # annotation found at the end of the path


def _resolve(model: type[BaseModel], loc: _Loc) -> _Resolved:
    """Follow a pydantic loc through the model's annotations to learn what each element means."""
    tp: Any = model
    path: list[str | int] = []
    owner: type[BaseModel] | None = None
    for part in loc:
        tp = _unwrap(tp)
        if get_origin(tp) in (Union, types.UnionType):
            # pydantic labels the member in the loc: a discriminator tag or a type name.
            tp = _union_member(get_args(tp), part)
            continue
        owner = None
        if _is_model(tp):
            owner = tp
            field_info = tp.model_fields.get(part) if isinstance(part, str) else None
            tp = field_info.annotation if field_info is not None else Any
        elif get_origin(tp) in (list, tuple, set, frozenset):
            tp = (get_args(tp) or (Any,))[0]
        elif get_origin(tp) is dict:
            tp = get_args(tp)[1] if get_args(tp) else Any
        else:
            tp = Any
        path.append(part)
    return _Resolved(tuple(path), owner, _unwrap(tp))


def _union_tags(tp: Any, discriminator: str) -> list[str]:
    tags: list[str] = []
    for member in map(_unwrap, get_args(tp)):
        tag_field = member.model_fields.get(discriminator) if _is_model(member) else None
        if tag_field is not None:
            tags += [str(tag) for tag in get_args(tag_field.annotation)]
    return tags


def _line_of(source: _Source, path: _Loc, *, key: bool) -> int | None:
    info = source.nodes.get(path)
    if info is not None:
        return info.key_line if key else info.line
    # A missing key belongs in the nearest mapping that does exist.
    for end in range(len(path) - 1, -1, -1):
        parent = source.nodes.get(path[:end])
        if parent is not None:
            return parent.key_line
    return None


_TYPE_FIXES = {
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number such as 1.5",
    "float_parsing": "expected a number such as 1.5",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "list_type": "expected a list: one '- item' per line, or [a, b]",
    "dict_type": "expected a mapping of 'key: value' lines",
    "model_type": "expected a mapping of 'key: value' lines",
    "model_attributes_type": "expected a mapping of 'key: value' lines",
    "path_type": "expected a file or directory path",
}
# Raised by this module's validators with complete messages of their own.
_OWN_ERRORS = frozenset({"sasl", "credentials", "duplicate_name"})


def _quote_hint(info: _NodeInfo | None, value: Any) -> str | None:
    """Explain why an unquoted scalar did not arrive as text."""
    if info is None or info.raw is None:
        return None
    raw = info.raw
    if info.tag == _BOOL:
        return f'unquoted {raw} is read by YAML 1.1 as the boolean {str(value).lower()}; quote it: "{raw}"'
    if info.tag == _NULL:
        return "this value is empty (YAML null); give a value, quoted if it starts with # ! @ or &"
    kind = {_INT: "a number", _FLOAT: "a number"}.get(info.tag, f"a {info.tag.removeprefix(_TAG)}")
    return f'unquoted {raw} is read by YAML as {kind}, not text; quote it: "{raw}"'


@dataclass(frozen=True, slots=True)
class _ErrorSite:
    """What the loader knows about the place a pydantic error points at."""

    path: _Loc
    owner: type[BaseModel] | None
    info: _NodeInfo | None
    secret: bool
    tags: tuple[str, ...] = ()


def _message(error: ErrorDetails, site: _ErrorSite) -> str:
    kind, value = error["type"], error.get("input")
    key = str(site.path[-1]) if site.path else ""
    if kind == "extra_forbidden":
        allowed = list(site.owner.model_fields) if site.owner else []
        close = difflib.get_close_matches(key, allowed, n=1)
        if close:
            return f"unknown setting '{key}'; did you mean '{close[0]}'?"
        return f"unknown setting '{key}'; remove it (allowed here: {', '.join(allowed)})"
    if kind == "missing":
        return f"required setting is missing; add '{key}: ...' here"
    if kind == "union_tag_not_found":
        return f"missing '{key}'; add " + " or ".join(f"'{key}: {tag}'" for tag in site.tags)
    if kind == "union_tag_invalid":
        tag = str(error.get("ctx", {}).get("tag", ""))
        close = difflib.get_close_matches(tag.lower(), site.tags, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"use one of: {', '.join(site.tags)}"
        return f"unknown {key} {tag!r}; {hint}"
    if kind == "string_type":
        return _quote_hint(site.info, value) or "expected text; quote the value"
    if kind in ("value_error", "assertion_error"):
        return error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind in _OWN_ERRORS:
        return error["msg"]
    text = _TYPE_FIXES.get(kind, error["msg"])
    if value is None and site.info is not None and site.info.tag == _NULL:
        return f"{text}, but the value is empty (YAML null); fill it in or remove the line"
    if not site.secret and not isinstance(value, dict | list):
        text += f" (got {value!r})"
    return text


def _error_site(error: ErrorDetails, model: type[BaseModel], source: _Source, prefix: _Loc) -> _ErrorSite:
    ctx = error.get("ctx", {})
    # Cross-field checks raise on the whole model; `at` says which field they are about.
    resolved = _resolve(model, tuple(error["loc"]) + tuple(ctx.get("at", ())))
    path: _Loc = resolved.path
    tags: tuple[str, ...] = ()
    if error["type"].startswith("union_tag_"):
        discriminator = str(ctx.get("discriminator", "type")).strip("'")
        path, tags = (*path, discriminator), tuple(_union_tags(resolved.type, discriminator))
    full = prefix + path
    secret = full in source.sensitive or any(
        word in str(part).lower() for part in path for word in ("password", "token", "secret", "key")
    )
    return _ErrorSite(full, resolved.owner, source.nodes.get(full), secret, tags)


def _issues_from_validation(
    exc: ValidationError, model: type[BaseModel], source: _Source, prefix: _Loc, skip: Collection[_Loc]
) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    for error in exc.errors(include_url=False):
        site = _error_site(error, model, source, prefix)
        if any(site.path[: len(done)] == done for done in skip):
            continue
        line = _line_of(source, site.path, key=error["type"] == "extra_forbidden")
        issues.append(ConfigIssue(source.file, line, _format_path(site.path), _message(error, site)))
    return issues


# --------------------------------------------------------------------------- loading


def _syntax_issue(file: str, text: str, exc: yaml.MarkedYAMLError) -> ConfigIssue:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    message = f"YAML syntax error: {exc.problem or exc.context or 'invalid YAML'}"
    if exc.context and exc.problem and exc.context_mark is not None:
        message += f" ({exc.context} at line {exc.context_mark.line + 1})"
    if exc.context and "flow" in exc.context:
        # The parser only notices at the closing bracket, often lines after the real mistake.
        comment_line = _flow_comment_line(text)
        if comment_line is not None:
            hint = '"#..." inside [...] or {...} starts a comment; quote the item: ["#chan"]'
            return ConfigIssue(file, comment_line, "", f"{message}; {hint}")
    return ConfigIssue(file, line, "", f"{message}; {_syntax_hint(str(exc.problem))}")


def _flow_comment_line(text: str) -> int | None:
    for number, source_line in enumerate(text.splitlines(), start=1):
        if _FLOW_COMMENT.search(source_line):
            return number
    return None


def _syntax_hint(problem: str) -> str:
    if "'\\t'" in problem:
        return "indent with spaces, not tabs"
    if "'@'" in problem or "'`'" in problem:
        return 'quote values that start with @ or `, e.g. user_id: "@meetbot:example.org"'
    if "'{'" in problem or "'}'" in problem:
        return 'quote values containing { or }, such as "${ENV_VAR}" references'
    if "mapping values are not allowed" in problem:
        return "quote values that contain ': ' (or check the indentation)"
    return "check the indentation and quoting on this line and the one before"


def _read(path: Path) -> tuple[str | None, ConfigIssue | None]:
    file = str(path)
    try:
        return path.read_text(encoding="utf-8-sig"), None
    except FileNotFoundError:
        fix = "create it (config.example.yaml documents every option) or pass the right path with -c"
        return None, ConfigIssue(file, None, "", f"config file not found; {fix}")
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        return None, ConfigIssue(file, line, "", "the file is not valid UTF-8; save it as UTF-8")
    except OSError as exc:
        return None, ConfigIssue(
            file, None, "", f"cannot read the file ({exc.strerror}); check the path and permissions"
        )


def _load(path: Path) -> tuple[Settings | None, list[ConfigIssue]]:
    path = Path(path)  # callers outside the type checker pass plain strings
    file = str(path)
    text, problem = _read(path)
    if text is None:
        return None, [problem] if problem else []
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        return None, [_syntax_issue(file, text, exc)]
    except yaml.YAMLError as exc:
        return None, [ConfigIssue(file, None, "", f"YAML error: {exc}")]
    builder = _Builder(file, text, os.environ)
    data = {} if root is None else builder.build(root, (), root.start_mark.line + 1)
    if not isinstance(data, dict):
        line = root.start_mark.line + 1 if root is not None else None
        return None, [
            ConfigIssue(file, line, "", "the file must be a mapping of settings like 'networks: ...'")
        ]
    source = _Source(file, dict(builder.nodes), frozenset(builder.sensitive))
    issues = list(builder.issues)
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        issues += _issues_from_validation(exc, Settings, source, (), builder.reported)
    if issues or settings is None:
        # File-level issues (no line) first, then in reading order.
        return None, sorted(issues, key=lambda issue: issue.line or 0)
    settings._source = source
    return settings, []


def load_settings(path: Path | None = None) -> Settings:
    """Read settings from `path`, or ./meetbot.yaml, or built-in defaults when neither is given.

    Raises ConfigError listing every problem found. Relative paths in the file stay relative
    to the working directory. The file is only read, never written.
    """
    if path is None:
        if not DEFAULT_PATH.is_file():
            return Settings()
        path = DEFAULT_PATH
    settings, issues = _load(path)
    if settings is None:
        raise ConfigError(issues)
    return settings


def check_config(path: Path) -> list[ConfigIssue]:
    """Every problem in the file at `path`; [] when it would load."""
    return _load(path)[1]


def plugin_config(settings: Settings, plugin_name: str, model: type[M]) -> M:
    """Validate `plugins.<plugin_name>` with the plugin's own model (which should forbid extra keys).

    Errors point into the plugins: section of the file the settings were loaded from.
    """
    data = settings.plugins.get(plugin_name, {})
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        issues = _issues_from_validation(exc, model, settings._source, ("plugins", plugin_name), ())
        raise ConfigError(sorted(issues, key=lambda issue: issue.line or 0)) from None
