"""Minutes from a finished Meeting: a pure view model (view.py) rendered by Jinja2 (render.py).

Only the pure view is re-exported: importing this package must not pull in jinja2, so pure
code (plugins' logic, the web's JSON) can use the view model. Import `meetbot.minutes.render`
for rendering.
"""

from meetbot.minutes.view import EXTENSIONS, MeetingLinks, MinutesView, build_view, find_link

__all__ = ["EXTENSIONS", "MeetingLinks", "MinutesView", "build_view", "find_link"]
