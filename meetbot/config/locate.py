"""Pydantic validation errors turned into ConfigIssues that name file, line and field.

Pydantic reports locations in its own terms (union member labels, no lines) and messages meant
for programmers; this follows each location through the models to the YAML node it came from
and rewrites the message as a fix for the admin, never echoing values that came from ${ENV}.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Collection
from dataclasses import dataclass
from typing import Annotated, Any, Literal, NamedTuple, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from meetbot.config.issues import ConfigIssue
from meetbot.config.provenance import BOOL, FLOAT, INT, NULL, TAG, Loc, NodeInfo, Source, format_path


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
    path: Loc  # data path: pydantic's union labels removed
    owner: type[BaseModel] | None  # model whose field the last path element names
    type: Any  # annotation found at the end of the path


def _resolve(model: type[BaseModel], loc: Loc) -> _Resolved:
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


def _line_of(source: Source, path: Loc, *, key: bool) -> int | None:
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
# Raised by schema.py's validators with complete messages of their own.
_OWN_ERRORS = frozenset({"sasl", "credentials", "duplicate_name", "bridge"})


def _quote_hint(info: NodeInfo | None, value: Any) -> str | None:
    """Explain why an unquoted scalar did not arrive as text."""
    if info is None or info.raw is None:
        return None
    raw = info.raw
    if info.tag == BOOL:
        return f'unquoted {raw} is read by YAML 1.1 as the boolean {str(value).lower()}; quote it: "{raw}"'
    if info.tag == NULL:
        return "this value is empty (YAML null); give a value, quoted if it starts with # ! @ or &"
    kind = {INT: "a number", FLOAT: "a number"}.get(info.tag, f"a {info.tag.removeprefix(TAG)}")
    return f'unquoted {raw} is read by YAML as {kind}, not text; quote it: "{raw}"'


@dataclass(frozen=True, slots=True)
class _ErrorSite:
    """What the loader knows about the place a pydantic error points at."""

    path: Loc
    owner: type[BaseModel] | None
    info: NodeInfo | None
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
    if value is None and site.info is not None and site.info.tag == NULL:
        return f"{text}, but the value is empty (YAML null); fill it in or remove the line"
    if not site.secret and not isinstance(value, dict | list):
        text += f" (got {value!r})"
    return text


def _error_site(error: ErrorDetails, model: type[BaseModel], source: Source, prefix: Loc) -> _ErrorSite:
    ctx = error.get("ctx", {})
    # Cross-field checks raise on the whole model; `at` says which field they are about.
    resolved = _resolve(model, tuple(error["loc"]) + tuple(ctx.get("at", ())))
    path: Loc = resolved.path
    tags: tuple[str, ...] = ()
    if error["type"].startswith("union_tag_"):
        discriminator = str(ctx.get("discriminator", "type")).strip("'")
        path, tags = (*path, discriminator), tuple(_union_tags(resolved.type, discriminator))
    full = prefix + path
    secret = full in source.sensitive or any(
        word in str(part).lower() for part in path for word in ("password", "token", "secret", "key")
    )
    return _ErrorSite(full, resolved.owner, source.nodes.get(full), secret, tags)


def issues_from_validation(
    exc: ValidationError, model: type[BaseModel], source: Source, prefix: Loc, skip: Collection[Loc]
) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    for error in exc.errors(include_url=False):
        site = _error_site(error, model, source, prefix)
        if any(site.path[: len(done)] == done for done in skip):
            continue
        line = _line_of(source, site.path, key=error["type"] == "extra_forbidden")
        issues.append(ConfigIssue(source.file, line, format_path(site.path), _message(error, site)))
    return issues
