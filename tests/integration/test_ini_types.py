"""Ini keys in TOML config files, native `[tool.pytest]` or `[tool.pytest.ini_options]`, are
read without pytest's deprecated paths, so `-W error` runs stay clean, and a bad value still
stops the run with our one line naming its source."""

from __future__ import annotations

import pytest

from tests.conftest import read_report

native_toml = pytest.mark.skipif(
    pytest.version_tuple < (9,), reason="[tool.pytest] with TOML types is pytest 9's"
)

SUITE = """
from opentelemetry import trace

def test_answer():
    for _ in range(3):
        with trace.get_tracer("app").start_as_current_span("llm_inference") as span:
            span.set_attribute("model", "m1")
            span.set_attribute("score", 0.9)
"""

# every kind of value a TOML table may hold for llmobs: booleans, numbers, lists, paths
NATIVE = """
llmobs = true
llmobs_ci = true
llmobs_exit_code = 7
llmobs_alpha = 0.05
llmobs_sample_rate = 1
llmobs_slowest = 2
llmobs_quality_threshold = 0.5
llmobs_fail_on_inconclusive = true
llmobs_no_fallback = false
llmobs_quality_attributes = ["score"]
llmobs_group_by = ["model"]
llmobs_json = "report.json"
"""


def _strict(*args: str) -> list[str]:
    """Warnings as errors: every one, and pytest's removals by name where pytest has them."""
    removed = ["-W", "error::pytest.PytestRemovedIn10Warning"]
    named = removed if hasattr(pytest, "PytestRemovedIn10Warning") else []
    return ["-p", "no:cacheprovider", "-W", "error", *named, *args]


def _output(result: pytest.RunResult) -> str:
    """The run's output, which must hold neither an internal error nor a warning."""
    output = "\n".join(result.outlines + result.errlines)
    assert "INTERNALERROR" not in output, output
    assert "Warning" not in output, output
    return output


def _assert_applied(result: pytest.RunResult, pytester: pytest.Pytester, ci: str) -> None:
    """The settings took effect: CI mode (from `ci`, as the report quotes it) without a
    baseline fails with exit 7; the quality attribute and grouping shape the series."""
    output = _output(result)
    assert result.ret == 7, output
    report = read_report(pytester)
    assert report["verdict"] != "pass"
    assert report["ci"] == {"on": True, "source": ci}
    assert report["fail_on_inconclusive"] is True
    assert report["settings"]["quality_attributes"] == ["score"]
    assert report["settings"]["group_by"] == ["model"]
    assert [(s["key"], s["count"]) for s in report["series"]] == [("llm_inference[model=m1]", 3)]
    assert report["series"][0]["quality"]["score"]["mean"] == pytest.approx(0.9)


@native_toml
def test_native_tool_pytest_table_under_warnings_as_errors(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_app=SUITE)
    pytester.makepyprojecttoml("[tool.pytest]" + NATIVE)
    result = pytester.runpytest_subprocess(*_strict())
    _assert_applied(result, pytester, f"llmobs_ci = true (ini file {pytester.path}/pyproject.toml)")


@native_toml
def test_native_pytest_toml_under_warnings_as_errors(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_app=SUITE)
    pytester.makefile(".toml", pytest="[pytest]" + NATIVE)
    result = pytester.runpytest_subprocess(*_strict())
    _assert_applied(result, pytester, f"llmobs_ci = true (ini file {pytester.path}/pytest.toml)")


def test_ini_options_table_with_toml_lists_under_warnings_as_errors(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_app=SUITE)
    pytester.makepyprojecttoml(
        "[tool.pytest.ini_options]\n"
        'llmobs = true\nllmobs_ci = "true"\nllmobs_exit_code = 7\n'
        'llmobs_fail_on_inconclusive = true\nllmobs_json = "report.json"\n'
        'llmobs_quality_attributes = ["score"]\nllmobs_group_by = ["model"]\n'
    )
    result = pytester.runpytest_subprocess(*_strict())
    # pytest hands ini_options values over as text, lists as lists
    _assert_applied(
        result, pytester, f'llmobs_ci = "true" (ini file {pytester.path}/pyproject.toml)'
    )


