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

Each line also shows `server`: the answer's origin_server_ts minus the line's (Synapse's clock),
i.e. the responder's share; the rest is A's send and the delivery of the answer to A.

The echo leaves the bot's commands (`#...`) alone, so every line gets exactly one answer, as in
the rtt series. Answering them too raced the bot: Synapse stores a room's events one after the
other, so the bot's reply waited behind the echo's pong and reached A a sync later (34 of 40
rounds, `outside` 1.27x); when the bot won instead, the late pong delayed the next `rtt-long`
round. --echo-commands brings that back, to compare.
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


async def echo(responder: Person, sender: str, room: str, *, overlap: bool, commands: bool) -> None:
    """B: answer every line of A's (but the bot's commands, unless `commands`) with a notice, as
    soon as B's sync hands it over.

    overlap=False: send, then sync again (the thinnest client; also the bot's order, whose sync
    loop moves on only once the batch is handled, answers sent). overlap=True: sync again at
    once while the answer is being sent, as many clients with a sync loop do: on Synapse's
    SQLite, with its single database connection, the next sync's queries then delay the
    answer's write."""
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
                if body.startswith("#") and not commands:
                    continue
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
    person: Person,
    send: Callable[[], Awaitable[str]],
    answered: Callable[[dict[str, Any]], bool],
    server: list[float] | None = None,
) -> float:
    """Seconds from sending the line to seeing the answer; `server` gets the answer's
    origin_server_ts minus the line's."""
    mark = len(person.events)
    started = time.perf_counter()
    line_id = await send()
    while True:
        answer = next((event for event in person.events[mark:] if answered(event)), None)
        if answer is not None:
            elapsed = time.perf_counter() - started
            line = next((event for event in person.events[mark:] if event.get("event_id") == line_id), None)
            if server is not None and line is not None:
                server.append((answer["origin_server_ts"] - line["origin_server_ts"]) / 1000)
            return elapsed
        person._changed.clear()
        await asyncio.wait_for(person._changed.wait(), 10)


def summary(name: str, samples: list[float], server: list[float]) -> tuple[float, str]:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    split = f"server p50 {statistics.median(server) * 1000:6.1f} ms" if server else "server -"
    return p50, f"{name:8} n={len(ordered):4}  p50 {p50 * 1000:7.2f} ms  p99 {p99 * 1000:7.2f} ms  {split}"


async def run(n: int, tmp: Path, *, overlap: bool, echo_commands: bool = False) -> None:
    started = time.perf_counter()
    harness.install()
    installed = time.perf_counter()
    synapse = harness.start(tmp / "synapse")
    up = time.perf_counter()
    print(f"echo client: {'syncs while it sends' if overlap else 'sends, then syncs'}", end="")
    print(", also answers the bot's commands" if echo_commands else "")
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
        echoer = asyncio.create_task(echo(b, a.user_id, room, overlap=overlap, commands=echo_commands))
        try:
            rounds: dict[str, list[float]] = {"rtt": [], "rtt-long": [], "outside": [], "meeting": []}
            server: dict[str, list[float]] = {name: [] for name in rounds}

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
                        a,
                        partial(a.send, room, f"long {i}"),
                        from_user(b.user_id, f"pong long {i} "),
                        server["rtt-long"],
                    )
                )
                rounds["rtt"].append(
                    await timed(
                        a,
                        partial(a.send, room, f"ping {i}"),
                        from_user(b.user_id, f"pong ping {i}"),
                        server["rtt"],
                    )
                )
                rounds["outside"].append(
                    await timed(
                        a, partial(a.send, room, "#commands"), from_user(bot_id, "#"), server["outside"]
                    )
                )
            await timed(a, partial(a.send, room, "#startmeeting bench"), from_user(bot_id, "Meeting started"))
            for i in range(n):
                rounds["rtt"].append(
                    await timed(
                        a,
                        partial(a.send, room, f"again {i}"),
                        from_user(b.user_id, f"pong again {i}"),
                        server["rtt"],
                    )
                )
                rounds["meeting"].append(
                    await timed(
                        a,
                        partial(c.send, room, f"#topic t{i}"),
                        from_user(bot_id, "is for the meeting chairs"),
                        server["meeting"],
                    )
                )
        finally:
            echoer.cancel()
            await asyncio.gather(echoer, return_exceptions=True)
            await bot.stop()
        rtt50, line = summary("rtt", rounds["rtt"], server["rtt"])
        print(line)
        long50, line = summary("rtt-long", rounds["rtt-long"], server["rtt-long"])
        print(f"{line}  (the echo answers with as much text as the bot's #commands answer)")
        for name, base, base_name in (("outside", long50, "rtt-long"), ("meeting", rtt50, "rtt")):
            p50, line = summary(name, rounds[name], server[name])
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
    parser.add_argument(
        "--echo-commands",
        action="store_true",
        help="the echo also answers the lines meant for the bot, racing its answers (see echo())",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="meetbot-bench-") as tmp:
        asyncio.run(
            run(args.n, Path(tmp), overlap=not args.sequential_echo, echo_commands=args.echo_commands)
        )


if __name__ == "__main__":
    main()
