"""The bots under test: meetbot (SQLite, PostgreSQL), Limnoria + hcoop-meetbot, Sopel + sopel-meetbot,
and the null bot (bench/nullbot.py), a reference that answers the probes and does nothing else.

Each `Bot` knows how to install itself (peers: from PyPI into their own venvs under
.cache/bench, reused across runs), write its configuration for one run, start, stop, and
report its resident memory. The peers' configuration follows
/work/shared/reference/harness.md section 4: throttling off, logs under the run's directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "bench"
LIMNORIA_VENV = CACHE / "limnoria-venv"
SOPEL_VENV = CACHE / "sopel-venv"
# hcoop-meetbot 0.8.2+ needs Python >= 3.12; 0.8.1 is what runs on this machine's 3.11.
PEER_PINS = {"limnoria": ["limnoria", "hcoop-meetbot==0.8.1"], "sopel": ["sopel", "sopel-meetbot==1.1.0"]}
# Sopel refuses root and cannot run from pyenv's Python (under root's mode-700 home) as nobody.
SYSTEM_PYTHON = "/usr/bin/python3"
PG_URL_BASE = "postgresql+asyncpg://postgres@127.0.0.1:5432/"


def ensure_peers() -> None:
    """Create the peers' venvs on first use; later runs reuse them."""
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_CACHE_DIR=str(ROOT / ".cache" / "pip"))
    CACHE.mkdir(parents=True, exist_ok=True)
    for venv, python, pins in (
        (LIMNORIA_VENV, _pyenv_python(), PEER_PINS["limnoria"]),
        (SOPEL_VENV, SYSTEM_PYTHON, PEER_PINS["sopel"]),
    ):
        marker = venv / ".installed"
        if marker.exists():
            continue
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *pins], check=True, env=env)
        marker.write_text(" ".join(pins) + "\n")


def _pyenv_python() -> str:
    return shutil.which("python3.11") or shutil.which("python3") or SYSTEM_PYTHON


def pip_version(venv: Path, package: str) -> str:
    out = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            f"import importlib.metadata as m; print(m.version({package!r}))",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or "?"


def rss_bytes(pid: int) -> int:
    """VmRSS of the process and all its descendants (a bot may fork helpers)."""
    total = 0
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                stack.extend(int(child) for child in children)
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


@dataclass
class Bot:
    key: str  # short id used in tables: ours-sqlite, ours-pg, hcoop, sopel, null
    label: str
    nick: str
    topic_command: str  # Sopel calls it #subject
    probe_reply: str  # substring of the bot's answer to the chair's `#agreed` without argument
    end_reply: Callable[[str], bool]  # the last line the bot says after #endmeeting
    # A command that changes the meeting and is answered with one line, and that line
    # (meetbot: stored before the reply leaves); None where the bench does not measure it.
    stored_probe: tuple[str, str] | None = None
    # A yardstick, not a peer (the null bot): shown in the table, left out of ratios and targets.
    reference: bool = False
    proc: subprocess.Popen[bytes] | None = None
    work: Path | None = None
    extra: dict[str, str] = field(default_factory=dict)

    # -- per-bot hooks ---------------------------------------------------------------------------

    def prepare(self, work: Path, port: int, channels: list[str]) -> list[str]:
        raise NotImplementedError

    def cleanup(self) -> None:
        """Undo what prepare() created outside `work` (a PostgreSQL database)."""

    def version(self) -> str:
        raise NotImplementedError

    def stored_lines(self) -> int | None:
        """How many lines the bot holds in its database now; None for a bot that keeps its log
        in memory until #endmeeting (hcoop) or appends it to files as it goes (Sopel)."""
        return None

    def published_since(self, wall: float) -> list[Path]:
        """The files the bot wrote since `wall` (time.time()): checks #endmeeting really wrote.
        By time, not by count: hcoop names files by the second, so a meeting may overwrite."""
        assert self.work is not None
        return [p for p in (self.work / "minutes").rglob("*") if p.is_file() and p.stat().st_mtime >= wall]

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, work: Path, port: int, channels: list[str]) -> float:
        """Write the config, spawn the bot; returns the perf_counter() at spawn."""
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        self.work = work
        argv = self.prepare(work, port, channels)
        log = (work / "bot.log").open("ab")
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            argv, cwd=work, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=self.env()
        )
        log.close()
        return started

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss(self) -> int:
        assert self.proc is not None
        return rss_bytes(self.proc.pid)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            # By PID only (its own session holds nothing else of ours).
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self.cleanup()

    def log_tail(self, lines: int = 30) -> str:
        if self.work is None or not (self.work / "bot.log").exists():
            return ""
        return "\n".join((self.work / "bot.log").read_text(errors="replace").splitlines()[-lines:])


# -- meetbot ------------------------------------------------------------------------------------


