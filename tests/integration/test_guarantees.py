"""What the plugin promises users about their data and their runs (issue 7)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from typing import Any

import pytest

PROMPT = "Tell me the secret launch code for project Bluebird"
LEAKY = f"""
from opentelemetry import trace

tracer = trace.get_tracer("app")

def test_answer():
    with tracer.start_as_current_span("llm_request") as span:
        span.set_attribute("gen_ai.prompt", {PROMPT!r})
        span.set_attribute("gen_ai.completion", "The code is 0000 for {PROMPT!r}")
        span.set_attribute("user.email", "ada@example.com")
        span.add_event("gen_ai.user.message", {{"content": {PROMPT!r}}})
"""


def test_a_prompt_set_as_an_attribute_is_in_no_written_file(
    pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    pytester.makepyfile(test_leaky=LEAKY)
    result, _ = run_llmobs(
        "--llmobs-update-baseline", "--llmobs-junitxml", "junit.xml", "--llmobs-markdown", "s.md"
    )
    assert result.ret == 0
    result, _ = run_llmobs("--llmobs-junitxml", "junit.xml", "--llmobs-markdown", "s.md")
    assert result.ret == 0
    written = [p for p in pytester.path.rglob("*") if p.is_file() and p.suffix != ".py"]
    assert {p.name for p in written} >= {"baseline.json", "report.json", "junit.xml", "s.md"}
    for path in written:
        content = path.read_text(errors="replace")
        assert "Bluebird" not in content, path
        assert "ada@example.com" not in content, path
    assert "Bluebird" not in result.stdout.str()


SLOW = """
import time
from opentelemetry import trace

def test_first():
    with trace.get_tracer("app").start_as_current_span("step"):
        pass

def test_waits():
    open("started", "w").close()
    time.sleep(30)
"""


def test_ctrl_c_still_writes_the_run_report(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_slow=SLOW)
    command = [sys.executable, "-m", "pytest", "--llmobs", "--llmobs-json", "report.json",
               "-p", "no:cacheprovider"]  # fmt: skip
    process = subprocess.Popen(command, cwd=pytester.path, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (pytester.path / "started").exists():
        assert time.monotonic() < deadline, "the suite never started"
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == pytest.ExitCode.INTERRUPTED, out
    report = (pytester.path / "report.json").read_text()
    assert '"step"' in report  # the spans captured before the interruption
    assert '"verdict"' in report


ODD_NAMES = """
from opentelemetry import trace

NAMES = ["<script>alert(1)</script>", "a|b|c", "tab\\tand\\x01control", "café ✓ ]]>"]

def test_odd_names():
    tracer = trace.get_tracer("app")
    for name in NAMES:
        with tracer.start_as_current_span(name):
            pass
"""


def test_odd_span_names_are_escaped_in_every_output(
    pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    pytester.makepyfile(test_odd=ODD_NAMES)
    outputs = ("--llmobs-junitxml", "junit.xml", "--llmobs-markdown", "s.md")
    result, _ = run_llmobs("--llmobs-update-baseline", *outputs)
    assert result.ret == 0
    result, report = run_llmobs(*outputs)
    assert result.ret == 0
    assert len(report["series"]) == 4
    suites = ET.parse(pytester.path / "junit.xml").getroot()  # well-formed XML
    names = {s.get("name") for s in suites.iter("testsuite")}
    assert "llmobs <script>alert(1)</script>" in names  # as text, escaped in the file
    assert "<script>" not in (pytester.path / "junit.xml").read_text()
    markdown = (pytester.path / "s.md").read_text()
    assert "<script>" not in markdown
    assert "a|b|c" not in markdown  # a raw pipe would split a table cell
    assert "\x01" not in markdown
