"""meetbot next to its peers on one InspIRCd, one bot after another, in one run.

    .venv/bin/python bench/compare.py [--quick] [--repeats N] [--bots ours-sqlite,ours-pg,hcoop,sopel,null]

(`bench/run` is the entry point: it checks the servers and peers first.) The driver is stdlib
asyncio (bench/ircwire.py): the same scripted meetings, played by the same clients, against
each bot. Per repeat and per bot it measures:

  latency   the chair's `#agreed` without its argument in a running meeting -> the bot's
            one-line answer (meetbot "Usage: ...", Sopel "Try ...", hcoop "Unknown command");
            for meetbot also `#chair carol`, a command that changes the meeting, whose line
            it stores before it answers (it answers the first at once: it changes nothing);
  logging   the highest offered rate (lines/s) at which every probe's reply comes back within
            1 s (and, for meetbot, every line is in its database within 1 s of the last
            probe), in one channel and spread over 100 channels with a meeting in each;
  publish   `#endmeeting` -> the bot's last announcement, for meetings of 1,000 and 10,000 lines
            (a meeting of up to 1,000 lines is held and ended PUBLISH_TIMES times, the median
            kept: one such end takes tens of milliseconds, where one slow moment shows);
  memory    resident set joined to 1,000 channels, then per meeting opened in 100 of them;
  start-up  spawn -> the bot's JOIN seen by a client, for one channel and for all 101.

and, in the same run, the server's own client-to-client round trip (one client says a line,
another answers it from its read loop). Each figure is the median over repeats (min-max shown);
ratios are ours / peer and ours / server round trip. The null bot (bench/nullbot.py: answers
the probes, logs nothing) goes through the same scenarios as the harness's own ceiling: it has a
column in the table, never a place in the ratios or targets. Results: a Markdown report
(bench/RESULTS.md in full mode) and the raw samples as JSON next to it.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT / "scripts" / "ircd")]

import ircd  # noqa: E402
from bots import CACHE, Bot, all_bots  # noqa: E402
from ircwire import Client, Msg, Predicate  # noqa: E402

MAIN = "#bench"
MULTI = [f"#c{i:03d}" for i in range(100)]
MANY = [f"#m{i:04d}" for i in range(1000)]
LAG_LIMIT = 1.0  # seconds: a bot "keeps up" while every probe is answered within this
VERBOSE = bool(os.environ.get("BENCH_VERBOSE"))  # a line per logging step: which lag decided it
DRIVER_BATCH = 2000  # lines the logging step writes before it looks at its clock and probes again
WORDS = [
    *("the", "release", "branch", "needs", "tests", "and", "docs", "before", "friday"),
    *("so", "please", "review", "the", "open", "changes"),
]


@dataclass
class Options:
    quick: bool
    repeats: int
    latency_n: int
    publish_sizes: list[int]
    step_seconds: float
    ramp_steps: int
    memory_meetings: int
    bots: list[str]
    out: Path
    render: Path | None = None  # only re-render the report from this saved .json
    out_given: bool = False


# How many meetings of up to 1,000 lines each repeat publishes (see the module doc).
PUBLISH_TIMES = 3


def script_line(i: int) -> str:
    """The meeting everyone gets: every 10th line an #info, every 50th an #action, else chatter."""
    words = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(8))
    if i % 50 == 49:
        return f"#action bob to {words} ({i})"
    if i % 10 == 9:
        return f"#info {words} ({i})"
    return f"line {i}: {words}"


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# -- the server's own round trip ---------------------------------------------------------------


def privmsg_equal(text: str) -> Predicate:
    return lambda m: m.command == "PRIVMSG" and m.text == text


