"""Reading a YAML file of the config and turning its syntax errors into issues with a line and a
hint; shared by the main config loader and the schedule files loader."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from meetbot.config.issues import ConfigIssue

# Inside [...] or {...}, a '#' after the bracket, a comma or a colon still starts a comment.
_FLOW_COMMENT = re.compile(r"[\[{](?:[^\]}#]*[,:])?\s*#\S")


def syntax_issue(file: str, text: str, exc: yaml.MarkedYAMLError) -> ConfigIssue:
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


def read_config_text(path: Path) -> tuple[str | None, ConfigIssue | None]:
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
