"""The decoders on their own: what each reads, what it refuses and why, and where the limits sit.

The golden cases (cases/decoders.cases.yaml, cases/hostile-inputs.cases.yaml) show the same through
whole policies; this file holds what needs a generated input (10,001 values, 100,000 brackets)
or a comparison with another reader (sh itself, shlex, YAML 1.1).
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from mcpwall.core.errors import UnreadableValue
from mcpwall.core.policy.decoders import DECODERS, MAX_BYTES, MAX_DEPTH, MAX_VALUES
from mcpwall.core.policy.shell_words import MAX_PIECES, MAX_WORDS, split_words
from mcpwall.core.policy.yaml_reader import (
    _SPECIAL_WORDS,
    MAX_NUMERAL,
    core_schema,
    read_document,
    read_stream,
    yaml_1_1,
)


def refusal(decoder: str, value: object) -> str:
    with pytest.raises(UnreadableValue) as caught:
        DECODERS[decoder].decode(value)
    return caught.value.reason


# -- |shell --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("kubectl get pods -n staging", ["kubectl", "get", "pods", "-n", "staging"]),
        ("  ls\t-la  ", ["ls", "-la"]),
        ("echo 'a b' \"c d\"", ["echo", "a b", "c d"]),
        ("echo a'b'\"c\"d", ["echo", "abcd"]),
        ("echo '' \"\"", ["echo", "", ""]),
        ("echo 'it'\\''s'", ["echo", "it's"]),
        ('echo "a\\"b" "a\\\\b" "a\\b"', ["echo", 'a"b', "a\\b", "a\\b"]),
        ("echo a\\ b a\\;b", ["echo", "a b", "a;b"]),
        ("echo '$HOME' '`id`' '*' '#x' '~'", ["echo", "$HOME", "`id`", "*", "#x", "~"]),
        ("echo issue#12 HEAD~1 a=b", ["echo", "issue#12", "HEAD~1", "a=b"]),
        ("echo 'x=1'", ["echo", "x=1"]),
        ("'A=1' ls", ["A=1", "ls"]),
        ("", []),
        ("   ", []),
    ],
)
def test_shell_words_split_as_posix_sh_does(text: str, words: list[str]) -> None:
    assert split_words(text) == words


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("ls; rm", 'an operator ";" at character 3'),
        ("ls && rm", 'an operator "&" at character 4'),
        ("ls || rm", 'an operator "|" at character 4'),
        ("cat <in", 'an operator "<" at character 5'),
        ("(ls)", 'an operator "(" at character 1'),
        ("echo $HOME", 'an expansion "$" at character 6'),
        ("echo ${HOME}", 'an expansion "$" at character 6'),
        ("echo x`id`", 'an expansion "`" at character 7'),
        ('echo "`id`"', 'an expansion "`" inside double quotes at character 7'),
        ("ls *.txt", 'an unquoted "*" (a shell would expand it; quote it) at character 4'),
        ("ls a?", 'an unquoted "?" (a shell would expand it; quote it) at character 5'),
        ("ls [ab]", 'an unquoted "[" (a shell would expand it; quote it) at character 4'),
        ("ls {a,b}", 'an unquoted "{" (a shell would expand it; quote it) at character 4'),
        ("ls ~root", 'a "~" a shell would expand (quote it) at character 4'),
        ("ls --dir=~", 'a "~" a shell would expand (quote it) at character 10'),
        ("ls #x", 'a comment "#" at character 4'),
        ("X=1 ls", "an assignment (NAME=value) where the command should be at character 1"),
        ("! rm -rf x", 'a reserved word "!" where the command should be at character 1'),
        ("  if true", 'a reserved word "if" where the command should be at character 3'),
        ("ls\nrm", "a line break at character 3"),
        ("ls\rrm", "a line break at character 3"),
        ("ls 'a\nb'", "a line break at character 6"),
        ("ls\x00", "a control character (U+0000) at character 3"),
        ("ls\x1b[31m", "a control character (U+001B) at character 3"),
        ("ls 'a", "an unbalanced single quote at character 4"),
        ('ls "a', "an unbalanced double quote at character 4"),
        ("ls \\", "a backslash at the end at character 4"),
        (
            "ls\u2003-la",
            "whitespace other than space or tab (U+2003) outside quotes at character 3",
        ),
    ],
)
def test_shell_refuses_what_a_shell_would_interpret(text: str, reason: str) -> None:
    assert refusal("shell", text) == reason


@pytest.mark.parametrize(
    ("text", "sh_words"),
    [
        ("a#b", ["a#b"]),  # shlex ends the word at "#"; sh starts a comment only at a word's start
        ('"a\\$b"', ["a$b"]),  # shlex keeps the backslash; in sh it escapes "$" inside "…"
        ('"a\\`b"', ["a`b"]),
    ],
)
def test_shlex_splits_these_differently_from_sh(text: str, sh_words: list[str]) -> None:
    """Why |shell is hand-written: shlex in POSIX mode gets each of these wrong.

    (With ``comments=True``, which sh needs: without it shlex takes ``ls # x`` for two words.)
    """
    assert split_words(text) == sh_words
    assert shlex.split(text, comments=True) != sh_words


@pytest.mark.parametrize(
    "text", ["a;b", "ls $(rm -rf /)", "cat *", "ls\nrm", "X=1 ls", "ls &", "! rm x"]
)
def test_shlex_refuses_nothing_a_shell_would_interpret(text: str) -> None:
    """shlex splits all of these happily; to sh each is more than one literal command."""
    shlex.split(text)  # no error
    with pytest.raises(UnreadableValue):
        split_words(text)


@settings(deadline=None)
@given(st.lists(st.text(st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"])), max_size=6))
def test_words_quoted_singly_come_back_as_they_were(words: list[str]) -> None:
    """Any words, each in single quotes (its own quotes spelt '\\''), split back to themselves."""
    text = " ".join("'" + word.replace("'", "'\\''") + "'" for word in words)
    assert split_words(text) == words


# What sh itself is asked to split: quoting, escapes, blanks, globs and the characters that are
# literal in a word. Never "$", backticks, operators or a newline: were the splitter to accept
# one by mistake, the comparison below would still only ever run ``set --``.
SH_ALPHABET = "ab '\"\\\t#=~!:-./%^,@*?[]{}"


@pytest.mark.skipif(shutil.which("sh") is None, reason="no sh on PATH to compare with")
@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.filter_too_much])
@given(st.text(SH_ALPHABET, max_size=16))
def test_whatever_shell_accepts_sh_splits_into_the_same_words(
    glob_targets: Path, text: str
) -> None:
    """A differential test against the system's ``sh``, which does the splitting for real.

    The words go after ``set --`` and come back NUL-separated; the working directory holds files
    a glob would match, so an unquoted ``*`` let through would show as a difference.
    """
    try:
        words = split_words(text)
    except UnreadableValue:
        assume(False)
        return
    script = "set -- " + text + "\nfor word do printf '%s\\0' \"$word\"; done"
    ran = subprocess.run(
        ["sh", "-c", script], cwd=glob_targets, capture_output=True, check=True, timeout=10
    )
    assert ran.stdout.split(b"\0")[:-1] == [word.encode() for word in words]


