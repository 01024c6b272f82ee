"""The `meetbot` command: run, console, config check, db upgrade, replay, schedule, serve, meeting."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from meetbot import __version__
from meetbot.meeting_cli import register as register_meeting
from meetbot.schedule_cli import register as register_schedule

if TYPE_CHECKING:
    from meetbot.adapters.base import Adapter
    from meetbot.app import App
    from meetbot.config import Settings

# Start-up time matters (the bot should be on its networks a moment after it is started, and
# `meetbot --help` should answer at once): each command imports what it uses in its handler, so
# none pays for the web server, Matrix, the database or the schedule tools it does not touch.
# ruff: noqa: PLC0415

DEFAULT_CONFIG = Path("meetbot.yaml")
WATCH_EVERY = 30.0  # seconds between looks at the config files
log = logging.getLogger("meetbot")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="meetbot", description="A meeting bot for IRC and Matrix.")
    parser.add_argument("--version", action="version", version=f"meetbot {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument(
            "-c",
            "--config",
            type=Path,
            default=None,
            help="config file (default ./meetbot.yaml if present, else embedded defaults)",
        )
        return sub

    with_config(commands.add_parser("run", help="run the bot on the configured networks"))

    console = with_config(commands.add_parser("console", help="try the bot by typing at a console"))
    console.add_argument("--channel", default="#meetbot-test")
    console.add_argument("--nick", default="alice")
    console.add_argument("--network", default="console")

    config = commands.add_parser("config", help="configuration tools").add_subparsers(
        dest="config_command", required=True, metavar="ACTION"
    )
    with_config(config.add_parser("check", help="validate a config file; prints FILE:LINE: field: message"))

    db = commands.add_parser("db", help="database tools").add_subparsers(
        dest="db_command", required=True, metavar="ACTION"
    )
    with_config(db.add_parser("upgrade", help="bring the configured database to the newest schema"))

    replay = with_config(
        commands.add_parser("replay", help="replay a MeetBot/irssi log and publish its minutes")
    )
    replay.add_argument("log", type=Path, metavar="LOG")
    replay.add_argument("--channel", required=True, help="the channel the log comes from, e.g. '#chan'")
    replay.add_argument("--network", default="replay")
    replay.add_argument(
        "--publish-dir", type=Path, help="where to write (default: publish.dir from the config)"
    )
    replay.add_argument(
        "--date",
        type=date.fromisoformat,
        help="the log's date, YYYY-MM-DD (default: a date in the file name, else the file's date)",
    )
    replay.add_argument(
        "--database",
        default=None,  # in memory (replay.IN_MEMORY): resolved by the handler, which imports replay
        help="database URL to store the replayed meeting in (default: in memory)",
    )
    register_schedule(commands)
    register_meeting(commands)
    serve = with_config(commands.add_parser("serve", help="serve the read-only web archive and search"))
    serve.add_argument("--host", default=None, help="listen address (default: web.host, else 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default: web.port, else 8080)")
    return parser


async def _stdin_lines() -> AsyncIterator[str]:
    while line := await asyncio.to_thread(sys.stdin.readline):
        yield line


def _print(text: str) -> None:
    print(text, flush=True)


async def _console(settings: Settings, channel: str, nick: str, network: str) -> None:
    from meetbot.adapters.console import CONSOLE_HELP, ConsoleAdapter
    from meetbot.app import build_app
    from meetbot.clock import SystemClock

    adapter = ConsoleAdapter(
        _stdin_lines(), _print, SystemClock(), channel=channel, nick=nick, network=network
    )
    if sys.stdin.isatty():
        _print(f"-- meetbot {__version__} console: you are {nick} in {channel}. {CONSOLE_HELP}")
    app = await build_app(settings, [adapter])
    await app.run()


def _run(settings: Settings, config: Path | None) -> int:
    if not settings.networks:
        # Embedded defaults with no network: a local try-out at the console.
        _print("-- no networks configured: running a local console (see config.example.yaml to add some)")
        asyncio.run(_console(settings, "#meetbot-test", "alice", "console"))
        return 0
    from meetbot.adapters.factory import UnsupportedNetworkError, build_adapters
    from meetbot.clock import SystemClock

    try:
        adapters = build_adapters(settings.networks, SystemClock(), version=__version__)
    except UnsupportedNetworkError as error:
        print(f"meetbot: {error}; use `meetbot console` to try it locally", file=sys.stderr)
        return 2
    path = config or (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    asyncio.run(_serve(settings, adapters, path))
    return 0


async def _serve(settings: Settings, adapters: Sequence[Adapter], config: Path | None) -> None:
    from meetbot.early import EarlyAdapters
    from meetbot.storage.urls import is_sqlite

    # Alone on its database (SQLite; on PostgreSQL build_app gives it a lease to win first), the
    # bot connects and registers while the rest is built, and joins once that is ready: the
    # server's registration and our imports and database take about a second each. The imports
    # run in a thread so that the event loop meanwhile connects and registers.
    early = EarlyAdapters(adapters) if is_sqlite(settings.database.url) else None
    try:
        build_app = await asyncio.to_thread(_app_builder)
        app = await build_app(settings, adapters)
    except BaseException:
        if early is not None:
            await early.cancel()
        raise
    app.early = early
    settle_garbage_collector()
    main_task = asyncio.current_task()
    assert main_task is not None
    # SIGTERM (docker stop, systemd) ends like Ctrl-C: adapters say QUIT, the database closes.
    # Nothing depends on it: every line is stored before it is acted on.
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, main_task.cancel)
    background: set[asyncio.Task[None]] = set()  # held here, or the loop may drop them
    if config is not None:

        def reload_now() -> None:
            task = loop.create_task(_reload(app, config))
            background.add(task)
            task.add_done_callback(background.discard)

        loop.add_signal_handler(signal.SIGHUP, reload_now)
        background.add(loop.create_task(_watch(app, config, settings)))
    names = ", ".join(adapter.network for adapter in adapters)
    log.info("meetbot %s running on %d network(s): %s", __version__, len(adapters), names)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            # With `web:` in the config the bot serves the web archive too, stopping with it.
            async with _beside_bot(settings, app):
                await app.run()
    finally:
        for task in background:
            task.cancel()


# Young objects per collection of the youngest generation (CPython's default: 700).
YOUNG_COLLECTION_THRESHOLD = 50_000


def settle_garbage_collector() -> None:
    """Start-up is over: what it made (the libraries, the config, the app) stays for good.

    The bot makes a handful of objects per line and frees nearly all of them by reference
    counting, yet CPython's cycle collector, run every 700 allocations, kept walking the few
    hundred thousand objects start-up left behind: ~25 % of the CPU per logged line (bench/,
    core path, 100 rooms: 40 -> 31 us). Frozen, they are never walked again; the rarer young
    collections still catch cycles, within a bounded number of allocations."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, 20, 50)


