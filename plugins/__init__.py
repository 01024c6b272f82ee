"""First-party plugins, installed as the `meetbot_plugins` package."""
