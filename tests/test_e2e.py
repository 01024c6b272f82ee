"""End to end through the `meetbot` command, as a user runs it: replay, console, kill -9."""

from __future__ import annotations

import html.parser
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from markdown_it import MarkdownIt

from meetbot.storage import migrate

DATA = Path(__file__).parent / "data"
EXTENSIONS = (".html", ".txt", ".log.html", ".log.txt", ".md", ".json")


def meetbot(
    *args: str, cwd: Path, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "meetbot.cli", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"meetbot {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
    return result


def published(output: str) -> dict[str, Path]:
    paths = [Path(line) for line in output.splitlines() if line.strip()]
    return {
        ext: next(p for p in paths if p.name.endswith(ext) and not p.name.endswith(".log" + ext))
        for ext in EXTENSIONS
    }


class _HtmlAudit(html.parser.HTMLParser):
    """Collects what a browser would execute: script/iframe/svg/img elements, on* attributes,
    and javascript: URLs; plus the visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.dangers: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "iframe", "svg", "img", "object", "embed"):
            self.dangers.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.dangers.append(f"{tag} {name}=")
            if name in ("href", "src") and value and value.strip().lower().startswith("javascript:"):
                self.dangers.append(f"{tag} {name}={value}")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def audit_html(document: str) -> _HtmlAudit:
    audit = _HtmlAudit()
    audit.feed(document)
    audit.close()
    return audit


def test_replay_of_the_torture_log_keeps_every_text_and_stays_inert(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = meetbot(
        "replay",
        str(DATA / "torture.log.txt"),
        "--channel",
        "#centos-meeting",
        "--network",
        "libera",
        "--date",
        "2026-11-18",
        "--publish-dir",
        str(out),
        cwd=tmp_path,
    )
    files = published(result.stdout)
    # #meetingname ../../../etc/passwd names the meeting, but can't leave the publish directory.
    assert files[".html"] == out / "etc_passwd/2026/etc_passwd.2026-11-18-16.00.html"
    for path in files.values():
        assert path.resolve().is_relative_to(out.resolve())
    payloads = [
        "<script>alert('topic')</script> «Ünïcode» ☃",
        '"><svg onload=alert(1)> title',
        '<iframe src="javascript:alert(1)"></iframe>',
        "**not bold** _not em_ `not code` [not](link) # not heading",
        "ken[ and [m] to fix <b>it</b> & Üţáhraptõr too",
        "nobody named here </li></ol><script>x</script>",
        'it\'s "done" & <dusted>',
        "{{ 7*7 }} {% raw %} ${7*7} %(x)s",
        "javascript:alert(document.cookie)",
    ]
    for ext in (".html", ".log.html"):
        document = files[ext].read_text(encoding="utf-8")
        audit = audit_html(document)
        assert audit.dangers == [], (ext, audit.dangers)
        visible = "".join(audit.text)
        for payload in payloads:
            if ext == ".log.html" or payload != "javascript:alert(document.cookie)":
                assert " ".join(payload.split()) in " ".join(visible.split()), (ext, payload)
    for ext in (".txt", ".log.txt"):
        text = files[ext].read_text(encoding="utf-8")
        for payload in payloads[:3]:
            assert payload in " ".join(text.split()) or payload in text, (ext, payload)
    # Markdown is judged as a reader sees it: rendered by a CommonMark renderer (raw HTML allowed,
    # as GitHub and Discourse allow some), nothing may execute and every payload must read the same.
    rendered = MarkdownIt("commonmark").render(files[".md"].read_text(encoding="utf-8"))
    audit = audit_html(rendered)
    assert audit.dangers == [], (".md", audit.dangers)
    visible = " ".join("".join(audit.text).split())
    for payload in payloads[:8]:
        assert " ".join(payload.split()) in visible, (".md", payload)
    minutes = json.loads(files[".json"].read_text(encoding="utf-8"))
    texts = {item["text"] for item in minutes["items"]}
    assert minutes["meeting"]["title"] == payloads[1]
    assert {payloads[0], *payloads[2:8]} <= texts
    # Empty arguments and unknown commands made no items; the mentions made no commands.
    assert "" not in texts
    assert not any("unknowncommand" in t or "#1234" in t for t in texts)
    # The log keeps every line, hostile or not.
    log = files[".log.txt"].read_text(encoding="utf-8")
    assert "#unknowncommand <b>x</b>" in log
    assert "#1234 is an issue" in log


def test_replay_of_meetbots_own_test_script(tmp_path: Path) -> None:
    """MeetBot's test_script_1 checks: every output is written and keeps the unique tokens."""
    result = meetbot(
        "replay",
        str(DATA / "meetbot-test-script-1.log.txt"),
        "--channel",
        "#meetbot-test",
        "--date",
        "2009-06-17",
        "--publish-dir",
        str(tmp_path / "out"),
        cwd=tmp_path,
    )
    files = published(result.stdout)
    assert files[".html"].name == "meetbot-test.2009-06-17-20.13.html"
    minutes = json.loads(files[".json"].read_text(encoding="utf-8"))
    items = [(item["kind"], item["text"]) for item in minutes["items"]]
    # T-Rex was not a chair when trying #topic; after #chair T-Rex nothing was retried.
    assert ("TOPIC", "Test of topics") not in items
    assert ("TOPIC", "General command tests") in items
    assert ("ACCEPTED", "we will include this new format if we so choose.") in items
    assert ("IDEA", "Nick with accents.") in items
    assert ("INFO", "this command is just before the first topic") in items
    assert ("AGREED", "blah") in items  # Utahraptor was chaired by then
    for ext in EXTENSIONS:
        text = files[ext].read_text(encoding="utf-8")
        assert "Üţáhraptõr" in text, ext


def _wait_for_lines(database: Path, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if database.exists():
            try:
                with sqlite3.connect(database) as connection:
                    (stored,) = connection.execute("select count(*) from meeting_lines").fetchone()
                if stored >= count:
                    return
            except sqlite3.OperationalError:
                pass  # tables not created yet
        time.sleep(0.05)
    raise AssertionError(f"{database} never reached {count} lines")


def test_kill_9_mid_meeting_loses_nothing(tmp_path: Path) -> None:
    """A real `meetbot console` on the embedded defaults, killed with SIGKILL mid-meeting and
    started again, continues the same meeting: chairs, topic, items and every line survive."""
    first_half = [
        "#startmeeting Infra Weekly",
        "/nick bob",
        "hi all",
        "/nick alice",
        "#chair bob",
        "#topic Before the crash",
        "#action bob to check backups",
    ]
    process = subprocess.Popen(
        [sys.executable, "-m", "meetbot.cli", "console", "--channel", "#infra", "--nick", "alice"],
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None
    process.stdin.write("\n".join(first_half) + "\n")
    process.stdin.flush()
    # 5 typed chat lines plus the bot's two replies (meeting started, current chairs).
    _wait_for_lines(tmp_path / "meetbot.db", 7)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)

    second_half = ["/nick bob", "#agreed chairs survive a crash", "#topic After the crash", "#endmeeting"]
    result = meetbot(
        "console", "--channel", "#infra", "--nick", "alice", cwd=tmp_path, stdin="\n".join(second_half) + "\n"
    )
    assert "Meeting ended at" in result.stdout
    (json_file,) = (tmp_path / "minutes").rglob("*.json")
    assert json_file.parent == tmp_path / "minutes" / "infra_weekly" / json_file.parent.name
    minutes = json.loads(json_file.read_text(encoding="utf-8"))
    items = [(item["kind"], item["text"], item["nick"]) for item in minutes["items"]]
    assert items == [
        ("TOPIC", "Before the crash", "alice"),
        ("ACTION", "bob to check backups", "alice"),
        ("AGREED", "chairs survive a crash", "bob"),
        ("TOPIC", "After the crash", "bob"),
    ]
    log = next((tmp_path / "minutes").rglob("*.log.txt")).read_text(encoding="utf-8")
    assert "hi all" in log
    assert "#endmeeting" in log


def test_run_with_no_config_is_a_local_console(tmp_path: Path) -> None:
    lines = ["#startmeeting try out", "#info it works", "/nick bob", "#agreed bob is no chair", "/nick alice"]
    script = "\n".join([*lines, "#endmeeting"]) + "\n"
    result = meetbot("run", cwd=tmp_path, stdin=script)
    assert "bob: #agreed is for the meeting chairs (alice); nothing changed." in result.stdout
    assert "Meeting ended at" in result.stdout
    assert (tmp_path / "meetbot.db").exists()
    # minutes + log (beside them, the archive's index.html, latest.html and the year's index)
    assert len(list((tmp_path / "minutes" / "try_out").rglob("try_out.*.html"))) == 2
    assert (tmp_path / "minutes" / "try_out" / "latest.html").is_file()


def test_config_check_contract(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("database: {url: 'sqlite+aiosqlite:///x.db'}\npublish: {dir: ./m}\n", encoding="utf-8")
    assert meetbot("config", "check", "-c", str(good), cwd=tmp_path).returncode == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("database:\n  url: 'sqlite+aiosqlite:///x.db'\n  colour: blue\n", encoding="utf-8")
    result = meetbot("config", "check", "-c", str(bad), cwd=tmp_path, check=False)
    assert result.returncode != 0
    assert f"{bad}:3: database.colour:" in result.stderr


def test_db_upgrade(tmp_path: Path, database_url: str) -> None:
    config = tmp_path / "meetbot.yaml"
    config.write_text(f"database: {{url: '{database_url}'}}\n", encoding="utf-8")
    result = meetbot("db", "upgrade", "-c", str(config), cwd=tmp_path)
    assert f"database at revision {migrate.head_revision()}" in result.stdout


def test_minutes_published_at_the_end_equal_those_regenerated_from_the_database(tmp_path: Path) -> None:
    """#endmeeting publishes from the live meeting when the database holds exactly its lines;
    that must give the very files a later regeneration from the database gives."""
    out, database = tmp_path / "out", tmp_path / "meetings.db"
    url = f"sqlite+aiosqlite:///{database}"
    for log, channel, date in (
        ("torture.log.txt", "#centos-meeting", "2026-11-18"),
        ("meetbot-test-script-1.log.txt", "#meetbot-test", "2009-06-17"),
    ):
        meetbot(
            "replay", str(DATA / log), "--channel", channel, "--date", date,
            "--publish-dir", str(out), "--database", url, cwd=tmp_path,
        )  # fmt: skip
    minutes = [path for path in out.rglob("*") if path.is_file() and path.name.endswith(EXTENSIONS)]
    at_the_end = {path: path.read_bytes() for path in minutes}
    assert len(at_the_end) >= 2 * len(EXTENSIONS)
    config = tmp_path / "meetbot.yaml"
    config.write_text(f"database:\n  url: {url}\npublish:\n  dir: {out}\n", encoding="utf-8")
    for path in minutes:
        path.unlink()
    meetbot("meeting", "regenerate", "--all", "-c", str(config), cwd=tmp_path)
    for path, content in at_the_end.items():
        assert path.read_bytes() == content, path