class Meetbot(Bot):
    def __init__(self, database: str) -> None:
        super().__init__(
            key=f"ours-{database}",
            label=f"meetbot ({'SQLite' if database == 'sqlite' else 'PostgreSQL'})",
            nick="meetbot",
            topic_command="#topic",
            probe_reply="Usage: #agreed",
            stored_probe=("#chair carol", "Current chairs"),
            end_reply=lambda text: text.startswith("Meeting ended at"),
        )
        self.database = database
        self._pg_db: str | None = None

    def version(self) -> str:
        return pip_version(ROOT / ".venv", "meetbot")

    def prepare(self, work: Path, port: int, channels: list[str]) -> list[str]:
        if self.database == "sqlite":
            url = f"sqlite+aiosqlite:///{work / 'meetbot.db'}"
        else:
            self._pg_db = f"meetbot_bench_{os.getpid()}_{int(time.time() * 1000)}"
            _psql(f'CREATE DATABASE "{self._pg_db}"')
            url = PG_URL_BASE + self._pg_db
        quoted = ", ".join(f'"{c}"' for c in channels)
        # Flood control off, as for the peers (Limnoria throttleTime 0, Sopel flood_* 0): this
        # measures the bots, not their pacing. The channel topic is left alone like hcoop's
        # useChannelTopic=False.
        (work / "meetbot.yaml").write_text(
            f"""\
log_level: INFO
database: {{url: "{url}"}}
publish: {{dir: "{work / "minutes"}"}}
networks:
  - {{name: bench, type: irc, host: 127.0.0.1, port: {port}, tls: false, nick: {self.nick},
     flood: {{burst: 1000000, per_second: 1000000.0}},
     channels: [{quoted}]}}
plugins:
  meeting: {{set_channel_topic: false}}
"""
        )
        meetbot = str(ROOT / ".venv" / "bin" / "meetbot")
        # The schema is created before the clock starts, so start-up is the bot's own.
        subprocess.run(
            [meetbot, "db", "upgrade", "-c", "meetbot.yaml"], cwd=work, check=True, capture_output=True
        )
        return [meetbot, "run", "-c", "meetbot.yaml"]

    def stored_lines(self) -> int | None:
        query = "SELECT count(*) FROM meeting_lines"
        if self._pg_db is None:
            assert self.work is not None
            reader = sqlite3.connect(f"file:{self.work / 'meetbot.db'}?mode=ro", uri=True)
            with contextlib.closing(reader):
                return int(reader.execute(query).fetchone()[0])
        return int(_psql(query, database=self._pg_db))

    def cleanup(self) -> None:
        if self._pg_db is not None:
            _psql(f'DROP DATABASE IF EXISTS "{self._pg_db}" WITH (FORCE)')
            self._pg_db = None


PSQL = ["psql", "-h", "127.0.0.1", "-p", "5432", "-U", "postgres", "-v", "ON_ERROR_STOP=1"]


