"""The app's request_id of each span: its own, its ancestors', else its request's."""

from __future__ import annotations

from pytest_llmobs.analysis.requests import request_ids, request_roots
from pytest_llmobs.gate.grouping import parent_rows
from pytest_llmobs.gate.semconv import ALIASES
from tests.unit.analysis.test_breakdown import table_of


def test_a_request_id_set_below_the_request_s_root_names_the_whole_request() -> None:
    table = table_of([
        ("client.ask", "t[0]", 1, 1, 0, 0, 30, False, {}),  # the test's span: no id
        ("svc.handle", "t[0]", 1, 2, 1, 1, 28, False, {"request_id": "q-0"}),
        ("svc.llm", "t[0]", 1, 3, 2, 2, 20, False, {}),  # inherits it
        ("svc.judge", "t[0]", 1, 4, 1, 25, 3, False, {"request_id": "judge-0"}),  # its own
        ("client.ask", "t[1]", 2, 5, 0, 40, 30, False, {}),  # a request with no id at all
        ("svc.handle", "t[1]", 2, 6, 5, 41, 28, False, {}),
    ])  # fmt: skip
    parents = parent_rows(table)
    ids = request_ids(table, parents, request_roots(table, parents), ALIASES)
    assert ids == ["q-0", "q-0", "q-0", "judge-0", None, None]


def test_the_earliest_span_s_id_names_a_request_with_several() -> None:
    table = table_of([
        ("root", "t", 1, 1, 0, 0, 30, False, {}),
        ("b", "t", 1, 3, 1, 9, 5, False, {"request_id": "second"}),  # recorded first
        ("a", "t", 1, 2, 1, 1, 5, False, {"request_id": "first"}),  # started first
    ])  # fmt: skip
    parents = parent_rows(table)
    assert request_ids(table, parents, request_roots(table, parents), ALIASES)[0] == "first"
