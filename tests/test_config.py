"""The configuration loader: defaults, the example file, and errors that name file, line and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field

from meetbot.config import (
    ConfigError,
    ConfigIssue,
    IrcChannel,
    IrcNetwork,
    MatrixAccount,
    Settings,
    check_config,
    load_settings,
    plugin_config,
)

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data" / "config"

IRC = """\
networks:
  - name: libera
    type: irc
    host: irc.libera.chat
    nick: meetbot
"""

MATRIX = """\
networks:
  - name: fedora
    type: matrix
    homeserver: https://fedora.im/
    user_id: "@meetbot:fedora.im"
"""


def write(tmp_path: Path, text: str, name: str = "meetbot.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    return [str(issue) for issue in check_config(path)]


def only_problem(path: Path) -> str:
    found = problems(path)
    assert len(found) == 1, found
    return found[0]


# --------------------------------------------------------------------------- defaults and files


def test_defaults_without_any_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.database.url == "sqlite+aiosqlite:///meetbot.db"
    assert settings.publish.dir == Path("minutes")
    assert settings.publish.base_url is None
    assert settings.publish.pattern == "{name}/%Y/{name}.%Y-%m-%d-%H.%M"
    assert settings.publish.timezone == "UTC"
    assert settings.command_prefixes == ["#"]
    assert settings.networks == []
    assert settings.plugins == {}
    assert settings.log_level == "INFO"
    assert settings == Settings()


def test_meetbot_yaml_in_working_directory_is_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "log_level: DEBUG\n")
    monkeypatch.chdir(tmp_path)
    assert load_settings().log_level == "DEBUG"


def test_explicit_path_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load_settings(missing)
    assert str(caught.value).startswith(f"{missing}: config file not found; ")
    assert caught.value.issues[0].line is None


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, "# nothing configured yet\n")) == Settings()


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "- a\n- b\n")
    assert only_problem(path).startswith(f"{path}:1: the file must be a mapping")


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "meetbot.yaml"
    path.write_bytes(b"log_level: INFO\nnick: \xff\n")
    assert only_problem(path) == f"{path}:2: the file is not valid UTF-8; save it as UTF-8"


def test_example_file_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEETBOT_IRC_PASSWORD", "irc-secret")
    monkeypatch.setenv("MEETBOT_MATRIX_TOKEN", "matrix-token")
    settings = load_settings(ROOT / "config.example.yaml")
    irc, matrix = settings.networks
    assert isinstance(irc, IrcNetwork)
    assert irc.sasl is not None
    assert irc.sasl.password == "irc-secret"
    assert irc.channels == [IrcChannel(name="#centos-meeting")]
    assert isinstance(matrix, MatrixAccount)
    assert matrix.access_token == "matrix-token"
    assert matrix.rooms == ["#meeting:fedora.im"]
    assert settings.publish.base_url == "https://meetings.example.org/"


def test_example_file_documents_every_option() -> None:
    text = (ROOT / "config.example.yaml").read_text(encoding="utf-8")
    models: list[type[BaseModel]] = [Settings, IrcNetwork, IrcChannel, MatrixAccount]
    names = {name for model in models for name in model.model_fields}
    names |= {"url", "dir", "base_url", "pattern", "timezone", "mechanism", "burst", "per_second", "key"}
    missing = [name for name in sorted(names) if f"{name}:" not in text]
    assert missing == []
    assert "relative to the working directory" in text


def test_example_file_needs_its_env_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEETBOT_IRC_PASSWORD", raising=False)
    monkeypatch.setenv("MEETBOT_MATRIX_TOKEN", "matrix-token")
    (issue,) = check_config(ROOT / "config.example.yaml")
    assert issue.field == "networks[0].sasl.password"
    assert "MEETBOT_IRC_PASSWORD is not set" in issue.message


def test_loading_never_modifies_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, IRC + "    port: 0700\nlog_level: DEBUG\n")
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    with pytest.raises(ConfigError):
        load_settings(path)
    check_config(path)
    good = write(tmp_path, IRC, name="good.yaml")
    good_before = (good.read_bytes(), good.stat().st_mtime_ns)
    load_settings(good)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    assert (good.read_bytes(), good.stat().st_mtime_ns) == good_before


# --------------------------------------------------------------------------- issue formatting


def test_issue_str_names_file_line_and_field() -> None:
    assert str(ConfigIssue("m.yaml", 3, "networks[0].port", "bad")) == "m.yaml:3: networks[0].port: bad"
    assert str(ConfigIssue("m.yaml", None, "", "not found")) == "m.yaml: not found"


def test_config_error_str_has_one_issue_per_line() -> None:
    issues = [ConfigIssue("m.yaml", 1, "a", "one"), ConfigIssue("m.yaml", 2, "b", "two")]
    assert str(ConfigError(issues)) == "m.yaml:1: a: one\nm.yaml:2: b: two"


# --------------------------------------------------------------------------- YAML 1.1 traps


def test_unquoted_time_is_a_base60_number(tmp_path: Path) -> None:
    path = write(tmp_path, "plugins:\n  meeting:\n    start: 16:00\n")
    assert only_problem(path) == (
        f"{path}:3: plugins.meeting.start: "
        'unquoted 16:00 is read by YAML 1.1 as the number 960; quote it: "16:00"'
    )


def test_unquoted_leading_zero_is_octal(tmp_path: Path) -> None:
    path = write(tmp_path, IRC + "    port: 0700\n")
    assert only_problem(path).startswith(
        f"{path}:6: networks[0].port: "
        'unquoted 0700 is read by YAML 1.1 as the octal number 448; quote it: "0700"'
    )


def test_explicit_int_tag_is_not_a_trap(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "plugins:\n  files:\n    mode: !!int 0700\n"))
    assert settings.plugins["files"]["mode"] == 0o700


def test_channel_swallowed_by_comment(tmp_path: Path) -> None:
    path = write(tmp_path, IRC + "    channels:\n      - #centos-meeting\n")
    assert only_problem(path) == (
        f"{path}:7: networks[0].channels[0]: #centos-meeting starts a YAML comment, so this value is empty; "
        'quote it: "#centos-meeting"'
    )


def test_mapping_value_swallowed_by_comment(tmp_path: Path) -> None:
    path = write(tmp_path, "plugins:\n  meeting:\n    room: #x\n")
    assert only_problem(path).startswith(f"{path}:3: plugins.meeting.room: #x starts a YAML comment")


def test_real_comment_after_a_key_is_left_alone(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "templates_dir: # none yet\n"))
    assert settings.templates_dir is None


def test_yes_no_on_off_where_text_is_expected(tmp_path: Path) -> None:
    path = write(tmp_path, IRC + "    alt_nicks: [meetbot_, no]\n")
    assert only_problem(path) == (
        f"{path}:6: networks[0].alt_nicks[1]: "
        'unquoted no is read by YAML 1.1 as the boolean false; quote it: "no"'
    )


def test_number_where_text_is_expected(tmp_path: Path) -> None:
    path = write(tmp_path, IRC + "    nickserv_password: 123456\n")
    assert only_problem(path) == (
        f"{path}:6: networks[0].nickserv_password: unquoted 123456 is read by YAML as a number, not text; "
        'quote it: "123456"'
    )


def test_room_id_read_as_a_tag(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        networks:
          - name: fedora
            type: matrix
            homeserver: https://fedora.im
            user_id: "@meetbot:fedora.im"
            access_token: t
            rooms:
              - !abc:fedora.im
        """,
    )
    assert only_problem(path) == (
        f"{path}:8: networks[0].rooms[0]: YAML reads !abc:fedora.im as a type tag because of the leading "
        '"!"; quote it: "!abc:fedora.im"'
    )


