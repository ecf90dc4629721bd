"""Redaction: only allowed attributes' strings are shown, and secrets in them are masked."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_llmobs.config.settings import ConfigError, Source, resolve
from pytest_llmobs.gate.redact import MASK, SHOWN_CHARS, RedactError, Redactor, redactor

SECRETS = [
    "jane.doe+test@example.co.uk",
    "sk-proj-4f9Qx2LmNp8RtV6wYz1A",
    "sk-ant-api03-abcdefghijklmnopqrstuvwx",
    "AKIAIOSFODNN7EXAMPLE",
    "ghp_0123456789abcdefghijklmnopqrstuvwxyz",
    "xoxb-123456789012-abcdefghij",
    "AIzaSyA-1234567890abcdefghijklmnopqrstu",
    "Bearer abc.def-ghi_jkl",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sgnature_part",
    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
]


@pytest.mark.parametrize("secret", SECRETS)
def test_default_patterns_mask_keys_tokens_and_emails(secret: str) -> None:
    shown = redactor().text(f"calling with {secret} now")
    assert secret not in shown
    assert shown.startswith("calling with ")
    assert MASK in shown
    assert shown.endswith(" now")


@pytest.mark.parametrize(
    "plain",
    ["gpt-4o-mini-2024-07-18", "claude-3-5-sonnet-20241022", "my-long-deployment-name-eu-west-1-v2",
     "stop", "a sentence with numbers 12 and words", "user@localhost"],
)  # fmt: skip
def test_ordinary_values_are_left_alone(plain: str) -> None:
    assert redactor().text(plain) == plain


def test_only_allowed_attributes_show_their_strings() -> None:
    r = redactor(allow=["app.*", "cohort"])
    assert r.value("gen_ai.prompt", "What is my balance?") == "[19 characters withheld]"
    assert r.value("input.value", ("hi", "there", 3)) == "[7 characters withheld]"
    assert r.value("gen_ai.request.model", "gpt-4o") == "gpt-4o"
    assert r.value("llm.model_name", "gpt-4o") == "gpt-4o"  # an alias of an allowed name
    assert r.value("app.route", "/chat for a@b.io") == f"/chat for {MASK}"  # glob, masked
    assert r.value("cohort", "free") == "free"
    assert r.value("gen_ai.response.finish_reasons", ("stop", "length")) == ("stop", "length")
    assert r.value("gen_ai.usage.input_tokens", 12) == 12  # numbers are never withheld
    assert r.attributes({"b": "x", "cohort": "pro"}) == {
        "b": "[1 characters withheld]",
        "cohort": "pro",
    }


def test_long_allowed_strings_are_cut_after_masking() -> None:
    key = "sk-" + "a" * 40
    value = "x" * (SHOWN_CHARS - 10) + " " + key + " tail" * 1000
    shown = redactor(allow=["long"]).value("long", value)
    assert isinstance(shown, str)
    assert "aaaaaaaaaa" not in shown  # the key straddling the cut is masked, not half shown
    assert shown.endswith(f"... [{len(value)} characters]")
    assert len(shown) < SHOWN_CHARS + 40


def test_a_bad_pattern_is_an_error_quoting_it() -> None:
    with pytest.raises(RedactError, match=r"'\(unclosed' is not a regular expression"):
        Redactor(patterns=("(unclosed",))


def test_pyproject_extends_the_defaults_and_grouping_attributes_are_shown() -> None:
    table = {"redact": {"allow": ["app.route"], "patterns": [r"ACME-\d+"]}, "group_by": ["tier"]}
    settings = resolve([Source("[tool.llmobs] in p", table, Path("/p"))], Path("/p"))
    r = settings.redact
    assert r.value("app.route", "order ACME-42 for x@y.org") == f"order {MASK} for {MASK}"
    assert r.value("tier", "pro") == "pro"
    assert r.value("gen_ai.request.model", "m") == "m"
    assert r.value("gen_ai.prompt", "p") == "[1 characters withheld]"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"allow": "app.route"}, 'allow = "app.route": expected a list of strings'),
        ({"patterns": [3]}, "patterns = [3]: expected a list of strings"),
        ({"patterns": ["(x"]}, "patterns: '(x' is not a regular expression"),
        ({"hide": []}, "expected a table with `allow` and `patterns` lists"),
        ("all", "expected a table"),
    ],
)
def test_bad_redact_tables_name_the_file(table: object, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve([Source("[tool.llmobs] in /p/pyproject.toml", {"redact": table}, Path("/p"))],
                Path("/p"))  # fmt: skip
    assert str(info.value).startswith("redact ([tool.llmobs] in /p/pyproject.toml): ")
    assert message in str(info.value)
