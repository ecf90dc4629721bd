"""The baseline file: round trip, bounded samples, atomic writes and clear errors."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pytest_llmobs.gate import baseline, promotion, series_parse, stored
from pytest_llmobs.gate.compare import compare
from pytest_llmobs.gate.jsonfile import write_atomic
from pytest_llmobs.gate.model import SeriesStats
from pytest_llmobs.gate.selection import RanTests
from pytest_llmobs.gate.semconv import COST_ATTRIBUTE, TOKEN_METRICS
from pytest_llmobs.gate.shape import Shape
from tests.conftest import make_series


def write(path: Path, series_count: int = 2) -> list[SeriesStats]:
    series = [
        make_series(f"s{i}", [1.0 + i, 2.5, 3.25], errors=1, quality={"q": [0.5, 0.75]})
        for i in range(series_count)
    ]
    write_atomic(path, baseline.baseline_document(series, {"plugin_version": "x"}))
    return series


def test_round_trip_keeps_summaries_and_samples(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "baseline.json"
    series = write(path)
    loaded = baseline.load(path)
    assert loaded.schema == baseline.BASELINE_SCHEMA
    assert loaded.metadata == {"plugin_version": "x"}
    for before, after in zip(series, loaded.series, strict=True):
        assert after.key == before.key
        assert (after.count, after.errors) == (3, 1)
        # summaries are stored to 0.1 microsecond
        assert asdict(after.latency) == pytest.approx(asdict(before.latency), abs=1e-4)
        assert after.quality == before.quality
        assert list(after.latency_samples) == list(before.latency_samples)
        assert list(after.quality_samples["q"]) == [0.5, 0.75]


def test_file_is_stable_sorted_and_diff_friendly(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    write(first)
    write(second)
    text = first.read_text()
    assert text == second.read_text()
    assert text.endswith("}\n")
    assert '"latency_ms": [2.0, 2.5, 3.25]' in text  # samples on one line
    doc = json.loads(text)
    assert list(doc) == sorted(doc)
    assert doc["version"] == baseline.SCHEMA_VERSION


def test_samples_are_bounded_per_case_and_deterministic(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    values = rng.lognormal(3, 0.5, 10_000)
    cases = [f"t[{i % 100}]" for i in range(10_000)]
    series = make_series("llm", list(values), cases=cases)
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    for path in (first, second):
        write_atomic(path, baseline.baseline_document([series], {}))
    assert first.read_bytes() == second.read_bytes()
    [loaded] = baseline.load(first).series
    assert len(loaded.latency_samples) == 1000  # each of 100 cases keeps its 10
    assert len(loaded.cases) == 100
    assert loaded.count == 10_000  # summaries still describe every span
    assert np.median(loaded.latency_samples) == pytest.approx(np.median(values), rel=0.05)
    case_0 = np.sort(values[::100])  # the spans of t[0]
    kept_0 = loaded.latency_samples[loaded.latency_case == loaded.cases.index("t[0]")]
    assert kept_0[0] == pytest.approx(case_0[0], abs=1e-4)  # its extremes survive
    assert kept_0[-1] == pytest.approx(case_0[-1], abs=1e-4)


def test_atomic_write_leaves_no_temporary_files(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    write(path)
    write(path, 3)
    assert [p.name for p in tmp_path.iterdir()] == ["baseline.json"]
    assert len(baseline.load(path).series) == 3


def test_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        baseline.load(tmp_path / "nope.json")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\x00\xff\xfe garbage", "not valid JSON"),
        (b'{"schema": "pytest-llmobs/baseline", "version": 1, "ser', "not valid JSON"),
        (b"[]", "not a pytest-llmobs file"),
        (b'{"machine_info": {}, "benchmarks": []}', "not a pytest-llmobs file"),
        (b'{"schema": "pytest-llmobs/baseline", "version": 99, "series": []}',
         "schema version 99 needs a newer pytest-llmobs"),
        (b'{"schema": "pytest-llmobs/baseline", "version": 1, "series": {}}',
         "series.series must be a list"),
    ],
    ids=["empty", "binary", "truncated", "array", "foreign", "newer", "series-not-list"],
)  # fmt: skip
def test_unusable_files_name_the_file_and_problem(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "baseline.json"
    path.write_bytes(content)
    with pytest.raises(baseline.BaselineError) as info:
        baseline.load(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [("count", -1), ("count", "3"), ("errors", 9), ("latency_ms.p95", float("nan"))],
)
def test_bad_numbers_are_rejected_with_their_place(
    tmp_path: Path, field: str, value: object
) -> None:
    path = tmp_path / "baseline.json"
    write(path)
    doc = json.loads(path.read_text())
    target = doc["series"][1]
    *parents, leaf = field.split(".")
    for parent in parents:
        target = target[parent]
    target[leaf] = value
    path.write_text(json.dumps(doc))
    with pytest.raises(baseline.BaselineError, match=r"series\[1\]"):
        baseline.load(path)


def test_a_directory_is_an_error_not_a_crash(tmp_path: Path) -> None:
    with pytest.raises(baseline.BaselineError, match="cannot read"):
        baseline.load(tmp_path)


def huge_document(samples: int, cases: int = 200) -> dict[str, object]:
    """A valid baseline of one series holding far more samples than this plugin writes."""
    rng = np.random.default_rng(1)
    values = np.round(rng.lognormal(3, 0.3, samples), 3)
    per_case = np.array_split(values, cases)
    return {
        "schema": baseline.BASELINE_SCHEMA,
        "version": baseline.SCHEMA_VERSION,
        "series": [
            {
                "name": "llm",
                "count": samples,
                "errors": 0,
                "latency_ms": dict.fromkeys(series_parse.LATENCY_FIELDS, 20.0),
                "quality": {"q": {"count": samples, "mean": 0.5}},
                "cases": {
                    f"t.py::test[{i}]": {"latency_ms": part.tolist(), "quality": {"q": [0.5] * 3}}
                    for i, part in enumerate(per_case)
                },
            }
        ],
    }


def test_a_baseline_with_millions_of_samples_loads_bounded(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    doc = huge_document(2_000_000)
    path.write_text(json.dumps(doc))
    [series] = baseline.load(path).series
    # kept as this plugin would have written it: every case, about SAMPLE_LIMIT samples
    assert len(series.cases) == 200
    assert len(series.latency_samples) == stored.SAMPLE_LIMIT
    assert series.latency_case is not None
    assert set(np.unique(series.latency_case)) == set(range(200))
    assert len(series.quality_samples["q"]) == 600  # under the limit: all kept
    every = np.concatenate([c["latency_ms"] for c in doc["series"][0]["cases"].values()])  # type: ignore[index]
    assert np.median(series.latency_samples) == pytest.approx(np.median(every), rel=0.02)
    assert np.max(series.latency_samples) == pytest.approx(np.max(every), rel=0.02)
    assert series.count == 2_000_000


def test_a_file_larger_than_any_baseline_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    with path.open("wb") as fh:  # sparse: no disk or time spent, only its size matters
        fh.truncate(baseline.MAX_FILE_BYTES + 1)
    with pytest.raises(baseline.BaselineError) as info:
        baseline.load(path)
    assert str(info.value).startswith(f"{path}: 128 MB is more than a baseline may be")
    assert "--llmobs-update-baseline" in str(info.value)


README = Path(__file__).parents[3] / "README.md"  # it mentions pytest-llmobs/ files
DOCUMENT = baseline.baseline_document([make_series("a", [1.0, 2.0])], {"plugin_version": "x"})
CUT = DOCUMENT[: DOCUMENT.index('"series"') + 20]  # a baseline cut short after its schema


@pytest.mark.parametrize(
    ("content", "ours"),
    [
        ("", True),
        ("\n  \n", True),
        (DOCUMENT, True),
        (DOCUMENT.replace("\n", "\r\n")[:len(CUT) + 4], True),  # checked out with CRLF
        (CUT, True),
        ('{"schema": "pytest-llmobs/run", "version": 1}', True),
        ('{"schema": "pytest-llmobs/baseline", "version": 99}', True),  # newer: not foreign
        (README.read_text(encoding="utf-8"), False),
        ("# App\nIts baseline has\n  \"schema\": \"pytest-llmobs/baseline\",\n", False),
        ('{"note": "see pytest-llmobs/baseline"}', False),
        ('{"schema": "other/baseline"}', False),
        ("[1, 2]", False),
        ("[project]\nname = 'app'\n", False),
        ('{"schema": "pytest-llmobs/baseline", "ver', False),  # not as the writer writes
        ('{\n  "a": {\n    "schema": "pytest-llmobs/baseline",\n    "x', False),  # nested
        ("\x00\x89 binary", False),
    ],
    ids=["empty", "blank", "baseline", "crlf", "truncated", "run-report", "newer", "readme",
         "mention", "json-mention", "other-schema", "array", "toml", "compact-cut",
         "nested-cut", "binary"],
)  # fmt: skip
def test_only_a_file_this_plugin_writes_is_taken_for_a_baseline(
    tmp_path: Path, content: str, ours: bool
) -> None:
    path = tmp_path / "baseline.json"
    path.write_bytes(content.encode("utf-8"))
    why = baseline.foreign(path)
    assert why == (None if ours else (
        f"{path} is not a pytest-llmobs baseline: give the baseline's path, or delete the "
        "file to record a new one there"
    ))  # fmt: skip


def test_a_file_too_large_to_parse_is_told_by_its_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "baseline.json"
    path.write_text(DOCUMENT)
    monkeypatch.setattr(baseline, "MAX_FILE_BYTES", len(CUT))  # read up to the cut only
    assert baseline.foreign(path) is None
    path.write_text(README.read_text(encoding="utf-8"))
    assert baseline.foreign(path) is not None


def test_a_baseline_too_large_to_read_back_is_not_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "baseline.json"
    write(path)
    before = path.read_bytes()
    monkeypatch.setattr(baseline, "MAX_FILE_BYTES", 100)
    full = RanTests(frozenset({"t.py::test"}), frozenset())  # may replace one it cannot read
    state = promotion.promote([make_series("llm", [1.0, 2.0])], path, {}, tests=full)
    assert state.status == "error"
    assert state.message.startswith(f"{path}: not written: ")
    assert path.read_bytes() == before


def test_what_shaped_the_series_and_the_tests_that_ran_survive_a_round_trip(
    tmp_path: Path,
) -> None:
    path = tmp_path / "baseline.json"
    shape = Shape(("q",), ("user_tier",), {"user_tier": ("user_tier",)}, ("req",), ("t.py::f",))
    document = baseline.baseline_document(
        [make_series("s", [1.0])], {}, shape, ["t.py::b", "t.py::a"]
    )
    write_atomic(path, document)
    loaded = baseline.load(path)
    assert loaded.settings == shape
    assert loaded.tests == frozenset({"t.py::a", "t.py::b"})
    assert json.loads(path.read_text())["tests"] == ["t.py::a", "t.py::b"]  # sorted
    write(path)  # an older file records neither
    assert (baseline.load(path).settings, baseline.load(path).tests) == (None, None)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("settings", {"group_by": "x"}, "settings.group_by_names must be an object"),
        ("settings", [], "settings must be an object"),
        ("tests", "t.py::a", "tests must be a list of test ids"),
        ("tests", [1], "tests must be a list of test ids"),
    ],
)
def test_a_bad_record_names_the_file(
    tmp_path: Path, field: str, value: object, message: str
) -> None:
    path = tmp_path / "baseline.json"
    write(path)
    doc = json.loads(path.read_text())
    doc[field] = value
    path.write_text(json.dumps(doc))
    with pytest.raises(baseline.BaselineError, match=f"^{path}: {message}"):
        baseline.load(path)


def test_a_case_with_cache_hits_alone_is_still_recorded_as_present(tmp_path: Path) -> None:
    series = replace(
        make_series("s", [1.0, 2.0], cases=["t::a", "t::a"]),
        cases=("t::a", "t::cached"), present=np.array([0, 1]),
    )  # fmt: skip
    path = tmp_path / "baseline.json"
    write_atomic(path, baseline.baseline_document([series], {}))
    assert baseline.load(path).series[0].cases == ("t::a", "t::cached")


def stored_through_a_file(tmp_path: Path, series: SeriesStats) -> SeriesStats:
    path = tmp_path / "run.json"
    write_atomic(path, baseline.baseline_document([series], {}))
    [loaded] = baseline.load(path).series
    return loaded


def assert_same_series(a: SeriesStats, b: SeriesStats) -> None:
    assert (a.key, a.count, a.errors, a.cache_hits) == (b.key, b.count, b.errors, b.cache_hits)
    assert (a.latency, a.quality, a.cases) == (b.latency, b.quality, b.cases)
    assert a.latency_samples.tolist() == b.latency_samples.tolist()
    assert a.latency_case is not None
    assert b.latency_case is not None
    assert a.latency_case.tolist() == b.latency_case.tolist()
    assert a.quality_samples.keys() == b.quality_samples.keys()
    for attr in a.quality_samples:
        assert a.quality_samples[attr].tolist() == b.quality_samples[attr].tolist()
        assert a.quality_case[attr].tolist() == b.quality_case[attr].tolist()


@pytest.mark.parametrize("spans", [1, 7, 999, 1000, 1001, 5000])
def test_as_stored_is_what_a_file_gives_back(tmp_path: Path, spans: int) -> None:
    rng = np.random.default_rng(spans)
    cases = [f"t.py::test[{rng.integers(0, 1200 if spans == 5000 else 40)}]" for _ in range(spans)]
    series = make_series(
        "s", list(rng.lognormal(3, 1.0, spans) * 1.000001), errors=spans // 10,
        quality={"q": list(rng.normal(0.7, 0.2, spans) / 3), "cost": [2.2e-6] * spans},
        cases=cases or None,
    )  # fmt: skip
    if spans:  # a case with cache hits alone, present but without a latency
        series = replace(series, cases=(*series.cases, "t.py::cached"), present=None)
    [kept] = stored.as_stored([series])
    assert_same_series(kept, stored_through_a_file(tmp_path, series))
    # stored once, stored again: the same (a run report promoted to baseline keeps it)
    [again] = stored.as_stored([kept])
    assert_same_series(again, kept)
    assert len(kept.latency_samples) <= max(stored.SAMPLE_LIMIT, len(kept.cases))


def test_stored_values_keep_six_significant_digits() -> None:
    values = np.array([2.2345678e-6, 1234.56789, 0.0, -0.123456789, 98765432.1])
    assert stored.significants(values).tolist() == [
        2.23457e-06,
        1234.57,
        0.0,
        -0.123457,
        98765400.0,
    ]
    assert [repr(v) for v in stored.significants(values).tolist()] == [
        "2.23457e-06", "1234.57", "0.0", "-0.123457", "98765400.0"
    ]  # fmt: skip
    assert stored.significant(2.2345678e-6) == 2.23457e-06


PRICED = {"score": [0.5, 0.75, 0.9], "gen_ai.usage.input_tokens": [400.0, 412.0, 425.5],
          "gen_ai.usage.output_tokens": [11.0, 12.0, 13.0],
          "llmobs.cost_usd": [2.2e-6, 2.25e-6, 2.3e-6]}  # fmt: skip
CASES3 = ["t.py::test[a]", "t.py::test[b]", "t.py::test[b]"]


def as_version_1(doc: dict[str, Any]) -> dict[str, Any]:
    """A document as pytest-llmobs wrote it before tokens and cost had keys of their own:
    every mean and sample under "quality", by attribute."""
    old: dict[str, Any] = json.loads(json.dumps(doc))
    old["version"] = 1
    for series in old["series"]:
        for entry in (series, *series["cases"].values()):
            quality = entry.setdefault("quality", {})
            for kind, values in entry.pop("tokens", {}).items():
                quality[TOKEN_METRICS[f"tokens.{kind}"]] = values
            if "cost_usd" in entry:
                quality[COST_ATTRIBUTE] = entry.pop("cost_usd")
    return old


def test_tokens_and_cost_are_kept_under_their_own_keys(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    write_atomic(path, baseline.baseline_document([make_series("s", [1.0, 2.0, 3.0],
                 quality=PRICED, cases=CASES3)], {}))  # fmt: skip
    doc = json.loads(path.read_text())
    assert doc["version"] == 2
    [series] = doc["series"]
    assert series["quality"] == {"score": {"count": 3, "mean": 0.716667}}  # scores only
    assert series["tokens"] == {
        "input": {"count": 3, "mean": 412.5}, "output": {"count": 3, "mean": 12.0}
    }  # fmt: skip
    assert series["cost_usd"] == {"count": 3, "mean": 2.25e-6}
    assert series["cases"]["t.py::test[a]"] == {
        "latency_ms": [1.0], "quality": {"score": [0.5]},
        "tokens": {"input": [400.0], "output": [11.0]}, "cost_usd": [2.2e-6],
    }  # fmt: skip
    [loaded] = baseline.load(path).series
    assert set(loaded.quality) == set(PRICED)
    assert loaded.quality_samples["llmobs.cost_usd"].tolist() == [2.2e-6, 2.25e-6, 2.3e-6]
    unscored = make_series("u", [1.0], quality={"gen_ai.usage.input_tokens": [5.0]}, cases=["c"])
    write_atomic(path, baseline.baseline_document([unscored], {}))
    [series] = json.loads(path.read_text())["series"]
    assert series["cases"]["c"] == {"latency_ms": [1.0], "tokens": {"input": [5.0]}}
    assert (series["quality"], "cost_usd" in series) == ({}, False)


def test_a_baseline_of_version_1_loads_and_compares_exactly_as_before(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    cases = [f"t.py::test[{i % 20}]" for i in range(60)]
    was = make_series(
        "s",
        list(rng.lognormal(3, 0.3, 60)),
        cases=cases,
        quality={k: [v[i % 3] for i in range(60)] for k, v in PRICED.items()},
    )
    now = make_series(
        "s",
        list(rng.lognormal(3.1, 0.3, 60)),
        cases=cases,
        quality={k: [v[i % 3] * 1.3 for i in range(60)] for k, v in PRICED.items()},
    )
    new, old = tmp_path / "new.json", tmp_path / "old.json"
    write_atomic(new, baseline.baseline_document([was], {}))
    old.write_text(json.dumps(as_version_1(json.loads(new.read_text()))))
    [from_new], [from_old] = baseline.load(new).series, baseline.load(old).series
    assert_same_series(from_old, from_new)
    assert list(from_old.quality) == list(from_new.quality)
    judged = compare([now], [from_new], ["score"]).checks
    assert compare([now], [from_old], ["score"]).checks == judged
    assert {c.metric for c in judged} >= {"tokens.input", "tokens.output", "cost"}
    # written again (promoted, updated), it takes the new shape
    write_atomic(new, baseline.baseline_document(baseline.load(old).series, {}))
    written = json.loads(new.read_text())
    assert (written["version"], sorted(written["series"][0]["tokens"])) == (2, ["input", "output"])
    assert as_version_1(written) == json.loads(old.read_text())


def test_an_older_pytest_llmobs_refuses_a_baseline_it_would_read_without_tokens_and_cost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "baseline.json"
    write_atomic(path, baseline.baseline_document([make_series("s", [1.0], quality=PRICED)], {}))
    monkeypatch.setattr(baseline, "SCHEMA_VERSION", 1)  # a reader of version 1
    with pytest.raises(baseline.NewerVersion, match="schema version 2 needs a newer"):
        baseline.load(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tokens": {"total": {"count": 1, "mean": 3.0}}},
         "series[0].tokens.total: unknown token count (known: input or output)"),
        ({"tokens": []}, "series[0].tokens must be an object"),
        ({"tokens": {"input": 3}}, "series[0].tokens.input must be an object"),
        ({"cost_usd": 2.2e-6}, "series[0].cost_usd must be an object"),
        ({"cost_usd": {"count": 1.5, "mean": 2.2e-6}}, "series[0].cost_usd.count must be a whole"),
        ({"quality": {"gen_ai.usage.input_tokens": {"count": 1, "mean": 3.0}}},
         "series[0].tokens.input: given twice, also as quality.gen_ai.usage.input_tokens"),
        ({"cases": {"c": {"latency_ms": [1.0], "cost_usd": [-1, "x"]}}},
         "series[0].cases['c'].cost_usd must be a list of numbers"),
        ({"cases": {"c": {"latency_ms": [1.0], "tokens": {"output": {}}}}},
         "series[0].cases['c'].tokens.output must be a list of numbers"),
    ],
    ids=["unknown-kind", "tokens-not-object", "summary-not-object", "cost-not-object",
         "cost-count", "twice", "cost-samples", "token-samples"],
)  # fmt: skip
def test_bad_tokens_or_cost_name_their_place(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    path = tmp_path / "baseline.json"
    write_atomic(path, baseline.baseline_document([make_series("s", [1.0], quality=PRICED)], {}))
    doc = json.loads(path.read_text())
    doc["series"][0].update(change)
    path.write_text(json.dumps(doc))
    with pytest.raises(baseline.BaselineError) as info:
        baseline.load(path)
    assert str(info.value).startswith(f"{path}: {message}")
