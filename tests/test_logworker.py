"""A long meeting's log rendered in a second process (meetbot.minutes.logworker): the same bytes
as rendering it in the bot, used from the second long meeting on, and a worker that dies costs
the publish nothing but the wait."""

from __future__ import annotations

import asyncio
import io
import logging
import marshal
import os
import signal
import struct
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import meetbot.app as app_module
from meetbot.app import App, build_app
from meetbot.config import Settings
from meetbot.domain.model import Line
from meetbot.events import Identity, LineKind, MessageIn, RoomRef
from meetbot.minutes import logworker
from meetbot.minutes.logworker import LogWorker, pack, render_packed, unpack
from meetbot.minutes.render import log_html, log_text
from meetbot.minutes.view import LogLineView, MinutesView, PrerenderedLog, log_lines
from meetbot.publish.files import PublishedFile
from tests.conftest import upgrade_schema

T0 = datetime(2026, 11, 21, 16, 0, 0, tzinfo=UTC)
ROOM = RoomRef("libera", "#infra")

pytestmark = pytest.mark.skipif(not logworker.usable(), reason="the log worker needs a second CPU core")


def _every_kind_of_line() -> list[Line]:
    """Lines of every kind the log shows differently, with text that needs escaping."""
    at = T0

    def line(seq: int, kind: LineKind, nick: str, text: str, **flags: bool) -> Line:
        return Line(seq, at + timedelta(seconds=seq * 7.25), kind, nick, f"acct:{nick}", text, **flags)

    return [
        line(1, LineKind.SAY, "alice", "#startmeeting infra"),
        line(2, LineKind.PRESENT, "meetbot", "alice bob", is_bot=True),
        line(3, LineKind.SAY, "bob", "bob: <script>alert('x')</script> & \"quotes\""),
        line(4, LineKind.SAY, "carol", "see https://example.org/a?b=1&c=<2> and ftp://x.y/z."),
        line(5, LineKind.ACTION, "dave", "waves at Üţáhraptõr"),
        line(6, LineKind.SAY, "alice", "#topic Release <1.2>"),
        line(7, LineKind.SAY, "bob", "first line\nsecond line\r\nthird"),
        line(8, LineKind.JOIN, "erin", ""),
        line(9, LineKind.PART, "erin", "bye <b>"),
        line(10, LineKind.NICK, "bob", "bobby"),
        line(11, LineKind.TOPIC, "alice", "new topic & more"),
        line(12, LineKind.SAY, "bobby", "typo here", edited=True),
        line(13, LineKind.SAY, "carol", "secret", redacted=True),
        line(14, LineKind.EDIT, "bobby", "typo fixed"),
        line(15, LineKind.NOTICE, "meetbot", "Usage: #agreed <decision>", is_bot=True),
        line(16, LineKind.SAY, "dave", "#info said while away", backfilled=True),
        line(17, LineKind.SAY, "erin", "!action erin to check"),
        line(18, LineKind.SAY, "alice", "#endmeeting"),
    ]


def test_packed_lines_come_back_with_all_the_log_shows() -> None:
    lines = _every_kind_of_line()
    for before, after in zip(lines, unpack(pack(lines)), strict=True):
        shown = ("seq", "at", "kind", "nick", "text", "is_bot", "backfilled", "edited", "redacted")
        assert [getattr(after, name) for name in shown] == [getattr(before, name) for name in shown]


@pytest.mark.parametrize("prefixes", [("#",), ("#", "!")])
def test_the_worker_renders_what_the_bot_would(prefixes: tuple[str, ...]) -> None:
    lines = _every_kind_of_line()
    views = log_lines(lines, prefixes)
    assert render_packed(pack(lines), prefixes) == (str(log_html(views)), log_text(views))


def test_a_prerendered_log_is_what_the_filters_give() -> None:
    prerendered = PrerenderedLog("<div>made</div>\n", "16:00:00 <a> made\n")
    assert str(log_html(prerendered)) == "<div>made</div>\n"
    assert log_text(prerendered) == "16:00:00 <a> made\n"
    assert len(prerendered) == 0