# --------------------------------------------------------------------------- structural errors


def test_unknown_key_suggests_the_close_match(tmp_path: Path) -> None:
    path = write(tmp_path, IRC + "    prot: 6697\n")
    assert only_problem(path) == f"{path}:6: networks[0].prot: unknown setting 'prot'; did you mean 'port'?"


def test_unknown_key_is_reported_at_the_key_line(tmp_path: Path) -> None:
    path = write(tmp_path, "publish:\n  colour:\n    - blue\n")
    assert only_problem(path) == (
        f"{path}:2: publish.colour: unknown setting 'colour'; "
        "remove it (allowed here: dir, base_url, pattern, timezone, log_worker)"
    )


def test_missing_key_points_at_the_parent_mapping(tmp_path: Path) -> None:
    path = write(
        tmp_path, "log_level: INFO\nnetworks:\n  - name: libera\n    type: irc\n    host: irc.libera.chat\n"
    )
    assert (
        only_problem(path) == f"{path}:3: networks[0].nick: required setting is missing; add 'nick: ...' here"
    )


def test_wrong_type(tmp_path: Path) -> None:
    path = write(tmp_path, IRC + "    port: lots\n    flood: {burst: 2, per_second: fast}\n")
    assert problems(path) == [
        f"{path}:6: networks[0].port: expected a whole number (got 'lots')",
        f"{path}:7: networks[0].flood.per_second: expected a number such as 1.5 (got 'fast')",
    ]


