from __future__ import annotations

from datetime import UTC, date, datetime

from hypothesis import given
from hypothesis import strategies as st

from meetbot.events import LineKind
from meetbot.logparse import date_from_name, parse_log

DAY = date(2009, 6, 17)


def test_every_accepted_shape() -> None:
    parsed = parse_log(
        [
            "20:13:46 <MrBeige> #startmeeting",
            "[20:13:47] <T-Rex> bracketed",
            "20:14 <Utahraptor> minutes only",
            "20:15:00 * carol waves",
            "[20:15:01] * dave nods slowly",
            "20:15:02 <@op> with a mode prefix",
            "20:15:03 <empty>",
            "# a comment line",
            "",
            "20:15:04 *** bob has joined #chan",
            "garbage",
        ],
        DAY,
    )
    got = [(line.at.time().isoformat(), line.nick, line.text, line.kind) for line in parsed.lines]
    assert got == [
        ("20:13:46", "MrBeige", "#startmeeting", LineKind.SAY),
        ("20:13:47", "T-Rex", "bracketed", LineKind.SAY),
        ("20:14:00", "Utahraptor", "minutes only", LineKind.SAY),
        ("20:15:00", "carol", "waves", LineKind.ACTION),
        ("20:15:01", "dave", "nods slowly", LineKind.ACTION),
        ("20:15:02", "op", "with a mode prefix", LineKind.SAY),
        ("20:15:03", "empty", "", LineKind.SAY),
    ]
    assert parsed.skipped == 3
    assert parsed.lines[0].at == datetime(2009, 6, 17, 20, 13, 46, tzinfo=UTC)


def test_a_log_across_midnight_stays_in_order() -> None:
    parsed = parse_log(["23:59:58 <a> one", "00:00:03 <a> two", "00:01:00 <a> three"], DAY)
    assert [line.at.date() for line in parsed.lines] == [DAY, date(2009, 6, 18), date(2009, 6, 18)]


def test_unicode_nicks_and_text() -> None:
    (line,) = parse_log(["20:13:50 <Üţáhraptõr> Nick with accents."], DAY).lines
    assert (line.nick, line.text) == ("Üţáhraptõr", "Nick with accents.")


def test_continuation_lines_belong_to_their_message() -> None:
    log = ["10:00:00 <bob> first line", "               | #endmeeting", "10:00:01 <bob> next"]
    parsed = parse_log(log, DAY)
    assert [line.text for line in parsed.lines] == ["first line\n#endmeeting", "next"]


def test_date_from_name() -> None:
    assert date_from_name("nova.2019-01-03-14.00.log.txt") == date(2019, 1, 3)
    assert date_from_name("meeting.log") is None
    assert date_from_name("x.2019-13-40.log") is None


@given(st.lists(st.text(max_size=80), max_size=30))
def test_random_text_never_crashes(lines: list[str]) -> None:
    parsed = parse_log(lines, DAY)
    assert len(parsed.lines) + parsed.skipped <= len(lines)
