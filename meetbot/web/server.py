"""Running the web archive: alone (`meetbot serve`) or beside the bot (`web:` in the config)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from meetbot.config import Settings
from meetbot.engine import Engine
from meetbot.registry import load_plugins
from meetbot.storage.database import Database
from meetbot.web.site import BotStatus, build_site

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def running_site(
    settings: Settings,
    database: Database,
    engine: Engine,
    host: str,
    port: int,
    *,
    bot: BotStatus | None = None,
) -> AsyncIterator[web.AppRunner]:
    """The site listening on host:port while the block runs (port 0: any free port)."""
    runner = web.AppRunner(build_site(settings, database, engine, bot), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        for address in runner.addresses:
            log.info("web archive on http://%s:%s/", *address[:2])
        yield runner
    finally:
        await runner.cleanup()


async def serve(settings: Settings, host: str, port: int) -> None:
    """`meetbot serve`: the site alone, until cancelled."""
    database = await Database.open(settings.database.url)
    try:
        engine = Engine(load_plugins(settings), settings.command_prefixes)
        async with running_site(settings, database, engine, host, port):
            await asyncio.Event().wait()
    finally:
        await database.close()


@contextlib.asynccontextmanager
async def beside_bot(
    settings: Settings, database: Database, engine: Engine, bot: BotStatus | None = None
) -> AsyncIterator[None]:
    """The site inside the bot process when the config has `web:` (with /healthz naming the
    process's role and /metrics); nothing otherwise."""
    if settings.web is None:
        yield
        return
    async with running_site(settings, database, engine, settings.web.host, settings.web.port, bot=bot):
        yield
