"""Names of upstreams and policies, labels of grants."""

from __future__ import annotations

import pytest

from mcpwall.core.errors import InvalidName, InvalidValue
from mcpwall.core.names import check_name


@pytest.mark.parametrize("name", ["k8s", "a", "0", "payments-prod", "a" * 63, "9-lives-", "a--b"])
def test_valid_names_pass(name: str) -> None:
    assert check_name(name, "upstream name") == name


@pytest.mark.parametrize(
    "name", ["", "-k8s", "K8s", "k8s_prod", "k8s.prod", "a" * 64, "k8s ", "kübe", "k8s\n"]
)
def test_invalid_names_are_refused_saying_what_and_why(name: str) -> None:
    with pytest.raises(InvalidName) as caught:
        check_name(name, "upstream name")
    assert isinstance(caught.value, InvalidValue)
    assert str(caught.value).startswith("upstream name ")
    assert str(caught.value).endswith(
        ': expected a lowercase letter or digit, then up to 62 lowercase letters, digits or "-"'
    )
    assert (caught.value.what, caught.value.found) == ("upstream name", name)


def test_a_message_escapes_what_it_quotes() -> None:
    with pytest.raises(InvalidName, match=r'^grant label "a\\nb": expected'):
        check_name("a\nb", "grant label")