def test_out_of_range(tmp_path: Path) -> None:
    path = write(tmp_path, IRC + "    port: 123456\n")
    assert only_problem(path) == (
        f"{path}:6: networks[0].port: Input should be less than or equal to 65535 (got 123456)"
    )


def test_empty_section_says_it_is_empty(tmp_path: Path) -> None:
    path = write(tmp_path, "networks:\nlog_level: INFO\n")
    assert only_problem(path).startswith(f"{path}:1: networks: expected a list")
    assert "the value is empty (YAML null)" in only_problem(path)


def test_duplicate_keys(tmp_path: Path) -> None:
    path = write(tmp_path, IRC + "    nick: other\n")
    assert only_problem(path) == (
        f"{path}:6: networks[0].nick: duplicate key 'nick' (first at line 5); YAML would silently keep only "
        "the last one: remove or merge one of them"
    )


def test_yaml_syntax_error_has_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "log_level: INFO\npublish:\n  dir: ./minutes\n bad: indent\n")
    (issue,) = check_config(path)
    assert issue.line == 4
    assert str(issue).startswith(f"{path}:4: YAML syntax error: ")


def test_unquoted_at_sign_is_a_syntax_error_with_a_hint(tmp_path: Path) -> None:
    path = write(tmp_path, "networks:\n  - user_id: @meetbot:fedora.im\n")
    assert only_problem(path) == (
        f"{path}:2: YAML syntax error: found character '@' that cannot start any token; "
        'quote values that start with @ or `, e.g. user_id: "@meetbot:example.org"'
    )


def test_hash_inside_flow_list_points_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "networks:\n  - rooms: [#meeting:fedora.im]\nlog_level: INFO\n")
    issue = only_problem(path)
    assert issue.startswith(f"{path}:2: YAML syntax error: ")
    assert issue.endswith('"#..." inside [...] or {...} starts a comment; quote the item: ["#chan"]')


def test_several_errors_are_reported_at_once() -> None:
    path = DATA / "many_errors.yaml"
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    lines = str(caught.value).splitlines()
    assert [issue.line for issue in caught.value.issues] == [2, 4, 9, 12, 18, 21]
    assert lines[0] == f"{path}:2: log_levle: unknown setting 'log_levle'; did you mean 'log_level'?"
    assert lines[1].startswith(f"{path}:4: publish.timezone: unknown time zone; use an IANA name")
    assert lines[2].startswith(f"{path}:9: networks[0].port: unquoted 0700")
    assert lines[3].startswith(f"{path}:12: networks[0].channels[0]: #centos-meeting starts a YAML comment")
    assert lines[4] == f"{path}:18: networks[1].chair_power_level: expected a whole number (got 'high')"
    assert lines[5].startswith(f"{path}:21: plugins.meeting.start: unquoted 16:00")


# --------------------------------------------------------------------------- environment variables


def test_env_substitution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MB_PASS", "s3cret")
    monkeypatch.setenv("MB_EMPTY", "")
    monkeypatch.delenv("MB_UNSET", raising=False)
    path = write(
        tmp_path,
        """\
        plugins:
          demo:
            plain: ${MB_PASS}
            inline: "user:${MB_PASS}@host"
            fallback: ${MB_UNSET:-guest}
            empty_fallback: ${MB_EMPTY:-guest}
            escaped: "$${MB_PASS}"
        """,
    )
    assert load_settings(path).plugins["demo"] == {
        "plain": "s3cret",
        "inline": "user:s3cret@host",
        "fallback": "guest",
        "empty_fallback": "guest",
        "escaped": "${MB_PASS}",
    }


def test_missing_env_var_is_an_error_at_its_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEETBOT_IRC_PASSWORD", raising=False)
    path = write(tmp_path, IRC + '    sasl: {username: meetbot, password: "${MEETBOT_IRC_PASSWORD}"}\n')
    assert only_problem(path) == (
        f"{path}:6: networks[0].sasl.password: environment variable MEETBOT_IRC_PASSWORD is not set; "
        "export it before starting the bot or give a default: ${MEETBOT_IRC_PASSWORD:-value}"
    )


def test_values_from_env_are_not_echoed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MB_PORT", "hunter2")
    path = write(tmp_path, IRC + "    port: ${MB_PORT}\n")
    assert only_problem(path) == f"{path}:6: networks[0].port: expected a whole number"


