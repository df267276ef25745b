"""The headers every dashboard response carries, whatever produced it.

The Content-Security-Policy allows scripts, styles, images and connections from the
dashboard's own origin only: no inline script or style, no ``eval`` (htmx is configured with
``allowEval: false``), no frames, no forms posting elsewhere. A page that tried any of those
would be refused by the browser, which is what the browser tests check.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
)
# Pages show tokens (once), policies and the proxy log: no cache may keep them. Static files
# set their own validators and are left alone.
NO_STORE = (b"cache-control", b"no-store")


class SecurityHeaders:
    """ASGI middleware adding :data:`HEADERS` to every response (and ``no-store`` to pages)."""

    def __init__(self, app: ASGIApp, *, static_prefix: str = "/static/") -> None:
        self.app = app
        self.static_prefix = static_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith(self.static_prefix)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() not in _OURS and (static or name.lower() != b"cache-control")
                ]
                headers.extend(HEADERS)
                if not static:
                    headers.append(NO_STORE)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


_OURS = frozenset(name for name, _ in HEADERS)
