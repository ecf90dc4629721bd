"""What a shard (--llmobs-shard) does not do: judge, or report a verdict. Those options
are refused on its command line and set aside, with a note, from a file."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from pytest_llmobs.config.options import OPTIONS, Option

BY_NAME = {option.name: option for option in OPTIONS}
# what judges a run, or reports a judged one
JUDGING = ("update_baseline", "junitxml", "markdown", "html", "history", "export_otlp",
           "pushgateway", "prometheus")  # fmt: skip
_EXPORT = "export the combined run with `llmobs export RUN.json`"
# where each is done for the combined run
_LATER = {
    "update_baseline": "promote the combined run with `llmobs baseline update RUN.json`",
    "export_otlp": _EXPORT,
    "pushgateway": _EXPORT,
    "prometheus": _EXPORT,
}
TYPED = ("command line", "-o on the command line")  # labels of what was typed for this run
SET_ASIDE = "not done in this shard"
_REPORT = "write it from the combined run with `llmobs report RUN.json`"


class Given(Protocol):
    """Where a value came from (config.settings.Source)."""

    @property
    def label(self) -> str: ...

    @property
    def values(self) -> Mapping[str, Any]: ...

    def origin(self, option: Option, raw: Any) -> str: ...


def set_aside(
    values: dict[str, Any], given_by: Mapping[str, Given], defaults: Mapping[str, Any]
) -> tuple[str, ...]:
    """In a shard's values, reset what judges to its default, with a note for each.

    Args:
        values: the resolved values, by option name (changed in place).
        given_by: where each value came from.
        defaults: each option's default.

    Raises:
        ValueError: one of them was typed on this command line; the message says where
            to do it instead.
    """
    if not values.get("shard"):
        return ()
    notes = []
    for name in JUDGING:
        source = given_by.get(name)
        if source is None or not values.get(name):
            continue
        said = source.origin(BY_NAME[name], source.values[name])
        said += " is for a judged run, and a shard is judged once combined"
        if source.label in TYPED:
            raise ValueError(f"{said}: drop it, and {_LATER.get(name, _REPORT)}")
        notes.append(f"{said}: {SET_ASIDE}")
        values[name] = defaults[name]
    return tuple(notes)
