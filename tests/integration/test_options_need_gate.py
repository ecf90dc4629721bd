"""llmobs options typed without --llmobs: one turns the gate on, the others stop the run
rather than do nothing; set in addopts, they wait for the runs that add --llmobs."""

from __future__ import annotations

import pytest

SUITE = """
from opentelemetry import trace

def test_call():
    with trace.get_tracer("app").start_as_current_span("chat"):
        pass
"""


@pytest.mark.parametrize(
    "args",
    [
        ["--llmobs-json=out.json"],
        ["--llmobs-json", "out.json"],
        ["--llmobs-alpha=0.05"],
        ["--llmobs-baseline=elsewhere.json", "--llmobs-exit-code=3"],
    ],
)
def test_an_option_typed_without_llmobs_stops_the_run(
    pytester: pytest.Pytester, args: list[str]
) -> None:
    pytester.makepyfile(test_app=SUITE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    flag = args[0].partition("=")[0]
    result.stderr.fnmatch_lines([f"*llmobs: {flag} does nothing without --llmobs*"])
    assert "Traceback" not in result.stderr.str()


def test_a_bad_value_typed_without_llmobs_is_refused_for_its_value(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_app=SUITE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--llmobs-alpha=abc")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: llmobs: --llmobs-alpha=abc (command line): expected a number between 0 and 1"]
    )


@pytest.mark.parametrize("ini", ["", "[pytest]\nllmobs = false\n"], ids=["no ini", "llmobs off"])
def test_update_baseline_typed_alone_turns_the_gate_on(pytester: pytest.Pytester, ini: str) -> None:
    pytester.makepyfile(test_app=SUITE)
    if ini:
        pytester.makeini(ini)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--llmobs-update-baseline")
    assert result.ret == 0, result.stdout.str()
    assert (pytester.path / ".llmobs" / "baseline.json").is_file()
    result.stdout.fnmatch_lines(["*baseline written to*"])
    if ini:  # the ini file's `false` is no --llmobs for the other options either
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--llmobs-json=x.json")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["*--llmobs-json does nothing without --llmobs*"])


def test_options_in_addopts_wait_for_the_runs_that_add_llmobs(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_app=SUITE)
    pytester.makeini("[pytest]\naddopts = --llmobs-json=out.json\n")
    plain = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert plain.ret == 0, plain.stdout.str()
    assert not (pytester.path / "out.json").exists()
    gated = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--llmobs")
    assert gated.ret == 0, gated.stdout.str()
    assert (pytester.path / "out.json").is_file()


@pytest.mark.parametrize(
    ("ini", "shown"),
    [
        ("[pytest]\nllmobs_alpha = abc\n", 'llmobs_alpha = "abc" (ini file *): expected a number'),
        (
            "[pytest]\naddopts = --llmobs-sample-rate=2\n",
            "--llmobs-sample-rate=2 (addopts or PYTEST_ADDOPTS)",
        ),
    ],
)
def test_a_bad_value_a_gated_run_would_stop_on_is_a_warning_without_the_gate(
    pytester: pytest.Pytester, ini: str, shown: str
) -> None:
    pytester.makepyfile(test_app=SUITE)
    pytester.makeini(ini)
    plain = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert plain.ret == 0, plain.stdout.str()
    plain.stdout.fnmatch_lines([f"*PytestConfigWarning: llmobs: {shown}*"])
    gated = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--llmobs")
    assert gated.ret == pytest.ExitCode.USAGE_ERROR
    gated.stderr.fnmatch_lines([f"ERROR: llmobs: {shown}*"])
