"""Reading a config file end to end: the file, its YAML syntax, the data, then validation.

The public entry points: load_settings() for the bot, check_config() for `meetbot config check`,
and plugin_config() for a plugin's own section, each reporting every problem as a ConfigIssue.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from meetbot.config.builder import Builder
from meetbot.config.issues import ConfigError, ConfigIssue
from meetbot.config.locate import issues_from_validation
from meetbot.config.provenance import Source
from meetbot.config.schema import Settings

DEFAULT_PATH = Path("meetbot.yaml")

M = TypeVar("M", bound=BaseModel)

# Inside [...] or {...}, a '#' after the bracket, a comma or a colon still starts a comment.
_FLOW_COMMENT = re.compile(r"[\[{](?:[^\]}#]*[,:])?\s*#\S")


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
        issues = issues_from_validation(exc, model, settings._source, ("plugins", plugin_name), ())
        raise ConfigError(sorted(issues, key=lambda issue: issue.line or 0)) from None