def test_malformed_env_reference(tmp_path: Path) -> None:
    path = write(tmp_path, "plugins:\n  demo:\n    value: a${b\n")
    assert only_problem(path).startswith(f"{path}:3: plugins.demo.value: '${{' must start ${{NAME}}")


# --------------------------------------------------------------------------- networks


def test_network_types_are_discriminated(tmp_path: Path) -> None:
    path = write(tmp_path, IRC + MATRIX.removeprefix("networks:\n") + "    password: pw\n")
    irc, matrix = load_settings(path).networks
    assert isinstance(irc, IrcNetwork)
    assert (irc.port, irc.tls, irc.tls_verify, irc.join_on_invite) == (6697, True, True, False)
    assert (irc.flood.burst, irc.flood.per_second) == (4, 1.0)
    assert isinstance(matrix, MatrixAccount)
    assert matrix.homeserver == "https://fedora.im"
    assert matrix.command_prefixes == ["#", "!"]
    assert matrix.chair_power_level == 50


def test_matrix_fields_on_an_irc_network_are_unknown(tmp_path: Path) -> None:
    path = write(tmp_path, IRC + '    user_id: "@meetbot:fedora.im"\n')
    assert only_problem(path).startswith(
        f"{path}:6: networks[0].user_id: unknown setting 'user_id'; remove it"
    )


def test_unknown_network_type(tmp_path: Path) -> None:
    path = write(tmp_path, "networks:\n  - name: libera\n    type: IRC\n")
    assert only_problem(path) == f"{path}:3: networks[0].type: unknown type 'IRC'; did you mean 'irc'?"


def test_missing_network_type(tmp_path: Path) -> None:
    path = write(tmp_path, "networks:\n  - name: libera\n    host: irc.libera.chat\n")
    assert (
        only_problem(path) == f"{path}:2: networks[0].type: missing 'type'; add 'type: irc' or 'type: matrix'"
    )


def test_network_names_are_unique_slugs(tmp_path: Path) -> None:
    path = write(tmp_path, IRC + IRC.removeprefix("networks:\n"))
    assert only_problem(path) == (
        f"{path}:6: networks[1].name: network name 'libera' is already used by networks[0]; rename one"
    )
    path = write(tmp_path, IRC.replace("name: libera", "name: Libera Chat"))
    assert only_problem(path).startswith(f"{path}:2: networks[0].name: use only a-z, 0-9")


def test_channels_as_names_or_mappings(tmp_path: Path) -> None:
    path = write(tmp_path, IRC + '    channels: ["#a", {name: "&b", key: k}]\n')
    (network,) = load_settings(path).networks
    assert isinstance(network, IrcNetwork)
    assert network.channels == [IrcChannel(name="#a"), IrcChannel(name="&b", key="k")]
    path = write(tmp_path, IRC + "    channels: [centos-devel]\n")
    assert only_problem(path).startswith(
        f"{path}:6: networks[0].channels[0].name: "
        'IRC channel names start with #, &, + or !; write "#centos-devel"'
    )


def test_sasl_rules(tmp_path: Path) -> None:
    path = write(tmp_path, IRC + "    sasl:\n      mechanism: PLAIN\n      username: meetbot\n")
    assert only_problem(path).startswith(f"{path}:6: networks[0].sasl.password: SASL PLAIN needs password")
    path = write(tmp_path, IRC + "    sasl: {mechanism: EXTERNAL}\n")
    assert only_problem(path).startswith(
        f"{path}:6: networks[0].sasl.cert_file: SASL EXTERNAL needs cert_file"
    )
    path = write(tmp_path, IRC + "    sasl: {mechanism: EXTERNAL, cert_file: bot.pem}\n")
    assert load_settings(path).networks[0].model_dump()["sasl"]["cert_file"] == Path("bot.pem")


def test_matrix_needs_exactly_one_credential(tmp_path: Path) -> None:
    path = write(tmp_path, MATRIX)
    assert only_problem(path).startswith(f"{path}:2: networks[0].access_token: needs a login")
    path = write(tmp_path, MATRIX + "    password: a\n    access_token: b\n")
    assert only_problem(path) == (
        f"{path}:6: networks[0].password: set either password or access_token, not both; remove one"
    )


