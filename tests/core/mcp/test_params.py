"""Mcp-Param-* headers: a tool's x-mcp-header declarations, the headers a call sends, and the
check of received headers against the arguments (-32020 on any difference)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pytest
from hypothesis import assume, given, strategies as st

from mcpwall.core.errors import HeaderMismatch
from mcpwall.core.mcp.params import (
    NO_PARAMS,
    Declaration,
    InvalidDeclarations,
    ReceivedParams,
    check_param_headers,
    invalid_reasons,
    read_declarations,
    received_params,
    render_headers,
    tool_declarations,
)

# The spec's example tool (2026-07-28 streamable-http §Custom Headers), with a nested and an
# integer parameter of ours.
SCHEMA = {
    "type": "object",
    "properties": {
        "region": {"type": "string", "x-mcp-header": "Region"},
        "query": {"type": "string"},
        "shard": {"type": "integer", "x-mcp-header": "Shard"},
        "target": {
            "type": "object",
            "properties": {"dry_run": {"type": "boolean", "x-mcp-header": "Dry-Run"}},
        },
    },
    "required": ["region", "query"],
}
REGION = Declaration(("region",), "Region", "string")
SHARD = Declaration(("shard",), "Shard", "integer")
DRY_RUN = Declaration(("target", "dry_run"), "Dry-Run", "boolean")
DECLARED = (REGION, SHARD, DRY_RUN)


def received(**headers: str) -> ReceivedParams:
    """Received headers, named like keyword arguments: ``mcp_param_region="x"``."""
    return received_params({name.replace("_", "-"): value for name, value in headers.items()})


def mismatch(arguments: Mapping[str, object], params: ReceivedParams) -> str:
    with pytest.raises(HeaderMismatch) as refused:
        check_param_headers(DECLARED, arguments, params, request_id=9)
    assert refused.value.code == -32020
    assert refused.value.request_id == 9
    return refused.value.message


# -- declarations --------------------------------------------------------------------------------


def test_declarations_are_read_in_schema_order_with_their_paths_and_types() -> None:
    assert read_declarations(SCHEMA) == DECLARED
    assert DRY_RUN.header == "Mcp-Param-Dry-Run"
    assert DRY_RUN.key == "mcp-param-dry-run"
    assert DRY_RUN.argument == "target.dry_run"


@pytest.mark.parametrize(
    "schema", [None, "object", [], {}, {"type": "object"}, {"properties": {"a": True}}]
)
def test_a_schema_without_annotations_declares_nothing(schema: object) -> None:
    assert read_declarations(schema) == ()


def test_annotations_in_instance_data_are_not_declarations() -> None:
    schema = {
        "properties": {
            "a": {
                "type": "object",
                "default": {"x-mcp-header": "A"},
                "examples": [{"x-mcp-header": "A"}],
                "const": {"x-mcp-header": "A"},
                "enum": [{"x-mcp-header": "A"}],
            }
        },
        "x-unknown-keyword": {"x-mcp-header": "B"},
    }
    assert read_declarations(schema) == ()


def annotated(kind: object = "string", header: object = "H") -> dict[str, object]:
    return {"type": kind, "x-mcp-header": header}


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        ({"x-mcp-header": "H", "type": "string"}, "at the root is not on a property reached"),
        ({"allOf": [{"properties": {"a": annotated()}}]}, '"/allOf/0/properties/a" is not on'),
        ({"anyOf": [{"properties": {"a": annotated()}}]}, "is not on a property reached"),
        ({"oneOf": [annotated()]}, "is not on a property reached"),
        ({"not": annotated()}, "is not on a property reached"),
        ({"if": annotated(), "then": {}}, "is not on a property reached"),
        ({"properties": {"a": {"type": "array", "items": annotated()}}}, '"/properties/a/items"'),
        ({"properties": {"a": {"type": "array", "items": [annotated()]}}}, "is not on"),
        ({"properties": {"a": {"prefixItems": [annotated()]}}}, "is not on"),
        ({"additionalProperties": annotated()}, "is not on a property reached"),
        ({"patternProperties": {"^a": annotated()}}, "is not on a property reached"),
        ({"$defs": {"a": annotated()}, "properties": {"a": {"$ref": "#/$defs/a"}}}, "is not on"),
        ({"definitions": {"a": annotated()}}, "is not on a property reached"),
        ({"properties": {"a": annotated(header=7)}}, "is not a string"),
        ({"properties": {"a": annotated(header=10**5000)}}, "is not a string"),
        ({"properties": {"a": annotated(header="")}}, "is not an HTTP header-name token"),
        ({"properties": {"a": annotated(header="A B")}}, "is not an HTTP header-name token"),
        ({"properties": {"a": annotated(header="Région")}}, "is not an HTTP header-name token"),
        ({"properties": {"a": annotated(header="A\r\nX: 1")}}, "is not an HTTP header-name"),
        ({"properties": {"a": annotated(header="A:")}}, "is not an HTTP header-name token"),
        ({"properties": {"a": annotated(kind="number")}}, 'of type "number" (expected string,'),
        ({"properties": {"a": annotated(kind="object")}}, 'of type "object"'),
        ({"properties": {"a": annotated(kind="array")}}, 'of type "array"'),
        ({"properties": {"a": annotated(kind=["string", "null"])}}, "of no single type"),
        ({"properties": {"a": {"x-mcp-header": "H"}}}, "of no single type"),
        (
            {"properties": {"a": annotated(header="Tenant"), "b": annotated(header="tenant")}},
            'x-mcp-header "tenant" at "/properties/b" repeats the one at "/properties/a"',
        ),
        (
            {
                "properties": {
                    "a": annotated(header="X"),
                    "b": {"type": "object", "properties": {"c": annotated(header="x")}},
                }
            },
            "repeats the one at",
        ),
    ],
)
def test_invalid_annotations_say_where_and_why(schema: object, reason: str) -> None:
    declared = read_declarations(schema)
    assert isinstance(declared, InvalidDeclarations)
    assert reason in declared.reason


def test_a_schema_deeper_than_the_recursion_limit_is_walked() -> None:
    schema: dict[str, object] = annotated()
    for _ in range(3_000):
        schema = {"properties": {"p": schema}}
    declared = read_declarations(schema)
    assert declared == (Declaration(("p",) * 3_000, "H", "string"),)


def test_a_listing_names_the_tools_to_drop_and_why() -> None:
    tools = [
        {"name": "ok", "inputSchema": SCHEMA},
        {"name": "plain", "inputSchema": {"type": "object"}},
        {"name": "bad", "inputSchema": {"properties": {"a": annotated(kind="number")}}},
        {"name": 5, "inputSchema": {"x-mcp-header": "H"}},  # no string name: not a tool
        "not a tool",
    ]
    found = tool_declarations(tools)
    assert found["ok"] == DECLARED
    assert found["plain"] == ()
    assert set(found) == {"ok", "plain", "bad"}
    assert list(invalid_reasons(found)) == ["bad"]
    assert "number" in invalid_reasons(found)["bad"]
    assert tool_declarations(None) == {}


# -- rendering -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "header"),  # the spec's Value Encoding examples
    [
        ("us-west1", "us-west1"),
        ("Hello, 世界", "=?base64?SGVsbG8sIOS4lueVjA==?="),
        (" padded ", "=?base64?IHBhZGRlZCA=?="),
        ("line1\nline2", "=?base64?bGluZTEKbGluZTI=?="),
        ("=?base64?literal?=", "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?="),
    ],
)
def test_strings_are_sent_encoded_like_mcp_name(region: str, header: str) -> None:
    assert render_headers(DECLARED, {"region": region}) == {"Mcp-Param-Region": header}


def test_each_type_is_rendered_as_the_spec_says() -> None:
    arguments = {"region": "eu", "query": "q", "shard": -7, "target": {"dry_run": False}}
    assert render_headers(DECLARED, arguments) == {
        "Mcp-Param-Region": "eu",
        "Mcp-Param-Shard": "-7",
        "Mcp-Param-Dry-Run": "false",
    }
    assert render_headers(DECLARED, {"target": {"dry_run": True}}) == {"Mcp-Param-Dry-Run": "true"}


def test_a_whole_float_for_an_integer_is_sent_in_plain_digits() -> None:
    assert render_headers(DECLARED, {"shard": 42.0}) == {"Mcp-Param-Shard": "42"}
    assert render_headers(DECLARED, {"shard": 1e20}) == {"Mcp-Param-Shard": "1" + "0" * 20}
    assert render_headers(DECLARED, {"shard": 4.5}) == {"Mcp-Param-Shard": "4.5"}
    # A value the schema doesn't expect is still mirrored, as the SDKs do.
    assert render_headers(DECLARED, {"region": 42.0}) == {"Mcp-Param-Region": "42.0"}


@pytest.mark.parametrize(
    "arguments",
    [
        {},
        {"region": None, "shard": None},
        {"region": {"nested": "object"}, "shard": [1]},
        {"target": "not an object"},
        {"target": {"dry_run": None}},
        {"target": None},
    ],
)
def test_no_header_for_an_absent_null_or_unmirrorable_value(arguments: dict[str, object]) -> None:
    assert render_headers(DECLARED, arguments) == {}


# -- checking ------------------------------------------------------------------------------------


def test_headers_that_say_what_the_arguments_say_pass() -> None:
    arguments = {"region": "Hello, 世界", "shard": 3, "target": {"dry_run": True}}
    params = received(
        mcp_param_region="=?base64?SGVsbG8sIOS4lueVjA==?=",
        mcp_param_shard="3",
        mcp_param_dry_run="true",
    )
    check_param_headers(DECLARED, arguments, params)
    check_param_headers(DECLARED, {}, NO_PARAMS)
    check_param_headers(DECLARED, {"region": None, "query": "x"}, NO_PARAMS)
    check_param_headers((), {"region": "eu"}, received(mcp_param_region="elsewhere"))


def test_headers_nothing_declares_are_ignored() -> None:
    params = received(mcp_param_region="eu", mcp_param_unknown="anything", mcp_param_query="q")
    check_param_headers(DECLARED, {"region": "eu", "query": "not q"}, params)
    repeated = ReceivedParams(params.values, frozenset({"mcp-param-unknown"}))
    check_param_headers(DECLARED, {"region": "eu"}, repeated)


@pytest.mark.parametrize("header", ["42", "42.0", "42.000", "042", "0042.0"])
def test_integers_compare_as_numbers(header: str) -> None:
    check_param_headers(DECLARED, {"shard": 42}, received(mcp_param_shard=header))
    check_param_headers(DECLARED, {"shard": 42.0}, received(mcp_param_shard=header))


def test_integers_compare_exactly_beyond_double_precision() -> None:
    big = 2**70 + 1
    check_param_headers(DECLARED, {"shard": big}, received(mcp_param_shard=str(big)))
    assert "does not match" in mismatch({"shard": big}, received(mcp_param_shard=str(big - 1)))
    check_param_headers(DECLARED, {"shard": 0}, received(mcp_param_shard="-0"))
    check_param_headers(DECLARED, {"shard": -5}, received(mcp_param_shard="-005.0"))
    huge = "9" * 10_000  # longer than Python converts to an int: compared without converting
    assert "does not match" in mismatch({"shard": 1}, received(mcp_param_shard=huge))


@pytest.mark.parametrize("header", ["42.5", "4.2e1", "0x2a", " 42", "42 ", "-42", "forty-two"])
def test_other_spellings_of_an_integer_do_not_match(header: str) -> None:
    message = mismatch({"shard": 42}, received(mcp_param_shard=header))
    assert "does not match" in message


def test_strings_and_booleans_compare_exactly() -> None:
    assert "does not match" in mismatch({"region": "eu"}, received(mcp_param_region="EU"))
    assert "does not match" in mismatch({"region": "42"}, received(mcp_param_region="42.0"))
    params = received(mcp_param_dry_run="True")
    assert "does not match" in mismatch({"target": {"dry_run": True}}, params)


@pytest.mark.parametrize(
    ("arguments", "params", "expected"),
    [
        (
            {"region": "eu"},
            NO_PARAMS,
            "the Mcp-Param-Region header is missing (expected it, as the body has a value for "
            'argument "region")',
        ),
        (
            {"query": "q"},
            received(mcp_param_region="eu"),
            "the Mcp-Param-Region header is present, but the body has no value for argument "
            '"region" (expected no header)',
        ),
        (
            {"region": None},
            received(mcp_param_region="eu"),
            "is present, but the body has no value for",
        ),
        (
            {"region": {"a": 1}},
            received(mcp_param_region="eu"),
            'is present, but argument "region" is of type object, which is not mirrored',
        ),
        (
            {"region": "eu"},
            received(mcp_param_region="us"),
            'the Mcp-Param-Region header does not match the value of argument "region" in the '
            "body, of type string (values are not shown)",
        ),
        (
            {"region": "eu"},
            ReceivedParams({"mcp-param-region": "eu"}, frozenset({"mcp-param-region"})),
            "the Mcp-Param-Region header was sent more than once (expected it once)",
        ),
        ({"region": "eu"}, received(mcp_param_region="=?base64?ZXU?="), "is malformed"),
        ({"region": "eu"}, received(mcp_param_region="=?base64?!!?="), "is malformed"),
        ({"region": "é"}, received(mcp_param_region="é"), "is malformed"),  # raw non-ASCII
        ({"region": "a\x00b"}, received(mcp_param_region="a\x00b"), "is malformed"),
        (
            {"target": {"dry_run": False}},
            NO_PARAMS,
            "the Mcp-Param-Dry-Run header is missing (expected it, as the body has a value for "
            'argument "target.dry_run")',
        ),
    ],
)
def test_every_difference_is_a_header_mismatch_naming_the_header(
    arguments: dict[str, object], params: ReceivedParams, expected: str
) -> None:
    assert expected in mismatch(arguments, params)


def test_only_mcp_param_headers_are_received() -> None:
    headers = {"mcp-param-region": "eu", "mcp-name": "t", "authorization": "Bearer x"}
    params = received_params(headers, ("mcp-param-region", "mcp-method"))
    assert params == ReceivedParams({"mcp-param-region": "eu"}, frozenset({"mcp-param-region"}))


# -- properties ----------------------------------------------------------------------------------

KINDS = st.sampled_from(["string", "integer", "boolean"])
TOKENS = st.from_regex(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}", fullmatch=True)
SCALARS = (
    st.text()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.none()
)
VALUES = SCALARS | st.lists(st.integers(), max_size=2) | st.dictionaries(st.text(), st.integers())


@st.composite
def declarations_and_arguments(
    draw: st.DrawFn,
) -> tuple[tuple[Declaration, ...], dict[str, object]]:
    tokens = draw(st.lists(TOKENS, min_size=1, max_size=4, unique_by=str.lower))
    declared = tuple(Declaration((f"p{i}",), token, draw(KINDS)) for i, token in enumerate(tokens))
    arguments: dict[str, object] = {
        f"p{i}": draw(VALUES) for i in range(len(tokens)) if draw(st.booleans())
    }
    return declared, arguments


@given(declarations_and_arguments())
def test_the_headers_a_call_sends_always_pass_the_check(
    case: tuple[tuple[Declaration, ...], dict[str, object]],
) -> None:
    declared, arguments = case
    sent = render_headers(declared, arguments)
    assert all(value.isascii() and value.isprintable() for value in sent.values())
    check_param_headers(
        declared, arguments, received_params({k.lower(): v for k, v in sent.items()})
    )


@given(declarations_and_arguments(), st.data())
def test_a_changed_value_is_refused_and_never_shown(
    case: tuple[tuple[Declaration, ...], dict[str, object]], data: st.DataObject
) -> None:
    declared, arguments = case
    sent = {k.lower(): v for k, v in render_headers(declared, arguments).items()}
    assume(sent)
    key = data.draw(st.sampled_from(sorted(sent)))
    secret = "s3cr3t-" + data.draw(st.text(min_size=1))
    tampered = received_params({**sent, key: secret.encode("unicode_escape").decode("ascii")})
    with pytest.raises(HeaderMismatch) as refused:
        check_param_headers(declared, arguments, tampered)
    assert "s3cr3t" not in refused.value.message


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_a_whole_float_and_its_integer_send_the_same_header(value: float) -> None:
    assume(value.is_integer() and not math.isinf(value))
    as_float = render_headers((SHARD,), {"shard": value})
    assert as_float == render_headers((SHARD,), {"shard": int(value)})


@given(st.text(), st.sampled_from(["missing", "extra", "changed", "repeated", "malformed"]))
def test_no_refusal_shows_a_value(text: str, how: str) -> None:
    value, header = f"v4lue-{text}", f"h3ader-{text}".encode("unicode_escape").decode("ascii")
    cases = {
        "missing": ({"region": value}, NO_PARAMS),
        "extra": ({}, received(mcp_param_region=header)),
        "changed": ({"region": value}, received(mcp_param_region=header)),
        "repeated": (
            {"region": value},
            ReceivedParams({"mcp-param-region": header}, frozenset({"mcp-param-region"})),
        ),
        "malformed": ({"region": value}, received(mcp_param_region=f"=?base64?{header}?=")),
    }
    arguments, params = cases[how]
    message = mismatch(arguments, params)
    assert "v4lue" not in message
    assert "h3ader" not in message
