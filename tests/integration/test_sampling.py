"""--llmobs-sample-rate: metrics use every span; detail stays for sampled, failing, odd traces."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.suites import make_suite


def series_counts(report: dict[str, Any]) -> dict[str, tuple[int, int]]:
    return {s["name"]: (s["count"], s["errors"]) for s in report["series"]}


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_sampling_keeps_every_metric_and_the_detail_of_errors(
    pytester: pytest.Pytester, run_llmobs: Any, workers: list[str]
) -> None:
    make_suite(pytester, error_every=1)  # 6 of the 60 requests time out
    result, full = run_llmobs(*workers)
    assert result.ret == 0
    assert full["capture"] == {
        "spans": full["capture"]["spans"],
        "traces": 60,
        "traces_with_detail": 60,
        "sample_rate": 1.0,
        "received": {"by_trace_id": 0, "by_time": 0, "no_test": 0},  # no receiver
    }
    result, sampled = run_llmobs("--llmobs-sample-rate", "0", *workers)
    assert result.ret == 0
    assert series_counts(sampled) == series_counts(full)  # every span still counts
    assert sampled["capture"]["spans"] == full["capture"]["spans"]
    assert sampled["capture"]["traces"] == 60
    kept = sampled["capture"]["traces_with_detail"]
    assert 6 <= kept < 60  # the failing ones, the slowest and lowest-scored so far
    result.stdout.fnmatch_lines([f"detail kept for {kept} of 60 traces (sample rate 0, *"])


def test_a_bad_sample_rate_is_a_usage_error(pytester: pytest.Pytester, run_llmobs: Any) -> None:
    make_suite(pytester)
    result, report = run_llmobs("--llmobs-sample-rate", "1.5")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--llmobs-sample-rate=1.5 (command line): expected a number from 0 to 1*"]
    )
    assert report["verdict"] == "error"
