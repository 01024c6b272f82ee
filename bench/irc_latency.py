"""Command -> reply latency through a real IRC server, next to the server's own round trip.

    .venv/bin/python bench/irc_latency.py [-n 500]

Starts a private InspIRCd + Atheme (scripts/ircd/ircd.py) on loopback, then in one process
and one event loop measures, sequentially:

  rtt        person A says a line, a raw-socket echo client B answers it, A sees the answer:
             the server's client-to-client round trip with the thinnest possible responder;
  outside    A sends `#commands` outside a meeting, the bot answers (no database write);
  meeting    A sends a chair-only command as a non-chair in a meeting: refused, it changes
             nothing, so the refusal leaves before its line is stored (with the next group commit);
  stored     B, the chair, sends `#chair carol`: it changes the meeting, so its line is stored
             in SQLite (committed) before the answer is sent: one durable write more.

The bot is the real one (build_app + IrcAdapter with echo-message and TCP_QUICKACK) on a flood
budget too large to matter: this measures the reply path, not the flood pacing.
Target: p50 of the bot within 1.2x the rtt p50 plus 1 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from meetbot.adapters.irc import IrcAdapter  # noqa: E402
from meetbot.app import build_app  # noqa: E402
from meetbot.clock import SystemClock  # noqa: E402
from meetbot.config.schema import IrcNetwork, Settings  # noqa: E402
from tests.irc.conftest import harness, wait_until  # noqa: E402
from tests.irc.driver import Driver, Line  # noqa: E402

CHANNEL = "#bench"


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(
    sender: Driver, n: int, text: Callable[[int], str], is_reply: Callable[[Line, int], bool]
) -> list[float]:
    samples = []
    for i in range(n):
        mark = len(sender.lines)
        started = time.perf_counter()
        sender.say(CHANNEL, text(i))
        await sender.wait(lambda line, i=i: is_reply(line, i), after=mark)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def echo(client: Driver) -> None:
    """B: answer every `ping N` at once, straight from the read loop's latest line."""
    seen = 0
    while True:
        line = await client.wait(lambda x: x.command == "PRIVMSG" and x.text.startswith("ping "), after=seen)
        seen = client.lines.index(line, seen) + 1
        client.say(CHANNEL, "pong " + line.text[5:])


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        server = harness.IrcServer(tmp / "ircd")
        server.start()
        try:
            await run(server, tmp, n)
        finally:
            server.stop()


async def run(server: object, tmp: Path, n: int) -> None:
    port = server.ports.plain  # type: ignore[attr-defined]
    network = IrcNetwork.model_validate(
        {
            "name": "bench",
            "type": "irc",
            "host": "127.0.0.1",
            "port": port,
            "tls": False,
            "nick": "meetbot",
            "channels": [CHANNEL],
            "flood": {"burst": 1_000_000, "per_second": 1_000_000},
        }
    )
    settings = Settings.model_validate({"publish": {"dir": str(tmp / "minutes")}})
    adapter = IrcAdapter(network, SystemClock(), version="bench")
    app = await build_app(settings, [adapter], database_url=f"sqlite+aiosqlite:///{tmp / 'bench.db'}")
    bot = asyncio.create_task(app.run())
    alice, bob = await asyncio.gather(
        Driver.connect("127.0.0.1", port, "alice"), Driver.connect("127.0.0.1", port, "bob")
    )
    await wait_until(lambda: CHANNEL in adapter.joined, 10, "the bot to join")
    await asyncio.gather(alice.join(CHANNEL), bob.join(CHANNEL))
    echoer = asyncio.create_task(echo(bob))

    def from_bot(containing: str) -> Callable[[Line, int], bool]:
        return lambda line, i: (
            line.source == "meetbot" and line.command == "PRIVMSG" and containing in line.text
        )

    warmup = max(20, n // 10)
    results: dict[str, list[float]] = {}
    for name, text, reply in (
        ("rtt", lambda i: f"ping {i}", lambda line, i: line.source == "bob" and line.text == f"pong {i}"),
        ("outside", lambda i: "#commands", from_bot("")),
    ):
        await measure(alice, warmup, text, reply)
        results[name] = await measure(alice, n, text, reply)
    echoer.cancel()
    await measure(bob, 1, lambda i: "#startmeeting bench", from_bot("Meeting started"))
    await measure(alice, warmup, lambda i: "#agreed x", from_bot("is for the meeting chairs"))
    results["meeting"] = await measure(
        alice, n, lambda i: f"#agreed {i}", from_bot("is for the meeting chairs")
    )
    await measure(bob, warmup, lambda i: "#chair carol", from_bot("Current chairs"))
    results["stored"] = await measure(bob, n, lambda i: "#chair carol", from_bot("Current chairs"))
    await measure(bob, 1, lambda i: "#endmeeting", from_bot("Meeting ended"))
    # A second rtt run after the bot's, so drift on a busy machine shows up.
    echoer = asyncio.create_task(echo(bob))
    results["rtt2"] = await measure(alice, n, lambda i: f"ping {i}", lambda line, i: line.text == f"pong {i}")
    echoer.cancel()

    rtt = statistics.median(results["rtt"] + results["rtt2"])
    target = 1.2 * rtt + 1.0
    print(f"n={n} per series (after {warmup} warm-up); milliseconds")
    print(f"{'series':<10}{'p50':>9}{'p99':>9}{'p50/rtt':>9}")
    for name, samples in results.items():
        p50, p99 = statistics.median(samples), percentile(samples, 0.99)
        print(f"{name:<10}{p50:>9.3f}{p99:>9.3f}{p50 / rtt:>9.2f}")
    for name in ("outside", "meeting", "stored"):
        p50 = statistics.median(results[name])
        verdict = "OK" if p50 <= target else "MISSED"
        print(f"target for {name}: p50 {p50:.3f} <= 1.2 x {rtt:.3f} + 1 = {target:.3f} ms: {verdict}")
    bot.cancel()
    await asyncio.gather(bot, return_exceptions=True)
    await asyncio.gather(alice.close(), bob.close())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=500)
    asyncio.run(main(parser.parse_args().n))
