"""The config accepts what a homeserver really hands out, and the factory builds the adapter."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from meetbot.adapters.factory import build_adapters
from meetbot.adapters.matrix import MatrixAdapter
from meetbot.clock import SystemClock
from meetbot.config.schema import MatrixAccount

FIELDS = {"name": "mx", "type": "matrix", "homeserver": "https://hs.example", "user_id": "@bot:hs.example"}


@pytest.mark.parametrize(
    "room", ["!abc:hs.example", "!WFCrS-I5LN7AgYHNBOMcVYXQHtCeVbA7nEssdgGvkB0", "#m:hs.example"]
)
def test_room_ids_of_every_room_version_and_aliases(room: str) -> None:
    # Room version 12 ids (Synapse's default since 1.135) have no ":server" part.
    assert MatrixAccount.model_validate({**FIELDS, "password": "x", "rooms": [room]}).rooms == [room]


@pytest.mark.parametrize("room", ["meeting", "#meeting", "!", "!a b"])
def test_what_is_not_a_room(room: str) -> None:
    with pytest.raises(ValidationError):
        MatrixAccount.model_validate({**FIELDS, "password": "x", "rooms": [room]})


async def test_the_factory_builds_a_matrix_adapter(tmp_path: Path) -> None:
    account = MatrixAccount.model_validate({**FIELDS, "access_token": "t", "state_dir": str(tmp_path)})
    (adapter,) = build_adapters([account], SystemClock(), version="test")
    assert isinstance(adapter, MatrixAdapter)
    assert (adapter.network, adapter.bot_nick) == ("mx", "@bot:hs.example")
    await adapter.client.close()
