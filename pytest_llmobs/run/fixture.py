"""The `llmobs` fixture: the running test's spans as plain data, and scores to record."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_llmobs.capture.recorder import SpanRecorder, SpanView
from pytest_llmobs.gate.semconv import ALIASES, TOKEN_METRICS, canonical, normalize


class LlmobsFixture:
    """What a test can ask of the capture while it runs (needs `pytest --llmobs`).

    Spans are those that started in the running test and have ended, with their real
    timings. Attribute names may be given under any of their conventions' names.
    """

    def __init__(
        self, recorder: SpanRecorder, aliases: Mapping[str, Sequence[str]] = ALIASES
    ) -> None:
        self._recorder = recorder
        self._aliases = aliases

    def spans(self, name: str | None = None, **attributes: Any) -> list[SpanView]:
        """Ended spans of this test, oldest first; of one name, with these attribute values.

        Example: `llmobs.spans("chat", **{"gen_ai.request.model": "gpt-4o"})`.
        """
        wanted = {canonical(k, self._aliases): v for k, v in attributes.items()}
        found = []
        for span in self._recorder.test_spans():
            if name is not None and span.name != name:
                continue
            values = normalize(span.attributes, self._aliases)
            if all(values.get(k) == v for k, v in wanted.items()):
                found.append(span)
        return found

    def tree(self) -> list[dict[str, Any]]:
        """This test's spans as nested plain data: its root spans, each with `children`."""
        spans = self._recorder.test_spans()
        nodes: dict[str, dict[str, Any]] = {
            s.span_id: {
                "name": s.name,
                "duration_ms": s.duration_ms,
                "error": s.error,
                "attributes": dict(s.attributes),
                "children": [],
            }
            for s in spans
        }
        roots: list[dict[str, Any]] = []
        for span in spans:  # oldest first, so children come in start order
            parent = nodes.get(span.parent_id) if span.parent_id else None
            (parent["children"] if parent is not None else roots).append(nodes[span.span_id])
        return roots

    def tokens(self, model: str | None = None) -> dict[str, int]:
        """Input, output and total tokens of this test's spans, of one model if given
        (the request's or the response's model)."""
        total = {"input": 0, "output": 0}
        for span in self._recorder.test_spans():
            found = normalize(span.attributes, self._aliases)
            models = {found.get("gen_ai.request.model"), found.get("gen_ai.response.model")}
            if model is not None and model not in models:
                continue
            for metric, attribute in TOKEN_METRICS.items():
                value = found.get(attribute)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    total[metric.partition(".")[2]] += int(value)
        return {**total, "total": total["input"] + total["output"]}

    def score(self, name: str, value: float, series: str | None = None) -> None:
        """Record a quality score for this test, as attribute `name` of its root span
        (the first that started), or of its latest span named `series`.

        It is judged as `quality.<name>` of that span's series.

        Raises:
            ValueError: the value is not a finite number.
            LookupError: no such span has ended in this test yet.
        """
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"llmobs.score({name!r}, {value!r}): the score must be a number")
        if not math.isfinite(value):
            raise ValueError(f"llmobs.score({name!r}, {value!r}): the score must be finite")
        spans = self._recorder.test_spans()
        ids = {s.span_id for s in spans}
        if series is None:
            targets = [s for s in spans if s.parent_id is None or s.parent_id not in ids][:1]
            where = "no span has ended in this test yet"
        else:
            targets = [s for s in spans if s.name == series][-1:]
            where = f"no span named {series!r} has ended in this test yet"
        if not targets:
            raise LookupError(f"llmobs.score({name!r}): {where}")
        self._recorder.add_score(targets[0].row, name, float(value))
