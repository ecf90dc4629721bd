"""What shaped a run's series: the settings that decide which series and metrics exist.

A baseline records them; a run shaped differently cannot be compared with it (its series
would be `new` and `missing` instead of judged), so the gate fails closed and says which
setting differs.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from typing import Any

REMEDY = "set it back, or re-record the baseline with --llmobs-update-baseline"


@dataclass(frozen=True)
class Shape:
    """The settings that shape series, as recorded in a baseline or a run report."""

    quality_attributes: tuple[str, ...] = ()
    group_by: tuple[str, ...] = ()
    # every name each grouping attribute is read under (its aliases), in order
    group_names: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    request_spans: tuple[str, ...] = ()
    marked: tuple[str, ...] = ()  # test functions whose spans form series of their own

    def to_json(self) -> dict[str, Any]:
        """The record, as a baseline and a run report hold it under `settings`."""
        return {
            "quality_attributes": list(self.quality_attributes),
            "group_by": list(self.group_by),
            "group_by_names": {a: list(n) for a, n in sorted(self.group_names.items())},
            "request_spans": list(self.request_spans),
            "marked_tests": list(self.marked),
        }

    @classmethod
    def from_json(cls, data: Any) -> Shape:
        """Read a recorded shape.

        Raises:
            ValueError: a field is missing or of the wrong type; the message names it.
        """
        if not isinstance(data, dict):
            raise ValueError(f"settings must be an object, got {data!r:.40}")
        names = data.get("group_by_names")
        if not isinstance(names, dict):
            raise ValueError(f"settings.group_by_names must be an object, got {names!r:.40}")
        return cls(
            _names(data, "quality_attributes"),
            _names(data, "group_by"),
            {str(a): _names(names, a, "settings.group_by_names.") for a in names},
            _names(data, "request_spans"),
            _names(data, "marked_tests"),
        )


def _names(data: Mapping[str, Any], key: str, where: str = "settings.") -> tuple[str, ...]:
    value = data.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where}{key} must be a list of strings, got {value!r:.40}")
    return tuple(value)


def function_of(test_id: str) -> str:
    """The test function of a test id: its parametrization (`[...]`) cut off."""
    path, sep, rest = test_id.partition("::")  # a path may hold brackets, a name not
    return path + sep + rest.partition("[")[0]


def differences(
    recorded: Shape, current: Shape, tests_before: Set[str], tests_now: Set[str]
) -> list[str]:
    """How this run's shape differs from the baseline's.

    A quality attribute configured now but not then only adds `new` checks. A marker
    matters only on a test function that ran in both runs.

    Args:
        recorded: the baseline's shape.
        current: this run's.
        tests_before: the test ids the baseline's run ran.
        tests_now: the test ids this run ran.

    Returns:
        One sentence per difference; empty when alike.
    """
    found = []
    lost = [a for a in recorded.quality_attributes if a not in current.quality_attributes]
    if lost:
        found.append(_was("quality_attributes", recorded.quality_attributes, current))
    if set(recorded.group_by) != set(current.group_by):
        found.append(_was("group_by", recorded.group_by, current))
    else:
        for attribute in sorted(recorded.group_by):
            then = recorded.group_names.get(attribute, (attribute,))
            now = current.group_names.get(attribute, (attribute,))
            if tuple(then) != tuple(now):
                found.append(
                    f"the baseline read group_by attribute {attribute} under {_list(then)}, "
                    f"this run reads it under {_list(now)} ([tool.llmobs.aliases])"
                )
    if set(recorded.request_spans) != set(current.request_spans):
        found.append(_was("request_spans", recorded.request_spans, current))
    both = {function_of(t) for t in tests_before} & {function_of(t) for t in tests_now}
    for function in sorted((set(current.marked) - set(recorded.marked)) & both):
        found.append(f"{function} carries @pytest.mark.llmobs now but did not in the baseline")
    for function in sorted((set(recorded.marked) - set(current.marked)) & both):
        found.append(f"{function} carried @pytest.mark.llmobs in the baseline but does not now")
    return found


def _was(name: str, then: tuple[str, ...], current: Shape) -> str:
    now: tuple[str, ...] = getattr(current, name)
    return (
        f"the baseline was recorded with {name} = {_list(then)}, "
        f"this run has {_list(now) if now else 'none'}"
    )


def _list(names: tuple[str, ...]) -> str:
    return "[" + ", ".join(names) + "]"
