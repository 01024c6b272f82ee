"""Loading every meeting series the config names: `schedules.series` inline and the files in `schedules.dir`.

Each file in the directory is read like the main config (same YAML traps, duplicate keys, line
numbers), so an error names that file, its line and the field. A series is known by its team
name (meeting_id), which must be unique across files and inline series.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

import yaml
from pydantic import ValidationError

from meetbot.config.builder import Builder
from meetbot.config.issues import ConfigError, ConfigIssue
from meetbot.config.locate import issues_from_validation
from meetbot.config.provenance import Loc, Source, format_path
from meetbot.config.reading import read_config_text, syntax_issue
from meetbot.config.schedules import SeriesConfig
from meetbot.config.schema import IrcNetwork, Settings
from meetbot.schedule import Notice, Series, WeekParity, advisories, is_rule_date, rule_dates


@dataclass(frozen=True)
class Schedules:
    """The loaded series, and warnings that do not stop them from loading."""

    series: tuple[Series, ...] = ()
    warnings: tuple[ConfigIssue, ...] = ()
    display_timezones: tuple[str, ...] = ()
    _teams: Mapping[str, Series] = field(default_factory=dict, compare=False)

    def team(self, name: str) -> Series | None:
        return self._teams.get(name)

    def advisories(self, start: datetime, end: datetime) -> list[Notice]:
        """Week-53 and DST warnings for occurrences in [start, end)."""
        return advisories(self.series, start, end)


@dataclass
class _Found:
    """Series collected so far, with the problems in them."""

    series: list[Series] = field(default_factory=list)
    errors: list[ConfigIssue] = field(default_factory=list)
    warnings: list[ConfigIssue] = field(default_factory=list)
    origin: dict[str, str] = field(default_factory=dict)  # team -> where it was first defined

    def add(self, config: SeriesConfig, source: Source, prefix: Loc, default_network: str | None) -> None:
        def line(path: Loc) -> int | None:
            info = source.nodes.get(prefix + path)
            return info.key_line if info is not None else None

        lines = {i: n for i in range(len(config.schedule)) if (n := line(("schedule", i))) is not None}
        series = config.to_series(source.file, default_network, lines)
        where = f"{source.file}:{line(())}" if line(()) else source.file
        if series.team in self.origin:
            at = ("meeting_id",) if config.meeting_id else ("project",)
            self.errors.append(
                ConfigIssue(
                    source.file,
                    line(at),
                    format_path(prefix + at),
                    f"team {series.team!r} is already defined at {self.origin[series.team]}; give this "
                    "series its own meeting_id",
                )
            )
            return
        self.origin[series.team] = where
        self.series.append(series)
        self.warnings += _load_warnings(series, source, prefix)


def _load_warnings(series: Series, source: Source, prefix: Loc) -> list[ConfigIssue]:
    """Valid but probably unintended: a first meeting later than start_date, skips that skip nothing."""
    found: list[ConfigIssue] = []

    def warn(path: Loc, message: str) -> None:
        info = source.nodes.get(prefix + path)
        found.append(
            ConfigIssue(source.file, info.line if info else None, format_path(prefix + path), message)
        )

    for slot in series.slots:
        at: Loc = ("schedule", slot.index)
        if slot.start_date is not None and isinstance(slot.recurrence, WeekParity):
            first = next(rule_dates(slot, slot.start_date, slot.start_date + timedelta(weeks=5)), None)
            if first is not None and first != slot.start_date:
                warn(
                    (*at, "start_date"),
                    f"warning: {slot.start_date} is in ISO week {slot.start_date.isocalendar().week}, "
                    f"which {slot.frequency} skips; the first meeting is {first}",
                )
        for index, skip in enumerate(slot.skips):
            if not is_rule_date(slot, skip.date):
                warn(
                    (*at, "skip_dates", index, "skip_date"),
                    f"warning: {skip.date} is not a meeting date of this schedule, so it skips nothing",
                )
    return found


def read_series_file(path: Path) -> tuple[SeriesConfig | None, Source, list[ConfigIssue]]:
    """One irc-meetings style file: the validated series, where its values came from, and its problems."""
    file = str(path)
    text, problem = read_config_text(path)
    empty = Source(file)
    if text is None:
        return None, empty, [problem] if problem else []
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        return None, empty, [syntax_issue(file, text, exc)]
    except yaml.YAMLError as exc:
        return None, empty, [ConfigIssue(file, None, "", f"YAML error: {exc}")]
    builder = Builder(file, text, {})
    data = None if root is None else builder.build(root, (), root.start_mark.line + 1)
    if not isinstance(data, dict):
        return (
            None,
            empty,
            [ConfigIssue(file, 1, "", "a series file is a mapping with project: and schedule:")],
        )
    source = Source(file, dict(builder.nodes), frozenset(builder.sensitive))
    issues = list(builder.issues)
    try:
        config = SeriesConfig.model_validate(data)
    except ValidationError as exc:
        issues += issues_from_validation(exc, SeriesConfig, source, (), builder.reported)
        return None, source, sorted(issues, key=lambda issue: issue.line or 0)
    return (None if issues else config), source, sorted(issues, key=lambda issue: issue.line or 0)


def series_files(directory: Path) -> tuple[list[Path], list[Path]]:
    """The *.yaml files (loaded) and *.yml files (ignored, as irc-meetings tooling ignores them)."""
    return sorted(directory.glob("*.yaml")), sorted(directory.glob("*.yml"))


def read_series_dir(
    directory: Path, default_network: str | None = None, found: _Found | None = None
) -> _Found:
    found = found or _Found()
    loaded, ignored = series_files(directory)
    for path in ignored:
        found.warnings.append(
            ConfigIssue(
                str(path), None, "", "warning: ignored: series files end in .yaml (as in irc-meetings)"
            )
        )
    for path in loaded:
        config, source, issues = read_series_file(path)
        found.errors += issues
        if config is not None:
            found.add(config, source, (), default_network)
    return found


def _network_issues(settings: Settings, series: Iterable[Series]) -> list[ConfigIssue]:
    irc = {n.name for n in settings.networks if isinstance(n, IrcNetwork)}
    issues: list[ConfigIssue] = []
    for one in series:
        for slot in one.slots:
            for place in slot.places:
                if place.kind == "irc" and place.network is not None and place.network not in irc:
                    known = ", ".join(sorted(irc)) or "none configured"
                    issues.append(
                        ConfigIssue(
                            one.source,
                            slot.line,
                            f"schedule[{slot.index}].irc_network",
                            f"no IRC network named {place.network!r} in networks: (known: {known})",
                        )
                    )
    return issues


def load_schedules(settings: Settings) -> Schedules:
    """Every series of the config, inline and from `schedules.dir`; raises ConfigError listing all problems.

    A relative `dir` is relative to the working directory, like every path in the config.
    """
    config = settings.schedules
    source = settings._source
    default_network = next((n.name for n in settings.networks if isinstance(n, IrcNetwork)), None)
    found = _Found()
    for index, inline in enumerate(config.series):
        found.add(inline, source, ("schedules", "series", index), default_network)
    if config.dir is not None:
        if config.dir.is_dir():
            read_series_dir(config.dir, default_network, found)
        else:
            info = source.nodes.get(("schedules", "dir"))
            found.errors.append(
                ConfigIssue(
                    source.file,
                    info.line if info else None,
                    "schedules.dir",
                    f"{config.dir} is not a directory; create it or fix the path (relative to the working "
                    "directory)",
                )
            )
    errors = found.errors + _network_issues(settings, found.series)
    if errors:
        raise ConfigError(errors)
    if config.reminders is not None:
        # Series without their own `reminders:` take the section's list instead of the built-in one.
        default = tuple(rule.rule() for rule in config.reminders)
        found.series = [s if s.reminders is not None else replace(s, reminders=default) for s in found.series]
    return Schedules(
        tuple(found.series),
        tuple(found.warnings),
        tuple(config.display_timezones),
        {series.team: series for series in found.series},
    )
