"""Plain data from a composed YAML node tree, recording where each value came from.

PyYAML on its own forgets line numbers once data is built, silently keeps the last of two
duplicate keys, and applies YAML 1.1 rules that bite admins (`16:00` is 960, `0700` is 448,
`no` is False, `- #chan` is an empty item). So the loader only *composes* the file and this
builder makes the data, substituting ${ENV} references and reporting those traps on the way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

from meetbot.config.issues import ConfigIssue
from meetbot.config.provenance import FLOAT, INT, MERGE, NULL, STR, TAG, Loc, NodeInfo, format_path

_OCTAL = re.compile(r"[-+]?0[0-7_]+")
_SWALLOWED = re.compile(r"\s*(#\S+)")
_ENV_REF = re.compile(r"\$\$\{|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}|\$\{")


class Builder:
    """Turns a composed node tree into plain data, recording each value's line and any YAML traps."""

    def __init__(self, file: str, text: str, env: Mapping[str, str]) -> None:
        self.file = file
        self.lines = text.splitlines()
        self.env = env
        self.issues: list[ConfigIssue] = []
        self.nodes: dict[Loc, NodeInfo] = {}
        self.reported: set[Loc] = set()
        self.sensitive: set[Loc] = set()
        self._active: set[int] = set()
        self._constructor = yaml.SafeLoader("")

    def report(self, path: Loc, line: int, message: str) -> None:
        self.issues.append(ConfigIssue(self.file, line, format_path(path), message))
        # Validation errors below this point would only repeat the same mistake.
        self.reported.add(path)

    def build(self, node: yaml.Node, path: Loc, key_line: int) -> Any:
        line = node.start_mark.line + 1
        if isinstance(node, yaml.ScalarNode):
            raw = node.value if node.style is None else None
            self.nodes[path] = NodeInfo(line, key_line, node.tag, raw)
            return self._scalar(node, path, line)
        if id(node) in self._active:
            self.report(path, line, "this alias contains itself; anchors used here must not be recursive")
            return None
        self.nodes[path] = NodeInfo(line, key_line, node.tag, None)
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

    def _mapping(self, node: yaml.MappingNode, path: Loc) -> dict[str, Any]:
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

    def _pairs(self, node: yaml.MappingNode, path: Loc) -> list[tuple[yaml.Node, yaml.Node, bool]]:
        """Key/value pairs with `<<` merges expanded; later pairs win, so explicit keys come last."""
        merged: list[tuple[yaml.Node, yaml.Node, bool]] = []
        own: list[tuple[yaml.Node, yaml.Node, bool]] = []
        for key_node, value_node in node.value:
            if key_node.tag != MERGE:
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

    def _scalar(self, node: yaml.ScalarNode, path: Loc, line: int) -> Any:
        if not node.tag.startswith(TAG):
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
                path, line, f"cannot read {node.value!r} as {node.tag.removeprefix(TAG)} ({exc}); quote it"
            )
            return node.value
        if isinstance(value, str) and node.tag == STR:
            return self._substitute(value, path, line)
        return value

    def _explicitly_tagged(self, node: yaml.ScalarNode) -> bool:
        # `!!int 0700` asks for octal on purpose; the node alone can't tell it from a plain 0700.
        return self._rest_of_line(node).startswith("!")

    def _rest_of_line(self, node: yaml.Node) -> str:
        mark = node.start_mark
        return self.lines[mark.line][mark.column :] if mark.line < len(self.lines) else ""

    def _trap(self, node: yaml.ScalarNode, path: Loc, line: int) -> str | None:
        """Report an unquoted scalar YAML 1.1 misreads; return the text the admin meant, else None."""
        raw = str(node.value)
        if node.tag in (INT, FLOAT) and ":" in raw:
            number = self._constructor.construct_object(node)
            message = f'unquoted {raw} is read by YAML 1.1 as the number {number}; quote it: "{raw}"'
        elif node.tag == INT and _OCTAL.fullmatch(raw):
            number = self._constructor.construct_object(node)
            message = (
                f'unquoted {raw} is read by YAML 1.1 as the octal number {number}; quote it: "{raw}" '
                "(or drop the leading zero for a decimal number)"
            )
        elif node.tag == NULL and raw == "":
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

    def _substitute(self, text: str, path: Loc, line: int) -> str:
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
