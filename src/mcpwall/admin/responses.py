"""The JSON responses of the admin API."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse


class JSON(JSONResponse):
    """A JSON response that cannot fail to render.

    JSON text can carry a lone surrogate (``"\\ud800"``): a policy document may, and so may a
    problem found in it. Such a string has no UTF-8 form; JSON's ``\\u`` escapes write it in
    ASCII, as the client sent it.
    """

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            text = json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
            return text.encode("ascii")
