"""The read-only web archive: `meetbot serve`, or inside `meetbot run` with `web:` set."""
