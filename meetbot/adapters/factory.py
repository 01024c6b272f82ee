"""Adapters from the configured networks, for `meetbot run`.

Takes the config models structurally (adapters may not import meetbot.config): anything with
`type` and `name`, plus whatever fields that network type's adapter reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, cast

if TYPE_CHECKING:
    from meetbot.adapters.base import Adapter
    from meetbot.adapters.irc import IrcConfig
    from meetbot.clock import Clock


class NetworkConfig(Protocol):
    @property
    def type(self) -> str: ...
    @property
    def name(self) -> str: ...


class UnsupportedNetworkError(ValueError):
    pass


def build_adapters(networks: Sequence[NetworkConfig], clock: Clock, *, version: str) -> list[Adapter]:
    adapters: list[Adapter] = []
    unsupported = sorted({network.type for network in networks if network.type not in ("irc", "matrix")})
    if unsupported:
        raise UnsupportedNetworkError(
            f"this build has no adapter yet for network type(s) {', '.join(unsupported)}"
        )
    for network in networks:
        if network.type == "matrix":
            adapters.append(build_matrix_adapter(network))
            continue
        adapters.append(build_irc_adapter(network, clock, version=version))
    return adapters


def build_irc_adapter(network: NetworkConfig, clock: Clock, *, version: str) -> Adapter:
    # Imported here, like matrix-nio below: a Matrix-only deployment need not load jaraco irc.
    from .irc import IrcAdapter  # noqa: PLC0415

    # The config schema validated every field IrcConfig names; the cast only tells mypy.
    return IrcAdapter(cast("IrcConfig", network), clock, version=version)


def build_matrix_adapter(network: NetworkConfig) -> Adapter:
    # Imported here: an IRC-only deployment need not load matrix-nio (and its aiohttp) at all.
    from .matrix import MatrixAdapter, MatrixConfig  # noqa: PLC0415

    # The config schema validated every field MatrixConfig names; the cast only tells mypy.
    return MatrixAdapter(cast(MatrixConfig, network))
