"""The bot's YAML configuration: typed settings, and a loader whose errors point at file and line.

What lives where:

- schema.py: the pydantic models (Settings and its sections) and their field checks.
- loader.py: load_settings(), check_config() and plugin_config(); reads the file, reports YAML syntax errors.
- builder.py: plain data from the YAML node tree: ${ENV} substitution, YAML 1.1 traps, duplicate keys.
- locate.py: pydantic errors mapped back to file, line and field, phrased as fixes.
- provenance.py: where each value came from (line, tag, secrecy), shared by the three above.
- issues.py: ConfigIssue and ConfigError, the shape every problem is reported in.
- schedules.py: the `schedules:` section's models; schedule_files.py: loading every series in it.
"""

from meetbot.config.issues import ConfigError, ConfigIssue
from meetbot.config.loader import DEFAULT_PATH, check_config, load_settings, plugin_config
from meetbot.config.schedule_files import Schedules, load_schedules
from meetbot.config.schedules import SchedulesSettings, SeriesConfig
from meetbot.config.schema import (
    DatabaseSettings,
    FloodSettings,
    IrcChannel,
    IrcNetwork,
    MatrixAccount,
    PublishSettings,
    Sasl,
    Settings,
)

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
    "Schedules",
    "SchedulesSettings",
    "SeriesConfig",
    "Settings",
    "check_config",
    "load_schedules",
    "load_settings",
    "plugin_config",
]
