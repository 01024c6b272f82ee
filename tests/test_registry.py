from __future__ import annotations

from pathlib import Path

import pytest

from meetbot.config import ConfigError, load_settings
from meetbot.registry import PluginLoadError, load_plugins, plugin_classes
from meetbot_plugins.meeting.plugin import MeetingConfig, MeetingPlugin

ROOT = Path(__file__).resolve().parents[1]


def test_bundled_plugins_come_through_entry_points() -> None:
    assert plugin_classes()["meeting"] is MeetingPlugin


def test_the_example_config_configures_the_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEETBOT_IRC_PASSWORD", "x")
    monkeypatch.setenv("MEETBOT_MATRIX_TOKEN", "y")
    (meeting,) = [p for p in load_plugins(load_settings(ROOT / "config.example.yaml")) if p.name == "meeting"]
    assert meeting.config == MeetingConfig()


def test_plugin_settings_are_checked_with_their_line(tmp_path: Path) -> None:
    config = tmp_path / "meetbot.yaml"
    config.write_text(
        "plugins:\n  meeting:\n    require_name: true\n    echo_itmes: true\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError) as error:
        load_plugins(load_settings(config))
    assert f"{config}:4: plugins.meeting.echo_itmes:" in str(error.value)


def test_an_unknown_plugin_section_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "meetbot.yaml"
    config.write_text("plugins:\n  meetings: {}\n", encoding="utf-8")
    with pytest.raises(PluginLoadError, match="no installed plugin named meetings"):
        load_plugins(load_settings(config))


def test_two_plugins_claiming_one_command_is_a_startup_error() -> None:
    from meetbot.engine import DuplicateCommandError, Engine
    from meetbot.plugin import Context, Plugin, command

    class Clash(Plugin):
        name = "clash"

        @command("topic")
        def topic(self, ctx: Context) -> None:
            raise AssertionError("never runs")

    with pytest.raises(DuplicateCommandError, match="#topic is defined by both meeting and clash"):
        Engine([MeetingPlugin(), Clash()])
