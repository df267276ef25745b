"""Document text → raw JSON value: strict JSON, or YAML 1.2.

JSON is parsed strictly: ``NaN``/``Infinity`` are refused, and an object with a duplicate key is
marked (see :class:`DuplicateKeyObject`) so compilation can report it with its pointer —
a parser that silently kept one of two values could make the policy say something else than
what its author read. YAML is read with the YAML 1.2 core schema (``no`` is a string, not
``false``), and duplicate keys are refused there too.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Literal, NoReturn

from mcpwall.core import jsonpointer
from mcpwall.core.errors import ArgumentsError, DocumentError, PolicyError, Problem
from mcpwall.core.jsonvalue import type_name
from mcpwall.core.policy.document import DuplicateKeyObject

if TYPE_CHECKING:
    from ruamel.yaml.error import MarkedYAMLError

MAX_DOCUMENT_BYTES = 1024 * 1024

Format = Literal["json", "yaml"]


def load_policy(text: str | bytes, *, source: str = "", format: Format | None = None) -> object:
    """Parse a policy document; raises :class:`PolicyError` when the text is not one."""
    try:
        return load_document(text, source=source, format=format)
    except DocumentError as exc:
        raise PolicyError(exc.problems, source=source) from None


def load_document(text: str | bytes, *, source: str = "", format: Format | None = None) -> object:
    """Parse a JSON or YAML document; ``format`` None means JSON when it looks like JSON.

    Raises :class:`DocumentError` with one problem saying why the text is not a document.
    """
    if isinstance(text, bytes):
        text = _decode(text, source)
    if len(text.encode("utf-8", "surrogatepass")) > MAX_DOCUMENT_BYTES:
        _fail(source, f"the document is over {MAX_DOCUMENT_BYTES} bytes (expected at most that)")
    looks_like_json = text.lstrip().startswith(("{", "["))
    if format == "json" or (format is None and looks_like_json):
        return _load_json(text, source)
    return _load_yaml(text, source)


def load_arguments(text: str) -> dict[str, object]:
    """Parse tool-call arguments given as JSON text; they must be one JSON object.

    Raises :class:`ArgumentsError` for anything else, a duplicate key included.
    """
    try:
        value = _load_json(text, "")
    except DocumentError as exc:
        raise ArgumentsError(exc.problems[0].message) from None
    duplicates = _duplicate_key_pointers(value, "")
    if duplicates:
        raise ArgumentsError(f"duplicate key at {duplicates[0]} (each key may appear once)")
    if not isinstance(value, dict):
        raise ArgumentsError(f"expected a JSON object, found {type_name(value)}")
    return value


def _fail(source: str, message: str) -> NoReturn:
    raise DocumentError([Problem("", message)], source=source)


def _decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        _fail(source, f"not UTF-8 text at byte {exc.start} (expected a JSON or YAML document)")


def _object_with_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = dict(pairs)
    if len(result) == len(pairs):
        return result
    marked = DuplicateKeyObject(pairs)
    marked.duplicates = tuple(key for key, n in Counter(k for k, _ in pairs).items() if n > 1)
    return marked


def _duplicate_key_pointers(value: object, pointer: str) -> list[str]:
    found: list[str] = []
    if isinstance(value, dict):
        found += [jsonpointer.join(pointer, key) for key in getattr(value, "duplicates", ())]
        for key, item in value.items():
            found += _duplicate_key_pointers(item, jsonpointer.join(pointer, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _duplicate_key_pointers(item, jsonpointer.join(pointer, index))
    return found


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def _load_json(text: str, source: str) -> object:
    try:
        return json.loads(
            text, object_pairs_hook=_object_with_duplicates, parse_constant=_refuse_constant
        )
    except json.JSONDecodeError as exc:
        _fail(source, f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}")
    except ValueError as exc:  # a refused constant, or an integer too long to convert
        _fail(source, f"not valid JSON: {exc}")
    except RecursionError:
        _fail(source, "not valid JSON: nested too deeply")


def _load_yaml(text: str, source: str) -> object:
    # The YAML library loads with the first YAML document: policies in the store are mostly
    # JSON, and ``mcpwall stdio`` compiles its policy while a desktop agent waits.
    from ruamel.yaml import YAML
    from ruamel.yaml.constructor import DuplicateKeyError
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    yaml = YAML(typ="safe", pure=True)
    try:
        return yaml.load(text)
    except DuplicateKeyError as exc:
        _fail(source, f"{_yaml_problem(exc)} (each key may appear once)")
    except MarkedYAMLError as exc:
        _fail(source, f"neither JSON nor valid YAML: {_yaml_problem(exc)}")
    except (YAMLError, RecursionError, ValueError) as exc:
        _fail(source, f"neither JSON nor valid YAML: {exc}")


def _yaml_problem(exc: MarkedYAMLError) -> str:
    """What ruamel found, and where: ``found … at line 3, column 1``."""
    where = exc.problem_mark or exc.context_mark
    at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
    return (exc.problem or exc.context or "malformed document").strip() + at
