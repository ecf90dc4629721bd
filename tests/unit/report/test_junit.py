"""JUnit XML from a RunResult: well-formed whatever the span names, errors as error cases."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from pytest_llmobs.gate.compare import compare
from pytest_llmobs.gate.promotion import BaselineState
from pytest_llmobs.report.junit import junit_xml
from pytest_llmobs.report.result import RunResult
from tests.conftest import make_series

BASE = list(np.linspace(10.0, 20.0, 60))


def test_hostile_span_names_stay_text() -> None:
    name = '<script>alert("x")</script> & \x1b[31m|'
    cur, base = [make_series(name, [x * 2 for x in BASE])], [make_series(name, BASE)]
    result = RunResult(tuple(cur), BaselineState(Path("b"), "loaded"), compare(cur, base))
    root = ET.fromstring(junit_xml(result))
    [suite] = root.iter("testsuite")
    assert suite.get("name", "").startswith('llmobs <script>alert("x")</script> & ')
    failures = [c for c in suite.iter("testcase") if c.find("failure") is not None]
    assert failures


def test_a_gate_that_failed_closed_is_an_error_case() -> None:
    state = BaselineState(Path("b.json"), "error", "b.json: not valid JSON")
    result = RunResult((), state, errors=("gw1 sent no span data",))
    root = ET.fromstring(junit_xml(result))
    error = root.find(".//testcase/error")
    assert error is not None
    assert error.get("message") == "b.json: not valid JSON; gw1 sent no span data"
