"""Every route of the web archive over HTTP, on SQLite and PostgreSQL: pages, JSON, 404s and
hostile input. Meetings come from real replays (tests/web/conftest.py): 1 and 3 are #infra,
2 is #docs, 4 is a restricted #infra meeting."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient

from meetbot.web.site import CSP
from tests.test_e2e import audit_html
from tests.web.conftest import HOSTILE

Client = TestClient[Any, Any]


async def get_text(client: Client, path: str, status: int = 200) -> str:
    response = await client.get(path, allow_redirects=False)
    body = await response.text()
    assert response.status == status, (path, response.status, body[:500])
    return body


def hrefs(document: str) -> list[str]:
    return re.findall(r'href="([^"]*)"', document)


async def test_home_lists_recent_meetings_and_teams(client: Client) -> None:
    page = await get_text(client, "/")
    assert audit_html(page).dangers == []
    links = hrefs(page)
    # Newest first, the restricted meeting nowhere.
    assert links.index("/meetings/3.html") < links.index("/meetings/2.html") < links.index("/meetings/1.html")
    assert "/meetings/4.html" not in links
    assert "/teams/infra" in links
    assert "/teams/docs" in links
    assert 'action="/search"' in page


async def test_team_page_latest_and_room_page(client: Client) -> None:
    page = await get_text(client, "/teams/infra")
    links = hrefs(page)
    assert [link for link in links if link.startswith("/meetings/")] == [
        "/meetings/3.html",
        "/meetings/1.html",
    ]
    response = await client.get("/teams/infra/latest", allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"] == "/meetings/3.html"
    room = await get_text(client, "/rooms/libera/" + quote("#docs", safe=""))
    assert "/meetings/2.html" in hrefs(room)
    assert "/meetings/1.html" not in hrefs(room)


async def test_minutes_and_log_link_both_ways_with_previous_and_next(client: Client) -> None:
    first = await get_text(client, "/meetings/1.html")
    assert audit_html(first).dangers == []
    assert re.search(r'<meta property="og:title" content="#infra[^"]*">', first)
    assert "Zanzibar migration plan" in first
    # Items link to their log line; the log links back; previous/next within the team only.
    assert any(re.fullmatch(r"1\.log\.html#l-\d+", link) for link in hrefs(first))
    assert "/meetings/3.html" in hrefs(first)
    assert 'rel="next"' in first
    assert 'rel="prev"' not in first
    last = await get_text(client, "/meetings/3.html")
    assert "/meetings/1.html" in hrefs(last)
    assert 'rel="next"' not in last
    log = await get_text(client, "/meetings/1.log.html")
    assert 'id="l-3"' in log
    assert "flamingo servers first" in log
    assert "1.html" in hrefs(log)
    assert "/meetings/3.html" in hrefs(log)
    response = await client.get("/meetings/1")
    assert str(response.url).endswith("/meetings/1.html")


@pytest.mark.parametrize(
    ("extension", "content_type", "needle"),
    [
        (".txt", "text/plain", "Zanzibar migration plan"),
        (".log.txt", "text/plain", "flamingo servers first"),
        (".md", "text/markdown", "Zanzibar migration plan"),
        (".json", "application/json", '"format": "meetbot-minutes/1"'),
    ],
)
async def test_meeting_in_every_format(
    client: Client, extension: str, content_type: str, needle: str
) -> None:
    response = await client.get(f"/meetings/1{extension}")
    assert response.status == 200
    assert response.content_type == content_type
    assert needle in await response.text()


@pytest.mark.parametrize(
    "path",
    [
        "/nope",
        "/meetings/999.html",
        "/meetings/4.html",  # restricted (#restrictlogs): as if it did not exist
        "/meetings/4.log.txt",
        "/meetings/1.exe",
        "/meetings/1.log.html?page=2",  # a short log has one page
        "/teams/nobody",
        "/teams/nobody/latest",
        "/rooms/libera/%23nowhere",
        "/people/libera:~nobody",
        "/meetings/../../etc/passwd",
    ],
)
async def test_unknown_pages_are_proper_404s(client: Client, path: str) -> None:
    page = await get_text(client, path, 404)
    assert "no such page" in page
    assert audit_html(page).dangers == []


async def test_api_404s_and_bad_parameters_are_json(client: Client) -> None:
    response = await client.get("/api/meetings/999")
    assert response.status == 404
    assert (await response.json())["status"] == 404
    response = await client.get("/api/search?q=x&kind=<script>")
    assert response.status == 400
    assert "kind must be" in (await response.json())["error"]
    response = await client.get("/api/search?q=x&since=yesterday")
    assert response.status == 400
    response = await client.get("/api/meetings?page=0")
    assert response.status == 400


async def test_pages_carry_a_script_free_csp_and_the_site_is_read_only(client: Client) -> None:
    for path in ("/", "/search?q=flamingo", "/meetings/1.html", "/nope", "/api/search?q=a"):
        response = await client.get(path)
        assert response.headers["Content-Security-Policy"] == CSP, path
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    response = await client.post("/search", data={"q": "x"})
    assert response.status == 405


async def test_search_page_ranks_highlights_and_links_to_the_log_line(client: Client) -> None:
    page = await get_text(client, "/search?q=flamingo+servers")
    assert audit_html(page).dangers == []
    # Lines with both words (AND); the better match first, every word marked.
    assert "2 matching lines" in page
    assert "<mark>flamingo</mark> <mark>servers</mark>" in page
    assert hrefs(page).count("/meetings/1.log.html#l-4") == 1
    assert "chapter" not in page


async def test_api_search_returns_the_documented_fields(client: Client) -> None:
    response = await client.get("/api/search", params={"q": "quokka rollout"})
    data = await response.json()
    assert data["total"] == 2
    hit = data["hits"][0]
    assert set(hit) >= {"meeting", "time", "speaker", "text", "url"}
    assert hit["meeting"]["id"] == 3
    assert hit["meeting"]["team"] == "infra"
    assert re.search(r"/meetings/3\.log\.html#l-[45]$", hit["url"])
    assert any(part["match"] for part in hit["highlight"])
    assert data["hits"][0]["time"].endswith("Z")


async def test_restricted_meetings_are_never_found(client: Client) -> None:
    data = await (await client.get("/api/search", params={"q": "pangolin"})).json()
    assert data["total"] == 0


@pytest.mark.parametrize(
    "query",
    [
        HOSTILE,
        '"',
        '"unbalanced',
        "flamingo*",
        "NEAR(flamingo servers)",
        "text:flamingo",
        "flamingo OR quokka",
        "-flamingo",
        "a & b | !c <-> d",
        "'; DROP TABLE meeting_lines; --",
        "\x00\x01",
        "🦩" * 300,
        "<svg onload=alert(1)>",
    ],
)
async def test_hostile_queries_are_harmless(client: Client, query: str) -> None:
    response = await client.get("/search", params={"q": query})
    assert response.status == 200
    page = await response.text()
    assert audit_html(page).dangers == []
    assert "<svg" not in page
    assert "<script>alert" not in page
    api = await client.get("/api/search", params={"q": query})
    assert api.status == 200
    assert isinstance((await api.json())["hits"], list)


async def test_hostile_stored_text_is_found_and_shown_inert(client: Client) -> None:
    # (PostgreSQL's parser skips HTML tags, words and all: search for words outside them.)
    page = await get_text(client, "/search?q=quoted+near")
    audit = audit_html(page)
    assert audit.dangers == []
    assert "<script>" in "".join(audit.text)  # shown as text, not run
    data = await (await client.get("/api/search", params={"q": "quoted"})).json()
    assert data["hits"][0]["text"] == HOSTILE
    log = await get_text(client, "/meetings/1.log.html")
    assert audit_html(log).dangers == []


async def test_search_filters(client: Client) -> None:
    async def total(**params: str) -> int:
        response = await client.get("/api/search", params={"q": "flamingo", **params})
        assert response.status == 200, await response.text()
        return int((await response.json())["total"])

    # Meeting 3's bot line lists bob's open action: the bot is searchable too.
    assert await total() == 6
    assert await total(team="docs") == 1
    assert await total(team="infra") == 5
    assert await total(room="#docs") == 1
    assert await total(person="erin") == 1
    assert await total(person="ALICE") == 2
    assert await total(since="2026-11-05") == 3
    assert await total(until="2026-11-02") == 3
    assert await total(since="2026-11-03", until="2026-11-05") == 1
    assert await total(kind="ACTION") == 1
    assert await total(kind="AGREED") == 1
    assert await total(team="nobody") == 0


async def test_search_paginates(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("meetbot.web.site.SEARCH_PAGE_SIZE", 2)
    first = await (await client.get("/api/search", params={"q": "flamingo"})).json()
    second = await (await client.get("/api/search", params={"q": "flamingo", "page": "2"})).json()
    third = await (await client.get("/api/search", params={"q": "flamingo", "page": "3"})).json()
    seen = [h["url"] for h in first["hits"] + second["hits"] + third["hits"]]
    assert len(seen) == len(set(seen)) == 6
    page = await get_text(client, "/search?q=flamingo&page=2")
    assert "page=3" in page
    assert "page=1" in page


async def test_person_page_and_action_dashboard(client: Client) -> None:
    actions = await get_text(client, "/actions")
    assert "bob writes the flamingo runbook" in actions
    person = next(link for link in hrefs(actions) if link.startswith("/people/"))
    page = await get_text(client, person)
    assert "bob writes the flamingo runbook" in page
    assert "/meetings/1.html" in hrefs(page)


async def test_json_api_for_meetings_items_and_teams(client: Client) -> None:
    meetings = await (await client.get("/api/meetings", params={"team": "infra"})).json()
    assert [m["id"] for m in meetings["meetings"]] == [3, 1]
    assert meetings["total"] == 2
    minutes = await (await client.get("/api/meetings/1")).json()
    assert minutes["meeting"]["id"] == 1
    assert minutes["format"] == "meetbot-minutes/1"
    items = await (await client.get("/api/items", params={"kind": "ACTION"})).json()
    assert [i["text"] for i in items["items"]] == ["bob writes the flamingo runbook"]
    teams = await (await client.get("/api/teams")).json()
    assert {t["team"]: t["meetings"] for t in teams["teams"]} == {"infra": 2, "docs": 1}


async def test_healthz(client: Client) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    # `meetbot serve` alone: no bot, so no role; /metrics belongs to the bot process.
    assert (await response.json()) == {"status": "ok", "database": "ok"}
    assert (await client.get("/metrics")).status == 404
