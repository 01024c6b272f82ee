"""Upcoming meetings on the home page and ICS feeds, when schedules are configured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from aiohttp.test_utils import TestClient, TestServer
from icalendar import Calendar

from meetbot.config import load_settings
from meetbot.engine import Engine
from meetbot.registry import load_plugins
from meetbot.storage.database import Database
from meetbot.web.site import build_site
from tests.web.conftest import Seeded

SCHEDULES = {
    "series": [
        {
            "project": "Infra <b>team</b>",
            "meeting_id": "infra",
            "schedule": [{"time": "1600", "day": "Monday", "irc": "infra", "frequency": "weekly"}],
        }
    ]
}


async def test_upcoming_meetings_and_calendars(seeded: Seeded, database: Database, tmp_path: Path) -> None:
    config = tmp_path / "meetbot.yaml"
    config.write_text(
        yaml.safe_dump({"database": {"url": seeded.url}, "schedules": SCHEDULES}), encoding="utf-8"
    )
    settings = load_settings(config)
    engine = Engine(load_plugins(settings), settings.command_prefixes)
    client: TestClient[Any, Any]
    async with TestClient(TestServer(build_site(settings, database, engine))) as client:
        home = await (await client.get("/")).text()
        assert "Upcoming meetings" in home
        assert home.count("UTC: infra") == 2  # two Mondays in the next 14 days
        assert "Infra &lt;b&gt;team&lt;/b&gt;" in home
        for path in ("/schedules.ics", "/teams/infra/schedule.ics"):
            response = await client.get(path)
            assert response.status == 200
            assert response.content_type == "text/calendar"
            events = Calendar.from_ical(await response.read()).walk("VEVENT")
            assert [str(event["summary"]) for event in events] == ["Infra <b>team</b>"]
        assert (await client.get("/teams/docs/schedule.ics")).status == 404


async def test_without_schedules_there_is_no_upcoming_section(client: TestClient[Any, Any]) -> None:
    assert "Upcoming meetings" not in await (await client.get("/")).text()
    assert (await client.get("/schedules.ics")).status == 404
