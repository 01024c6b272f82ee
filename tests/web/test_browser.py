"""The archive in a real browser: Debian's chromium, headless, driven by Playwright (which is
pointed at /usr/bin/chromium and never downloads a browser of its own). Skipped with a reason
when the browser is missing, unless MEETBOT_REQUIRE_BROWSER=1 (scripts/test.sh sets it)."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from meetbot.engine import Engine
from meetbot.registry import load_plugins
from meetbot.storage.database import Database
from meetbot.web.server import running_site
from tests.web.conftest import INFRA_2, Seeded, replay, seed

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "browser"
REQUIRED = os.environ.get("MEETBOT_REQUIRE_BROWSER") == "1"

try:
    from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright
except ImportError:  # pragma: no cover - depends on the machine
    async_playwright = None  # type: ignore[assignment]


def _missing() -> str | None:
    if async_playwright is None:
        return "the playwright package is not installed (pip install -e '.[test]')"
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} is missing (apt-get install chromium; scripts/test.sh does it)"
    return None


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    reason = _missing()
    if reason is not None:
        if REQUIRED:
            pytest.fail(f"MEETBOT_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            yield browser
        finally:
            await browser.close()


async def watched_page(browser: Browser, errors: list[str]) -> Page:
    page = await browser.new_page()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(f"console: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    return page


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[tuple[str, Seeded]]:
    seeded = await seed(f"sqlite+aiosqlite:///{tmp_path / 'meetbot.db'}", tmp_path)
    database = await Database.open(seeded.url)
    engine = Engine(load_plugins(seeded.settings), seeded.settings.command_prefixes)
    try:
        async with running_site(seeded.settings, database, engine, "127.0.0.1", 0) as runner:
            host, port = runner.addresses[0][:2]
            yield f"http://{host}:{port}", seeded
    finally:
        await database.close()


async def test_search_and_navigation_in_the_web_archive(browser: Browser, site: tuple[str, Any]) -> None:
    base, _seeded = site
    errors: list[str] = []
    page = await watched_page(browser, errors)
    await page.goto(base + "/")
    await page.fill("input[name=q]", "zanzibar migration")
    await page.click("form.search button")
    await page.wait_for_url(re.compile(r"/search\?q=zanzibar"))
    assert await page.locator("mark").first.inner_text() == "Zanzibar"
    await page.click("a.hit")
    await page.wait_for_url(re.compile(r"/meetings/1\.log\.html#l-\d+$"))
    # The anchor lands on the line searched for.
    target = await page.evaluate("document.querySelector(':target').textContent")
    assert "Zanzibar migration plan" in target

    await page.click("text=infra meetings")
    await page.wait_for_url(base + "/teams/infra")
    await page.click("a[href='/meetings/1.html']")
    await page.wait_for_url(base + "/meetings/1.html")
    await page.click("#next")
    await page.wait_for_url(base + "/meetings/3.html")
    assert "Quokka rollout" in await page.inner_text("main")
    await page.click("#prev")
    await page.wait_for_url(base + "/meetings/1.html")
    # An item links to its log line, and the log back to the minutes.
    await page.click("#summary a[href*='#l-']")
    await page.wait_for_url(re.compile(r"/meetings/1\.log\.html#l-\d+$"))
    await page.click("text=minutes")
    await page.wait_for_url(base + "/meetings/1.html")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "meeting.png"), full_page=True)
    # Dark mode by preference changes the page (one stylesheet, no outside request).
    await page.emulate_media(color_scheme="dark")
    dark = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert dark == "rgb(21, 23, 26)"
    await page.screenshot(path=str(ARTIFACTS / "meeting-dark.png"), full_page=True)
    assert errors == []


async def test_links_in_the_static_archive(browser: Browser, tmp_path: Path) -> None:
    seeded = await seed(f"sqlite+aiosqlite:///{tmp_path / 'meetbot.db'}", tmp_path)
    await replay(seeded, INFRA_2, day=date(2026, 12, 1), channel="#infra", tmp=tmp_path)
    errors: list[str] = []
    page = await watched_page(browser, errors)
    await page.goto((seeded.publish / "index.html").as_uri())
    await page.click("a[href='infra/index.html']")
    await page.click("text=Newest minutes")  # latest.html redirects to the newest minutes
    await page.wait_for_url(re.compile(r"infra\.2026-12-01-16\.00\.html$"))
    await page.click("#prev")
    await page.wait_for_url(re.compile(r"infra\.2026-11-09-16\.00\.html$"))
    await page.click("#summary a[href*='#l-']")
    await page.wait_for_url(re.compile(r"infra\.2026-11-09-16\.00\.log\.html#l-\d+$"))
    await page.click("#next")
    await page.wait_for_url(re.compile(r"infra\.2026-12-01-16\.00\.html$"))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "static-minutes.png"), full_page=True)
    assert errors == []
