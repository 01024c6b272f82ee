"""Where a command's reply spends its time: the legs through the server and the bot's own steps.

    .venv/bin/python bench/reply_legs.py [-n 500]

bench/run times `#agreed` (a usage reply) from the driver's send to the answer's arrival, next to
the server's client-to-client round trip. This splits that time. meetbot runs in a process of its
own (as in bench/run, same config) under a thin wrapper that notes, for each probe, when its
bytes reached the bot (the socket's read callback), when the IRC parser got them, when the
dispatcher got the line, when the service began handling it and when the reply was written to the
socket. Both processes read CLOCK_MONOTONIC (time.perf_counter on Linux), so the driver's send
and receive times line up with the bot's. Probes go back to back, as in bench/run.

Prints p10 / p50 / p90 in microseconds of: send -> bot read, each step in the bot, bot write ->
received, the whole reply, and the server's round trip (two clients, one answering from its read
loop) measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import bisect
import itertools
import json
import signal
import subprocess
import sys
import tempfile
import time
from asyncio import selector_events
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT), str(ROOT / "scripts" / "ircd")]

import ircd  # noqa: E402
from compare import server_rtt  # noqa: E402
from ircwire import Client  # noqa: E402

from meetbot import dispatch, service  # noqa: E402
from meetbot.adapters.irc import wire  # noqa: E402
from meetbot.cli import main as meetbot_main  # noqa: E402

PROBE, REPLY = "#agreed", "Usage: #agreed"
STEPS = ("read", "parsed", "dispatched", "handling", "write")


def traced_bot(config: str, marks_path: str) -> None:
    """In the bot's process: patch the five points, run `meetbot run -c config`, dump at exit."""
    marks: list[tuple[str, float]] = []
    entered = [0.0]
    transport = selector_events._SelectorSocketTransport
    read_ready, write = transport._read_ready__data_received, transport.write
    process_data, submit, handle = (
        wire.FastConnection.process_data,
        dispatch.Dispatcher.submit,
        service.MeetingService.handle,
    )

    def traced_read_ready(self: object) -> None:
        entered[0] = time.perf_counter()
        read_ready(self)

    def traced_write(self: object, data: bytes) -> None:
        if REPLY.encode() in data:
            marks.append(("write", time.perf_counter()))
        write(self, data)

    def traced_process_data(self: object, data: bytes) -> None:
        if PROBE.encode() in data:
            marks.append(("read", entered[0]))
            marks.append(("parsed", time.perf_counter()))
        process_data(self, data)

    def traced_submit(self: object, message: object) -> object:
        if getattr(message, "text", None) == PROBE:
            marks.append(("dispatched", time.perf_counter()))
        return submit(self, message)

    async def traced_handle(self: object, message: object) -> None:
        if getattr(message, "text", None) == PROBE:
            marks.append(("handling", time.perf_counter()))
        await handle(self, message)

    transport._read_ready__data_received = traced_read_ready
    transport.write = traced_write
    wire.FastConnection.process_data = traced_process_data
    dispatch.Dispatcher.submit = traced_submit
    service.MeetingService.handle = traced_handle
    atexit.register(lambda: Path(marks_path).write_text(json.dumps(marks)))
    sys.exit(meetbot_main(["run", "-c", config]))


def spread(samples: list[float]) -> str:
    ordered = sorted(samples)
    return " / ".join(f"{ordered[int(q * (len(ordered) - 1))] * 1e6:7.1f}" for q in (0.1, 0.5, 0.9))


def measure(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        work = Path(tmp_name)
        server = ircd.IrcServer(work / "ircd", profile="bench")
        server.start()
        bot: subprocess.Popen[bytes] | None = None
        try:
            port = server.ports.plain
            config, marks_path = work / "meetbot.yaml", work / "marks.json"
            config.write_text(
                f"""\
log_level: WARNING
database: {{url: "sqlite+aiosqlite:///{work / "meetbot.db"}"}}
publish: {{dir: "{work / "minutes"}"}}
networks:
  - {{name: bench, type: irc, host: 127.0.0.1, port: {port}, tls: false, nick: meetbot,
     flood: {{burst: 1000000, per_second: 1000000.0}}, channels: ["#bench"]}}
plugins:
  meeting: {{set_channel_topic: false}}
"""
            )
            meetbot = str(ROOT / ".venv" / "bin" / "meetbot")
            subprocess.run([meetbot, "db", "upgrade", "-c", str(config)], check=True, capture_output=True)
            bot = subprocess.Popen([sys.executable, __file__, "--bot", str(config), str(marks_path)])
            warmup = max(20, n // 5)
            sent, rtt = asyncio.run(drive(port, warmup + n))
            bot.send_signal(signal.SIGINT)
            bot.wait(30)
            marks = json.loads(marks_path.read_text())
        finally:
            if bot is not None and bot.poll() is None:
                bot.kill()
            server.stop()
    report(sent[warmup:], marks, rtt)


async def drive(port: int, probes: int) -> tuple[list[tuple[float, float]], list[float]]:
    """(send, answer) times of each probe, then the server's round trips (ms)."""
    alice = Client("alice")
    await alice.connect(port)
    joined = alice.expect(lambda m: m.command == "JOIN" and m.source == "meetbot")
    await alice.join(["#bench"])
    await asyncio.wait_for(joined, 30)
    started = alice.expect(lambda m: m.command == "PRIVMSG" and "Meeting started" in m.text)
    alice.say("#bench", "#startmeeting legs")
    await asyncio.wait_for(started, 10)
    sent: list[tuple[float, float]] = []
    for _ in range(probes):
        answer = alice.expect(lambda m: m.command == "PRIVMSG" and REPLY in m.text)
        at = time.perf_counter()
        alice.say("#bench", PROBE)
        sent.append((at, (await asyncio.wait_for(answer, 10)).at))
    rtt = await server_rtt(port, probes)
    await alice.close()
    return sent, rtt


def report(sent: list[tuple[float, float]], marks: list[tuple[str, float]], rtt_ms: list[float]) -> None:
    """Each probe's marks are the bot's last of each step between its send and its answer."""
    marks = sorted(marks, key=lambda mark: mark[1])
    times = [t for _, t in marks]
    legs: dict[str, list[float]] = {}
    for at, answered in sent:
        window = marks[bisect.bisect_left(times, at) : bisect.bisect_right(times, answered)]
        seen = dict(window)
        if not all(step in seen for step in STEPS):
            continue
        points = [("send", at), *((step, seen[step]) for step in STEPS), ("received", answered)]
        for (a, ta), (b, tb) in itertools.pairwise(points):
            legs.setdefault(f"{a} -> {b}", []).append(tb - ta)
        legs.setdefault("whole reply", []).append(answered - at)
    counted = len(legs.get("whole reply", []))
    print(f"{counted} probes back to back, p10 / p50 / p90 in us")
    for name, samples in legs.items():
        print(f"  {name:<26}{spread(samples)}")
    print(f"  {'server round trip':<26}{spread([ms / 1000 for ms in rtt_ms])}")


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--bot":
        traced_bot(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=500, help="probes measured (a fifth more warm up)")
    measure(parser.parse_args().n)


if __name__ == "__main__":
    main()
