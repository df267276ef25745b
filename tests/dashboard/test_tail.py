"""The live tail: the page, the stream of new rows, resuming, pausing, and its end."""

from __future__ import annotations

import re
from collections.abc import Iterator

from mcpwall.core.registry import Role
from mcpwall.dashboard.tail import Tails, event
from tests.dashboard.conftest import Browser, Dashboard


def events(browser: Browser, url: str, wanted: int, **headers: str) -> Iterator[str]:
    """The first ``wanted`` SSE blocks (events and comments) of the stream at ``url``."""
    with browser.client.stream("GET", url, headers=headers) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        block: list[str] = []
        seen = 0
        for line in answer.iter_lines():
            if line:
                block.append(line)
                continue
            if block:
                yield "\n".join(block)
                seen += 1
                block = []
            if seen == wanted:
                return


def row_events(blocks: Iterator[str]) -> list[tuple[int, str]]:
    found = []
    for block in blocks:
        if block.startswith("event: row"):
            event_id = int(re.search(r"^id: (\d+)$", block, re.MULTILINE).group(1))  # type: ignore[union-attr]
            data = "\n".join(line[6:] for line in block.splitlines() if line.startswith("data: "))
            found.append((event_id, data))
    return found


def test_the_stream_sends_rows_after_the_given_one_as_rendered_table_rows(
    dashboard: Dashboard,
) -> None:
    dashboard.write(*(dashboard.record(request_id=str(n)) for n in range(4)))
    browser = dashboard.logged_in(Role.VIEWER)
    blocks = list(events(browser, "/tail/events?after=2", wanted=3))
    assert blocks[0] == "retry: 3000"
    rows = row_events(iter(blocks))
    assert [row_id for row_id, _ in rows] == [3, 4]
    assert rows[0][1].startswith('<tr id="row-3" data-id="3">')
    dashboard.tails.close()


def test_a_reconnecting_browser_resumes_after_its_last_event_id(dashboard: Dashboard) -> None:
    dashboard.write(*(dashboard.record(request_id=str(n)) for n in range(5)))
    browser = dashboard.logged_in(Role.VIEWER)
    blocks = events(browser, "/tail/events?after=1", wanted=3, **{"Last-Event-ID": "3"})
    assert [row_id for row_id, _ in row_events(blocks)] == [4, 5]
    dashboard.tails.close()


def test_the_stream_keeps_to_the_filters(dashboard: Dashboard) -> None:
    dashboard.write(
        dashboard.record(decision="allow", rule="(allowed)"),
        dashboard.record(decision="deny"),
        dashboard.record(decision="allow", rule="(allowed)"),
        dashboard.record(decision="deny", tool="get_pods"),
    )
    browser = dashboard.logged_in(Role.VIEWER)
    blocks = events(browser, "/tail/events?after=0&decision=deny&tool=delete_pod", wanted=2)
    assert [row_id for row_id, _ in row_events(blocks)] == [2]
    dashboard.tails.close()


def test_heartbeats_keep_an_idle_stream_alive(dashboard: Dashboard) -> None:
    dashboard.tails.heartbeat_seconds = 0
    blocks = list(events(dashboard.logged_in(Role.VIEWER), "/tail/events?after=0", wanted=3))
    assert blocks[1:] == [": heartbeat", ": heartbeat"]
    dashboard.tails.close()


def test_the_stream_ends_when_the_session_does(dashboard: Dashboard) -> None:
    dashboard.tails.recheck_seconds = 0
    browser = dashboard.logged_in(Role.VIEWER)
    assert browser.secret is not None
    dashboard.control.log_out(browser.secret)
    with browser.client.stream("GET", "/tail/events?after=0", follow_redirects=False) as answer:
        # Logged out before it opened: no stream at all.
        assert answer.status_code == 303
    other = dashboard.logged_in(Role.VIEWER)
    assert other.secret is not None
    with other.client.stream("GET", "/tail/events?after=0") as answer:
        lines = answer.iter_lines()
        assert next(lines) == "retry: 3000"
        dashboard.control.log_out(other.secret)
        assert list(lines) == [""]  # the stream ended by itself


def test_the_page_shows_the_newest_rows_and_starts_the_stream_after_them(
    dashboard: Dashboard,
) -> None:
    dashboard.write(*(dashboard.record(request_id=str(n)) for n in range(30)))
    page = dashboard.logged_in(Role.VIEWER).get("/tail?decision=deny").text
    assert 'sse-connect="/tail/events?since=24h&amp;decision=deny&amp;after=30"' in page
    assert re.findall(r'<tr id="row-(\d+)"', page)[:2] == ["30", "29"]
    assert 'id="tail-after" name="after" value="30"' in page


def test_pausing_drops_the_stream_and_resuming_starts_after_the_last_row_shown(
    dashboard: Dashboard,
) -> None:
    dashboard.write(*(dashboard.record(request_id=str(n)) for n in range(3)))
    browser = dashboard.logged_in(Role.VIEWER)
    paused = browser.htmx("/tail/stream?paused=1&after=2").text
    assert paused.lstrip().startswith('<section id="tail"')
    assert "sse-connect" not in paused
    assert re.findall(r'<tr id="row-(\d+)"', paused) == ["2", "1"]
    assert "Resume" in paused
    dashboard.write(dashboard.record(request_id="while paused"))
    resumed = browser.htmx("/tail/stream?paused=0&after=2").text
    assert 'sse-connect="/tail/events?since=24h&amp;after=2"' in resumed
    assert "Pause" in resumed


def test_too_many_tails_are_refused(dashboard: Dashboard) -> None:
    dashboard.tails.open = 64
    answer = dashboard.logged_in(Role.VIEWER).get("/tail/events?after=0")
    assert answer.status_code == 503


def test_an_event_puts_each_line_of_its_data_in_its_own_field() -> None:
    assert event("row", 7, "<tr>\n<td>x</td>\n</tr>") == (
        "event: row\nid: 7\ndata: <tr>\ndata: <td>x</td>\ndata: </tr>\n\n"
    )


def test_a_stopping_server_ends_every_open_tail(dashboard: Dashboard) -> None:
    browser = dashboard.logged_in(Role.VIEWER)
    with browser.client.stream("GET", "/tail/events?after=0") as answer:
        lines = answer.iter_lines()
        assert next(lines) == "retry: 3000"
        assert dashboard.tails.open == 1
        dashboard.tails.close()
        assert list(lines) == [""]
    assert dashboard.tails.open == 0


def test_tails_default_to_a_poll_a_second() -> None:
    assert (Tails().poll_seconds, Tails().heartbeat_seconds) == (1.0, 15.0)