def _psql(sql: str, database: str = "postgres") -> str:
    done = subprocess.run(
        [*PSQL, "-d", database, "-qAtc", sql],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout.strip()


# -- Limnoria + hcoop-meetbot -------------------------------------------------------------------


class Hcoop(Bot):
    def __init__(self) -> None:
        super().__init__(
            key="hcoop",
            label="Limnoria + hcoop-meetbot",
            nick="hcoopbot",
            topic_command="#topic",
            # hcoop has no #agreed; it answers "Unknown command: #agreed" (harness.md 4.1).
            probe_reply="Unknown command",
            # Limnoria prefixes replies with the asker's nick: "alice: Minutes: file:///...".
            end_reply=lambda text: "Minutes: " in text,
        )

    def version(self) -> str:
        return (
            f"Limnoria {pip_version(LIMNORIA_VENV, 'limnoria')}, "
            f"hcoop-meetbot {pip_version(LIMNORIA_VENV, 'hcoop-meetbot')}"
        )

    def prepare(self, work: Path, port: int, channels: list[str]) -> list[str]:
        dirs = {name: work / name for name in ("conf", "data", "tmp", "web", "backup", "logs", "plugins")}
        for path in dirs.values():
            path.mkdir()
        for name in ("users", "channels", "networks", "ignores"):
            (dirs["conf"] / f"{name}.conf").touch()  # avoids start-up ERROR lines
        minutes = work / "minutes"
        (dirs["conf"] / "HcoopMeetbot.conf").write_text(
            f"""[HcoopMeetbot]
logDir = {minutes}
urlPrefix = file://{minutes}/
pattern = %Y/{{name}}.%Y%m%d.%H%M%S
timezone = UTC
useChannelTopic = False
outputFormat = HTML
"""
        )
        plugins = ["Admin", "Channel", "Config", "HcoopMeetbot", "Misc", "Owner", "User"]
        registry = [
            f"supybot.nick: {self.nick}",
            "supybot.ident: hcoopbot",
            "supybot.user: hcoopbot",
            "supybot.networks: bench",
            f"supybot.networks.bench.servers: 127.0.0.1:{port}",
            f"supybot.networks.bench.channels: {' '.join(channels)}",
            "supybot.networks.bench.ssl: False",
            f"supybot.directories.conf: {dirs['conf']}",
            f"supybot.directories.data: {dirs['data']}",
            f"supybot.directories.data.tmp: {dirs['tmp']}",
            f"supybot.directories.data.web: {dirs['web']}",
            f"supybot.directories.backup: {dirs['backup']}",
            f"supybot.directories.log: {dirs['logs']}",
            f"supybot.directories.plugins: {dirs['plugins']}",
            "supybot.plugins: " + " ".join(plugins),
            *(f"supybot.plugins.{name}: True" for name in plugins),
            # No output throttling, like our flood settings; poll the socket every 10 ms; no
            # flood protection against the driver's probes.
            "supybot.abuse.flood.command: False",
            "supybot.protocols.irc.throttleTime: 0.0",
            "supybot.reply.whenAddressedBy.chars: !",
            "supybot.drivers.poll: 0.01",
            "supybot.log.stdout.level: INFO",
        ]
        # Limnoria rewrites its registry on exit, so each run writes a fresh one.
        (work / "limnoria.conf").write_text("\n".join(registry) + "\n")
        return [str(LIMNORIA_VENV / "bin" / "limnoria"), "--allow-root", str(work / "limnoria.conf")]


# -- Sopel + sopel-meetbot ----------------------------------------------------------------------


class Sopel(Bot):
    def __init__(self) -> None:
        super().__init__(
            key="sopel",
            label="Sopel + sopel-meetbot",
            nick="sopelbot",
            topic_command="#subject",
            probe_reply="Try `#agreed",
            end_reply=lambda text: text.startswith("Meeting minutes:"),
        )

    def version(self) -> str:
        sopel, plugin = pip_version(SOPEL_VENV, "sopel"), pip_version(SOPEL_VENV, "sopel-meetbot")
        return f"Sopel {sopel}, sopel-meetbot {plugin}"

    def env(self) -> dict[str, str]:
        assert self.work is not None
        return dict(os.environ, HOME=str(self.work))

    def prepare(self, work: Path, port: int, channels: list[str]) -> list[str]:
        channel_lines = "\n".join(f'    "{c}"' for c in channels)
        (work / "sopel.cfg").write_text(
            f"""[core]
nick = {self.nick}
host = 127.0.0.1
port = {port}
use_ssl = false
owner = alice
channels =
{channel_lines}
prefix = \\#
help_prefix = #
homedir = {work}
logdir = {work / "logs"}
pid_dir = {work}
db_filename = {work / "sopel.db"}
enable = meetbot
flood_burst_lines = 100000
flood_empty_wait = 0
flood_refill_rate = 100000
flood_max_wait = 0
flood_penalty_ratio = 0
antiloop_threshold = 0
[meetbot]
meeting_log_path = {work / "minutes"}
meeting_log_baseurl = file://{work / "minutes"}
"""
        )
        (work / "minutes").mkdir()
        (work / "logs").mkdir()
        # Sopel refuses root: run it as nobody (setpriv execs, so the PID is Sopel's own).
        subprocess.run(["chown", "-R", "nobody:nogroup", str(work)], check=True)
        return [
            "setpriv",
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            str(SOPEL_VENV / "bin" / "sopel"),
            "start",
            "-c",
            str(work / "sopel.cfg"),
        ]


# -- the null bot -------------------------------------------------------------------------------


class NullBot(Bot):
    """bench/nullbot.py: answers the driver's probes from its read loop, logs and publishes
    nothing (one small file per #endmeeting, which the driver checks for). Whatever it reaches is
    the ceiling of the harness itself: the ircd, the driver and the machine."""

    def __init__(self) -> None:
        super().__init__(
            key="null",
            label="null bot (answers probes, logs nothing: harness ceiling)",
            nick="nullbot",
            topic_command="#topic",
            probe_reply="Usage: #agreed",
            end_reply=lambda text: text.startswith("Meeting ended at"),
            reference=True,
        )

    def version(self) -> str:
        return "-"

    def prepare(self, work: Path, port: int, channels: list[str]) -> list[str]:
        (work / "channels.txt").write_text("\n".join(channels) + "\n")
        # The driver's own interpreter: stdlib only, and no venv of its own to keep.
        return [
            sys.executable,
            str(ROOT / "bench" / "nullbot.py"),
            "--port",
            str(port),
            "--nick",
            self.nick,
            "--channels-file",
            str(work / "channels.txt"),
            "--minutes",
            str(work / "minutes"),
        ]


def all_bots() -> dict[str, Callable[[], Bot]]:
    return {
        "ours-sqlite": lambda: Meetbot("sqlite"),
        "ours-pg": lambda: Meetbot("pg"),
        "hcoop": Hcoop,
        "sopel": Sopel,
        "null": NullBot,
    }