def test_prerendered_logs_are_equal_only_when_their_texts_are() -> None:
    made = PrerenderedLog("<div>made</div>\n", "made\n")
    assert made == PrerenderedLog("<div>made</div>\n", "made\n")
    assert hash(made) == hash(PrerenderedLog("<div>made</div>\n", "made\n"))
    assert made != PrerenderedLog("<div>other</div>\n", "made\n")
    assert made != PrerenderedLog("<div>made</div>\n", "other\n")
    assert made != ()
    assert () != made  # noqa: SIM300 - the other operand's side


def _meeting(start: datetime, lines: int) -> list[MessageIn]:
    def said(i: int, nick: str, text: str) -> MessageIn:
        return MessageIn(ROOM, Identity("libera", nick, nick), text, start + timedelta(seconds=i))

    messages = [said(0, "alice", "#startmeeting infra")]
    for i in range(1, lines - 1):
        if i % 50 == 0:
            text = f"#action bob to look at <item {i}> & https://example.org/{i}"
        elif i % 10 == 0:
            text = f"#info point {i}: \"quoted\" <b>bold</b>"
        else:
            text = f"line {i}: üñí chatter & more"
        messages.append(said(i, ("bob", "carol", "dave")[i % 3], text))
    messages.append(said(lines - 1, "alice", "#endmeeting"))
    return messages


async def _hold(app: App, start: datetime, lines: int) -> list[PublishedFile]:
    before = len(app.writer.written)
    for message in _meeting(start, lines):
        await app.service.handle(message)
    await app.settled()
    return app.writer.written[before:]


def _contents(files: list[PublishedFile]) -> dict[str, bytes]:
    return {file.extension: file.path.read_bytes() for file in files}


async def _republished_in_process(app: App) -> dict[str, bytes]:
    """The room's last meeting's files as rendering in the bot makes them."""
    store = app.service.store
    header = (await store.meetings_in(ROOM))[-1]
    meeting = app.service.engine.rebuild(header, await store.lines(header.id))
    worker = app.writer.log_worker
    enabled, worker.enabled = worker.enabled, False
    try:
        return _contents(list(await app.writer.write(meeting)))
    finally:
        worker.enabled = enabled


async def test_a_meeting_growing_long_has_its_log_from_the_worker_byte_for_byte(
    database_url: str, tmp_path: Path
) -> None:
    await upgrade_schema(database_url)
    app = await build_app(Settings(), [], database_url=database_url, publish_dir=tmp_path / "out")
    try:
        worker = app.writer.log_worker
        await _hold(app, T0, logworker.WARM_AT - 10)  # short: no worker
        assert worker.started == 0
        # Growing past WARM_AT starts the worker; too short to use it.
        await _hold(app, T0 + timedelta(days=1), logworker.WARM_AT + 10)
        assert worker.started == 1
        assert worker.rendered == 0
        await worker.ready()
        ended = await _hold(app, T0 + timedelta(days=2), logworker.MIN_LINES + 20)
        assert worker.rendered == 1
        from_worker = _contents(ended)
        assert set(from_worker) == {".html", ".txt", ".log.html", ".log.txt", ".md", ".json"}
        assert from_worker == await _republished_in_process(app)
        (pid,) = worker.pids()
    finally:
        await app.close()
    assert worker.started == 1
    assert await asyncio.wait_for(_exit_of(pid), 5)  # and gone with the app