def _app_builder() -> Callable[..., Awaitable[App]]:
    from meetbot.app import build_app

    return build_app


def _beside_bot(settings: Settings, app: App) -> AbstractAsyncContextManager[None]:
    if settings.web is None:
        # Nothing to serve: importing the site (aiohttp) would only delay joining the networks.
        return contextlib.nullcontext()
    from meetbot.web.server import beside_bot

    return beside_bot(settings, app.database, app.service.engine, app)


def _serve_web(args: argparse.Namespace, settings: Settings) -> int:
    from meetbot.web.server import serve as serve_web

    host = args.host or (settings.web.host if settings.web else "127.0.0.1")
    port = args.port if args.port is not None else (settings.web.port if settings.web else 8080)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_web(settings, host, port))
    return 0


async def _reload(app: App, path: Path) -> None:
    """SIGHUP or a changed file: read the config again and replan. A broken file is reported
    and the running schedules stay; nothing else is reloaded (networks need a restart)."""
    from meetbot.config import ConfigError, load_schedules, load_settings

    try:
        schedules = load_schedules(load_settings(path))
    except ConfigError as error:
        log.error("config reload failed; keeping the schedules in force:\n%s", error)
        return
    await app.reload_schedules(schedules)
    log.info("config reloaded: %d meeting series", len(schedules.series))


