"""A repository folder with its own pytest table and the LLM suite in a subfolder, as most
repositories are laid out: what the fail-closed tests run, in subprocesses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

SUITE = """
import pytest
from opentelemetry import trace

tracer = trace.get_tracer("suite")
SCORED, RETRIED, SKIPPED, PROMPT = {scored}, {retried}, {skipped}, {prompt!r}

def pipeline(i):
    with tracer.start_as_current_span("llm_request") as root:
        root.set_attribute("user_tier", "pro" if i % 2 else "free")
        root.set_attribute("domain", f"domain{{i % 5}}")
        with tracer.start_as_current_span("llm_inference"):
            pass
        if i in RETRIED:  # a retry happens for some prompts only
            with tracer.start_as_current_span("retry_inference"):
                pass
        with tracer.start_as_current_span("evaluate_output") as span:
            if SCORED:
                span.set_attribute("overall_score", 0.7 + (i % 10) / 100)

@pytest.mark.parametrize("i", range(40), ids=lambda i: f"{{PROMPT if i >= 2 else 'prompt'}} {{i}}")
def test_{name}(i):
    if i in SKIPPED:  # as a suite does without its API key, say
        pytest.skip("no API key")
    pipeline(i)

def test_tool_call():
    with tracer.start_as_current_span("tool_call"):
        pass
"""


class Repo:
    """A repository folder: its own pyproject.toml with a pytest table, the suite in suite/."""

    def __init__(self, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
        self.pytester, self.monkeypatch = pytester, monkeypatch
        self.root = pytester.path
        (self.root / "pyproject.toml").write_text(
            '[project]\nname = "app"\n\n[tool.pytest.ini_options]\ntestpaths = ["tests"]\n'
        )
        self.suite = self.root / "suite"
        self.suite.mkdir()
        (self.suite / "pytest.ini").write_text(
            "[pytest]\nllmobs_quality_attributes = overall_score\n"
        )
        self.write()

    def write(
        self, scored: bool = True, retried: Any = (), name: str = "answers", skipped: Any = (),
        prompt: str = "prompt",
    ) -> None:  # fmt: skip
        text = SUITE.format(
            scored=scored, retried=set(retried) or "set()", name=name,
            skipped=set(skipped) or "set()", prompt=prompt,
        )  # fmt: skip
        (self.suite / "test_suite.py").write_text(text)

    def run(self, *args: str, cwd: Path | None = None) -> pytest.RunResult:
        self.monkeypatch.chdir(cwd or self.root)
        return self.pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)

    def gate(self, *args: str, report: str = "run.json") -> tuple[pytest.RunResult, Any]:
        """`pytest --llmobs suite/` from the repository's folder, and its run report."""
        (self.root / report).unlink(missing_ok=True)
        result = self.run("--llmobs", "suite/", f"--llmobs-json={report}", *args)
        return result, json.loads((self.root / report).read_text())

    def record(self, *args: str) -> None:
        result, report = self.gate("--llmobs-update-baseline", *args)
        assert result.ret == 0, result.stdout.str()
        assert report["baseline"]["status"] == "updated"


def checks_of(report: Any) -> int:
    return len(report["checks"])
