"""The store's errors read as the design asks: where, what was found, what was expected."""

from __future__ import annotations

from mcpwall.core.errors import (
    Conflict,
    InvalidDuration,
    InvalidName,
    InvalidValue,
    MCPWallError,
    NotFound,
    SecretKeyError,
    StoreError,
    StoreUnavailable,
)


def test_the_tree() -> None:
    assert issubclass(InvalidName, InvalidValue)
    assert issubclass(InvalidDuration, InvalidValue)
    assert issubclass(InvalidValue, MCPWallError)
    for error in (NotFound, Conflict, StoreUnavailable, SecretKeyError):
        assert issubclass(error, StoreError)
    assert issubclass(StoreError, MCPWallError)


def test_an_invalid_value_quotes_what_it_found() -> None:
    error = InvalidValue('upstream "k8s" url', 'ftp://"x"\n', "an http:// or https:// URL")
    assert str(error) == (
        'upstream "k8s" url "ftp://\\"x\\"\\n": expected an http:// or https:// URL'
    )
    assert (error.what, error.found, error.expected) == (
        'upstream "k8s" url',
        'ftp://"x"\n',
        "an http:// or https:// URL",
    )


def test_a_secret_value_is_described_not_shown() -> None:
    error = InvalidValue("env TOKEN value", "s3cret\x00", "no NUL", secret=True)
    assert str(error) == "env TOKEN value (not shown, 7 characters): expected no NUL"


def test_not_found_names_the_kind_the_key_and_who_asked() -> None:
    assert str(NotFound("upstream", "k8s")) == 'upstream "k8s" not found'
    error = NotFound("policy", "strict", where="binding k8s=strict", hint="see policy list")
    assert str(error) == 'binding k8s=strict: policy "strict" not found (see policy list)'
    assert (error.kind, error.key) == ("policy", "strict")


def test_unavailable_names_the_database_and_the_reason() -> None:
    error = StoreUnavailable("postgresql://u:***@db/x", "connection refused")
    assert str(error) == "database postgresql://u:***@db/x is unavailable: connection refused"
    assert (error.url, error.reason) == ("postgresql://u:***@db/x", "connection refused")