@native_toml
@pytest.mark.parametrize("file", ["pyproject.toml", "pytest.toml"])
def test_text_values_still_work_in_native_tables(pytester: pytest.Pytester, file: str) -> None:
    # names space-separated in one string and numbers as text, as ini files write them
    pytester.makepyfile(test_app=SUITE)
    table = (
        'llmobs = "true"\nllmobs_alpha = "0.05"\nllmobs_json = "report.json"\n'
        'llmobs_quality_attributes = "score other"\nllmobs_group_by = "model"\n'
    )
    if file == "pyproject.toml":
        pytester.makepyprojecttoml("[tool.pytest]\n" + table)
    else:
        pytester.makefile(".toml", pytest="[pytest]\n" + table)
    result = pytester.runpytest_subprocess(*_strict())
    output = _output(result)
    assert result.ret == 0, output
    report = read_report(pytester)
    assert report["settings"]["quality_attributes"] == ["score", "other"]
    assert [s["key"] for s in report["series"]] == ["llm_inference[model=m1]"]


# case: (the TOML line, what the one line quotes, what it expects)
BAD_NATIVE = {
    "bool for a number": ("llmobs_alpha = true", "llmobs_alpha = true", "a number"),
    "fraction for a count": ("llmobs_slowest = 2.5", "llmobs_slowest = 2.5", "whole number"),
    "number for names": ("llmobs_group_by = 3", "llmobs_group_by = 3", "attribute names"),
    "list for a path": ('llmobs_json = ["a"]', 'llmobs_json = ["a"]', "file path"),
    "text for a bool": ('llmobs_ci = "maybe"', 'llmobs_ci = "maybe"', "true or false"),
    "number for a bool": ("llmobs_ci = 1", "llmobs_ci = 1", "true or false"),
}


@native_toml
@pytest.mark.parametrize("case", list(BAD_NATIVE))
def test_bad_native_value_is_named_with_its_source(pytester: pytest.Pytester, case: str) -> None:
    line, quoted, expected = BAD_NATIVE[case]
    pytester.makepyfile("def test_nothing():\n    pass\n")
    pytester.makepyprojecttoml(f"[tool.pytest]\nllmobs = true\n{line}\n")
    result = pytester.runpytest_subprocess(*_strict())
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    lines = [line for line in result.outlines + result.errlines if line.strip()]
    assert len(lines) == 1, lines
    source = f"(ini file {pytester.path}/pyproject.toml)"
    assert lines[0].startswith(f"ERROR: llmobs: {quoted} {source}: "), lines
    assert expected in lines[0]


@pytest.mark.skipif(
    pytest.version_tuple < (9, 2), reason="a TOML file given with -c has [pytest] from 9.2"
)
@pytest.mark.parametrize("gate", [(), ("--llmobs",)], ids=["without", "with"])
def test_pytest_table_of_any_toml_file_given_with_c(
    pytester: pytest.Pytester, gate: tuple[str, ...]
) -> None:
    # pytest refuses a string for the 'args' key; the value is read from ci.toml itself
    pytester.makepyfile(test_app=SUITE)
    pytester.makefile(".toml", ci='[pytest]\nllmobs_group_by = "model"\nllmobs_json = "r.json"\n')
    result = pytester.runpytest_subprocess(*_strict("-c", "ci.toml", *gate))
    output = _output(result)
    assert result.ret == 0, output
    assert "ERROR" not in output
    if gate:
        report = read_report(pytester, "r.json")
        assert [s["key"] for s in report["series"]] == ["llm_inference[model=m1]"]


# Stands for a value pytest refuses and its file does not give either.
UNREADABLE = (
    "import pytest_llmobs.run.read_settings\n\n"
    "pytest_llmobs.run.read_settings.toml_ini_value = lambda *a: None\n"
)


@pytest.mark.skipif(pytest.version_tuple < (9, 2), reason="typed ini keys are pytest 9.2's")
@pytest.mark.parametrize(
    ("line", "gate", "fails"),
    [
        ("llmobs_group_by = 3", (), False),
        ("llmobs_group_by = 3", ("--llmobs",), True),
        ("llmobs_ci = 1.5", (), False),
        ("llmobs = 1", (), True),  # whether the gate is on: needed to run at all
    ],
)
def test_an_unreadable_value_fails_only_a_run_with_the_gate(
    pytester: pytest.Pytester, line: str, gate: tuple[str, ...], fails: bool
) -> None:
    pytester.makepyfile("def test_nothing():\n    pass\n")
    pytester.makeconftest(UNREADABLE)
    pytester.makepyprojecttoml(f"[tool.pytest]\n{line}\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *gate)
    if not fails:
        assert result.ret == 0, result.errlines
        return
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    key = line.partition(" ")[0]
    result.stderr.fnmatch_lines([f"ERROR: llmobs: {key} (ini file *pyproject.toml): *"])
