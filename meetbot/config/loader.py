"""Reading a config file end to end: the file, its YAML syntax, the data, then validation.

The public entry points: load_settings() for the bot, check_config() for `meetbot config check`,
and plugin_config() for a plugin's own section, each reporting every problem as a ConfigIssue.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from meetbot.config.builder import Builder
from meetbot.config.issues import ConfigError, ConfigIssue
from meetbot.config.locate import issues_from_validation
from meetbot.config.provenance import Source
from meetbot.config.reading import read_config_text, syntax_issue
from meetbot.config.schedule_files import load_schedules
from meetbot.config.schema import Settings

DEFAULT_PATH = Path("meetbot.yaml")

M = TypeVar("M", bound=BaseModel)


def _load(path: Path) -> tuple[Settings | None, list[ConfigIssue]]:
    path = Path(path)  # callers outside the type checker pass plain strings
    file = str(path)
    text, problem = read_config_text(path)
    if text is None:
        return None, [problem] if problem else []
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        return None, [syntax_issue(file, text, exc)]
    except yaml.YAMLError as exc:
        return None, [ConfigIssue(file, None, "", f"YAML error: {exc}")]
    builder = Builder(file, text, os.environ)
    data = {} if root is None else builder.build(root, (), root.start_mark.line + 1)
    if not isinstance(data, dict):
        line = root.start_mark.line + 1 if root is not None else None
        return None, [
            ConfigIssue(file, line, "", "the file must be a mapping of settings like 'networks: ...'")
        ]
    source = Source(file, dict(builder.nodes), frozenset(builder.sensitive))
    issues = list(builder.issues)
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        issues += issues_from_validation(exc, Settings, source, (), builder.reported)
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
    """Every problem in the file at `path` and in the schedule files it names; [] when it would load."""
    settings, issues = _load(path)
    if settings is not None and not issues:
        try:
            load_schedules(settings)
        except ConfigError as error:
            return error.issues
    return issues


def plugin_config(settings: Settings, plugin_name: str, model: type[M]) -> M:
    """Validate `plugins.<plugin_name>` with the plugin's own model (which should forbid extra keys).

    Errors point into the plugins: section of the file the settings were loaded from.
    """
    data = settings.plugins.get(plugin_name, {})
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        issues = issues_from_validation(exc, model, settings._source, ("plugins", plugin_name), ())
        raise ConfigError(sorted(issues, key=lambda issue: issue.line or 0)) from None