@pytest.fixture(scope="module")
def glob_targets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory where ``*``, ``?`` and ``[ab]`` would each match files."""
    directory = tmp_path_factory.mktemp("sh-globs")
    for name in ("a", "ab", "b"):
        (directory / name).touch()
    return directory


def test_the_control_characters_refused_are_exactly_unicodes_but_tab() -> None:
    refused = {chr(code) for code in range(0x110000) if _refused_as_control(chr(code))}
    control = {chr(code) for code in range(0x110000) if unicodedata.category(chr(code)) == "Cc"}
    assert refused == control - {"\t"}


def _refused_as_control(char: str) -> bool:
    try:
        split_words("a" + char + "b")
    except UnreadableValue as exc:
        return exc.reason.startswith(("a control character", "a line break"))
    return False


def test_every_character_is_literal_blank_or_refused_as_sh_would_have_it() -> None:
    """Each BMP character (all of Unicode's whitespace is there) and a sample of the other planes,
    in the middle of a word, at its start and inside double quotes, against the rules in words.

    The words follow a command word, so that only the rules for words apply (not those for an
    assignment or a reserved word in the command's place).
    """
    characters = [chr(code) for code in range(0x10000)]
    characters += [chr(plane << 16 | low) for plane in range(1, 17) for low in range(64)]
    for char in characters:
        if char in "'\"\\":
            continue  # quoting, tested above
        category = unicodedata.category(char)
        middle, start = _outcome("x a" + char + "b"), _outcome("x " + char + "b")
        quoted = _outcome('x "a' + char + 'b"')
        if char in " \t":
            assert (middle, start, quoted) == (["x", "a", "b"], ["x", "b"], ["x", f"a{char}b"])
        elif category in ("Cc", "Zs", "Zl", "Zp") or char in ";|&<>()$`*?[{}":
            assert (middle, start) == (None, None), hex(ord(char))
            literal_inside = category != "Cc" and char not in "$`"
            assert quoted == (["x", f"a{char}b"] if literal_inside else None), hex(ord(char))
        else:
            assert middle == ["x", f"a{char}b"], hex(ord(char))
            assert start == (None if char in "#~" else ["x", f"{char}b"]), hex(ord(char))
            assert quoted == ["x", f"a{char}b"], hex(ord(char))


def _outcome(text: str) -> list[str] | None:
    try:
        return split_words(text)
    except UnreadableValue:
        return None


def test_shell_word_count_limit() -> None:
    assert len(split_words("a " * MAX_WORDS)) == MAX_WORDS
    assert refusal("shell", "a " * (MAX_WORDS + 1)) == f"more than {MAX_WORDS:,} words"


def test_shell_piece_count_limit() -> None:
    """Quoted strings, runs of escapes, of plain characters and of blanks each count as a piece."""
    within = "'a'b" * (MAX_PIECES // 2)  # a quoted string and a plain run: 2 pieces each time
    assert split_words(within) == ["ab" * (MAX_PIECES // 2)]
    assert refusal("shell", within + "'a'") == (
        f"more than {MAX_PIECES:,} quoted, escaped or plain pieces"
    )
    assert refusal("shell", '"a"\\b' * (MAX_PIECES // 2 + 1)).startswith("more than 100,000")


# -- |yaml and |yaml_all -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "core", "old"),
    [
        ("yes", "yes", True),
        ("No", "No", False),
        ("on", "on", True),
        ("010", 10, 8),
        ("0o10", 8, "0o10"),
        ("0x1F", 31, 31),
        ("07", 7, 7),
        ("1_000", "1_000", 1000),
        ("1:30", "1:30", 90),
        ("1e3", 1000.0, "1e3"),
        ("1.5", 1.5, 1.5),
        ("~", None, None),
        ("true", True, True),
        (".", ".", "."),
        ("nginx:1.27", "nginx:1.27", "nginx:1.27"),
    ],
)
def test_yaml_1_2_core_schema_against_yaml_1_1(text: str, core: object, old: object) -> None:
    assert core_schema(text) == core
    assert type(core_schema(text)) is type(core)
    assert yaml_1_1(text) == old
    assert type(yaml_1_1(text)) is type(old)


def test_a_date_is_a_string_in_1_2_and_a_timestamp_in_1_1() -> None:
    assert core_schema("2026-12-05") == "2026-12-05"
    assert not isinstance(yaml_1_1("2026-12-05"), str)


def test_yaml_streams_keep_documents_in_order_and_drop_empty_ones() -> None:
    stream = "---\na: 1\n---\n# only a comment\n---\n~\n---\n[x]\n...\n"
    assert read_stream(stream) == [{"a": 1}, None, ["x"]]
    assert read_stream("") == []
    assert read_document("--- a\n") == "a"


def test_yaml_value_limit() -> None:
    # The root array is one value and each item another.
    assert len(read_document("[" + "0," * (MAX_VALUES - 1) + "]")) == MAX_VALUES - 1  # type: ignore[arg-type]
    assert refusal("yaml", "[" + "0," * MAX_VALUES + "]").startswith(
        f"more than {MAX_VALUES:,} values"
    )
    # The limit holds across the documents of a stream.
    documents = "---\n[" + "0," * (MAX_VALUES // 2) + "]\n"
    assert refusal("yaml_all", documents * 2).startswith(f"more than {MAX_VALUES:,} values")


def test_yaml_keys_count_as_values() -> None:
    pairs = ", ".join(f"k{i}: 0" for i in range(MAX_VALUES // 2))
    assert refusal("yaml", "{" + pairs + "}").startswith(f"more than {MAX_VALUES:,} values")


@pytest.mark.parametrize(
    "numeral",
    [
        "1" * 5_000,  # past Python's limit on the digits of an integer
        "0x" + "f" * 1_000_000,  # past what a float can hold
        "0" + "7" * 1_000_000,  # a YAML 1.1 octal
        "1" + ":59" * 340_000,  # a YAML 1.1 sexagesimal: seconds of base-60 arithmetic
        "1." + "5" * 1_000_000,
    ],
)
def test_a_long_number_is_refused_before_it_is_converted(numeral: str) -> None:
    """The reason shows the length bound refused it, not a conversion (which would not finish
    in time, or would raise)."""
    assert refusal("yaml", "a: " + numeral) == (
        f"a number at line 1 written with more than {MAX_NUMERAL} characters"
    )


@pytest.mark.parametrize("text", ["1" + "x" * 200, "a" * 200, "1 2" * 100, "-" + "x" * 200])
def test_long_plain_text_that_is_no_number_is_not_held_to_the_bound(text: str) -> None:
    assert read_document("a: " + text) == {"a": text}


def test_a_long_date_is_refused_as_a_date_not_as_a_number() -> None:
    date = "2026-12-05T10:00:00." + "0" * 200 + "Z"
    assert refusal("yaml", "a: " + date) == (
        "the plain value at line 1 reads differently in YAML 1.1 and 1.2 (quote it)"
    )


def test_the_longest_number_within_the_bound_is_read() -> None:
    tiny = "0." + "0" * (MAX_NUMERAL - 3) + "1"
    assert len(tiny) == MAX_NUMERAL
    assert read_document("a: " + tiny) == {"a": float(tiny)}


def test_yaml_depth_limit() -> None:
    assert read_document("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    assert refusal("yaml", "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)) == (
        f"nested deeper than {MAX_DEPTH} levels at line 1"
    )
    # Far deeper input is refused too (libyaml stops scanning at its own limit, 1,000).
    assert "nesting depth" in refusal("yaml", "[" * 100_000)


# -- |json ---------------------------------------------------------------------------------------


def test_json_limits() -> None:
    assert DECODERS["json"].decode("[" + "0," * (MAX_VALUES - 2) + "0]") is not None
    assert (
        refusal("json", "[" + "0," * (MAX_VALUES - 1) + "0]") == f"more than {MAX_VALUES:,} values"
    )
    assert refusal("json", "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)) == (
        f"nested deeper than {MAX_DEPTH} levels"
    )
    assert refusal("json", "[" * 100_000 + "]" * 100_000) == (
        f"nested deeper than {MAX_DEPTH} levels"
    )
    assert refusal("json", "1" * 5000) == "a number with too many digits"


@pytest.mark.parametrize("decoder", ["json", "yaml"])
def test_keys_count_as_values_whichever_decoder_reads_them(decoder: str) -> None:
    """One object, as JSON (which YAML reads too): 1 + 2 per member, read alike by both."""
    within = (MAX_VALUES - 1) // 2
    members = ", ".join(f'"k{i}": 0' for i in range(within))
    assert DECODERS[decoder].decode("{" + members + "}") is not None
    over = members + f', "k{within}": 0'
    assert refusal(decoder, "{" + over + "}").startswith(f"more than {MAX_VALUES:,} values")
    assert refusal("json", "Infinity") == "Infinity is not a JSON number"


# -- every decoder -------------------------------------------------------------------------------


@pytest.mark.parametrize("decoder", sorted(DECODERS))
def test_every_decoder_refuses_what_is_not_a_string_or_too_big(decoder: str) -> None:
    assert refusal(decoder, 1) == "it is a number, not a string"
    assert refusal(decoder, None) == "it is null, not a string"
    assert refusal(decoder, ["a"]) == "it is an array, not a string"
    assert refusal(decoder, "x" * (MAX_BYTES + 1)) == (
        f"it is {MAX_BYTES + 1:,} bytes, over the limit of {MAX_BYTES:,}"
    )


SECRET = "s3cr3t value, do not log!"


@settings(deadline=None)
@given(
    decoder=st.sampled_from(sorted(DECODERS)),
    before=st.text(max_size=30),
    after=st.text(max_size=30),
)
def test_a_reason_never_quotes_the_value(decoder: str, before: str, after: str) -> None:
    """Reasons end up in decisions, which the proxy log records: never the text they refuse."""
    reason = ""
    try:
        DECODERS[decoder].decode(before + SECRET + after)
    except UnreadableValue as exc:
        reason = exc.reason
    assert "s3cr3t" not in reason


def test_the_special_words_are_exactly_the_words_a_schema_reads_as_non_strings() -> None:
    for word in _SPECIAL_WORDS:
        assert core_schema(word) != word or yaml_1_1(word) != word, word


@given(st.from_regex(r"[A-Za-z][^\n]{0,12}", fullmatch=True))
def test_a_plain_word_not_special_is_a_string_to_both_schemas(text: str) -> None:
    """What lets most scalars skip the regexes: beginning with a letter, only words are special."""
    if text not in _SPECIAL_WORDS:
        assert core_schema(text) == text
        assert yaml_1_1(text) == text


@given(st.from_regex(r"[0-9]{1,20}", fullmatch=True))
def test_a_plain_decimal_reads_as_the_slow_path_would(text: str) -> None:
    """Plain decimals skip the regexes too: the fast path agrees with both schemas or refuses."""
    agreed = core_schema(text) == yaml_1_1(text) and int(text) <= 2**53 - 1
    try:
        found: object = read_document(f"k: {text}\n")  # (a key "n" is false to YAML 1.1)
    except UnreadableValue:
        found = None
    assert found == ({"k": int(text)} if agreed else None)
