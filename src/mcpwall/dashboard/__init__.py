"""The web dashboard on the admin port, at ``/``: server-rendered pages (Starlette, Jinja2),
htmx for partial updates and server-sent events for the live tail; no build step, nothing
from another host. See ``docs/dashboard.md``."""

from mcpwall.dashboard.app import create_dashboard

__all__ = ["create_dashboard"]
