"""Reading a submitted form: URL-encoded, bounded, every field once.

Every dashboard form is ``application/x-www-form-urlencoded`` (htmx's and the browser's
default; nothing is uploaded), so the standard library's parser is all it takes, after a read
bounded by the largest thing a form carries: a policy document at its own limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl

from starlette.requests import Request

from mcpwall.core.durations import parse_duration
from mcpwall.core.errors import InvalidValue
from mcpwall.core.policy.parse import MAX_DOCUMENT_BYTES

FORM_TYPE = "application/x-www-form-urlencoded"
# A policy document percent-encodes to at most three bytes a byte, plus the other fields.
MAX_FORM_BYTES = 3 * MAX_DOCUMENT_BYTES + 64 * 1024
MAX_FIELDS = 64


class FormError(InvalidValue):
    """A form that can't be read: its type, its size, its encoding or its fields."""


async def read_form(request: Request) -> dict[str, str]:
    """The fields of the request's form; an empty body is an empty form."""
    media_type = request.headers.get("content-type", FORM_TYPE).partition(";")[0].strip()
    if media_type.lower() != FORM_TYPE:
        raise FormError("form", media_type, FORM_TYPE)
    declared = request.headers.get("content-length", "")
    if declared.isdecimal() and int(declared) > MAX_FORM_BYTES:
        raise FormError("form", f"{declared} bytes", f"at most {MAX_FORM_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormError("form", "a larger body", f"at most {MAX_FORM_BYTES} bytes")
    try:
        text = body.decode("ascii")  # percent-encoded: anything else is not a browser's form
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise FormError(
            "form",
            "a body that is not URL-encoded UTF-8",
            f"{FORM_TYPE}, UTF-8, at most {MAX_FIELDS} fields",
        ) from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields:
            raise FormError("form field", name, "once")
        fields[name] = value
    return fields


def expiry_field(form: Mapping[str, str], errors: dict[str, str]) -> int | None:
    """The form's optional ``expires`` (``30d``, ``12h``…) in seconds; a bad one is noted in
    ``errors`` at its field."""
    expires = form.get("expires", "").strip()
    if not expires:
        return None
    try:
        return parse_duration(expires)
    except InvalidValue as error:
        errors["expires"] = str(InvalidValue("expiry", expires, error.expected))
        return None
