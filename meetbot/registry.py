"""Plugin discovery through the `meetbot.plugins` entry-point group.

Bundled plugins register there like any third-party package does, so installing a package is
all it takes to add one; each plugin's own config section is validated by its own model.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from meetbot.config import Settings, plugin_config
from meetbot.plugin import Plugin

GROUP = "meetbot.plugins"


class PluginLoadError(Exception):
    pass


def plugin_classes() -> dict[str, type[Plugin]]:
    found: dict[str, type[Plugin]] = {}
    for entry in entry_points(group=GROUP):
        loaded = entry.load()
        if not (isinstance(loaded, type) and issubclass(loaded, Plugin)):
            raise PluginLoadError(f"entry point {entry.name} = {entry.value} is not a meetbot Plugin class")
        found[entry.name] = loaded
    return found


def load_plugins(settings: Settings) -> list[Plugin]:
    classes = plugin_classes()
    unknown = sorted(set(settings.plugins) - set(classes))
    if unknown:
        raise PluginLoadError(
            f"plugins: no installed plugin named {', '.join(unknown)} "
            f"(installed: {', '.join(sorted(classes))})"
        )
    return [cls(plugin_config(settings, name, cls.Config)) for name, cls in sorted(classes.items())]