async def _watch(app: App, path: Path, settings: Settings) -> None:
    from meetbot.watch import FileWatcher

    watched = [path] + ([settings.schedules.dir] if settings.schedules.dir else [])
    watcher = FileWatcher(watched)
    while True:
        await asyncio.sleep(WATCH_EVERY)
        if await asyncio.to_thread(watcher.changed):
            await _reload(app, path)


def _config_check(path: Path | None) -> int:
    from meetbot.config import check_config

    target = path or DEFAULT_CONFIG
    issues = check_config(target)
    for issue in issues:
        print(issue, file=sys.stderr)
    if issues:
        return 1
    print(f"{target}: OK")
    return 0


async def _db_upgrade(settings: Settings) -> None:
    from meetbot.storage import migrate
    from meetbot.storage.database import create_engine

    database = create_engine(settings.database.url)
    try:
        await migrate.upgrade(database)
        revision = await migrate.current_revision(database)
    finally:
        await database.dispose()
    print(f"database at revision {revision}")


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from meetbot.logparse import date_from_name
    from meetbot.replay import IN_MEMORY, replay_log

    log_path: Path = args.log
    if not log_path.is_file():
        print(f"meetbot replay: {log_path}: no such file", file=sys.stderr)
        return 2
    day = args.date or date_from_name(log_path.name)
    if day is None:
        day = datetime.fromtimestamp(log_path.stat().st_mtime, UTC).date()
        print(
            f"meetbot replay: no date given or in the file name; using {day} (the file's date)",
            file=sys.stderr,
        )
    result = asyncio.run(
        replay_log(
            log_path,
            channel=args.channel,
            network=args.network,
            day=day,
            settings=settings,
            publish_dir=args.publish_dir or settings.publish.dir,
            database_url=IN_MEMORY if args.database is None else args.database,
        )
    )
    for path in result.written:
        print(path)
    if result.unfinished:
        print("meetbot replay: the log has no #endmeeting; published what there was", file=sys.stderr)
    if not result.written:
        print("meetbot replay: no meeting found (no #startmeeting line)", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from meetbot.config import ConfigError

    try:
        if args.command == "config":
            return _config_check(args.config)
        if args.command == "schedule":
            from meetbot.schedule_cli import run as run_schedule

            return run_schedule(args)
        return _with_database(args)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _with_database(args: argparse.Namespace) -> int:
    """The commands that load plugins or open the database, and the two ways that can fail."""
    from meetbot.config import load_settings
    from meetbot.logs import configure_logging
    from meetbot.registry import PluginLoadError
    from meetbot.storage.errors import SchemaOutOfDateError

    try:
        if args.command == "meeting":
            from meetbot.meeting_cli import run as run_meeting

            return run_meeting(args)
        settings = load_settings(args.config)
        configure_logging(settings)
        if args.command == "run":
            return _run(settings, args.config)
        if args.command == "console":
            asyncio.run(_console(settings, args.channel, args.nick, args.network))
            return 0
        if args.command == "db":
            from meetbot.storage.meetings import StorageUnavailableError

            try:
                asyncio.run(_db_upgrade(settings))
            except StorageUnavailableError as error:
                print(f"meetbot db upgrade: the database is unreachable: {error}", file=sys.stderr)
                return 1
            return 0
        if args.command == "replay":
            return _replay(args, settings)
        if args.command == "serve":
            return _serve_web(args, settings)
    except (SchemaOutOfDateError, PluginLoadError) as error:
        print(f"meetbot: {error}", file=sys.stderr)
        return 2
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
