"""Command -> reply latency through a real Synapse, next to Synapse's own client-to-client round trip.

    .venv/bin/python bench/matrix_latency.py [-n 100]

Starts a private Synapse (scripts/synapse/synapse.py: SQLite, loopback, rate limits lifted), then
in one process and one event loop measures, sequentially, as person A sees it:

  rtt        A sends a line; B, a bare matrix-nio client in a sync loop, answers each with a
             notice: Synapse's client-to-client round trip with the thinnest responder there is;
  rtt-long   the same, B answering with as much text as the bot's `#commands` answer (Synapse
             takes longer to store a longer event: this is the fair baseline for `outside`);
  outside    A sends `#commands` outside a meeting; the bot (build_app + MatrixAdapter, SQLite)
             answers without touching the database;
  meeting    C, not a chair, sends `#topic ...` in a meeting: the line is stored (committed to
             SQLite) before the refusal is sent, so this adds one durable write.

Both sides pay the same two hops (A -> Synapse -> responder's long-poll sync, responder ->
Synapse -> A's sync). Target: the bot's p50 within 1.2x the matching rtt p50.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nio import SyncResponse  # noqa: E402

from tests.matrix.conftest import Person, account, harness, new_user, ok, start_bot  # noqa: E402

LONG_ANSWER = [""]


async def echo(responder: Person, sender: str, room: str, *, overlap: bool) -> None:
    """B: answer every line of A's with a notice, as soon as B's sync hands it over.

    overlap=False: send, then sync again (the thinnest client). overlap=True: sync again at once
    while the answer is being sent, as the bot (and any client with a sync loop) does: on
    Synapse's SQLite, with its single database connection, the next sync's queries then delay
    the answer's write."""
    sends: set[asyncio.Task[Any]] = set()
    while True:
        response = await responder.client.sync(timeout=30_000)
        if not isinstance(response, SyncResponse):
            continue
        for event in (
            response.rooms.join.get(room, None).timeline.events if room in response.rooms.join else []
        ):
            source = event.source
            if source.get("sender") == sender and source.get("type") == "m.room.message":
                body = source["content"]["body"]
                # "long ..." lines are answered with as much text as the bot's #commands answer, so
                # that pair compares the same payload through Synapse.
                padding = f" {LONG_ANSWER[0]}" if body.startswith("long ") else ""
                content = {"msgtype": "m.notice", "body": f"pong {body}{padding}"}
                sending = responder.client.room_send(room, "m.room.message", content)
                if overlap:
                    task = asyncio.create_task(sending)
                    sends.add(task)
                    task.add_done_callback(sends.discard)
                else:
                    ok(await sending)


async def timed(
    person: Person, send: Callable[[], Awaitable[Any]], answered: Callable[[dict[str, Any]], bool]
) -> float:
    mark = len(person.events)
    started = time.perf_counter()
    await send()
    while True:
        if any(answered(event) for event in person.events[mark:]):
            return time.perf_counter() - started
        person._changed.clear()
        await asyncio.wait_for(person._changed.wait(), 10)


def summary(name: str, samples: list[float]) -> tuple[float, str]:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return p50, f"{name:8} n={len(ordered):4}  p50 {p50 * 1000:7.2f} ms  p99 {p99 * 1000:7.2f} ms"


async def run(n: int, tmp: Path, *, overlap: bool) -> None:
    started = time.perf_counter()
    harness.install()
    installed = time.perf_counter()
    synapse = harness.start(tmp / "synapse")
    up = time.perf_counter()
    print(f"echo client: {'syncs while it sends, as the bot does' if overlap else 'sends, then syncs'}")
    print(f"synapse: install/check {installed - started:.1f}s, start to /health {up - installed:.1f}s")
    a, b, c = await asyncio.gather(*(Person.login(synapse, name) for name in ("alice", "echo", "carol")))
    try:
        room = await a.create_room(public=True)
        await b.join(room)
        await c.join(room)
        bot_id = new_user(synapse, "meetbot")
        bot = await start_bot(account(synapse, bot_id, tmp / "state", [room]), tmp)
        # B answers with its own loop, so stop the Person's collecting loop for it.
        assert b._task is not None
        b._task.cancel()
        echoer = asyncio.create_task(echo(b, a.user_id, room, overlap=overlap))
        try:
            rounds: dict[str, list[float]] = {"rtt": [], "rtt-long": [], "outside": [], "meeting": []}

            def from_user(user: str, text: str) -> Callable[[dict[str, Any]], bool]:
                return lambda e: e.get("sender") == user and text in str(e.get("content", {}).get("body", ""))

            for i in range(3):  # warm-up: connections, caches, the first power-level lookup
                await timed(a, partial(a.send, room, f"warm {i}"), from_user(b.user_id, f"pong warm {i}"))
                await timed(a, partial(a.send, room, "#commands"), from_user(bot_id, "#"))
            LONG_ANSWER[0] = next(
                str(e["content"]["body"]) for e in reversed(a.events) if e.get("sender") == bot_id
            )
            # Interleaved, so a slow patch of the machine hits every series alike.
            for i in range(n):
                rounds["rtt-long"].append(
                    await timed(
                        a, partial(a.send, room, f"long {i}"), from_user(b.user_id, f"pong long {i} ")
                    )
                )
                rounds["rtt"].append(
                    await timed(a, partial(a.send, room, f"ping {i}"), from_user(b.user_id, f"pong ping {i}"))
                )
                rounds["outside"].append(
                    await timed(a, partial(a.send, room, "#commands"), from_user(bot_id, "#"))
                )
            await timed(a, partial(a.send, room, "#startmeeting bench"), from_user(bot_id, "Meeting started"))
            for i in range(n):
                rounds["rtt"].append(
                    await timed(
                        a, partial(a.send, room, f"again {i}"), from_user(b.user_id, f"pong again {i}")
                    )
                )
                rounds["meeting"].append(
                    await timed(
                        a,
                        partial(c.send, room, f"#topic t{i}"),
                        from_user(bot_id, "is for the meeting chairs"),
                    )
                )
        finally:
            echoer.cancel()
            await asyncio.gather(echoer, return_exceptions=True)
            await bot.stop()
        rtt50, line = summary("rtt", rounds["rtt"])
        print(line)
        long50, line = summary("rtt-long", rounds["rtt-long"])
        print(f"{line}  (the echo answers with as much text as the bot's #commands answer)")
        for name, base, base_name in (("outside", long50, "rtt-long"), ("meeting", rtt50, "rtt")):
            p50, line = summary(name, rounds[name])
            print(f"{line}  ratio to {base_name} p50 {p50 / base:.2f}x")
    finally:
        await asyncio.gather(*(person.close() for person in (a, b, c)), return_exceptions=True)
        synapse.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=100, help="round trips per series (default 100)")
    parser.add_argument(
        "--sequential-echo",
        action="store_true",
        help="the echo client sends before syncing again (see echo())",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="meetbot-bench-") as tmp:
        asyncio.run(run(args.n, Path(tmp), overlap=not args.sequential_echo))


if __name__ == "__main__":
    main()