async def server_rtt(port: int, n: int) -> list[float]:
    """A says `ping i` in a channel; B answers straight from its read loop; A times it (ms)."""
    a, b = Client("rtta"), Client("rttb")
    await asyncio.gather(a.connect(port), b.connect(port))
    await asyncio.gather(a.join(["#rtt"]), b.join(["#rtt"]))

    def echo(m: Msg) -> None:
        if m.command == "PRIVMSG" and m.text.startswith("ping "):
            b.say("#rtt", "pong " + m.text[5:])

    b.watch.append(echo)
    samples = []
    for i in range(n + n // 5):  # the first fifth warms up
        reply = a.expect(privmsg_equal(f"pong {i}"))
        sent = time.perf_counter()
        a.say("#rtt", f"ping {i}")
        got = await asyncio.wait_for(reply, 10)
        if i >= n // 5:
            samples.append((got.at - sent) * 1000)
    await asyncio.gather(a.close(), b.close())
    return samples


# -- one bot's session ---------------------------------------------------------------------------


class BotRun:
    """A started bot and the driver's chair, alice. Her probe is `#agreed` without an argument,
    the one command all three bots answer with one line in a meeting (meetbot "Usage: #agreed
    <decision>", Sopel "Try `#agreed ...`", hcoop "Unknown command: #agreed"). It travels on the
    same connection as the lines she feeds, so the server cannot reorder it ahead of them: its
    answer proves the bot has worked through every line sent before it."""

    def __init__(self, bot: Bot, port: int, tag: str) -> None:
        self.bot, self.port, self.tag = bot, port, tag
        self.alice = Client("alice")
        self.joins: dict[str, float] = {}
        self._meetings = 0
        # Probe answers are matched per channel, oldest first: answers carry no id, and meetbot
        # works each channel on its own queue, so only the order within a channel is defined.
        self._probes: dict[str, deque[asyncio.Future[float]]] = defaultdict(deque)

    def from_bot(self, m: Msg) -> bool:
        return m.source == self.bot.nick and m.command == "PRIVMSG"

    def said_in(self, channel: str, lowered: str) -> Predicate:
        """The bot said something containing `lowered` (case-insensitively) in `channel`."""
        folded = channel.lower()
        return lambda m: self.from_bot(m) and m.target.lower() == folded and lowered in m.text.lower()

    async def connect(self, channels: list[str]) -> None:
        await self.alice.connect(self.port)
        await self.alice.join(channels)

        def joined(m: Msg) -> None:
            if m.command == "JOIN" and m.source == self.bot.nick:
                self.joins.setdefault(m.target.lower(), m.at)

        def probe_answer(m: Msg) -> None:
            if self.from_bot(m) and self.bot.probe_reply in m.text:
                queue = self._probes.get(m.target.lower())
                if queue:
                    future = queue.popleft()
                    if not future.done():
                        future.set_result(m.at)

        self.alice.watch.append(joined)
        self.alice.watch.append(probe_answer)

    async def start_bot(self, work: Path, channels: list[str], limit: float = 180) -> dict[str, float]:
        spawned = self.bot.start(work, self.port, channels)
        wanted = {c.lower() for c in channels}
        deadline = time.monotonic() + limit
        while not wanted <= self.joins.keys():
            if not self.bot.alive():
                raise RuntimeError(f"{self.bot.key} exited:\n{self.bot.log_tail()}")
            if time.monotonic() > deadline:
                missing = len(wanted - self.joins.keys())
                raise RuntimeError(f"{self.bot.key}: {missing} channels not joined:\n{self.bot.log_tail()}")
            await asyncio.sleep(0.01)
        return {
            "first": self.joins[channels[0].lower()] - spawned,
            "all": max(self.joins[c.lower()] for c in channels) - spawned,
        }

    def probe(self, channel: str) -> tuple[float, asyncio.Future[float]]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._probes[channel.lower()].append(future)
        sent = time.perf_counter()
        self.alice.say(channel, "#agreed")
        return sent, future

    async def sync(self, channel: str, limit: float = 600) -> float:
        """Seconds until the bot answers a probe: it has worked through everything before it."""
        sent, future = self.probe(channel)
        return await asyncio.wait_for(future, limit) - sent

    async def start_meetings(self, channels: list[str]) -> None:
        started = []
        for channel in channels:
            self._meetings += 1
            started.append(self.alice.expect(self.said_in(channel, "meeting started")))
            # A unique name: Sopel names files by title and minute, so equal titles would append.
            self.alice.say(channel, f"#startmeeting bench {self.tag} {self._meetings}")
        await asyncio.wait_for(asyncio.gather(*started), 120)
        for channel in channels:
            self.alice.say(channel, f"{self.bot.topic_command} the benchmark")
        await asyncio.gather(*(self.sync(c) for c in channels))

    async def end_meeting(self, channel: str) -> float:
        done = self.alice.expect(
            lambda m: self.from_bot(m) and m.target.lower() == channel.lower() and self.bot.end_reply(m.text)
        )
        sent = time.perf_counter()
        self.alice.say(channel, "#endmeeting")
        return (await asyncio.wait_for(done, 600)).at - sent

    async def close(self) -> None:
        await self.alice.close()


# -- figures -------------------------------------------------------------------------------------


async def latency(run: BotRun, n: int) -> list[float]:
    for _ in range(max(20, n // 5)):
        await run.sync(MAIN, 10)
    return [await run.sync(MAIN, 10) * 1000 for _ in range(n)]


async def latency_stored(run: BotRun, n: int) -> list[float]:
    """The bot's `stored_probe`: a command that changes the meeting, so meetbot stores its
    line before it answers (the `#agreed` probe is answered without waiting: it changes nothing)."""
    assert run.bot.stored_probe is not None
    command, reply = run.bot.stored_probe
    samples = []
    for i in range(max(20, n // 5) + n):
        answered = run.alice.expect(run.said_in(MAIN, reply.lower()))
        sent = time.perf_counter()
        run.alice.say(MAIN, command)
        lag = (await asyncio.wait_for(answered, 10)).at - sent
        if i >= max(20, n // 5):
            samples.append(lag * 1000)
    return samples


async def feed(run: BotRun, channel: str, lines: int, batch: int = 200) -> None:
    """Write the meeting in batches, each followed by a probe the bot must answer: the bot is
    never more than one batch behind, whatever its speed."""
    for start in range(0, lines, batch):
        await run.alice.send_paced(
            [f"PRIVMSG {channel} :{script_line(i)}" for i in range(start, min(lines, start + batch))]
        )
        await run.sync(channel)


async def publish(run: BotRun, lines: int, batch: int = 200) -> float:
    await run.start_meetings([MAIN])
    stored = await stored_settled(run)
    await feed(run, MAIN, lines, batch)
    if stored is not None:
        # meetbot answers a probe before the lines ahead of it are stored (it changes nothing):
        # #endmeeting must find them written, as for the peers it finds them in memory, or
        # this would time the end of the logging too. Fed lines, probes and their answers.
        await stored_lag(run, stored + lines + 2 * -(-lines // batch), time.perf_counter())
    before = time.time() - 0.01  # the file system's clock may round down
    seconds = await run.end_meeting(MAIN)
    if not run.bot.published_since(before):
        raise RuntimeError(f"{run.bot.key}: #endmeeting announced, but no new file was written")
    return seconds


async def offered_step(run: BotRun, channels: list[str], rate: float, seconds: float) -> float:
    """Offer `rate` lines/s round-robin over `channels` for `seconds`, probing every 0.25 s.
    Returns the worst lag in seconds: of the probes' answers and, for a bot that stores lines
    as they come (meetbot), of the last line's reaching the database after the last probe.

    A step stops offering as soon as a probe is LAG_LIMIT late (it has failed): every line
    offered after that only lengthens the backlog the next step waits for (the null bot's
    failed steps left minutes of it, drained at InspIRCd's pace for a flooded client)."""
    stored_before = run.bot.stored_lines()
    loop_start = time.perf_counter()
    sent = 0
    probes: list[tuple[float, asyncio.Future[float]]] = []
    next_probe = loop_start
    line_no = 0
    gave_up = False
    while True:
        now = time.perf_counter()
        elapsed = now - loop_start
        if elapsed >= seconds:
            break
        if any(now - sent_at > LAG_LIMIT and not answer.done() for sent_at, answer in probes):
            gave_up = True
            break
        owed = int(rate * elapsed) - sent
        # At most DRIVER_BATCH lines before the clock and the probes are looked at again: a
        # driver behind its own schedule (the null bot showed it: paced writes top out near
        # 10^5 lines/s) would otherwise write a step's whole backlog in one go, the step would
        # run for minutes, and the probes, sent only after it, would not see the backlog.
        due = min(owed, DRIVER_BATCH)
        if due > 0:
            out = []
            for _ in range(due):
                channel = channels[line_no % len(channels)]
                out.append(f"PRIVMSG {channel} :{script_line(line_no)}")
                line_no += 1
            await run.alice.send_paced(out)
            sent += due
        if now >= next_probe:
            probes.append(run.probe(channels[len(probes) % len(channels)]))
            next_probe += 0.25
        if owed <= DRIVER_BATCH:  # behind schedule: write on, as one send_paced did before
            await asyncio.sleep(0.005)
    probes.append(run.probe(channels[len(probes) % len(channels)]))
    # Lines the driver still owed at the end count as lag too (seconds of the offered rate):
    # a rate the harness cannot offer must not pass as one the bot sustains. (A step given up
    # has failed on a late probe already.)
    owed = 0.0 if gave_up else max(0.0, int(rate * seconds) - sent) / rate
    lags = [await asyncio.wait_for(future, 900) - sent_at for sent_at, future in probes]
    # (Waiting however long it takes: the next step must start on a drained bot.)
    stored = 0.0
    if stored_before is not None:
        # meetbot answers the probe (a usage line: it changes nothing) without waiting for the
        # lines before it to be stored; keeping up means storing them too. Every line offered,
        # every probe and every answer to one is a line of the log.
        stored = await stored_lag(run, stored_before + sent + 2 * len(probes), probes[-1][0])
    if VERBOSE:
        slowest = sorted(range(len(lags)), key=lags.__getitem__)[-3:]
        print(
            f"    {run.bot.key} {len(channels)} ch, {rate:,.0f} lines/s: probes worst "
            + ", ".join(f"{lags[i]:.3f} s (#{i})" for i in reversed(slowest))
            + f" of {len(lags)}; stored {stored:.3f} s; driver owed {owed:.3f} s"
            + (f"; given up after {sent:,} lines" if gave_up else ""),
            flush=True,
        )
    return max(owed, stored, *lags)


async def stored_settled(run: BotRun) -> int | None:
    """The bot's stored line count once it has stopped moving (None: it stores none)."""
    stored = run.bot.stored_lines()
    while stored is not None:
        await asyncio.sleep(0.1)
        now = run.bot.stored_lines()
        if now == stored:
            break
        stored = now
    return stored


async def stored_lag(run: BotRun, expected: int, since: float, limit: float = 60) -> float:
    """Seconds from `since` until the bot's database holds `expected` lines."""
    while (stored := run.bot.stored_lines() or 0) < expected:
        if time.perf_counter() - since > limit:
            print(f"!! {run.bot.key}: {stored} of {expected} lines stored after {limit} s", flush=True)
            return limit
        await asyncio.sleep(0.005)
    return time.perf_counter() - since


async def sustained(run: BotRun, channels: list[str], opts: Options) -> dict[str, float]:
    """The highest offered rate with every probe answered within LAG_LIMIT, found by a short
    search: a burst estimates the bot's throughput, then steps go up x1.5 from 60% of it until
    one fails, then bisect. Each step lasts long enough that falling behind by more than
    1/step_seconds of the rate shows as over a second of lag."""
    burst = 300 if opts.quick else 1000
    started = time.perf_counter()
    await run.alice.send_paced(
        [f"PRIVMSG {channels[i % len(channels)]} :{script_line(i)}" for i in range(burst)]
    )
    await run.sync(channels[-1])
    estimate = burst / (time.perf_counter() - started)
    await asyncio.gather(*(run.sync(c) for c in channels))
    rate, passed, failed = max(20.0, 0.6 * estimate), 0.0, 0.0
    for _ in range(opts.ramp_steps):
        worst = await offered_step(run, channels, rate, opts.step_seconds)
        if worst <= LAG_LIMIT:
            passed = rate
        else:
            failed = rate
        if failed and passed and failed / passed < 1.12:
            break
        rate = (passed + failed) / 2 if failed and passed else (rate * 1.5 if not failed else rate / 2)
    # The lowest failing rate, 0 if every step passed: then "rate" is where the ramp stopped,
    # a lower bound of the bot's (or, for the null bot, the harness's) ceiling.
    return {"rate": passed, "burst": estimate, "failed": failed}


async def memory(bot: Bot, port: int, work: Path, opts: Options, tag: str) -> dict[str, float]:
    """RSS joined to 1,000 channels, then the growth per meeting opened in `memory_meetings` of them."""
    carol = Client("carol")
    await carol.connect(port)
    await carol.join(MANY, 120)
    joins: dict[str, float] = {}
    started_in: set[str] = set()

    def watch(m: Msg) -> None:
        if m.source != bot.nick:
            return
        if m.command == "JOIN":
            joins.setdefault(m.target.lower(), m.at)
        elif m.command == "PRIVMSG" and "meeting started" in m.text.lower():
            started_in.add(m.target.lower())

    carol.watch.append(watch)
    spawned = bot.start(work, port, MANY)
    try:
        deadline = time.monotonic() + 300
        while len(joins) < len(MANY):
            if not bot.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{bot.key}: joined {len(joins)} of {len(MANY)}:\n{bot.log_tail()}")
            await asyncio.sleep(0.05)
        joined_all = max(joins.values()) - spawned
        await asyncio.sleep(2 if opts.quick else 5)  # let start-up garbage settle
        base = bot.rss()
        chosen = MANY[: opts.memory_meetings]
        opening = []
        for i, channel in enumerate(chosen):
            opening.append(f"PRIVMSG {channel} :#startmeeting mem {tag} {i}")
            opening += [f"PRIVMSG {channel} :{script_line(k)}" for k in range(10)]
        await carol.send_paced(opening)
        deadline = time.monotonic() + 120
        while len(started_in) < len(chosen):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{bot.key}: {len(started_in)} of {len(chosen)} meetings started")
            await asyncio.sleep(0.05)
        await asyncio.sleep(2 if opts.quick else 5)  # the 10 lines after each start
        after = bot.rss()
    finally:
        bot.stop()
        await carol.close()
    return {
        "rss_1000": base / 2**20,
        "per_meeting_kib": (after - base) / len(chosen) / 1024,
        "join_1000": joined_all,
    }


async def session(bot: Bot, port: int, work: Path, opts: Options, tag: str) -> dict[str, float]:
    """Scenario A: start-up, latency, publishing, logging. One bot process, 101 channels."""
    run = BotRun(bot, port, tag)
    channels = [MAIN, *MULTI]
    await run.connect(channels)
    figures: dict[str, float] = {}
    try:
        start = await run.start_bot(work, channels)
        figures["start_first"], figures["start_all"] = start["first"], start["all"]
        await run.start_meetings([MAIN])
        samples = await latency(run, opts.latency_n)
        figures["lat_p50"] = statistics.median(samples)
        figures["lat_p99"] = percentile(samples, 0.99)
        if bot.stored_probe is not None:
            samples = await latency_stored(run, opts.latency_n)
            figures["lat_stored_p50"] = statistics.median(samples)
            figures["lat_stored_p99"] = percentile(samples, 0.99)
        await run.end_meeting(MAIN)
        for size in opts.publish_sizes:
            times = PUBLISH_TIMES if size <= 1_000 else 1
            figures[f"pub_{size}"] = statistics.median([await publish(run, size) for _ in range(times)])
        await run.start_meetings([MAIN])
        single = await sustained(run, [MAIN], opts)
        figures.update({f"log1_{k}": v for k, v in single.items()})
        await run.start_meetings(MULTI)
        multi = await sustained(run, MULTI, opts)
        figures.update({f"log100_{k}": v for k, v in multi.items()})
    finally:
        bot.stop()
        await run.close()
    return figures


# -- the run -------------------------------------------------------------------------------------


async def main_async(opts: Options) -> None:
    makers = all_bots()
    work = CACHE / "runs" / dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    server = ircd.IrcServer(work / "ircd", profile="bench")
    server.start()
    samples: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    rtt: list[float] = []
    failures: list[str] = []
    versions = {key: makers[key]().version() for key in opts.bots}
    began = time.perf_counter()
    try:
        for repeat in range(opts.repeats):
            repeat_began = _cpu_times()
            rtt_run = await server_rtt(server.ports.plain, opts.latency_n)
            rtt.append(statistics.median(rtt_run))
            samples["server"]["rtt_p50"].append(statistics.median(rtt_run))
            samples["server"]["rtt_p99"].append(percentile(rtt_run, 0.99))
            # Rotate the order each repeat, so a slow phase of a shared machine hits everyone.
            order = opts.bots[repeat % len(opts.bots) :] + opts.bots[: repeat % len(opts.bots)]
            for key in order:
                tag = f"{key}-{repeat}-{int(time.time())}"
                bot = makers[key]()
                for name, scenario in (("session", session), ("memory", memory)):
                    if name == "memory" and key == "ours-pg" and opts.quick:
                        continue  # the memory figure does not depend on the database; saves time
                    t0 = time.perf_counter()
                    try:
                        figures = await scenario(bot, server.ports.plain, work / f"{key}-{name}", opts, tag)
                    except Exception as error:
                        bot.stop()
                        failures.append(f"repeat {repeat} {key} {name}: {error!r}"[:2000])
                        print(f"!! {failures[-1]}", flush=True)
                        continue
                    for figure, value in figures.items():
                        samples[key][figure].append(value)
                    shown = ", ".join(f"{k}={v:.4g}" for k, v in figures.items())
                    clock = f"[{time.perf_counter() - began:6.1f}s]"
                    print(f"{clock} {key} {name} ({time.perf_counter() - t0:.1f}s): {shown}", flush=True)
            steal = steal_share(repeat_began, _cpu_times())
            if steal is not None:
                samples["machine"]["steal_pct"].append(steal)
        rtt_end = await server_rtt(server.ports.plain, opts.latency_n)
        samples["server"]["rtt_p50"].append(statistics.median(rtt_end))
        samples["server"]["rtt_p99"].append(percentile(rtt_end, 0.99))
    finally:
        server.stop()
    elapsed = time.perf_counter() - began
    when, load = f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC", os.getloadavg()
    report = render(opts, samples, versions, failures, elapsed, when=when, load=load)
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(report)
    raw = {"samples": samples, "versions": versions, "failures": failures, "elapsed": elapsed}
    raw |= {"when": when, "load": load, "quick": opts.quick, "repeats": opts.repeats, "bots": opts.bots}
    opts.out.with_suffix(".json").write_text(json.dumps(raw, indent=1))
    print(report)
    print(f"written: {opts.out} (+ .json) in {elapsed:.0f} s")


# -- the report ----------------------------------------------------------------------------------

# (key, label, unit, better: "low"/"high", scale)
FIGURES = [
    ("lat_p50", "command -> reply p50", "ms", "low"),
    ("lat_p99", "command -> reply p99", "ms", "low"),
    ("lat_stored_p50", "command changing the meeting -> reply p50 (line stored first)", "ms", "low"),
    ("lat_stored_p99", "command changing the meeting -> reply p99 (line stored first)", "ms", "low"),
    ("log1_rate", "logging, 1 channel: sustained (lag <= 1 s)", "lines/s", "high"),
    ("log1_burst", "logging, 1 channel: throughput draining a burst", "lines/s", "high"),
    ("log100_rate", "logging, 100 channels: sustained (lag <= 1 s)", "lines/s", "high"),
    ("log100_burst", "logging, 100 channels: throughput draining a burst", "lines/s", "high"),
    ("pub_1000", "#endmeeting -> published, 1,000 lines", "s", "low"),
    ("pub_10000", "#endmeeting -> published, 10,000 lines", "s", "low"),
    ("rss_1000", "RSS joined to 1,000 channels", "MiB", "low"),
    ("per_meeting_kib", "RSS growth per open meeting", "KiB", "low"),
    ("start_first", "start-up -> joined (first channel)", "s", "low"),
    ("start_all", "start-up -> joined (all 101 channels)", "s", "low"),
    ("join_1000", "start-up -> joined (1,000 channels)", "s", "low"),
]


def fmt(values: list[float]) -> str:
    if not values:
        return "-"
    med = statistics.median(values)
    digits = 3 if med < 10 else (1 if med < 1000 else 0)
    if len(values) == 1:
        return f"{med:.{digits}f}"
    return f"{med:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def med(samples: dict[str, dict[str, list[float]]], key: str, figure: str) -> float | None:
    values = samples.get(key, {}).get(figure)
    return statistics.median(values) if values else None


def render(
    opts: Options,
    samples: dict[str, dict[str, list[float]]],
    versions: dict[str, str],
    failures: list[str],
    elapsed: float,
    *,
    when: str,
    load: tuple[float, ...] | None,
) -> str:
    made = {key: maker() for key, maker in all_bots().items()}
    labels = {key: bot.label for key, bot in made.items()}
    bots = [key for key in opts.bots if key in samples]
    # A reference (the null bot) is the harness's ceiling, not a competitor: a ratio against it
    # or a "5 x best peer" target on it would measure the ircd and the driver, not the bots.
    reference = [key for key in bots if made[key].reference]
    peers = [key for key in bots if not key.startswith("ours") and key not in reference]
    ours = [key for key in bots if key.startswith("ours")]
    rtt = med(samples, "server", "rtt_p50")
    lines = [
        "# meetbot benchmarks next to its peers",
        "",
        f"Run: {when}, mode {'quick' if opts.quick else 'full'}, "
        f"{opts.repeats} repeat(s), {elapsed:.0f} s. "
        f"Reproduce: `bench/run{' --quick' if opts.quick else ''}`.",
        "",
        f"Machine: {platform.node()}, {platform.platform()}, {os.cpu_count()} CPUs, "
        f"{_mem_total()}, load average at the end "
        + (f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} " if load else "not recorded ")
        + "(other jobs share this machine: medians over repeats, min-max in brackets).",
        "",
        _steal_line(samples.get("machine", {}).get("steal_pct", [])),
        "",
        "Versions: "
        # The null bot has no version ("-"): it is bench/nullbot.py of this tree.
        + "".join(f"{labels[k]}: {v}; " for k, v in versions.items() if v != "-")
        + f"InspIRCd {_inspircd_version()}; Python {platform.python_version()} (driver).",
        "",
        f"Server round trip (client -> channel -> client, answered from the read loop): p50 "
        f"{fmt(samples['server']['rtt_p50'])} ms, p99 {fmt(samples['server']['rtt_p99'])} ms.",
        "",
        "| figure | unit | " + " | ".join(labels[k] for k in bots) + " |",
        "|---|---|" + "---|" * len(bots),
    ]
    for figure, title, unit, _ in FIGURES:
        if not any(samples[k].get(figure) for k in bots):
            continue
        lines.append(
            f"| {title} | {unit} | " + " | ".join(fmt(samples[k].get(figure, [])) for k in bots) + " |"
        )
    for key in reference:
        lines += ["", ceiling(samples, key, ours, labels, rtt)]
    lines += ["", "Ratios of medians (ours / other; < 1 is better for times and memory, > 1 for rates):", ""]
    others = [*peers] + (["server round trip"] if rtt else [])
    lines += [
        "| figure | ours | " + " | ".join(f"/ {labels.get(o, o)}" for o in others) + " |",
        "|---|---|" + "---|" * len(others),
    ]
    for figure, title, _, _ in FIGURES:
        for key in ours:
            mine = med(samples, key, figure)
            if mine is None:
                continue
            cells = []
            for other in peers:
                theirs = med(samples, other, figure)
                cells.append(f"{mine / theirs:.2f}" if theirs else "-")
            if rtt:
                cells.append(f"{mine / rtt:.2f}" if figure.startswith("lat_") else "")
            lines.append(f"| {title} | {labels[key]} | " + " | ".join(cells) + " |")
    lines += ["", "Targets (issue 9), on the medians of this run:", ""]
    lines += targets(samples, ours, peers, rtt)
    if failures:
        lines += ["", "Failures in this run:", ""] + [f"- `{f}`" for f in failures]
    notes = HERE / "NOTES.md"
    if notes.exists():
        lines += ["", notes.read_text().rstrip()]
    return "\n".join(lines) + "\n"


def ceiling(
    samples: dict[str, dict[str, list[float]]],
    key: str,
    ours: list[str],
    labels: dict[str, str],
    rtt: float | None,
) -> str:
    """The line under the table: the reference bot's logging rates, and meetbot's share of them;
    its answer to the latency probe against the server round trip (what the 1.2x target leaves)."""

    def rate(prefix: str) -> str:
        value = med(samples, key, f"{prefix}_rate")
        if value is None:
            return "-"
        # No step failed in some repeat: the ramp ran out of steps (quick mode's 3 reach only
        # 1.35 x the burst estimate), so the harness allows at least this much, maybe more.
        unbounded = 0 in samples[key].get(f"{prefix}_failed", [])
        return f"{'>= ' if unbounded else ''}{value:,.0f} lines/s"

    def share(mine: float | None, top: float | None) -> str:
        return f"{100 * mine / top:.0f} %" if mine is not None and top else "-"

    one, hundred = med(samples, key, "log1_rate"), med(samples, key, "log100_rate")
    text = f"Harness ceiling ({key} bot): logging 1 channel {rate('log1')}, 100 channels {rate('log100')}"
    reached = [
        f"{labels[o]} reaches {share(med(samples, o, 'log1_rate'), one)} / "
        f"{share(med(samples, o, 'log100_rate'), hundred)} of it"
        for o in ours
    ]
    text += ("; " + "; ".join(reached) if reached else "") + "."
    lat = med(samples, key, "lat_p50")
    if lat is not None and rtt:
        text += f" It answers the latency probe in {lat:.3f} ms, {lat / rtt:.2f} x the server round trip."
    return text


def targets(
    samples: dict[str, dict[str, list[float]]], ours: list[str], peers: list[str], rtt: float | None
) -> list[str]:
    out = []

    def verdict(ok: bool) -> str:
        return "met" if ok else "**missed**"

    for key in ours:
        lat = med(samples, key, "lat_p50")
        if lat is not None and rtt:
            out.append(
                f"- {key}: latency p50 {lat:.3f} ms <= 1.2 x server RTT {rtt:.3f} = {1.2 * rtt:.3f} ms: "
                f"{verdict(lat <= 1.2 * rtt)}"
            )
            for peer in peers:
                theirs = med(samples, peer, "lat_p50")
                if theirs:
                    out.append(
                        f"- {key}: latency p50 {lat:.3f} ms <= half of {peer}'s {theirs:.3f} ms: "
                        f"{verdict(lat <= theirs / 2)}"
                    )
        for figure in ("log1_rate", "log100_rate"):
            mine = med(samples, key, figure)
            best = max((med(samples, p, figure) or 0.0) for p in peers) if peers else 0.0
            if mine is not None and best:
                out.append(
                    f"- {key}: {figure} {mine:.0f} lines/s >= 5 x best peer {best:.0f} = {5 * best:.0f}: "
                    f"{verdict(mine >= 5 * best)}"
                )
        for figure in ("pub_1000", "pub_10000"):
            mine, hcoop = med(samples, key, figure), med(samples, "hcoop", figure)
            if mine is not None and hcoop:
                out.append(
                    f"- {key}: {figure} {mine:.3f} s <= hcoop's {hcoop:.3f} / 4 = {hcoop / 4:.3f} s: "
                    f"{verdict(mine <= hcoop / 4)}"
                )
        rss = med(samples, key, "rss_1000")
        if rss is not None:
            out.append(
                f"- {key}: RSS joined to 1,000 channels {rss:.1f} MiB < 150 MB (143 MiB): "
                f"{verdict(rss < 143.05)}"
            )
    return out


def _cpu_times() -> list[int] | None:
    """The machine's CPU time so far, in ticks, by kind (/proc/stat's first line)."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    return [int(field) for field in first.split()[1:]]


def steal_share(before: list[int] | None, after: list[int] | None) -> float | None:
    """Of the CPU time between two _cpu_times(), the percentage the hypervisor gave to other
    machines (steal, the 8th field): time every bot here waited for, not spent."""
    if before is None or after is None or len(before) < 8 or len(after) < 8:
        return None
    # guest time (fields 9-10) is counted in user time already
    spent = [b - a for a, b in zip(before[:8], after[:8], strict=True)]
    total = sum(spent)
    return 100 * spent[7] / total if total > 0 else None


def _steal_line(steal: list[float]) -> str:
    if not steal:
        return "Hypervisor steal: not recorded."
    each = " / ".join(f"{share:.0f}" for share in steal)
    return (
        f"Hypervisor steal (CPU time the virtual machine was ready to run but not given), per repeat: "
        f"{each} %: time every bot running then waited for."
    )


def _mem_total() -> str:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / 2**20:.0f} GiB RAM"
    return "?"


def _inspircd_version() -> str:
    try:
        out = subprocess.run(
            ["/usr/sbin/inspircd", "--version"], capture_output=True, text=True, timeout=10, check=False
        )
        return out.stdout.strip().split()[-1] if out.stdout.strip() else "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat (under two minutes)")
    parser.add_argument(
        "--render", type=Path, metavar="JSON", help="only rewrite the report from a run's saved .json"
    )
    parser.add_argument("--repeats", type=int, help="default: 1 quick, 3 full")
    parser.add_argument(
        "--bots", default=",".join(all_bots()), help="comma-separated: " + ",".join(all_bots())
    )
    parser.add_argument(
        "--publish-sizes", help="comma-separated line counts (default 1000 quick, 1000,10000 full)"
    )
    parser.add_argument(
        "--out", type=Path, help="report path (default bench/RESULTS.md full, .cache/bench quick)"
    )
    args = parser.parse_args(argv)
    quick = args.quick
    sizes = args.publish_sizes or ("1000" if quick else "1000,10000")
    bots = [b for b in args.bots.split(",") if b]
    unknown = set(bots) - set(all_bots())
    if unknown:
        parser.error(f"unknown bots: {', '.join(sorted(unknown))}")
    return Options(
        quick=quick,
        repeats=args.repeats or (1 if quick else 3),
        latency_n=100 if quick else 500,
        publish_sizes=[int(s) for s in sizes.split(",")],
        step_seconds=1.5 if quick else 4.0,
        ramp_steps=3 if quick else 7,
        memory_meetings=50 if quick else 100,
        bots=bots,
        out=args.out or (CACHE / "results-quick.md" if quick else HERE / "RESULTS.md"),
        render=args.render,
        out_given=args.out is not None,
    )


def rerender(raw_path: Path, out: Path | None) -> None:
    """The report again from saved samples (e.g. after editing bench/NOTES.md)."""
    raw = json.loads(raw_path.read_text())
    opts = parse_args(["--quick"] if raw.get("quick") else [])
    # (Reports saved before these keys existed: repeats = rtt samples - 1, the end one.)
    opts.repeats = raw.get("repeats", len(raw["samples"]["server"]["rtt_p50"]) - 1)
    opts.bots = raw.get("bots", [key for key in all_bots() if key in raw["samples"]])
    opts.out = out or raw_path.with_suffix(".md")
    when = (
        raw.get("when") or f"{dt.datetime.fromtimestamp(raw_path.stat().st_mtime, dt.UTC):%Y-%m-%d %H:%M} UTC"
    )
    load = tuple(raw["load"]) if raw.get("load") else None
    samples, versions = raw["samples"], raw["versions"]
    report = render(opts, samples, versions, raw["failures"], raw["elapsed"], when=when, load=load)
    opts.out.write_text(report)
    print(f"written: {opts.out}")


def main() -> None:
    opts = parse_args()
    if opts.render is not None:
        rerender(opts.render, opts.out if opts.out_given else None)
        return

    def terminate(signum: int, _frame: object) -> None:
        # `timeout` and Ctrl-C alike: unwind, so the finally blocks stop the bots and the ircd.
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    asyncio.run(main_async(opts))


if __name__ == "__main__":
    main()