async def test_an_end_makes_the_meetings_view_once(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The minutes and the log's pages come from one view, the log added to it once there."""
    made: list[tuple[LogLineView, ...] | None] = []
    real_build_view = app_module.build_view

    def counting(*args: Any, **kwargs: Any) -> MinutesView:
        made.append(kwargs.get("log"))
        return real_build_view(*args, **kwargs)

    monkeypatch.setattr(app_module, "build_view", counting)
    await upgrade_schema(database_url)
    app = await build_app(Settings(), [], database_url=database_url, publish_dir=tmp_path / "out")
    try:
        worker = app.writer.log_worker
        worker.warm()
        await worker.ready()
        await _hold(app, T0, logworker.MIN_LINES)
        assert worker.rendered == 1
        assert made == [()]  # the minutes' view, made without the log; the worker's log added
        made.clear()
        worker.enabled = False
        await _hold(app, T0 + timedelta(days=1), logworker.MIN_LINES)
        assert made == [None]  # rendered here: one view, its log made with it
    finally:
        await app.close()


async def test_a_worker_that_dies_costs_the_publish_nothing(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await upgrade_schema(database_url)
    app = await build_app(Settings(), [], database_url=database_url, publish_dir=tmp_path / "out")
    try:
        worker = app.writer.log_worker
        await _hold(app, T0, logworker.MIN_LINES)
        await worker.ready()
        for pid in worker.pids():
            os.kill(pid, signal.SIGKILL)
        with caplog.at_level(logging.WARNING, logger="meetbot.minutes.logworker"):
            ended = await _hold(app, T0 + timedelta(days=1), logworker.MIN_LINES)
        # Found dead when the job is handed over, or failing it: either way, said.
        assert "the log worker is gone" in caplog.text or "the log worker failed" in caplog.text
        assert worker.rendered == 0
        published = _contents(ended)
        assert published == await _republished_in_process(app)
        # The next long meeting starts a new worker as it grows (used at its end if it is up by
        # then: a race with the machine's speed), and the one after uses it.
        await _hold(app, T0 + timedelta(days=2), logworker.MIN_LINES)
        assert worker.started == 2
        assert worker.rendered in (0, 1)
        rendered = worker.rendered
        await worker.ready()
        await _hold(app, T0 + timedelta(days=3), logworker.MIN_LINES)
        assert worker.started == 2
        assert worker.rendered == rendered + 1
    finally:
        await app.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_no_worker_with_an_admins_templates_or_when_turned_off(
    database_url: str, tmp_path: Path
) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    for settings in (
        Settings(templates_dir=templates),
        Settings.model_validate({"publish": {"log_worker": False}}),
    ):
        app = await build_app(settings, [], database_url=database_url, publish_dir=tmp_path / "out")
        try:
            assert not app.writer.log_worker.enabled
            await _hold(app, T0 + timedelta(days=len(app.writer.written)), logworker.MIN_LINES)
            assert app.writer.log_worker.started == 0
        finally:
            await app.close()


def test_a_single_core_gets_no_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logworker, "usable", lambda: False)
    assert not LogWorker().enabled


def _said(count: int, words: str = "<b>&") -> list[Line]:
    return [
        Line(seq, T0 + timedelta(seconds=seq), LineKind.SAY, "bob", "acct:bob", f"line {seq} {words}")
        for seq in range(1, count + 1)
    ]


def _rendered_here(lines: list[Line]) -> tuple[str, str]:
    views = log_lines(lines, ("#",))
    return str(log_html(views)), log_text(views)


async def test_a_worker_killed_during_a_job_is_replaced() -> None:
    lines = _said(20_000)  # long enough that the kill comes first
    worker = LogWorker()
    try:
        assert worker.start(lines, ("#",)) is None  # starts the worker
        await worker.ready()
        job = worker.start(lines, ("#",))
        assert job is not None
        for pid in worker.pids():
            os.kill(pid, signal.SIGKILL)
        assert await worker.result(job) is None
        assert worker.start(lines, ("#",)) is None  # a new worker, for the next time
        assert worker.started == 2
        await _renders_as_here(worker, lines)
    finally:
        await worker.close()
    assert worker.pids() == []


async def test_a_job_cut_off_leaves_no_answer_behind_for_the_next() -> None:
    worker = LogWorker()
    try:
        worker.warm()
        await worker.ready()
        (pid,) = worker.pids()
        job = worker.start(_said(20_000), ("#",))
        assert job is not None
        await _request_sent(worker)  # the request is out, its answer not yet back
        job.cancel()
        await asyncio.wait([job])
        # Its answer would have come to the next job: that worker gets no other.
        assert worker.pids() == []
        assert await asyncio.wait_for(_exit_of(pid), 5)
        others = _said(400, "other words")
        assert worker.start(others, ("#",)) is None  # a new worker
        await _renders_as_here(worker, others)
    finally:
        await worker.close()


async def test_a_job_cut_off_before_its_request_went_keeps_the_worker() -> None:
    worker = LogWorker()
    try:
        worker.warm()
        await worker.ready()
        pids = worker.pids()
        job = worker.start(_said(20_000), ("#",))
        assert job is not None
        await asyncio.sleep(0)  # the job's lines are being packed in a thread: nothing sent yet
        job.cancel()
        await asyncio.wait([job])
        assert worker.pids() == pids
        await _renders_as_here(worker, _said(400, "other words"))  # its own answer, not the other's
    finally:
        await worker.close()


async def _request_sent(worker: LogWorker) -> None:
    # The job holds the worker's turn from writing its request until its answer is read; the
    # request is packed first, in a thread, for as long as that takes on the machine.
    async with asyncio.timeout(10):
        while not worker._turn.locked():  # noqa: ASYNC110
            await asyncio.sleep(0.001)


async def _renders_as_here(worker: LogWorker, lines: list[Line]) -> None:
    """The worker, once up, renders `lines` as the bot would."""
    await worker.ready()
    job = worker.start(lines, ("#",))
    assert job is not None
    made = await worker.result(job)
    assert made is not None
    assert (made.html, made.text) == _rendered_here(lines)


async def _exit_of(pid: int) -> bool:
    # Another process's end: nothing to wait on but /proc.
    while Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text():  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    return True


def test_the_worker_answers_a_failed_render_and_carries_on() -> None:
    good = logworker.pack(_every_kind_of_line())
    bad = [(1, T0.timestamp(), "no such kind", "bob", "text", False, False, False, False)]
    requests = io.BytesIO(b"".join(_frame(marshal.dumps((lines, ("#",)))) for lines in (bad, good)))
    answers = io.BytesIO()
    logworker.serve(requests, answers)
    answers.seek(0)
    frames = []
    while header := answers.read(4):
        frames.append(answers.read(struct.unpack("!I", header)[0]))
    assert frames[0] == b"ready"
    assert marshal.loads(frames[1]) == (False, "KeyError: 'no such kind'")
    assert marshal.loads(frames[2]) == (True, render_packed(good, ("#",)))


def _frame(payload: bytes) -> bytes:
    return struct.pack("!I", len(payload)) + payload


async def test_a_worker_that_cannot_start_leaves_the_logs_to_the_bot(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(logworker.sys, "executable", "/nonexistent/python")
    worker = LogWorker()
    lines = _said(logworker.MIN_LINES)
    with caplog.at_level(logging.WARNING, logger="meetbot.minutes.logworker"):
        assert worker.start(lines, ("#",)) is None  # starts it
        await worker.ready()
        assert "the log worker could not be started" in caplog.text
        assert worker.start(lines, ("#",)) is None  # rendered in the bot
        assert worker.pids() == []
    await worker.close()


async def test_the_lines_are_packed_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    packed_on: list[int] = []
    real_pack = logworker.pack

    def recording(lines: Sequence[Line]) -> list[logworker.PackedLine]:
        packed_on.append(threading.get_ident())
        return real_pack(lines)

    monkeypatch.setattr(logworker, "pack", recording)
    worker = LogWorker()
    lines = _said(logworker.MIN_LINES)
    try:
        worker.warm()
        await _renders_as_here(worker, lines)
    finally:
        await worker.close()
    assert len(packed_on) == 1
    assert threading.get_ident() not in packed_on
