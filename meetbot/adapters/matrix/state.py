"""The adapter's own small state on disk: the login (so a restart reuses its device instead of
creating a new one each time) and the sync position (so a restart carries on where it left)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Credentials:
    homeserver: str
    user_id: str
    device_id: str
    access_token: str


class StateDir:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load_credentials(self, homeserver: str, user_id: str) -> Credentials | None:
        data = self._read("credentials.json")
        if data is None:
            return None
        try:
            credentials = Credentials(**data)
        except TypeError:
            return None
        # A config pointed at another account or server must not reuse this token.
        if (credentials.homeserver, credentials.user_id) != (homeserver, user_id):
            return None
        return credentials

    def save_credentials(self, credentials: Credentials) -> None:
        self._write("credentials.json", _asdict(credentials), secret=True)

    def forget_credentials(self) -> None:
        (self.path / "credentials.json").unlink(missing_ok=True)

    def load_next_batch(self) -> str | None:
        data = self._read("sync.json")
        token = data.get("next_batch") if data else None
        return token if isinstance(token, str) else None

    def save_next_batch(self, token: str) -> None:
        # No fsync: a token lost in a crash only makes the next start fetch a batch again, which
        # the core drops by event id; an fsync per sync would cost every reply ~10 ms.
        self._write("sync.json", {"next_batch": token}, durable=False)

    def _read(self, name: str) -> dict[str, Any] | None:
        try:
            data = json.loads((self.path / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _write(self, name: str, data: dict[str, Any], *, secret: bool = False, durable: bool = True) -> None:
        # Write-then-rename: a crash mid-write leaves the old file, never half of a new one.
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = self.path / f".{name}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        descriptor = os.open(temporary, flags, 0o600 if secret else 0o644)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temporary, self.path / name)


def _asdict(credentials: Credentials) -> dict[str, Any]:
    return {
        "homeserver": credentials.homeserver,
        "user_id": credentials.user_id,
        "device_id": credentials.device_id,
        "access_token": credentials.access_token,
    }
