"""Templates: one Jinja2 environment, whole pages and the blocks htmx asks for.

A page is one template extending ``base.html``. An htmx request (``HX-Request``) that is not
a boosted navigation gets only the block the view names (``jinja2-fragments`` renders it from
the same template), so a partial update and a reload always show the same markup.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from jinja2_fragments import render_block
from starlette.responses import HTMLResponse

from mcpwall.core.logquery import DECISIONS, OUTCOMES

SINCE_CHOICES = ("1h", "24h", "7d", "30d")


def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("mcpwall.dashboard", "templates"),
        autoescape=select_autoescape(["html", "svg"], default=True),
        undefined=StrictUndefined,  # a misspelt name is an error, not an empty string
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["when"] = when
    environment.filters["ago"] = ago
    environment.filters["number"] = number
    # What every proxy-log filter form offers (macros see globals, not the page's context).
    environment.globals["since_choices"] = SINCE_CHOICES
    environment.globals["outcomes"] = OUTCOMES
    environment.globals["decisions"] = DECISIONS
    return environment


def render(
    template: str,
    context: Mapping[str, Any],
    *,
    block: str | None = None,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """A template rendered whole, or only its ``block``."""
    if block is None:
        html = ENVIRONMENT.get_template(template).render(context)
    else:
        html = render_block(ENVIRONMENT, template, block, **context)
    return HTMLResponse(html, status_code=status, headers=dict(headers or {}))


def when(moment: datetime | None) -> str:
    """A time as pages show it: UTC, to the second (``2026-12-05 18:12:41Z``)."""
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def ago(moment: datetime | None, now: datetime) -> str:
    """How long before ``now`` a time was, roughly (``3 min ago``)."""
    if moment is None:
        return "never"
    seconds = int((now - moment).total_seconds())
    if seconds < 0:
        return "in the future"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def number(value: int | float) -> str:
    """A count with thousands separated (``12,908``)."""
    return f"{value:,}"


ENVIRONMENT = _environment()