def test_matrix_identifiers(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        networks:
          - name: fedora
            type: matrix
            homeserver: fedora.im
            user_id: "meetbot"
            access_token: t
            rooms: ["!abc:fedora.im", "meeting"]
            allowed_inviters: [":fedora.im", "@alice:fedora.im", "alice"]
        """,
    )
    assert [(issue.line, issue.field) for issue in check_config(path)] == [
        (4, "networks[0].homeserver"),
        (5, "networks[0].user_id"),
        (7, "networks[0].rooms[1]"),
        (8, "networks[0].allowed_inviters[2]"),
    ]


# --------------------------------------------------------------------------- other settings


def test_publish_settings(tmp_path: Path) -> None:
    path = write(
        tmp_path, "publish:\n  base_url: https://meetings.example.org/minutes\n  timezone: Europe/Prague\n"
    )
    publish = load_settings(path).publish
    assert publish.base_url == "https://meetings.example.org/minutes/"
    assert publish.timezone == "Europe/Prague"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("base_url: ftp://example.org/", "must be an http:// or https:// URL"),
        ('pattern: "/{name}/x"', "remove the leading '/'"),
        ('pattern: "{name}/../x"', "must not contain '..'"),
        ('pattern: "{room}/%Y"', "unknown placeholder {room}"),
        ('pattern: "{name}/50%"', "a '%' must start a strftime code"),
        ("timezone: Europe/Pragu", "did you mean 'Europe/Prague'?"),
    ],
)
def test_publish_validation(tmp_path: Path, line: str, expected: str) -> None:
    path = write(tmp_path, f"publish:\n  {line}\n")
    issue = only_problem(path)
    assert issue.startswith(f"{path}:2: publish.{line.split(':', 1)[0]}: ")
    assert expected in issue


def test_pattern_with_all_placeholders(tmp_path: Path) -> None:
    path = write(tmp_path, 'publish:\n  pattern: "{network}/{channel}/%Y/{name}.%Y-%m-%d-%H.%M"\n')
    assert load_settings(path).publish.pattern.startswith("{network}/")


def test_command_prefixes_are_single_punctuation(tmp_path: Path) -> None:
    path = write(tmp_path, 'command_prefixes: ["#", "!", "go"]\n')
    assert only_problem(path).startswith(
        f"{path}:1: command_prefixes[2]: each prefix is one punctuation character"
    )


def test_database_url_needs_an_async_driver(tmp_path: Path) -> None:
    path = write(tmp_path, 'database:\n  url: "postgresql://bot:pw@db/meetbot"\n')
    issue = only_problem(path)
    assert issue.startswith(f"{path}:2: database.url: the bot needs an asyncio driver")
    assert "postgresql+asyncpg://" in issue
    assert "pw@db" not in issue


def test_merge_keys_share_settings_between_networks(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        networks:
          - &libera
            name: libera
            type: irc
            host: irc.libera.chat
            nick: meetbot
          - <<: *libera
            name: libera-test
            nick: meetbot-test
        """,
    )
    _, second = load_settings(path).networks
    assert isinstance(second, IrcNetwork)
    assert (second.name, second.host, second.nick) == ("libera-test", "irc.libera.chat", "meetbot-test")


# --------------------------------------------------------------------------- plugin settings


class DemoPluginSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    chairs: list[str] = Field(default_factory=list)
    reminder: str = "15:55"
    limit: int = 3


def test_plugin_config_good() -> None:
    settings = load_settings(DATA / "plugins.yaml")
    demo = plugin_config(settings, "meeting", DemoPluginSettings)
    assert demo == DemoPluginSettings(chairs=["alice", "bob"], reminder="16:00")
    assert plugin_config(settings, "absent", DemoPluginSettings) == DemoPluginSettings()


def test_plugin_config_bad_points_into_the_plugins_section() -> None:
    path = DATA / "plugins.yaml"
    settings = load_settings(path)
    with pytest.raises(ConfigError) as caught:
        plugin_config(settings, "broken", DemoPluginSettings)
    assert str(caught.value).splitlines() == [
        f"{path}:7: plugins.broken.chairs[1]: "
        'unquoted off is read by YAML 1.1 as the boolean false; quote it: "off"',
        f"{path}:8: plugins.broken.limt: unknown setting 'limt'; did you mean 'limit'?",
        f"{path}:9: plugins.broken.limit: expected a whole number (got 'lots')",
    ]


def test_plugin_config_without_a_file() -> None:
    settings = Settings(plugins={"demo": {"limit": "x"}})
    with pytest.raises(ConfigError) as caught:
        plugin_config(settings, "demo", DemoPluginSettings)
    (issue,) = caught.value.issues
    assert (issue.line, issue.field) == (None, "plugins.demo.limit")
