"""control.pinning over an in-memory store and given definitions: what a review reports,
what an acceptance pins, drops and leaves out, and how text is shown."""

from __future__ import annotations

from typing import Any

import pytest

from mcpwall.control import ControlPlane
from mcpwall.control.pinning import (
    accept,
    pin_new_upstream,
    printable,
    review,
    short_description,
    tool_diff,
)
from mcpwall.core.errors import Conflict, InvalidValue
from mcpwall.core.pins import Status
from mcpwall.core.registry import Pinning, Upstream
from mcpwall.gateway.probe import Definitions
from mcpwall.ports.clock import FakeClock
from mcpwall.ports.memory_store import MemoryStore

ACTOR = "cli:root"


def tool(name: str, description: str = "", **extra: Any) -> dict[str, Any]:
    return {"name": name, "description": description, "inputSchema": {"type": "object"}, **extra}


def live(
    *tools: dict[str, Any], instructions: str | None = "Be careful.", **kw: Any
) -> Definitions:
    return Definitions("k8s", tuple(tools), instructions, **kw)


@pytest.fixture
def control() -> ControlPlane:
    clock = FakeClock()
    plane = ControlPlane(MemoryStore(clock), clock)
    plane.store.add_upstream(Upstream.stdio("k8s", "server"), actor=ACTOR)
    return plane


def upstream(control: ControlPlane) -> Upstream:
    return control.store.get_upstream("k8s")


def test_at_add_everything_but_suspicious_text_is_pinned(control: ControlPlane) -> None:
    listed = live(tool("a", "A."), tool("b", "B\u2066."), instructions="Hidden\u200b.")
    done = pin_new_upstream(control, upstream(control), listed, actor=ACTOR)
    assert list(done.pinned) == ["a"]
    assert set(done.skipped) == {"b", "instructions"}
    assert done.instructions is False
    pins = control.store.get_pins("k8s")
    assert set(pins.tools) == {"a"}
    assert pins.instructions is None
    found = review(control, upstream(control), listed)
    assert [t.status.status for t in found.tools] == [Status.PINNED, Status.SUSPICIOUS]
    assert found.instructions.status is Status.SUSPICIOUS
    assert found.instructions.findings == ("/instructions: U+200B",)


def test_nothing_is_pinned_at_add_when_pinning_is_off(control: ControlPlane) -> None:
    off = Upstream.stdio("quiet", "server", pinning=Pinning.OFF)
    control.store.add_upstream(off, actor=ACTOR)
    assert not pin_new_upstream(control, off, live(tool("a")), actor=ACTOR).changed
    assert control.store.get_pins("quiet").empty


def test_an_incomplete_listing_reports_and_drops_no_removal(control: ControlPlane) -> None:
    pin_new_upstream(control, upstream(control), live(tool("a"), tool("b")), actor=ACTOR)
    partial = live(tool("a"), complete=False)
    found = review(control, upstream(control), partial)
    assert [t.name for t in found.tools] == ["a"]
    assert found.complete is False
    done = accept(control, upstream(control), partial, every=True, actor=ACTOR)
    assert done.unpinned == ()
    assert "b" in control.store.get_pins("k8s").tools


def test_new_instructions_go_with_all_and_suspicious_ones_only_when_named(
    control: ControlPlane,
) -> None:
    pin_new_upstream(control, upstream(control), live(tool("a")), actor=ACTOR)
    changed = live(tool("a"), instructions="Be bold.")
    assert accept(control, upstream(control), changed, every=True, actor=ACTOR).instructions
    hidden = live(tool("a"), instructions="Be\u202e bold.")
    every = accept(control, upstream(control), hidden, every=True, actor=ACTOR)
    assert every.skipped == {"instructions": "suspicious: accepted only when named"}
    named = accept(control, upstream(control), hidden, instructions=True, actor=ACTOR)
    assert named.instructions
    pins = control.store.get_pins("k8s")
    assert pins.instructions is not None
    assert pins.instructions.text == "Be\u202e bold."


def test_a_tool_listed_twice_is_never_pinned(control: ControlPlane) -> None:
    twice = live(tool("a", "One."), tool("a", "Two."))
    with pytest.raises(Conflict, match="more than once"):
        accept(control, upstream(control), twice, tools=["a"], actor=ACTOR)
    every = accept(control, upstream(control), twice, every=True, actor=ACTOR)
    assert every.skipped == {"a": "suspicious: accepted only when named"}
    assert "a" not in control.store.get_pins("k8s").tools


def test_expect_is_checked_against_the_live_hash(control: ControlPlane) -> None:
    listed = live(tool("a", "A."))
    [status] = review(control, upstream(control), listed).tools
    assert status.status.live_hash is not None
    with pytest.raises(Conflict, match=r"expected \(not a hash\)"):
        accept(control, upstream(control), listed, tools=["a"], expect="\x1b[2J", actor=ACTOR)
    pin_new_upstream(control, upstream(control), listed, actor=ACTOR)
    with pytest.raises(InvalidValue, match="no longer lists"):
        accept(control, upstream(control), live(), tools=["a"], expect="v1:0", actor=ACTOR)
    done = accept(
        control, upstream(control), listed, tools=["a"], expect=status.status.live_hash, actor=ACTOR
    )
    assert done.skipped == {"a": "already pinned as listed"}


def test_the_diff_of_a_tool_names_its_fields(control: ControlPlane) -> None:
    pin_new_upstream(control, upstream(control), live(tool("a", "A.")), actor=ACTOR)
    changed = tool("a", "A.", annotations={"destructiveHint": True})
    found = tool_diff(control, upstream(control), live(changed), "a")
    assert found.status.status is Status.CHANGED
    assert found.lines == ('/annotations added: {"destructiveHint":true}',)
    assert found.live == changed


def test_text_is_shown_without_hidden_or_control_characters() -> None:
    assert printable("a\u200bb\x1b[31mc\n") == "a<U+200B>b<U+001B>[31mc<U+000A>"
    assert printable("plain text, é") == "plain text, é"
    assert short_description("First line.\nSecond.") == "First line."
    assert short_description("x" * 200).endswith("…")
    assert short_description(None) == ""
    assert short_description("Clear\x1b[2J the screen.") == "Clear<U+001B>[2J the screen."
