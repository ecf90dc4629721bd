"""Every kind of bad setting stops the run with one line quoting the value and naming its source."""

from __future__ import annotations

import pytest

from tests.conftest import read_report

PYPROJECT = "[tool.llmobs] in {path}/pyproject.toml"
INI = "ini file {path}/tox.ini"

# case: (command line flags, tox.ini body, pyproject.toml body, expected text, source)
BAD: dict[str, tuple[list[str], str, str, str, str]] = {
    "flag: alpha not a number": (
        ["--llmobs-alpha", "abc"], "", "", "--llmobs-alpha=abc", "(command line)",
    ),
    "flag: sample rate above 1": (
        ["--llmobs-sample-rate", "1.5"], "", "", "--llmobs-sample-rate=1.5", "(command line)",
    ),
    "flag: exit code 256": (
        ["--llmobs-exit-code", "256"], "", "", "--llmobs-exit-code=256", "(command line)",
    ),
    "ini: alpha of 2": (
        [], "llmobs_alpha = 2", "", 'llmobs_alpha = "2"', f"({INI})",
    ),
    "ini: not a boolean": (
        [], "llmobs_fail_on_inconclusive = maybe", "", 'llmobs_fail_on_inconclusive = "maybe"',
        f"({INI})",
    ),
    "pyproject: alpha as text": (
        [], "", 'alpha = "often"', 'alpha = "often"', f"({PYPROJECT})",
    ),
    "pyproject: names as a number": (
        [], "", "quality_attributes = 3", "quality_attributes = 3", f"({PYPROJECT})",
    ),
    "pyproject: unknown key": (
        [], "", "alhpa = 0.05", "unknown key 'alhpa': did you mean alpha?", PYPROJECT,
    ),
    "pyproject: rule text": (
        [], "", '[tool.llmobs.rules]\nlatency_p95 = "+fast"', '"+fast"', PYPROJECT,
    ),
    "pyproject: unknown metric": (
        [], "", '[tool.llmobs.rules]\nlatency_p42 = "+10%"', "latency_p42", PYPROJECT,
    ),
    "pyproject: SLO text": (
        [], "", '[tool.llmobs.slo]\n"llm*" = { latency_p95 = "soon" }', '"soon"', PYPROJECT,
    ),
    "pyproject: aliases not a list": (
        [], "", "[tool.llmobs.aliases]\nmodel = 3", "model = 3", PYPROJECT,
    ),
    "pyproject: SLO rate written as percent without %": (
        [], "", "[tool.llmobs.slo]\nerror_rate = { warn = 5, fail = 10 }",
        'warn = 5 is a rate above 100%: write "5%" or 0.05', PYPROJECT,
    ),
    "pyproject: SLO rate written as text without %": (
        [], "", '[tool.llmobs.slo]\nerror_rate = { warn = "5" }',
        'warn = "5" is a rate above 100%: write "5%" or 0.05', PYPROJECT,
    ),
    "pyproject: SLO rate above 100%": (
        [], "", '[tool.llmobs.slo]\nerror_rate = { fail = "150%" }',
        'fail = "150%" is a rate above 100%', PYPROJECT,
    ),
    "pyproject: SLO error rate fail below warn": (
        [], "", '[tool.llmobs.slo]\nerror_rate = { warn = "5%", fail = "2%" }',
        'here fail "2%" and warn "5%": swap them?', PYPROJECT,
    ),
    "pyproject: SLO latency fail below warn": (
        [], "", '[tool.llmobs.slo]\nlatency = { p95 = { warn = "1s", fail = "500ms" } }',
        "a higher latency.p95 is worse", PYPROJECT,
    ),
    "pyproject: SLO quality fail above warn": (
        [], "", "[tool.llmobs.slo]\nquality = { score = { warn = 0.6, fail = 0.7 } }",
        "a lower quality.score is worse), here fail 0.7 and warn 0.6", PYPROJECT,
    ),
    "pyproject: error rate rule above 100%": (
        [], "", '[tool.llmobs.rules]\nerror_rate = "+5"',
        "'+5' is a rate above 100%: write +5pp or +0.05", PYPROJECT,
    ),
    "pyproject: negative price": (
        [], "", '[tool.llmobs.prices]\n"gpt-x" = { input = -1, output = 1 }', "gpt-x",
        PYPROJECT,
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD))
def test_bad_setting_stops_the_run_with_one_line(pytester: pytest.Pytester, case: str) -> None:
    flags, ini, pyproject, quoted, source = BAD[case]
    pytester.makepyfile("def test_nothing():\n    pass\n")
    if ini:
        pytester.makeini(f"[pytest]\n{ini}\n")
    if pyproject:
        pytester.makepyprojecttoml(f"[tool.llmobs]\n{pyproject}\n")
    result = pytester.runpytest_subprocess(
        "--llmobs", "--llmobs-json", "report.json", "-p", "no:cacheprovider", *flags
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = result.stdout.lines + result.stderr.lines
    source = source.format(path=pytester.path)
    lines = [line for line in output if line.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith("ERROR: llmobs: ")
    assert quoted in lines[0]
    assert source in lines[0]
    report = read_report(pytester)
    assert report["verdict"] == "error"
    assert lines[0].removeprefix("ERROR: llmobs: ") in report["errors"]


@pytest.mark.skipif(
    pytest.version_tuple < (9,), reason="[tool.pytest] with TOML types is pytest 9's"
)
def test_native_toml_ini_values_are_read_and_checked(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing():\n    pass\n")
    pytester.makepyprojecttoml(
        "[tool.pytest]\nllmobs = true\nllmobs_alpha = 0.05\nllmobs_fail_on_inconclusive = true\n"
        'llmobs_quality_attributes = ["score"]\nllmobs_json = "report.json"\n'
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == 0
    assert read_report(pytester)["verdict"] == "pass"
    pytester.makepyprojecttoml("[tool.pytest]\nllmobs = true\nllmobs_alpha = 5\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: llmobs: llmobs_alpha = 5 (ini file */pyproject.toml): *"])


def test_a_bad_value_from_pytest_addopts_is_not_said_to_be_typed(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile("def test_nothing():\n    pass\n")
    monkeypatch.setenv("PYTEST_ADDOPTS", "--llmobs-slowest=x")
    result = pytester.runpytest_subprocess("--llmobs")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--llmobs-slowest=x (addopts or PYTEST_ADDOPTS): expected*"])
    result = pytester.runpytest_subprocess("--llmobs", "--llmobs-slowest=y")  # typed: it wins
    result.stderr.fnmatch_lines(["*--llmobs-slowest=y (command line): expected*"])
    monkeypatch.setenv("PYTEST_ADDOPTS", "--llmobs-ci")
    result = pytester.runpytest_subprocess("--llmobs", "--llmobs-json=report.json")
    assert read_report(pytester)["ci"]["source"] == "--llmobs-ci (addopts or PYTEST_ADDOPTS)"
