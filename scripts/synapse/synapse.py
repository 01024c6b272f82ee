#!/usr/bin/env python3
# ruff: noqa: S105, S310, S603
# (a test harness: a fixed test secret, http:// URLs it builds itself, commands it builds itself)
"""A throwaway Synapse homeserver on loopback, for the Matrix integration tests and the bench.

    scripts/synapse/synapse.py install            # venv under .cache/synapse-venv (reused when present)
    scripts/synapse/synapse.py start DIR [PORT]   # config + SQLite in DIR; prints the base URL
    scripts/synapse/synapse.py stop DIR           # by the PID recorded in DIR/synapse.pid

Synapse lives in its own venv because it pins Twisted, pydantic and friends, which must not leak
into the project's. The config has SQLite, a registration shared secret, every rate limit lifted
and bcrypt_rounds 4 (register/login 20x faster). Stdlib only: the test fixtures import this file.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("MEETBOT_SYNAPSE_VENV", ROOT / ".cache" / "synapse-venv"))
SERVER_NAME = "localhost"
SHARED_SECRET = "meetbot-test-shared-secret"
# Pinned to the version the harness was measured with; override to try another.
SYNAPSE_REQUIREMENT = os.environ.get("MEETBOT_SYNAPSE_REQUIREMENT", "matrix-synapse==1.163.2")
PIN = [SYNAPSE_REQUIREMENT]
INSTALL_TIMEOUT = 600
START_TIMEOUT = 60

_UNLIMITED = {"per_second": 100000, "burst_count": 100000}
_RATE_LIMITS = {
    "rc_message": _UNLIMITED,
    "rc_registration": _UNLIMITED,
    "rc_login": {"address": _UNLIMITED, "account": _UNLIMITED, "failed_attempts": _UNLIMITED},
    "rc_admin_redaction": _UNLIMITED,
    "rc_joins": {"local": _UNLIMITED, "remote": _UNLIMITED},
    "rc_joins_per_room": _UNLIMITED,
    "rc_invites": {"per_room": _UNLIMITED, "per_user": _UNLIMITED, "per_issuer": _UNLIMITED},
    "rc_3pid_validation": _UNLIMITED,
    "rc_third_party_invite": _UNLIMITED,
    "rc_media_create": _UNLIMITED,
    "rc_presence": {"per_user": _UNLIMITED},
    "rc_delayed_event_mgmt": _UNLIMITED,
    "rc_reports": _UNLIMITED,
}


class HarnessError(RuntimeError):
    pass


def _python() -> Path:
    return VENV / "bin" / "python"


def installed() -> bool:
    if not _python().exists():
        return False
    probe = subprocess.run(
        [str(_python()), "-c", "import synapse.app.homeserver"], check=False, capture_output=True
    )
    return probe.returncode == 0


def install() -> float:
    """Create the Synapse venv unless a working one is there; returns the seconds it took."""
    started = time.monotonic()
    VENV.parent.mkdir(parents=True, exist_ok=True)
    # Two test sessions starting at once must not pip into the same venv.
    with open(VENV.parent / "synapse-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if installed():
            return time.monotonic() - started
        try:
            subprocess.run(
                [sys.executable, "-m", "venv", "--clear", str(VENV)], check=True, capture_output=True
            )
            subprocess.run(
                [str(_python()), "-m", "pip", "install", "-q", "--disable-pip-version-check", *PIN],
                check=True,
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT,
            )
        except subprocess.CalledProcessError as error:
            # pip's last lines say why (a long "from versions: ..." list is cut to its end)
            tail = "\n".join(line[-300:] for line in (error.stderr or error.stdout or "").splitlines()[-3:])
            raise HarnessError(f"installing {SYNAPSE_REQUIREMENT} failed: {tail}") from None
        except (subprocess.TimeoutExpired, OSError) as error:
            raise HarnessError(f"installing {SYNAPSE_REQUIREMENT} failed: {error}") from None
        if not installed():
            raise HarnessError(f"{VENV} has no importable synapse after pip install")
    return time.monotonic() - started


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _signing_key() -> str:
    # signedjson's file format: "<alg> <version> <unpadded base64 of the 32-byte seed>".
    seed = base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    return f"ed25519 a_{secrets.token_hex(2)} {seed}\n"


def write_config(directory: Path, port: int, appservices: tuple[Path, ...] = ()) -> Path:
    """`appservices`: registration files of application services (bridges) to load."""
    directory.mkdir(parents=True, exist_ok=True)
    key = directory / "signing.key"
    if not key.exists():
        key.write_text(_signing_key())
    log_config = directory / "log.config"
    log_config.write_text(
        json.dumps(
            {
                "version": 1,
                "formatters": {"plain": {"format": "%(asctime)s %(name)s %(levelname)s %(message)s"}},
                "handlers": {
                    "file": {
                        "class": "logging.FileHandler",
                        "formatter": "plain",
                        "filename": str(directory / "homeserver.log"),
                    }
                },
                "root": {"level": "WARNING", "handlers": ["file"]},
                "disable_existing_loggers": False,
            }
        )
    )
    config = {
        "server_name": SERVER_NAME,
        "public_baseurl": f"http://127.0.0.1:{port}/",
        "pid_file": str(directory / "homeserver.pid"),
        "listeners": [
            {
                "port": port,
                "tls": False,
                "type": "http",
                "x_forwarded": False,
                "bind_addresses": ["127.0.0.1"],
                "resources": [{"names": ["client"], "compress": False}],
            }
        ],
        "database": {"name": "sqlite3", "args": {"database": str(directory / "homeserver.db")}},
        "log_config": str(log_config),
        "media_store_path": str(directory / "media_store"),
        "signing_key_path": str(key),
        "registration_shared_secret": SHARED_SECRET,
        "macaroon_secret_key": secrets.token_hex(16),
        "form_secret": secrets.token_hex(16),
        "report_stats": False,
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "enable_registration": False,
        "bcrypt_rounds": 4,
        "presence": {"enabled": False},
        "federation_domain_whitelist": [],
        "url_preview_enabled": False,
        **_RATE_LIMITS,
    }
    if appservices:
        config["app_service_config_files"] = [str(path) for path in appservices]
    path = directory / "homeserver.yaml"
    path.write_text(json.dumps(config, indent=1))  # JSON is YAML: no PyYAML needed here
    return path


@dataclass
class Synapse:
    directory: Path
    port: int
    pid: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def register(self, username: str, password: str, *, admin: bool = False) -> str:
        """Register a user through the admin shared-secret API; returns the full user id."""
        return register(self.url, username, password, admin=admin)

    def stop(self) -> None:
        stop(self.directory)


def _health(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def start(directory: Path, port: int | None = None, *, appservices: tuple[Path, ...] = ()) -> Synapse:
    if not installed():
        raise HarnessError(f"Synapse is not installed in {VENV}; run `{__file__} install`")
    port = port or free_port()
    config = write_config(directory, port, appservices)
    log = open(directory / "stdout.log", "ab")  # noqa: SIM115 - the child owns it from here
    process = subprocess.Popen(
        [str(_python()), "-m", "synapse.app.homeserver", "-c", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=directory,
        start_new_session=True,  # a Ctrl-C in the test run must not hit it before teardown does
    )
    log.close()
    (directory / "synapse.pid").write_text(str(process.pid))
    server = Synapse(directory, port, process.pid)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = (directory / "stdout.log").read_text(errors="replace")[-2000:]
            raise HarnessError(f"Synapse exited with {process.returncode} while starting:\n{tail}")
        if _health(server.url):
            return server
        time.sleep(0.05)
    stop(directory)
    raise HarnessError(f"Synapse did not answer /health within {START_TIMEOUT}s (see {directory})")


def stop(directory: Path, timeout: float = 15) -> None:
    pid_file = directory / "synapse.pid"
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pid_file.unlink()
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            finished, _ = os.waitpid(pid, os.WNOHANG)
            if finished:
                break
        except ChildProcessError:  # not our child (stopped from the command line): poll it
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)


def register(url: str, username: str, password: str, *, admin: bool = False) -> str:
    endpoint = f"{url}/_synapse/admin/v1/register"
    with urllib.request.urlopen(endpoint, timeout=10) as response:
        nonce = json.load(response)["nonce"]
    kind = b"admin" if admin else b"notadmin"
    mac = hmac.new(
        SHARED_SECRET.encode(),
        b"\0".join([nonce.encode(), username.encode(), password.encode(), kind]),
        hashlib.sha1,
    ).hexdigest()
    body = json.dumps(
        {"nonce": nonce, "username": username, "password": password, "admin": admin, "mac": mac}
    ).encode()
    request = urllib.request.Request(endpoint, body, {"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            user_id: str = json.load(response)["user_id"]
            return user_id
    except urllib.error.HTTPError as error:
        raise HarnessError(f"registering {username}: {error.code} {error.read()[:300]!r}") from None


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("install", "start", "stop"):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        if argv[0] == "install":
            print(f"synapse venv ready in {install():.1f}s: {VENV}")
        elif argv[0] == "start":
            server = start(Path(argv[1]).resolve(), int(argv[2]) if len(argv) > 2 else None)
            print(server.url)
        else:
            stop(Path(argv[1]).resolve())
    except (HarnessError, IndexError) as error:
        print(f"synapse.py: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
