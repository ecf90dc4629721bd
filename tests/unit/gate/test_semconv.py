"""The alias map: old and new GenAI attribute names, OpenInference and OpenLLMetry, read as one."""

from __future__ import annotations

import pytest

from pytest_llmobs.gate.semconv import (
    ALIASES,
    AliasError,
    alias_map,
    all_names,
    canonical,
    names_for,
    normalize,
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gen_ai.system", "gen_ai.provider.name"),  # openai-v2 before the stable names
        ("gen_ai.provider.name", "gen_ai.provider.name"),
        ("gen_ai.usage.prompt_tokens", "gen_ai.usage.input_tokens"),  # older OpenLLMetry
        ("gen_ai.usage.completion_tokens", "gen_ai.usage.output_tokens"),
        ("llm.token_count.prompt", "gen_ai.usage.input_tokens"),  # OpenInference
        ("llm.token_count.completion", "gen_ai.usage.output_tokens"),
        ("llm.token_count.total", "gen_ai.usage.total_tokens"),
        ("llm.usage.total_tokens", "gen_ai.usage.total_tokens"),  # OpenLLMetry
        ("llm.model_name", "gen_ai.request.model"),
        ("user_tier", "user_tier"),  # not a GenAI name: itself
    ],
)
def test_every_known_name_has_one_canonical_name(name: str, expected: str) -> None:
    assert canonical(name) == expected


def test_names_for_lists_the_canonical_name_first_from_any_of_its_names() -> None:
    assert names_for("gen_ai.system")[0] == "gen_ai.provider.name"
    assert set(names_for("gen_ai.system")) == set(names_for("gen_ai.provider.name"))
    assert names_for("domain") == ("domain",)
    assert all_names(["gen_ai.request.model", "domain"]) == {
        "gen_ai.request.model",
        "llm.model_name",
        "llm.request.model",
        "domain",
    }


def test_normalize_prefers_the_canonical_name_then_the_first_alias() -> None:
    old = {"gen_ai.system": "openai", "gen_ai.usage.prompt_tokens": 12, "prompt": "hi"}
    assert normalize(old) == {
        "gen_ai.provider.name": "openai",
        "gen_ai.usage.input_tokens": 12,
        "prompt": "hi",
    }
    both = {"llm.token_count.prompt": 3, "gen_ai.usage.input_tokens": 5}
    assert normalize(both) == {"gen_ai.usage.input_tokens": 5}
    aliases_only = {"llm.token_count.prompt": 3, "gen_ai.usage.prompt_tokens": 4}
    assert normalize(aliases_only) == {"gen_ai.usage.input_tokens": 4}


def test_user_aliases_extend_the_map_and_come_first() -> None:
    merged = alias_map({"gen_ai.request.model": ["model"], "cohort": ["user_tier"]})
    assert merged["gen_ai.request.model"][0] == "model"
    assert "llm.model_name" in merged["gen_ai.request.model"]
    assert canonical("user_tier", merged) == "cohort"
    assert normalize({"model": "m1"}, merged) == {"gen_ai.request.model": "m1"}
    assert set(ALIASES) < set(merged)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"cohort": ["gen_ai.request.model"]}, "is a name of its own"),
        ({"cohort": ["llm.model_name"]}, "cannot alias both"),
    ],
)
def test_contradictory_aliases_are_refused(extra: dict[str, list[str]], message: str) -> None:
    with pytest.raises(AliasError, match=message):
        alias_map(extra)
